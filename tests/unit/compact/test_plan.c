/* The compaction planner, groups and the redundant-block filter. The
 * oracle is the case tables of Prometheus's tsdb/compact_test.go
 * (TestLeveledCompactor "plan", TestSplitByRange,
 * TestRangeWithFailedCompactionWontGetSelected) and Thanos's
 * pkg/compact/planner_test.go (TestPlanners_Plan_Compatibility,
 * TestTSDBBasedPlanner_PlanWithNoCompactMarks), pkg/compact/compact_test.go
 * (TestGroupKey) and pkg/block/fetcher_test.go (TestDeduplicateFilter_Filter,
 * TestReplicaLabelRemover_Modify): their inputs and expected outputs, ported
 * as tables. Block "n" has ULID time n and zero randomness, as
 * ulid.MustNew(n, nil) there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "strata/compact.h"
#include "strata/err.h"

#define H INT64_C(3600000)
#define MAXB 16

static st_ulid_t id_of(int n) {
    st_ulid_t u;
    memset(&u, 0, sizeof(u));
    u.b[4] = (uint8_t)(n >> 8);
    u.b[5] = (uint8_t)n;
    return u;
}

/* ---- the planner ---- */

typedef struct {
    int id;
    int64_t min, max;
    uint64_t series, tombstones;
    int flags; /* F_FAILED, F_NOCOMPACT */
} blk_t;
#define F_FAILED 1
#define F_NOCOMPACT 2
#define B(id, min, max) {id, min, max, 0, 0, 0}
#define BT(id, min, max, series, tombstones) {id, min, max, series, tombstones, 0}
#define BF(id, min, max, flags) {id, min, max, 0, 0, flags}

typedef struct {
    const char *name;
    blk_t b[MAXB]; /* ends at id 0 */
    int want[MAXB]; /* ids in plan order, ends at 0 */
} plan_case_t;

static const int64_t ranges20[] = {20, 60, 180, 540, 1620};

/* Plan c with the blocks given in table order and in reverse order (the
 * planner sorts by min time itself); the plan must be the same. */
static void check_plan(const plan_case_t *c, const int64_t *ranges, size_t nranges) {
    st_meta_t metas[MAXB];
    bool nc[MAXB];
    size_t n = 0;
    while (c->b[n].id) n++;
    for (int rev = 0; rev < 2; rev++) {
        memset(metas, 0, sizeof(metas));
        for (size_t i = 0; i < n; i++) {
            const blk_t *b = &c->b[rev ? n - 1 - i : i];
            metas[i].ulid = id_of(b->id);
            metas[i].min_time = b->min;
            metas[i].max_time = b->max;
            metas[i].num_series = b->series;
            metas[i].num_tombstones = b->tombstones;
            metas[i].failed = b->flags & F_FAILED;
            nc[i] = b->flags & F_NOCOMPACT;
        }
        size_t *out = (size_t *)1, nout = 99;
        int rc = st_compact_plan(metas, n, nc, ranges, nranges, &out, &nout);
        if (rc != 0) fail_msg("%s: rc %d: %s", c->name, rc, st_errdetail(rc));
        size_t nwant = 0;
        while (c->want[nwant]) nwant++;
        char got[256] = "", want[256] = "";
        for (size_t i = 0; i < nout; i++) {
            st_ulid_t u = metas[out[i]].ulid;
            snprintf(got + strlen(got), sizeof(got) - strlen(got), " %d", u.b[4] << 8 | u.b[5]);
        }
        for (size_t i = 0; i < nwant; i++)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), " %d", c->want[i]);
        if (strcmp(got, want) != 0)
            fail_msg("%s (%s order): plan [%s ] want [%s ]", c->name, rev ? "reverse" : "table", got, want);
        if (nout == 0) assert_null(out);
        free(out);
    }
}

