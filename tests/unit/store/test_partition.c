/* The store gateway's pure helpers: merging byte ranges into GETs (gap and
 * size rules), --min-time/--max-time values (checked against timegm(3) and
 * fixed epoch values, a computation independent of the parser's), and
 * --index-cache-size style sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "store.h"
#include "strata/promapi.h"
#include "strata/err.h"

#define KB ((uint64_t)1024)

static void check_parts(const store_range_t *r, size_t n, uint64_t gap, uint64_t maxp, const store_part_t *want,
                        size_t nwant) {
    store_part_t *p = NULL;
    size_t np = 0;
    assert_int_equal(store_partition(r, n, gap, maxp, &p, &np), 0);
    assert_int_equal(np, nwant);
    for (size_t i = 0; i < np; i++) {
        assert_int_equal(p[i].start, want[i].start);
        assert_int_equal(p[i].end, want[i].end);
        assert_int_equal(p[i].first, want[i].first);
        assert_int_equal(p[i].last, want[i].last);
    }
    free(p);
}

static void test_partition_empty(void **state) {
    (void)state;
    store_part_t *p = (store_part_t *)1;
    size_t np = 7;
    assert_int_equal(store_partition(NULL, 0, STORE_PARTITION_MAX_GAP, STORE_PARTITION_MAX_PART, &p, &np), 0);
    assert_null(p);
    assert_int_equal(np, 0);
}

static void test_partition_gap(void **state) {
    (void)state;
    const uint64_t gap = 512 * KB, maxp = 1 << 30;
    /* a gap of exactly max_gap still merges; one byte more does not */
    store_range_t r1[] = {{0, 100}, {100 + 512 * KB, 100 + 512 * KB + 10}};
    store_part_t w1[] = {{0, 100 + 512 * KB + 10, 0, 2}};
    check_parts(r1, 2, gap, maxp, w1, 1);
    store_range_t r2[] = {{0, 100}, {101 + 512 * KB, 101 + 512 * KB + 10}};
    store_part_t w2[] = {{0, 100, 0, 1}, {101 + 512 * KB, 101 + 512 * KB + 10, 1, 2}};
    check_parts(r2, 2, gap, maxp, w2, 2);
    /* overlapping and contained ranges; the part ends at the furthest end */
    store_range_t r3[] = {{10, 50}, {20, 30}, {40, 200}, {45, 60}, {2000 * KB, 2000 * KB + 1}};
    store_part_t w3[] = {{10, 200, 0, 4}, {2000 * KB, 2000 * KB + 1, 4, 5}};
    check_parts(r3, 5, gap, maxp, w3, 2);
    /* gap 0: only touching or overlapping ranges merge */
    store_range_t r4[] = {{0, 10}, {10, 20}, {21, 30}};
    store_part_t w4[] = {{0, 20, 0, 2}, {21, 30, 2, 3}};
    check_parts(r4, 3, 0, maxp, w4, 2);
}

static void test_partition_max_part(void **state) {
    (void)state;
    /* contiguous 10-byte ranges, parts of at most 25 bytes */
    store_range_t r[6];
    for (int i = 0; i < 6; i++) r[i] = (store_range_t){(uint64_t)i * 10, (uint64_t)i * 10 + 10};
    store_part_t w[] = {{0, 20, 0, 2}, {20, 40, 2, 4}, {40, 60, 4, 6}};
    check_parts(r, 6, 512 * KB, 25, w, 3);
    /* a single range larger than the cap is one part of its own */
    store_range_t big[] = {{0, 5}, {5, 1000}, {1000, 1001}};
    store_part_t wb[] = {{0, 5, 0, 1}, {5, 1000, 1, 2}, {1000, 1001, 2, 3}};
    check_parts(big, 3, 512 * KB, 100, wb, 3);
}

/* Every range lands in exactly one part that covers it; parts are ordered
 * and separated by more than the gap unless the size cap split them. */
static void test_partition_random(void **state) {
    (void)state;
    srand(42);
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)(rand() % 300);
        store_range_t *r = malloc(n * sizeof *r);
        uint64_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            pos += (uint64_t)(rand() % 3 == 0 ? rand() % (1 << 21) : rand() % 4096);
            r[i] = (store_range_t){pos, pos + 1 + (uint64_t)(rand() % 70000)};
        }
        uint64_t gap = (uint64_t)(rand() % 3) * 256 * KB, maxp = 64 * KB + (uint64_t)(rand() % 4) * 1024 * KB;
        store_part_t *p;
        size_t np;
        assert_int_equal(store_partition(r, n, gap, maxp, &p, &np), 0);
        size_t next = 0;
        for (size_t k = 0; k < np; k++) {
            assert_int_equal(p[k].first, next);
            assert_true(p[k].last > p[k].first);
            next = p[k].last;
            uint64_t end = 0;
            for (size_t i = p[k].first; i < p[k].last; i++) {
                assert_true(r[i].start >= p[k].start && r[i].end <= p[k].end);
                if (r[i].end > end) end = r[i].end;
            }
            assert_int_equal(p[k].start, r[p[k].first].start);
            assert_int_equal(p[k].end, end);
            if (p[k].last - p[k].first > 1) assert_true(p[k].end - p[k].start <= maxp);
            if (k + 1 < np) {
                const store_range_t *nx = &r[p[k + 1].first];
                uint64_t merged_end = nx->end > p[k].end ? nx->end : p[k].end;
                assert_true(nx->start > p[k].end + gap || merged_end - p[k].start > maxp);
            }
        }
        assert_int_equal(next, n);
        free(p);
        free(r);
    }
}

