/* The decoders a ranged reader feeds with fetched bytes: postings lists
 * (with the index-header's padded ranges), series entries and chunk
 * entries fetched too short, too long or damaged. Bytes are built here by
 * hand from the format description, not by the writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/buf.h"
#include "strata/chunks.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/index.h"
#include "strata/labels.h"

static void expect_corrupt(int rc, const char *a, const char *b) {
    if (rc != ST_ECORRUPT) fail_msg("rc %d, want ST_ECORRUPT", rc);
    const char *d = st_errdetail(rc);
    if (!strstr(d, a) || (b && !strstr(d, b))) fail_msg("detail \"%s\" lacks \"%s\"/\"%s\"", d, a, b ? b : "");
}

/* be32 len | be32 n | ids | crc, then `pad` bytes of `padbyte` */
static size_t postings_bytes(uint8_t *p, const uint32_t *ids, uint32_t n, size_t pad, uint8_t padbyte) {
    st_be32_put(p, 4 + 4 * n);
    st_be32_put(p + 4, n);
    for (uint32_t i = 0; i < n; i++) st_be32_put(p + 8 + 4 * i, ids[i]);
    st_be32_put(p + 8 + 4 * n, st_crc32c(0, p + 4, 4 + 4 * n));
    memset(p + 12 + 4 * n, padbyte, pad);
    return 12 + 4 * n + pad;
}

static void test_postings(void **state) {
    (void)state;
    uint8_t buf[64];
    const uint32_t ids[] = {3, 7, 4096};
    st_postings_t p;
    for (size_t pad = 0; pad <= 3; pad++) {
        size_t len = postings_bytes(buf, ids, 3, pad, 0);
        assert_int_equal(st_index_decode_postings(buf, len, "list", &p), 0);
        assert_int_equal(p.n, 3);
        assert_memory_equal(p.ids, ids, sizeof ids);
        st_postings_free(&p);
    }
    size_t len = postings_bytes(buf, ids, 3, 4, 0);
    expect_corrupt(st_index_decode_postings(buf, len, "list x", &p), "list x", "4 bytes after the list");
    assert_null(p.ids);
    len = postings_bytes(buf, ids, 3, 1, 7);
    expect_corrupt(st_index_decode_postings(buf, len, "list", &p), "list", "not alignment padding");
    len = postings_bytes(buf, ids, 0, 0, 0);
    assert_int_equal(len, 12);
    assert_int_equal(st_index_decode_postings(buf, len, "empty", &p), 0);
    assert_int_equal(p.n, 0);
    st_postings_free(&p);

    len = postings_bytes(buf, ids, 3, 0, 0);
    for (size_t k = 0; k < len; k++) { /* every truncation */
        uint8_t *t = malloc(k ? k : 1);
        memcpy(t, buf, k);
        assert_int_equal(st_index_decode_postings(t, k, "cut", &p), ST_ECORRUPT);
        free(t);
    }
    expect_corrupt(st_index_decode_postings(buf, 5, "cut", &p), "cut", "minimum 12");
    expect_corrupt(st_index_decode_postings(buf, 19, "cut", &p), "cut", "exceeds");
    buf[10] ^= 1;
    expect_corrupt(st_index_decode_postings(buf, len, "flip", &p), "flip", "CRC mismatch");
    const uint32_t unsorted[] = {3, 3, 9};
    len = postings_bytes(buf, unsorted, 3, 0, 0);
    expect_corrupt(st_index_decode_postings(buf, len, "dup", &p), "dup", "not ascending at entry 1");
    len = postings_bytes(buf, ids, 3, 0, 0);
    st_be32_put(buf + 4, 2); /* count 2 in a len of 3 IDs */
    st_be32_put(buf + 20, st_crc32c(0, buf + 4, 16));
    expect_corrupt(st_index_decode_postings(buf, len, "count", &p), "count", "does not hold");
    /* a NULL name: the detail starts bare, for the caller to wrap */
    buf[10] ^= 1;
    st_errclear();
    assert_int_equal(st_index_decode_postings(buf, len, NULL, &p), ST_ECORRUPT);
    assert_int_equal(strncmp(st_errdetail(ST_ECORRUPT), "CRC mismatch", 12), 0);
}

/* symbols: 0 "", 1 "__name__", 2 "a", 3 "b", 4 "up" */
static const char *const syms[] = {"", "__name__", "a", "b", "up"};

static int sym(void *ctx, uint32_t ref, const char **s, size_t *len) {
    (void)ctx;
    if (ref >= 5) return st_errorf(ST_ECORRUPT, "symbol ref %u out of range", ref);
    *s = syms[ref];
    *len = strlen(syms[ref]);
    return 0;
}

/* up{a="b"} with chunks [1000,2000]@8, [2001,3000]@40 */
static size_t series_bytes(uint8_t *p, uint32_t name2) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_uvarint(&b, 2);
    st_put_uvarint(&b, 1);
    st_put_uvarint(&b, 4);
    st_put_uvarint(&b, name2);
    st_put_uvarint(&b, 3);
    st_put_uvarint(&b, 2);
    st_put_varint(&b, 1000);
    st_put_uvarint(&b, 1000);
    st_put_uvarint(&b, 8);
    st_put_uvarint(&b, 1);
    st_put_uvarint(&b, 999);
    st_put_varint(&b, 32);
    size_t vn = st_uvarint_put(p, b.len);
    memcpy(p + vn, b.p, b.len);
    st_be32_put(p + vn + b.len, st_crc32c(0, b.p, b.len));
    size_t n = vn + b.len + 4;
    st_encbuf_free(&b);
    return n;
}