static const plan_case_t compat_cases[] = {
    {"Outside range", {B(1, 0, 20)}, {0}},
    {"wait for four blocks of size 20", {B(1, 0, 20), B(2, 20, 40)}, {0}},
    {"three, but the fresh one is ignored", {B(1, 0, 20), B(2, 20, 40), B(3, 40, 60)}, {0}},
    {"block to fill the entire parent range appeared",
     {B(1, 0, 20), B(2, 20, 40), B(3, 40, 60), B(4, 60, 80)},
     {1, 2, 3}},
    {"blocks to fill the entire 2nd parent range",
     {B(6, 0, 60), B(7, 60, 120), B(8, 120, 180), B(9, 180, 200), B(10, 200, 220)},
     {6, 7, 8}},
    {"next parent range appeared with a gap, fresh one ignored", {B(1, 0, 20), B(2, 20, 40), B(4, 60, 80)}, {0}},
    {"gap of 20 between second and third: compact just these two",
     {B(1, 0, 20), B(2, 20, 40), B(4, 60, 80), B(5, 80, 100)},
     {1, 2}},
    {"20, 20, 20, 60, 60: 5 is the fresh one",
     {B(1, 0, 20), B(2, 20, 40), B(3, 40, 60), B(4, 60, 120), B(5, 120, 180)},
     {1, 2, 3}},
    {"entire 2nd parent range but with a gap", {B(6, 0, 60), B(8, 120, 180), B(9, 180, 200), B(10, 200, 220)}, {6, 8}},
    {"20, 60, 20, 60, 240: compact 20 + 60 + 60",
     {B(2, 20, 40), B(4, 60, 120), B(5, 960, 980), B(6, 120, 180), B(7, 720, 960)},
     {2, 4, 6}},
    {"large block with many tombstones, no fresh block", {BT(1, 0, 540, 10, 3)}, {0}},
    {"large block with many tombstones, fresh appears", {BT(1, 0, 540, 10, 3), B(2, 540, 560)}, {1}},
    {"small block with tombstones, fresh appears", {BT(1, 0, 60, 10, 3), B(2, 60, 80)}, {0}},
    {"zero tombstones and zero series: no loop", {BT(1, 0, 540, 0, 0), B(2, 540, 560)}, {0}},
    {"the fresh block is the one with the largest min time, not ULID",
     {B(5, 0, 360), B(6, 540, 560), B(7, 360, 420), B(8, 420, 540)},
     {7, 8}},
    {"overlapping blocks 1", {B(1, 0, 20), B(2, 19, 40), B(3, 40, 60)}, {1, 2}},
    {"overlapping blocks 2", {B(1, 0, 20), B(2, 20, 40), B(3, 30, 50)}, {2, 3}},
    {"overlapping blocks 3", {B(1, 0, 20), B(2, 10, 40), B(3, 30, 50)}, {1, 2, 3}},
    {"overlapping blocks 4", {B(5, 0, 360), B(6, 340, 560), B(7, 360, 420), B(8, 420, 540)}, {5, 6, 7, 8}},
    {"overlapping blocks 5", {B(1, 0, 10), B(2, 9, 20), B(3, 30, 40), B(4, 39, 50)}, {1, 2}},
};

static void test_plan_compat(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(compat_cases) / sizeof(compat_cases[0]); i++)
        check_plan(&compat_cases[i], ranges20, 5);
}

static void test_plan_failed(void **state) {
    (void)state;
    /* The second block's compaction failed: its range is never selected. */
    static const plan_case_t cases[] = {
        {"failed 1", {B(1, 0, 20), BF(2, 20, 40, F_FAILED), B(3, 40, 60), B(4, 60, 80)}, {0}},
        {"failed 2", {B(1, 0, 20), BF(2, 20, 40, F_FAILED), B(3, 60, 80), B(4, 80, 100)}, {0}},
        {"failed 3",
         {B(1, 0, 20), BF(2, 20, 40, F_FAILED), B(3, 40, 60), B(4, 60, 120), B(5, 120, 180), B(6, 180, 200)},
         {0}},
    };
    static const int64_t prom_ranges[] = {20, 60, 240, 720, 2160};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_plan(&cases[i], ranges20, 5);
        check_plan(&cases[i], prom_ranges, 5);
    }
}

