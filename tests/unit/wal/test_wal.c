/* WAL segments, records and checkpoints against the format reference (§6):
 * the 75-byte example byte for byte, fragmentation across pages, snappy,
 * torn tails, CRC corruption, segment rotation, checkpoint round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/wal.h"
#include "st_test.h"

static char tmproot[4096];
static int dirseq;

static int setup(void **state) {
    (void)state;
    return st_test_mkdtemp(tmproot, sizeof tmproot, "wal");
}

static int teardown(void **state) {
    (void)state;
    return st_rm_rf(tmproot);
}

static char *fresh_dir(void) {
    char name[32];
    snprintf(name, sizeof name, "d%d", dirseq++);
    return st_path_join(tmproot, name);
}

/* §6.4: series record for ref 1 {__name__="up"}, samples (1.0, t0), (0.5, t0+15 s). */
static const uint8_t seg75[75] = {
    0x01, 0x00, 0x16, 0x39, 0x19, 0x94, 0xf3,                   /* full, len 22, crc */
    0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', 0x02, 'u', 'p',
    0x01, 0x00, 0x27, 0xdb, 0x44, 0x51, 0x95,                   /* full, len 39, crc */
    0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    0x00, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
    0x00, 0xb0, 0xea, 0x01, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0,
};

static const int64_t T0 = 1700000000000;

static void encode_example(st_encbuf_t *series, st_encbuf_t *samples) {
    st_label_t l = st_label("__name__", "up");
    st_wal_series_t s = {.ref = 1, .lbls = {&l, 1}};
    st_wal_sample_t smp[2] = {{1, T0, 1.0}, {1, T0 + 15000, 0.5}};
    st_encbuf_init(series, 0);
    st_encbuf_init(samples, 0);
    st_wal_encode_series(series, &s, 1);
    st_wal_encode_samples(samples, smp, 2);
    assert_int_equal(series->err, 0);
    assert_int_equal(samples->err, 0);
}

