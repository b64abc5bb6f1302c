/* Command-line flags: kinds, repeatable strings, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strata/err.h"
#include "strata/flags.h"

static void test_kinds_and_positionals(void **state) {
    (void)state;
    const char *addr = NULL;
    int64_t n = 0, ms = 0;
    bool on = false, off = true;
    st_flag_strings_t stores = {0};
    const st_flag_t flags[] = {
        {"http-address", ST_FLAG_STRING, &addr, ""}, {"limit", ST_FLAG_INT64, &n, ""},
        {"interval", ST_FLAG_DURATION, &ms, ""},     {"wait", ST_FLAG_BOOL, &on, ""},
        {"dedup", ST_FLAG_BOOL, &off, ""},           {"store", ST_FLAG_STRINGS, &stores, ""},
    };
    char *argv[] = {"--http-address=127.0.0.1:1", "pos1", "--store", "a:1", "--limit", "7", "--interval=1h30m",
                    "--store=b:2", "--wait", "--no-dedup", "--", "--store=c"};
    char **pos = NULL;
    size_t npos = 0;
    assert_int_equal(st_flags_parse(flags, 6, 12, argv, &pos, &npos), 0);
    assert_string_equal(addr, "127.0.0.1:1");
    assert_int_equal(n, 7);
    assert_int_equal(ms, 90 * 60 * 1000);
    assert_true(on);
    assert_false(off);
    assert_int_equal(stores.n, 2);
    assert_string_equal(stores.v[0], "a:1");
    assert_string_equal(stores.v[1], "b:2");
    assert_int_equal(npos, 2);
    assert_string_equal(pos[0], "pos1");
    assert_string_equal(pos[1], "--store=c");
    free(pos);
    free(stores.v);
}

static void test_errors(void **state) {
    (void)state;
    st_flag_strings_t stores = {0};
    int64_t n = 0;
    const st_flag_t flags[] = {{"store", ST_FLAG_STRINGS, &stores, ""}, {"limit", ST_FLAG_INT64, &n, ""}};
    char **pos = NULL;
    size_t npos = 0;
    char *missing[] = {"--store=x", "--store"};
    assert_int_equal(st_flags_parse(flags, 2, 2, missing, &pos, &npos), ST_EINVAL);
    assert_non_null(strstr(st_errdetail(ST_EINVAL), "--store"));
    assert_int_equal(stores.n, 1); /* what was parsed before the error is kept for the caller to free */
    free(stores.v);
    char *bad[] = {"--limit=7x"};
    assert_int_equal(st_flags_parse(flags, 2, 1, bad, &pos, &npos), ST_EINVAL);
    assert_non_null(strstr(st_errdetail(ST_EINVAL), "--limit"));
    char *unknown[] = {"--nope=1"};
    assert_int_equal(st_flags_parse(flags, 2, 1, unknown, &pos, &npos), ST_EINVAL);
    char *help[] = {"-h"};
    assert_int_equal(st_flags_parse(flags, 2, 1, help, &pos, &npos), 1);
}

static void test_bytes(void **state) {
    (void)state;
    uint64_t v;
    assert_int_equal(st_bytes_parse("250MB", &v), 0);
    assert_int_equal(v, 250ULL << 20);
    assert_int_equal(st_bytes_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(st_bytes_parse("1GiB", &v), 0);
    assert_int_equal(v, 1ULL << 30);
    assert_int_equal(st_bytes_parse("512KB", &v), 0);
    assert_int_equal(v, 512ULL << 10);
    assert_int_equal(st_bytes_parse("12", &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(st_bytes_parse("7B", &v), 0);
    assert_int_equal(v, 7);
    const char *bad[] = {"", "MB", "1.5GB", "-1", "1 MB", "1mb", "100000000000EB", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (st_bytes_parse(bad[i], &v) != ST_EINVAL) fail_msg("accepted \"%s\"", bad[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_positionals),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