static void test_plan_no_compact(void **state) {
    (void)state;
    static const plan_case_t cases[] = {
        {"outside range and excluded", {BF(1, 0, 20, F_NOCOMPACT)}, {0}},
        {"entire parent, first excluded",
         {BF(1, 0, 20, F_NOCOMPACT), B(2, 20, 40), B(3, 40, 60), B(4, 60, 80)},
         {2, 3}},
        {"entire parent, second excluded",
         {B(1, 0, 20), BF(2, 20, 40, F_NOCOMPACT), B(3, 40, 60), B(4, 60, 80)},
         {0}},
        {"entire parent, last excluded",
         {B(1, 0, 20), B(2, 20, 40), B(3, 40, 60), BF(4, 60, 80, F_NOCOMPACT)},
         {1, 2, 3}},
        {"entire parent, first and last excluded",
         {BF(1, 0, 20, F_NOCOMPACT), B(2, 20, 40), B(3, 40, 60), BF(4, 60, 80, F_NOCOMPACT)},
         {2, 3}},
        {"entire parent, all excluded",
         {BF(1, 0, 20, F_NOCOMPACT),
          BF(2, 20, 40, F_NOCOMPACT),
          BF(3, 40, 60, F_NOCOMPACT),
          BF(4, 60, 80, F_NOCOMPACT)},
         {0}},
        {"gap between second and third, second excluded",
         {B(1, 0, 20), BF(2, 20, 40, F_NOCOMPACT), B(4, 60, 80), B(5, 80, 100)},
         {0}},
        {"20 + 60 + 60, but 6 excluded",
         {B(2, 20, 40), B(4, 60, 120), B(5, 960, 980), BF(6, 120, 180, F_NOCOMPACT), B(7, 720, 960)},
         {2, 4}},
        {"20 + 60 + 60, but 4 excluded",
         {B(2, 20, 40), BF(4, 60, 120, F_NOCOMPACT), B(5, 960, 980), B(6, 120, 180), B(7, 720, 960)},
         {0}},
        {"tombstoned large block, fresh appears, but excluded",
         {{1, 0, 540, 10, 3, F_NOCOMPACT}, B(2, 540, 560)},
         {0}},
        /* From planner.go: only unmarked blocks are rewritten for their
         * tombstones. */
        {"marked tombstoned block behind an unmarked one",
         {{1, 0, 540, 10, 3, F_NOCOMPACT}, BT(2, 540, 1080, 10, 0), B(3, 1080, 1100)},
         {0}},
        {"overlapping blocks 1, one excluded", {BF(1, 0, 20, F_NOCOMPACT), B(2, 19, 40), B(3, 40, 60)}, {0}},
        /* Not in Thanos's table, from planner.go: a marked block keeps
         * its place when choosing the part. A planner fed only the
         * unmarked blocks would merge 1 and 3 around 2 into a block
         * overlapping it. */
        {"marked block inside a full part",
         {B(1, 0, 20), BF(2, 20, 40, F_NOCOMPACT), B(3, 40, 60), B(4, 60, 80), B(5, 80, 100)},
         {0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) check_plan(&cases[i], ranges20, 5);

    /* The same block set as a test above, once with no mark array and
     * once with the mark on: the mark is what changes the plan. */
    static const plan_case_t unmarked = {"entire parent, none excluded",
                                         {B(1, 0, 20), B(2, 20, 40), B(3, 40, 60), B(4, 60, 80)},
                                         {1, 2, 3}};
    st_meta_t metas[4];
    memset(metas, 0, sizeof(metas));
    for (int i = 0; i < 4; i++) {
        metas[i].ulid = id_of(unmarked.b[i].id);
        metas[i].min_time = unmarked.b[i].min;
        metas[i].max_time = unmarked.b[i].max;
    }
    size_t *out, nout;
    assert_int_equal(st_compact_plan(metas, 4, NULL, ranges20, 5, &out, &nout), 0);
    assert_int_equal(nout, 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[2], 2);
    free(out);
    check_plan(&unmarked, ranges20, 5);
}

static void test_plan_default_ranges(void **state) {
    (void)state;
    assert_int_equal(st_compact_default_ranges[0], 2 * H);
    assert_int_equal(st_compact_default_ranges[1], 8 * H);
    assert_int_equal(st_compact_default_ranges[2], 48 * H);
    assert_int_equal(st_compact_default_ranges[3], 336 * H);

    /* 12 aligned 2h blocks: the newest (22h-24h) is left out, the first
     * complete 8h range is planned. */
    plan_case_t twelve = {"12 aligned 2h blocks", {{0}}, {1, 2, 3, 4}};
    for (int i = 0; i < 12; i++) twelve.b[i] = (blk_t)B(i + 1, i * 2 * H, (i + 1) * 2 * H);
    check_plan(&twelve, st_compact_default_ranges, ST_COMPACT_NRANGES);

    /* An incomplete 8h range waits: 4 blocks, the newest left out, the
     * other three do not span 8h and end after the newest left starts. */
    static const plan_case_t waits = {"incomplete range waits",
                                      {B(1, 0, 2 * H), B(2, 2 * H, 4 * H), B(3, 4 * H, 6 * H), B(4, 6 * H, 8 * H)},
                                      {0}};
    check_plan(&waits, st_compact_default_ranges, ST_COMPACT_NRANGES);
    static const plan_case_t five = {
        "fifth block completes the range",
        {B(1, 0, 2 * H), B(2, 2 * H, 4 * H), B(3, 4 * H, 6 * H), B(4, 6 * H, 8 * H), B(5, 8 * H, 10 * H)},
        {1, 2, 3, 4}};
    check_plan(&five, st_compact_default_ranges, ST_COMPACT_NRANGES);

    /* The compactor's loop over the 12 blocks: replace each plan by its
     * merged block until nothing is due. By hand: [0,8h) and [8h,16h)
     * become 8h blocks; 16h-22h cannot (6h, ends after 20h, the newest
     * remaining start), nor can 0-22h as a 48h part. */
    st_meta_t m[12];
    memset(m, 0, sizeof(m));
    size_t n = 12;
    for (size_t i = 0; i < n; i++) {
        m[i].ulid = id_of((int)i + 1);
        m[i].min_time = (int64_t)i * 2 * H;
        m[i].max_time = (int64_t)(i + 1) * 2 * H;
    }
    int next_id = 100, rounds = 0;
    for (;;) {
        size_t *out, nout;
        assert_int_equal(st_compact_plan(m, n, NULL, st_compact_default_ranges, ST_COMPACT_NRANGES, &out, &nout), 0);
        if (nout == 0) break;
        assert_true(++rounds <= 2);
        st_meta_t merged = {.ulid = id_of(next_id++), .min_time = m[out[0]].min_time, .max_time = m[out[0]].max_time};
        for (size_t i = 0; i < nout; i++) {
            if (m[out[i]].min_time < merged.min_time) merged.min_time = m[out[i]].min_time;
            if (m[out[i]].max_time > merged.max_time) merged.max_time = m[out[i]].max_time;
        }
        bool planned[12] = {false};
        for (size_t i = 0; i < nout; i++) planned[out[i]] = true;
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (!planned[i]) m[w++] = m[i];
        m[w++] = merged;
        n = w;
        free(out);
    }
    assert_int_equal(rounds, 2);
    assert_int_equal(n, 6);
    int64_t want[][2] = {{0, 8 * H},       {8 * H, 16 * H},  {16 * H, 18 * H},
                         {18 * H, 20 * H}, {20 * H, 22 * H}, {22 * H, 24 * H}};
    for (size_t w = 0; w < 6; w++) {
        bool found = false;
        for (size_t i = 0; i < n; i++) found |= m[i].min_time == want[w][0] && m[i].max_time == want[w][1];
        assert_true(found);
    }
}

static void test_plan_split_edges(void **state) {
    (void)state;
    static const int64_t r60[] = {10, 60};
    static const int64_t r5[] = {5, 60};
    static const plan_case_t cases[] = {
        /* TestSplitByRange {-60,-50},{-10,-5},{0,15} -> [-60 -10] [0]:
         * the first part ends before the newest remaining block starts. */
        {"negative part before zero", {B(1, -60, -50), B(2, -10, -5), B(3, 0, 15), B(4, 100, 105)}, {1, 2}},
        /* Floor, not truncation: -30 is in [-60,0), so [10,20) is a part
         * of its own; truncating to [0,60) would join all three (span
         * 50, past the newest start) and plan nothing. */
        {"negative min aligns down", {B(1, -30, -20), B(2, -20, -10), B(3, 10, 20), B(4, 20, 30)}, {1, 2}},
        /* TestSplitByRange {50,70},{70,80} -> [70,80]: a block crossing
         * a range boundary belongs to no part of that range. */
        {"straddling block left out",
         {B(1, 50, 70), B(2, 70, 80), B(3, 80, 90), B(4, 120, 130), B(5, 200, 210)},
         {2, 3}},
        {"block across zero left out",
         {B(1, -10, 10), B(2, 10, 20), B(3, 20, 30), B(4, 70, 80), B(5, 200, 210)},
         {2, 3}},
        /* A negative range that is complete. */
        {"complete negative range",
         {B(1, -60, -50), B(2, -50, -40), B(3, -40, -10), B(4, -10, 0), B(5, 0, 10)},
         {1, 2, 3, 4}},
    };
    check_plan(&cases[0], r5, 2);
    for (size_t i = 1; i < sizeof(cases) / sizeof(cases[0]); i++) check_plan(&cases[i], r60, 2);

    /* TestSplitByRange {0,144},{144,216},{216,288} at 72: the 144-long
     * block fits no 72 range; the others are parts of one block each. */
    static const int64_t r72[] = {36, 72};
    static const plan_case_t big = {
        "too long block", {B(1, 0, 144), B(2, 144, 216), B(3, 216, 288), B(4, 400, 436)}, {0}};
    check_plan(&big, r72, 2);

    /* Thanos's tombstone rule has no "entirely deleted small block"
     * branch (Prometheus's tsdb/compact.go has). */
    static const plan_case_t deleted = {"small, fully deleted", {BT(1, 0, 60, 10, 10), B(2, 60, 80)}, {0}};
    check_plan(&deleted, ranges20, 5);

    /* Extreme times: no overflow (UBSan would say); the range below
     * INT64_MIN + 60 is clamped to start at INT64_MIN. */
    static const plan_case_t extreme = {"extreme",
                                        {B(1, INT64_MIN, INT64_MIN + 5), B(2, INT64_MIN + 5, INT64_MIN + 10),
                                         B(3, INT64_MAX - 10, INT64_MAX - 5), B(4, INT64_MAX - 5, INT64_MAX)},
                                        {1, 2}};
    check_plan(&extreme, ranges20, 5);
    static const plan_case_t huge = {
        "huge", {BT(1, INT64_MIN, INT64_MAX, 10, 9), B(2, INT64_MAX - 1, INT64_MAX)}, {1, 2}};
    check_plan(&huge, ranges20, 5);
    static const plan_case_t long_tomb = {"long tombstoned", {BT(1, INT64_MIN, 0, 10, 9), B(2, 0, 10)}, {1}};
    check_plan(&long_tomb, ranges20, 5);
}

static void test_plan_args(void **state) {
    (void)state;
    st_meta_t m = {0};
    size_t *out, nout;
    static const int64_t bad1[] = {20, 0};
    static const int64_t bad2[] = {60, 20};
    assert_int_equal(st_compact_plan(&m, 1, NULL, ranges20, 0, &out, &nout), ST_EINVAL);
    assert_int_equal(st_compact_plan(&m, 1, NULL, bad1, 2, &out, &nout), ST_EINVAL);
    assert_int_equal(st_compact_plan(&m, 1, NULL, bad2, 2, &out, &nout), ST_EINVAL);
    assert_int_equal(st_compact_plan(NULL, 0, NULL, ranges20, 5, &out, &nout), 0);
    assert_int_equal(nout, 0);
    assert_null(out);
}

/* ---- groups ---- */

static void group_key_of(const char *const *kv, size_t nkv, int64_t res, char *buf) {
    st_label_t pairs[8] = {0};
    assert_true(nkv <= 8);
    for (size_t i = 0; i < nkv; i++) pairs[i] = st_label(kv[2 * i], kv[2 * i + 1]);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, pairs, nkv), 0);
    st_compact_group_key(&l, res, buf, 48);
    st_labels_free(&l);
}