/* ---- times ---- */

static int64_t rfc(const char *s) {
    int64_t ms = 0;
    int rc = st_rfc3339_parse(s, &ms);
    if (rc) fail_msg("%s: %s", s, st_errdetail(rc));
    return ms;
}

static void test_rfc3339(void **state) {
    (void)state;
    assert_int_equal(rfc("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(rfc("2021-01-01T00:00:00Z"), 1609459200000LL);
    assert_int_equal(rfc("2021-01-01T02:30:00+02:30"), 1609459200000LL);
    assert_int_equal(rfc("2020-12-31T19:00:00-05:00"), 1609459200000LL);
    assert_int_equal(rfc("2024-02-29T12:00:00.123456789Z"), 1709208000123LL);
    assert_int_equal(rfc("2024-02-29T12:00:00.5Z"), 1709208000500LL);
    assert_int_equal(rfc("1969-12-31T23:59:59Z"), -1000);
    /* Thanos's defaults for --min-time and --max-time */
    assert_int_equal(rfc("0000-01-01T00:00:00Z"), -62167219200000LL);
    assert_int_equal(rfc("9999-12-31T23:59:59Z"), 253402300799000LL);
    const char *bad[] = {"",
                         "2021-01-01",
                         "2021-01-01T00:00:00",
                         "2021-13-01T00:00:00Z",
                         "2021-02-29T00:00:00Z",
                         "2021-01-01T24:00:00Z",
                         "2021-01-01t00:00:00Z",
                         "2021-01-01T00:00:00.Z",
                         "2021-01-01T00:00:00+0200",
                         "2021-01-01T00:00:00Zjunk",
                         "20a1-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        if (st_rfc3339_parse(bad[i], &ms) != ST_EINVAL) fail_msg("accepted \"%s\"", bad[i]);
    }
}

/* Against timegm(3) over a spread of dates. */
static void test_rfc3339_vs_timegm(void **state) {
    (void)state;
    srand(7);
    for (int i = 0; i < 5000; i++) {
        struct tm tm = {0};
        time_t t = (time_t)((int64_t)rand() * 97 % ((int64_t)4102444800));
        gmtime_r(&t, &tm);
        char s[64];
        strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        assert_int_equal(rfc(s), (int64_t)timegm(&tm) * 1000);
    }
}

static void test_time_values(void **state) {
    (void)state;
    store_time_t t;
    assert_int_equal(store_time_parse("2021-01-01T00:00:00Z", &t), 0);
    assert_false(t.relative);
    assert_int_equal(store_time_resolve(&t, 123), 1609459200000LL);
    assert_int_equal(store_time_parse("-2w", &t), 0);
    assert_true(t.relative);
    assert_int_equal(store_time_resolve(&t, 2000000000000LL), 2000000000000LL - 14LL * 86400000);
    assert_int_equal(store_time_parse("-72h", &t), 0);
    assert_int_equal(store_time_resolve(&t, 1000000000000LL), 1000000000000LL - 72LL * 3600000);
    assert_int_equal(store_time_parse("1d", &t), 0);
    assert_int_equal(store_time_resolve(&t, 0), 86400000);
    assert_int_equal(store_time_parse("-1h30m", &t), 0);
    assert_int_equal(t.ms, -5400000);
    assert_int_equal(store_time_parse("1700000000000", &t), 0);
    assert_false(t.relative);
    assert_int_equal(t.ms, 1700000000000LL);
    assert_int_equal(store_time_parse("-5", &t), 0);
    assert_false(t.relative);
    assert_int_equal(t.ms, -5);
    const char *bad[] = {"", "-", "yesterday", "2h-", "1.5h", "--2h", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (store_time_parse(bad[i], &t) != ST_EINVAL) fail_msg("accepted \"%s\"", bad[i]);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_empty),
        cmocka_unit_test(test_partition_gap),
        cmocka_unit_test(test_partition_max_part),
        cmocka_unit_test(test_partition_random),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_rfc3339_vs_timegm),
        cmocka_unit_test(test_time_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
