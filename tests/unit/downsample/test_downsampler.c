/* Downsampling one series and reading it back: Thanos's own worked
 * examples (pkg/compact/downsample tests, timestamps scaled from res 100
 * to 5m), chunk sizing worked out by hand from Thanos's rule, random
 * series against the independent checks of ds_oracle.h, 5m -> 1h against
 * raw -> 1h, and st_aggr_iter. */
#include "ds_oracle.h"

#include "../../../shared/src/downsample/downsample_int.h"

#define T0 ((int64_t)1700000000000 - (int64_t)1700000000000 % ST_RES_1H) /* an hour boundary */

/* ---- helpers ---- */

typedef struct {
    dchunk_t *d;
    st_store_chunk_t *sc;
    size_t n;
    uint64_t nsamples;
    uint8_t *bytes; /* copies of the payloads the store chunks point into */
} series_out_t;

static void take_output(st_downsampler_t *d, series_out_t *o) {
    const st_chunk_t *cs;
    assert_int_equal(st_downsampler_finish(d, &cs, &o->n, &o->nsamples), 0);
    size_t total = 0;
    for (size_t i = 0; i < o->n; i++) total += cs[i].len;
    o->bytes = malloc(total + 1);
    o->d = calloc(o->n + 1, sizeof *o->d);
    o->sc = calloc(o->n + 1, sizeof *o->sc);
    assert_true(o->bytes && o->d && o->sc);
    size_t off = 0;
    uint64_t windows = 0;
    for (size_t i = 0; i < o->n; i++) {
        ds_decode(&cs[i], &o->d[i]);
        windows += o->d[i].n[ST_AGGR_COUNT];
        memcpy(o->bytes + off, cs[i].data, cs[i].len);
        o->sc[i].mint = cs[i].mint;
        o->sc[i].maxt = cs[i].maxt;
        assert_int_equal(st_aggr_chunk_decode(o->bytes + off, cs[i].len, &o->sc[i]), 0);
        off += cs[i].len;
        if (i) assert_true(cs[i].mint > cs[i - 1].maxt);
    }
    assert_int_equal(o->nsamples, windows);
}

static void out_free(series_out_t *o) {
    for (size_t i = 0; i < o->n; i++) ds_dchunk_free(&o->d[i]);
    free(o->d);
    free(o->sc);
    free(o->bytes);
    memset(o, 0, sizeof *o);
}

static void downsample_raw(int64_t res, const ts_t *raw, size_t n, series_out_t *o) {
    st_downsampler_t *d;
    assert_int_equal(st_downsampler_new(&d, res), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(st_downsampler_add_raw(d, raw[i].t, raw[i].v), 0);
    take_output(d, o);
    st_downsampler_free(d);
}

static void downsample_aggr(const series_out_t *in, series_out_t *o) {
    st_downsampler_t *d;
    assert_int_equal(st_downsampler_new(&d, ST_RES_1H), 0);
    for (size_t i = 0; i < in->n; i++) assert_int_equal(st_downsampler_add_aggr(d, &in->sc[i]), 0);
    take_output(d, o);
    st_downsampler_free(d);
}

static void expect_samples(const ts_t *got, size_t n, const ts_t *want, size_t wn) {
    assert_int_equal(n, wn);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i].t, want[i].t);
        assert_true(got[i].v == want[i].v);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* Thanos's fixtures at resolution 100, scaled x3000 to 5m: a raw time
 * t -> 3000 t, a window end w -> 3000 (w + 1) - 1. */
#define R(t) ((int64_t)(t) * 3000)
#define W(w) (((int64_t)(w) + 1) * 3000 - 1)

