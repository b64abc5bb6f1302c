/*
 * Block tombstones file (Prometheus 2.x, tsdb/tombstones):
 *
 *   be32  magic 0x0130BA30
 *   u8    version 1
 *   entries, repeated until the CRC:
 *     uvarint  series ID (the index's series reference, <= UINT32_MAX)
 *     varint   mint  \ closed interval of deleted sample times
 *     varint   maxt  /
 *   be32  CRC32C of the entries only (not magic or version)
 *
 * An empty file is the 9 bytes 01 30 ba 30 01 00 00 00 00.
 *
 * After parsing, a series' intervals are sorted and merged the way
 * Prometheus merges them in memory (overlapping or touching intervals
 * coalesce, mint > maxt covers nothing and is dropped); that keeps them
 * disjoint, so st_tombstones_covers() is a binary search.
 */
#include "strata/tombstones.h"

#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"

#define TOMBSTONES_MAGIC 0x0130BA30u
#define TOMBSTONES_VERSION 1
#define TOMBSTONES_HEADER 5 /* magic + version */
#define TOMBSTONES_MIN_LEN (TOMBSTONES_HEADER + 4)

static int stone_cmp(const void *x, const void *y) {
    const st_tombstone_t *a = x, *b = y;
    if (a->series_id != b->series_id) return a->series_id < b->series_id ? -1 : 1;
    if (a->mint != b->mint) return a->mint < b->mint ? -1 : 1;
    return (a->maxt > b->maxt) - (a->maxt < b->maxt);
}

static void normalize(st_tombstones_t *t) {
    qsort(t->v, t->n, sizeof *t->v, stone_cmp);
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        st_tombstone_t cur = t->v[i];
        if (cur.mint > cur.maxt) continue;
        if (w > 0) {
            st_tombstone_t *prev = &t->v[w - 1];
            if (prev->series_id == cur.series_id &&
                (cur.mint <= prev->maxt || (prev->maxt < INT64_MAX && cur.mint == prev->maxt + 1))) {
                if (cur.maxt > prev->maxt) prev->maxt = cur.maxt;
                continue;
            }
        }
        t->v[w++] = cur;
    }
    t->n = w;
}

/* Decode entries from d into v (if non-NULL); returns the entry count or
 * sets *rc. Called twice: once to count, once to fill, so the allocation is
 * exact rather than bounded by the file size. */
static size_t decode_entries(const uint8_t *base, const uint8_t *p, size_t len, const char *name,
                             st_tombstone_t *v, int *rc) {
    st_decbuf_t d;
    st_decbuf_init(&d, p, len);
    size_t n = 0;
    while (st_dec_remaining(&d) > 0) {
        size_t off = (size_t)(d.p - base);
        uint64_t id = st_dec_uvarint(&d);
        int64_t mint = st_dec_varint(&d);
        int64_t maxt = st_dec_varint(&d);
        if (d.err) {
            *rc = st_errorf(ST_ECORRUPT, "tombstones %s: entry %zu at offset %zu: truncated or bad varint",
                            name, n, off);
            return 0;
        }
        if (id > UINT32_MAX) {
            *rc = st_errorf(ST_ECORRUPT,
                            "tombstones %s: entry %zu at offset %zu: series ID %llu exceeds 32 bits",
                            name, n, off, (unsigned long long)id);
            return 0;
        }
        if (v) v[n] = (st_tombstone_t){.series_id = (uint32_t)id, .mint = mint, .maxt = maxt};
        n++;
    }
    return n;
}

