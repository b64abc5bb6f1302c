/*
 * PromQL functions on float samples, as Prometheus 2.42 defines them
 * (promql/functions.go, quantile.go): the extrapolated rate family, the
 * *_over_time aggregations with Kahan summation, linear regression for
 * deriv/predict_linear, Holt-Winters, histogram_quantile over classic `le`
 * buckets (coalesced, made monotonic), label_replace/label_join with Go's
 * template expansion, and the date functions computed with Go's own
 * calendar arithmetic (so even NaN and huge inputs give Go's answers).
 *
 * Native histograms are not supported: histogram_count, histogram_sum and
 * histogram_fraction skip float samples and so return nothing.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_int.h"
#include "strata/err.h"
#include "strata/regex.h"
#include "strata/textfmt.h"

static double arg_scalar(fcall_t *c, size_t i) { return c->args[i].n ? c->args[i].s[0].v : NAN; }

static int push(fcall_t *c, const lset_t *m, double v) { return vec_push(c->out, m, 0, v); }

static const lset_t *dropped(fcall_t *c, const lset_t *m) { return drop_metric_name(c->ev->q, c->memo, m); }

/* Go's math.Max / math.Min: an infinity wins over NaN, NaN over numbers. */
static double go_max(double x, double y) {
    if (isinf(x) && x > 0) return x;
    if (isinf(y) && y > 0) return y;
    if (isnan(x) || isnan(y)) return NAN;
    if (x == 0 && x == y) return signbit(x) ? y : x;
    return x > y ? x : y;
}

static double go_min(double x, double y) {
    if (isinf(x) && x < 0) return x;
    if (isinf(y) && y < 0) return y;
    if (isnan(x) || isnan(y)) return NAN;
    if (x == 0 && x == y) return signbit(x) ? x : y;
    return x < y ? x : y;
}

static void kahan_inc(double inc, double *sum, double *c) {
    double t = *sum + inc;
    if (fabs(*sum) >= fabs(inc)) *c += (*sum - t) + inc;
    else *c += (inc - t) + *sum;
    *sum = t;
}

/* ---- range-vector functions ---- */

double pql_extrapolate(const pt_t *p, size_t n, double result, int64_t ts, int64_t range, int64_t offset,
                       bool is_counter, bool is_rate) {
    int64_t range_start = wrap_sub(ts, wrap_add(range, offset));
    int64_t range_end = wrap_sub(ts, offset);
    double to_start = (double)wrap_sub(p[0].t, range_start) / 1000;
    double to_end = (double)wrap_sub(range_end, p[n - 1].t) / 1000;
    double sampled = (double)wrap_sub(p[n - 1].t, p[0].t) / 1000;
    double avg = sampled / (double)(n - 1);
    if (is_counter && result > 0 && p[0].v >= 0) {
        double to_zero = sampled * (p[0].v / result);
        if (to_zero < to_start) to_start = to_zero;
    }
    double threshold = avg * 1.1, interval = sampled;
    interval += to_start < threshold ? to_start : avg / 2;
    interval += to_end < threshold ? to_end : avg / 2;
    double factor = interval / sampled;
    if (is_rate) factor /= (double)range / 1000;
    return result * factor;
}

static int extrapolated_rate(fcall_t *c, bool is_counter, bool is_rate) {
    const pt_t *p = c->win.p;
    size_t n = c->win.n;
    if (n < 2) return 0;
    double result = p[n - 1].v - p[0].v;
    if (is_counter) {
        double prev = p[0].v;
        for (size_t i = 1; i < n; i++) {
            if (p[i].v < prev) result += prev;
            prev = p[i].v;
        }
    }
    return push(c, c->ev->q->empty,
                pql_extrapolate(p, n, result, c->ts, c->win.range, c->win.offset, is_counter, is_rate));
}

static int f_rate(fcall_t *c) { return extrapolated_rate(c, true, true); }
static int f_increase(fcall_t *c) { return extrapolated_rate(c, true, false); }
static int f_delta(fcall_t *c) { return extrapolated_rate(c, false, false); }

static int instant_value(fcall_t *c, bool is_rate) {
    const pt_t *p = c->win.p;
    size_t n = c->win.n;
    if (n < 2) return 0;
    pt_t last = p[n - 1], prev = p[n - 2];
    double v = is_rate && last.v < prev.v ? last.v : last.v - prev.v;
    int64_t dt = wrap_sub(last.t, prev.t);
    if (dt == 0) return 0;
    if (is_rate) v /= (double)dt / 1000;
    return push(c, c->ev->q->empty, v);
}

