/* Block builder -> writer -> reader round trips, matcher semantics,
 * Prometheus's chunk cutting, tombstones, time ranges and merging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/block.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "st_test.h"

#define BMAX 65536
#define NWB(a) (sizeof(a) / sizeof((a)[0]))

static char tmproot[4096];

static int setup(void **state) {
    (void)state;
    return st_test_mkdtemp(tmproot, sizeof tmproot, "block");
}

static int teardown(void **state) {
    (void)state;
    return st_rm_rf(tmproot);
}

static st_labels_t mk(const char *name, const char *k1, const char *v1) {
    st_label_t pairs[2] = {st_label("__name__", name)};
    if (k1) pairs[1] = st_label(k1, v1);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, pairs, k1 ? 2 : 1), 0);
    return l;
}

/* Builds a block in a fresh dir: series a{job=x}, a{job=y}, b{job=x},
 * c (no job) with `n` samples each at 15 s, values t/1000 + series index. */
static char *build_block(const char *sub, int64_t start, int n, st_block_builder_t **keep) {
    char *parent = st_path_join(tmproot, sub);
    st_labels_t series[4] = {mk("a", "job", "x"), mk("a", "job", "y"), mk("b", "job", "x"), mk("c", NULL, NULL)};
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, ST_DEFAULT_BLOCK_DURATION_MS), 0);
    for (int i = 0; i < n; i++)
        for (int s = 0; s < 4; s++) {
            int64_t t = start + (int64_t)i * 15000;
            assert_int_equal(st_block_builder_append(b, &series[s], t, (double)t / 1000 + s), 0);
        }
    for (int s = 0; s < 4; s++) st_labels_free(&series[s]);
    char *dir = NULL;
    assert_int_equal(st_block_builder_write(b, parent, &dir), 0);
    assert_non_null(dir);
    if (keep) *keep = b;
    else st_block_builder_free(b);
    free(dir);
    return parent;
}

static size_t count_series(st_block_t *blk, const char *selector, size_t *samples) {
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, selector), 0);
    st_series_set_t *set;
    assert_int_equal(st_block_select(&set, blk, &ms, INT64_MIN, INT64_MAX), 0);
    size_t n = 0, ns = 0;
    int rc;
    while ((rc = st_series_set_next(set)) == 1) {
        int64_t t;
        double v;
        n++;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1) ns++;
        assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, 0);
    st_series_set_free(set);
    st_matchers_free(&ms);
    if (samples) *samples = ns;
    return n;
}

static st_block_t *open_only(const char *parent) {
    st_block_t **blocks;
    size_t n;
    assert_int_equal(st_blocks_open_dir(parent, &blocks, &n), 0);
    assert_int_equal(n, 1);
    st_block_t *b = blocks[0];
    free(blocks);
    return b;
}

static void test_round_trip_and_meta(void **state) {
    (void)state;
    const int64_t start = 1700000000000 - 1700000000000 % ST_DEFAULT_BLOCK_DURATION_MS;
    char *parent = build_block("rt", start, 480, NULL);
    st_block_t *blk = open_only(parent);
    const st_meta_t *m = st_block_meta(blk);
    assert_int_equal(m->min_time, start);
    assert_int_equal(m->max_time, start + 479 * 15000 + 1);
    assert_int_equal(m->num_series, 4);
    assert_int_equal(m->num_samples, 4 * 480);
    assert_int_equal(m->level, 1);
    assert_int_equal(m->nsources, 1);
    assert_int_equal(st_ulid_cmp(&m->sources[0], &m->ulid), 0);
    /* Prometheus's head rule on an aligned 2h window at 15 s: 4 chunks of 120 */
    assert_int_equal(m->num_chunks, 4 * 4);

    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, "{__name__=\"a\", job=\"y\"}"), 0);
    st_series_set_t *set;
    assert_int_equal(st_block_select(&set, blk, &ms, INT64_MIN, INT64_MAX), 0);
    assert_int_equal(st_series_set_next(set), 1);
    const st_labels_t *l = st_series_set_labels(set);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->v[1].value, "y");
    int64_t t;
    double v;
    for (int i = 0; i < 480; i++) {
        assert_int_equal(st_series_set_sample(set, &t, &v), 1);
        assert_int_equal(t, start + (int64_t)i * 15000);
        assert_true(v == (double)t / 1000 + 1);
    }
    assert_int_equal(st_series_set_sample(set, &t, &v), 0);
    assert_int_equal(st_series_set_next(set), 0);
    st_series_set_free(set);
    st_matchers_free(&ms);
    st_block_close(blk);
    free(parent);
}