static void build_xor(st_xor_appender_t *a, const ts_t *s, size_t n) {
    assert_int_equal(st_xor_appender_init(a), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(st_xor_append_repeat(a, s[i].t, s[i].v), 0);
}

/* ---- Thanos's examples ---- */

static void test_thanos_single_chunk(void **state) {
    (void)state;
    const ts_t raw[] = {{R(20), 1}, {R(40), 2}, {R(60), 3}, {R(80), 1}, {R(100), 2}, {R(101), ds_stale()},
                        {R(120), 5}, {R(180), 10}, {R(250), 1}};
    series_out_t o;
    downsample_raw(ST_RES_5M, raw, N(raw), &o);
    assert_int_equal(o.n, 1);
    const ts_t cnt[] = {{W(99), 4}, {W(199), 3}, {R(250), 1}}, sum[] = {{W(99), 7}, {W(199), 17}, {R(250), 1}},
               mn[] = {{W(99), 1}, {W(199), 2}, {R(250), 1}}, mx[] = {{W(99), 3}, {W(199), 10}, {R(250), 1}},
               ctr[] = {{R(20), 1}, {W(99), 4}, {W(199), 13}, {R(250), 14}, {R(250), 1}};
    expect_samples(o.d[0].s[ST_AGGR_COUNT], o.d[0].n[ST_AGGR_COUNT], cnt, N(cnt));
    expect_samples(o.d[0].s[ST_AGGR_SUM], o.d[0].n[ST_AGGR_SUM], sum, N(sum));
    expect_samples(o.d[0].s[ST_AGGR_MIN], o.d[0].n[ST_AGGR_MIN], mn, N(mn));
    expect_samples(o.d[0].s[ST_AGGR_MAX], o.d[0].n[ST_AGGR_MAX], mx, N(mx));
    expect_samples(o.d[0].s[ST_AGGR_COUNTER], o.d[0].n[ST_AGGR_COUNTER], ctr, N(ctr));
    assert_int_equal(o.d[0].mint, W(99));
    assert_int_equal(o.d[0].maxt, R(250));
    assert_int_equal(o.nsamples, 3);
    out_free(&o);
}

static void test_thanos_three_chunks(void **state) {
    (void)state;
    const ts_t raw[] = {{R(20), 1},   {R(40), 2},   {R(60), 3},   {R(80), 1},  {R(100), 2},  {R(101), ds_stale()},
                        {R(120), 5},  {R(180), 10}, {R(250), 2},  {R(260), 1}, {R(300), 10}, {R(340), 15},
                        {R(380), 25}, {R(420), 35}, {R(460), ds_stale()}, {R(500), 10}, {R(540), 3}};
    series_out_t o;
    downsample_raw(ST_RES_5M, raw, N(raw), &o);
    assert_int_equal(o.n, 1);
    const ts_t cnt[] = {{W(99), 4}, {W(199), 3}, {W(299), 2}, {W(399), 3}, {W(499), 1}, {R(540), 2}},
               sum[] = {{W(99), 7}, {W(199), 17}, {W(299), 3}, {W(399), 50}, {W(499), 35}, {R(540), 13}},
               mn[] = {{W(99), 1}, {W(199), 2}, {W(299), 1}, {W(399), 10}, {W(499), 35}, {R(540), 3}},
               mx[] = {{W(99), 3}, {W(199), 10}, {W(299), 2}, {W(399), 25}, {W(499), 35}, {R(540), 10}},
               ctr[] = {{R(20), 1},   {W(99), 4},   {W(199), 13}, {W(299), 16},
                        {W(399), 40}, {W(499), 50}, {R(540), 63}, {R(540), 3}};
    expect_samples(o.d[0].s[ST_AGGR_COUNT], o.d[0].n[ST_AGGR_COUNT], cnt, N(cnt));
    expect_samples(o.d[0].s[ST_AGGR_SUM], o.d[0].n[ST_AGGR_SUM], sum, N(sum));
    expect_samples(o.d[0].s[ST_AGGR_MIN], o.d[0].n[ST_AGGR_MIN], mn, N(mn));
    expect_samples(o.d[0].s[ST_AGGR_MAX], o.d[0].n[ST_AGGR_MAX], mx, N(mx));
    expect_samples(o.d[0].s[ST_AGGR_COUNTER], o.d[0].n[ST_AGGR_COUNTER], ctr, N(ctr));
    out_free(&o);
}

static void test_thanos_nan_only_start(void **state) {
    (void)state;
    const ts_t raw[] = {{R(20), NAN},  {R(40), NAN},  {R(60), NAN},  {R(80), NAN},  {R(100), NAN},
                        {R(101), ds_stale()}, {R(120), NAN}, {R(180), NAN}, {R(250), NAN}, {R(260), 1},
                        {R(300), 10},  {R(340), 15},  {R(380), 25},  {R(420), 35},  {R(460), ds_stale()},
                        {R(500), 10},  {R(540), 3}};
    series_out_t o;
    downsample_raw(ST_RES_5M, raw, N(raw), &o);
    assert_int_equal(o.n, 1);
    const ts_t cnt[] = {{W(299), 1}, {W(399), 3}, {W(499), 1}, {R(540), 2}},
               sum[] = {{W(299), 1}, {W(399), 50}, {W(499), 35}, {R(540), 13}},
               ctr[] = {{R(260), 1}, {W(299), 1}, {W(399), 25}, {W(499), 35}, {R(540), 48}, {R(540), 3}};
    expect_samples(o.d[0].s[ST_AGGR_COUNT], o.d[0].n[ST_AGGR_COUNT], cnt, N(cnt));
    expect_samples(o.d[0].s[ST_AGGR_SUM], o.d[0].n[ST_AGGR_SUM], sum, N(sum));
    expect_samples(o.d[0].s[ST_AGGR_COUNTER], o.d[0].n[ST_AGGR_COUNTER], ctr, N(ctr));
    out_free(&o);
}

/* Thanos's "realistic ResLevel1 (5m) downsampled chunks with counter
 * resets" -> 1h. */
static void test_thanos_5m_to_1h(void **state) {
    (void)state;
    const int64_t ts[] = {1587690299999, 1587690599999, 1587690899999, 1587691199999, 1587691499999, 1587691799999,
                          1587692099999, 1587692399999, 1587692699999, 1587692999999, 1587693299999, 1587693590791};
    const double cnt[] = {20, 20, 20, 20, 20, 20, 20, 20, 16, 20, 20, 20};
    const double sum[] = {9.276972e+06, 9.359861e+06, 9.447457e+06, 9.542732e+06, 9.630379e+06, 9.715631e+06,
                          9.799808e+06, 9.888117e+06, 2.98928e+06,  81592,        163711,       255746};
    const double mn[] = {461968, 466070, 470131, 474913, 479625, 483709, 488036, 492223, 75, 2261, 6210, 10464};
    const double mx[] = {465870, 469951, 474726, 479368, 483566, 487787, 492065, 496245, 496544, 6010, 10242, 14956};
    const ts_t ctr[] = {{1587690005791, 461968}, {1587690299999, 465870}, {1587690599999, 469951},
                        {1587690899999, 474726}, {1587691199999, 479368}, {1587691499999, 483566},
                        {1587691799999, 487787}, {1587692099999, 492065}, {1587692399999, 496245},
                        {1587692699999, 498647}, {1587692999999, 502554}, {1587693299999, 506786},
                        {1587693590791, 511500}, {1587693590791, 14956}};
    const double *vals[] = {NULL, cnt, sum, mn, mx};
    st_xor_appender_t app[ST_AGGR_N];
    st_store_chunk_t c;
    memset(&c, 0, sizeof c);
    c.mint = ts[0];
    c.maxt = ts[11];
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_MAX; a++) {
        ts_t s[12];
        for (int i = 0; i < 12; i++) s[i] = (ts_t){ts[i], vals[a][i]};
        build_xor(&app[a], s, 12);
        c.data[a] = st_xor_bytes(&app[a], &c.len[a]);
    }
    build_xor(&app[ST_AGGR_COUNTER], ctr, N(ctr));
    c.data[ST_AGGR_COUNTER] = st_xor_bytes(&app[ST_AGGR_COUNTER], &c.len[ST_AGGR_COUNTER]);
    series_out_t in = {.sc = &c, .n = 1}, o;
    downsample_aggr(&in, &o);
    assert_int_equal(o.n, 1);
    const int64_t last = 1587693590791;
    const ts_t w_cnt[] = {{last, 236}}, w_sum[] = {{last, 8.0151286e+07}}, w_min[] = {{last, 75}},
               w_max[] = {{last, 496544}}, w_ctr[] = {{1587690005791, 461968}, {last, 511500}, {last, 14956}};
    expect_samples(o.d[0].s[ST_AGGR_COUNT], o.d[0].n[ST_AGGR_COUNT], w_cnt, 1);
    expect_samples(o.d[0].s[ST_AGGR_SUM], o.d[0].n[ST_AGGR_SUM], w_sum, 1);
    expect_samples(o.d[0].s[ST_AGGR_MIN], o.d[0].n[ST_AGGR_MIN], w_min, 1);
    expect_samples(o.d[0].s[ST_AGGR_MAX], o.d[0].n[ST_AGGR_MAX], w_max, 1);
    expect_samples(o.d[0].s[ST_AGGR_COUNTER], o.d[0].n[ST_AGGR_COUNTER], w_ctr, N(w_ctr));
    out_free(&o);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) st_xor_appender_free(&app[a]);
}

