/*
 * meta.h — a block's meta.json (Prometheus BlockMeta, version 1), read and
 * written with jansson. Unknown keys are ignored on read; the "thanos"
 * object is kept verbatim (as JSON text) so a tool that rewrites meta.json
 * does not drop it.
 */
#ifndef STRATA_META_H
#define STRATA_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/ulid.h"

#define ST_META_FILENAME "meta.json"

typedef struct {
    st_ulid_t ulid;
    int64_t min_time, max_time;
} st_block_desc_t;

typedef struct {
    st_ulid_t ulid;
    int64_t min_time; /* inclusive */
    int64_t max_time; /* exclusive */
    uint64_t num_samples, num_series, num_chunks, num_tombstones;
    int level;
    st_ulid_t *sources;    /* owned */
    size_t nsources;
    st_block_desc_t *parents; /* owned */
    size_t nparents;
    bool deletable, failed;
    char **hints;          /* owned strings */
    size_t nhints;
    char *thanos_json;     /* owned compact JSON of the "thanos" object, or NULL */
} st_meta_t;

/* Parse meta.json bytes. ST_ECORRUPT (with `name` and the reason: bad JSON,
 * missing/ill-typed field, version != 1) on bad input. */
int st_meta_parse(st_meta_t *out, const char *json, size_t len, const char *name);
/* Read <dir>/meta.json. */
int st_meta_read(st_meta_t *out, const char *dir);
/* Serialise like Go's json.MarshalIndent(meta, "", "\t"): same key order,
 * zero stats and empty lists omitted. *out is malloc'd, NUL-terminated. */
int st_meta_encode(const st_meta_t *m, char **out, size_t *len);
/* Durably write <dir>/meta.json (tmp + fsync + rename + dir fsync). */
int st_meta_write(const st_meta_t *m, const char *dir);
void st_meta_free(st_meta_t *m); /* frees owned members, zeroes; NULL ok */

#endif
