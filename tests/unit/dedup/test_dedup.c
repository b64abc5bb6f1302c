/* The querier's sample iterators over real XOR chunk bytes (chunkenc),
 * against expectations worked out by hand step by step from Thanos's
 * penalty algorithm (pkg/dedup/iter.go): seek each replica to
 * lastT + 1 + its penalty, take the earlier sample (A on a tie), give the
 * other replica a penalty of 2 x (t - lastT) (5000 ms before the first
 * sample). Also: the time-ordered merge of one replica's overlapping
 * chunks, [mint, maxt] bounds, Thanos's overlap split and chunk order, the
 * counter adjustment, empty replicas, three replicas and corrupt chunks.
 * Downsampled replicas (st_dedup_samples_new_aggr): aggregate sub-chunks
 * holding the same grids as the raw tests must give the same answers
 * (max = the raw value, min = value - 100, count 2, sum 2 x value), raw
 * and aggregate chunks mixed in one replica, the counter read with its
 * resets applied before the dedup's adjustment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "strata/dedup.h"
#include "strata/downsample.h"
#include "strata/chunkenc.h"
#include "strata/err.h"

/* ---- building chunks ---- */

#define MAXCH 64

typedef struct {
    st_xor_appender_t app[MAXCH];
    st_store_chunk_t c[MAXCH];
    size_t n;
} chunks_t;

/* One chunk of samples (t in ms, v); returns its index. */
static size_t add_chunk(chunks_t *cs, const int64_t *t, const double *v, size_t n) {
    assert_true(cs->n < MAXCH);
    st_xor_appender_t *a = &cs->app[cs->n];
    assert_int_equal(st_xor_appender_init(a), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(st_xor_append(a, t[i], v[i]), 0);
    st_store_chunk_t *c = &cs->c[cs->n];
    memset(c, 0, sizeof *c);
    c->mint = n ? t[0] : 0;
    c->maxt = n ? t[n - 1] : 0;
    c->data[ST_AGGR_RAW] = st_xor_bytes(a, &c->len[ST_AGGR_RAW]);
    return cs->n++;
}

/* Samples every step ms in [from, to] except those in [gap_from, gap_to],
 * value = t / 1000 + off, cut into runs of at most per samples handed to
 * add(ctx, ...). Returns the number of runs. */
typedef size_t (*add_run_fn)(void *ctx, const int64_t *t, const double *v, size_t n);

static size_t grid(add_run_fn add, void *ctx, int64_t from, int64_t to, int64_t step, int64_t gap_from,
                   int64_t gap_to, double off, size_t per) {
    int64_t t[512];
    double v[512];
    size_t n = 0, added = 0;
    for (int64_t x = from; x <= to; x += step) {
        if (x >= gap_from && x <= gap_to) continue;
        t[n] = x;
        v[n] = (double)x / 1000 + off;
        if (++n == per) {
            add(ctx, t, v, n);
            added++;
            n = 0;
        }
    }
    if (n) {
        add(ctx, t, v, n);
        added++;
    }
    return added;
}

static size_t add_run(void *ctx, const int64_t *t, const double *v, size_t n) { return add_chunk(ctx, t, v, n); }

/* The grid's runs as XOR chunks. */
static size_t add_grid(chunks_t *cs, int64_t from, int64_t to, int64_t step, int64_t gap_from, int64_t gap_to,
                       double off, size_t per) {
    return grid(add_run, cs, from, to, step, gap_from, gap_to, off, per);
}

static void chunks_free(chunks_t *cs) {
    for (size_t i = 0; i < cs->n; i++) st_xor_appender_free(&cs->app[i]);
}

typedef struct {
    int64_t t;
    double v;
} smp_t;

/* Run the iterator over replicas (what < 0: raw, else read through
 * st_aggr_iter); compare with want[0..nwant). */
static void expect_read(const st_dedup_replica_t *r, size_t n, int64_t mint, int64_t maxt, bool counter, int what,
                        const smp_t *want, size_t nwant) {
    st_dedup_samples_t *s;
    if (what < 0) assert_int_equal(st_dedup_samples_new(&s, r, n, mint, maxt, counter), 0);
    else assert_int_equal(st_dedup_samples_new_aggr(&s, r, n, mint, maxt, counter, (st_aggr_read_t)what), 0);
    size_t k = 0;
    int64_t t;
    double v;
    int rc;
    while ((rc = st_dedup_samples_next(s, &t, &v)) == 1) {
        if (k >= nwant) fail_msg("extra sample %lld=%g after %zu expected ones", (long long)t, v, nwant);
        if (t != want[k].t || v != want[k].v)
            fail_msg("sample %zu: got %lld=%g, want %lld=%g", k, (long long)t, v, (long long)want[k].t, want[k].v);
        k++;
    }
    assert_int_equal(rc, 0);
    if (k != nwant) fail_msg("got %zu samples, want %zu", k, nwant);
    /* an ended iterator stays ended */
    assert_int_equal(st_dedup_samples_next(s, &t, &v), 0);
    st_dedup_samples_free(s);
}

static void expect(const st_dedup_replica_t *r, size_t n, int64_t mint, int64_t maxt, bool counter, const smp_t *want,
                   size_t nwant) {
    expect_read(r, n, mint, maxt, counter, -1, want, nwant);
}

#define NW(a) (sizeof(a) / sizeof((a)[0]))

/* ---- downsampled chunks ---- */

/* Aggregate chunks whose windows sit at given timestamps: count 2, sum
 * 2v, min v - 100, max v, counter v; no raw data. */
typedef struct {
    st_xor_appender_t app[MAXCH][ST_AGGR_N];
    st_store_chunk_t c[MAXCH];
    size_t n;
} aggr_chunks_t;

static size_t add_aggr_chunk(aggr_chunks_t *as, const int64_t *t, const double *v, size_t n) {
    assert_true(as->n < MAXCH);
    st_store_chunk_t *c = &as->c[as->n];
    memset(c, 0, sizeof *c);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        st_xor_appender_t *x = &as->app[as->n][a];
        assert_int_equal(st_xor_appender_init(x), 0);
        for (size_t i = 0; i < n; i++) {
            double val = a == ST_AGGR_COUNT ? 2 : a == ST_AGGR_SUM ? 2 * v[i] : a == ST_AGGR_MIN ? v[i] - 100 : v[i];
            assert_int_equal(st_xor_append(x, t[i], val), 0);
        }
        c->data[a] = st_xor_bytes(x, &c->len[a]);
    }
    c->mint = n ? t[0] : 0;
    c->maxt = n ? t[n - 1] : 0;
    return as->n++;
}

