/* st_compact_merge over blocks written by the block builder (and, for
 * AggrChunks, the block writer): consecutive blocks, HA replicas with gaps
 * (replica dedup's gap fill, a counter across it, and time merge), a block uploaded twice, tombstones,
 * series in only some sources, the output meta, a corrupt source and an
 * overlap of AggrChunks. Expected samples are computed from the generator,
 * never read from a merged block. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "st_test.h"
#include "strata/block.h"
#include "strata/bucket.h"
#include "strata/buf.h"
#include "strata/chunkenc.h"
#include "strata/compact.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/matcher.h"

#define H2 ((int64_t)2 * 3600 * 1000)
#define MIN ((int64_t)60 * 1000)
#define T0 ((int64_t)1700000000000 - (int64_t)1700000000000 % H2)
#define STEP ((int64_t)15000)

static char tmproot[4096];
static int counter;

static int setup(void **state) {
    (void)state;
    return st_test_mkdtemp(tmproot, sizeof tmproot, "merge");
}

static int teardown(void **state) {
    (void)state;
    return st_rm_rf(tmproot);
}

/* A fresh directory under tmproot. */
static char *fresh(const char *what) {
    char name[64];
    snprintf(name, sizeof name, "%s-%d", what, counter++);
    char *p = st_path_join(tmproot, name);
    assert_int_equal(st_mkdir_p(p, 0755), 0);
    return p;
}

/* Series COUNTER counts 0.5 a second from T0 and resets to 0 at T0 + 1h. */
#define COUNTER 900
#define RESET (T0 + 60 * MIN)

static double val(int id, int64_t t) {
    if (id == COUNTER) return 0.5 * (double)(t - (t < RESET ? T0 : RESET)) / 1000.0;
    return id * 1000.0 + (double)(t - T0) / 1000.0;
}

static st_labels_t series_labels(int id) {
    char v[16];
    snprintf(v, sizeof v, "%03d", id);
    st_label_t pairs[3] = {st_label("__name__", "m"), st_label("i", v), st_label("parity", id % 2 ? "odd" : "even")};
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, pairs, 3), 0);
    return l;
}

/* Does the generator put a sample of this spec at t? */
typedef struct {
    int64_t from, to, off; /* samples at from + off + k*STEP < to */
    int64_t gap_from, gap_to; /* none in [gap_from, gap_to) */
} span_t;

static bool span_has(const span_t *s, int64_t t) {
    return t >= s->from + s->off && t < s->to && (t - s->from - s->off) % STEP == 0 &&
           !(t >= s->gap_from && t < s->gap_to);
}

/* A block of series ids[0..n) with the samples of sp; returns the open block. */
static st_block_t *write_block(const char *parent, const int *ids, size_t n, const span_t *sp) {
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, H2), 0);
    for (size_t k = 0; k < n; k++) {
        st_labels_t l = series_labels(ids[k]);
        for (int64_t t = sp->from + sp->off; t < sp->to; t += STEP)
            if (span_has(sp, t)) assert_int_equal(st_block_builder_append(b, &l, t, val(ids[k], t)), 0);
        st_labels_free(&l);
    }
    char *dir = NULL;
    assert_int_equal(st_block_builder_write(b, parent, &dir), 0);
    assert_non_null(dir);
    st_block_builder_free(b);
    st_block_t *blk;
    assert_int_equal(st_block_open(&blk, dir), 0);
    free(dir);
    return blk;
}

typedef struct {
    int64_t *t;
    double *v;
    size_t n;
} samples_t;

/* Samples of series id in blk (NULL t when the series is absent). */
static samples_t read_series(const st_block_t *blk, int id) {
    char sel[64];
    snprintf(sel, sizeof sel, "m{i=\"%03d\"}", id);
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, sel), 0);
    st_series_set_t *set;
    assert_int_equal(st_block_select(&set, blk, &ms, INT64_MIN, INT64_MAX), 0);
    samples_t s = {0};
    int rc = st_series_set_next(set);
    assert_true(rc >= 0);
    if (rc == 1) {
        size_t cap = 1024;
        s.t = malloc(cap * sizeof *s.t);
        s.v = malloc(cap * sizeof *s.v);
        int64_t t;
        double v;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1) {
            if (s.n == cap) {
                cap *= 2;
                s.t = realloc(s.t, cap * sizeof *s.t);
                s.v = realloc(s.v, cap * sizeof *s.v);
            }
            s.t[s.n] = t;
            s.v[s.n++] = v;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(st_series_set_next(set), 0);
    }
    st_series_set_free(set);
    st_matchers_free(&ms);
    return s;
}