static void test_matchers(void **state) {
    (void)state;
    char *parent = build_block("match", 0, 10, NULL);
    st_block_t *blk = open_only(parent);
    size_t samples;
    assert_int_equal(count_series(blk, "{__name__=~\".+\"}", &samples), 4);
    assert_int_equal(samples, 40);
    assert_int_equal(count_series(blk, "a", NULL), 2);
    assert_int_equal(count_series(blk, "{job=\"x\"}", NULL), 2);
    assert_int_equal(count_series(blk, "{__name__=~\"a|b\", job!=\"y\"}", NULL), 2);
    assert_int_equal(count_series(blk, "{__name__=~\"a|c\", job=\"\"}", NULL), 1);   /* c lacks job */
    assert_int_equal(count_series(blk, "{__name__=~\".+\", job!~\"x|y\"}", NULL), 1); /* only c */
    assert_int_equal(count_series(blk, "{__name__=~\".+\", job=~\"x|\"}", NULL), 3);  /* x or absent */
    assert_int_equal(count_series(blk, "{__name__=\"nope\"}", NULL), 0);
    assert_int_equal(count_series(blk, "{__name__=~\"a\", missing=\"\"}", NULL), 2);
    assert_int_equal(count_series(blk, "{__name__=~\"A\"}", NULL), 0); /* regex is case sensitive and anchored */
    st_block_close(blk);
    free(parent);
}

static void test_time_range_and_tombstones(void **state) {
    (void)state;
    char *parent = build_block("tomb", 0, 100, NULL);
    st_block_t *blk = open_only(parent);
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, "c"), 0);
    st_series_set_t *set;
    assert_int_equal(st_block_select(&set, blk, &ms, 15000 * 10, 15000 * 19), 0);
    assert_int_equal(st_series_set_next(set), 1);
    int64_t t;
    double v;
    size_t n = 0;
    while (st_series_set_sample(set, &t, &v) == 1) {
        assert_true(t >= 150000 && t <= 285000);
        n++;
    }
    assert_int_equal(n, 10);
    st_series_set_free(set);

    /* delete [30 s, 60 s] (closed) of series c via a tombstones file */
    st_postings_t ids;
    assert_int_equal(st_block_postings(blk, &ms, &ids), 0);
    assert_int_equal(ids.n, 1);
    st_tombstone_t stone = {ids.ids[0], 30000, 60000};
    st_tombstones_t ts = {&stone, 1};
    char *dir = strdup(st_block_dir(blk));
    st_postings_free(&ids);
    st_block_close(blk);
    assert_int_equal(st_tombstones_write(&ts, dir), 0);
    assert_int_equal(st_block_open(&blk, dir), 0);
    assert_int_equal(st_block_select(&set, blk, &ms, INT64_MIN, INT64_MAX), 0);
    assert_int_equal(st_series_set_next(set), 1);
    n = 0;
    while (st_series_set_sample(set, &t, &v) == 1) {
        assert_true(t < 30000 || t > 60000);
        n++;
    }
    assert_int_equal(n, 100 - 3);
    st_series_set_free(set);
    st_matchers_free(&ms);
    st_block_close(blk);
    free(dir);
    free(parent);
}

static void test_merge_dedups_overlap(void **state) {
    (void)state;
    /* two blocks of the same series overlapping by half: the merge yields
     * each timestamp once, in order */
    char *p1 = build_block("m1", 0, 100, NULL);
    char *p2 = build_block("m2", 50 * 15000, 100, NULL);
    st_block_t *b1 = open_only(p1), *b2 = open_only(p2);
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, "{__name__=~\"a|c\"}"), 0);
    st_series_set_t *sets[2], *m;
    assert_int_equal(st_block_select(&sets[0], b1, &ms, INT64_MIN, INT64_MAX), 0);
    assert_int_equal(st_block_select(&sets[1], b2, &ms, INT64_MIN, INT64_MAX), 0);
    assert_int_equal(st_series_set_merge(&m, sets, 2), 0);
    size_t nseries = 0;
    while (st_series_set_next(m) == 1) {
        int64_t t, last = -1;
        double v;
        size_t n = 0;
        while (st_series_set_sample(m, &t, &v) == 1) {
            assert_true(t > last);
            last = t;
            n++;
        }
        assert_int_equal(n, 150);
        nseries++;
    }
    assert_int_equal(nseries, 3);
    st_series_set_free(m);
    st_matchers_free(&ms);
    st_block_close(b1);
    st_block_close(b2);
    free(p1);
    free(p2);
}