static size_t add_aggr_run(void *ctx, const int64_t *t, const double *v, size_t n) {
    return add_aggr_chunk(ctx, t, v, n);
}

/* The grid's runs as aggregate chunks. */
static size_t add_aggr_grid(aggr_chunks_t *as, int64_t from, int64_t to, int64_t step, int64_t gap_from,
                            int64_t gap_to, double off, size_t per) {
    return grid(add_aggr_run, as, from, to, step, gap_from, gap_to, off, per);
}

static void aggr_chunks_free(aggr_chunks_t *as) {
    for (size_t i = 0; i < as->n; i++)
        for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) st_xor_appender_free(&as->app[i][a]);
}

/* want with each value mapped as aggregate `what` stores it */
static void expect_each_read(const st_dedup_replica_t *r, size_t n, bool counter, const smp_t *want, size_t nwant) {
    smp_t *w = malloc((nwant ? nwant : 1) * sizeof *w);
    static const st_aggr_read_t reads[] = {ST_AGGR_READ_COUNT, ST_AGGR_READ_SUM, ST_AGGR_READ_MIN, ST_AGGR_READ_MAX,
                                           ST_AGGR_READ_AVG};
    for (size_t k = 0; k < NW(reads); k++) {
        for (size_t i = 0; i < nwant; i++) {
            double v = want[i].v;
            w[i] = (smp_t){want[i].t, reads[k] == ST_AGGR_READ_COUNT ? 2
                                      : reads[k] == ST_AGGR_READ_SUM ? 2 * v
                                      : reads[k] == ST_AGGR_READ_MIN ? v - 100
                                                                     : v};
        }
        expect_read(r, n, INT64_MIN, INT64_MAX, counter, (int)reads[k], w, nwant);
    }
    free(w);
}

/* test_gaps_in_each_replica over 5m-like windows held as aggregates: the
 * penalty dedup picks the same samples of whichever aggregate is read. */
static void test_aggr_dedup_gaps(void **state) {
    (void)state;
    aggr_chunks_t *as = calloc(1, sizeof *as);
    size_t na = add_aggr_grid(as, 0, 600000, 15000, 120000, 240000, 0, 8);
    size_t nb = add_aggr_grid(as, 0, 600000, 15000, 390000, 480000, 0.5, 8);
    st_dedup_replica_t r[2] = {{&as->c[0], na}, {&as->c[na], nb}};
    smp_t want[64];
    size_t n = 0;
    for (int64_t t = 0; t <= 600000; t += 15000) {
        if (t == 120000 || t == 135000 || t == 390000 || t == 405000) continue;
        bool from_b = t >= 150000 && t <= 375000;
        want[n++] = (smp_t){t, (double)t / 1000 + (from_b ? 0.5 : 0)};
    }
    expect_each_read(r, 2, false, want, n);
    /* one replica: its windows as they are, bounded */
    smp_t one[] = {{90000, 90}, {105000, 105}, {255000, 255}};
    expect_read(r, 1, 90000, 255000, false, ST_AGGR_READ_MAX, one, NW(one));
    /* the select path: all chunks sorted, split, then deduplicated */
    st_store_chunk_t all[MAXCH];
    memcpy(all, as->c, (na + nb) * sizeof *all);
    qsort(all, na + nb, sizeof *all, (int (*)(const void *, const void *))st_dedup_chunk_cmp);
    st_dedup_replica_t *sr;
    st_store_chunk_t *st;
    size_t nr;
    assert_int_equal(st_dedup_overlap_split(all, na + nb, &sr, &nr, &st), 0);
    assert_int_equal(nr, 2);
    st_dedup_samples_t *s;
    assert_int_equal(st_dedup_samples_new_aggr(&s, sr, nr, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_MAX), 0);
    int64_t t, last = -1;
    double v;
    size_t cnt = 0;
    while (st_dedup_samples_next(s, &t, &v) == 1) {
        assert_true(t > last && t % 15000 == 0);
        assert_true(v == (double)t / 1000 || v == (double)t / 1000 + 0.5);
        last = t;
        cnt++;
    }
    /* the split deals chunks of both replicas into the two it makes: at
     * most two switches, two samples lost at each (test_split_then_dedup) */
    assert_int_equal(last, 600000);
    assert_true(cnt >= 41 - 4 && cnt <= 41);
    st_dedup_samples_free(s);
    free(sr);
    free(st);
    aggr_chunks_free(as);
    free(as);
}

/* test_counter_reset_in_one_replica with counter aggregates: B's reset is
 * applied while it is read (10 20 30 31 32 33 34 ...), then the switch to
 * B at 60 s (34 < 40) adds 6: the same answer as over raw samples. */
static void test_aggr_counter(void **state) {
    (void)state;
    aggr_chunks_t *as = calloc(1, sizeof *as);
    int64_t ta[] = {0, 10000, 20000, 30000, 80000, 90000};
    double va[] = {10, 20, 30, 40, 80, 90};
    int64_t tb[] = {0, 10000, 20000, 30000, 40000, 50000, 60000, 70000, 80000, 90000};
    double vb[] = {10, 20, 30, 1, 2, 3, 4, 5, 6, 7};
    add_aggr_chunk(as, ta, va, 6);
    add_aggr_chunk(as, tb, vb, 10);
    st_dedup_replica_t r[2] = {{&as->c[0], 1}, {&as->c[1], 1}};
    smp_t counter[] = {{0, 10},     {10000, 20}, {20000, 30}, {30000, 40},
                       {60000, 40}, {70000, 41}, {80000, 42}, {90000, 43}};
    expect_read(r, 2, INT64_MIN, INT64_MAX, true, ST_AGGR_READ_COUNTER, counter, NW(counter));
    /* alone, B's counter is reset-corrected all the same */
    smp_t b_alone[] = {{0, 10}, {10000, 20}, {20000, 30}, {30000, 31}, {40000, 32},
                       {50000, 33}, {60000, 34}, {70000, 35}, {80000, 36}, {90000, 37}};
    expect_read(&r[1], 1, INT64_MIN, INT64_MAX, true, ST_AGGR_READ_COUNTER, b_alone, NW(b_alone));
    aggr_chunks_free(as);
    free(as);
}

/* Stores fall back to raw where nothing is downsampled: one replica with
 * an aggregate chunk then a raw one reads the aggregate, then the raw
 * samples (raw values + 0.25 here, to tell them apart). */