static void samples_free(samples_t *s) {
    free(s->t);
    free(s->v);
}

/* Series id of blk equals the union of the spans that hold it, minus
 * the deleted [del_from, del_to] (none when del_from > del_to). */
static void expect_series(const st_block_t *blk, int id, const span_t *const *sp, size_t nsp, int64_t del_from,
                          int64_t del_to) {
    samples_t s = read_series(blk, id);
    size_t k = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < nsp; i++) {
        if (sp[i]->from < lo) lo = sp[i]->from;
        if (sp[i]->to > hi) hi = sp[i]->to;
    }
    for (int64_t t = lo; t < hi; t += 1000) {
        bool want = false;
        for (size_t i = 0; i < nsp && !want; i++) want = span_has(sp[i], t);
        if (t >= del_from && t <= del_to) want = false;
        if (!want) continue;
        assert_true(k < s.n);
        assert_int_equal(s.t[k], t);
        assert_true(s.v[k] == val(id, t));
        k++;
    }
    assert_int_equal(k, s.n);
    samples_free(&s);
}

static st_block_t *merge_ok(st_block_t **src, size_t n, bool penalty, const char *thanos, st_compact_stats_t *st) {
    char *out = fresh("out");
    st_compact_opts_t o = {.penalty_dedup = penalty, .thanos_json = thanos};
    char *dir = NULL;
    int rc = st_compact_merge(src, n, &o, out, &dir, st);
    if (rc) fprintf(stderr, "merge: %s\n", st_errdetail(rc));
    assert_int_equal(rc, 0);
    assert_non_null(dir);
    st_block_t *b;
    assert_int_equal(st_block_open(&b, dir), 0);
    st_index_check_t chk;
    char *ix = st_path_join(dir, "index");
    assert_int_equal(st_index_check(ix, st_block_meta(b), NULL, 0, &chk), 0);
    assert_int_equal(chk.problems, 0);
    free(ix);
    free(dir);
    free(out);
    return b;
}

static void close_all(st_block_t **b, size_t n) {
    for (size_t i = 0; i < n; i++) st_block_close(b[i]);
}