/* Thanos's ApplyCounterResetsIterator example "series with stale marker",
 * read through st_aggr_iter. */
static void test_thanos_counter_resets(void **state) {
    (void)state;
    const ts_t c0[] = {{100, 10}, {200, 20}, {300, 10}, {400, 20}, {400, 5}},
               c1[] = {{500, 10}, {600, 20}, {700, 30}, {800, 40}, {800, 10}},
               c2[] = {{900, 5}, {1000, 10}, {1100, 15}}, c3[] = {{1200, 20}, {1250, ds_stale()}, {1300, 40}},
               c4[] = {{1400, 30}, {1500, 30}, {1600, 50}};
    const ts_t *in[] = {c0, c1, c2, c3, c4};
    const size_t nin[] = {N(c0), N(c1), N(c2), N(c3), N(c4)};
    st_xor_appender_t app[5];
    st_store_chunk_t sc[5];
    memset(sc, 0, sizeof sc);
    for (int i = 0; i < 5; i++) {
        build_xor(&app[i], in[i], nin[i]);
        sc[i].data[ST_AGGR_COUNTER] = st_xor_bytes(&app[i], &sc[i].len[ST_AGGR_COUNTER]);
    }
    const ts_t want[] = {{100, 10},  {200, 20},  {300, 30},  {400, 40},  {500, 45},   {600, 55},
                         {700, 65},  {800, 75},  {900, 80},  {1000, 85}, {1100, 90},  {1200, 95},
                         {1300, 115}, {1400, 145}, {1500, 145}, {1600, 165}};
    st_aggr_iter_t *it;
    assert_int_equal(st_aggr_iter_new(&it, sc, 5, ST_AGGR_READ_COUNTER, INT64_MIN, INT64_MAX), 0);
    ts_t got[32];
    size_t n = 0;
    int rc;
    while ((rc = st_aggr_iter_next(it, &got[n].t, &got[n].v)) == 1) n++;
    assert_int_equal(rc, 0);
    expect_samples(got, n, want, N(want));
    st_aggr_iter_free(it);
    /* bounded: values stay those of the whole series */
    assert_int_equal(st_aggr_iter_new(&it, sc, 5, ST_AGGR_READ_COUNTER, 450, 1250), 0);
    n = 0;
    while ((rc = st_aggr_iter_next(it, &got[n].t, &got[n].v)) == 1) n++;
    assert_int_equal(rc, 0);
    expect_samples(got, n, want + 4, 8);
    st_aggr_iter_free(it);
    for (int i = 0; i < 5; i++) st_xor_appender_free(&app[i]);
}