static int f_irate(fcall_t *c) { return instant_value(c, true); }
static int f_idelta(fcall_t *c) { return instant_value(c, false); }

static void linear_regression(const pt_t *p, size_t n, int64_t t0, double *slope, double *intercept) {
    double cnt = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init = p[0].v;
    bool const_y = true;
    for (size_t i = 0; i < n; i++) {
        if (const_y && i > 0 && p[i].v != init) const_y = false;
        cnt += 1;
        double x = (double)wrap_sub(p[i].t, t0) / 1e3;
        kahan_inc(x, &sx, &cx);
        kahan_inc(p[i].v, &sy, &cy);
        kahan_inc(x * p[i].v, &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init)) {
            *slope = *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init;
        }
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / cnt, var = sx2 - sx * sx / cnt;
    *slope = cov / var;
    *intercept = sy / cnt - *slope * sx / cnt;
}

static int f_deriv(fcall_t *c) {
    if (c->win.n < 2) return 0;
    double slope, icpt;
    linear_regression(c->win.p, c->win.n, c->win.p[0].t, &slope, &icpt);
    return push(c, c->ev->q->empty, slope);
}

static int f_predict_linear(fcall_t *c) {
    if (c->win.n < 2) return 0;
    double slope, icpt;
    linear_regression(c->win.p, c->win.n, c->ts, &slope, &icpt);
    return push(c, c->ev->q->empty, slope * arg_scalar(c, 1) + icpt);
}

/* Go's %f of a float64: NaN and infinities spelled as Go does. */
static void go_f(char *out, size_t len, double v) {
    if (isnan(v)) snprintf(out, len, "NaN");
    else if (isinf(v)) snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    else snprintf(out, len, "%f", v);
}

static int f_holt_winters(fcall_t *c) {
    double sf = arg_scalar(c, 1), tf = arg_scalar(c, 2);
    char buf[400];
    if (sf <= 0 || sf >= 1) {
        go_f(buf, sizeof buf, sf);
        return st_errorf(ST_EINVAL, "invalid smoothing factor. Expected: 0 < sf < 1, got: %s", buf);
    }
    if (tf <= 0 || tf >= 1) {
        go_f(buf, sizeof buf, tf);
        return st_errorf(ST_EINVAL, "invalid trend factor. Expected: 0 < tf < 1, got: %s", buf);
    }
    const pt_t *p = c->win.p;
    size_t n = c->win.n;
    if (n < 2) return 0;
    double s0 = 0, s1 = p[0].v, b = p[1].v - p[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * p[i].v;
        if (i - 1 != 0) b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    return push(c, c->ev->q->empty, s1);
}

static int f_resets(fcall_t *c) {
    int n = 0;
    for (size_t i = 1; i < c->win.n; i++)
        if (c->win.p[i].v < c->win.p[i - 1].v) n++;
    return push(c, c->ev->q->empty, n);
}

static int f_changes(fcall_t *c) {
    int n = 0;
    for (size_t i = 1; i < c->win.n; i++) {
        double cur = c->win.p[i].v, prev = c->win.p[i - 1].v;
        if (cur != prev && !(isnan(cur) && isnan(prev))) n++;
    }
    return push(c, c->ev->q->empty, n);
}

static int f_avg_over_time(fcall_t *c) {
    double mean = 0, cnt = 0, comp = 0;
    for (size_t i = 0; i < c->win.n; i++) {
        double v = c->win.p[i].v;
        cnt++;
        if (isinf(mean)) {
            if (isinf(v) && (mean > 0) == (v > 0)) continue;
            if (!isinf(v) && !isnan(v)) continue;
        }
        kahan_inc(v / cnt - mean / cnt, &mean, &comp);
    }
    return push(c, c->ev->q->empty, isinf(mean) ? mean : mean + comp);
}

static int f_count_over_time(fcall_t *c) { return push(c, c->ev->q->empty, (double)c->win.n); }

static int f_last_over_time(fcall_t *c) { return push(c, c->win.metric, c->win.p[c->win.n - 1].v); }

static int f_max_over_time(fcall_t *c) {
    double m = c->win.p[0].v;
    for (size_t i = 0; i < c->win.n; i++)
        if (c->win.p[i].v > m || isnan(m)) m = c->win.p[i].v;
    return push(c, c->ev->q->empty, m);
}

static int f_min_over_time(fcall_t *c) {
    double m = c->win.p[0].v;
    for (size_t i = 0; i < c->win.n; i++)
        if (c->win.p[i].v < m || isnan(m)) m = c->win.p[i].v;
    return push(c, c->ev->q->empty, m);
}

static int f_sum_over_time(fcall_t *c) {
    double sum = 0, comp = 0;
    for (size_t i = 0; i < c->win.n; i++) kahan_inc(c->win.p[i].v, &sum, &comp);
    return push(c, c->ev->q->empty, isinf(sum) ? sum : sum + comp);
}

static int f_quantile_over_time(fcall_t *c) {
    double *v = malloc(c->win.n * sizeof *v);
    if (!v) return oom("quantile_over_time");
    for (size_t i = 0; i < c->win.n; i++) v[i] = c->win.p[i].v;
    double q = pql_quantile(arg_scalar(c, 0), v, c->win.n);
    free(v);
    return push(c, c->ev->q->empty, q);
}

static double variance_over_time(const mwin_t *w) {
    double cnt = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < w->n; i++) {
        double v = w->p[i].v;
        cnt++;
        double delta = v - (mean + cmean);
        kahan_inc(delta / cnt, &mean, &cmean);
        kahan_inc(delta * (v - (mean + cmean)), &aux, &caux);
    }
    return (aux + caux) / cnt;
}