/* 4 consecutive 2h blocks; series 10 only in blocks 1 and 3, 11 only in 0. */
static void test_consecutive(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t sp[4];
    st_block_t *src[4];
    uint64_t chunks = 0, samples = 0;
    for (int k = 0; k < 4; k++) {
        sp[k] = (span_t){T0 + k * H2, T0 + (k + 1) * H2, 0, 0, 0};
        int ids[12], n = 0;
        for (int i = 0; i < 10; i++) ids[n++] = i;
        if (k == 1 || k == 3) ids[n++] = 10;
        if (k == 0) ids[n++] = 11;
        src[k] = write_block(parent, ids, (size_t)n, &sp[k]);
        chunks += st_block_meta(src[k])->num_chunks;
        samples += st_block_meta(src[k])->num_samples;
    }
    /* given out of time order: the merge does not care */
    st_block_t *order[4] = {src[2], src[0], src[3], src[1]};
    st_compact_stats_t st;
    const char *th = "{\"labels\":{\"cluster\":\"eu\"},\"downsample\":{\"resolution\":0},\"source\":\"sidecar\","
                     "\"segment_files\":[\"000001\"],\"files\":[{\"rel_path\":\"index\",\"size_bytes\":12}],"
                     "\"extra\":7}";
    st_block_t *out = merge_ok(order, 4, true, th, &st);

    const span_t *all[4] = {&sp[0], &sp[1], &sp[2], &sp[3]};
    for (int i = 0; i < 10; i++) expect_series(out, i, all, 4, 1, 0);
    const span_t *s10[2] = {&sp[1], &sp[3]}, *s11[1] = {&sp[0]};
    expect_series(out, 10, s10, 2, 1, 0);
    expect_series(out, 11, s11, 1, 1, 0);

    assert_int_equal(st.series_in, 43);
    assert_int_equal(st.series_out, 12);
    assert_int_equal(st.chunks_in, chunks);
    assert_int_equal(st.chunks_copied, chunks);
    assert_int_equal(st.chunks_reencoded, 0);
    assert_int_equal(st.chunks_out, chunks);
    assert_int_equal(st.samples_in, samples);
    assert_int_equal(st.samples_out, samples);
    assert_int_equal(st.samples_deduplicated, 0);
    assert_true(st.bytes_read > 0 && st.bytes_written > 0);

    const st_meta_t *m = st_block_meta(out);
    assert_int_equal(m->min_time, T0);
    assert_int_equal(m->max_time, T0 + 4 * H2 - STEP + 1);
    assert_int_equal(m->level, 2);
    assert_int_equal(m->num_series, 12);
    assert_int_equal(m->num_chunks, chunks);
    assert_int_equal(m->num_samples, samples);
    assert_int_equal(m->nsources, 4);
    for (size_t i = 1; i < 4; i++) assert_true(st_ulid_cmp(&m->sources[i - 1], &m->sources[i]) < 0);
    for (size_t i = 0; i < 4; i++) {
        bool found = false;
        for (size_t k = 0; k < 4; k++) found |= st_ulid_cmp(&m->sources[i], &st_block_meta(src[k])->ulid) == 0;
        assert_true(found);
    }
    assert_int_equal(m->nparents, 4);
    for (size_t i = 0; i < 4; i++) {
        const st_meta_t *p = st_block_meta(order[i]);
        assert_int_equal(st_ulid_cmp(&m->parents[i].ulid, &p->ulid), 0);
        assert_int_equal(m->parents[i].min_time, p->min_time);
        assert_int_equal(m->parents[i].max_time, p->max_time);
    }
    st_thanos_t t;
    assert_int_equal(st_thanos_parse(&t, m->thanos_json, "out"), 0);
    assert_string_equal(t.source, "compactor");
    assert_int_equal(t.labels.n, 1);
    assert_string_equal(st_labels_get(&t.labels, "cluster")->value, "eu");
    assert_int_equal(t.nfiles, 0);
    st_thanos_free(&t);
    assert_non_null(strstr(m->thanos_json, "\"extra\":7"));

    /* a level-2 block merged again: level 3, the same four sources */
    st_block_t *again[2] = {out, NULL};
    span_t late = {T0 + 4 * H2, T0 + 5 * H2, 0, 0, 0};
    int ids[1] = {3};
    again[1] = write_block(parent, ids, 1, &late);
    st_block_t *out2 = merge_ok(again, 2, false, NULL, &st);
    assert_int_equal(st_block_meta(out2)->level, 3);
    assert_int_equal(st_block_meta(out2)->nsources, 5);
    assert_null(st_block_meta(out2)->thanos_json);
    const span_t *s3[5] = {&sp[0], &sp[1], &sp[2], &sp[3], &late};
    expect_series(out2, 3, s3, 5, 1, 0);
    assert_int_equal(st.chunks_copied, st.chunks_in);

    close_all(again, 2);
    st_block_close(out2);
    close_all(src, 4);
    free(parent);
}

/* Two HA replicas of one 2h window, offset by 5 s, each with a 10 min gap
 * at a different place. */