/* ---- merge against an oracle: sets of one series each, from arrays ---- */

static size_t read_out(st_series_set_t *set, size_t mode, size_t per, unsigned *seed, int64_t *t, double *v,
                       int *end);
static void expect_same(const char *what, int round, size_t mode, const int64_t *wt, const double *wv, size_t wn,
                        int wend, const int64_t *gt, const double *gv, size_t gn, int gend);

typedef struct {
    st_labels_t l;
    const int64_t *t;
    const double *v;
    size_t n, i;
    bool started;
} arr_set_t;

static int arr_next(void *ctx) {
    arr_set_t *a = ctx;
    if (a->started) return 0;
    a->started = true;
    return 1;
}
static const st_labels_t *arr_labels(void *ctx) { return &((arr_set_t *)ctx)->l; }
static int arr_sample(void *ctx, int64_t *t, double *v) {
    arr_set_t *a = ctx;
    if (a->i == a->n) return 0;
    *t = a->t[a->i];
    *v = a->v[a->i++];
    return 1;
}
static int arr_samples(void *ctx, int64_t *t, double *v, size_t cap) {
    arr_set_t *a = ctx;
    size_t n = 0;
    while (n < cap && a->i < a->n) {
        t[n] = a->t[a->i];
        v[n++] = a->v[a->i++];
    }
    return (int)n;
}
static void arr_free(void *ctx) {
    arr_set_t *a = ctx;
    st_labels_free(&a->l);
    free(a);
}

static st_series_set_t *arr_set(const int64_t *t, const double *v, size_t n, bool batch) {
    arr_set_t *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->l = mk("x", NULL, NULL);
    a->t = t;
    a->v = v;
    a->n = n;
    st_series_set_ops_t ops = {.next = arr_next, .labels = arr_labels, .sample = arr_sample, .free = arr_free};
    if (batch) ops.samples = arr_samples;
    st_series_set_t *set;
    assert_int_equal(st_series_set_new(&set, &ops, a), 0);
    return set;
}

/* Random sets mostly in time order (as blocks are), sometimes overlapping
 * or repeating timestamps: the merge yields every timestamp once, in
 * order, with the value of the lowest-numbered set that has it; read in
 * batches (of sets with and without a samples callback), the same. */
static void test_merge_matches_oracle(void **state) {
    (void)state;
    enum { MAXSETS = 6, MAXN = 64, SPAN = 400 };
    static int64_t ts[MAXSETS][MAXN], wt[MAXSETS * MAXN + 2048], gt[MAXSETS * MAXN + 2048];
    static double vs[MAXSETS][MAXN], wv[MAXSETS * MAXN + 2048], gv[MAXSETS * MAXN + 2048];
    static const size_t modes[] = {1, 2, 7, 1024, 0, 0};
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t nsets = 1 + (size_t)(rand_r(&seed) % MAXSETS), lens[MAXSETS];
        st_series_set_t *sets[MAXSETS];
        int64_t base = 0;
        for (size_t k = 0; k < nsets; k++) {
            /* each set starts near where the previous ended, maybe before it */
            int64_t t = base - (rand_r(&seed) % 3 == 0 ? rand_r(&seed) % 40 : 0);
            size_t n = (size_t)(rand_r(&seed) % MAXN);
            for (size_t j = 0; j < n; j++) {
                t += 1 + rand_r(&seed) % 4;
                ts[k][j] = t;
                vs[k][j] = (double)(k * 1000 + j);
            }
            lens[k] = n;
            if (n) base = t;
            sets[k] = arr_set(ts[k], vs[k], n, false);
        }
        st_series_set_t *m;
        assert_int_equal(st_series_set_merge(&m, sets, nsets), 0);
        assert_int_equal(st_series_set_next(m), 1);
        int64_t t, want_t = INT64_MIN;
        double v;
        while (st_series_set_sample(m, &t, &v) == 1) {
            /* oracle: the smallest timestamp above the last one, first set wins */
            int64_t best = INT64_MAX;
            double bv = 0;
            for (size_t k = 0; k < nsets; k++)
                for (size_t j = 0; j < lens[k]; j++)
                    if (ts[k][j] > want_t && ts[k][j] < best) {
                        best = ts[k][j];
                        bv = vs[k][j];
                    }
            assert_int_equal(t, best);
            assert_true(v == bv);
            want_t = t;
        }
        for (size_t k = 0; k < nsets; k++)
            for (size_t j = 0; j < lens[k]; j++) assert_true(ts[k][j] <= want_t);
        assert_int_equal(st_series_set_next(m), 0);
        st_series_set_free(m);

        size_t wn = 0;
        int wend = 0;
        for (size_t md = 0; md <= NWB(modes); md++) {
            for (size_t k = 0; k < nsets; k++) sets[k] = arr_set(ts[k], vs[k], lens[k], rand_r(&seed) % 2);
            assert_int_equal(st_series_set_merge(&m, sets, nsets), 0);
            if (md == 0) {
                wn = read_out(m, SIZE_MAX, SIZE_MAX, &seed, wt, wv, &wend);
            } else {
                int gend;
                size_t gn = read_out(m, modes[md - 1], SIZE_MAX, &seed, gt, gv, &gend);
                expect_same("arrays", round, modes[md - 1], wt, wv, wn, wend, gt, gv, gn, gend);
            }
            st_series_set_free(m);
        }
    }
}