/* ---- chunk sizing, worked out by hand ----
 * 40h of 15s samples from an hour boundary: 9600 samples, span 143985000:
 * E = floor(span / 5m) = 479 (full coverage) + 1 = 480 -> 4 chunks (480/4 =
 * 120 <= 140 < 480/3); batches of 9600/4 + 1 = 2401 samples, each grown to
 * the end of its last window: samples [0,2420) [2420,4840) [4840,7260)
 * [7260,9600), i.e. 121, 121, 121 and 117 windows. At 1h (from raw or from
 * those 4 chunks) E = 39 + 1 = 40: one chunk of 40 windows. */
static void test_chunk_sizing(void **state) {
    (void)state;
    size_t n = 9600;
    ts_t *raw = malloc(n * sizeof *raw);
    for (size_t i = 0; i < n; i++) raw[i] = (ts_t){T0 + (int64_t)i * 15000, (double)i};
    series_out_t o5, o1, o1r;
    downsample_raw(ST_RES_5M, raw, n, &o5);
    assert_int_equal(o5.n, 4);
    const size_t wins[] = {121, 121, 121, 117}, first[] = {0, 2420, 4840, 7260};
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(o5.d[k].n[ST_AGGR_COUNT], wins[k]);
        assert_int_equal(o5.d[k].s[ST_AGGR_COUNTER][0].t, raw[first[k]].t);
    }
    ds_check_raw(raw, n, ST_RES_5M, o5.d, o5.n);
    downsample_aggr(&o5, &o1);
    downsample_raw(ST_RES_1H, raw, n, &o1r);
    assert_int_equal(o1.n, 1);
    assert_int_equal(o1r.n, 1);
    assert_int_equal(o1.d[0].n[ST_AGGR_COUNT], 40);
    assert_int_equal(o1r.d[0].n[ST_AGGR_COUNT], 40);
    ds_check_raw(raw, n, ST_RES_1H, o1r.d, o1r.n);
    out_free(&o5);
    out_free(&o1);
    out_free(&o1r);
    free(raw);
}