static void test_replicas(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0, T0 + H2, 0, T0 + 30 * MIN, T0 + 40 * MIN};
    span_t b = {T0, T0 + H2, 5000, T0 + 70 * MIN, T0 + 80 * MIN};
    int ids[2] = {1, 2};
    st_block_t *src[2] = {write_block(parent, ids, 2, &a), write_block(parent, ids, 2, &b)};
    uint64_t na = st_block_meta(src[0])->num_samples / 2, nb = st_block_meta(src[1])->num_samples / 2;

    /* replica dedup: one replica at a time, no gap left */
    st_compact_stats_t st;
    st_block_t *out = merge_ok(src, 2, true, NULL, &st);
    for (int id = 1; id <= 2; id++) {
        samples_t s = read_series(out, id);
        assert_true(s.n > 400 && s.n < na + nb);
        assert_true(s.t[0] <= T0 + 5000);
        assert_true(s.t[s.n - 1] >= T0 + H2 - STEP);
        for (size_t k = 0; k < s.n; k++) {
            assert_true(span_has(&a, s.t[k]) || span_has(&b, s.t[k]));
            assert_true(s.v[k] == val(id, s.t[k]));
            /* a gap is filled by the other replica, nothing skipped at the switch */
            if (k) assert_true(s.t[k] - s.t[k - 1] <= STEP * 3 / 2);
        }
        samples_free(&s);
    }
    assert_int_equal(st.samples_in, 2 * (na + nb));
    assert_int_equal(st.samples_deduplicated, st.samples_in - st.samples_out);
    assert_true(st.samples_deduplicated > 0);
    assert_int_equal(st.chunks_reencoded, st.chunks_in);
    assert_int_equal(st.chunks_copied, 0);
    assert_int_equal(st_block_meta(out)->num_samples, st.samples_out);
    st_block_close(out);

    /* a plain time merge: every sample of both */
    out = merge_ok(src, 2, false, NULL, &st);
    const span_t *both[2] = {&a, &b};
    for (int id = 1; id <= 2; id++) expect_series(out, id, both, 2, 1, 0);
    assert_int_equal(st.samples_out, 2 * (na + nb));
    assert_int_equal(st.samples_deduplicated, 0);
    /* re-cut to at most 120 samples a chunk */
    assert_true(st.chunks_out >= (st.samples_out + ST_SAMPLES_PER_CHUNK - 1) / ST_SAMPLES_PER_CHUNK);
    st_block_close(out);
    close_all(src, 2);
    free(parent);
}

/* Does sp hold a sample less than STEP away from t? */
static bool near(const span_t *sp, int64_t t) {
    for (int64_t u = t - STEP + 1; u < t + STEP; u++)
        if (span_has(sp, u)) return true;
    return false;
}

/* Replica dedup of two replicas 7 s apart, each with a gap where the other
 * has data, b starting first (the primary) and a ending last: one series
 * without gaps, of original samples only, never thicker than a replica,
 * with every sample of a replica where the other has none. */
static void test_gap_fill(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0 + 5 * MIN, T0 + H2, 0, T0 + 30 * MIN, T0 + 40 * MIN};
    span_t b = {T0, T0 + H2 - 5 * MIN, 7000, T0 + 70 * MIN, T0 + 85 * MIN};
    int ids[2] = {1, 2};
    st_block_t *src[2] = {write_block(parent, ids, 2, &a), write_block(parent, ids, 2, &b)};
    for (int order = 0; order < 2; order++) {
        st_block_t *in[2] = {src[order], src[1 - order]};
        st_compact_stats_t st;
        st_block_t *out = merge_ok(in, 2, true, NULL, &st);
        for (int id = 1; id <= 2; id++) {
            samples_t s = read_series(out, id);
            assert_int_equal(s.t[0], T0 + 7000);      /* b's first */
            assert_int_equal(s.t[s.n - 1], T0 + H2 - STEP); /* a's last */
            for (size_t k = 0; k < s.n; k++) {
                assert_true(span_has(&a, s.t[k]) || span_has(&b, s.t[k]));
                assert_true(s.v[k] == val(id, s.t[k]));
                if (k) {
                    assert_true(s.t[k] - s.t[k - 1] <= STEP * 3 / 2);
                    assert_true(2 * (s.t[k] - s.t[k - 1]) >= STEP);
                }
            }
            /* where one replica is alone, all of it */
            size_t k = 0, alone = 0;
            for (int64_t t = T0; t < T0 + H2; t += 1000) {
                bool want = (span_has(&a, t) && !near(&b, t)) || (span_has(&b, t) && !near(&a, t));
                while (k < s.n && s.t[k] < t) k++;
                if (want) {
                    assert_true(k < s.n && s.t[k] == t);
                    alone++;
                }
            }
            /* b before a starts and in a's gap, a in b's gap and after b
             * ends: 136 samples */
            assert_true(alone >= 130);
            samples_free(&s);
        }
        assert_int_equal(st.samples_deduplicated, st.samples_in - st.samples_out);
        st_block_close(out);
    }
    close_all(src, 2);
    free(parent);
}