static void test_example_75_bytes(void **state) {
    (void)state;
    st_encbuf_t a, b;
    encode_example(&a, &b);
    assert_int_equal(a.len, 22);
    assert_memory_equal(a.p, seg75 + 7, 22);
    assert_int_equal(b.len, 39);
    assert_memory_equal(b.p, seg75 + 36, 39);

    char *dir = fresh_dir();
    st_wal_t *w;
    assert_int_equal(st_wal_open(&w, dir, 0, false), 0);
    assert_int_equal(st_wal_log(w, a.p, a.len), 0);
    assert_int_equal(st_wal_log(w, b.p, b.len), 0);
    assert_int_equal(st_wal_flush(w), 0);
    char *seg = st_wal_segment_path(dir, 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    assert_int_equal(len, 75); /* flushed, not padded: what a kill -9 leaves */
    assert_memory_equal(data, seg75, 75);
    free(data);
    assert_int_equal(st_wal_close(w), 0);
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    assert_int_equal(len, ST_WAL_PAGE_SIZE); /* Close pads the page like Prometheus */
    assert_memory_equal(data, seg75, 75);
    for (size_t i = 75; i < len; i++) assert_int_equal(data[i], 0);
    free(data);

    /* and it reads back, from the file and from the bare 75 bytes */
    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open_mem(&r, seg75, sizeof seg75, "example"), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(st_wal_record_type(rec, rlen), ST_WAL_REC_SERIES);
    st_wal_series_t *ss;
    size_t n;
    assert_int_equal(st_wal_decode_series(rec, rlen, &ss, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ss[0].ref, 1);
    assert_int_equal(ss[0].lbls.n, 1);
    assert_string_equal(ss[0].lbls.v[0].value, "up");
    st_wal_series_free(ss, n);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    st_wal_sample_t *smp;
    assert_int_equal(st_wal_decode_samples(rec, rlen, &smp, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(smp[1].t, T0 + 15000);
    assert_true(smp[1].v == 0.5);
    free(smp);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 0);
    st_wal_reader_free(r);

    assert_int_equal(st_wal_reader_open(&r, dir, 0, 0), 0);
    int k = 0;
    while (st_wal_reader_next(r, &rec, &rlen) == 1) k++;
    assert_int_equal(k, 2);
    st_wal_reader_free(r);
    free(seg);
    free(dir);
    st_encbuf_free(&a);
    st_encbuf_free(&b);
}

static uint8_t *pattern(size_t n, uint32_t seed, bool compressible) {
    uint8_t *p = malloc(n);
    assert_non_null(p);
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = compressible ? (uint8_t)("abcdefgh"[(i / 64) % 8]) : (uint8_t)(x >> 16);
    }
    return p;
}

static void test_fragmented_across_pages(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_wal_t *w;
    assert_int_equal(st_wal_open(&w, dir, 0, false), 0);
    uint8_t *small = pattern(100, 1, false), *big = pattern(70000, 2, false);
    assert_int_equal(st_wal_log(w, small, 100), 0);
    assert_int_equal(st_wal_log(w, big, 70000), 0);
    assert_int_equal(st_wal_log(w, small, 100), 0);
    assert_int_equal(st_wal_close(w), 0);

    char *seg = st_wal_segment_path(dir, 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    /* small: full at 0; big: first at 107 filling page 0, middle = page 1, last in page 2 */
    assert_int_equal(data[0], 1);
    assert_int_equal(data[107], 2);
    assert_int_equal(st_be16(data + 108), ST_WAL_PAGE_SIZE - 107 - 7);
    assert_int_equal(data[ST_WAL_PAGE_SIZE], 3);
    assert_int_equal(st_be16(data + ST_WAL_PAGE_SIZE + 1), ST_WAL_PAGE_SIZE - 7);
    assert_int_equal(data[2 * ST_WAL_PAGE_SIZE], 4);
    size_t last_len = 70000 - (ST_WAL_PAGE_SIZE - 114) - (ST_WAL_PAGE_SIZE - 7);
    assert_int_equal(st_be16(data + 2 * ST_WAL_PAGE_SIZE + 1), last_len);
    assert_int_equal(data[2 * ST_WAL_PAGE_SIZE + 7 + last_len], 1);
    assert_int_equal(len, 3 * ST_WAL_PAGE_SIZE);
    free(data);

    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open(&r, dir, 0, 0), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(rlen, 100);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(rlen, 70000);
    assert_memory_equal(rec, big, 70000);
    int seg_i;
    uint64_t off;
    st_wal_reader_position(r, &seg_i, &off);
    assert_int_equal(seg_i, 0);
    assert_int_equal(off, 107);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(rlen, 100);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 0);
    st_wal_reader_free(r);
    free(small);
    free(big);
    free(seg);
    free(dir);
}

/* A record that leaves fewer than 8 bytes in the page: the rest is padded
 * and the next record starts on the next page. */
static void test_page_padding(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_wal_t *w;
    assert_int_equal(st_wal_open(&w, dir, 0, false), 0);
    size_t n1 = ST_WAL_PAGE_SIZE - 7 - 5; /* leaves 5 bytes */
    uint8_t *a = pattern(n1, 3, false);
    assert_int_equal(st_wal_log(w, a, n1), 0);
    assert_int_equal(st_wal_log(w, a, 10), 0);
    assert_int_equal(st_wal_close(w), 0);
    char *seg = st_wal_segment_path(dir, 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    assert_int_equal(len, 2 * ST_WAL_PAGE_SIZE);
    for (size_t i = ST_WAL_PAGE_SIZE - 5; i < ST_WAL_PAGE_SIZE; i++) assert_int_equal(data[i], 0);
    assert_int_equal(data[ST_WAL_PAGE_SIZE], 1);

    /* a non-zero byte in the padding is corruption */
    data[ST_WAL_PAGE_SIZE - 2] = 0x55;
    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open_mem(&r, data, len, "padded"), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    int rc = st_wal_reader_next(r, &rec, &rlen);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "padding"));
    assert_non_null(strstr(st_errdetail(rc), "offset 32766"));
    st_wal_reader_free(r);
    free(data);
    free(a);
    free(seg);
    free(dir);
}

static void test_snappy_records(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_wal_t *w;
    assert_int_equal(st_wal_open(&w, dir, 0, true), 0);
    uint8_t *text = pattern(50000, 4, true), *noise = pattern(300, 5, false);
    assert_int_equal(st_wal_log(w, text, 50000), 0);
    assert_int_equal(st_wal_log(w, noise, 300), 0);
    assert_int_equal(st_wal_flush(w), 0);
    char *seg = st_wal_segment_path(dir, 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    assert_int_equal(data[0], 0x09); /* full | snappy: compressed to well under a page */
    size_t clen = st_be16(data + 1);
    assert_true(clen < 5000);
    assert_int_equal(data[7 + clen], 0x01); /* random bytes do not shrink: stored plain */
    assert_int_equal(len, 7 + clen + 7 + 300);

    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open_mem(&r, data, len, "snappy"), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(rlen, 50000);
    assert_memory_equal(rec, text, 50000);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_memory_equal(rec, noise, 300);
    st_wal_reader_free(r);

    /* a length header claiming far more than snappy can expand to: rejected
     * before any allocation (CRC fixed so the check is reached) */
    uint8_t bad[7 + 6] = {0x09, 0, 6, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0};
    st_be32_put(bad + 3, st_crc32c(0, bad + 7, 6));
    assert_int_equal(st_wal_reader_open_mem(&r, bad, sizeof bad, "bad-snappy"), 0);
    int rc = st_wal_reader_next(r, &rec, &rlen);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "snappy"));
    st_wal_reader_free(r);
    assert_int_equal(st_wal_close(w), 0);
    free(data);
    free(text);
    free(noise);
    free(seg);
    free(dir);
}

