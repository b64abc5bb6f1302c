/* Tombstones file: exact bytes (§5 of the format reference), errors, lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "st_test.h"
#include "strata/tombstones.h"

static const uint8_t empty_file[] = {0x01, 0x30, 0xba, 0x30, 0x01, 0x00, 0x00, 0x00, 0x00};

/* {series 1, [0,10]}, {series 300, [-5,1000]}; CRC computed independently. */
static const uint8_t two_file[] = {0x01, 0x30, 0xba, 0x30, 0x01,                   /* magic, version */
                                   0x01, 0x00, 0x14,                               /* 1, 0, 10 */
                                   0xac, 0x02, 0x09, 0xd0, 0x0f,                   /* 300, -5, 1000 */
                                   0xa0, 0xb0, 0x63, 0xac};                        /* CRC32C */

static char tmpdir[4096];

static int setup(void **state) {
    (void)state;
    return st_test_mkdtemp(tmpdir, sizeof tmpdir, "tombstones");
}

static int teardown(void **state) {
    (void)state;
    return st_rm_rf(tmpdir);
}

static void assert_file_bytes(const uint8_t *want, size_t n) {
    char *path = st_path_join(tmpdir, ST_TOMBSTONES_FILENAME);
    uint8_t *buf;
    size_t len;
    assert_int_equal(st_file_read_all(path, 1 << 20, &buf, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(buf, want, n);
    free(buf);
    free(path);
}

static void test_empty(void **state) {
    (void)state;
    st_tombstones_t t;
    assert_int_equal(st_tombstones_parse(&t, empty_file, sizeof empty_file, "empty"), 0);
    assert_int_equal(t.n, 0);
    assert_false(st_tombstones_covers(&t, 0, 0));
    assert_false(st_tombstones_has(&t, 0));
    assert_int_equal(st_tombstones_write(&t, tmpdir), 0);
    assert_file_bytes(empty_file, sizeof empty_file);
    st_tombstones_free(&t);
    st_tombstones_free(NULL);
}

static void test_two_entries_round_trip(void **state) {
    (void)state;
    st_tombstones_t t;
    assert_int_equal(st_tombstones_parse(&t, two_file, sizeof two_file, "two"), 0);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0].series_id, 1);
    assert_int_equal(t.v[0].mint, 0);
    assert_int_equal(t.v[0].maxt, 10);
    assert_int_equal(t.v[1].series_id, 300);
    assert_int_equal(t.v[1].mint, -5);
    assert_int_equal(t.v[1].maxt, 1000);
    assert_int_equal(st_tombstones_write(&t, tmpdir), 0);
    assert_file_bytes(two_file, sizeof two_file);
    st_tombstones_free(&t);

    assert_int_equal(st_tombstones_read(&t, tmpdir), 0);
    assert_int_equal(t.n, 2);
    assert_true(st_tombstones_covers(&t, 300, 1000));
    st_tombstones_free(&t);
}

/* Build a file from entries with a correct CRC. */
static uint8_t *make_file(const st_tombstone_t *v, size_t n, size_t *len) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_be32(&b, 0x0130BA30);
    st_put_u8(&b, 1);
    for (size_t i = 0; i < n; i++) {
        st_put_uvarint(&b, v[i].series_id);
        st_put_varint(&b, v[i].mint);
        st_put_varint(&b, v[i].maxt);
    }
    st_put_be32(&b, st_crc32c(0, b.p + 5, b.len - 5));
    assert_int_equal(b.err, 0);
    *len = b.len;
    return b.p;
}