/* Replicas with the same timestamps and gaps in different places: the
 * gap-free original, each sample once. */
static void test_gap_fill_same_times(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0, T0 + H2, 0, T0 + 30 * MIN, T0 + 40 * MIN}, b = {T0, T0 + H2, 0, T0 + 70 * MIN, T0 + 81 * MIN};
    span_t full = {T0, T0 + H2, 0, 0, 0};
    int ids[3] = {1, 2, 3};
    st_block_t *src[2] = {write_block(parent, ids, 3, &a), write_block(parent, ids, 3, &b)};
    st_compact_stats_t st;
    st_block_t *out = merge_ok(src, 2, true, NULL, &st);
    const span_t *one[1] = {&full};
    for (int id = 1; id <= 3; id++) expect_series(out, id, one, 1, 1, 0);
    assert_int_equal(st.samples_out, 3 * (H2 / STEP));
    assert_int_equal(st.samples_deduplicated, st.samples_in - st.samples_out);
    st_block_close(out);
    close_all(src, 2);
    free(parent);
}

/* increase() over samples: the deltas, a drop counted as a reset. */
static double increase(const double *v, size_t n) {
    double inc = 0;
    for (size_t k = 1; k < n; k++) inc += v[k] >= v[k - 1] ? v[k] - v[k - 1] : v[k];
    return inc;
}

/* A counter with a reset, one replica missing it: the increase over the
 * whole range is the raw counter's (within 1 %). */
static void test_gap_fill_counter(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0, T0 + H2, 0, T0 + 55 * MIN, T0 + 65 * MIN}, b = {T0, T0 + H2, 7000, T0 + 90 * MIN, T0 + 100 * MIN};
    int ids[1] = {COUNTER};
    st_block_t *src[2] = {write_block(parent, ids, 1, &a), write_block(parent, ids, 1, &b)};
    st_block_t *out = merge_ok(src, 2, true, NULL, NULL);
    samples_t s = read_series(out, COUNTER);
    assert_true(s.n > 0);
    /* the raw counter every second over the output's range */
    size_t nraw = (size_t)((s.t[s.n - 1] - s.t[0]) / 1000 + 1);
    double *rv = malloc(nraw * sizeof *rv);
    for (size_t k = 0; k < nraw; k++) rv[k] = val(COUNTER, s.t[0] + (int64_t)k * 1000);
    double want = increase(rv, nraw), got = increase(s.v, s.n);
    assert_true(want > 3000);
    if (!(got >= want * 0.99 && got <= want * 1.01)) fprintf(stderr, "increase %g, raw %g\n", got, want);
    assert_true(got >= want * 0.99 && got <= want * 1.01);
    free(rv);
    samples_free(&s);
    st_block_close(out);
    close_all(src, 2);
    free(parent);
}

/* Time merge of partly overlapping blocks whose chunks are cut at
 * different places: equal timestamps kept once. */
static void test_time_merge_overlap(void **state) {
    (void)state;
    char *parent = fresh("src");
    const int64_t shift = 30 * STEP;
    span_t a = {T0, T0 + H2, 0, 0, 0}, b = {T0 + H2 / 2 + shift, T0 + H2 + H2 / 2, 0, 0, 0};
    int ids[3] = {4, 5, 6};
    st_block_t *src[2] = {write_block(parent, ids, 3, &a), write_block(parent, ids + 1, 2, &b)};
    st_compact_stats_t st;
    st_block_t *out = merge_ok(src, 2, false, NULL, &st);
    const span_t *both[2] = {&a, &b}, *one[1] = {&a};
    expect_series(out, 4, one, 1, 1, 0);
    expect_series(out, 5, both, 2, 1, 0);
    expect_series(out, 6, both, 2, 1, 0);
    assert_int_equal(st.samples_deduplicated, 2 * ((H2 / 2 - shift) / STEP));
    assert_true(st.chunks_copied > 0 && st.chunks_reencoded > 0);
    st_block_close(out);
    close_all(src, 2);
    free(parent);
}

