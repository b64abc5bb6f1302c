/* ULID text form (Crockford base32, strict parse) and time field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/ulid.h"

static void check_vector(const uint8_t bytes[16], const char *text) {
    st_ulid_t id, back;
    memcpy(id.b, bytes, 16);
    char s[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&id, s);
    assert_string_equal(s, text);
    assert_int_equal(st_ulid_parse(&back, text), 0);
    assert_memory_equal(back.b, bytes, 16);
}

static void test_vectors(void **state) {
    (void)state;
    uint8_t b[16];
    memset(b, 0, 16);
    check_vector(b, "00000000000000000000000000");
    memset(b, 0xff, 16);
    check_vector(b, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    for (int i = 0; i < 16; i++) b[i] = (uint8_t)i;
    check_vector(b, "00041061050R3GG28A1C60T3GF");
    /* the block ULID of the reference's meta.json example (§1.3) */
    static const uint8_t ref[16] = {0x01, 0xa2, 0x0f, 0x65, 0xbb, 0x33, 0xa9, 0xb0,
                                    0x2c, 0x9f, 0xd9, 0x75, 0x0f, 0xb9, 0x22, 0x87};
    check_vector(ref, "01M87PBESKN6R2S7YSEM7VJ8M7");
    st_ulid_t id;
    memcpy(id.b, ref, 16);
    assert_int_equal(st_ulid_time(&id), UINT64_C(1795554655027));
}

static void test_parse_lowercase(void **state) {
    (void)state;
    st_ulid_t a, b;
    assert_int_equal(st_ulid_parse(&a, "01m87pbeskn6r2s7ysem7vj8m7"), 0);
    assert_int_equal(st_ulid_parse(&b, "01M87PBESKN6R2S7YSEM7VJ8M7"), 0);
    assert_int_equal(st_ulid_cmp(&a, &b), 0);
}

static void test_parse_rejects(void **state) {
    (void)state;
    static const char *bad[] = {
        "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",  /* overflows 128 bits */
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        "I0000000000000000000000000",  /* I is not in the alphabet */
        "0000000000000000000000000L",
        "0000000000000000000000000O",
        "0000000000000000000000000U",
        "0000000000000000000000000u",
        "000000000000000000000000-0",
        "0000000000000000000000000",   /* 25 chars */
        "000000000000000000000000000", /* 27 chars */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_ulid_t id;
        int rc = st_ulid_parse(&id, bad[i]);
        assert_int_equal(rc, ST_EINVAL);
        assert_non_null(strstr(st_errdetail(rc), "ulid"));
    }
}

static void test_new_time_round_trip(void **state) {
    (void)state;
    st_ulid_t a, b;
    assert_int_equal(st_ulid_new(&a, 1000), 0);
    assert_int_equal(st_ulid_time(&a), 1000);
    assert_int_equal(st_ulid_new(&b, 1000), 0);
    assert_memory_not_equal(a.b + 6, b.b + 6, 10); /* 80 random bits differ */
    assert_int_equal(st_ulid_new(&a, (UINT64_C(1) << 48) - 1), 0);
    assert_int_equal(st_ulid_time(&a), (UINT64_C(1) << 48) - 1);
    assert_int_equal(st_ulid_new(&a, UINT64_C(1) << 48), ST_EINVAL);

    char s[ST_ULID_TEXT_LEN + 1];
    assert_int_equal(st_ulid_new(&a, UINT64_C(1795554655027)), 0);
    st_ulid_format(&a, s);
    assert_memory_equal(s, "01M87PBESK", 10); /* the first 10 chars are the time */
    assert_int_equal(st_ulid_parse(&b, s), 0);
    assert_int_equal(st_ulid_cmp(&a, &b), 0);
}

static void test_cmp_orders_by_time(void **state) {
    (void)state;
    st_ulid_t a, b;
    assert_int_equal(st_ulid_new(&a, 5), 0);
    assert_int_equal(st_ulid_new(&b, 6), 0);
    assert_int_equal(st_ulid_cmp(&a, &b), -1);
    assert_int_equal(st_ulid_cmp(&b, &a), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_parse_lowercase),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_new_time_round_trip),
        cmocka_unit_test(test_cmp_orders_by_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
