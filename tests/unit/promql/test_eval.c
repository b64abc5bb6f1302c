/*
 * The PromQL engine on an in-memory queryable, for the pieces that are easy
 * to get subtly wrong. Inputs and expected values are facts from Prometheus
 * 2.42's own tests, promql/testdata/<file>.test (named at each case), in
 * their notation: "load 5m / metric{l="v"} 0+10x10" is the series
 * 0, 10, ..., 100 at 0, 5m, ..., 50m; "_" skips a step; "stale" is a stale
 * marker. The cases that are not from those files say where their expected
 * values come from.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strata/err.h"
#include "strata/promql_engine.h"
#include "strata/textfmt.h"

/* ---- an in-memory queryable ---- */

typedef struct {
    st_labels_t l;
    int64_t *t;
    double *v;
    size_t n;
} mser_t;

typedef struct {
    mser_t s[64];
    size_t n;
    bool warn, fail;
    bool fail_sample; /* the second series of a set fails while being read */
    st_promql_hints_t last_hints;
    char last_func[64];
} memq_t;

typedef struct {
    const memq_t *q;
    const st_matchers_t *ms;
    int64_t mint, maxt;
    size_t *order;
    size_t n, i, j; /* series order[i - 1] is current (0: not started), sample j */
} mset_t;

static int ms_next(void *ctx) {
    mset_t *s = ctx;
    if (s->i > s->n) return 0;
    s->i++;
    s->j = 0;
    return s->i <= s->n;
}

static const st_labels_t *ms_labels(void *ctx) {
    mset_t *s = ctx;
    return &s->q->s[s->order[s->i - 1]].l;
}

static int ms_sample(void *ctx, int64_t *t, double *v) {
    mset_t *s = ctx;
    const mser_t *m = &s->q->s[s->order[s->i - 1]];
    if (s->q->fail_sample && s->i == 2) return st_errorf(ST_ECORRUPT, "chunk 7: bad XOR encoding");
    while (s->j < m->n && m->t[s->j] < s->mint) s->j++;
    if (s->j >= m->n || m->t[s->j] > s->maxt) return 0;
    *t = m->t[s->j];
    *v = m->v[s->j];
    s->j++;
    return 1;
}

static void ms_free(void *ctx) {
    mset_t *s = ctx;
    free(s->order);
    free(s);
}

static bool matches(const st_labels_t *l, const st_matchers_t *ms) {
    for (size_t i = 0; i < ms->n; i++) {
        const st_label_t *x = st_labels_get(l, st_matcher_name(ms->v[i]));
        if (!st_matcher_matches(ms->v[i], x ? x->value : "", x ? x->value_len : 0)) return false;
    }
    return true;
}

static const memq_t *sort_q;
static int cmp_idx(const void *a, const void *b) {
    return st_labels_cmp(&sort_q->s[*(const size_t *)a].l, &sort_q->s[*(const size_t *)b].l);
}

static int mem_select(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const st_promql_hints_t *h,
                      st_series_set_t **out, st_promql_warnings_t *w) {
    memq_t *q = ctx;
    if (q->fail) return st_errorf(ST_EIO, "store down");
    if (q->warn) st_promql_warnings_add(w, "partial response");
    q->last_hints = *h;
    snprintf(q->last_func, sizeof q->last_func, "%s", h->func);
    mset_t *s = calloc(1, sizeof *s);
    s->q = q;
    s->ms = ms;
    s->mint = mint;
    s->maxt = maxt;
    s->order = calloc(q->n + 1, sizeof *s->order);
    for (size_t i = 0; i < q->n; i++)
        if (matches(&q->s[i].l, ms)) s->order[s->n++] = i;
    sort_q = q;
    qsort(s->order, s->n, sizeof *s->order, cmp_idx);
    static const st_series_set_ops_t ops = {.next = ms_next, .labels = ms_labels, .sample = ms_sample, .free = ms_free};
    return st_series_set_new(out, &ops, s);
}

static void memq_free(memq_t *q) {
    for (size_t i = 0; i < q->n; i++) {
        st_labels_free(&q->s[i].l);
        free(q->s[i].t);
        free(q->s[i].v);
        memset(&q->s[i], 0, sizeof q->s[i]);
    }
    q->n = 0;
}

/* load STEP: "metric{a="b"} 0+10x10 _ stale 3" */
static void load(memq_t *q, int64_t step_ms, const char *line) {
    const char *sp = strchr(line, '}');
    sp = sp ? sp + 1 : strchr(line, ' ');
    char sel[512];
    snprintf(sel, sizeof sel, "%.*s", (int)(sp - line), line);
    st_matchers_t ms = {0};
    assert_int_equal(st_selector_parse(&ms, sel), 0);
    st_label_t pairs[32];
    for (size_t i = 0; i < ms.n; i++) pairs[i] = st_label(st_matcher_name(ms.v[i]), st_matcher_value(ms.v[i]));
    mser_t *s = &q->s[q->n++];
    assert_int_equal(st_labels_from_pairs(&s->l, pairs, ms.n), 0);
    st_matchers_free(&ms);
    s->t = calloc(4096, sizeof *s->t);
    s->v = calloc(4096, sizeof *s->v);
    int64_t step = 0;
    char tok[64];
    int off;
    const char *p = sp;
    while (sscanf(p, " %63s%n", tok, &off) == 1) {
        p += off;
        if (strcmp(tok, "_") == 0) {
            step++;
            continue;
        }
        if (strcmp(tok, "stale") == 0) {
            uint64_t u = ST_STALE_NAN_BITS;
            double d;
            memcpy(&d, &u, sizeof d);
            s->t[s->n] = step++ * step_ms;
            s->v[s->n++] = d;
            continue;
        }
        char *x = strchr(tok, 'x');
        if (x && strncmp(tok, "0x", 2) != 0) {
            *x = 0;
            long times = strtol(x + 1, NULL, 10);
            char *e;
            double a = strtod(tok, &e), b = *e ? strtod(e, NULL) : 0;
            for (long k = 0; k <= times; k++) {
                s->t[s->n] = step++ * step_ms;
                s->v[s->n++] = a + (double)k * b;
            }
            continue;
        }
        s->t[s->n] = step++ * step_ms;
        s->v[s->n++] = strtod(tok, NULL);
    }
}

static const st_promql_queryable_t *qb(memq_t *q) {
    static st_promql_queryable_t x;
    x.ctx = q;
    x.select = mem_select;
    return &x;
}

static char *series_str(const st_promql_series_t *s, size_t point) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_labels_go(&b, &s->metric);
    char f[ST_FLOAT_BUF];
    st_fmt_go_g(f, s->points[point].v);
    st_put_fmt(&b, " %s", f);
    st_put_u8(&b, 0);
    return (char *)b.p;
}