/* ---- batches: st_series_set_samples == repeated st_series_set_sample ---- */

#define SEP INT64_MIN /* marks the start of a series in a read-out */

/* Reads a whole set: a SEP entry per series, then its samples, at most
 * `per` of them (the rest of the series left unread). mode: the cap of
 * every batch; 0: single calls and batches of random caps mixed;
 * SIZE_MAX: single calls only. *end: the last return code. */
static size_t read_out(st_series_set_t *set, size_t mode, size_t per, unsigned *seed, int64_t *t, double *v,
                       int *end) {
    size_t n = 0;
    int rc;
    while ((rc = st_series_set_next(set)) == 1) {
        t[n] = SEP;
        v[n++] = (double)st_series_set_labels(set)->n;
        for (size_t got = 0; got < per; got += (size_t)rc) {
            assert_true(n + 1024 < BMAX);
            if (mode == SIZE_MAX || (mode == 0 && rand_r(seed) % 2)) {
                rc = st_series_set_sample(set, &t[n], &v[n]);
            } else {
                size_t cap = mode ? mode : 1 + (size_t)rand_r(seed) % 300;
                if (cap > per - got) cap = per - got;
                rc = st_series_set_samples(set, &t[n], &v[n], cap);
                assert_true(rc <= (int)cap);
            }
            if (rc <= 0) break;
            n += (size_t)rc;
        }
        if (rc < 0) break;
    }
    *end = rc;
    return n;
}

static void expect_same(const char *what, int round, size_t mode, const int64_t *wt, const double *wv, size_t wn,
                        int wend, const int64_t *gt, const double *gv, size_t gn, int gend) {
    if (wn != gn || wend != gend)
        fail_msg("%s round %d mode %zu: %zu entries ending %d, want %zu ending %d", what, round, mode, gn, gend, wn,
                 wend);
    for (size_t i = 0; i < wn; i++)
        if (gt[i] != wt[i] || memcmp(&gv[i], &wv[i], sizeof gv[i]) != 0)
            fail_msg("%s round %d mode %zu: entry %zu: got %lld=%g, want %lld=%g", what, round, mode, i,
                     (long long)gt[i], gv[i], (long long)wt[i], wv[i]);
}

/* Three blocks of the same five series: A [0, 2h), B [1h, 3h) with other
 * values (the merge must keep A's on shared timestamps), C [4h, 5h); a
 * series of A partly deleted by a tombstone. Samples at 15 s with random
 * gaps, stale NaNs and -0 among the values. Random time ranges and caps
 * 1, 2, 7, 1024 and mixed: batches from one block's set and from merges
 * of several give what single calls give, bit for bit. */