static void test_series(void **state) {
    (void)state;
    uint8_t buf[128];
    memset(buf, 0, sizeof buf);
    size_t len = series_bytes(buf, 2);
    uint64_t need = 99;
    for (size_t k = 0; k < len; k++) { /* short fetches say how much is needed */
        assert_int_equal(st_index_series_entry_size(buf, k, &need), 0);
        assert_int_equal(need, k == 0 ? 0 : len);
    }
    st_labels_t l;
    st_chunk_meta_t *c;
    size_t nc;
    /* trailing bytes (the padding to 16, the next series) are ignored */
    assert_int_equal(st_index_decode_series(buf, sizeof buf, sym, NULL, "s", &l, &c, &nc), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].name, "__name__");
    assert_string_equal(l.v[0].value, "up");
    assert_string_equal(l.v[1].name, "a");
    assert_string_equal(l.v[1].value, "b");
    assert_int_equal(nc, 2);
    assert_int_equal(c[0].mint, 1000);
    assert_int_equal(c[0].maxt, 2000);
    assert_int_equal(c[0].ref, 8);
    assert_int_equal(c[1].mint, 2001);
    assert_int_equal(c[1].maxt, 3000);
    assert_int_equal(c[1].ref, 40);
    st_labels_free(&l);
    free(c);
    assert_int_equal(st_index_decode_series(buf, len, sym, NULL, "s", NULL, NULL, NULL), 0);

    expect_corrupt(st_index_decode_series(buf, len - 1, sym, NULL, "series 9", &l, &c, &nc), "series 9", "exceeds");
    assert_null(l.v);
    assert_null(c);
    buf[3] ^= 1;
    expect_corrupt(st_index_decode_series(buf, len, sym, NULL, "series 9", &l, &c, &nc), "series 9", "CRC");
    len = series_bytes(buf, 7);
    expect_corrupt(st_index_decode_series(buf, len, sym, NULL, "series 9", &l, &c, &nc), "series 9: label 1",
                   "symbol ref 7 out of range");
    len = series_bytes(buf, 1);
    expect_corrupt(st_index_decode_series(buf, len, sym, NULL, "series 9", &l, &c, &nc), "series 9", "not sorted");
    len = series_bytes(buf, 0);
    expect_corrupt(st_index_decode_series(buf, len, sym, NULL, "series 9", &l, &c, &nc), "series 9", "not sorted");

    uint8_t bad[12];
    memset(bad, 0xff, sizeof bad);
    expect_corrupt(st_index_series_entry_size(bad, sizeof bad, &need), "series entry", "malformed");
    assert_int_equal(st_index_series_entry_size(bad, 9, &need), 0);
    assert_int_equal(need, 0);
    size_t vn = st_uvarint_put(bad, (uint64_t)1 << 33);
    expect_corrupt(st_index_series_entry_size(bad, vn, &need), "series entry", "exceeds");
    expect_corrupt(st_index_decode_series(bad, vn, sym, NULL, "big", &l, &c, &nc), "big", "series entry");
}

/* uvarint len | u8 encoding | data | be32 crc(encoding | data) */
static size_t chunk_bytes(uint8_t *p, size_t dlen) {
    size_t vn = st_uvarint_put(p, dlen);
    p[vn] = 1;
    for (size_t i = 0; i < dlen; i++) p[vn + 1 + i] = (uint8_t)(i * 7);
    st_be32_put(p + vn + 1 + dlen, st_crc32c(0, p + vn, 1 + dlen));
    return vn + 1 + dlen + 4;
}

static void test_chunks(void **state) {
    (void)state;
    static uint8_t buf[300];
    const size_t sizes[] = {0, 5, 127, 128, 250};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len = chunk_bytes(buf, sizes[s]);
        /* fetch a prefix, then what *need says, as a ranged reader does */
        for (size_t k = 0; k <= len; k++) {
            size_t have = k;
            uint64_t need;
            uint8_t enc;
            const uint8_t *data;
            size_t dlen;
            int rounds = 0;
            for (;;) {
                int rc = st_chunk_decode_entry(buf, have, "chunk", &enc, &data, &dlen, &need);
                assert_int_equal(rc, 0);
                if (!need) break;
                assert_true(need > have);
                have = need < sizeof buf ? (size_t)need : sizeof buf;
                assert_true(++rounds <= 2);
            }
            assert_int_equal(enc, 1);
            assert_int_equal(dlen, sizes[s]);
            assert_ptr_equal(data, buf + len - 4 - sizes[s]);
        }
    }
    size_t len = chunk_bytes(buf, 5);
    uint64_t need;
    uint8_t enc;
    const uint8_t *data;
    size_t dlen;
    buf[len - 1] ^= 1;
    expect_corrupt(st_chunk_decode_entry(buf, len, "seg 3 at 8", &enc, &data, &dlen, &need), "seg 3 at 8",
                   "CRC mismatch");
    memset(buf, 0x80, 5);
    expect_corrupt(st_chunk_decode_entry(buf, len, "seg 3 at 8", &enc, &data, &dlen, &need), "seg 3 at 8",
                   "bad length varint");
    st_errclear();
    assert_int_equal(st_chunk_decode_entry(buf, len, NULL, &enc, &data, &dlen, &need), ST_ECORRUPT);
    assert_int_equal(strncmp(st_errdetail(ST_ECORRUPT), "bad length", 10), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postings),
        cmocka_unit_test(test_series),
        cmocka_unit_test(test_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