static bool value_close(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (a == b) return true;
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

/* Evaluate expr at t (ms) and compare with want[] ("{labels} value",
 * labels as Go prints them); ordered compares positions too. */
static void expect(memq_t *q, const char *expr, int64_t t, bool ordered, const char *const *want, size_t nwant) {
    st_promql_result_t r;
    int rc = st_promql_eval_instant(NULL, qb(q), expr, t, &r);
    if (rc) fail_msg("%s: %s", expr, st_errdetail(rc));
    if (r.type != ST_PROMQL_TVECTOR) fail_msg("%s: not a vector", expr);
    if (r.nseries != nwant) {
        for (size_t i = 0; i < r.nseries; i++) {
            char *s = series_str(&r.series[i], 0);
            print_message("  got %s\n", s);
            free(s);
        }
        fail_msg("%s at %lld: %zu series, want %zu", expr, (long long)t, r.nseries, nwant);
    }
    for (size_t i = 0; i < nwant; i++) {
        const char *sp = strrchr(want[i], ' ');
        double wv = strtod(sp + 1, NULL);
        bool found = false;
        for (size_t j = 0; j < r.nseries && !found; j++) {
            if (ordered && j != i) continue;
            char *s = series_str(&r.series[j], 0);
            if (strncmp(s, want[i], (size_t)(sp - want[i])) == 0 && s[sp - want[i]] == ' ' &&
                value_close(r.series[j].points[0].v, wv))
                found = true;
            free(s);
        }
        if (!found) {
            for (size_t j = 0; j < r.nseries; j++) {
                char *s = series_str(&r.series[j], 0);
                print_message("  got %s\n", s);
                free(s);
            }
            fail_msg("%s at %lld: want %s", expr, (long long)t, want[i]);
        }
    }
    st_promql_result_free(&r);
}

#define EXPECT(q, expr, t, ...)                                                        \
    do {                                                                               \
        const char *const w_[] = {__VA_ARGS__};                                        \
        expect(q, expr, t, false, w_, sizeof w_ / sizeof w_[0]);                      \
    } while (0)
#define EXPECT_ORDERED(q, expr, t, ...)                                                \
    do {                                                                               \
        const char *const w_[] = {__VA_ARGS__};                                        \
        expect(q, expr, t, true, w_, sizeof w_ / sizeof w_[0]);                       \
    } while (0)
#define EXPECT_EMPTY(q, expr, t) expect(q, expr, t, false, NULL, 0)

static void expect_error(memq_t *q, const char *expr, int64_t t, const char *msg) {
    st_promql_result_t r;
    int rc = st_promql_eval_instant(NULL, qb(q), expr, t, &r);
    if (!rc) fail_msg("%s: no error", expr);
    if (msg && strcmp(r.error, msg) != 0) fail_msg("%s: error %s, want %s", expr, r.error, msg);
    st_promql_result_free(&r);
}

#define M5 (5 * 60 * 1000)
#define MIN(n) ((int64_t)(n) * 60 * 1000)
#define SEC(n) ((int64_t)(n) * 1000)

/* functions.test: resets(), changes(), increase(), rate(), irate(), delta(),
 * idelta(), deriv(), predict_linear(). */
static void test_rate_family(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, M5, "http_requests{path=\"/foo\"} 1 2 3 0 1 0 0 1 2 0");
    load(&q, M5, "http_requests{path=\"/bar\"} 1 2 3 4 5 1 2 3 4 5");
    load(&q, M5, "http_requests{path=\"/biz\"} 0 0 0 0 0 1 1 1 1 1");
    EXPECT(&q, "resets(http_requests[20m])", MIN(50), "{path=\"/foo\"} 1", "{path=\"/bar\"} 0", "{path=\"/biz\"} 0");
    EXPECT(&q, "resets(http_requests[30m])", MIN(50), "{path=\"/foo\"} 2", "{path=\"/bar\"} 1", "{path=\"/biz\"} 0");
    EXPECT(&q, "changes(http_requests[30m])", MIN(50), "{path=\"/foo\"} 4", "{path=\"/bar\"} 5", "{path=\"/biz\"} 1");
    EXPECT(&q, "changes((http_requests[50m]))", MIN(50), "{path=\"/foo\"} 8", "{path=\"/bar\"} 9",
           "{path=\"/biz\"} 1");
    EXPECT_EMPTY(&q, "resets(nonexistent_metric[50m])", MIN(50));
    memq_free(&q);

    load(&q, M5, "x{a=\"b\"} NaN NaN NaN");
    load(&q, M5, "x{a=\"c\"} 0 NaN 0");
    EXPECT(&q, "changes(x[15m])", MIN(15), "{a=\"b\"} 0", "{a=\"c\"} 2");
    memq_free(&q);

    load(&q, M5, "http_requests{path=\"/foo\"} 0+10x10");
    load(&q, M5, "http_requests{path=\"/bar\"} 0+10x5 0+10x5");
    EXPECT(&q, "increase(http_requests[50m])", MIN(50), "{path=\"/foo\"} 100", "{path=\"/bar\"} 90");
    EXPECT(&q, "increase(http_requests[100m])", MIN(50), "{path=\"/foo\"} 100", "{path=\"/bar\"} 90");
    EXPECT(&q, "irate(http_requests[50m])", MIN(50), "{path=\"/foo\"} 0.03333333333333333",
           "{path=\"/bar\"} 0.03333333333333333");
    EXPECT(&q, "irate(http_requests[50m])", MIN(30), "{path=\"/foo\"} 0.03333333333333333", "{path=\"/bar\"} 0");
    memq_free(&q);

    load(&q, M5, "http_requests{path=\"/foo\"} 0 1 2 3 2 3 4");
    EXPECT(&q, "increase(http_requests[30m])", MIN(30), "{path=\"/foo\"} 7");
    memq_free(&q);

    load(&q, M5, "testcounter_reset_middle 0+10x4 0+10x5");
    load(&q, M5, "testcounter_reset_end 0+10x9 0 10");
    EXPECT(&q, "rate(testcounter_reset_middle[50m])", MIN(50), "{} 0.03");
    EXPECT(&q, "rate(testcounter_reset_end[5m])", MIN(50), "{} 0");
    EXPECT(&q, "deriv(testcounter_reset_middle[100m])", MIN(50), "{} 0.010606060606060607");
    EXPECT(&q, "predict_linear(testcounter_reset_middle[100m], 3600)", MIN(50), "{} 76.81818181818181");
    EXPECT(&q, "predict_linear(testcounter_reset_middle[100m] @ 3000, 3600)", MIN(50), "{} 76.81818181818181");
    EXPECT(&q, "predict_linear(testcounter_reset_middle[100m] @ 3000, 3600)", MIN(10), "{} 51.36363636363637");
    EXPECT(&q, "predict_linear(testcounter_reset_middle[100m] @ 3000, 3600)", MIN(70), "{} 89.54545454545455");
    memq_free(&q);

    load(&q, M5, "calculate_rate_offset{x=\"a\"} 0+10x10");
    load(&q, M5, "calculate_rate_offset{x=\"b\"} 0+20x10");
    load(&q, M5, "calculate_rate_window 0+80x10");
    EXPECT(&q, "rate(calculate_rate_window[50m])", MIN(50), "{} 0.26666666666666666");
    EXPECT(&q, "rate(calculate_rate_offset[10m] offset 5m)", MIN(50), "{x=\"a\"} 0.03333333333333333",
           "{x=\"b\"} 0.06666666666666667");
    memq_free(&q);

    /* extrapolation to the counter's zero point, and the half-interval rule */
    const char *starts[] = {"0", "60", "120", "180", "240", "300"};
    for (int i = 0; i < 6; i++) {
        char line[128];
        snprintf(line, sizeof line, "testcounter_zero_cutoff{start=\"%dm\"} %s+240x10", i, starts[i]);
        load(&q, MIN(4), line);
    }
    EXPECT(&q, "rate(testcounter_zero_cutoff[20m])", MIN(10), "{start=\"0m\"} 0.5", "{start=\"1m\"} 0.55",
           "{start=\"2m\"} 0.6", "{start=\"3m\"} 0.65", "{start=\"4m\"} 0.7", "{start=\"5m\"} 0.6");
    EXPECT(&q, "rate(testcounter_zero_cutoff[20m])", MIN(50), "{start=\"0m\"} 0.6", "{start=\"1m\"} 0.6",
           "{start=\"2m\"} 0.6", "{start=\"3m\"} 0.6", "{start=\"4m\"} 0.6", "{start=\"5m\"} 0.6");
    memq_free(&q);

    load(&q, M5, "http_requests{path=\"/foo\"} 0 50 100 150 200");
    load(&q, M5, "http_requests{path=\"/bar\"} 200 150 100 50 0");
    EXPECT(&q, "delta(http_requests[20m])", MIN(20), "{path=\"/foo\"} 200", "{path=\"/bar\"} -200");
    memq_free(&q);

    load(&q, M5, "http_requests{path=\"/foo\"} 0 50 100 150");
    load(&q, M5, "http_requests{path=\"/bar\"} 0 50 100 50");
    EXPECT(&q, "idelta(http_requests[20m])", MIN(20), "{path=\"/foo\"} 50", "{path=\"/bar\"} -50");
    memq_free(&q);
}