/* Three records; returns the segment path. Offsets of records 2 and 3 in *o2, *o3. */
static char *write_three(const char *dir, size_t sizes[3], size_t *o2, size_t *o3) {
    st_wal_t *w;
    assert_int_equal(st_wal_open(&w, dir, 0, false), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t *p = pattern(sizes[i], 10 + (uint32_t)i, false);
        assert_int_equal(st_wal_log(w, p, sizes[i]), 0);
        free(p);
    }
    assert_int_equal(st_wal_flush(w), 0);
    assert_int_equal(st_wal_close(w), 0);
    *o2 = 7 + sizes[0];
    *o3 = *o2 + 7 + sizes[1];
    return st_wal_segment_path(dir, 0);
}

static void test_torn_tail_and_repair(void **state) {
    (void)state;
    char *dir = fresh_dir();
    size_t sizes[3] = {100, 200, 300}, o2, o3;
    char *seg = write_three(dir, sizes, &o2, &o3);
    assert_int_equal(truncate(seg, (off_t)(o3 + 7 + 150)), 0); /* record 3 half written */

    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open(&r, dir, 0, 0), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    int rc = st_wal_reader_next(r, &rec, &rlen);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "torn"));
    assert_non_null(strstr(st_errdetail(rc), "00000000"));
    int s;
    uint64_t off;
    st_wal_reader_position(r, &s, &off);
    assert_int_equal(s, 0);
    assert_int_equal(off, o3);
    st_wal_reader_free(r);

    /* a torn header (3 of 7 bytes) is torn too */
    assert_int_equal(truncate(seg, (off_t)(o3 + 3)), 0);
    assert_int_equal(st_wal_reader_open(&r, dir, 0, 0), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), ST_ECORRUPT);
    st_wal_reader_free(r);

    assert_int_equal(st_wal_repair(dir, 0, o3), 0);
    assert_int_equal(st_wal_reader_open(&r, dir, 0, 0), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(rlen, 200);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 0);
    st_wal_reader_free(r);
    free(seg);
    free(dir);
}