static void test_group_key(void **state) {
    (void)state;
    char buf[48];
    group_key_of(NULL, 0, 0, buf);
    assert_string_equal(buf, "0@17241709254077376921");
    group_key_of(NULL, 0, 1000, buf);
    assert_string_equal(buf, "1000@17241709254077376921");
    group_key_of((const char *const[]){"foo", "bar", "foo1", "bar2"}, 2, 0, buf);
    assert_string_equal(buf, "0@2124638872457683483");
    group_key_of((const char *const[]){"foo1", "bar2", "foo", "bar"}, 2, 0, buf);
    assert_string_equal(buf, "0@2124638872457683483");
    group_key_of((const char *const[]){"foo/some..thing/some.thing/../", "a_b_c/bar-something-a\\metric/a\\x"}, 1, 0,
                 buf);
    assert_string_equal(buf, "0@16590761456214576373");
    group_key_of(NULL, 0, INT64_MIN, buf);
    assert_string_equal(buf, "-9223372036854775808@17241709254077376921");

    /* Prometheus's labels.Hash hashes label sets over 1 KiB
     * incrementally: the same xxhash64 as one pass over the bytes. */
    static char big[1500];
    memset(big, 'v', sizeof(big) - 1);
    const char *const kv[] = {"a", "x", "b", big};
    char flat[1600];
    size_t len = (size_t)snprintf(flat, sizeof(flat), "a\xffx\xff" "b\xff%s\xff", big);
    char want[48];
    snprintf(want, sizeof(want), "14400@%llu", (unsigned long long)XXH64(flat, len, 0));
    group_key_of(kv, 2, 14400, buf);
    assert_string_equal(buf, want);
}