/* histograms.test: classic buckets, negative bounds, monotonicity repair,
 * equal bounds written differently. */
static void test_histogram_quantile(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, M5, "testhistogram_bucket{le=\"0.1\", start=\"positive\"} 0+5x10");
    load(&q, M5, "testhistogram_bucket{le=\".2\", start=\"positive\"} 0+7x10");
    load(&q, M5, "testhistogram_bucket{le=\"1e0\", start=\"positive\"} 0+11x10");
    load(&q, M5, "testhistogram_bucket{le=\"+Inf\", start=\"positive\"} 0+12x10");
    load(&q, M5, "testhistogram_bucket{le=\"-.2\", start=\"negative\"} 0+1x10");
    load(&q, M5, "testhistogram_bucket{le=\"-0.1\", start=\"negative\"} 0+2x10");
    load(&q, M5, "testhistogram_bucket{le=\"0.3\", start=\"negative\"} 0+2x10");
    load(&q, M5, "testhistogram_bucket{le=\"+Inf\", start=\"negative\"} 0+3x10");
    EXPECT(&q, "histogram_quantile(-0.1, testhistogram_bucket)", MIN(50), "{start=\"positive\"} -Inf",
           "{start=\"negative\"} -Inf");
    EXPECT(&q, "histogram_quantile(1.01, testhistogram_bucket)", MIN(50), "{start=\"positive\"} +Inf",
           "{start=\"negative\"} +Inf");
    EXPECT(&q, "histogram_quantile(NaN, testhistogram_bucket)", MIN(50), "{start=\"positive\"} NaN",
           "{start=\"negative\"} NaN");
    EXPECT(&q, "histogram_quantile(0, testhistogram_bucket{start=\"positive\"})", MIN(50), "{start=\"positive\"} 0");
    EXPECT(&q, "histogram_quantile(0, testhistogram_bucket{start=\"negative\"})", MIN(50),
           "{start=\"negative\"} -0.2");
    EXPECT(&q, "histogram_quantile(1, testhistogram_bucket)", MIN(50), "{start=\"positive\"} 1",
           "{start=\"negative\"} 0.3");
    EXPECT(&q, "histogram_quantile(0.2, testhistogram_bucket)", MIN(50), "{start=\"positive\"} 0.048",
           "{start=\"negative\"} -0.2");
    EXPECT(&q, "histogram_quantile(0.5, testhistogram_bucket)", MIN(50), "{start=\"positive\"} 0.15",
           "{start=\"negative\"} -0.15");
    EXPECT(&q, "histogram_quantile(0.8, rate(testhistogram_bucket[5m]))", MIN(50), "{start=\"positive\"} 0.72",
           "{start=\"negative\"} 0.3");
    memq_free(&q);

    load(&q, M5, "testhistogram2_bucket{le=\"0\"} 0+0x10");
    load(&q, M5, "testhistogram2_bucket{le=\"2\"} 0+1x10");
    load(&q, M5, "testhistogram2_bucket{le=\"4\"} 0+2x10");
    load(&q, M5, "testhistogram2_bucket{le=\"6\"} 0+3x10");
    load(&q, M5, "testhistogram2_bucket{le=\"+Inf\"} 0+3x10");
    EXPECT(&q, "histogram_quantile(1./6., testhistogram2_bucket)", MIN(7), "{} 1");
    EXPECT(&q, "histogram_quantile(0.5, testhistogram2_bucket)", MIN(7), "{} 3");
    EXPECT(&q, "histogram_quantile(5./6., rate(testhistogram2_bucket[15m]))", MIN(47), "{} 5");
    memq_free(&q);

    static const char *const rd[] = {
        "job1\", instance=\"ins1\", le=\"0.1\"} 0+1x10", "job1\", instance=\"ins1\", le=\"0.2\"} 0+3x10",
        "job1\", instance=\"ins1\", le=\"+Inf\"} 0+4x10", "job1\", instance=\"ins2\", le=\"0.1\"} 0+2x10",
        "job1\", instance=\"ins2\", le=\"0.2\"} 0+5x10", "job1\", instance=\"ins2\", le=\"+Inf\"} 0+6x10",
        "job2\", instance=\"ins1\", le=\"0.1\"} 0+3x10", "job2\", instance=\"ins1\", le=\"0.2\"} 0+4x10",
        "job2\", instance=\"ins1\", le=\"+Inf\"} 0+6x10", "job2\", instance=\"ins2\", le=\"0.1\"} 0+4x10",
        "job2\", instance=\"ins2\", le=\"0.2\"} 0+7x10", "job2\", instance=\"ins2\", le=\"+Inf\"} 0+9x10",
    };
    for (size_t i = 0; i < sizeof rd / sizeof rd[0]; i++) {
        char line[160];
        snprintf(line, sizeof line, "request_duration_seconds_bucket{job=\"%s", rd[i]);
        load(&q, M5, line);
    }
    EXPECT(&q, "histogram_quantile(0.5, sum(rate(request_duration_seconds_bucket[5m])) by (le))", MIN(50),
           "{} 0.1277777777777778");
    EXPECT(&q, "histogram_quantile(0.3, sum(rate(request_duration_seconds_bucket[5m])) by (le, job))", MIN(50),
           "{job=\"job1\"} 0.1", "{job=\"job2\"} 0.0642857142857143");
    EXPECT(&q, "histogram_quantile(0.5, rate(request_duration_seconds_bucket[5m]))", MIN(50),
           "{instance=\"ins1\", job=\"job1\"} 0.15", "{instance=\"ins2\", job=\"job1\"} 0.13333333333333333",
           "{instance=\"ins1\", job=\"job2\"} 0.1", "{instance=\"ins2\", job=\"job2\"} 0.11666666666666667");
    memq_free(&q);

    load(&q, M5, "nonmonotonic_bucket{le=\"0.1\"} 0+2x10");
    load(&q, M5, "nonmonotonic_bucket{le=\"1\"} 0+1x10");
    load(&q, M5, "nonmonotonic_bucket{le=\"10\"} 0+5x10");
    load(&q, M5, "nonmonotonic_bucket{le=\"100\"} 0+4x10");
    load(&q, M5, "nonmonotonic_bucket{le=\"1000\"} 0+9x10");
    load(&q, M5, "nonmonotonic_bucket{le=\"+Inf\"} 0+8x10");
    EXPECT(&q, "histogram_quantile(0.01, nonmonotonic_bucket)", MIN(50), "{} 0.0045");
    EXPECT(&q, "histogram_quantile(0.5, nonmonotonic_bucket)", MIN(50), "{} 8.5");
    EXPECT(&q, "histogram_quantile(0.99, nonmonotonic_bucket)", MIN(50), "{} 979.75");
    memq_free(&q);

    load(&q, M5, "mixed_bucket{job=\"job1\", instance=\"ins1\", le=\"0.1\"} 0+1x10");
    load(&q, M5, "mixed_bucket{job=\"job1\", instance=\"ins1\", le=\"0.2\"} 0+1x10");
    load(&q, M5, "mixed_bucket{job=\"job1\", instance=\"ins1\", le=\"2e-1\"} 0+1x10");
    load(&q, M5, "mixed_bucket{job=\"job1\", instance=\"ins1\", le=\"2.0e-1\"} 0+1x10");
    load(&q, M5, "mixed_bucket{job=\"job1\", instance=\"ins1\", le=\"+Inf\"} 0+4x10");
    load(&q, M5, "mixed_bucket{job=\"job1\", instance=\"ins2\", le=\"+inf\"} 0+0x10");
    load(&q, M5, "mixed_bucket{job=\"job1\", instance=\"ins2\", le=\"+Inf\"} 0+0x10");
    EXPECT(&q, "histogram_quantile(0.5, rate(mixed_bucket[5m]))", MIN(50), "{instance=\"ins1\", job=\"job1\"} 0.15",
           "{instance=\"ins2\", job=\"job1\"} NaN");
    EXPECT(&q, "histogram_quantile(0.75, rate(mixed_bucket[5m]))", MIN(50), "{instance=\"ins1\", job=\"job1\"} 0.2",
           "{instance=\"ins2\", job=\"job1\"} NaN");
    load(&q, M5, "request_duration_seconds2_bucket{job=\"job1\", instance=\"ins1\", le=\"0.1\"} 0+1x10");
    load(&q, M5, "request_duration_seconds_bucket{job=\"job1\", instance=\"ins1\", le=\"0.1\"} 0+1x10");
    expect_error(&q, "histogram_quantile(0.99, {__name__=~\"request_duration.*\"})", MIN(50),
                 "vector cannot contain metrics with the same labelset");
    memq_free(&q);
}