static void test_aggr_mixed_raw(void **state) {
    (void)state;
    aggr_chunks_t *as = calloc(1, sizeof *as);
    chunks_t cs = {0};
    add_aggr_grid(as, 0, 50000, 10000, -1, -1, 0, 120);
    add_grid(&cs, 60000, 100000, 10000, -1, -1, 0.25, 120);
    st_store_chunk_t mixed[2] = {as->c[0], cs.c[0]};
    st_dedup_replica_t r = {mixed, 2};
    smp_t want[11];
    for (int i = 0; i <= 10; i++) want[i] = (smp_t){i * 10000, i * 10 + (i >= 6 ? 0.25 : 0)};
    expect_read(&r, 1, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_MAX, want, 11);
    expect_read(&r, 1, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_AVG, want, 11);
    expect_read(&r, 1, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_COUNTER, want, 11);
    smp_t mins[11];
    for (int i = 0; i <= 10; i++) mins[i] = (smp_t){want[i].t, i < 6 ? want[i].v - 100 : want[i].v};
    expect_read(&r, 1, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_MIN, mins, 11);
    /* two such replicas, the second all raw: dedup over the mix */
    st_dedup_replica_t r2[2] = {r, {cs.c, 1}};
    expect_read(r2, 2, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_MAX, want, 11);
    /* the raw path still refuses aggregate chunks */
    st_dedup_samples_t *s;
    int64_t t;
    double v;
    assert_int_equal(st_dedup_samples_new(&s, &r, 1, INT64_MIN, INT64_MAX, false), 0);
    assert_int_equal(st_dedup_samples_next(s, &t, &v), ST_EUNSUPPORTED);
    st_dedup_samples_free(s);
    chunks_free(&cs);
    aggr_chunks_free(as);
    free(as);
}

/* A chunk with neither the aggregate nor raw data fails at creation, a
 * sub-chunk that does not decode while reading (sticky), an unknown read
 * is refused. */
static void test_aggr_errors(void **state) {
    (void)state;
    aggr_chunks_t *as = calloc(1, sizeof *as);
    int64_t t[] = {299999, 599999};
    double v[] = {1, 2};
    add_aggr_chunk(as, t, v, 2);
    st_store_chunk_t only_count = {.mint = 299999, .maxt = 599999};
    only_count.data[ST_AGGR_COUNT] = as->c[0].data[ST_AGGR_COUNT];
    only_count.len[ST_AGGR_COUNT] = as->c[0].len[ST_AGGR_COUNT];
    st_dedup_replica_t r[2] = {{&as->c[0], 1}, {&only_count, 1}};
    st_dedup_samples_t *s = NULL;
    assert_int_equal(st_dedup_samples_new_aggr(&s, r, 2, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_MAX), ST_ECORRUPT);
    assert_null(s);
    assert_int_equal(st_dedup_samples_new_aggr(&s, r, 2, INT64_MIN, INT64_MAX, false, (st_aggr_read_t)42), ST_EINVAL);
    static const uint8_t junk[] = {0x00, 0x05, 0xff};
    st_store_chunk_t bad = as->c[0];
    bad.data[ST_AGGR_MAX] = junk;
    bad.len[ST_AGGR_MAX] = sizeof junk;
    st_dedup_replica_t rb[2] = {{&as->c[0], 1}, {&bad, 1}};
    assert_int_equal(st_dedup_samples_new_aggr(&s, rb, 2, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_MAX), 0);
    int64_t tt;
    double vv;
    int rc;
    while ((rc = st_dedup_samples_next(s, &tt, &vv)) == 1) {
    }
    assert_int_equal(rc, ST_ECORRUPT);
    assert_int_equal(st_dedup_samples_next(s, &tt, &vv), ST_ECORRUPT);
    st_dedup_samples_free(s);
    /* the min of the same chunk still reads */
    smp_t mins[] = {{299999, -99}, {599999, -98}};
    expect_read(&rb[1], 1, INT64_MIN, INT64_MAX, false, ST_AGGR_READ_MIN, mins, NW(mins));
    aggr_chunks_free(as);
    free(as);
}

/* ---- one replica ---- */

static void test_single_bounds(void **state) {
    (void)state;
    chunks_t cs = {0};
    int64_t t[] = {1000, 2000, 3000, 4000, 5000};
    double v[] = {1, 2, 3, 4, 5};
    add_chunk(&cs, t, v, 5);
    st_dedup_replica_t r = {cs.c, 1};
    smp_t all[] = {{1000, 1}, {2000, 2}, {3000, 3}, {4000, 4}, {5000, 5}};
    expect(&r, 1, INT64_MIN, INT64_MAX, false, all, NW(all));
    smp_t mid[] = {{2000, 2}, {3000, 3}, {4000, 4}};
    expect(&r, 1, 1500, 4000, false, mid, NW(mid)); /* closed interval */
    expect(&r, 1, 6000, 9000, false, NULL, 0);
    chunks_free(&cs);
}

/* Overlapping chunks of one series (two stores' blocks overlapping): one
 * time-ordered stream, a repeated timestamp once, the earlier chunk's value. */
static void test_single_overlap_merge(void **state) {
    (void)state;
    chunks_t cs = {0};
    int64_t ta[] = {0, 20000, 40000};
    double va[] = {1, 2, 3};
    int64_t tb[] = {10000, 20000, 30000};
    double vb[] = {10, 20, 30};
    int64_t tc[] = {50000, 60000};
    double vc[] = {5, 6};
    add_chunk(&cs, ta, va, 3);
    add_chunk(&cs, tb, vb, 3);
    add_chunk(&cs, tc, vc, 2);
    st_dedup_replica_t r = {cs.c, 3};
    smp_t want[] = {{0, 1}, {10000, 10}, {20000, 2}, {30000, 30}, {40000, 3}, {50000, 5}, {60000, 6}};
    expect(&r, 1, INT64_MIN, INT64_MAX, false, want, NW(want));
    /* a single replica gets no counter adjustment even when asked */
    expect(&r, 1, INT64_MIN, INT64_MAX, true, want, NW(want));
    chunks_free(&cs);
}

/* ---- two replicas ---- */

/* Equal timestamps: A wins every tie, B is held off by the penalty.
 *  1: both at 0; A; penB = 5000 (first sample)
 *  2: A 15000, B seeks 5001 -> 15000; tie -> A; penB = 2*15000
 *  3: A 30000, B seeks 45001 -> 45000; A; penB = 30000
 *  4: A 45000, B seeks 60001 -> none; A
 *  5: A none, B none: end */