static void check_group_labels(const char *const *kv, size_t nkv, const char *const *rep, size_t nrep,
                               const char *const *wkv, size_t nw) {
    st_label_t pairs[8] = {0};
    assert_true(nkv <= 8);
    for (size_t i = 0; i < nkv; i++) pairs[i] = st_label(kv[2 * i], kv[2 * i + 1]);
    st_labels_t ext, got, want;
    assert_int_equal(st_labels_from_pairs(&ext, pairs, nkv), 0);
    for (size_t i = 0; i < nw; i++) pairs[i] = st_label(wkv[2 * i], wkv[2 * i + 1]);
    assert_int_equal(st_labels_from_pairs(&want, pairs, nw), 0);
    assert_int_equal(st_compact_group_labels(&ext, rep, nrep, &got), 0);
    assert_true(st_labels_equal(&got, &want));
    st_labels_free(&ext);
    st_labels_free(&got);
    st_labels_free(&want);
}

static void test_group_labels(void **state) {
    (void)state;
    const char *const rep[] = {"replica", "rule_replica"};
    /* TestReplicaLabelRemover_Modify "with replica labels" */
    check_group_labels((const char *const[]){"message", "something"}, 1, rep, 2,
                       (const char *const[]){"message", "something"}, 1);
    check_group_labels((const char *const[]){"replica", "cluster1", "message", "something"}, 2, rep, 2,
                       (const char *const[]){"message", "something"}, 1);
    check_group_labels((const char *const[]){"replica", "cluster1", "rule_replica", "rule1", "message", "something"},
                       3, rep, 2, (const char *const[]){"message", "something"}, 1);
    check_group_labels((const char *const[]){"replica", "cluster1", "rule_replica", "rule1"}, 2, rep, 2,
                       (const char *const[]){"replica", "deduped"}, 1);
    /* Nothing to strip. */
    check_group_labels((const char *const[]){"message", "something1"}, 1, NULL, 0,
                       (const char *const[]){"message", "something1"}, 1);
    check_group_labels(NULL, 0, NULL, 0, NULL, 0);
    /* A name that only starts like a replica label stays. */
    check_group_labels((const char *const[]){"replica_x", "1", "replic", "2"}, 2, rep, 2,
                       (const char *const[]){"replica_x", "1", "replic", "2"}, 2);

    /* Two HA replicas land in one group; another cluster does not. */
    char k1[48], k2[48], k3[48];
    st_label_t p1[] = {st_label("cluster", "eu"), st_label("replica", "a")};
    st_label_t p2[] = {st_label("replica", "b"), st_label("cluster", "eu")};
    st_label_t p3[] = {st_label("cluster", "us"), st_label("replica", "a")};
    st_label_t *ps[] = {p1, p2, p3};
    char *ks[] = {k1, k2, k3};
    for (int i = 0; i < 3; i++) {
        st_labels_t ext, g;
        assert_int_equal(st_labels_from_pairs(&ext, ps[i], 2), 0);
        assert_int_equal(st_compact_group_labels(&ext, rep, 2, &g), 0);
        st_compact_group_key(&g, 0, ks[i], 48);
        st_labels_free(&ext);
        st_labels_free(&g);
    }
    assert_string_equal(k1, k2);
    assert_string_not_equal(k1, k3);
    group_key_of((const char *const[]){"cluster", "eu"}, 1, 0, k3);
    assert_string_equal(k1, k3);
}