static int f_stddev_over_time(fcall_t *c) { return push(c, c->ev->q->empty, sqrt(variance_over_time(&c->win))); }
static int f_stdvar_over_time(fcall_t *c) { return push(c, c->ev->q->empty, variance_over_time(&c->win)); }
static int f_present_over_time(fcall_t *c) { return push(c, c->ev->q->empty, 1); }
static int f_absent_over_time(fcall_t *c) { return push(c, c->ev->q->empty, 1); }

/* ---- instant-vector functions ---- */

static int simple(fcall_t *c, double (*f)(double)) {
    vec_t *v = &c->args[0];
    for (size_t i = 0; i < v->n; i++) {
        const lset_t *m = dropped(c, v->s[i].m);
        if (!m) return ST_ENOMEM;
        int rc = push(c, m, f(v->s[i].v));
        if (rc) return rc;
    }
    return 0;
}

static double d_deg(double v) { return v * 180 / M_PI; }
static double d_rad(double v) { return v * M_PI / 180; }
static double d_sgn(double v) { return v < 0 ? -1 : v > 0 ? 1 : v; }
/* Go's Log2: exact for powers of two. */
static double d_log2(double v) {
    int e;
    double frac = frexp(v, &e);
    if (frac == 0.5) return (double)(e - 1);
    return log(frac) * (1 / M_LN2) + (double)e;
}
/* Go's math.Log on amd64 (assembly): a subnormal input is decomposed as if
 * its exponent were the smallest normal one, so ln(5e-324) is -1023 ln 2. */
static double go_log(double v) {
    if (v > 0 && fpclassify(v) == FP_SUBNORMAL) {
        uint64_t u;
        memcpy(&u, &v, sizeof u);
        u = (u & 0x000FFFFFFFFFFFFFULL) | 0x3FE0000000000000ULL;
        double f1;
        memcpy(&f1, &u, sizeof f1);
        return log(f1) - 1022 * M_LN2;
    }
    return log(v);
}
static double d_log10(double v) { return go_log(v) * (1 / M_LN10); }

#define SIMPLE(name, fn) \
    static int f_##name(fcall_t *c) { return simple(c, fn); }
SIMPLE(abs, fabs)
SIMPLE(ceil, ceil)
SIMPLE(floor, floor)
SIMPLE(exp, exp)
SIMPLE(sqrt, sqrt)
SIMPLE(ln, go_log)
SIMPLE(log2, d_log2)
SIMPLE(log10, d_log10)
SIMPLE(sin, sin)
SIMPLE(cos, cos)
SIMPLE(tan, tan)
SIMPLE(asin, asin)
SIMPLE(acos, acos)
SIMPLE(atan, atan)
SIMPLE(sinh, sinh)
SIMPLE(cosh, cosh)
SIMPLE(tanh, tanh)
SIMPLE(asinh, asinh)
SIMPLE(acosh, acosh)
SIMPLE(atanh, atanh)
SIMPLE(deg, d_deg)
SIMPLE(rad, d_rad)
SIMPLE(sgn, d_sgn)

static int f_time(fcall_t *c) { return push(c, c->ev->q->empty, (double)c->ts / 1000); }
static int f_pi(fcall_t *c) { return push(c, c->ev->q->empty, M_PI); }
static int f_vector(fcall_t *c) { return push(c, c->ev->q->empty, arg_scalar(c, 0)); }