/* The same block uploaded twice (two ULIDs): its samples once, its chunks
 * copied as they are. */
static void test_reupload(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0, T0 + H2, 0, 0, 0};
    int ids[3] = {1, 2, 3};
    st_block_t *src[2] = {write_block(parent, ids, 3, &a), write_block(parent, ids, 3, &a)};
    assert_int_not_equal(st_ulid_cmp(&st_block_meta(src[0])->ulid, &st_block_meta(src[1])->ulid), 0);
    for (int penalty = 0; penalty < 2; penalty++) {
        st_compact_stats_t st;
        st_block_t *out = merge_ok(src, 2, penalty, NULL, &st);
        const span_t *one[1] = {&a};
        for (int i = 1; i <= 3; i++) expect_series(out, i, one, 1, 1, 0);
        const st_meta_t *m = st_block_meta(src[0]);
        assert_int_equal(st.samples_out, m->num_samples);
        assert_int_equal(st.samples_deduplicated, m->num_samples);
        assert_int_equal(st.chunks_copied, m->num_chunks);
        assert_int_equal(st.chunks_out, m->num_chunks);
        assert_int_equal(st_block_meta(out)->nsources, 2);
        st_block_close(out);
    }
    close_all(src, 2);
    free(parent);
}

static uint32_t series_id(const st_block_t *b, int id) {
    char v[16];
    snprintf(v, sizeof v, "%03d", id);
    st_postings_t p;
    assert_int_equal(st_index_postings(st_block_index(b), "i", v, &p), 0);
    assert_int_equal(p.n, 1);
    uint32_t r = p.ids[0];
    st_postings_free(&p);
    return r;
}

/* Reopen blk with these tombstones. */
static st_block_t *with_tombstones(st_block_t *blk, st_tombstone_t *v, size_t n) {
    char *dir = strdup(st_block_dir(blk));
    st_tombstones_t t = {v, n};
    assert_int_equal(st_tombstones_write(&t, dir), 0);
    st_block_close(blk);
    assert_int_equal(st_block_open(&blk, dir), 0);
    free(dir);
    return blk;
}

