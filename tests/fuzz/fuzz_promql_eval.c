/* Fuzzes the PromQL engine: the input's first byte picks an instant query
 * or one of a few range queries, the rest is the query text. Queries that
 * parse are evaluated over a tiny in-memory queryable (counters with a
 * reset, gauges, NaN, infinities, stale markers, a classic histogram) with
 * tight limits (samples, steps, a one-second timeout), and the result is
 * printed as JSON. Any crash, sanitizer report or hang is a bug; errors
 * must carry a message and an API error type. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/promql_engine.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

#define NSER 8
#define NPTS 40

typedef struct {
    st_labels_t l[NSER];
    int64_t t[NSER][NPTS];
    double v[NSER][NPTS];
    bool ready;
} data_t;

static data_t D;

static void init_data(void) {
    static const char *const lv[NSER][6] = {
        {"__name__", "c", "job", "a", "le", "0.1"}, {"__name__", "c", "job", "b", "le", "+Inf"},
        {"__name__", "g", "job", "a", "x", "1"},    {"__name__", "g", "job", "b", "x", "2"},
        {"__name__", "h_bucket", "le", "+Inf", NULL, NULL}, {"__name__", "h_bucket", "le", "1", NULL, NULL},
        {"__name__", "n", "job", "a", NULL, NULL},  {"__name__", "s", "job", "a", NULL, NULL},
    };
    uint64_t stale_bits = ST_STALE_NAN_BITS;
    double stale;
    memcpy(&stale, &stale_bits, sizeof stale);
    for (int s = 0; s < NSER; s++) {
        st_label_t pairs[3];
        size_t n = 0;
        for (int k = 0; k < 6 && lv[s][k]; k += 2) pairs[n++] = st_label(lv[s][k], lv[s][k + 1]);
        check(st_labels_from_pairs(&D.l[s], pairs, n) == 0);
        for (int i = 0; i < NPTS; i++) {
            D.t[s][i] = (int64_t)i * 15000 + (s == 3 ? 7000 : 0);
            double v;
            switch (s) {
            case 0: v = i < 20 ? i * 3 : (i - 20); break;
            case 1: v = i * 5; break;
            case 4: v = 2 * i; break;
            case 5: v = i; break;
            case 6: v = i % 5 == 0 ? NAN : i % 7 == 0 ? INFINITY : -i; break;
            case 7: v = i == 20 ? stale : i; break;
            default: v = sin(i) * 10;
            }
            D.v[s][i] = v;
        }
    }
    D.ready = true;
}

typedef struct {
    const st_matchers_t *ms;
    int64_t mint, maxt;
    int cur, j;
} set_t;

static bool match(int s, const st_matchers_t *ms) {
    for (size_t i = 0; i < ms->n; i++) {
        const st_label_t *x = st_labels_get(&D.l[s], st_matcher_name(ms->v[i]));
        if (!st_matcher_matches(ms->v[i], x ? x->value : "", x ? x->value_len : 0)) return false;
    }
    return true;
}

static int set_next(void *ctx) {
    set_t *s = ctx;
    do s->cur++;
    while (s->cur < NSER && !match(s->cur, s->ms));
    s->j = 0;
    return s->cur < NSER;
}

static const st_labels_t *set_labels(void *ctx) { return &D.l[((set_t *)ctx)->cur]; }

static int set_sample(void *ctx, int64_t *t, double *v) {
    set_t *s = ctx;
    while (s->j < NPTS && D.t[s->cur][s->j] < s->mint) s->j++;
    if (s->j >= NPTS || D.t[s->cur][s->j] > s->maxt) return 0;
    *t = D.t[s->cur][s->j];
    *v = D.v[s->cur][s->j];
    s->j++;
    return 1;
}

/* Series in label order: the table above is sorted that way. */
static int sel(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const st_promql_hints_t *h,
               st_series_set_t **out, st_promql_warnings_t *w) {
    (void)ctx, (void)h;
    static const st_series_set_ops_t ops = {.next = set_next, .labels = set_labels, .sample = set_sample, .free = free};
    set_t *s = calloc(1, sizeof *s);
    if (!s) return ST_ENOMEM;
    s->ms = ms;
    s->mint = mint;
    s->maxt = maxt;
    s->cur = -1;
    if (mint > maxt) st_promql_warnings_add(w, "empty range");
    return st_series_set_new(out, &ops, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 2048) return 0;
    if (!D.ready) init_data();
    static const int64_t ranges[][3] = {
        {300000, 300000, 0}, {0, 600000, 15000}, {-60000, 900000, 60000}, {123456, 654321, 7000},
    };
    const int64_t *r = ranges[data[0] % 4];
    st_promql_engine_opts_t o;
    st_promql_engine_opts_default(&o);
    o.max_samples = 20000;
    o.max_steps = 2000;
    o.timeout_ms = 1000;
    st_promql_queryable_t q = {NULL, sel};
    st_promql_query_t qry = {.text = (const char *)data + 1, .text_len = size - 1, .start = r[0], .end = r[1],
                             .step = r[2]};
    st_promql_result_t res;
    int rc = st_promql_exec(&o, &q, &qry, &res);
    if (rc) check(res.error && res.error[0] && res.error_type);
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 24);
    st_promql_response_json(&b, &res);
    st_encbuf_free(&b);
    st_promql_result_free(&res);
    return 0;
}