static void test_equal_timestamps(void **state) {
    (void)state;
    chunks_t cs = {0};
    add_grid(&cs, 0, 45000, 15000, -1, -1, 0, 120);
    add_grid(&cs, 0, 45000, 15000, -1, -1, 0.5, 120);
    st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
    smp_t want[] = {{0, 0}, {15000, 15}, {30000, 30}, {45000, 45}};
    expect(r, 2, INT64_MIN, INT64_MAX, false, want, NW(want));
    chunks_free(&cs);
}

/* Same 15 s grid 0..600 s; A lacks [120 s, 240 s], B lacks [390 s, 480 s];
 * A's values are t/1000, B's t/1000 + 0.5, so the answer shows which
 * replica each sample came from.
 *  - on A up to 105000; B, penalised 2*15000 each step, is sought to
 *    lastT + 30001 and so waits three samples ahead (at 150000);
 *  - next: A seeks 105001 -> 255000, B seeks 135001 -> 150000: B wins;
 *    120000 and 135000 are lost at the switch; penA = 2*45000;
 *  - on B (A held three samples ahead) up to 375000;
 *  - next: B seeks 375001 -> 495000, A seeks 405001 -> 420000: A wins;
 *    390000 and 405000 lost; then A to the end.
 * So each replica misses minutes, the answer only the two samples at each
 * switch (Thanos's penalty with aligned scrapes). */
static void test_gaps_in_each_replica(void **state) {
    (void)state;
    chunks_t cs = {0};
    size_t na = add_grid(&cs, 0, 600000, 15000, 120000, 240000, 0, 8);
    size_t nb = add_grid(&cs, 0, 600000, 15000, 390000, 480000, 0.5, 8);
    st_dedup_replica_t r[2] = {{&cs.c[0], na}, {&cs.c[na], nb}};
    smp_t want[64];
    size_t n = 0;
    for (int64_t t = 0; t <= 600000; t += 15000) {
        if (t == 120000 || t == 135000 || t == 390000 || t == 405000) continue;
        bool from_b = t >= 150000 && t <= 375000;
        want[n++] = (smp_t){t, (double)t / 1000 + (from_b ? 0.5 : 0)};
    }
    expect(r, 2, INT64_MIN, INT64_MAX, false, want, n);
    /* B first: B to its gap, then A (held three samples ahead) to the end */
    st_dedup_replica_t rb[2] = {r[1], r[0]};
    n = 0;
    for (int64_t t = 0; t <= 600000; t += 15000) {
        if (t == 390000 || t == 405000) continue;
        bool from_a = t >= 420000;
        want[n++] = (smp_t){t, (double)t / 1000 + (from_a ? 0 : 0.5)};
    }
    expect(rb, 2, INT64_MIN, INT64_MAX, false, want, n);
    chunks_free(&cs);
}

/* Replicas scraped at different offsets, gaps in both (hand-run):
 * A: 0 10 20 _ _ _ _ 70 80 90 100 (s)   B: 5 15 25 35 45 55 65 _ _ 95
 *  1: A0 (penB 5000)  2: A10 (B seeks 5001 -> 15; penB 20000)
 *  3: A20 (B seeks 30001 -> 35; penB 20000)
 *  4: A seeks 20001 -> 70, B seeks 40001 -> 45: B45; penA = 2*25000
 *  5: A seeks 95001 -> 100, B -> 55: B55; penA 20000
 *  6: A stays 100 (>= 75001), B -> 65: B65; penA 20000
 *  7: A stays 100, B -> 95: B95; penA 60000
 *  8: A seeks 155001: none; B none: end.
 * A's 70..100 are lost: the penalty keeps a replica that fell behind
 * away (Thanos's behaviour, kept). */
static void test_offset_replicas(void **state) {
    (void)state;
    chunks_t cs = {0};
    int64_t ta[] = {0, 10000, 20000, 70000, 80000, 90000, 100000};
    double va[] = {0, 10, 20, 70, 80, 90, 100};
    int64_t tb[] = {5000, 15000, 25000, 35000, 45000, 55000, 65000, 95000};
    double vb[] = {5, 15, 25, 35, 45, 55, 65, 95};
    add_chunk(&cs, ta, va, 7);
    add_chunk(&cs, tb, vb, 8);
    st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
    smp_t want[] = {{0, 0}, {10000, 10}, {20000, 20}, {45000, 45}, {55000, 55}, {65000, 65}, {95000, 95}};
    expect(r, 2, INT64_MIN, INT64_MAX, false, want, NW(want));
    chunks_free(&cs);
}

static void test_one_replica_empty(void **state) {
    (void)state;
    chunks_t cs = {0};
    add_grid(&cs, 0, 60000, 15000, -1, -1, 0, 120);
    smp_t want[] = {{0, 0}, {15000, 15}, {30000, 30}, {45000, 45}, {60000, 60}};
    st_dedup_replica_t r[2] = {{NULL, 0}, {&cs.c[0], 1}};
    expect(r, 2, INT64_MIN, INT64_MAX, false, want, NW(want));
    st_dedup_replica_t r2[2] = {{&cs.c[0], 1}, {NULL, 0}};
    expect(r2, 2, INT64_MIN, INT64_MAX, true, want, NW(want));
    /* a replica whose chunks all lie outside [mint, maxt] is empty too */
    int64_t t[] = {900000, 910000};
    double v[] = {1, 2};
    add_chunk(&cs, t, v, 2);
    st_dedup_replica_t r3[2] = {{&cs.c[1], 1}, {&cs.c[0], 1}};
    expect(r3, 2, 0, 60000, false, want, NW(want));
    st_dedup_replica_t none[2] = {{NULL, 0}, {NULL, 0}};
    expect(none, 2, INT64_MIN, INT64_MAX, true, NULL, 0);
    chunks_free(&cs);
}

/* A counter whose replica B restarted at 25 s (its count began again) while
 * A has a gap [40 s, 70 s]:
 *   A: 0:10 10:20 20:30 30:40 _ _ _ _ 80:80 90:90
 *   B: 0:10 10:20 20:30 30:1 40:2 50:3 60:4 70:5 80:6 90:7
 *  1-3: A0 A10 A20 (B pushed to 40001 -> 40 s, then 50 s)
 *  4: A30 = 40 (B seeks 40001 -> 40; penB 20000)
 *  5: A seeks 30001 -> 80, B seeks 50001 -> 60: switch to B; its value 4
 *     is below the last emitted 40, so B's values get +36 from here on
 *     (rate() would otherwise see a reset 40 -> 4); penA = 60000
 *  6: A seeks 120001: gone; B 70:41 80:42 90:43.
 * Without the counter hint the raw values come through. */