/* ---- random series ---- */

static const size_t sizes[] = {1, 2, 7, 150, 1200, 5000, 20000};

static void test_random_raw(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 14; seed++) {
        int kind = seed % 2 ? DS_COUNTER : DS_GAUGE;
        size_t n = sizes[seed % N(sizes)];
        ts_t *raw = ds_gen(seed, kind, n, T0);
        const int64_t res[] = {ST_RES_5M, ST_RES_1H};
        for (int r = 0; r < 2; r++) {
            series_out_t o;
            downsample_raw(res[r], raw, n, &o);
            ds_check_raw(raw, n, res[r], o.d, o.n);
            if (kind == DS_COUNTER) ds_check_counter(raw, n, o.sc, o.n);
            out_free(&o);
        }
        free(raw);
    }
}

static void test_5m_to_1h_equals_raw_to_1h(void **state) {
    (void)state;
    for (uint64_t seed = 100; seed < 112; seed++) {
        int kind = seed % 2 ? DS_COUNTER : DS_GAUGE;
        size_t n = 3000 + (size_t)(seed % 5) * 4000;
        ts_t *raw = ds_gen(seed, kind, n, T0);
        series_out_t o5, o1, o1r;
        downsample_raw(ST_RES_5M, raw, n, &o5);
        downsample_aggr(&o5, &o1);
        downsample_raw(ST_RES_1H, raw, n, &o1r);
        ds_grid_t gr, ga, gb;
        ds_grid_init(&gr, raw[0].t, raw[n - 1].t, ST_RES_1H);
        ds_grid_init(&ga, raw[0].t, raw[n - 1].t, ST_RES_1H);
        ds_grid_init(&gb, raw[0].t, raw[n - 1].t, ST_RES_1H);
        ds_grid_raw(&gr, raw, n, ST_RES_1H);
        ds_grid_chunks(&ga, o1.d, o1.n, ST_RES_1H);
        ds_grid_chunks(&gb, o1r.d, o1r.n, ST_RES_1H);
        ds_grid_equal(&gr, &ga);
        ds_grid_equal(&gr, &gb);
        /* 1h windows are stamped inside their hour, ends of windows or
         * last raw samples; the counter sub-chunk frames each chunk */
        for (size_t k = 0; k < o1.n; k++) {
            const dchunk_t *c = &o1.d[k];
            size_t m = c->n[ST_AGGR_COUNT];
            assert_int_equal(c->n[ST_AGGR_COUNTER], m + 2);
            assert_int_equal(c->s[ST_AGGR_COUNTER][m + 1].t, c->s[ST_AGGR_COUNT][m - 1].t);
        }
        if (kind == DS_COUNTER) {
            ds_check_counter(raw, n, o5.sc, o5.n);
            ds_check_counter(raw, n, o1.sc, o1.n);
            ds_check_counter(raw, n, o1r.sc, o1r.n);
        }
        ds_grid_free(&gr);
        ds_grid_free(&ga);
        ds_grid_free(&gb);
        out_free(&o5);
        out_free(&o1);
        out_free(&o1r);
        free(raw);
    }
}