static void test_tombstones(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0, T0 + H2, 0, 0, 0}, b = {T0 + H2, T0 + 2 * H2, 0, 0, 0};
    int ids[3] = {1, 2, 3};
    st_block_t *src[2] = {write_block(parent, ids, 3, &a), write_block(parent, ids, 3, &b)};
    const int64_t d0 = T0 + 10 * MIN + 1, d1 = T0 + 20 * MIN + 7;
    st_tombstone_t tv[2] = {{series_id(src[0], 1), d0, d1}, {series_id(src[0], 2), INT64_MIN, INT64_MAX}};
    src[0] = with_tombstones(src[0], tv, 2);
    st_compact_stats_t st;
    st_block_t *out = merge_ok(src, 2, true, NULL, &st);
    const span_t *both[2] = {&a, &b}, *second[1] = {&b};
    expect_series(out, 1, both, 2, d0, d1);
    expect_series(out, 2, second, 1, 1, 0);
    expect_series(out, 3, both, 2, 1, 0);
    assert_true(st.chunks_reencoded > 0);
    assert_int_equal(st.samples_deduplicated, 0);
    assert_int_equal(st.samples_out, st_block_meta(out)->num_samples);
    assert_int_equal(st_block_meta(out)->num_tombstones, 0);
    st_block_close(out);

    /* everything deleted: no block */
    st_tombstone_t all[3] = {{series_id(src[1], 1), INT64_MIN, INT64_MAX},
                             {series_id(src[1], 2), INT64_MIN, INT64_MAX},
                             {series_id(src[1], 3), INT64_MIN, INT64_MAX}};
    src[1] = with_tombstones(src[1], all, 3);
    char *outp = fresh("out");
    st_compact_opts_t o = {.penalty_dedup = true};
    char *dir = (char *)"x";
    assert_int_equal(st_compact_merge(&src[1], 1, &o, outp, &dir, NULL), 0);
    assert_null(dir);
    DIR *d = opendir(outp);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));) entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);
    free(outp);
    close_all(src, 2);
    free(parent);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void test_corrupt_chunk(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0, T0 + H2, 0, 0, 0}, b = {T0 + H2, T0 + 2 * H2, 0, 0, 0};
    int ids[3] = {1, 2, 3};
    st_block_t *src[2] = {write_block(parent, ids, 3, &a), write_block(parent, ids, 3, &b)};
    /* flip a byte inside a chunk of the second block's segment file */
    char *dir = strdup(st_block_dir(src[1]));
    st_block_close(src[1]);
    char path[4200];
    snprintf(path, sizeof path, "%s/chunks/000001", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, 300), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, 300), 1);
    close(fd);
    assert_int_equal(st_block_open(&src[1], dir), 0);

    char *outp = fresh("out");
    st_compact_opts_t o = {.penalty_dedup = true};
    char *out = NULL;
    int rc = st_compact_merge(src, 2, &o, outp, &out, NULL);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), dir));
    assert_null(out);
    assert_int_equal(count_entries(outp), 0);
    free(outp);
    free(dir);
    close_all(src, 2);
    free(parent);
}

/* A block with one AggrChunk [mint, maxt] (windows of 5 min) of series
 * m{i="000"}; the meta range ends at block_end. */
static st_block_t *write_aggr_block(const char *parent, int64_t mint, int64_t maxt, int64_t block_end, double salt) {
    st_block_writer_t *w;
    assert_int_equal(st_block_writer_open(&w, parent, NULL), 0);
    const char *syms[] = {"000", "__name__", "even", "i", "m", "parity"};
    for (size_t i = 0; i < 6; i++) assert_int_equal(st_block_writer_add_symbol(w, syms[i], strlen(syms[i])), 0);
    st_xor_appender_t app[ST_AGGR_N];
    st_store_chunk_t c;
    memset(&c, 0, sizeof c);
    uint64_t n = 0;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        assert_int_equal(st_xor_appender_init(&app[a]), 0);
        n = 0;
        for (int64_t t = mint; t <= maxt; t += 5 * MIN, n++)
            assert_int_equal(st_xor_append(&app[a], t, salt + (double)a + (double)n), 0);
        c.data[a] = st_xor_bytes(&app[a], &c.len[a]);
    }
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    assert_int_equal(st_aggr_chunk_encode(&c, &b), 0);
    st_chunk_t ch = {mint, maxt, ST_CHUNK_ENC_AGGR, b.p, b.len};
    st_labels_t l = series_labels(0);
    assert_int_equal(st_block_writer_add_series(w, &l, &ch, 1, n), 0);
    st_labels_free(&l);
    st_block_writer_set_range(w, mint, block_end);
    char *dir;
    assert_int_equal(st_block_writer_commit(w, NULL, &dir), 0);
    st_encbuf_free(&b);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) st_xor_appender_free(&app[a]);
    st_block_t *blk;
    assert_int_equal(st_block_open(&blk, dir), 0);
    free(dir);
    return blk;
}

static void expect_fail(st_block_t **src, size_t n, int want, const char *const *in_detail, size_t nd) {
    char *outp = fresh("out");
    st_compact_opts_t o = {.penalty_dedup = true};
    char *dir = NULL;
    int rc = st_compact_merge(src, n, &o, outp, &dir, NULL);
    assert_int_equal(rc, want);
    for (size_t i = 0; i < nd; i++) {
        if (!strstr(st_errdetail(rc), in_detail[i])) fprintf(stderr, "detail: %s\n", st_errdetail(rc));
        assert_non_null(strstr(st_errdetail(rc), in_detail[i]));
    }
    assert_null(dir);
    assert_int_equal(count_entries(outp), 0);
    free(outp);
}