/* aggregators.test: topk/bottomk order, NaN kept at the end, k from an
 * expression; plus ties, whose winners follow Go's container/heap as
 * engine.go drives it (k == 1 replaces in place only for a strictly larger
 * value; a full heap admits only values beating its top). */
static void test_topk(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, M5, "http_requests{job=\"api-server\", instance=\"0\", group=\"production\"} 0+10x10");
    load(&q, M5, "http_requests{job=\"api-server\", instance=\"1\", group=\"production\"} 0+20x10");
    load(&q, M5, "http_requests{job=\"api-server\", instance=\"2\", group=\"production\"} NaN NaN NaN NaN NaN NaN NaN "
                 "NaN NaN NaN NaN");
    load(&q, M5, "http_requests{job=\"api-server\", instance=\"0\", group=\"canary\"} 0+30x10");
    load(&q, M5, "http_requests{job=\"api-server\", instance=\"1\", group=\"canary\"} 0+40x10");
    load(&q, M5, "http_requests{job=\"app-server\", instance=\"0\", group=\"production\"} 0+50x10");
    load(&q, M5, "http_requests{job=\"app-server\", instance=\"1\", group=\"production\"} 0+60x10");
    load(&q, M5, "http_requests{job=\"app-server\", instance=\"0\", group=\"canary\"} 0+70x10");
    load(&q, M5, "http_requests{job=\"app-server\", instance=\"1\", group=\"canary\"} 0+80x10");
    load(&q, M5, "foo 3+0x10");
    const char *c1 = "{__name__=\"http_requests\", group=\"canary\", instance=\"1\", job=\"app-server\"} 800";
    const char *c0 = "{__name__=\"http_requests\", group=\"canary\", instance=\"0\", job=\"app-server\"} 700";
    const char *p1 = "{__name__=\"http_requests\", group=\"production\", instance=\"1\", job=\"app-server\"} 600";
    EXPECT_ORDERED(&q, "topk(3, http_requests)", MIN(50), c1, c0, p1);
    EXPECT_ORDERED(&q, "topk((3), (http_requests))", MIN(50), c1, c0, p1);
    EXPECT_ORDERED(&q, "topk(scalar(foo), http_requests)", MIN(50), c1, c0, p1);
    EXPECT_ORDERED(&q, "bottomk(3, http_requests)", MIN(50),
                   "{__name__=\"http_requests\", group=\"production\", instance=\"0\", job=\"api-server\"} 100",
                   "{__name__=\"http_requests\", group=\"production\", instance=\"1\", job=\"api-server\"} 200",
                   "{__name__=\"http_requests\", group=\"canary\", instance=\"0\", job=\"api-server\"} 300");
    EXPECT(&q, "topk by (group) (1, http_requests)", MIN(50), p1, c1);
    EXPECT_ORDERED(&q, "topk(3, http_requests{job=\"api-server\",group=\"production\"})", MIN(50),
                   "{__name__=\"http_requests\", group=\"production\", instance=\"1\", job=\"api-server\"} 200",
                   "{__name__=\"http_requests\", group=\"production\", instance=\"0\", job=\"api-server\"} 100",
                   "{__name__=\"http_requests\", group=\"production\", instance=\"2\", job=\"api-server\"} NaN");
    EXPECT_ORDERED(&q, "bottomk(3, http_requests{job=\"api-server\",group=\"production\"})", MIN(50),
                   "{__name__=\"http_requests\", group=\"production\", instance=\"0\", job=\"api-server\"} 100",
                   "{__name__=\"http_requests\", group=\"production\", instance=\"1\", job=\"api-server\"} 200",
                   "{__name__=\"http_requests\", group=\"production\", instance=\"2\", job=\"api-server\"} NaN");
    EXPECT_ORDERED(&q, "bottomk(9999999999, http_requests{job=\"app-server\",group=\"canary\"})", MIN(50),
                   "{__name__=\"http_requests\", group=\"canary\", instance=\"0\", job=\"app-server\"} 700",
                   "{__name__=\"http_requests\", group=\"canary\", instance=\"1\", job=\"app-server\"} 800");
    expect_error(&q, "topk(1e30, http_requests)", MIN(50), "Scalar value 1e+30 overflows int64");
    memq_free(&q);

    /* ties: input in label order a, b, c, d */
    load(&q, M5, "t{s=\"a\"} 1");
    load(&q, M5, "t{s=\"b\"} 1");
    load(&q, M5, "t{s=\"c\"} 2");
    load(&q, M5, "t{s=\"d\"} 2");
    EXPECT(&q, "topk(1, t)", 0, "{__name__=\"t\", s=\"c\"} 2");
    EXPECT(&q, "bottomk(1, t)", 0, "{__name__=\"t\", s=\"a\"} 1");
    EXPECT(&q, "topk(2, t)", 0, "{__name__=\"t\", s=\"c\"} 2", "{__name__=\"t\", s=\"d\"} 2");
    EXPECT(&q, "topk(3, t)", 0, "{__name__=\"t\", s=\"b\"} 1", "{__name__=\"t\", s=\"c\"} 2",
           "{__name__=\"t\", s=\"d\"} 2");
    EXPECT(&q, "bottomk(3, t)", 0, "{__name__=\"t\", s=\"a\"} 1", "{__name__=\"t\", s=\"b\"} 1",
           "{__name__=\"t\", s=\"c\"} 2");
    memq_free(&q);
}

/* operators.test: group_left/group_right label copying, on()/ignoring(),
 * bool, and the matching errors. */