static int f_scalar(fcall_t *c) {
    return push(c, c->ev->q->empty, c->args[0].n == 1 ? c->args[0].s[0].v : NAN);
}

static int f_timestamp(fcall_t *c) {
    vec_t *v = &c->args[0];
    for (size_t i = 0; i < v->n; i++) {
        const lset_t *m = dropped(c, v->s[i].m);
        if (!m) return ST_ENOMEM;
        int rc = push(c, m, (double)v->s[i].t / 1000);
        if (rc) return rc;
    }
    return 0;
}

static int clamp(fcall_t *c, double lo, double hi, int which) {
    vec_t *v = &c->args[0];
    for (size_t i = 0; i < v->n; i++) {
        const lset_t *m = dropped(c, v->s[i].m);
        if (!m) return ST_ENOMEM;
        double x = v->s[i].v;
        x = which == 0 ? go_max(lo, go_min(hi, x)) : which == 1 ? go_min(hi, x) : go_max(lo, x);
        int rc = push(c, m, x);
        if (rc) return rc;
    }
    return 0;
}

static int f_clamp(fcall_t *c) {
    double lo = arg_scalar(c, 1), hi = arg_scalar(c, 2);
    if (hi < lo) return 0;
    return clamp(c, lo, hi, 0);
}
static int f_clamp_max(fcall_t *c) { return clamp(c, 0, arg_scalar(c, 1), 1); }
static int f_clamp_min(fcall_t *c) { return clamp(c, arg_scalar(c, 1), 0, 2); }

static int f_round(fcall_t *c) {
    double to = c->node->nargs >= 2 ? arg_scalar(c, 1) : 1;
    double inv = 1.0 / to;
    vec_t *v = &c->args[0];
    for (size_t i = 0; i < v->n; i++) {
        const lset_t *m = dropped(c, v->s[i].m);
        if (!m) return ST_ENOMEM;
        int rc = push(c, m, floor(v->s[i].v * inv + 0.5) / inv);
        if (rc) return rc;
    }
    return 0;
}

static int cmp_sort(const void *a, const void *b) {
    double x = ((const smp_t *)a)->v, y = ((const smp_t *)b)->v;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

static int cmp_sort_desc(const void *a, const void *b) {
    double x = ((const smp_t *)a)->v, y = ((const smp_t *)b)->v;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x < y) - (x > y);
}

static int sort_vec(fcall_t *c, bool desc) {
    vec_t *v = &c->args[0];
    for (size_t i = 0; i < v->n; i++) {
        int rc = vec_push(c->out, v->s[i].m, v->s[i].t, v->s[i].v);
        if (rc) return rc;
    }
    if (c->out->n > 1) qsort(c->out->s, c->out->n, sizeof *c->out->s, desc ? cmp_sort_desc : cmp_sort);
    return 0;
}

static int f_sort(fcall_t *c) { return sort_vec(c, false); }
static int f_sort_desc(fcall_t *c) { return sort_vec(c, true); }

/* createLabelsForAbsentFunction */
const lset_t *absent_labels(qctx_t *q, enode_t *arg) {
    enode_t *a = unwrap_paren(arg);
    if (a->kind == EN_MS) a = a->kid[0];
    if (a->kind != EN_VS) return q->empty;
    const st_matchers_t *ms = &a->e->vs.matchers;
    lbuild_t *b = &q->lb;
    b->n = 0;
    for (size_t i = 0; i < ms->n; i++) {
        const char *name = st_matcher_name(ms->v[i]);
        if (strcmp(name, ST_METRIC_NAME) == 0) continue;
        bool has = false;
        for (size_t j = 0; j < i && !has; j++)
            has = st_matcher_type(ms->v[j]) == ST_MATCH_EQ && strcmp(st_matcher_name(ms->v[j]), name) == 0;
        if (st_matcher_type(ms->v[i]) == ST_MATCH_EQ && !has) {
            const char *v = st_matcher_value(ms->v[i]);
            if (lb_set(b, name, strlen(name), v, strlen(v))) return NULL;
        } else {
            lb_del(b, name);
        }
    }
    return lb_intern(q, b);
}

static int f_absent(fcall_t *c) {
    if (c->args[0].n) return 0;
    const lset_t *m = absent_labels(c->ev->q, c->node->args[0]);
    return m ? push(c, m, 1) : ST_ENOMEM;
}

/* ---- dates: Go's time package arithmetic ---- */

