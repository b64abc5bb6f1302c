/*
 * Test helpers of the downsample tests: random raw series, decoding of
 * AggrChunks into sample arrays, and the independent checks: what a
 * downsampled series must hold, computed straight from the raw samples
 * (per window count/sum/min/max, the reset-corrected counter, the boundary
 * samples), without the module's batching code.
 */
#ifndef DS_ORACLE_H
#define DS_ORACLE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkenc.h"
#include "strata/downsample.h"
#include "strata/err.h"

#define DS_STALE_BITS 0x7ff0000000000002ULL

typedef struct {
    int64_t t;
    double v;
} ts_t;

static inline double ds_stale(void) {
    union { uint64_t u; double d; } x = {.u = DS_STALE_BITS};
    return x.d;
}

/* ---- random series ---- */

static inline uint64_t ds_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static inline double ds_unit(uint64_t *s) { return (double)(ds_rand(s) >> 11) / 9007199254740992.0; }

enum { DS_COUNTER, DS_GAUGE };

/* n samples from t0: irregular steps (1s..90s), sometimes a gap of 10m..3h,
 * some NaNs and stale markers; counters grow with resets, gauges walk
 * around zero. *out malloc'd. */
static inline ts_t *ds_gen(uint64_t seed, int kind, size_t n, int64_t t0) {
    uint64_t s = seed * 2654435761u + 1;
    ts_t *out = malloc(n * sizeof *out);
    assert_non_null(out);
    int64_t t = t0 + (int64_t)(ds_rand(&s) % 300000);
    double v = kind == DS_COUNTER ? (double)(ds_rand(&s) % 1000) : 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = ds_rand(&s) % 1000;
        if (r < 3) t += 600000 + (int64_t)(ds_rand(&s) % 10200000); /* gap longer than a window */
        else t += 1000 + (int64_t)(ds_rand(&s) % 89000);
        if (kind == DS_COUNTER) {
            if (r >= 3 && r < 8) v = (double)(ds_rand(&s) % 50); /* reset */
            else v += (double)(ds_rand(&s) % 100) + (ds_rand(&s) % 4 == 0 ? 0.25 : 0);
        } else {
            v += ds_unit(&s) * 20 - 10;
        }
        double x = v;
        if (r >= 990 && r < 995) x = NAN;
        else if (r >= 995) x = ds_stale();
        out[i] = (ts_t){t, x};
    }
    return out;
}

/* ---- decoded chunks ---- */

typedef struct {
    int64_t mint, maxt;
    ts_t *s[ST_AGGR_N];
    size_t n[ST_AGGR_N];
    bool present[ST_AGGR_N];
} dchunk_t;

static inline ts_t *ds_xor_samples(const uint8_t *p, size_t len, size_t *n) {
    st_xor_iter_t it;
    assert_int_equal(st_xor_iter_init(&it, p, len), 0);
    int num = st_xor_num_samples(p, len);
    ts_t *s = malloc(((size_t)num + 1) * sizeof *s);
    assert_non_null(s);
    size_t k = 0;
    int rc;
    while ((rc = st_xor_iter_next(&it)) == 1) {
        assert_true(k < (size_t)num);
        st_xor_iter_at(&it, &s[k].t, &s[k].v);
        k++;
    }
    assert_int_equal(rc, 0);
    *n = k;
    return s;
}

static inline void ds_decode(const st_chunk_t *c, dchunk_t *out) {
    memset(out, 0, sizeof *out);
    assert_int_equal(c->encoding, ST_CHUNK_ENC_AGGR);
    st_store_chunk_t sc;
    memset(&sc, 0, sizeof sc);
    assert_int_equal(st_aggr_chunk_decode(c->data, c->len, &sc), 0);
    out->mint = c->mint;
    out->maxt = c->maxt;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        if (!sc.data[a]) continue;
        out->present[a] = true;
        out->s[a] = ds_xor_samples(sc.data[a], sc.len[a], &out->n[a]);
    }
}

static inline void ds_dchunk_free(dchunk_t *c) {
    for (int a = 0; a < ST_AGGR_N; a++) free(c->s[a]);
}

static inline bool ds_close(double a, double b) {
    return a == b || fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)) + 1e-9;
}

/* Raw samples without NaNs (stale or not): what is aggregated. */
static inline ts_t *ds_clean(const ts_t *raw, size_t n, size_t *m) {
    ts_t *r = malloc((n + 1) * sizeof *r);
    assert_non_null(r);
    *m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(raw[i].v)) r[(*m)++] = raw[i];
    return r;
}

