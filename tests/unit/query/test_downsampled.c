/* The querier over downsampled data: Thanos's aggregate choice
 * (aggrsFromFunc) and resolution rules (the range / 2 cap, auto = step / 5,
 * the dynamic lookback delta, the HTTP parameter's parsing and texts);
 * then query_select against fake stores on loopback gRPC serving
 * AggrChunks made by the downsampler from known raw samples: what the
 * stores are asked (max_resolution_window, aggregates), a series mixing
 * aggregate and raw chunks read as the aggregate then raw, the counter
 * with its resets applied, and two downsampled replicas deduplicated into
 * one series. Expected values are recomputed here from the raw samples
 * (window maxima, reset-corrected totals), not taken from the reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query.h"
#include "strata/chunkenc.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/grpc.h"
#include "strata/storeapi.h"

#define MIN_MS ((int64_t)60000)
#define HOUR_MS (60 * MIN_MS)
#define MAXCH 16

/* ---- aggregate choice and resolution rules ---- */

static void test_aggrs_from_func(void **state) {
    (void)state;
    static const struct {
        const char *f;
        uint32_t aggrs;
        st_aggr_read_t read;
    } cases[] = {
        {"min", 1u << ST_AGGR_MIN, ST_AGGR_READ_MIN},
        {"min_over_time", 1u << ST_AGGR_MIN, ST_AGGR_READ_MIN},
        {"max", 1u << ST_AGGR_MAX, ST_AGGR_READ_MAX},
        {"max_over_time", 1u << ST_AGGR_MAX, ST_AGGR_READ_MAX},
        {"count", 1u << ST_AGGR_COUNT, ST_AGGR_READ_COUNT},
        {"count_over_time", 1u << ST_AGGR_COUNT, ST_AGGR_READ_COUNT},
        {"count_values", 1u << ST_AGGR_COUNT, ST_AGGR_READ_COUNT},
        {"sum_over_time", 1u << ST_AGGR_SUM, ST_AGGR_READ_SUM},
        {"rate", 1u << ST_AGGR_COUNTER, ST_AGGR_READ_COUNTER},
        {"irate", 1u << ST_AGGR_COUNTER, ST_AGGR_READ_COUNTER},
        {"increase", 1u << ST_AGGR_COUNTER, ST_AGGR_READ_COUNTER},
        {"resets", 1u << ST_AGGR_COUNTER, ST_AGGR_READ_COUNTER},
        {"xrate", 1u << ST_AGGR_COUNTER, ST_AGGR_READ_COUNTER},
        {"xincrease", 1u << ST_AGGR_COUNTER, ST_AGGR_READ_COUNTER},
        /* plain sum wants the samples: average of count and sum */
        {"sum", 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG},
        {"avg_over_time", 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG},
        {"delta", 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG},
        {"minute", 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG}, /* "min_" is the prefix */
        {"maxx", 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG},
        {"rate_x", 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG},
        {"", 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG},
        {NULL, 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM, ST_AGGR_READ_AVG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_aggr_read_t r = (st_aggr_read_t)-1;
        uint32_t a = query_aggrs_from_func(cases[i].f, &r);
        if (a != cases[i].aggrs || r != cases[i].read)
            fail_msg("%s: aggregates %#x read %d, want %#x %d", cases[i].f ? cases[i].f : "(null)", a, (int)r,
                     cases[i].aggrs, (int)cases[i].read);
    }
    assert_int_equal(query_aggrs_from_func("max_over_time", NULL), 1u << ST_AGGR_MAX);
}

static void test_resolution_rules(void **state) {
    (void)state;
    query_hints_t h = {.range = HOUR_MS, .func = "rate"};
    assert_int_equal(query_select_resolution(ST_RES_1H, &h), 30 * MIN_MS); /* range / 2 */
    assert_int_equal(query_select_resolution(ST_RES_5M, &h), ST_RES_5M);
    assert_int_equal(query_select_resolution(0, &h), 0);
    h.func = "max_over_time"; /* one sample suffices: no cap */
    assert_int_equal(query_select_resolution(ST_RES_1H, &h), ST_RES_1H);
    h.func = "deriv";
    h.range = 0; /* no range: no cap */
    assert_int_equal(query_select_resolution(ST_RES_1H, &h), ST_RES_1H);
    assert_int_equal(query_select_resolution(ST_RES_1H, NULL), ST_RES_1H);
    h = (query_hints_t){.range = 10 * MIN_MS, .func = "double_exponential_smoothing"};
    assert_int_equal(query_select_resolution(ST_RES_1H, &h), 5 * MIN_MS);

    assert_int_equal(query_auto_resolution(true, 3600000), 720000);
    assert_int_equal(query_auto_resolution(true, 14), 2);
    assert_int_equal(query_auto_resolution(false, 3600000), 0);

    /* Thanos's LookbackDeltaFactory with the dynamic delta on */
    assert_int_equal(query_lookback_delta(5 * MIN_MS, 0), 5 * MIN_MS);
    assert_int_equal(query_lookback_delta(5 * MIN_MS, ST_RES_5M), 5 * MIN_MS);
    assert_int_equal(query_lookback_delta(5 * MIN_MS, ST_RES_5M + 1), HOUR_MS);
    assert_int_equal(query_lookback_delta(5 * MIN_MS, ST_RES_1H), HOUR_MS);
    assert_int_equal(query_lookback_delta(MIN_MS, MIN_MS), MIN_MS);
    assert_int_equal(query_lookback_delta(MIN_MS, 2 * MIN_MS), 5 * MIN_MS); /* above the flag's 1m: 5m */
    assert_int_equal(query_lookback_delta(MIN_MS, 6 * MIN_MS), HOUR_MS);
    assert_int_equal(query_lookback_delta(2 * HOUR_MS, ST_RES_1H * 5), 2 * HOUR_MS);
}

static void test_parse_param(void **state) {
    (void)state;
    int64_t ms = -7;
    assert_int_equal(query_parse_max_source_resolution(NULL, false, 999, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(query_parse_max_source_resolution("", false, 999, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(query_parse_max_source_resolution(NULL, true, 999, &ms), 0); /* --query.auto-downsampling */
    assert_int_equal(ms, 999);
    assert_int_equal(query_parse_max_source_resolution("auto", false, 999, &ms), 0);
    assert_int_equal(ms, 999);
    assert_int_equal(query_parse_max_source_resolution("0", true, 999, &ms), 0); /* explicit beats the flag */
    assert_int_equal(ms, 0);
    assert_int_equal(query_parse_max_source_resolution("5m", false, 0, &ms), 0);
    assert_int_equal(ms, ST_RES_5M);
    assert_int_equal(query_parse_max_source_resolution("1h", false, 0, &ms), 0);
    assert_int_equal(ms, ST_RES_1H);
    assert_int_equal(query_parse_max_source_resolution("300", false, 0, &ms), 0);
    assert_int_equal(ms, ST_RES_5M);
    assert_int_equal(query_parse_max_source_resolution("1.5", false, 0, &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(query_parse_max_source_resolution("abc", false, 0, &ms), ST_EINVAL);
    assert_string_equal(st_errdetail(ST_EINVAL), "'max_source_resolution' parameter: cannot parse \"abc\" to a valid duration");
    assert_int_equal(query_parse_max_source_resolution("1e300", false, 0, &ms), ST_EINVAL);
    assert_string_equal(st_errdetail(ST_EINVAL),
                        "'max_source_resolution' parameter: cannot parse \"1e300\" to a valid duration. It overflows int64");
    /* a Prometheus duration has no sign */
    assert_int_equal(query_parse_max_source_resolution("-5m", false, 0, &ms), ST_EINVAL);
    assert_string_equal(st_errdetail(ST_EINVAL), "'max_source_resolution' parameter: cannot parse \"-5m\" to a valid duration");
    static const char *const neg[] = {"-1", "-0.0001"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(query_parse_max_source_resolution(neg[i], false, 0, &ms), ST_EINVAL);
        assert_string_equal(st_errdetail(ST_EINVAL),
                            "negative 'max_source_resolution' is not accepted. Try a positive integer");
    }
    assert_int_equal(query_parse_max_source_resolution("AUTO", false, 0, &ms), ST_EINVAL); /* case matters */
}

/* ---- raw samples and their downsampling ---- */

/* A counter: +1..9 a minute, reset to 0 every 7 h 13 min; samples every
 * minute in [from, to). */
static double counter_at(int64_t t) {
    int64_t k = t / MIN_MS, since = k % 433;
    double v = 0;
    for (int64_t i = 1; i <= since; i++) v += (double)((i * 7 + k / 433) % 9 + 1);
    return v;
}

static double gauge_at(int64_t t) {
    int64_t k = t / MIN_MS;
    return (double)((k * 37 + k / 13) % 101 - 50);
}

typedef struct {
    st_downsampler_t *d;
    st_chunk_t raw[MAXCH];     /* copies of the downsampler's chunks */
    st_store_chunk_t c[MAXCH]; /* decoded */
    size_t n;
} ds_t;

/* Downsample f's samples in [from, to) to res; append the AggrChunks. */
static void ds_add(ds_t *ds, double (*f)(int64_t), int64_t from, int64_t to, int64_t res, double off) {
    if (!ds->d) assert_int_equal(st_downsampler_new(&ds->d, res), 0);
    st_downsampler_reset(ds->d);
    for (int64_t t = from; t < to; t += MIN_MS) assert_int_equal(st_downsampler_add_raw(ds->d, t, f(t) + off), 0);
    const st_chunk_t *out;
    size_t n;
    uint64_t ns;
    assert_int_equal(st_downsampler_finish(ds->d, &out, &n, &ns), 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(ds->n < MAXCH);
        assert_int_equal(out[i].encoding, ST_CHUNK_ENC_AGGR);
        st_chunk_t *r = &ds->raw[ds->n];
        *r = out[i];
        uint8_t *copy = malloc(out[i].len);
        memcpy(copy, out[i].data, out[i].len);
        r->data = copy;
        st_store_chunk_t *c = &ds->c[ds->n];
        memset(c, 0, sizeof *c);
        assert_int_equal(st_aggr_chunk_decode(copy, r->len, c), 0);
        c->mint = r->mint;
        c->maxt = r->maxt;
        ds->n++;
    }
}

/* f's samples in [from, to) as one raw chunk. */
static void ds_add_raw(ds_t *ds, st_xor_appender_t *app, double (*f)(int64_t), int64_t from, int64_t to, double off) {
    assert_int_equal(st_xor_appender_init(app), 0);
    for (int64_t t = from; t < to; t += MIN_MS) assert_int_equal(st_xor_append(app, t, f(t) + off), 0);
    st_store_chunk_t *c = &ds->c[ds->n++];
    memset(c, 0, sizeof *c);
    c->mint = from;
    c->maxt = to - MIN_MS;
    c->data[ST_AGGR_RAW] = st_xor_bytes(app, &c->len[ST_AGGR_RAW]);
}

static void ds_free(ds_t *ds) {
    for (size_t i = 0; i < ds->n; i++)
        if (!ds->c[i].data[ST_AGGR_RAW]) free((void *)ds->raw[i].data);
    st_downsampler_free(ds->d);
}

/* ---- a fake store serving fixed chunks ---- */

typedef struct {
    st_labels_t ext, lbls[2];
    ds_t *series[2];
    size_t n;
    int64_t last_window;
    uint32_t last_aggrs;
    st_grpc_server_t *srv;
    char addr[64];
} fake_t;

static int fake_series(void *ctx, const st_series_request_t *req, st_series_sink_t *sink) {
    fake_t *f = ctx;
    f->last_window = req->max_resolution_window;
    f->last_aggrs = req->aggregates;
    int rc = ST_OK;
    for (size_t i = 0; i < f->n && !rc; i++) {
        bool ok = true;
        for (size_t k = 0; k < req->matchers.n && ok; k++) {
            const st_label_t *x = st_labels_get(&f->lbls[i], st_matcher_name(req->matchers.v[k]));
            ok = st_matcher_matches(req->matchers.v[k], x ? x->value : "", x ? x->value_len : 0);
        }
        if (!ok) continue;
        st_store_chunk_t c[MAXCH];
        size_t nc = 0;
        const ds_t *ds = f->series[i];
        for (size_t k = 0; k < ds->n && !req->skip_chunks; k++)
            if (ds->c[k].maxt >= req->min_time && ds->c[k].mint <= req->max_time) c[nc++] = ds->c[k];
        rc = st_series_sink_send(sink, &f->lbls[i], c, nc);
    }
    return rc == 1 ? 0 : rc;
}

static int fake_info(void *ctx, st_store_info_t *out) {
    fake_t *f = ctx;
    out->component = "store";
    out->min_time = 0;
    out->max_time = 100 * HOUR_MS;
    if (!(out->label_sets = calloc(1, sizeof *out->label_sets))) return ST_ENOMEM;
    out->nlabel_sets = 1;
    return st_labels_copy(&out->label_sets[0], &f->ext);
}

static const st_storeapi_ops_t fake_ops = {.series = fake_series, .info = fake_info};

static st_labels_t L2(const char *n1, const char *v1, const char *n2, const char *v2) {
    st_label_t p[2] = {st_label(n1, v1)};
    if (n2) p[1] = st_label(n2, v2);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, n2 ? 2 : 1), 0);
    return l;
}

static fake_t *fake_new(const char *replica) {
    fake_t *f = calloc(1, sizeof *f);
    f->ext = L2("replica", replica, NULL, NULL);
    int port;
    assert_int_equal(st_grpc_server_new(&f->srv, NULL), 0);
    assert_int_equal(st_storeapi_register(f->srv, &fake_ops, f, NULL), 0);
    assert_int_equal(st_grpc_server_start(f->srv, "127.0.0.1:0", &port), 0);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", port);
    return f;
}

static void fake_add(fake_t *f, const char *name, ds_t *ds) {
    f->lbls[f->n] = L2("__name__", name, "replica", f->ext.v[0].value);
    f->series[f->n++] = ds;
}

static void fake_free(fake_t *f) {
    st_grpc_server_free(f->srv);
    st_labels_free(&f->ext);
    for (size_t i = 0; i < f->n; i++) st_labels_free(&f->lbls[i]);
    free(f);
}

typedef struct {
    query_endpoints_t *es;
    query_t q;
    const char *addrs[2];
} querier_t;

static void querier_start(querier_t *qr, fake_t **fs, size_t n) {
    memset(qr, 0, sizeof *qr);
    for (size_t i = 0; i < n; i++) qr->addrs[i] = fs[i]->addr;
    query_endpoints_opts_t eo = {.static_addrs = qr->addrs, .nstatic = n, .sd_interval_ms = 300000};
    assert_int_equal(query_endpoints_new(&qr->es, &eo), 0);
    assert_int_equal(query_endpoints_update(qr->es), 0);
    assert_int_equal(query_init(&qr->q, qr->es, 4), 0);
    qr->q.timeout_ms = 20000;
    static const char *const rl[] = {"replica"};
    qr->q.replica_labels = rl;
    qr->q.nreplica_labels = 1;
}

static void querier_stop(querier_t *qr) {
    for (int i = 0; i < 1000 && atomic_load(&qr->q.feeds_live) > 0; i++) usleep(10000);
    query_destroy(&qr->q);
    query_endpoints_free(qr->es);
}

typedef struct {
    char name[64], replica[8];
    size_t n;
    int64_t *t;
    double *v;
} got_t;

static void got_free(got_t *g, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(g[i].t);
        free(g[i].v);
    }
}

/* Every series and sample of a select; returns the series count. */
static size_t run_select(query_ctx_t *c, const char *name, int64_t mint, int64_t maxt, const query_hints_t *h,
                         got_t *out, size_t max) {
    st_matchers_t ms;
    char selector[96];
    snprintf(selector, sizeof selector, "{__name__=\"%s\"}", name);
    assert_int_equal(st_selector_parse(&ms, selector), 0);
    st_series_set_t *set = NULL;
    int rc = query_select(c, &ms, mint, maxt, h, &set);
    assert_int_equal(rc, 0);
    size_t n = 0;
    while ((rc = st_series_set_next(set)) == 1) {
        assert_true(n < max);
        got_t *g = &out[n++];
        memset(g, 0, sizeof *g);
        const st_labels_t *l = st_series_set_labels(set);
        const st_label_t *x = st_labels_get(l, "__name__");
        snprintf(g->name, sizeof g->name, "%.*s", (int)x->value_len, x->value);
        if ((x = st_labels_get(l, "replica"))) snprintf(g->replica, sizeof g->replica, "%.*s", (int)x->value_len, x->value);
        size_t cap = 4096;
        g->t = malloc(cap * sizeof *g->t);
        g->v = malloc(cap * sizeof *g->v);
        int64_t t;
        double v;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1) {
            assert_true(g->n < cap);
            g->t[g->n] = t;
            g->v[g->n++] = v;
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, 0);
    st_series_set_free(set);
    st_matchers_free(&ms);
    return n;
}

/* max of f's samples over the 5m window holding t, and their count */
static double window_max(double (*f)(int64_t), int64_t t, double off, int *count) {
    int64_t w0 = t - t % ST_RES_5M;
    double m = -INFINITY;
    *count = 0;
    for (int64_t x = w0; x < w0 + ST_RES_5M; x += MIN_MS) {
        m = fmax(m, f(x) + off);
        (*count)++;
    }
    return m;
}

/* A gauge downsampled to 5m over [0, 10h), raw over [10h, 12h) (stores
 * fall back to raw where nothing is downsampled): max_over_time at 5m
 * asks for the max aggregate and reads every window's max, then the raw
 * samples; at resolution 0 it asks for raw data. */
static void test_select_mixed(void **state) {
    (void)state;
    ds_t ds = {0};
    st_xor_appender_t app;
    ds_add(&ds, gauge_at, 0, 10 * HOUR_MS, ST_RES_5M, 0);
    ds_add_raw(&ds, &app, gauge_at, 10 * HOUR_MS, 12 * HOUR_MS, 0);
    fake_t *a = fake_new("a");
    fake_add(a, "g", &ds);
    querier_t qr;
    querier_start(&qr, &a, 1);
    query_ctx_t c;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    c.max_resolution_ms = ST_RES_5M;
    got_t got[2];
    query_hints_t h = {.start = 0, .end = 12 * HOUR_MS, .range = HOUR_MS, .func = "max_over_time"};
    assert_int_equal(run_select(&c, "g", 0, 12 * HOUR_MS, &h, got, 2), 1);
    assert_int_equal(a->last_window, ST_RES_5M);
    assert_int_equal(a->last_aggrs, 1u << ST_AGGR_MAX);
    assert_string_equal(got[0].name, "g");
    assert_string_equal(got[0].replica, ""); /* deduplicated: replica label gone */
    /* 120 windows, then 120 raw samples */
    assert_int_equal(got[0].n, 120 + 120);
    for (size_t i = 0; i < got[0].n; i++) {
        int64_t t = got[0].t[i];
        if (i > 0) assert_true(t > got[0].t[i - 1]);
        if (i < 120) {
            int cnt;
            assert_int_equal(t / ST_RES_5M, (int64_t)i); /* one sample per window, inside it */
            if (got[0].v[i] != window_max(gauge_at, t, 0, &cnt))
                fail_msg("window %zu at %lld: %g, want %g", i, (long long)t, got[0].v[i], window_max(gauge_at, t, 0, &cnt));
        } else {
            assert_int_equal(t, 10 * HOUR_MS + (int64_t)(i - 120) * MIN_MS);
            assert_true(got[0].v[i] == gauge_at(t));
        }
    }
    got_free(got, 1);
    /* count_over_time: the count aggregate (5 samples a window), then raw values */
    h.func = "count_over_time";
    assert_int_equal(run_select(&c, "g", 0, 10 * HOUR_MS - 1, &h, got, 2), 1);
    assert_int_equal(a->last_aggrs, 1u << ST_AGGR_COUNT);
    assert_int_equal(got[0].n, 120);
    for (size_t i = 0; i < got[0].n; i++) assert_true(got[0].v[i] == 5);
    got_free(got, 1);
    /* no function: count + sum, read as the window's average */
    h.func = NULL;
    assert_int_equal(run_select(&c, "g", 0, HOUR_MS - 1, &h, got, 2), 1);
    assert_int_equal(a->last_aggrs, 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM);
    assert_int_equal(got[0].n, 12);
    for (size_t i = 0; i < got[0].n; i++) {
        double sum = 0;
        for (int64_t x = (int64_t)i * ST_RES_5M; x < (int64_t)(i + 1) * ST_RES_5M; x += MIN_MS) sum += gauge_at(x);
        assert_true(fabs(got[0].v[i] - sum / 5) < 1e-12);
    }
    got_free(got, 1);
    /* raw: the store is asked for resolution 0 (our fake sends what it has) */
    c.max_resolution_ms = 0;
    h.func = "max_over_time";
    assert_int_equal(run_select(&c, "g", 10 * HOUR_MS, 12 * HOUR_MS, &h, got, 2), 1);
    assert_int_equal(a->last_window, 0);
    assert_int_equal(got[0].n, 120);
    got_free(got, 1);
    query_ctx_destroy(&c);
    querier_stop(&qr);
    fake_free(a);
    st_xor_appender_free(&app);
    ds_free(&ds);
}

/* A counter downsampled to 1h (resets inside and across chunks): rate's
 * select at 1h with a 1h range asks for 30m windows and the counter;
 * every sample read is the reset-corrected total of the raw samples up
 * to its timestamp. */
static void test_select_counter(void **state) {
    (void)state;
    ds_t ds = {0};
    ds_add(&ds, counter_at, 0, 30 * HOUR_MS, ST_RES_1H, 0);
    fake_t *a = fake_new("a");
    fake_add(a, "c", &ds);
    querier_t qr;
    querier_start(&qr, &a, 1);
    query_ctx_t c;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    c.max_resolution_ms = ST_RES_1H;
    got_t got[2];
    query_hints_t h = {.start = 0, .end = 30 * HOUR_MS, .range = HOUR_MS, .func = "rate"};
    assert_int_equal(run_select(&c, "c", 0, 30 * HOUR_MS, &h, got, 2), 1);
    assert_int_equal(a->last_window, 30 * MIN_MS);
    assert_int_equal(a->last_aggrs, 1u << ST_AGGR_COUNTER);
    assert_true(got[0].n >= 30);
    /* at each sample's time: the running total (resets folded in) of the
     * raw samples up to it */
    size_t k = 0;
    double total = 0, last = 0;
    for (int64_t t = 0; t < 30 * HOUR_MS && k < got[0].n; t += MIN_MS) {
        double v = counter_at(t);
        total += t == 0 ? v : v >= last ? v - last : v;
        last = v;
        while (k < got[0].n && got[0].t[k] >= t && got[0].t[k] < t + MIN_MS) {
            if (got[0].v[k] != total)
                fail_msg("sample %zu at %lld: %g, want %g", k, (long long)got[0].t[k], got[0].v[k], total);
            k++;
        }
    }
    assert_int_equal(k, got[0].n);
    got_free(got, 1);
    query_ctx_destroy(&c);
    querier_stop(&qr);
    fake_free(a);
    ds_free(&ds);
}

/* Two replicas of a 5m-downsampled gauge, a missing [4h, 6h) (its data
 * downsampled in two pieces), b's values + 0.5: one series without the
 * replica label, a window max of a or b at every window but the few lost
 * at a switch, b's inside a's gap; dedup=false gives both. */
static void test_select_dedup(void **state) {
    (void)state;
    ds_t da = {0}, db = {0};
    ds_add(&da, gauge_at, 0, 4 * HOUR_MS, ST_RES_5M, 0);
    ds_add(&da, gauge_at, 6 * HOUR_MS, 10 * HOUR_MS, ST_RES_5M, 0);
    ds_add(&db, gauge_at, 0, 10 * HOUR_MS, ST_RES_5M, 0.5);
    fake_t *a = fake_new("a"), *b = fake_new("b");
    fake_add(a, "g", &da);
    fake_add(b, "g", &db);
    fake_t *fs[] = {a, b};
    querier_t qr;
    querier_start(&qr, fs, 2);
    query_ctx_t c;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    c.max_resolution_ms = ST_RES_5M;
    got_t got[2];
    query_hints_t h = {.start = 0, .end = 10 * HOUR_MS, .range = HOUR_MS, .func = "max_over_time"};
    assert_int_equal(run_select(&c, "g", 0, 10 * HOUR_MS, &h, got, 2), 1);
    assert_string_equal(got[0].replica, "");
    size_t in_gap = 0;
    for (size_t i = 0; i < got[0].n; i++) {
        int64_t t = got[0].t[i];
        int cnt;
        double ma = window_max(gauge_at, t, 0, &cnt), mb = window_max(gauge_at, t, 0.5, &cnt);
        if (i > 0) assert_true(t / ST_RES_5M > got[0].t[i - 1] / ST_RES_5M); /* one sample per window */
        if (t >= 4 * HOUR_MS && t < 6 * HOUR_MS) {
            assert_true(got[0].v[i] == mb);
            in_gap++;
        } else {
            assert_true(got[0].v[i] == ma || got[0].v[i] == mb);
        }
    }
    assert_true(in_gap >= 22); /* b fills a's 24 windows but those lost at a switch */
    assert_true(got[0].n >= 120 - 4 && got[0].n <= 120); /* two switches, two windows lost at each at most */
    got_free(got, 1);
    c.dedup = false;
    assert_int_equal(run_select(&c, "g", 0, 10 * HOUR_MS, &h, got, 2), 2);
    assert_string_equal(got[0].replica, "a");
    assert_string_equal(got[1].replica, "b");
    assert_int_equal(got[0].n, 96);
    assert_int_equal(got[1].n, 120);
    got_free(got, 2);
    query_ctx_destroy(&c);
    querier_stop(&qr);
    fake_free(a);
    fake_free(b);
    ds_free(&da);
    ds_free(&db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aggrs_from_func),
        cmocka_unit_test(test_resolution_rules),
        cmocka_unit_test(test_parse_param),
        cmocka_unit_test(test_select_mixed),
        cmocka_unit_test(test_select_counter),
        cmocka_unit_test(test_select_dedup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