static void test_vector_matching(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, M5, "node_var{instance=\"abc\",job=\"node\"} 2");
    load(&q, M5, "node_role{instance=\"abc\",job=\"node\",role=\"prometheus\"} 1");
    load(&q, M5, "node_cpu{instance=\"abc\",job=\"node\",mode=\"idle\"} 3");
    load(&q, M5, "node_cpu{instance=\"abc\",job=\"node\",mode=\"user\"} 1");
    load(&q, M5, "node_cpu{instance=\"def\",job=\"node\",mode=\"idle\"} 8");
    load(&q, M5, "node_cpu{instance=\"def\",job=\"node\",mode=\"user\"} 2");
    load(&q, M5, "random{foo=\"bar\"} 1");
    load(&q, M5, "threshold{instance=\"abc\",job=\"node\",target=\"a@b.com\"} 0");
    EXPECT(&q, "node_role * on (instance) group_right (role) node_var", MIN(5),
           "{instance=\"abc\", job=\"node\", role=\"prometheus\"} 2");
    EXPECT(&q, "node_var * ignoring (role) group_left (role) node_role", MIN(5),
           "{instance=\"abc\", job=\"node\", role=\"prometheus\"} 2");
    EXPECT(&q, "node_cpu * ignoring (role, mode) group_left (role) node_role", MIN(5),
           "{instance=\"abc\", job=\"node\", mode=\"idle\", role=\"prometheus\"} 3",
           "{instance=\"abc\", job=\"node\", mode=\"user\", role=\"prometheus\"} 1");
    EXPECT(&q, "node_cpu / on (instance) group_left sum by (instance,job)(node_cpu)", MIN(5),
           "{instance=\"abc\", job=\"node\", mode=\"idle\"} 0.75", "{instance=\"abc\", job=\"node\", mode=\"user\"} 0.25",
           "{instance=\"def\", job=\"node\", mode=\"idle\"} 0.8", "{instance=\"def\", job=\"node\", mode=\"user\"} 0.2");
    EXPECT(&q, "sum by (mode, job)(node_cpu) / on (job) group_left sum by (job)(node_cpu)", MIN(5),
           "{job=\"node\", mode=\"idle\"} 0.7857142857142857", "{job=\"node\", mode=\"user\"} 0.21428571428571427");
    EXPECT(&q, "node_cpu + on(dummy) group_left(foo) random*0", MIN(5),
           "{foo=\"bar\", instance=\"abc\", job=\"node\", mode=\"idle\"} 3",
           "{foo=\"bar\", instance=\"abc\", job=\"node\", mode=\"user\"} 1",
           "{foo=\"bar\", instance=\"def\", job=\"node\", mode=\"idle\"} 8",
           "{foo=\"bar\", instance=\"def\", job=\"node\", mode=\"user\"} 2");
    EXPECT(&q, "node_cpu > on(job, instance) group_left(target) threshold", MIN(5),
           "{__name__=\"node_cpu\", instance=\"abc\", job=\"node\", mode=\"idle\", target=\"a@b.com\"} 3",
           "{__name__=\"node_cpu\", instance=\"abc\", job=\"node\", mode=\"user\", target=\"a@b.com\"} 1");
    EXPECT(&q,
           "node_cpu > on(job, instance) group_left(target) (threshold or on (job, instance) (sum by (job, "
           "instance)(node_cpu) * 0 + 1))",
           MIN(5), "{__name__=\"node_cpu\", instance=\"abc\", job=\"node\", mode=\"idle\", target=\"a@b.com\"} 3",
           "{__name__=\"node_cpu\", instance=\"abc\", job=\"node\", mode=\"user\", target=\"a@b.com\"} 1",
           "{__name__=\"node_cpu\", instance=\"def\", job=\"node\", mode=\"idle\"} 8",
           "{__name__=\"node_cpu\", instance=\"def\", job=\"node\", mode=\"user\"} 2");
    EXPECT(&q, "node_cpu % 2", MIN(5), "{instance=\"abc\", job=\"node\", mode=\"idle\"} 1",
           "{instance=\"abc\", job=\"node\", mode=\"user\"} 1", "{instance=\"def\", job=\"node\", mode=\"idle\"} 0",
           "{instance=\"def\", job=\"node\", mode=\"user\"} 0");
    /* the errors of VectorBinop (engine.go) */
    expect_error(&q, "node_cpu + on(job) node_var", MIN(5),
                 "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
    expect_error(&q, "node_var + on(job) node_cpu", MIN(5),
                 "found duplicate series for the match group {job=\"node\"} on the right hand-side of the operation: "
                 "[{__name__=\"node_cpu\", instance=\"abc\", job=\"node\", mode=\"user\"}, {__name__=\"node_cpu\", "
                 "instance=\"abc\", job=\"node\", mode=\"idle\"}];many-to-many matching not allowed: matching labels "
                 "must be unique on one side");
    memq_free(&q);
    /* two left series equal but for their name: the same result labels */
    load(&q, M5, "a{x=\"1\"} 1");
    load(&q, M5, "b{x=\"1\"} 2");
    load(&q, M5, "c{x=\"1\"} 3");
    expect_error(&q, "{__name__=~\"a|b\"} + on(x) group_left c", MIN(5),
                 "multiple matches for labels: grouping labels must ensure unique matches");
    EXPECT(&q, "{__name__=~\"a|b\"} > on(x) group_left c - 2", MIN(5), "{__name__=\"b\", x=\"1\"} 2");
    memq_free(&q);

    load(&q, M5, "random{foo=\"bar\"} 2");
    load(&q, M5, "metricA{baz=\"meh\"} 3");
    load(&q, M5, "metricB{baz=\"meh\"} 4");
    EXPECT(&q, "random + on() metricA", MIN(5), "{} 5");
    EXPECT(&q, "metricA + ignoring() metricB", MIN(5), "{baz=\"meh\"} 7");
    memq_free(&q);

    load(&q, M5, "test_total{instance=\"localhost\"} 50");
    load(&q, M5, "test_smaller{instance=\"localhost\"} 10");
    EXPECT(&q, "test_total > bool test_smaller", MIN(5), "{instance=\"localhost\"} 1");
    EXPECT(&q, "test_total > test_smaller", MIN(5), "{__name__=\"test_total\", instance=\"localhost\"} 50");
    EXPECT_EMPTY(&q, "test_total < test_smaller", MIN(5));
    memq_free(&q);

    load(&q, M5, "testmetric1{src=\"a\",dst=\"b\"} 0");
    load(&q, M5, "testmetric2{src=\"a\",dst=\"b\"} 1");
    expect_error(&q, "-{__name__=~'testmetric1|testmetric2'}", 0, "vector cannot contain metrics with the same labelset");
    memq_free(&q);
}

/* staleness.test and subquery.test: stale markers end a series at once (in
 * instant and range selectors), lookback is 5m; subquery steps are aligned
 * to multiples of the step. */
static void test_staleness_and_subqueries(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, SEC(10), "metric 0 1 stale 2");
    EXPECT(&q, "metric", SEC(10), "{__name__=\"metric\"} 1");
    EXPECT_EMPTY(&q, "metric", SEC(20));
    EXPECT(&q, "metric", SEC(330), "{__name__=\"metric\"} 2");
    EXPECT_EMPTY(&q, "metric", SEC(331));
    EXPECT(&q, "count_over_time(metric[1m])", SEC(30), "{} 3");
    EXPECT_EMPTY(&q, "count_over_time(metric[1s])", SEC(20));
    EXPECT(&q, "count_over_time(metric[10s])", SEC(20), "{} 1");
    memq_free(&q);

    load(&q, SEC(10), "metric 1 2");
    EXPECT(&q, "sum_over_time(metric[50s:10s])", SEC(10), "{} 3");
    EXPECT(&q, "sum_over_time(metric[50s:5s])", SEC(10), "{} 4");
    EXPECT(&q, "sum_over_time(metric[50s:10s])", MIN(5), "{} 12");
    EXPECT(&q, "sum_over_time(metric[50s:10s])", MIN(6), "{} 2");
    EXPECT(&q, "rate(metric[20s:10s])", SEC(10), "{} 0.1");
    EXPECT(&q, "rate(metric[20s:5s])", SEC(20), "{} 0.05");
    memq_free(&q);

    load(&q, SEC(10), "metric1 0+1x1000");
    EXPECT(&q, "sum_over_time(metric1[30s:10s])", SEC(1000), "{} 394");
    EXPECT(&q, "sum_over_time(metric1[30s:5s])", SEC(1000), "{} 688");
    memq_free(&q);
}

