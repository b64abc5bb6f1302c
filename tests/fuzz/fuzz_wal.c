/* WAL segment reader and record codec on arbitrary bytes: the input as a
 * segment, as a single record, and as a segment whose fragment CRCs are
 * repaired so mutations reach reassembly, snappy and the record decoders.
 * Every decoded record must re-encode to something that decodes equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const uint8_t *rec, size_t len) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    size_t n, m;
    if (len == 0) {
        if (st_wal_record_type(rec, len) >= 0) abort();
        return;
    }
    switch (rec[0]) {
    case ST_WAL_REC_SERIES: {
        st_wal_series_t *s, *s2;
        if (st_wal_decode_series(rec, len, &s, &n)) break;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 1; k < s[i].lbls.n; k++)
                if (st_bytes_cmp(s[i].lbls.v[k - 1].name, s[i].lbls.v[k - 1].name_len, s[i].lbls.v[k].name,
                                 s[i].lbls.v[k].name_len) >= 0)
                    abort();
        st_wal_encode_series(&b, s, n);
        if (b.err || st_wal_decode_series(b.p, b.len, &s2, &m) || m != n) abort();
        for (size_t i = 0; i < n; i++)
            if (s[i].ref != s2[i].ref || !st_labels_equal(&s[i].lbls, &s2[i].lbls)) abort();
        st_wal_series_free(s, n);
        st_wal_series_free(s2, m);
        break;
    }
    case ST_WAL_REC_SAMPLES: {
        st_wal_sample_t *s, *s2;
        if (st_wal_decode_samples(rec, len, &s, &n)) break;
        st_wal_encode_samples(&b, s, n);
        if (b.err || st_wal_decode_samples(b.p, b.len, &s2, &m) || m != n) abort();
        for (size_t i = 0; i < n; i++)
            if (s[i].ref != s2[i].ref || s[i].t != s2[i].t || memcmp(&s[i].v, &s2[i].v, 8)) abort();
        free(s);
        free(s2);
        break;
    }
    case ST_WAL_REC_TOMBSTONES: {
        st_wal_tombstone_t *t, *t2;
        if (st_wal_decode_tombstones(rec, len, &t, &n)) break;
        st_wal_encode_tombstones(&b, t, n);
        if (b.err || st_wal_decode_tombstones(b.p, b.len, &t2, &m) || m != n) abort();
        for (size_t i = 0; i < n; i++)
            if (t[i].ref != t2[i].ref || t[i].mint != t2[i].mint || t[i].maxt != t2[i].maxt) abort();
        free(t);
        free(t2);
        break;
    }
    default: break;
    }
    st_encbuf_free(&b);
}

static void read_segment(const uint8_t *p, size_t len) {
    st_wal_reader_t *r;
    if (st_wal_reader_open_mem(&r, p, len, "fuzz")) return;
    const uint8_t *rec;
    size_t rlen;
    uint64_t prev = 0;
    int rc, seg;
    while ((rc = st_wal_reader_next(r, &rec, &rlen)) == 1) {
        uint64_t off;
        st_wal_reader_position(r, &seg, &off);
        if (off >= len || (prev && off <= prev)) abort(); /* records start inside, in order */
        prev = off;
        check_record(rec, rlen);
    }
    uint64_t off;
    st_wal_reader_position(r, &seg, &off);
    if (rc < 0 && off > len) abort();
    st_wal_reader_free(r);
}

/* Recompute the CRC of every fragment header the reader would look at. */
static void fix_crcs(uint8_t *p, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        size_t page_left = ST_WAL_PAGE_SIZE - pos % ST_WAL_PAGE_SIZE;
        if (p[pos] == 0 || page_left < ST_WAL_FRAGMENT_HEADER || len - pos < ST_WAL_FRAGMENT_HEADER) {
            pos += page_left;
            continue;
        }
        size_t flen = st_be16(p + pos + 1);
        if (flen > len - pos - ST_WAL_FRAGMENT_HEADER || flen + ST_WAL_FRAGMENT_HEADER > page_left) return;
        st_be32_put(p + pos + 3, st_crc32c(0, p + pos + ST_WAL_FRAGMENT_HEADER, flen));
        pos += ST_WAL_FRAGMENT_HEADER + flen;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    read_segment(data, size);
    check_record(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    read_segment(copy, size);
    free(copy);
    return 0;
}