static inline int64_t ds_win(int64_t t, int64_t res) { return t / res; } /* t >= 0 here */

/* The checks for chunks downsampled from raw (timestamps >= 0):
 *  - each chunk covers a run of consecutive clean raw samples; together
 *    they cover all of them, in order, and never split a window;
 *  - count/sum/min/max have one sample per window at the window's last
 *    millisecond, the chunk's last window at its last raw sample's time;
 *  - the counter: the chunk's first raw sample, then per window the
 *    running reset-corrected total from that first value, then the last
 *    raw value again at the last timestamp;
 *  - mint/maxt are the first and last window stamps. */
static inline void ds_check_raw(const ts_t *raw, size_t n, int64_t res, const dchunk_t *ch, size_t nch) {
    size_t rn;
    ts_t *r = ds_clean(raw, n, &rn);
    if (!rn) {
        assert_int_equal(nch, 0);
        free(r);
        return;
    }
    size_t pos = 0;
    int64_t prev_win = -1;
    for (size_t k = 0; k < nch; k++) {
        const dchunk_t *c = &ch[k];
        for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) assert_true(c->present[a]);
        size_t m = c->n[ST_AGGR_COUNT];
        assert_true(m >= 1);
        for (int a = ST_AGGR_SUM; a <= ST_AGGR_MAX; a++) assert_int_equal(c->n[a], m);
        assert_int_equal(c->n[ST_AGGR_COUNTER], m + 2);
        assert_true(pos < rn);
        const ts_t *ctr = c->s[ST_AGGR_COUNTER];
        assert_int_equal(ctr[0].t, r[pos].t);
        assert_true(ctr[0].v == r[pos].v);
        int64_t wlast = c->s[ST_AGGR_COUNT][m - 1].t;
        size_t end = pos;
        while (end < rn && r[end].t <= wlast) end++;
        assert_true(end > pos);
        assert_int_equal(r[end - 1].t, wlast);
        assert_int_equal(ctr[m + 1].t, wlast);
        assert_true(ctr[m + 1].v == r[end - 1].v);
        assert_int_equal(c->mint, c->s[ST_AGGR_COUNT][0].t);
        assert_int_equal(c->maxt, wlast);
        assert_true(ds_win(r[pos].t, res) > prev_win);
        double total = r[pos].v;
        size_t g = 0;
        for (size_t x = pos; x < end;) {
            int64_t w = ds_win(r[x].t, res);
            double cnt = 0, sum = 0, mn = r[x].v, mx = r[x].v;
            size_t y = x;
            for (; y < end && ds_win(r[y].t, res) == w; y++) {
                cnt++;
                sum += r[y].v;
                if (r[y].v < mn) mn = r[y].v;
                if (r[y].v > mx) mx = r[y].v;
                if (y > pos) total += r[y].v >= r[y - 1].v ? r[y].v - r[y - 1].v : r[y].v;
            }
            assert_true(g < m);
            int64_t stamp = y == end ? r[end - 1].t : w * res + res - 1;
            for (int a = ST_AGGR_COUNT; a <= ST_AGGR_MAX; a++) assert_int_equal(c->s[a][g].t, stamp);
            assert_int_equal(ctr[g + 1].t, stamp);
            assert_true(c->s[ST_AGGR_COUNT][g].v == cnt);
            assert_true(ds_close(c->s[ST_AGGR_SUM][g].v, sum));
            assert_true(c->s[ST_AGGR_MIN][g].v == mn);
            assert_true(c->s[ST_AGGR_MAX][g].v == mx);
            assert_true(ds_close(ctr[g + 1].v, total));
            prev_win = w;
            g++;
            x = y;
        }
        assert_int_equal(g, m);
        pos = end;
    }
    assert_int_equal(pos, rn);
    free(r);
}

/* Per-window stats of chunks at resolution res, merging the samples that
 * fall into the same window (a 1h window may be split between two chunks
 * made from 5m data): out arrays indexed by window number - first. */
typedef struct {
    int64_t first;
    size_t n;
    double *cnt, *sum, *min, *max;
} ds_grid_t;