/* Errors and limits of the engine itself (engine.go's texts). */
static void test_limits_and_errors(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, SEC(10), "m{a=\"1\"} 0+1x100");
    load(&q, SEC(10), "m{a=\"2\"} 0+1x100");
    st_promql_engine_opts_t o;
    st_promql_engine_opts_default(&o);
    o.max_samples = 10;
    st_promql_result_t r;
    assert_int_equal(st_promql_eval_instant(&o, qb(&q), "m[1m]", SEC(500), &r), ST_ELIMIT);
    assert_string_equal(r.error, "query processing would load too many samples into memory in query execution");
    assert_string_equal(r.error_type, "execution");
    st_promql_result_free(&r);
    assert_int_equal(st_promql_eval_instant(&o, qb(&q), "sum(m)", SEC(500), &r), 0);
    st_promql_result_free(&r);
    assert_int_equal(st_promql_eval_range(&o, qb(&q), "m", 0, SEC(100), SEC(10), &r), ST_ELIMIT);
    st_promql_result_free(&r);

    atomic_bool cancel = true;
    st_promql_query_t qry = {.text = "m", .text_len = 1, .start = 0, .end = 0, .cancel = &cancel};
    assert_int_equal(st_promql_exec(NULL, qb(&q), &qry, &r), ST_ECANCELED);
    assert_string_equal(r.error_type, "canceled");
    st_promql_result_free(&r);

    assert_int_equal(st_promql_eval_range(NULL, qb(&q), "m[1m]", 0, SEC(100), SEC(10), &r), ST_EINVAL);
    assert_string_equal(r.error, "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector");
    assert_string_equal(r.error_type, "bad_data");
    st_promql_result_free(&r);
    assert_int_equal(st_promql_eval_instant(NULL, qb(&q), "sum(", 0, &r), ST_EINVAL);
    assert_string_equal(r.error_type, "bad_data");
    st_promql_result_free(&r);

    /* hints: the enclosing function and the grouping of an aggregation */
    assert_int_equal(st_promql_eval_instant(NULL, qb(&q), "sum by (a) (rate(m[5m]))", SEC(500), &r), 0);
    assert_string_equal(q.last_func, "rate");
    assert_int_equal(q.last_hints.range, MIN(5));
    assert_int_equal(q.last_hints.end, SEC(500));
    assert_int_equal(q.last_hints.start, SEC(500) - MIN(5));
    st_promql_result_free(&r);
    assert_int_equal(st_promql_eval_instant(NULL, qb(&q), "max without (a) (m offset 1m)", SEC(500), &r), 0);
    assert_string_equal(q.last_func, "max");
    assert_false(q.last_hints.by);
    assert_int_equal(q.last_hints.ngrouping, 1);
    assert_int_equal(q.last_hints.start, SEC(500) - MIN(1) - MIN(5));
    st_promql_result_free(&r);

    /* the queryable's warnings and errors reach the result */
    q.warn = true;
    assert_int_equal(st_promql_eval_instant(NULL, qb(&q), "m + m", SEC(500), &r), 0);
    assert_int_equal(r.warnings.n, 1);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_promql_response_json(&b, &r);
    st_put_u8(&b, 0);
    assert_non_null(strstr((const char *)b.p, "}]},\"warnings\":[\"partial response\"]}"));
    st_encbuf_free(&b);
    st_promql_result_free(&r);
    q.fail = true;
    assert_int_equal(st_promql_eval_instant(NULL, qb(&q), "m", SEC(500), &r), ST_EIO);
    assert_string_equal(r.error, "expanding series: store down");
    assert_string_equal(r.error_type, "execution");
    st_promql_result_free(&r);
    /* series are read as they are evaluated: a failure midway still fails
     * the query, as an error expanding series */
    q.fail = false;
    q.fail_sample = true;
    const char *const failing[] = {"m", "sum(m)", "rate(m[1m])", "sum(rate(m[1m]))", "timestamp(m)", "m[1m]"};
    for (size_t i = 0; i < sizeof failing / sizeof failing[0]; i++) {
        assert_int_equal(st_promql_eval_instant(NULL, qb(&q), failing[i], SEC(500), &r), ST_ECORRUPT);
        assert_string_equal(r.error, "expanding series: chunk 7: bad XOR encoding");
        assert_string_equal(r.error_type, "execution");
        st_promql_result_free(&r);
    }
    memq_free(&q);
}

/* ---- sliding windows and streamed aggregations ----
 * Range queries evaluate functions of range vectors with windows that slide
 * from step to step, and aggregate some inputs series by series. Their
 * results must be bit for bit those of evaluating each function on its
 * whole window (functions.go's definitions, written out again below) and
 * of aggregating step by step. Random series: counters with resets,
 * gauges with NaN, infinities, -0 and ties, irregular gaps. */

typedef struct {
    const int64_t *t;
    const double *v;
    size_t n;
} win_t;

/* extrapolatedRate (functions.go) */
static bool ref_rate(win_t w, int64_t ts, int64_t range, int64_t offset, bool counter, bool is_rate, double *out) {
    if (w.n < 2) return false;
    int64_t range_start = ts - (range + offset), range_end = ts - offset;
    double result = w.v[w.n - 1] - w.v[0];
    if (counter) {
        double prev = w.v[0];
        for (size_t i = 1; i < w.n; i++) {
            if (w.v[i] < prev) result += prev;
            prev = w.v[i];
        }
    }
    double to_start = (double)(w.t[0] - range_start) / 1000, to_end = (double)(range_end - w.t[w.n - 1]) / 1000;
    double sampled = (double)(w.t[w.n - 1] - w.t[0]) / 1000, avg = sampled / (double)(w.n - 1);
    if (counter && result > 0 && w.v[0] >= 0) {
        double to_zero = sampled * (w.v[0] / result);
        if (to_zero < to_start) to_start = to_zero;
    }
    double threshold = avg * 1.1, interval = sampled;
    interval += to_start < threshold ? to_start : avg / 2;
    interval += to_end < threshold ? to_end : avg / 2;
    double factor = interval / sampled;
    if (is_rate) factor /= (double)range / 1000;
    *out = result * factor;
    return true;
}