static void test_sort_merge_and_lookup(void **state) {
    (void)state;
    const st_tombstone_t in[] = {
        {5, 50, 60}, {9, INT64_MIN, INT64_MAX}, {5, 15, 30}, {5, 10, 20}, {5, 31, 40},
        {5, 70, 65}, /* empty: covers nothing */
        {2, 7, 7},   {7, 100, 90},
    };
    size_t len;
    uint8_t *file = make_file(in, sizeof in / sizeof in[0], &len);
    st_tombstones_t t;
    assert_int_equal(st_tombstones_parse(&t, file, len, "merge"), 0);
    free(file);
    const st_tombstone_t want[] = {{2, 7, 7}, {5, 10, 40}, {5, 50, 60}, {9, INT64_MIN, INT64_MAX}};
    assert_int_equal(t.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal(t.v[i].series_id, want[i].series_id);
        assert_int_equal(t.v[i].mint, want[i].mint);
        assert_int_equal(t.v[i].maxt, want[i].maxt);
    }
    static const struct { uint32_t id; int64_t ts; bool covered; } q[] = {
        {5, 9, false}, {5, 10, true},  {5, 25, true},  {5, 40, true},   {5, 41, false},
        {5, 50, true}, {5, 60, true},  {5, 61, false}, {5, 67, false},  {2, 6, false},
        {2, 7, true},  {2, 8, false},  {3, 7, false},  {7, 95, false},  {9, INT64_MIN, true},
        {9, INT64_MAX, true}, {10, 0, false}, {0, 0, false},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (st_tombstones_covers(&t, q[i].id, q[i].ts) != q[i].covered)
            fail_msg("covers(%u, %lld) != %d", q[i].id, (long long)q[i].ts, q[i].covered);
    assert_true(st_tombstones_has(&t, 2));
    assert_true(st_tombstones_has(&t, 5));
    assert_true(st_tombstones_has(&t, 9));
    assert_false(st_tombstones_has(&t, 7)); /* only an empty interval */
    assert_false(st_tombstones_has(&t, 3));
    assert_false(st_tombstones_has(&t, UINT32_MAX));
    st_tombstones_free(&t);
    assert_null(t.v);
    assert_int_equal(t.n, 0);
}

static void expect_corrupt(const uint8_t *p, size_t len, const char *what) {
    st_tombstones_t t = {(st_tombstone_t *)1, 99};
    int rc = st_tombstones_parse(&t, p, len, "/b/tombstones");
    assert_int_equal(rc, ST_ECORRUPT);
    const char *d = st_errdetail(rc);
    if (!strstr(d, what) || !strstr(d, "/b/tombstones"))
        fail_msg("detail \"%s\" does not mention \"%s\" and the file", d, what);
    assert_null(t.v);
    assert_int_equal(t.n, 0);
}

static void test_errors(void **state) {
    (void)state;
    uint8_t b[sizeof two_file];
    expect_corrupt(empty_file, 8, "shorter");
    expect_corrupt(empty_file, 0, "shorter");
    memcpy(b, empty_file, 9);
    b[3] = 0x31;
    expect_corrupt(b, 9, "bad magic");
    memcpy(b, empty_file, 9);
    b[4] = 2;
    expect_corrupt(b, 9, "version 2");
    memcpy(b, two_file, sizeof two_file);
    b[7] ^= 1;
    expect_corrupt(b, sizeof b, "CRC mismatch");
    memcpy(b, two_file, sizeof two_file);
    b[sizeof b - 1] ^= 0x80;
    expect_corrupt(b, sizeof b, "CRC mismatch");
    expect_corrupt(two_file, sizeof two_file - 1, "CRC mismatch"); /* truncated */

    /* bytes that pass the CRC but do not decode */
    static const uint8_t trunc_entries[][12] = {
        {2, 0x01, 0x00},                                                   /* no maxt */
        {2, 0x80, 0x80},                                                   /* unfinished uvarint */
        {11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, /* > 64 bits */
    };
    for (size_t i = 0; i < sizeof trunc_entries / sizeof trunc_entries[0]; i++) {
        size_t n = trunc_entries[i][0];
        uint8_t f[32] = {0x01, 0x30, 0xba, 0x30, 0x01};
        memcpy(f + 5, trunc_entries[i] + 1, n);
        st_be32_put(f + 5 + n, st_crc32c(0, f + 5, n));
        expect_corrupt(f, 9 + n, "offset 5");
    }

    /* series ID 2^32 with a valid CRC */
    uint8_t f[32] = {0x01, 0x30, 0xba, 0x30, 0x01};
    size_t n = st_uvarint_put(f + 5, UINT64_C(1) << 32);
    f[5 + n] = 0x00; /* mint */
    f[6 + n] = 0x00; /* maxt */
    st_be32_put(f + 7 + n, st_crc32c(0, f + 5, n + 2));
    expect_corrupt(f, 11 + n, "exceeds 32 bits");
}

static void test_read_missing_and_corrupt(void **state) {
    (void)state;
    st_tombstones_t t;
    assert_int_equal(st_tombstones_read(&t, tmpdir), 0); /* no file: no tombstones */
    assert_int_equal(t.n, 0);
    assert_null(t.v);

    char *path = st_path_join(tmpdir, ST_TOMBSTONES_FILENAME);
    assert_int_equal(st_file_write_atomic(path, two_file, sizeof two_file - 2), 0);
    int rc = st_tombstones_read(&t, tmpdir);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), path));
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_entries_round_trip, setup, teardown),
        cmocka_unit_test(test_sort_merge_and_lookup),
        cmocka_unit_test(test_errors),
        cmocka_unit_test_setup_teardown(test_read_missing_and_corrupt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