static void test_input_rules(void **state) {
    (void)state;
    st_downsampler_t *d;
    assert_int_equal(st_downsampler_new(&d, 60000), ST_EINVAL);
    assert_int_equal(st_downsampler_new(&d, ST_RES_5M), 0);
    assert_int_equal(st_downsampler_add_raw(d, 1000, 1), 0);
    assert_int_equal(st_downsampler_add_raw(d, 1000, 2), ST_EINVAL);
    assert_int_equal(st_downsampler_add_raw(d, 999, 2), ST_EINVAL);
    st_store_chunk_t c;
    memset(&c, 0, sizeof c);
    assert_int_equal(st_downsampler_add_aggr(d, &c), ST_EINVAL); /* 5m output takes raw only */
    /* only NaNs: nothing */
    st_downsampler_reset(d);
    assert_int_equal(st_downsampler_add_raw(d, 1000, NAN), 0);
    assert_int_equal(st_downsampler_add_raw(d, 2000, ds_stale()), 0);
    const st_chunk_t *cs;
    size_t n;
    uint64_t ns;
    assert_int_equal(st_downsampler_finish(d, &cs, &n, &ns), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ns, 0);
    /* after finish, input starts the next series */
    assert_int_equal(st_downsampler_add_raw(d, 500, 3), 0);
    assert_int_equal(st_downsampler_finish(d, &cs, &n, &ns), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ns, 1);
    st_downsampler_free(d);
    assert_int_equal(st_downsampler_new(&d, ST_RES_1H), 0);
    assert_int_equal(st_downsampler_add_raw(d, 500, 3), 0);
    c.mint = 1;
    c.maxt = 2;
    assert_int_equal(st_downsampler_add_aggr(d, &c), ST_EINVAL); /* mixed */
    st_downsampler_reset(d);
    assert_int_equal(st_downsampler_add_aggr(d, &c), 0);
    assert_int_equal(st_downsampler_add_aggr(d, &c), ST_EINVAL); /* overlapping */
    assert_int_equal(st_downsampler_finish(d, &cs, &n, &ns), 0); /* no aggregate at all: nothing */
    assert_int_equal(n, 0);
    st_downsampler_free(d);
    st_downsampler_free(NULL);
}

/* ---- st_aggr_iter ---- */

static void collect(const st_store_chunk_t *sc, size_t n, st_aggr_read_t what, int64_t mint, int64_t maxt,
                    ts_t **out, size_t *nout) {
    st_aggr_iter_t *it;
    assert_int_equal(st_aggr_iter_new(&it, sc, n, what, mint, maxt), 0);
    size_t cap = 64, k = 0;
    ts_t *s = malloc(cap * sizeof *s);
    int rc;
    int64_t t;
    double v;
    while ((rc = st_aggr_iter_next(it, &t, &v)) == 1) {
        if (k == cap) s = realloc(s, (cap *= 2) * sizeof *s);
        s[k++] = (ts_t){t, v};
    }
    assert_int_equal(rc, 0);
    assert_int_equal(st_aggr_iter_next(it, &t, &v), 0); /* stays done */
    st_aggr_iter_free(it);
    *out = s;
    *nout = k;
}