static void test_counter_reset_in_one_replica(void **state) {
    (void)state;
    chunks_t cs = {0};
    int64_t ta[] = {0, 10000, 20000, 30000, 80000, 90000};
    double va[] = {10, 20, 30, 40, 80, 90};
    int64_t tb[] = {0, 10000, 20000, 30000, 40000, 50000, 60000, 70000, 80000, 90000};
    double vb[] = {10, 20, 30, 1, 2, 3, 4, 5, 6, 7};
    add_chunk(&cs, ta, va, 6);
    add_chunk(&cs, tb, vb, 10);
    st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
    smp_t counter[] = {{0, 10},     {10000, 20}, {20000, 30}, {30000, 40},
                       {60000, 40}, {70000, 41}, {80000, 42}, {90000, 43}};
    expect(r, 2, INT64_MIN, INT64_MAX, true, counter, NW(counter));
    smp_t gauge[] = {{0, 10}, {10000, 20}, {20000, 30}, {30000, 40}, {60000, 4}, {70000, 5}, {80000, 6}, {90000, 7}};
    expect(r, 2, INT64_MIN, INT64_MAX, false, gauge, NW(gauge));
    chunks_free(&cs);
}

/* A lagging replica taken over after the leader ends (hand-run):
 *   A: 0:100 10:110 20:120 30:130 40:140     B: t:50 + t/1000 for 0..100 s
 *  A wins the ties to 40 s (B penalised 20000); then A is gone, B seeks
 *  60001 -> 70 s = 120 < 140: counter mode adds 20 to B from there. */
static void test_counter_lagging_replica(void **state) {
    (void)state;
    chunks_t cs = {0};
    add_grid(&cs, 0, 40000, 10000, -1, -1, 100, 120);
    add_grid(&cs, 0, 100000, 10000, -1, -1, 50, 120);
    st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
    smp_t counter[] = {{0, 100},     {10000, 110}, {20000, 120}, {30000, 130}, {40000, 140},
                       {70000, 140}, {80000, 150}, {90000, 160}, {100000, 170}};
    expect(r, 2, INT64_MIN, INT64_MAX, true, counter, NW(counter));
    smp_t gauge[] = {{0, 100},     {10000, 110}, {20000, 120}, {30000, 130}, {40000, 140},
                     {70000, 120}, {80000, 130}, {90000, 140}, {100000, 150}};
    expect(r, 2, INT64_MIN, INT64_MAX, false, gauge, NW(gauge));
    chunks_free(&cs);
}

/* Thanos's first step compares B's first sample with A's first value, not
 * with anything emitted: B starts earlier (5 s: 100) than A (10 s: 101),
 * B is chosen and, being "below" 101, is raised by 1 for good. Kept as in
 * Thanos so answers match a Thanos querier's. */
static void test_counter_first_switch_quirk(void **state) {
    (void)state;
    chunks_t cs = {0};
    int64_t ta[] = {10000, 20000};
    double va[] = {101, 111};
    int64_t tb[] = {5000, 15000, 25000};
    double vb[] = {100, 110, 120};
    add_chunk(&cs, ta, va, 2);
    add_chunk(&cs, tb, vb, 3);
    st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
    smp_t counter[] = {{5000, 101}, {15000, 111}, {25000, 121}};
    expect(r, 2, INT64_MIN, INT64_MAX, true, counter, NW(counter));
    chunks_free(&cs);
}

/* Three replicas, ((A ⊕ B) ⊕ C): identical grids give A's samples; with A
 * empty, B's; the inner pair wins ties against C. */
static void test_three_replicas(void **state) {
    (void)state;
    chunks_t cs = {0};
    add_grid(&cs, 0, 90000, 10000, -1, -1, 0, 120);
    add_grid(&cs, 0, 90000, 10000, -1, -1, 0.5, 120);
    add_grid(&cs, 0, 90000, 10000, -1, -1, 0.25, 120);
    st_dedup_replica_t r[3] = {{&cs.c[0], 1}, {&cs.c[1], 1}, {&cs.c[2], 1}};
    smp_t want[10];
    for (int i = 0; i < 10; i++) want[i] = (smp_t){i * 10000, i * 10};
    expect(r, 3, INT64_MIN, INT64_MAX, false, want, 10);
    st_dedup_replica_t r2[3] = {{NULL, 0}, {&cs.c[1], 1}, {&cs.c[2], 1}};
    for (int i = 0; i < 10; i++) want[i].v = i * 10 + 0.5;
    expect(r2, 3, INT64_MIN, INT64_MAX, false, want, 10);
    chunks_free(&cs);
}

/* Dedup bounded to [mint, maxt] also when a seek would land past maxt. */
static void test_dedup_bounds(void **state) {
    (void)state;
    chunks_t cs = {0};
    add_grid(&cs, 0, 100000, 10000, -1, -1, 0, 120);
    add_grid(&cs, 5000, 105000, 10000, -1, -1, 0, 120);
    st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
    /* A from 20 s; B (25 s) is penalised to >= 25001 then >= 50001:
     * A wins every step to the bound. */
    smp_t want[] = {{20000, 20}, {30000, 30}, {40000, 40}, {50000, 50}};
    expect(r, 2, 20000, 52000, false, want, NW(want));
    chunks_free(&cs);
}

/* ---- overlap split and chunk order ---- */

static void test_overlap_split(void **state) {
    (void)state;
    st_store_chunk_t c[5];
    memset(c, 0, sizeof c);
    int64_t span[5][2] = {{0, 100}, {0, 100}, {50, 150}, {101, 200}, {151, 300}};
    for (int i = 0; i < 5; i++) {
        c[i].mint = span[i][0];
        c[i].maxt = span[i][1];
    }
    st_dedup_replica_t *r;
    st_store_chunk_t *st;
    size_t n;
    assert_int_equal(st_dedup_overlap_split(c, 5, &r, &n, &st), 0);
    /* c0 -> r0; c1 overlaps r0 -> r1; c2 overlaps both -> r2; c3 after r0's
     * last (100 < 101) -> r0; c4: r0 ends 200, r1 ends 100 < 151 -> r1 */
    assert_int_equal(n, 3);
    assert_int_equal(r[0].n, 2);
    assert_int_equal(r[0].chunks[0].mint, 0);
    assert_int_equal(r[0].chunks[1].mint, 101);
    assert_int_equal(r[1].n, 2);
    assert_int_equal(r[1].chunks[0].maxt, 100);
    assert_int_equal(r[1].chunks[1].mint, 151);
    assert_int_equal(r[2].n, 1);
    assert_int_equal(r[2].chunks[0].mint, 50);
    free(r);
    free(st);
    /* no chunks: one empty replica (a labels-only series) */
    assert_int_equal(st_dedup_overlap_split(NULL, 0, &r, &n, &st), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].n, 0);
    free(r);
    free(st);
}

