/*
 * shipper.h — the sidecar's upload loop (Thanos's pkg/shipper rules) and
 * its state file <tsdb>/thanos.shipper.json, which lists the blocks
 * already shipped so a restart never uploads them again.
 */
#ifndef STRATA_SIDECAR_SHIPPER_H
#define STRATA_SIDECAR_SHIPPER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"
#include "strata/objstore.h"
#include "strata/ulid.h"

#define SHIPPER_STATE_FILE "thanos.shipper.json"

/* ---- state file (shipper_state.c) ---- */

typedef struct {
    st_ulid_t *uploaded; /* owned, in file order */
    size_t n;
} shipper_state_t;

/* {"version": 1, "uploaded": ["<ULID>", ...]} ("uploaded" may be null).
 * ST_ECORRUPT naming `name` on anything else. */
int shipper_state_parse(shipper_state_t *out, const char *json, size_t len, const char *name);
/* Go's json.MarshalIndent(v, "", "\t") layout, as Thanos writes it. */
int shipper_state_encode(const shipper_state_t *s, char **out, size_t *len);
/* A missing file is an empty state. */
int shipper_state_read(shipper_state_t *out, const char *path);
/* Durable (tmp + fsync + rename + dir fsync). */
int shipper_state_write(const shipper_state_t *s, const char *path);
bool shipper_state_has(const shipper_state_t *s, const st_ulid_t *id);
int shipper_state_add(shipper_state_t *s, const st_ulid_t *id);
void shipper_state_free(shipper_state_t *s); /* NULL ok */

/* ---- upload loop (shipper.c) ---- */

typedef struct {
    atomic_uint_fast64_t uploads, upload_failures, syncs, sync_failures;
    atomic_int_fast64_t last_upload_ms; /* 0 = none yet */
} shipper_metrics_t;

typedef struct {
    const char *tsdb_dir;
    st_objstore_t *bucket;
    bool upload_compacted;   /* also ship blocks of compaction level > 1 */
    const atomic_bool *stop; /* set on shutdown; checked between blocks and files */
    shipper_metrics_t *metrics;
} shipper_t;

/* One pass over tsdb_dir, oldest minTime first: blocks already in the
 * state file, empty blocks and (unless upload_compacted) compacted blocks
 * are skipped; a block whose meta.json is already in the bucket is only
 * recorded; every other block is uploaded with a thanos section of the
 * external labels `ext` (resolution 0, source "sidecar") and recorded.
 * A failed block does not stop the pass: it is retried next pass. Returns
 * 0 when nothing failed, else the last error (its detail names the block). */
int shipper_sync(shipper_t *s, const st_labels_t *ext, size_t *uploaded);

/* The oldest minTime over the blocks of tsdb_dir (those shipper_sync
 * would look at), or INT64_MIN when there is none. */
int shipper_local_min_time(const char *tsdb_dir, int64_t *mint);

#endif