static inline void ds_grid_init(ds_grid_t *g, int64_t first_t, int64_t last_t, int64_t res) {
    g->first = first_t / res;
    g->n = (size_t)(last_t / res - g->first + 1);
    g->cnt = calloc(g->n, sizeof(double));
    g->sum = calloc(g->n, sizeof(double));
    g->min = malloc(g->n * sizeof(double));
    g->max = malloc(g->n * sizeof(double));
    assert_true(g->cnt && g->sum && g->min && g->max);
    for (size_t i = 0; i < g->n; i++) {
        g->min[i] = INFINITY;
        g->max[i] = -INFINITY;
    }
}

static inline void ds_grid_free(ds_grid_t *g) {
    free(g->cnt);
    free(g->sum);
    free(g->min);
    free(g->max);
}

static inline size_t ds_grid_slot(const ds_grid_t *g, int64_t t, int64_t res) {
    int64_t w = t / res - g->first;
    assert_true(w >= 0 && (size_t)w < g->n);
    return (size_t)w;
}

/* Raw clean samples into the grid. */
static inline void ds_grid_raw(ds_grid_t *g, const ts_t *r, size_t n, int64_t res) {
    for (size_t i = 0; i < n; i++) {
        if (isnan(r[i].v)) continue;
        size_t s = ds_grid_slot(g, r[i].t, res);
        g->cnt[s]++;
        g->sum[s] += r[i].v;
        if (r[i].v < g->min[s]) g->min[s] = r[i].v;
        if (r[i].v > g->max[s]) g->max[s] = r[i].v;
    }
}

/* Downsampled chunks into the grid. */
static inline void ds_grid_chunks(ds_grid_t *g, const dchunk_t *ch, size_t nch, int64_t res) {
    for (size_t k = 0; k < nch; k++) {
        const dchunk_t *c = &ch[k];
        for (size_t i = 0; i < c->n[ST_AGGR_COUNT]; i++) {
            size_t s = ds_grid_slot(g, c->s[ST_AGGR_COUNT][i].t, res);
            g->cnt[s] += c->s[ST_AGGR_COUNT][i].v;
            g->sum[s] += c->s[ST_AGGR_SUM][i].v;
            if (c->s[ST_AGGR_MIN][i].v < g->min[s]) g->min[s] = c->s[ST_AGGR_MIN][i].v;
            if (c->s[ST_AGGR_MAX][i].v > g->max[s]) g->max[s] = c->s[ST_AGGR_MAX][i].v;
        }
    }
}

static inline void ds_grid_equal(const ds_grid_t *a, const ds_grid_t *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_true(a->cnt[i] == b->cnt[i]);
        assert_true(ds_close(a->sum[i], b->sum[i]));
        assert_true(a->min[i] == b->min[i]);
        assert_true(a->max[i] == b->max[i]);
    }
}

/* The counter read back (st_aggr_iter COUNTER) must be, at each of its
 * timestamps, the raw series' reset-corrected counter at its latest sample
 * not after that time (starting from the first raw value), and never
 * decrease. */
static inline void ds_check_counter(const ts_t *raw, size_t n, const st_store_chunk_t *chunks, size_t nch) {
    size_t rn;
    ts_t *r = ds_clean(raw, n, &rn);
    double *R = malloc((rn + 1) * sizeof *R);
    assert_non_null(R);
    for (size_t i = 0; i < rn; i++)
        R[i] = i == 0 ? r[0].v : R[i - 1] + (r[i].v >= r[i - 1].v ? r[i].v - r[i - 1].v : r[i].v);
    st_aggr_iter_t *it;
    assert_int_equal(st_aggr_iter_new(&it, chunks, nch, ST_AGGR_READ_COUNTER, INT64_MIN, INT64_MAX), 0);
    int64_t t, pt = INT64_MIN;
    double v, pv = -INFINITY;
    size_t x = 0, got = 0;
    int rc;
    while ((rc = st_aggr_iter_next(it, &t, &v)) == 1) {
        assert_true(t > pt);
        assert_true(v >= pv);
        while (x + 1 < rn && r[x + 1].t <= t) x++;
        assert_true(r[x].t <= t);
        assert_true(ds_close(v, R[x]));
        pt = t;
        pv = v;
        got++;
    }
    assert_int_equal(rc, 0);
    assert_true(got > 0 || rn == 0);
    if (rn) assert_int_equal(pt, r[rn - 1].t); /* ends at the last raw sample */
    st_aggr_iter_free(it);
    free(R);
    free(r);
}

#endif