static void test_crc_mismatch_mid_segment(void **state) {
    (void)state;
    char *dir = fresh_dir();
    size_t sizes[3] = {100, 200, 300}, o2, o3;
    char *seg = write_three(dir, sizes, &o2, &o3);
    uint8_t *data;
    size_t len;
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    data[o2 + 7 + 50] ^= 0x01;
    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open_mem(&r, data, len, "flipped"), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    assert_int_equal(rlen, 100);
    int rc = st_wal_reader_next(r, &rec, &rlen);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "CRC mismatch"));
    char want[32];
    snprintf(want, sizeof want, "offset %zu", o2);
    assert_non_null(strstr(st_errdetail(rc), want));
    int s;
    uint64_t off;
    st_wal_reader_position(r, &s, &off);
    assert_int_equal(off, o2);
    st_wal_reader_free(r);

    /* bad fragment sequences */
    uint8_t mid[7 + 1] = {0x03, 0, 1, 0, 0, 0, 0, 0x42};
    st_be32_put(mid + 3, st_crc32c(0, mid + 7, 1));
    assert_int_equal(st_wal_reader_open_mem(&r, mid, sizeof mid, "middle-first"), 0);
    rc = st_wal_reader_next(r, &rec, &rlen);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "without a first"));
    st_wal_reader_free(r);
    uint8_t flags[8];
    memcpy(flags, mid, 8);
    flags[0] = 0x11;
    assert_int_equal(st_wal_reader_open_mem(&r, flags, sizeof flags, "flags"), 0);
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), ST_ECORRUPT);
    st_wal_reader_free(r);
    free(data);
    free(seg);
    free(dir);
}

static void test_segment_rotation(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_wal_t *w;
    /* one page per segment: each record below needs most of a page */
    assert_int_equal(st_wal_open(&w, dir, ST_WAL_PAGE_SIZE, false), 0);
    uint8_t *p = pattern(20000, 6, false);
    for (int i = 0; i < 3; i++) {
        p[0] = (uint8_t)i;
        assert_int_equal(st_wal_log(w, p, 20000), 0);
    }
    int rc = st_wal_log(w, p, ST_WAL_PAGE_SIZE);
    assert_int_equal(rc, ST_ELIMIT);
    assert_int_equal(st_wal_current_segment(w), 2);
    int next;
    assert_int_equal(st_wal_next_segment(w, &next), 0);
    assert_int_equal(next, 3);
    assert_int_equal(st_wal_close(w), 0);
    int first, last;
    assert_int_equal(st_wal_segments(dir, &first, &last), 0);
    assert_int_equal(first, 0);
    assert_int_equal(last, 3);

    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open(&r, dir, 0, 3), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
        assert_int_equal(rec[0], i);
        int s;
        uint64_t off;
        st_wal_reader_position(r, &s, &off);
        assert_int_equal(s, i);
        assert_int_equal(off, 0);
    }
    assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 0);
    st_wal_reader_free(r);

    /* reopening starts a new segment after the last; truncation deletes */
    assert_int_equal(st_wal_open(&w, dir, ST_WAL_PAGE_SIZE, false), 0);
    assert_int_equal(st_wal_current_segment(w), 4);
    assert_int_equal(st_wal_truncate(w, 2), 0);
    assert_int_equal(st_wal_close(w), 0);
    assert_int_equal(st_wal_segments(dir, &first, &last), 0);
    assert_int_equal(first, 2);
    assert_int_equal(last, 4);

    /* a gap is corruption */
    char *s3 = st_wal_segment_path(dir, 3);
    assert_int_equal(unlink(s3), 0);
    rc = st_wal_segments(dir, &first, &last);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "not sequential"));
    free(s3);
    free(p);
    free(dir);
}