/* max_over_time / min_over_time (functions.go's loops) */
static double ref_extreme(win_t w, bool max) {
    double m = w.v[0];
    for (size_t i = 0; i < w.n; i++)
        if ((max ? w.v[i] > m : w.v[i] < m) || isnan(m)) m = w.v[i];
    return m;
}

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static uint64_t rnd(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Series x{g, i}, i = 0..11, g = i % 3: even i counters with resets, odd
 * i gauges with NaN, infinities, -0 and ties; i = 1 and 3 only 0, -0,
 * NaN, an infinity and one other value (so +0/-0 ties often decide max and
 * min); g="0" starts two hours after the others. */
static void fill_random(memq_t *q, uint64_t seed) {
    uint64_t x = seed;
    static const double specials[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 5, 5};
    static const double zeros[2][5] = {{0.0, -0.0, -1, NAN, -INFINITY}, {-0.0, 0.0, 1, NAN, INFINITY}};
    for (int si = 0; si < 12; si++) {
        char line[64];
        snprintf(line, sizeof line, "x{g=\"%d\", i=\"%d\"} 0", si % 3, si);
        load(q, SEC(15), line);
        mser_t *s = &q->s[q->n - 1];
        s->n = 0;
        int64_t t = (int64_t)(rnd(&x) % 20000) + (si % 3 == 0 ? MIN(120) : 0);
        double v = 0;
        while (s->n < 3000) {
            uint64_t gap = rnd(&x) % 16 == 0 ? 300000 : 30000; /* a long gap now and then */
            t += 1 + (int64_t)(rnd(&x) % gap);
            uint64_t r = rnd(&x) % 100;
            if (si % 2 == 0)
                v = r < 3 ? (double)(rnd(&x) % 10) : v + (double)(rnd(&x) % 1000) / 8;
            else if (si == 1 || si == 3)
                v = zeros[si == 3][rnd(&x) % 5];
            else
                v = r < 10 ? specials[rnd(&x) % 7] : (double)(rnd(&x) % 200) - 100;
            s->t[s->n] = t;
            s->v[s->n++] = v;
        }
    }
}

static void test_sliding_windows(void **state) {
    (void)state;
    static memq_t q;
    memset(&q, 0, sizeof q);
    fill_random(&q, 0x9e3779b97f4a7c15ULL);
    static const struct {
        int64_t range, step, offset;
    } cases[] = {{MIN(5), SEC(15), 0}, {MIN(1), SEC(7), SEC(3)}, {SEC(20), MIN(2), 0},
                 {MIN(60), MIN(1), MIN(-5)}, {SEC(1), SEC(1), 0}, {MIN(10), SEC(45), MIN(10)}};
    static const char *const fns[] = {"rate", "increase", "delta", "max_over_time", "min_over_time"};
    uint64_t points = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
            char expr[128];
            int64_t off = cases[c].offset;
            int n = snprintf(expr, sizeof expr, "%s(x[%llds]", fns[f], (long long)cases[c].range / 1000);
            snprintf(expr + n, sizeof expr - (size_t)n, off ? " offset %llds)" : ")", (long long)off / 1000);
            int64_t start = MIN(10), end = MIN(10) + cases[c].step * 600;
            st_promql_result_t r;
            st_promql_engine_opts_t o;
            st_promql_engine_opts_default(&o);
            o.max_samples = 1000000000;
            int rc = st_promql_eval_range(&o, qb(&q), expr, start, end, cases[c].step, &r);
            if (rc) fail_msg("%s: %s", expr, st_errdetail(rc));
            /* every (series, step) of the reference, in the result and equal */
            size_t found = 0;
            for (size_t si = 0; si < q.n; si++) {
                const mser_t *m = &q.s[si];
                const st_promql_series_t *rs = NULL;
                char want_i[24];
                snprintf(want_i, sizeof want_i, "%zu", si);
                for (size_t j = 0; j < r.nseries && !rs; j++) {
                    const st_label_t *l = st_labels_get(&r.series[j].metric, "i");
                    if (l && strcmp(l->value, want_i) == 0) rs = &r.series[j];
                }
                size_t pi = 0;
                for (int64_t ts = start; ts <= end; ts += cases[c].step) {
                    int64_t maxt = ts - off, mint = maxt - cases[c].range;
                    size_t a = 0, b;
                    while (a < m->n && m->t[a] < mint) a++;
                    for (b = a; b < m->n && m->t[b] <= maxt; b++) {}
                    win_t w = {m->t + a, m->v + a, b - a};
                    double want;
                    bool have = w.n > 0;
                    if (f < 3) have = ref_rate(w, ts, cases[c].range, off, f < 2, f == 0, &want);
                    else if (have) want = ref_extreme(w, f == 3);
                    if (!have) continue;
                    if (!rs || pi >= rs->npoints || rs->points[pi].t != ts)
                        fail_msg("%s: series %zu has no point at %lld", expr, si, (long long)ts);
                    if (!same_bits(rs->points[pi].v, want))
                        fail_msg("%s: series %zu at %lld: %.17g, want %.17g", expr, si, (long long)ts,
                                 rs->points[pi].v, want);
                    pi++;
                    points++;
                }
                if (rs && pi != rs->npoints) fail_msg("%s: series %zu has extra points", expr, si);
                found += rs != NULL;
            }
            assert_int_equal(found, r.nseries);
            st_promql_result_free(&r);
        }
    }
    assert_true(points > 100000);
    memq_free(&q);
}

/* Results of st_promql_exec as comparable bytes: the JSON response. */
static char *answer(memq_t *q, const st_promql_engine_opts_t *o, const char *expr, int64_t start, int64_t end,
                    int64_t step) {
    st_promql_result_t r;
    st_promql_query_t qry = {.text = expr, .text_len = strlen(expr), .start = start, .end = end, .step = step};
    st_promql_exec(o, qb(q), &qry, &r);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_promql_response_json(&b, &r);
    st_put_u8(&b, 0);
    st_promql_result_free(&r);
    return (char *)b.p;
}

/* sum(f(x[r])) and sum(x) are aggregated series by series; -(-...) in
 * between (exact, and it keeps the input's series order, unlike a binary
 * operator) makes the engine aggregate step by step over the materialised
 * input instead. Instant queries keep the groups' order, so that is
 * compared too. */
static void test_streamed_aggregations(void **state) {
    (void)state;
    static memq_t q;
    memset(&q, 0, sizeof q);
    fill_random(&q, 0x2545f4914f6cdd1dULL);
    static const char *const aggs[] = {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar"};
    static const char *const grps[] = {"", " by (g)", " without (g)", " by (i)", " without (i, g)"};
    static const char *const ins[] = {"rate(x[5m])", "max_over_time(x[3m])", "sum_over_time(x[2m])", "x",
                                      "last_over_time(x[1m])", "rate(x[1m])[10m:1m] offset 1m"};
    for (size_t a = 0; a < sizeof aggs / sizeof aggs[0]; a++) {
        for (size_t g = 0; g < sizeof grps / sizeof grps[0]; g++) {
            for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
                char e1[200], e2[200];
                const char *in = ins[i];
                char sub[96];
                if (strstr(in, "[10m:1m]")) { /* a subquery: the range function of it */
                    snprintf(sub, sizeof sub, "max_over_time(%s)", in);
                    in = sub;
                }
                st_promql_engine_opts_t o;
                st_promql_engine_opts_default(&o);
                /* the outer sum adds the groups in their order in the matrix */
                for (int outer = 0; outer < 2; outer++) {
                    const char *o1 = outer ? "sum(" : "", *o2 = outer ? ")" : "";
                    snprintf(e1, sizeof e1, "%s%s%s (%s)%s", o1, aggs[a], grps[g], in, o2);
                    snprintf(e2, sizeof e2, "%s%s%s (-(-%s))%s", o1, aggs[a], grps[g], in, o2);
                    char *w1 = answer(&q, &o, e1, MIN(30), MIN(30) + SEC(97) * 300, SEC(97));
                    char *w2 = answer(&q, &o, e2, MIN(30), MIN(30) + SEC(97) * 300, SEC(97));
                    if (strcmp(w1, w2) != 0) {
                        fprintf(stderr, "%s\n%s\n", w1, w2);
                        fail_msg("%s: range answer differs from step-by-step's", e1);
                    }
                    free(w1);
                    free(w2);
                    for (int64_t t = MIN(10); t < MIN(900); t += MIN(97)) {
                        w1 = answer(&q, &o, e1, t, t, 0);
                        w2 = answer(&q, &o, e2, t, t, 0);
                        if (strcmp(w1, w2) != 0) fail_msg("%s at %lld: %s\nwant %s", e1, (long long)t, w1, w2);
                        free(w1);
                        free(w2);
                    }
                }
            }
        }
    }
    /* an input of series that differ only in their name is an error, as before */
    memq_free(&q);
    load(&q, SEC(15), "a{g=\"1\"} 0+1x40");
    load(&q, SEC(15), "b{g=\"1\"} 0+2x40");
    st_promql_result_t r;
    assert_int_equal(st_promql_eval_range(NULL, qb(&q), "sum(rate({g=\"1\"}[1m]))", 0, MIN(5), SEC(15), &r),
                     ST_EINVAL);
    assert_string_equal(r.error, "vector cannot contain metrics with the same labelset");
    st_promql_result_free(&r);
    memq_free(&q);
}