static void test_chunk_order(void **state) {
    (void)state;
    static const uint8_t x[] = {1, 2, 3}, y[] = {1, 2, 4}, z[] = {1, 2};
    st_store_chunk_t a = {.mint = 0, .maxt = 10}, b = a, c = a, d = {.mint = 0, .maxt = 9}, e = a;
    a.data[ST_AGGR_RAW] = x, a.len[ST_AGGR_RAW] = 3;
    b.data[ST_AGGR_RAW] = y, b.len[ST_AGGR_RAW] = 3;
    c.data[ST_AGGR_RAW] = z, c.len[ST_AGGR_RAW] = 2;
    d.data[ST_AGGR_RAW] = y, d.len[ST_AGGR_RAW] = 3;
    e.data[ST_AGGR_COUNT] = x, e.len[ST_AGGR_COUNT] = 3; /* no raw */
    assert_true(st_dedup_chunk_cmp(&d, &a) < 0);          /* smaller max time first */
    assert_true(st_dedup_chunk_cmp(&b, &a) < 0);          /* then larger bytes first (Thanos) */
    assert_true(st_dedup_chunk_cmp(&a, &c) < 0);          /* a longer string is larger */
    assert_true(st_dedup_chunk_cmp(&a, &e) < 0);          /* present before absent */
    assert_int_equal(st_dedup_chunk_cmp(&a, &a), 0);
    st_store_chunk_t a2 = a;
    static const uint8_t x2[] = {1, 2, 3};
    a2.data[ST_AGGR_RAW] = x2;
    assert_true(st_dedup_chunk_identical(&a, &a2));
    assert_false(st_dedup_chunk_identical(&a, &b));
    assert_false(st_dedup_chunk_identical(&a, &e));
    assert_true(st_dedup_func_is_counter("rate"));
    assert_true(st_dedup_func_is_counter("resets"));
    assert_false(st_dedup_func_is_counter("sum"));
    assert_false(st_dedup_func_is_counter(NULL));
}

static int chunk_qcmp(const void *a, const void *b) { return st_dedup_chunk_cmp(a, b); }

/* Overlap split then dedup, as the select path runs them: the chunks of
 * two replicas merged into one series (sorted), 2 h at 15 s in 120-sample
 * chunks, each replica missing 10 minutes elsewhere: the two samples at a
 * switch are lost (see test_gaps_in_each_replica), nothing else. */
static void test_split_then_dedup(void **state) {
    (void)state;
    chunks_t cs = {0};
    size_t na = add_grid(&cs, 0, 7200000, 15000, 1800000, 2400000, 0, 120);
    size_t nb = add_grid(&cs, 0, 7200000, 15000, 4800000, 5400000, 0, 120);
    st_store_chunk_t *all = malloc((na + nb) * sizeof *all);
    memcpy(all, cs.c, (na + nb) * sizeof *all);
    qsort(all, na + nb, sizeof *all, chunk_qcmp);
    st_dedup_replica_t *r;
    st_store_chunk_t *st;
    size_t n;
    assert_int_equal(st_dedup_overlap_split(all, na + nb, &r, &n, &st), 0);
    assert_true(n >= 2);
    st_dedup_samples_t *s;
    assert_int_equal(st_dedup_samples_new(&s, r, n, INT64_MIN, INT64_MAX, false), 0);
    int64_t t, last = -15000;
    double v;
    size_t cnt = 0, holes = 0;
    while (st_dedup_samples_next(s, &t, &v) == 1) {
        assert_true(t > last);
        assert_true(v == (double)t / 1000); /* both replicas hold the true values */
        if (t - last != 15000) {
            if (t - last != 45000) fail_msg("hole of %lld ms before %lld", (long long)(t - last), (long long)t);
            holes++;
        }
        last = t;
        cnt++;
    }
    assert_int_equal(last, 7200000);
    assert_true(holes <= 2);
    assert_int_equal(cnt + 2 * holes, 481);
    st_dedup_samples_free(s);
    free(r);
    free(st);
    free(all);
    chunks_free(&cs);
}

static void test_corrupt_and_downsampled(void **state) {
    (void)state;
    static const uint8_t junk[] = {0x00, 0x05, 0xff};
    st_store_chunk_t c = {.mint = 0, .maxt = 100};
    c.data[ST_AGGR_RAW] = junk;
    c.len[ST_AGGR_RAW] = sizeof junk;
    st_dedup_replica_t r = {&c, 1};
    st_dedup_samples_t *s;
    int64_t t;
    double v;
    assert_int_equal(st_dedup_samples_new(&s, &r, 1, INT64_MIN, INT64_MAX, false), 0);
    int rc;
    while ((rc = st_dedup_samples_next(s, &t, &v)) == 1) {
    }
    assert_int_equal(rc, ST_ECORRUPT);
    assert_int_equal(st_dedup_samples_next(s, &t, &v), ST_ECORRUPT); /* sticky */
    st_dedup_samples_free(s);
    st_store_chunk_t d = {.mint = 0, .maxt = 100};
    d.data[ST_AGGR_SUM] = junk;
    d.len[ST_AGGR_SUM] = sizeof junk;
    r.chunks = &d;
    assert_int_equal(st_dedup_samples_new(&s, &r, 1, INT64_MIN, INT64_MAX, false), 0);
    assert_int_equal(st_dedup_samples_next(s, &t, &v), ST_EUNSUPPORTED);
    st_dedup_samples_free(s);
    /* an error in one replica ends a dedup too */
    chunks_t cs = {0};
    add_grid(&cs, 0, 100000, 10000, -1, -1, 0, 120);
    st_dedup_replica_t r2[2] = {{&cs.c[0], 1}, {&c, 1}};
    assert_int_equal(st_dedup_samples_new(&s, r2, 2, INT64_MIN, INT64_MAX, false), 0);
    while ((rc = st_dedup_samples_next(s, &t, &v)) == 1) {
    }
    assert_int_equal(rc, ST_ECORRUPT);
    st_dedup_samples_free(s);
    chunks_free(&cs);
}