int st_tombstones_parse(st_tombstones_t *out, const uint8_t *p, size_t len, const char *name) {
    out->v = NULL;
    out->n = 0;
    if (len < TOMBSTONES_MIN_LEN)
        return st_errorf(ST_ECORRUPT, "tombstones %s: %zu bytes, shorter than the %d-byte minimum",
                         name, len, TOMBSTONES_MIN_LEN);
    uint32_t magic = st_be32(p);
    if (magic != TOMBSTONES_MAGIC)
        return st_errorf(ST_ECORRUPT, "tombstones %s: bad magic 0x%08x (want 0x%08x)", name, magic,
                         TOMBSTONES_MAGIC);
    if (p[4] != TOMBSTONES_VERSION)
        return st_errorf(ST_ECORRUPT, "tombstones %s: unsupported version %u", name, p[4]);
    const uint8_t *entries = p + TOMBSTONES_HEADER;
    size_t elen = len - TOMBSTONES_MIN_LEN;
    uint32_t stored = st_be32(p + len - 4);
    uint32_t computed = st_crc32c(0, entries, elen);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, "tombstones %s: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                         name, stored, computed);
    int rc = ST_OK;
    size_t n = decode_entries(p, entries, elen, name, NULL, &rc);
    if (rc || n == 0) return rc;
    st_tombstone_t *v = malloc(n * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "tombstones %s: %zu entries", name, n);
    decode_entries(p, entries, elen, name, v, &rc);
    out->v = v;
    out->n = n;
    normalize(out);
    return ST_OK;
}

int st_tombstones_read(st_tombstones_t *out, const char *dir) {
    out->v = NULL;
    out->n = 0;
    char *path = st_path_join(dir, ST_TOMBSTONES_FILENAME);
    if (!path) return ST_ENOMEM;
    st_mmap_t m;
    int rc = st_mmap_open(&m, path);
    if (rc == ST_ENOTFOUND) {
        st_errclear();
        rc = ST_OK; /* no file = no tombstones */
    } else if (rc == ST_OK) {
        rc = st_tombstones_parse(out, m.p, m.len, path);
        st_mmap_close(&m);
    }
    free(path);
    return rc;
}

int st_tombstones_write(const st_tombstones_t *t, const char *dir) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    char *path = NULL;
    int rc = ST_OK;
    st_put_be32(&b, TOMBSTONES_MAGIC);
    st_put_u8(&b, TOMBSTONES_VERSION);
    for (size_t i = 0; i < t->n; i++) {
        st_put_uvarint(&b, t->v[i].series_id);
        st_put_varint(&b, t->v[i].mint);
        st_put_varint(&b, t->v[i].maxt);
    }
    if (b.err) {
        rc = st_errorf(b.err, "tombstones %s: encoding %zu entries", dir, t->n);
        goto out;
    }
    st_put_be32(&b, st_crc32c(0, b.p + TOMBSTONES_HEADER, b.len - TOMBSTONES_HEADER));
    if (b.err) {
        rc = st_errorf(b.err, "tombstones %s: encoding %zu entries", dir, t->n);
        goto out;
    }
    path = st_path_join(dir, ST_TOMBSTONES_FILENAME);
    if (!path) {
        rc = ST_ENOMEM;
        goto out;
    }
    rc = st_file_write_atomic(path, b.p, b.len);
out:
    free(path);
    st_encbuf_free(&b);
    return rc;
}

/* Index of the first entry not less than (id, maxt >= ts). */
static size_t lower_bound(const st_tombstones_t *t, uint32_t id, int64_t ts) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const st_tombstone_t *e = &t->v[mid];
        if (e->series_id < id || (e->series_id == id && e->maxt < ts))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool st_tombstones_covers(const st_tombstones_t *t, uint32_t series_id, int64_t ts) {
    if (!t || t->n == 0) return false;
    size_t i = lower_bound(t, series_id, ts);
    return i < t->n && t->v[i].series_id == series_id && t->v[i].mint <= ts;
}

bool st_tombstones_has(const st_tombstones_t *t, uint32_t series_id) {
    if (!t || t->n == 0) return false;
    size_t i = lower_bound(t, series_id, INT64_MIN);
    return i < t->n && t->v[i].series_id == series_id;
}

void st_tombstones_free(st_tombstones_t *t) {
    if (!t) return;
    free(t->v);
    t->v = NULL;
    t->n = 0;
}