/* The sample limit trips where it does when the aggregated input is
 * materialised (rangeEval's count: the input matrix, then per step the
 * input samples and the results): found by bisecting the limit. */
static void test_streamed_aggregation_limits(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, SEC(10), "m{a=\"1\"} 0+1x100");
    load(&q, SEC(10), "m{a=\"2\"} 0+1x100");
    load(&q, SEC(10), "m{a=\"3\"} 0+1x50");
    st_promql_engine_opts_t o;
    st_promql_engine_opts_default(&o);
    st_promql_result_t r;
    /* rate(m[30s]) at 21 steps of 50 s from 0 has points at steps 1..20
     * for a=1 and a=2, 1..10 for a=3: 50, all held as the input matrix
     * (its windows of 4 samples peak lower). Then rangeEval counts at each
     * step the results of the earlier steps, the step's input samples and
     * its result: at the last step 50 + 19 + 2 + 1 = 72. */
    size_t lo = 1, hi = 200;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        o.max_samples = mid;
        int rc = st_promql_eval_range(&o, qb(&q), "sum(rate(m[30s]))", 0, SEC(1000), SEC(50), &r);
        st_promql_result_free(&r);
        if (rc == 0) hi = mid;
        else lo = mid + 1;
    }
    assert_int_equal(lo, 72);
    memq_free(&q);
}


/* JSON as the HTTP API writes it (web/api/v1/api.go, util/jsonutil). */
static void test_json(void **state) {
    (void)state;
    memq_t q = {0};
    load(&q, SEC(10), "m{a=\"<&>\"} 0.5 1e-7 2e21 -0");
    st_promql_result_t r;
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    assert_int_equal(st_promql_eval_range(NULL, qb(&q), "m", 0, SEC(30), SEC(10), &r), 0);
    st_promql_response_json(&b, &r);
    st_put_u8(&b, 0);
    assert_string_equal((const char *)b.p,
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":"
                        "\"m\",\"a\":\"\\u003c\\u0026\\u003e\"},\"values\":[[0,\"0.5\"],[10,\"1e-07\"],[20,\"2e+21\"],"
                        "[30,\"-0\"]]}]}}");
    st_promql_result_free(&r);
    st_encbuf_reset(&b);
    assert_int_equal(st_promql_eval_instant(NULL, qb(&q), "scalar(m) * 1e-7", 1500, &r), 0);
    st_promql_result_json(&b, &r);
    st_put_u8(&b, 0);
    assert_string_equal((const char *)b.p, "{\"resultType\":\"scalar\",\"result\":[1.5,\"0.00000005\"]}");
    st_promql_result_free(&r);
    st_encbuf_reset(&b);
    assert_int_equal(st_promql_eval_instant(NULL, qb(&q), "m", 10050, &r), 0);
    st_promql_result_json(&b, &r);
    st_put_u8(&b, 0);
    assert_string_equal((const char *)b.p, "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"a\":"
                                           "\"\\u003c\\u0026\\u003e\"},\"value\":[10.050,\"1e-07\"]}]}");
    st_promql_result_free(&r);
    st_encbuf_free(&b);
    memq_free(&q);
}

/* A matrix large enough to be formatted by several threads: the same
 * bytes as its series formatted one result at a time (each far below the
 * threshold) and joined in order. Uneven series sizes move the split
 * points; a vector of many series takes the same path. */
static void test_json_parallel(void **state) {
    (void)state;
    const size_t sizes[] = {1, 70000, 3, 0, 120000, 5, 90000, 2, 40000, 1};
    const size_t nser = sizeof sizes / sizeof sizes[0];
    st_promql_result_t r = {.type = ST_PROMQL_TMATRIX, .nseries = nser};
    r.series = calloc(nser, sizeof *r.series);
    assert_non_null(r.series);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < nser; i++) {
        char v[16];
        snprintf(v, sizeof v, "s%zu", i);
        st_label_t l = st_label("series", v);
        assert_int_equal(st_labels_from_pairs(&r.series[i].metric, &l, 1), 0);
        r.series[i].npoints = sizes[i];
        r.series[i].points = calloc(sizes[i] ? sizes[i] : 1, sizeof *r.series[i].points);
        assert_non_null(r.series[i].points);
        for (size_t j = 0; j < sizes[i]; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            double d;
            uint64_t bits = x % 3 ? x : 0x7ff8000000000001ULL; /* every third a NaN */
            memcpy(&d, &bits, sizeof d);
            r.series[i].points[j] = (st_promql_point_t){.t = (int64_t)(j * 15000 + i), .v = d};
        }
    }
    st_encbuf_t whole, one, want;
    st_encbuf_init(&whole, 0);
    st_encbuf_init(&one, 0);
    st_encbuf_init(&want, 0);
    for (int vec = 0; vec < 2; vec++) {
        r.type = vec ? ST_PROMQL_TVECTOR : ST_PROMQL_TMATRIX;
        st_encbuf_reset(&whole);
        st_encbuf_reset(&want);
        st_promql_result_json(&whole, &r);
        const char *head = vec ? "{\"resultType\":\"vector\",\"result\":[" : "{\"resultType\":\"matrix\",\"result\":[";
        st_put_cstr(&want, head);
        for (size_t i = 0; i < nser; i++) {
            st_promql_result_t single = {.type = r.type, .series = &r.series[i], .nseries = 1};
            st_encbuf_reset(&one);
            st_promql_result_json(&one, &single);
            assert_int_equal(one.err, 0);
            if (i) st_put_u8(&want, ',');
            /* the series object between the result's brackets */
            st_put_bytes(&want, one.p + strlen(head), one.len - strlen(head) - 2);
        }
        st_put_cstr(&want, "]}");
        assert_int_equal(whole.err, 0);
        assert_int_equal(whole.len, want.len);
        assert_memory_equal(whole.p, want.p, want.len);
    }
    st_encbuf_free(&whole);
    st_encbuf_free(&one);
    st_encbuf_free(&want);
    st_promql_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_family),         cmocka_unit_test(test_histogram_quantile),
        cmocka_unit_test(test_topk),                cmocka_unit_test(test_vector_matching),
        cmocka_unit_test(test_staleness_and_subqueries), cmocka_unit_test(test_limits_and_errors),
        cmocka_unit_test(test_json),                cmocka_unit_test(test_json_parallel),
        cmocka_unit_test(test_sliding_windows),
        cmocka_unit_test(test_streamed_aggregations), cmocka_unit_test(test_streamed_aggregation_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
