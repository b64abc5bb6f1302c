/* Encoding buffers and CRC32C against the values in the format reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"

static void test_varint_vectors(void **state) {
    (void)state;
    static const struct { int64_t v; const char *hex; } cases[] = {
        {0, "00"}, {-1, "01"}, {1, "02"}, {1000, "d00f"}, {INT64_MIN, "ffffffffffffffffff01"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_encbuf_t b;
        st_encbuf_init(&b, 0);
        st_put_varint(&b, cases[i].v);
        char hex[64] = {0};
        for (size_t k = 0; k < b.len; k++) sprintf(hex + 2 * k, "%02x", b.p[k]);
        assert_string_equal(hex, cases[i].hex);
        st_decbuf_t d;
        st_decbuf_init(&d, b.p, b.len);
        assert_int_equal(st_dec_varint(&d), cases[i].v);
        assert_int_equal(d.err, 0);
        assert_int_equal(st_dec_remaining(&d), 0);
        st_encbuf_free(&b);
    }
}

static void test_decbuf_sticky_bounds(void **state) {
    (void)state;
    const uint8_t bytes[] = {0x00, 0x00, 0x01, 0x80};
    st_decbuf_t d;
    st_decbuf_init(&d, bytes, sizeof bytes);
    assert_int_equal(st_dec_be16(&d), 0);
    assert_int_equal(st_dec_u8(&d), 1);
    assert_int_equal(st_dec_uvarint(&d), 0); /* 0x80 with nothing after: truncated */
    assert_int_equal(d.err, ST_ECORRUPT);
    assert_int_equal(st_dec_u8(&d), 0); /* sticky */
    size_t n;
    assert_null(st_dec_str(&d, &n));
}

static void test_decbuf_str_overlong(void **state) {
    (void)state;
    const uint8_t bytes[] = {0x05, 'a', 'b'};
    st_decbuf_t d;
    st_decbuf_init(&d, bytes, sizeof bytes);
    size_t n;
    assert_null(st_dec_str(&d, &n));
    assert_int_equal(d.err, ST_ECORRUPT);
}

static void test_uvarint_overflow(void **state) {
    (void)state;
    const uint8_t eleven[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    uint64_t v;
    assert_int_equal(st_uvarint_get(eleven, sizeof eleven, &v), 0);
}

static void test_encbuf_cap(void **state) {
    (void)state;
    st_encbuf_t b;
    st_encbuf_init(&b, 8);
    st_put_be64(&b, 1);
    assert_int_equal(b.err, 0);
    st_put_u8(&b, 1);
    assert_int_equal(b.err, ST_ELIMIT);
    assert_int_equal(b.len, 8);
    st_encbuf_free(&b);
}

static void test_encbuf_empty_put(void **state) {
    (void)state;
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_bytes(&b, NULL, 0); /* on a buffer that owns no memory yet */
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 0);
    assert_non_null(b.p);
    st_encbuf_free(&b);
}

static void test_crc32c(void **state) {
    (void)state;
    assert_int_equal(st_crc32c(0, "123456789", 9), 0xE3069283u);
    /* §3.5 of the format reference: CRC over encoding byte + chunk data. */
    const uint8_t entry[] = {0x01, 0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
                             0xe8, 0x07, 0xc2, 0x5f, 0xff, 0x6c, 0x06};
    assert_int_equal(st_crc32c(0, entry, sizeof entry), 0x7a75e4e8u);
    /* incremental == one shot, at every split point and odd alignments */
    uint8_t big[1000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 31 + 7);
    uint32_t whole = st_crc32c(0, big, sizeof big);
    for (size_t cut = 0; cut <= sizeof big; cut += 37)
        assert_int_equal(st_crc32c(st_crc32c(0, big, cut), big + cut, sizeof big - cut), whole);
    assert_int_equal(st_crc32c(0, NULL, 0), 0);
}

static void test_errwrap(void **state) {
    (void)state;
    st_errorf(ST_ECORRUPT, "bad magic");
    int rc = st_errwrap(ST_ECORRUPT, "index %s", "/x/index");
    assert_int_equal(rc, ST_ECORRUPT);
    assert_string_equal(st_errdetail(rc), "index /x/index: bad magic");
    st_errclear();
    assert_string_equal(st_errdetail(ST_EIO), "I/O error");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_vectors),   cmocka_unit_test(test_decbuf_sticky_bounds),
        cmocka_unit_test(test_decbuf_str_overlong), cmocka_unit_test(test_uvarint_overflow),
        cmocka_unit_test(test_encbuf_cap),       cmocka_unit_test(test_encbuf_empty_put),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_errwrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
