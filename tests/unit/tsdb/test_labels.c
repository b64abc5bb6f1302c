/* TSDB label names and values (st_db_label_names/values) over head and
 * blocks: the scope rules of Prometheus 2.42's querier (a block when its
 * range overlaps, the head when its samples do; no per-series time filter),
 * every matcher type, several matcher sets as a union, unique sorted
 * answers, and a series that only lives in a block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/tsdb.h"
#include "st_test.h"

#define MIN_MS 60000

static char tmproot[4096];
static st_db_t *db;

static void add(st_db_t *d, const char *const *kv, size_t n, int64_t from, int64_t to) {
    st_label_t p[8];
    for (size_t i = 0; i < n; i++) p[i] = st_label(kv[2 * i], kv[2 * i + 1]);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, n), 0);
    st_appender_t *a;
    assert_int_equal(st_db_appender(d, &a), 0);
    uint64_t ref = 0;
    for (int64_t t = from; t <= to; t += 1000) assert_int_equal(st_appender_add(a, &ref, &l, t, 1), 0);
    assert_int_equal(st_appender_commit(a), 0);
    st_labels_free(&l);
}

/* Block [0, 60 s): old{a}, both{...}; head from 60 s on: new{b}, both. */
static int setup(void **state) {
    (void)state;
    if (st_test_mkdtemp(tmproot, sizeof tmproot, "tsdblabels")) return -1;
    st_db_opts_t o;
    st_db_opts_default(&o, tmproot);
    o.block_duration_ms = MIN_MS;
    o.retention_ms = 0;
    if (st_db_open(&db, &o)) return -1;
    static const char *const old_s[] = {"__name__", "old", "a", "1", "job", "j"};
    static const char *const both1[] = {"__name__", "both", "job", "j", "zone", "z1"};
    static const char *const both2[] = {"__name__", "both", "job", "k", "zone", "z2"};
    static const char *const new_s[] = {"__name__", "new", "b", "x\"y", "job", "j"};
    add(db, old_s, 3, 0, 50000);
    add(db, both1, 3, 0, 100000);
    add(db, both2, 3, 0, 100000);
    add(db, new_s, 3, 70000, 100000);
    if (st_db_compact(db)) return -1; /* head spans 100 s > 1.5 min: [0, 60 s) is cut */
    st_db_stats_t st;
    st_db_stats(db, &st);
    return st.blocks == 1 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    st_db_close(db);
    return st_rm_rf(tmproot);
}

static void expect(const st_db_strings_t *got, const char *want) {
    char buf[512] = "";
    for (size_t i = 0; i < got->n; i++) {
        if (i) strcat(buf, ",");
        strcat(buf, got->v[i]);
    }
    assert_string_equal(buf, want);
}

static st_matchers_t sel(const char *s) {
    st_matchers_t m;
    int rc = st_selector_parse(&m, s);
    if (rc) fail_msg("%s: %s", s, st_errdetail(rc));
    return m;
}

static void names(const char *const *sels, size_t nsel, int64_t mint, int64_t maxt, const char *want) {
    st_matchers_t ms[4] = {0};
    for (size_t i = 0; i < nsel; i++) ms[i] = sel(sels[i]);
    st_db_strings_t got;
    assert_int_equal(st_db_label_names(db, ms, nsel, mint, maxt, &got), 0);
    expect(&got, want);
    st_db_strings_free(&got);
    for (size_t i = 0; i < nsel; i++) st_matchers_free(&ms[i]);
}

static void values(const char *name, const char *const *sels, size_t nsel, int64_t mint, int64_t maxt,
                   const char *want) {
    st_matchers_t ms[4] = {0};
    for (size_t i = 0; i < nsel; i++) ms[i] = sel(sels[i]);
    st_db_strings_t got;
    assert_int_equal(st_db_label_values(db, name, ms, nsel, mint, maxt, &got), 0);
    expect(&got, want);
    st_db_strings_free(&got);
    for (size_t i = 0; i < nsel; i++) st_matchers_free(&ms[i]);
}

static void test_scope(void **state) {
    (void)state;
    names(NULL, 0, INT64_MIN, INT64_MAX, "__name__,a,b,job,zone");
    /* only the block: "old" is there, "new" is not */
    names(NULL, 0, 0, 10000, "__name__,a,job,zone");
    values("__name__", NULL, 0, 0, 10000, "both,old");
    /* only the head (from its oldest sample, 60 s): old left with the cut */
    names(NULL, 0, 90000, 95000, "__name__,b,job,zone");
    values("__name__", NULL, 0, 90000, INT64_MAX, "both,new");
    /* the head counts as a whole: "new" starts at 70 s, yet a range
     * [60 s, 65 s] inside the head's span lists it (Prometheus does too) */
    values("__name__", NULL, 0, 60000, 65000, "both,new");
    /* the block's maxTime is exclusive: [60 s, 60 s] is the head only */
    values("__name__", NULL, 0, 60000, 60000, "both,new");
    /* nothing before and after the data */
    names(NULL, 0, -5000, -1, "");
    names(NULL, 0, 200000, 300000, "");
    values("__name__", NULL, 0, 5, 4, ""); /* empty range */
}

static void test_matchers(void **state) {
    (void)state;
    static const char *const eq[] = {"{job=\"k\"}"};
    static const char *const neq[] = {"{__name__=\"both\", zone!=\"z1\"}"};
    static const char *const re[] = {"{__name__=~\"o.*|n.w\"}"};
    static const char *const nre[] = {"{__name__!~\"both\", job=\"j\"}"};
    static const char *const two[] = {"{__name__=\"old\"}", "{__name__=\"new\"}"};
    static const char *const none[] = {"{__name__=\"nope\"}"};
    static const char *const lacks[] = {"{__name__=~\".+\", zone=\"\"}"};
    names(eq, 1, INT64_MIN, INT64_MAX, "__name__,job,zone");
    values("zone", neq, 1, INT64_MIN, INT64_MAX, "z2");
    values("__name__", re, 1, INT64_MIN, INT64_MAX, "new,old");
    values("b", nre, 1, INT64_MIN, INT64_MAX, "x\"y");
    names(nre, 1, 0, 10000, "__name__,a,job");
    names(two, 2, INT64_MIN, INT64_MAX, "__name__,a,b,job");
    values("job", two, 2, 90000, INT64_MAX, "j");
    names(none, 1, INT64_MIN, INT64_MAX, "");
    values("job", lacks, 1, INT64_MIN, INT64_MAX, "j");
    values("nosuchlabel", NULL, 0, INT64_MIN, INT64_MAX, "");
    values("", NULL, 0, INT64_MIN, INT64_MAX, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_matchers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