/* Timestamps at the ends of int64: penalties saturate instead of wrapping. */
static void test_extreme_timestamps(void **state) {
    (void)state;
    chunks_t cs = {0};
    int64_t ta[] = {INT64_MIN + 10, 0, INT64_MAX - 10};
    double va[] = {1, 2, 3};
    int64_t tb[] = {INT64_MIN + 5, INT64_MAX - 5};
    double vb[] = {4, 5};
    add_chunk(&cs, ta, va, 3);
    add_chunk(&cs, tb, vb, 2);
    st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
    st_dedup_samples_t *s;
    assert_int_equal(st_dedup_samples_new(&s, r, 2, INT64_MIN, INT64_MAX, true), 0);
    int64_t t, last = INT64_MIN;
    double v;
    int n = 0;
    while (st_dedup_samples_next(s, &t, &v) == 1) {
        assert_true(n == 0 || t > last);
        last = t;
        n++;
    }
    assert_true(n >= 2);
    st_dedup_samples_free(s);
    chunks_free(&cs);
}

/* Values pass through bit for bit unless a counter is adjusted: a stale
 * marker's NaN (0x7ff0000000000002) must stay that NaN, -0 must stay -0,
 * with one replica and under dedup alike. */
static void test_values_bit_exact(void **state) {
    (void)state;
    uint64_t stale_bits = 0x7ff0000000000002ull, got_bits;
    double stale;
    memcpy(&stale, &stale_bits, sizeof stale);
    int64_t t[] = {1000, 2000, 3000};
    double v[] = {1.5, -0.0, stale};
    for (size_t nrep = 1; nrep <= 2; nrep++) {
        chunks_t cs = {0};
        add_chunk(&cs, t, v, 3);
        add_chunk(&cs, t, v, 3);
        st_dedup_replica_t r[2] = {{&cs.c[0], 1}, {&cs.c[1], 1}};
        st_dedup_samples_t *s;
        assert_int_equal(st_dedup_samples_new(&s, r, nrep, INT64_MIN, INT64_MAX, false), 0);
        int64_t tt;
        double vv;
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(st_dedup_samples_next(s, &tt, &vv), 1);
            assert_int_equal(tt, t[i]);
            uint64_t want_bits;
            memcpy(&want_bits, &v[i], sizeof want_bits);
            memcpy(&got_bits, &vv, sizeof got_bits);
            assert_int_equal(got_bits, want_bits);
        }
        assert_int_equal(st_dedup_samples_next(s, &tt, &vv), 0);
        st_dedup_samples_free(s);
        chunks_free(&cs);
    }
}

/* ---- batches: st_dedup_samples_next_batch == repeated next ---- */

#define BMAX 8192

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double rnd_value(unsigned *seed, double *counter) {
    static const uint64_t stale_bits = 0x7ff0000000000002ull;
    double d;
    switch (rand_r(seed) % 12) {
    case 0:
        memcpy(&d, &stale_bits, sizeof d);
        return d;
    case 1: return -0.0;
    case 2: return 0.0;
    case 3: return (double)(rand_r(seed) % 1000) / 7;
    case 4: *counter = 0; return *counter; /* a reset */
    default: *counter += rand_r(seed) % 50; return *counter;
    }
}

/* One replica's raw chunks, sorted by min time, in cs from index cs->n:
 * mostly one after another at steps of whole seconds (so overlapping
 * chunks repeat timestamps), sometimes overlapping the previous one,
 * sometimes with a max time claimed short of the real one, sometimes
 * truncated (corrupt from some sample on). Returns how many. */
static size_t rnd_replica(chunks_t *cs, unsigned *seed, int64_t start, size_t maxch) {
    int64_t t[160], prev_start = start, prev_end = start;
    double v[160], counter = 0;
    size_t nch = 1 + (size_t)rand_r(seed) % maxch;
    for (size_t c = 0; c < nch; c++) {
        int64_t at = prev_end + 1000 * (1 + rand_r(seed) % 30);
        if (c > 0 && rand_r(seed) % 4 == 0) at = prev_start + 1000 * (rand_r(seed) % ((prev_end - prev_start) / 1000 + 1));
        size_t n = 1 + (size_t)rand_r(seed) % 150;
        int64_t step = 1000 * (1 + rand_r(seed) % 3);
        for (size_t i = 0; i < n; i++) {
            t[i] = at + (int64_t)i * step;
            v[i] = rnd_value(seed, &counter);
        }
        size_t k = add_chunk(cs, t, v, n);
        if (rand_r(seed) % 4 == 0) cs->c[k].maxt -= 1000 * (rand_r(seed) % 40);
        if (rand_r(seed) % 20 == 0 && cs->c[k].len[ST_AGGR_RAW] > 4)
            cs->c[k].len[ST_AGGR_RAW] -= 1 + (size_t)rand_r(seed) % (cs->c[k].len[ST_AGGR_RAW] - 3);
        prev_start = at;
        if (t[n - 1] > prev_end) prev_end = t[n - 1];
    }
    return nch;
}

/* mode: a cap for batches only; 0 for single calls and batches of random
 * caps mixed. Reads until the iterator ends (then once more: it stays
 * ended). Returns the count; *end the last return code. */
static size_t read_batches(st_dedup_samples_t *s, unsigned *seed, size_t mode, int64_t *t, double *v, int *end) {
    size_t n = 0;
    for (;;) {
        int rc;
        if (mode == 0 && rand_r(seed) % 2 == 0) {
            rc = st_dedup_samples_next(s, &t[n], &v[n]);
        } else {
            size_t cap = mode ? mode : 1 + (size_t)rand_r(seed) % 300;
            rc = st_dedup_samples_next_batch(s, &t[n], &v[n], cap);
            assert_true(rc <= (int)cap);
        }
        if (rc <= 0) {
            *end = rc;
            int64_t tt;
            double vv;
            assert_int_equal(st_dedup_samples_next_batch(s, &tt, &vv, 5), rc);
            return n;
        }
        n += (size_t)rc;
        assert_true(n <= BMAX - 1024);
    }
}

/* Random raw series of one to three replicas (several chunks, overlapping
 * chunks, repeated timestamps, lying max times, truncated chunks, samples
 * outside [mint, maxt], stale NaNs, -0): batches of caps 1, 2, 7, 1024
 * and batches mixed with single calls give the single path's samples bit
 * for bit, and its end (0 or the same error). */