static void test_records_roundtrip_and_errors(void **state) {
    (void)state;
    st_label_t l1[2] = {st_label("__name__", "a"), st_label("job", "x\"y")};
    st_wal_series_t s[2] = {{.ref = 7, .lbls = {l1, 2}}, {.ref = UINT64_MAX, .lbls = {l1, 1}}};
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_wal_encode_series(&b, s, 2);
    st_wal_series_t *ds;
    size_t n;
    assert_int_equal(st_wal_decode_series(b.p, b.len, &ds, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ds[1].ref, UINT64_MAX);
    assert_string_equal(ds[0].lbls.v[1].value, "x\"y");
    st_wal_series_free(ds, n);
    /* truncated entry */
    assert_int_equal(st_wal_decode_series(b.p, b.len - 1, &ds, &n), ST_ECORRUPT);
    /* repeated label name */
    st_label_t dup[2] = {st_label("a", "1"), st_label("a", "2")};
    st_wal_series_t sd = {.ref = 1, .lbls = {dup, 2}};
    st_encbuf_reset(&b);
    st_wal_encode_series(&b, &sd, 1);
    int rc = st_wal_decode_series(b.p, b.len, &ds, &n);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "ref 1"));

    /* samples with refs and times going down (signed deltas) */
    st_wal_sample_t smp[3] = {{100, 5000, 1.5}, {3, -20, -0.0}, {UINT64_MAX, INT64_MAX, 2}};
    st_encbuf_reset(&b);
    st_wal_encode_samples(&b, smp, 3);
    st_wal_sample_t *dsmp;
    assert_int_equal(st_wal_decode_samples(b.p, b.len, &dsmp, &n), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dsmp[i].ref, smp[i].ref);
        assert_int_equal(dsmp[i].t, smp[i].t);
        assert_memory_equal(&dsmp[i].v, &smp[i].v, 8);
    }
    free(dsmp);
    assert_int_equal(st_wal_decode_samples(b.p, b.len - 3, &dsmp, &n), ST_ECORRUPT);
    assert_int_equal(st_wal_decode_series(b.p, b.len, &ds, &n), ST_ECORRUPT); /* wrong type */
    uint8_t empty = ST_WAL_REC_SAMPLES;
    assert_int_equal(st_wal_decode_samples(&empty, 1, &dsmp, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(st_wal_record_type(&empty, 0), ST_ECORRUPT);

    st_wal_tombstone_t ts[2] = {{1, -5, 10}, {2, INT64_MIN, INT64_MAX}};
    st_encbuf_reset(&b);
    st_wal_encode_tombstones(&b, ts, 2);
    st_wal_tombstone_t *dts;
    assert_int_equal(st_wal_decode_tombstones(b.p, b.len, &dts, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(dts[1].mint, INT64_MIN);
    assert_int_equal(dts[0].mint, -5);
    free(dts);
    st_encbuf_free(&b);
}

static bool keep_not_2(void *ctx, uint64_t ref) {
    (void)ctx;
    return ref != 2;
}

static void log_series(st_wal_t *w, uint64_t ref, const char *name) {
    st_label_t l = st_label("__name__", name);
    st_wal_series_t s = {.ref = ref, .lbls = {&l, 1}};
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_wal_encode_series(&b, &s, 1);
    assert_int_equal(st_wal_log(w, b.p, b.len), 0);
    st_encbuf_free(&b);
}

static void log_samples(st_wal_t *w, uint64_t ref, int64_t from, int n) {
    st_wal_sample_t smp[16];
    for (int i = 0; i < n; i++) smp[i] = (st_wal_sample_t){ref, from + i * 10, (double)i};
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_wal_encode_samples(&b, smp, (size_t)n);
    assert_int_equal(st_wal_log(w, b.p, b.len), 0);
    st_encbuf_free(&b);
}

/* Counts series refs and samples per type in a checkpoint dir. */
static void read_checkpoint(const char *cp, uint64_t *series_mask, size_t *nsamples, int64_t *min_t) {
    int first, last;
    assert_int_equal(st_wal_segments(cp, &first, &last), 0);
    st_wal_reader_t *r;
    assert_int_equal(st_wal_reader_open(&r, cp, first, last), 0);
    const uint8_t *rec;
    size_t len;
    *series_mask = 0;
    *nsamples = 0;
    *min_t = INT64_MAX;
    while (st_wal_reader_next(r, &rec, &len) == 1) {
        size_t n;
        if (rec[0] == ST_WAL_REC_SERIES) {
            st_wal_series_t *s;
            assert_int_equal(st_wal_decode_series(rec, len, &s, &n), 0);
            for (size_t i = 0; i < n; i++) *series_mask |= 1u << s[i].ref;
            st_wal_series_free(s, n);
        } else if (rec[0] == ST_WAL_REC_SAMPLES) {
            st_wal_sample_t *s;
            assert_int_equal(st_wal_decode_samples(rec, len, &s, &n), 0);
            for (size_t i = 0; i < n; i++)
                if (s[i].t < *min_t) *min_t = s[i].t;
            *nsamples += n;
            free(s);
        } else {
            fail_msg("unexpected record type %d in checkpoint", rec[0]);
        }
    }
    st_wal_reader_free(r);
}

static void test_checkpoint_roundtrip(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_wal_t *w;
    assert_int_equal(st_wal_open(&w, dir, 0, true), 0);
    log_series(w, 1, "a");
    log_series(w, 2, "b");
    log_samples(w, 1, 0, 10); /* t 0..90 */
    log_samples(w, 2, 0, 10);
    uint8_t junk[3] = {6, 0, 0}; /* metadata-type record: dropped */
    assert_int_equal(st_wal_log(w, junk, 3), 0);
    int seg;
    assert_int_equal(st_wal_next_segment(w, &seg), 0);
    log_series(w, 3, "c");
    log_samples(w, 3, 50, 10); /* t 50..140 */
    assert_int_equal(st_wal_next_segment(w, &seg), 0);
    assert_int_equal(seg, 2);

    st_wal_checkpoint_stats_t st;
    assert_int_equal(st_wal_checkpoint(dir, 0, 1, keep_not_2, NULL, 60, true, &st), 0);
    assert_int_equal(st.series_kept, 2);
    assert_int_equal(st.series_dropped, 1);
    /* samples are filtered by time only, as in Prometheus: a and b 60..90, c 60..140 */
    assert_int_equal(st.samples_kept, 4 + 4 + 9);
    char *cp;
    int idx;
    assert_int_equal(st_wal_last_checkpoint(dir, &cp, &idx), 0);
    assert_int_equal(idx, 1);
    uint64_t mask;
    size_t ns;
    int64_t mint;
    read_checkpoint(cp, &mask, &ns, &mint);
    assert_int_equal(mask, (1u << 1) | (1u << 3));
    assert_int_equal(ns, 4 + 4 + 9);
    assert_int_equal(mint, 60);
    free(cp);
    assert_int_equal(st_wal_truncate(w, 2), 0);

    /* the next checkpoint folds the previous one in */
    log_samples(w, 3, 200, 3);
    assert_int_equal(st_wal_next_segment(w, &seg), 0);
    assert_int_equal(st_wal_checkpoint(dir, 2, 2, keep_not_2, NULL, 100, false, &st), 0);
    assert_int_equal(st_wal_delete_checkpoints(dir, 2), 0);
    assert_int_equal(st_wal_last_checkpoint(dir, &cp, &idx), 0);
    assert_int_equal(idx, 2);
    read_checkpoint(cp, &mask, &ns, &mint);
    assert_int_equal(mask, (1u << 1) | (1u << 3));
    assert_int_equal(ns, 5 + 3); /* c: 100..140, 200..220 */
    assert_int_equal(mint, 100);
    char *old = st_path_join(dir, "checkpoint.00000001");
    assert_false(st_path_exists(old));
    free(old);
    free(cp);

    /* a gap between the last checkpoint and `from` is refused */
    int rc = st_wal_checkpoint(dir, 5, 6, keep_not_2, NULL, 0, false, NULL);
    assert_int_equal(rc, ST_EINVAL);
    assert_int_equal(st_wal_close(w), 0);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_75_bytes),
        cmocka_unit_test(test_fragmented_across_pages),
        cmocka_unit_test(test_page_padding),
        cmocka_unit_test(test_snappy_records),
        cmocka_unit_test(test_torn_tail_and_repair),
        cmocka_unit_test(test_crc_mismatch_mid_segment),
        cmocka_unit_test(test_segment_rotation),
        cmocka_unit_test(test_records_roundtrip_and_errors),
        cmocka_unit_test(test_checkpoint_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