typedef struct {
    int64_t year;
    int month, day, yday, wday, hour, minute;
} gotime_t;

static bool go_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

/* time.Unix(sec, 0).UTC() broken down: Go's absolute-time calendar on
 * wrapping uint64 arithmetic. */
static void go_time(int64_t sec, gotime_t *t) {
    static const int before[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365};
    const uint64_t day = 86400, d400 = 365 * 400 + 97, d100 = 365 * 100 + 24, d4 = 365 * 4 + 1;
    uint64_t abs = (uint64_t)sec + 9223372028715321600ULL;
    uint64_t d = abs / day;
    uint64_t n = d / d400, y = 400 * n;
    d -= d400 * n;
    n = d / d100;
    n -= n >> 2;
    y += 100 * n;
    d -= d100 * n;
    n = d / d4;
    y += 4 * n;
    d -= d4 * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    t->year = (int64_t)(y + (uint64_t)(int64_t)-292277022399LL);
    t->yday = (int)d;
    int dd = t->yday;
    t->hour = (int)((abs % day) / 3600);
    t->minute = (int)((abs % 3600) / 60);
    t->wday = (int)(((abs + day) % (7 * day)) / day);
    if (go_leap(t->year)) {
        if (dd > 31 + 29 - 1) {
            dd--;
        } else if (dd == 31 + 29 - 1) {
            t->month = 2;
            t->day = 29;
            return;
        }
    }
    int m = dd / 31;
    int begin;
    if (dd >= before[m + 1]) {
        m++;
        begin = before[m];
    } else {
        begin = before[m];
    }
    t->month = m + 1;
    t->day = dd - begin + 1;
}

/* Go's int64(float64) on amd64: NaN and out-of-range values give MinInt64. */
static int64_t go_int64(double v) {
    if (isnan(v) || v >= 9223372036854775808.0 || v < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

static double date_part(const gotime_t *t, int what) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    switch (what) {
    case 0: return (double)(t->month == 2 && go_leap(t->year) ? 29 : mdays[t->month - 1]);
    case 1: return t->day;
    case 2: return t->wday;
    case 3: return t->yday + 1;
    case 4: return t->hour;
    case 5: return t->minute;
    case 6: return t->month;
    default: return (double)t->year;
    }
}

static int date_fn(fcall_t *c, int what) {
    gotime_t t;
    if (c->node->nargs == 0) {
        go_time(c->ts / 1000, &t);
        return push(c, c->ev->q->empty, date_part(&t, what));
    }
    vec_t *v = &c->args[0];
    for (size_t i = 0; i < v->n; i++) {
        const lset_t *m = dropped(c, v->s[i].m);
        if (!m) return ST_ENOMEM;
        go_time(go_int64(v->s[i].v), &t);
        int rc = push(c, m, date_part(&t, what));
        if (rc) return rc;
    }
    return 0;
}

static int f_days_in_month(fcall_t *c) { return date_fn(c, 0); }
static int f_day_of_month(fcall_t *c) { return date_fn(c, 1); }
static int f_day_of_week(fcall_t *c) { return date_fn(c, 2); }
static int f_day_of_year(fcall_t *c) { return date_fn(c, 3); }
static int f_hour(fcall_t *c) { return date_fn(c, 4); }
static int f_minute(fcall_t *c) { return date_fn(c, 5); }
static int f_month(fcall_t *c) { return date_fn(c, 6); }
static int f_year(fcall_t *c) { return date_fn(c, 7); }

/* Native histograms only: float samples are skipped. */
static int f_histogram_native(fcall_t *c) {
    (void)c;
    return 0;
}

/* ---- histogram_quantile over classic buckets ---- */

typedef struct {
    double ub, count;
} bucket_t;

static int cmp_bucket(const void *a, const void *b) {
    double x = ((const bucket_t *)a)->ub, y = ((const bucket_t *)b)->ub;
    return (x > y) - (x < y);
}

/* bucketQuantile (sorts, coalesces and repairs the buckets in place). */
static double bucket_quantile(double q, bucket_t *b, size_t n) {
    if (isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    qsort(b, n, sizeof *b, cmp_bucket);
    if (!(isinf(b[n - 1].ub) && b[n - 1].ub > 0)) return NAN;
    size_t w = 0;
    bucket_t last = b[0];
    for (size_t i = 1; i < n; i++) {
        if (b[i].ub == last.ub) {
            last.count += b[i].count;
        } else {
            b[w++] = last;
            last = b[i];
        }
    }
    b[w++] = last;
    n = w;
    double max = b[0].count;
    for (size_t i = 1; i < n; i++) {
        if (b[i].count > max) max = b[i].count;
        else if (b[i].count < max) b[i].count = max;
    }
    if (n < 2) return NAN;
    double obs = b[n - 1].count;
    if (obs == 0) return NAN;
    double rank = q * obs;
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (!(b[mid].count >= rank)) lo = mid + 1;
        else hi = mid;
    }
    size_t i = lo;
    if (i == n - 1) return b[n - 2].ub;
    if (i == 0 && b[0].ub <= 0) return b[0].ub;
    double start = 0, end = b[i].ub, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].ub;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* strconv.ParseFloat(s, 64) succeeding: no spaces, the whole string, no
 * overflow to infinity from a finite spelling. */
static bool go_parse_float(const char *s, size_t len, double *out) {
    char buf[128];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\v' || buf[i] == '\f' ||
            buf[i] == '(' || buf[i] == '_')
            return false;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end) return false;
    if (errno == ERANGE && isinf(v)) return false;
    *out = v;
    return true;
}

