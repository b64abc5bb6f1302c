/* Tombstones parser on raw bytes, and on a copy with magic, version and CRC
 * repaired so mutations reach the entry decoder. Parsed sets must be sorted
 * and disjoint, agree with a linear scan, and survive re-encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/tombstones.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool linear_covers(const st_tombstones_t *t, uint32_t id, int64_t ts) {
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].series_id == id && t->v[i].mint <= ts && ts <= t->v[i].maxt) return true;
    return false;
}

static void check(const st_tombstones_t *t) {
    for (size_t i = 0; i < t->n; i++) {
        const st_tombstone_t *e = &t->v[i];
        if (e->mint > e->maxt) abort();
        /* merged: neither overlapping nor touching (mint > INT64_MIN here) */
        if (i > 0 && e[-1].series_id == e->series_id && e[-1].maxt >= e->mint - 1) abort();
        if (i > 0 && e[-1].series_id > e->series_id) abort();
        if (!st_tombstones_has(t, e->series_id)) abort();
        int64_t probes[] = {e->mint, e->maxt, e->mint - (e->mint > INT64_MIN),
                            e->maxt + (e->maxt < INT64_MAX)};
        for (size_t k = 0; k < 4; k++)
            if (st_tombstones_covers(t, e->series_id, probes[k]) !=
                linear_covers(t, e->series_id, probes[k]))
                abort();
    }
    /* re-encode and parse: normalisation is idempotent */
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_be32(&b, 0x0130BA30);
    st_put_u8(&b, 1);
    for (size_t i = 0; i < t->n; i++) {
        st_put_uvarint(&b, t->v[i].series_id);
        st_put_varint(&b, t->v[i].mint);
        st_put_varint(&b, t->v[i].maxt);
    }
    st_put_be32(&b, st_crc32c(0, b.p + 5, b.len - 5));
    st_tombstones_t back;
    if (b.err || st_tombstones_parse(&back, b.p, b.len, "fuzz-reencoded") != 0) abort();
    if (back.n != t->n) abort();
    for (size_t i = 0; i < t->n; i++)
        if (back.v[i].series_id != t->v[i].series_id || back.v[i].mint != t->v[i].mint ||
            back.v[i].maxt != t->v[i].maxt)
            abort();
    st_tombstones_free(&back);
    st_encbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_tombstones_t t;
    if (st_tombstones_parse(&t, data, size, "fuzz") == 0) {
        check(&t);
        st_tombstones_free(&t);
    }
    if (size < 9) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    st_be32_put(fixed, 0x0130BA30);
    fixed[4] = 1;
    st_be32_put(fixed + size - 4, st_crc32c(0, fixed + 5, size - 9));
    if (st_tombstones_parse(&t, fixed, size, "fuzz-fixed") == 0) {
        check(&t);
        st_tombstones_free(&t);
    }
    free(fixed);
    return 0;
}
