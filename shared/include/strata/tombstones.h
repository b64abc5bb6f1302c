/*
 * tombstones.h — a block's tombstones file: deleted closed intervals per
 * series ID. Layout at the top of shared/src/block/tombstones.c.
 */
#ifndef STRATA_TOMBSTONES_H
#define STRATA_TOMBSTONES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_TOMBSTONES_FILENAME "tombstones"

typedef struct {
    uint32_t series_id;
    int64_t mint, maxt; /* closed */
} st_tombstone_t;

typedef struct {
    /* owned; after parse/read sorted by (series_id, mint), a series'
     * overlapping or touching intervals merged and empty ones (mint > maxt)
     * dropped, as Prometheus does in memory */
    st_tombstone_t *v;
    size_t n;
} st_tombstones_t;

/* Parse file bytes (magic, version, CRC over entries). `name` for errors. */
int st_tombstones_parse(st_tombstones_t *out, const uint8_t *p, size_t len, const char *name);
/* Read <dir>/tombstones; a missing file yields an empty set. */
int st_tombstones_read(st_tombstones_t *out, const char *dir);
/* Durably write <dir>/tombstones (the 9-byte empty file when n == 0). */
int st_tombstones_write(const st_tombstones_t *t, const char *dir);
/* Is sample time t of series id deleted? */
bool st_tombstones_covers(const st_tombstones_t *t, uint32_t series_id, int64_t ts);
/* Does the series have any interval at all? */
bool st_tombstones_has(const st_tombstones_t *t, uint32_t series_id);
void st_tombstones_free(st_tombstones_t *t); /* NULL ok */

#endif