typedef struct {
    const lset_t *key; /* labels without le */
    bucket_t *b;
    size_t n, cap;
} hgroup_t;

static int f_histogram_quantile(fcall_t *c) {
    double q = arg_scalar(c, 0);
    vec_t *v = &c->args[1];
    qctx_t *q_ = c->ev->q;
    hgroup_t *g = NULL;
    size_t ng = 0, capg = 0;
    pmap_t idx = {0};
    int rc = 0;
    for (size_t i = 0; i < v->n && !rc; i++) {
        size_t lelen;
        const char *le = lset_get(v->s[i].m, "le", &lelen);
        double ub;
        if (!le || !go_parse_float(le, lelen, &ub)) continue;
        if ((rc = lb_reset(&q_->lb, v->s[i].m))) break;
        lb_del(&q_->lb, "le");
        const lset_t *key = lb_intern(q_, &q_->lb);
        if (!key) {
            rc = ST_ENOMEM;
            break;
        }
        size_t gi;
        if (!pmap_get(&idx, pkey(key), &gi)) {
            if (ng == capg) {
                size_t cap = capg ? capg * 2 : 8;
                hgroup_t *ng_ = realloc(g, cap * sizeof *ng_);
                if (!ng_) {
                    rc = oom("histogram_quantile");
                    break;
                }
                g = ng_;
                capg = cap;
            }
            gi = ng++;
            g[gi] = (hgroup_t){key, NULL, 0, 0};
            if ((rc = pmap_put(&idx, pkey(key), gi))) break;
        }
        hgroup_t *h = &g[gi];
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            bucket_t *b = realloc(h->b, cap * sizeof *b);
            if (!b) {
                rc = oom("histogram_quantile");
                break;
            }
            h->b = b;
            h->cap = cap;
        }
        h->b[h->n++] = (bucket_t){ub, v->s[i].v};
    }
    for (size_t i = 0; i < ng && !rc; i++) {
        const lset_t *m = dropped(c, g[i].key);
        if (!m) rc = ST_ENOMEM;
        else rc = push(c, m, bucket_quantile(q, g[i].b, g[i].n));
    }
    for (size_t i = 0; i < ng; i++) free(g[i].b);
    free(g);
    pmap_free(&idx);
    return rc;
}

/* ---- label_replace / label_join ---- */

static const char *string_arg(fcall_t *c, size_t i, size_t *len) {
    enode_t *a = unwrap_arg(c->node->args[i]);
    if (len) *len = a->e->string.len;
    return a->e->string.v;
}

static bool label_name_ok(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (i && ch >= '0' && ch <= '9')))
            return false;
    }
    return true;
}

typedef struct {
    pcre2_code *re;
    pcre2_match_data *md;
} re_cache_t;

void pql_func_cache_free(void *cache) {
    re_cache_t *r = cache;
    if (!r) return;
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->re);
    free(r);
}