static void test_samples_batch_matches_single(void **state) {
    (void)state;
    static int64_t wt[BMAX], gt[BMAX];
    static double wv[BMAX], gv[BMAX];
    const int64_t H = 3600 * 1000;
    const int64_t ranges[3][2] = {{0, 2 * H}, {H, 3 * H}, {4 * H, 5 * H}};
    uint64_t stale_bits = 0x7ff0000000000002ull;
    double stale;
    memcpy(&stale, &stale_bits, sizeof stale);
    unsigned seed = 777;
    st_block_t *blk[3];
    for (int b = 0; b < 3; b++) {
        char sub[16];
        snprintf(sub, sizeof sub, "batch%d", b);
        char *parent = st_path_join(tmproot, sub);
        st_block_builder_t *bb;
        assert_int_equal(st_block_builder_new(&bb, ST_DEFAULT_BLOCK_DURATION_MS), 0);
        for (int sr = 0; sr < 5; sr++) {
            char job[8];
            snprintf(job, sizeof job, "j%d", sr);
            st_labels_t l = mk("x", "job", job);
            for (int64_t t = ranges[b][0]; t < ranges[b][1]; t += 15000) {
                if (rand_r(&seed) % 10 == 0) continue;
                int r = rand_r(&seed) % 20;
                double v = r == 0 ? stale : r == 1 ? -0.0 : (double)t / 1000 + sr + 1000 * b;
                assert_int_equal(st_block_builder_append(bb, &l, t, v), 0);
            }
            st_labels_free(&l);
        }
        char *dir = NULL;
        assert_int_equal(st_block_builder_write(bb, parent, &dir), 0);
        st_block_builder_free(bb);
        assert_int_equal(st_block_open(&blk[b], dir), 0);
        if (b == 0) {
            st_matchers_t j1;
            st_postings_t ids;
            assert_int_equal(st_selector_parse(&j1, "x{job=\"j1\"}"), 0);
            assert_int_equal(st_block_postings(blk[b], &j1, &ids), 0);
            assert_int_equal(ids.n, 1);
            st_tombstone_t stones[2] = {{ids.ids[0], 600000, 1200000}, {ids.ids[0], 3000000, 3000000}};
            st_tombstones_t ts = {stones, 2};
            st_postings_free(&ids);
            st_matchers_free(&j1);
            st_block_close(blk[b]);
            assert_int_equal(st_tombstones_write(&ts, dir), 0);
            assert_int_equal(st_block_open(&blk[b], dir), 0);
        }
        free(dir);
        free(parent);
    }
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, "x"), 0);
    static const size_t modes[] = {1, 2, 7, 1024, 0, 0};
    for (int round = 0; round < 150; round++) {
        int64_t mint = INT64_MIN, maxt = INT64_MAX;
        if (rand_r(&seed) % 3) mint = (int64_t)(rand_r(&seed) % 300) * 60000 - 7000 * (rand_r(&seed) % 2);
        if (rand_r(&seed) % 3) maxt = mint == INT64_MIN ? 5 * H / 2 : mint + (int64_t)(rand_r(&seed) % 300) * 60000;
        unsigned pick = 1 + rand_r(&seed) % 7; /* which blocks: a bit each */
        size_t per = rand_r(&seed) % 3 ? SIZE_MAX : 1 + (size_t)rand_r(&seed) % 500;
        for (int merged = 0; merged < 2; merged++) {
            size_t wn = 0;
            int wend = 0;
            for (size_t m = 0; m <= NWB(modes); m++) {
                st_series_set_t *set, *sets[3];
                size_t nsets = 0;
                for (int b = 0; b < 3; b++)
                    if (merged ? (pick >> b) & 1 : b == round % 3)
                        assert_int_equal(st_block_select(&sets[nsets++], blk[b], &ms, mint, maxt), 0);
                if (merged) assert_int_equal(st_series_set_merge(&set, sets, nsets), 0);
                else set = sets[0];
                if (m == 0) {
                    wn = read_out(set, SIZE_MAX, per, &seed, wt, wv, &wend);
                } else {
                    int gend;
                    size_t gn = read_out(set, modes[m - 1], per, &seed, gt, gv, &gend);
                    expect_same(merged ? "merge" : "block", round, modes[m - 1], wt, wv, wn, wend, gt, gv, gn, gend);
                }
                st_series_set_free(set);
            }
            if (round == 0) assert_true(wn > 1000 && per == SIZE_MAX);
        }
    }
    st_matchers_free(&ms);
    for (int b = 0; b < 3; b++) st_block_close(blk[b]);
}

static void test_out_of_order_and_missing(void **state) {
    (void)state;
    st_labels_t l = mk("x", NULL, NULL);
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, ST_DEFAULT_BLOCK_DURATION_MS), 0);
    assert_int_equal(st_block_builder_append(b, &l, 1000, 1), 0);
    assert_int_equal(st_block_builder_append(b, &l, 1000, 2), ST_EINVAL);
    assert_int_equal(st_block_builder_append(b, &l, 999, 2), ST_EINVAL);
    st_block_builder_free(b);
    st_labels_free(&l);
    st_block_t *blk;
    char *missing = st_path_join(tmproot, "does-not-exist");
    int rc = st_block_open(&blk, missing);
    assert_true(rc < 0);
    assert_non_null(strstr(st_errdetail(rc), "meta.json"));
    free(missing);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_meta), cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_time_range_and_tombstones), cmocka_unit_test(test_merge_dedups_overlap),
        cmocka_unit_test(test_merge_matches_oracle), cmocka_unit_test(test_out_of_order_and_missing),
        cmocka_unit_test(test_samples_batch_matches_single),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