static void test_aggr_chunks(void **state) {
    (void)state;
    char *parent = fresh("src");
    const int64_t w = 5 * MIN;
    /* consecutive: copied */
    st_block_t *src[4] = {write_aggr_block(parent, T0 + w - 1, T0 + H2 - 1, T0 + H2, 1),
                          write_aggr_block(parent, T0 + H2 + w - 1, T0 + 2 * H2 - 1, T0 + 2 * H2, 2)};
    st_compact_stats_t st;
    st_block_t *out = merge_ok(src, 2, true, NULL, &st);
    assert_int_equal(st.chunks_copied, 2);
    assert_int_equal(st.chunks_out, 2);
    assert_int_equal(st.samples_out, 2 * (H2 / w));
    st_block_close(out);

    /* overlapping AggrChunks with different data: refused, naming both blocks */
    src[2] = write_aggr_block(parent, T0 + H2 / 2 + w - 1, T0 + H2 + H2 / 2 - 1, T0 + H2 + H2 / 2, 3);
    st_block_t *ov[2] = {src[0], src[2]};
    const char *both[] = {st_block_dir(src[0]), st_block_dir(src[2]), "i=\"000\"", "only XOR chunks"};
    expect_fail(ov, 2, ST_EUNSUPPORTED, both, 4);

    /* partly deleted: cannot be rewritten; wholly deleted: dropped */
    st_tombstone_t part = {series_id(src[1], 0), T0 + H2 + 10 * MIN, T0 + H2 + 20 * MIN};
    src[1] = with_tombstones(src[1], &part, 1);
    const char *one[] = {st_block_dir(src[1]), "partly deleted"};
    expect_fail(src, 2, ST_EUNSUPPORTED, one, 2);
    st_tombstone_t whole = {series_id(src[1], 0), T0 + H2, T0 + 2 * H2};
    src[1] = with_tombstones(src[1], &whole, 1);
    out = merge_ok(src, 2, true, NULL, &st);
    assert_int_equal(st.chunks_in, 2);
    assert_int_equal(st.chunks_out, 1);
    assert_int_equal(st.samples_out, H2 / w);
    st_block_close(out);

    /* a chunk reaching past its block's end cannot be trimmed */
    src[3] = write_aggr_block(parent, T0 + 2 * H2 + w - 1, T0 + 3 * H2 - 1, T0 + 3 * H2 - 2 * w, 4);
    const char *past[] = {st_block_dir(src[3]), "outside the block range"};
    expect_fail(&src[3], 1, ST_ECORRUPT, past, 2);
    close_all(src, 4);
    free(parent);
}

static void test_bad_thanos_json(void **state) {
    (void)state;
    char *parent = fresh("src");
    span_t a = {T0, T0 + H2, 0, 0, 0};
    int ids[1] = {1};
    st_block_t *src = write_block(parent, ids, 1, &a);
    char *outp = fresh("out");
    char *dir = NULL;
    st_compact_opts_t o = {.penalty_dedup = true, .thanos_json = "[1]"};
    assert_int_equal(st_compact_merge(&src, 1, &o, outp, &dir, NULL), ST_EINVAL);
    o.thanos_json = "{";
    assert_int_equal(st_compact_merge(&src, 1, &o, outp, &dir, NULL), ST_EINVAL);
    assert_int_equal(count_entries(outp), 0);
    free(outp);
    st_block_close(src);
    free(parent);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive),  cmocka_unit_test(test_replicas),
        cmocka_unit_test(test_gap_fill),     cmocka_unit_test(test_gap_fill_same_times),
        cmocka_unit_test(test_gap_fill_counter),
        cmocka_unit_test(test_time_merge_overlap), cmocka_unit_test(test_reupload),
        cmocka_unit_test(test_tombstones),   cmocka_unit_test(test_corrupt_chunk),
        cmocka_unit_test(test_aggr_chunks),  cmocka_unit_test(test_bad_thanos_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