static void test_batch_matches_single(void **state) {
    (void)state;
    static int64_t want_t[BMAX], got_t[BMAX];
    static double want_v[BMAX], got_v[BMAX];
    static const size_t modes[] = {1, 2, 7, 1024, 0, 0};
    unsigned seed = 4242;
    size_t fast = 0;
    for (int round = 0; round < 600; round++) {
        chunks_t cs = {0};
        size_t nrep = 1 + (size_t)rand_r(&seed) % 3, nch[3];
        for (size_t k = 0; k < nrep; k++) nch[k] = rnd_replica(&cs, &seed, 1000000 + 1000 * (rand_r(&seed) % 20), 6);
        st_dedup_replica_t r[3];
        size_t off = 0;
        for (size_t k = 0; k < nrep; k++) {
            r[k] = (st_dedup_replica_t){&cs.c[off], nch[k]};
            off += nch[k];
        }
        int64_t mint = INT64_MIN, maxt = INT64_MAX;
        if (rand_r(&seed) % 3) mint = 1000000 + 1000 * (rand_r(&seed) % 200) - 500 * (rand_r(&seed) % 2);
        if (rand_r(&seed) % 3) maxt = 1000000 + 1000 * (rand_r(&seed) % 1500);
        bool counter = rand_r(&seed) % 2;
        st_dedup_samples_t *s;
        assert_int_equal(st_dedup_samples_new(&s, r, nrep, mint, maxt, counter), 0);
        size_t nwant = 0;
        int want_end, rc;
        while ((rc = st_dedup_samples_next(s, &want_t[nwant], &want_v[nwant])) == 1) nwant++;
        want_end = rc;
        st_dedup_samples_free(s);
        for (size_t m = 0; m < NW(modes); m++) {
            assert_int_equal(st_dedup_samples_new(&s, r, nrep, mint, maxt, counter), 0);
            int end;
            size_t n = read_batches(s, &seed, modes[m], got_t, got_v, &end);
            st_dedup_samples_free(s);
            if (n != nwant || end != want_end)
                fail_msg("round %d mode %zu: %zu samples ending %d, want %zu ending %d", round, modes[m], n, end,
                         nwant, want_end);
            for (size_t i = 0; i < n; i++)
                if (got_t[i] != want_t[i] || memcmp(&got_v[i], &want_v[i], sizeof got_v[i]) != 0)
                    fail_msg("round %d mode %zu: sample %zu: got %lld=%016llx, want %lld=%016llx", round, modes[m],
                             i, (long long)got_t[i], (unsigned long long)bits_of(got_v[i]), (long long)want_t[i],
                             (unsigned long long)bits_of(want_v[i]));
        }
        fast += nrep == 1 && nwant > 100;
        chunks_free(&cs);
    }
    assert_true(fast > 50); /* the batch decoder's own path ran, not only the loop */
}

/* Chunk 0 ends on a timestamp that chunk 1 (which starts inside it) also
 * has: chunk 0 wins it, and chunk 1, left alone, must not give it again;
 * a chunk whose claimed max time is short of its samples must still give
 * way to the next chunk in time order. */
static void test_batch_edges(void **state) {
    (void)state;
    chunks_t cs = {0};
    int64_t t0[] = {1000, 2000, 3000, 4000, 5000, 6000};
    int64_t t1[] = {2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000};
    int64_t t2[] = {11000, 13000, 15000};
    double v0[] = {0, 1, 2, 3, 4, 5}, v1[] = {10, 11, 12, 13, 14, 15, 16, 17}, v2[] = {20, 21, 22};
    add_chunk(&cs, t0, v0, 6);
    add_chunk(&cs, t1, v1, 8);
    add_chunk(&cs, t2, v2, 3);
    cs.c[1].maxt = 6000; /* lies: chunk 2 looks as if it came after */
    st_dedup_replica_t r = {cs.c, 3};
    const smp_t want[] = {{1000, 0},   {2000, 1},   {3000, 2},   {4000, 3},   {5000, 4},
                          {6000, 5},   {8000, 13},  {10000, 14}, {11000, 20}, {12000, 15},
                          {13000, 21}, {14000, 16}, {15000, 22}, {16000, 17}};
    static const size_t caps[] = {1, 2, 3, 7, 1024};
    for (size_t c = 0; c < NW(caps); c++) {
        st_dedup_samples_t *s;
        assert_int_equal(st_dedup_samples_new(&s, &r, 1, INT64_MIN, INT64_MAX, false), 0);
        int64_t t[1024];
        double v[1024];
        size_t n = 0;
        int rc;
        while ((rc = st_dedup_samples_next_batch(s, &t[n], &v[n], caps[c] < 1024 - n ? caps[c] : 1024 - n)) > 0)
            n += (size_t)rc;
        assert_int_equal(rc, 0);
        assert_int_equal(n, NW(want));
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(t[i], want[i].t);
            assert_true(v[i] == want[i].v);
        }
        assert_int_equal(st_dedup_samples_next_batch(s, t, v, 0), ST_EINVAL);
        st_dedup_samples_free(s);
    }
    chunks_free(&cs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_edges),
        cmocka_unit_test(test_batch_matches_single),
        cmocka_unit_test(test_single_bounds),
        cmocka_unit_test(test_single_overlap_merge),
        cmocka_unit_test(test_equal_timestamps),
        cmocka_unit_test(test_gaps_in_each_replica),
        cmocka_unit_test(test_offset_replicas),
        cmocka_unit_test(test_one_replica_empty),
        cmocka_unit_test(test_counter_reset_in_one_replica),
        cmocka_unit_test(test_counter_lagging_replica),
        cmocka_unit_test(test_counter_first_switch_quirk),
        cmocka_unit_test(test_three_replicas),
        cmocka_unit_test(test_dedup_bounds),
        cmocka_unit_test(test_overlap_split),
        cmocka_unit_test(test_chunk_order),
        cmocka_unit_test(test_split_then_dedup),
        cmocka_unit_test(test_corrupt_and_downsampled),
        cmocka_unit_test(test_extreme_timestamps),
        cmocka_unit_test(test_values_bit_exact),
        cmocka_unit_test(test_aggr_dedup_gaps),
        cmocka_unit_test(test_aggr_counter),
        cmocka_unit_test(test_aggr_mixed_raw),
        cmocka_unit_test(test_aggr_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