/* ---- redundant blocks ---- */

typedef struct {
    int id;
    const char *group;
    int src[10]; /* ends at 0 */
} rblk_t;

typedef struct {
    const char *name;
    rblk_t b[8];
    int keep[8]; /* ids not redundant, ascending, ends at 0 */
} red_case_t;

static void check_redundant(const red_case_t *c, bool use_keys) {
    st_meta_t metas[8];
    st_ulid_t srcs[8][10];
    const char *keys[8];
    bool red[8];
    size_t n = 0;
    memset(metas, 0, sizeof(metas));
    for (; c->b[n].id; n++) {
        metas[n].ulid = id_of(c->b[n].id);
        size_t ns = 0;
        for (; c->b[n].src[ns]; ns++) srcs[n][ns] = id_of(c->b[n].src[ns]);
        metas[n].sources = srcs[n];
        metas[n].nsources = ns;
        keys[n] = c->b[n].group ? c->b[n].group : "0@17241709254077376921";
    }
    assert_int_equal(st_compact_find_redundant(metas, use_keys ? keys : NULL, n, red), 0);
    char got[128] = "", want[128] = "";
    for (int id = 1; id < 256; id++)
        for (size_t i = 0; i < n; i++)
            if (c->b[i].id == id && !red[i]) snprintf(got + strlen(got), sizeof(got) - strlen(got), " %d", id);
    for (size_t i = 0; c->keep[i]; i++) snprintf(want + strlen(want), sizeof(want) - strlen(want), " %d", c->keep[i]);
    if (strcmp(got, want) != 0) fail_msg("%s: kept [%s ] want [%s ]", c->name, got, want);
}