static bool is_word_byte(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* Go's Regexp.ExpandString of tmpl for the match of src in md. */
static int go_expand(st_encbuf_t *b, const pcre2_code *re, pcre2_match_data *md, const char *tmpl, size_t tlen,
                     const char *src) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t npairs = pcre2_get_ovector_count(md);
    size_t i = 0;
    while (i < tlen) {
        const char *dollar = memchr(tmpl + i, '$', tlen - i);
        if (!dollar) break;
        st_put_bytes(b, tmpl + i, (size_t)(dollar - (tmpl + i)));
        i = (size_t)(dollar - tmpl) + 1;
        if (i < tlen && tmpl[i] == '$') {
            st_put_u8(b, '$');
            i++;
            continue;
        }
        size_t j = i;
        bool brace = j < tlen && tmpl[j] == '{';
        if (brace) j++;
        size_t name = j;
        while (j < tlen && is_word_byte(tmpl[j])) j++;
        size_t nlen = j - name;
        if (nlen == 0 || (brace && (j >= tlen || tmpl[j] != '}'))) {
            st_put_u8(b, '$');
            continue;
        }
        if (brace) j++;
        i = j;
        long num = 0;
        for (size_t k = 0; k < nlen; k++) {
            char ch = tmpl[name + k];
            if (ch < '0' || ch > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (ch - '0');
        }
        if (tmpl[name] == '0' && nlen > 1) num = -1;
        if (num < 0) {
            char nb[256];
            if (nlen >= sizeof nb) continue;
            memcpy(nb, tmpl + name, nlen);
            nb[nlen] = 0;
            int gn = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nb);
            if (gn <= 0) continue;
            num = gn;
        }
        if ((uint32_t)num < npairs && ov[2 * num] != PCRE2_UNSET)
            st_put_bytes(b, src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
    if (i < tlen) st_put_bytes(b, tmpl + i, tlen - i);
    return b->err;
}

static int f_label_replace(fcall_t *c) {
    size_t dlen, rlen, slen, relen;
    const char *dst = string_arg(c, 1, &dlen), *repl = string_arg(c, 2, &rlen), *src = string_arg(c, 3, &slen),
               *re = string_arg(c, 4, &relen);
    re_cache_t *rc_ = c->cache;
    int rc;
    if (!rc_) {
        pcre2_code *code;
        if (st_regex_compile(&code, re, relen))
            return st_errorf(ST_EINVAL, "invalid regular expression in label_replace(): %s", re);
        if (!label_name_ok(dst, dlen)) {
            pcre2_code_free(code);
            return st_errorf(ST_EINVAL, "invalid destination label name in label_replace(): %s", dst);
        }
        if (!(rc_ = calloc(1, sizeof *rc_)) || !(rc_->md = pcre2_match_data_create_from_pattern(code, NULL))) {
            free(rc_);
            pcre2_code_free(code);
            return oom("label_replace");
        }
        rc_->re = code;
        c->cache = rc_;
    }
    vec_t *v = &c->args[0];
    qctx_t *q = c->ev->q;
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    for (size_t i = 0; i < v->n; i++) {
        size_t idx;
        const lset_t *m = v->s[i].m, *om;
        if (pmap_get(c->memo, pkey(m), &idx)) {
            om = (const lset_t *)(uintptr_t)idx;
        } else {
            size_t svlen = 0;
            const char *sv = lset_get(m, src, &svlen);
            if (!sv) sv = "";
            int mr = pcre2_match(rc_->re, (PCRE2_SPTR)sv, svlen, 0, 0, rc_->md, NULL);
            if (mr < 0) {
                om = m;
            } else {
                st_encbuf_reset(&b);
                if ((rc = go_expand(&b, rc_->re, rc_->md, repl, rlen, sv))) break;
                if ((rc = lb_reset(&q->lb, m))) break;
                lb_del(&q->lb, dst);
                if (b.len && (rc = lb_set(&q->lb, dst, dlen, (const char *)b.p, b.len))) break;
                if (!(om = lb_intern(q, &q->lb))) {
                    rc = ST_ENOMEM;
                    break;
                }
            }
            if ((rc = pmap_put(c->memo, pkey(m), (size_t)(uintptr_t)om))) break;
        }
        if ((rc = push(c, om, v->s[i].v))) break;
        rc = 0;
    }
    st_encbuf_free(&b);
    return rc;
}

static int f_label_join(fcall_t *c) {
    size_t dlen, seplen;
    const char *dst = string_arg(c, 1, &dlen), *sep = string_arg(c, 2, &seplen);
    for (size_t i = 3; i < c->node->nargs; i++) {
        size_t l;
        const char *s = string_arg(c, i, &l);
        if (!label_name_ok(s, l)) return st_errorf(ST_EINVAL, "invalid source label name in label_join(): %s", s);
    }
    if (!label_name_ok(dst, dlen)) return st_errorf(ST_EINVAL, "invalid destination label name in label_join(): %s", dst);
    vec_t *v = &c->args[0];
    qctx_t *q = c->ev->q;
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    int rc = 0;
    for (size_t i = 0; i < v->n && !rc; i++) {
        size_t idx;
        const lset_t *m = v->s[i].m, *om;
        if (pmap_get(c->memo, pkey(m), &idx)) {
            om = (const lset_t *)(uintptr_t)idx;
        } else {
            st_encbuf_reset(&b);
            for (size_t k = 3; k < c->node->nargs; k++) {
                size_t l;
                const char *val = lset_get(m, string_arg(c, k, NULL), &l);
                if (k > 3) st_put_bytes(&b, sep, seplen);
                if (val) st_put_bytes(&b, val, l);
            }
            if ((rc = b.err) || (rc = lb_reset(&q->lb, m))) break;
            if ((rc = lb_set(&q->lb, dst, dlen, b.len ? (const char *)b.p : "", b.len))) break;
            if (!(om = lb_intern(q, &q->lb))) {
                rc = ST_ENOMEM;
                break;
            }
            if ((rc = pmap_put(c->memo, pkey(m), (size_t)(uintptr_t)om))) break;
        }
        rc = push(c, om, v->s[i].v);
    }
    st_encbuf_free(&b);
    return rc;
}

/* ---- the table ---- */

static const struct {
    const char *name;
    fimpl_t fn;
    bool matrix;
} impls[] = {
    {"abs", f_abs, false},
    {"absent", f_absent, false},
    {"absent_over_time", f_absent_over_time, true},
    {"acos", f_acos, false},
    {"acosh", f_acosh, false},
    {"asin", f_asin, false},
    {"asinh", f_asinh, false},
    {"atan", f_atan, false},
    {"atanh", f_atanh, false},
    {"avg_over_time", f_avg_over_time, true},
    {"ceil", f_ceil, false},
    {"changes", f_changes, true},
    {"clamp", f_clamp, false},
    {"clamp_max", f_clamp_max, false},
    {"clamp_min", f_clamp_min, false},
    {"cos", f_cos, false},
    {"cosh", f_cosh, false},
    {"count_over_time", f_count_over_time, true},
    {"day_of_month", f_day_of_month, false},
    {"day_of_week", f_day_of_week, false},
    {"day_of_year", f_day_of_year, false},
    {"days_in_month", f_days_in_month, false},
    {"deg", f_deg, false},
    {"delta", f_delta, true},
    {"deriv", f_deriv, true},
    {"exp", f_exp, false},
    {"floor", f_floor, false},
    {"histogram_count", f_histogram_native, false},
    {"histogram_fraction", f_histogram_native, false},
    {"histogram_quantile", f_histogram_quantile, false},
    {"histogram_sum", f_histogram_native, false},
    {"holt_winters", f_holt_winters, true},
    {"hour", f_hour, false},
    {"idelta", f_idelta, true},
    {"increase", f_increase, true},
    {"irate", f_irate, true},
    {"label_join", f_label_join, false},
    {"label_replace", f_label_replace, false},
    {"last_over_time", f_last_over_time, true},
    {"ln", f_ln, false},
    {"log10", f_log10, false},
    {"log2", f_log2, false},
    {"max_over_time", f_max_over_time, true},
    {"min_over_time", f_min_over_time, true},
    {"minute", f_minute, false},
    {"month", f_month, false},
    {"pi", f_pi, false},
    {"predict_linear", f_predict_linear, true},
    {"present_over_time", f_present_over_time, true},
    {"quantile_over_time", f_quantile_over_time, true},
    {"rad", f_rad, false},
    {"rate", f_rate, true},
    {"resets", f_resets, true},
    {"round", f_round, false},
    {"scalar", f_scalar, false},
    {"sgn", f_sgn, false},
    {"sin", f_sin, false},
    {"sinh", f_sinh, false},
    {"sort", f_sort, false},
    {"sort_desc", f_sort_desc, false},
    {"sqrt", f_sqrt, false},
    {"stddev_over_time", f_stddev_over_time, true},
    {"stdvar_over_time", f_stdvar_over_time, true},
    {"sum_over_time", f_sum_over_time, true},
    {"tan", f_tan, false},
    {"tanh", f_tanh, false},
    {"time", f_time, false},
    {"timestamp", f_timestamp, false},
    {"vector", f_vector, false},
    {"year", f_year, false},
};

fimpl_t pql_func_impl(const char *name, bool *matrix_fn) {
    for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++) {
        if (strcmp(impls[i].name, name) == 0) {
            *matrix_fn = impls[i].matrix;
            return impls[i].fn;
        }
    }
    return NULL;
}