static void test_aggr_iter(void **state) {
    (void)state;
    size_t n = 12000;
    ts_t *raw = ds_gen(7, DS_COUNTER, n, T0);
    series_out_t o;
    downsample_raw(ST_RES_5M, raw, n, &o);
    assert_true(o.n >= 3);
    /* one aggregate = the sub-chunks one after the other */
    const st_aggr_read_t reads[] = {ST_AGGR_READ_COUNT, ST_AGGR_READ_SUM, ST_AGGR_READ_MIN, ST_AGGR_READ_MAX};
    ts_t *all[5];
    size_t nall[5];
    for (int r = 0; r < 4; r++) {
        collect(o.sc, o.n, reads[r], INT64_MIN, INT64_MAX, &all[r], &nall[r]);
        size_t k = 0;
        for (size_t c = 0; c < o.n; c++)
            for (size_t i = 0; i < o.d[c].n[r + 1]; i++, k++) {
                assert_int_equal(all[r][k].t, o.d[c].s[r + 1][i].t);
                assert_true(all[r][k].v == o.d[c].s[r + 1][i].v);
            }
        assert_int_equal(k, nall[r]);
    }
    /* avg = sum / count */
    collect(o.sc, o.n, ST_AGGR_READ_AVG, INT64_MIN, INT64_MAX, &all[4], &nall[4]);
    assert_int_equal(nall[4], nall[0]);
    for (size_t i = 0; i < nall[4]; i++) {
        assert_int_equal(all[4][i].t, all[0][i].t);
        assert_true(all[4][i].v == all[1][i].v / all[0][i].v);
    }
    /* bounds: the same samples, cut */
    int64_t lo = all[0][nall[0] / 3].t, hi = all[0][2 * nall[0] / 3].t;
    for (int r = 0; r < 4; r++) {
        ts_t *cut;
        size_t ncut, k = 0;
        collect(o.sc, o.n, reads[r], lo, hi, &cut, &ncut);
        for (size_t i = 0; i < nall[r]; i++)
            if (all[r][i].t >= lo && all[r][i].t <= hi) {
                assert_true(k < ncut);
                assert_int_equal(cut[k].t, all[r][i].t);
                assert_true(cut[k].v == all[r][i].v);
                k++;
            }
        assert_int_equal(k, ncut);
        free(cut);
    }
    for (int r = 0; r < 5; r++) free(all[r]);
    ds_check_counter(raw, n, o.sc, o.n);

    /* a chunk without the aggregate but with raw data is read as raw: the
     * counter over [5m chunks of the first half, the raw second half] */
    size_t half = n / 2;
    series_out_t h;
    downsample_raw(ST_RES_5M, raw, half, &h);
    st_xor_appender_t ra;
    assert_int_equal(st_xor_appender_init(&ra), 0);
    for (size_t i = half; i < n; i++)
        if (!isnan(raw[i].v)) assert_int_equal(st_xor_append(&ra, raw[i].t, raw[i].v), 0);
    st_store_chunk_t *mix = calloc(h.n + 1, sizeof *mix);
    memcpy(mix, h.sc, h.n * sizeof *mix);
    mix[h.n].data[ST_AGGR_RAW] = st_xor_bytes(&ra, &mix[h.n].len[ST_AGGR_RAW]);
    ds_check_counter(raw, n, mix, h.n + 1);
    /* a chunk with neither: ST_EINVAL at creation */
    st_aggr_iter_t *it;
    st_store_chunk_t bare;
    memset(&bare, 0, sizeof bare);
    bare.data[ST_AGGR_COUNT] = mix[0].data[ST_AGGR_COUNT];
    bare.len[ST_AGGR_COUNT] = mix[0].len[ST_AGGR_COUNT];
    assert_int_equal(st_aggr_iter_new(&it, &bare, 1, ST_AGGR_READ_SUM, 0, INT64_MAX), ST_EINVAL);
    assert_int_equal(st_aggr_iter_new(&it, &bare, 1, ST_AGGR_READ_AVG, 0, INT64_MAX), ST_EINVAL);
    assert_int_equal(st_aggr_iter_new(&it, &bare, 1, (st_aggr_read_t)42, 0, INT64_MAX), ST_EINVAL);
    /* a corrupt sub-chunk: an error from next, not a crash */
    static const uint8_t bad[] = {0x00, 0x05, 0xff, 0x01};
    for (int w = ST_AGGR_READ_COUNT; w <= ST_AGGR_READ_AVG; w++) {
        st_store_chunk_t b2 = mix[0];
        b2.data[ST_AGGR_SUM] = bad;
        b2.len[ST_AGGR_SUM] = sizeof bad;
        b2.data[ST_AGGR_COUNTER] = bad;
        b2.len[ST_AGGR_COUNTER] = sizeof bad;
        assert_int_equal(st_aggr_iter_new(&it, &b2, 1, (st_aggr_read_t)w, INT64_MIN, INT64_MAX), 0);
        int64_t t;
        double v;
        int rc;
        while ((rc = st_aggr_iter_next(it, &t, &v)) == 1) {
        }
        bool reads_bad = w == ST_AGGR_READ_SUM || w == ST_AGGR_READ_COUNTER || w == ST_AGGR_READ_AVG;
        assert_int_equal(rc, reads_bad ? ST_ECORRUPT : 0);
        st_aggr_iter_free(it);
    }
    st_aggr_iter_free(NULL);
    free(mix);
    st_xor_appender_free(&ra);
    out_free(&h);
    out_free(&o);
    free(raw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thanos_single_chunk),
        cmocka_unit_test(test_thanos_three_chunks),
        cmocka_unit_test(test_thanos_nan_only_start),
        cmocka_unit_test(test_thanos_5m_to_1h),
        cmocka_unit_test(test_thanos_counter_resets),
        cmocka_unit_test(test_chunk_sizing),
        cmocka_unit_test(test_random_raw),
        cmocka_unit_test(test_5m_to_1h_equals_raw_to_1h),
        cmocka_unit_test(test_input_rules),
        cmocka_unit_test(test_aggr_iter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