static void test_redundant(void **state) {
    (void)state;
    /* TestDeduplicateFilter_Filter; the group is the resolution there. */
    static const red_case_t cases[] = {
        {"3 non compacted blocks", {{1, 0, {1}}, {2, 0, {2}}, {3, 0, {3}}}, {1, 2, 3}},
        {"compacted block with sources", {{6, 0, {6}}, {4, 0, {1, 3, 2}}, {5, 0, {5}}}, {4, 5, 6}},
        {"two compacted blocks with same sources",
         {{5, 0, {5}}, {6, 0, {6}}, {3, 0, {1, 2}}, {4, 0, {1, 2}}},
         {3, 5, 6}},
        {"two compacted blocks with overlapping sources", {{4, 0, {1, 2}}, {6, 0, {6}}, {5, 0, {1, 3, 2}}}, {5, 6}},
        {"3 non compacted and a level 2 block",
         {{6, 0, {6}}, {1, 0, {1}}, {2, 0, {2}}, {3, 0, {3}}, {4, 0, {2, 1, 3}}},
         {4, 6}},
        {"3 level 2 blocks and a level 3 block",
         {{10, 0, {1, 2, 3}},
          {11, 0, {6, 4, 5}},
          {14, 0, {14}},
          {1, 0, {1}},
          {13, 0, {1, 6, 2, 3, 5, 7, 4, 8, 9}},
          {12, 0, {7, 9, 8}}},
         {13, 14}},
        {"compacted blocks with overlapping sources",
         {{8, 0, {1, 3, 2, 4}}, {1, 0, {1}}, {5, 0, {1, 2}}, {6, 0, {1, 3, 2, 4}}, {7, 0, {3, 1, 2}}},
         {6}},
        {"level 3 with overlapping sources of equal length",
         {{10, 0, {1, 2, 6, 7}}, {1, 0, {1}}, {11, 0, {6, 8, 1, 2}}},
         {10, 11}},
        {"level 3 with overlapping sources of different length",
         {{10, 0, {6, 7, 1, 2}}, {1, 0, {1}}, {5, 0, {1, 2}}, {11, 0, {2, 3, 1}}},
         {10, 11}},
        {"same sources, different resolutions", {{1, "0", {1}}, {2, "1000", {1}}, {3, "10000", {1}}}, {1, 2, 3}},
        {"overlapping sources, different resolutions",
         {{1, "0", {1}}, {6, "10000", {6}}, {4, "0", {1, 3, 2}}, {5, "1000", {2, 3, 1}}},
         {4, 5, 6}},
        {"level 3, different lengths and resolutions",
         {{10, "0", {7, 5, 1, 2}},
          {12, "10000", {6, 7, 1}},
          {1, "0", {1}},
          {13, "10000", {1}},
          {5, "0", {1, 2}},
          {11, "0", {2, 3, 1}}},
         {10, 11, 12}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_redundant(&cases[i], true);
        bool one_group = true;
        for (size_t j = 0; cases[i].b[j].id; j++) one_group &= cases[i].b[j].group == NULL;
        if (one_group) check_redundant(&cases[i], false);
    }

    /* Same resolution, other external labels: another group, kept. */
    static const red_case_t labels = {"other labels", {{1, "0@1", {1}}, {2, "0@2", {1, 2}}}, {1, 2}};
    check_redundant(&labels, true);
    /* Repeated source entries count for the order, as in Thanos: 2 lists
     * 3 entries, so it comes first and covers 3 ({1,2}). */
    static const red_case_t repeats = {"repeats", {{2, 0, {1, 1, 2}}, {3, 0, {1, 2}}}, {2}};
    check_redundant(&repeats, true);
    assert_int_equal(st_compact_find_redundant(NULL, NULL, 0, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_compat),       cmocka_unit_test(test_plan_failed),
        cmocka_unit_test(test_plan_no_compact),   cmocka_unit_test(test_plan_default_ranges),
        cmocka_unit_test(test_plan_split_edges),  cmocka_unit_test(test_plan_args),
        cmocka_unit_test(test_group_key),         cmocka_unit_test(test_group_labels),
        cmocka_unit_test(test_redundant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
