/*
 * Query results as Prometheus 2.42's HTTP API writes them
 * (web/api/v1/api.go with util/jsonutil): point timestamps as integer
 * seconds plus ".NNN" when the milliseconds are not zero; sample values as
 * strings, strconv 'f' -1, switching to 'e' below 1e-6 and from 1e21 in
 * vectors and matrices (never for scalars); label sets as encoding/json
 * maps (keys sorted, HTML-safe escaping, invalid UTF-8 as U+FFFD).
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "strata/promapi.h"
#include "strata/promql_engine.h"
#include "strata/textfmt.h"

/* jsonutil.MarshalTimestamp, ending at end; returns the start */
static char *fmt_ts(char *end, int64_t t) {
    char *p = end;
    uint64_t u = (uint64_t)t;
    if (t < 0) u = (uint64_t)0 - u;
    uint64_t ms = u % 1000, s = u / 1000;
    if (ms) {
        for (int i = 0; i < 3; i++, ms /= 10) *--p = (char)('0' + ms % 10);
        *--p = '.';
    }
    do *--p = (char)('0' + s % 10);
    while (s /= 10);
    if (t < 0) *--p = '-';
    return p;
}

/* jsonutil.MarshalValue, quotes included */
static size_t fmt_value(char *out, double v) {
    double a = fabs(v);
    size_t n;
    out[0] = '"';
    if (a != 0 && !isnan(a) && !isinf(a) && (a < 1e-6 || a >= 1e21))
        n = st_fmt_go_g(out + 1, v); /* the exponent form of %g is 'e' -1 */
    else
        n = st_fmt_prom_value(out + 1, v);
    out[n + 1] = '"';
    return n + 2;
}

/* [t,"v"], after a comma unless first: one append per point */
static void put_point(st_encbuf_t *b, const st_promql_point_t *p, bool first) {
    char buf[32 + ST_PROM_VALUE_BUF + 4], *end = buf + 32;
    char *o = fmt_ts(end, p->t);
    *--o = '[';
    if (!first) *--o = ',';
    *end = ',';
    size_t n = fmt_value(end + 1, p->v);
    end[n + 1] = ']';
    st_put_bytes(b, o, (size_t)(end + n + 2 - o));
}

/* Series [from, to) of a vector or matrix, each after a comma unless it
 * is the result's first. */
static void put_series(st_encbuf_t *b, const st_promql_result_t *r, size_t from, size_t to) {
    bool vec = r->type == ST_PROMQL_TVECTOR;
    for (size_t i = from; i < to; i++) {
        const st_promql_series_t *s = &r->series[i];
        if (i) st_put_u8(b, ',');
        st_put_cstr(b, "{\"metric\":");
        st_promapi_put_labels_json(b, &s->metric);
        if (vec) {
            st_put_cstr(b, ",\"value\":");
            if (s->npoints) put_point(b, &s->points[0], true);
        } else if (s->npoints) {
            st_put_cstr(b, ",\"values\":[");
            for (size_t j = 0; j < s->npoints; j++) put_point(b, &s->points[j], j == 0);
            st_put_u8(b, ']');
        }
        st_put_u8(b, '}');
    }
}

/* Formatting dominates large answers (≈ 90 ns a point, 5.8 M points for a
 * day of 1,000 series at 15 s): above this many points the series are
 * split into contiguous parts of about equal points, formatted by one
 * thread each into their own buffers and appended in order. */
#define JSON_PARALLEL_MIN_POINTS ((size_t)1 << 18)
#define JSON_MAX_PARTS 4

typedef struct {
    const st_promql_result_t *r;
    size_t from, to;
    st_encbuf_t out;
    pthread_t th;
    bool started;
} json_part_t;

static void *json_part_main(void *arg) {
    json_part_t *p = arg;
    put_series(&p->out, p->r, p->from, p->to);
    return NULL;
}

static void put_series_parallel(st_encbuf_t *b, const st_promql_result_t *r) {
    size_t total = 0;
    for (size_t i = 0; i < r->nseries; i++) total += r->series[i].npoints;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nparts = cpus < 1 ? 1 : cpus > JSON_MAX_PARTS ? JSON_MAX_PARTS : (size_t)cpus;
    if (nparts > r->nseries) nparts = r->nseries;
    if (total < JSON_PARALLEL_MIN_POINTS || nparts < 2) {
        put_series(b, r, 0, r->nseries);
        return;
    }
    json_part_t parts[JSON_MAX_PARTS];
    size_t i = 0, acc = 0;
    for (size_t k = 0; k < nparts; k++) {
        parts[k] = (json_part_t){.r = r, .from = i};
        /* up to the series that crosses the k+1-th share of the points */
        while (i < r->nseries && (k == nparts - 1 || acc < total / nparts * (k + 1))) acc += r->series[i++].npoints;
        parts[k].to = i;
        st_encbuf_init(&parts[k].out, b->max);
    }
    /* part 0 goes straight into b, on this thread */
    for (size_t k = 1; k < nparts; k++)
        parts[k].started = pthread_create(&parts[k].th, NULL, json_part_main, &parts[k]) == 0;
    put_series(b, r, parts[0].from, parts[0].to);
    for (size_t k = 1; k < nparts; k++) {
        if (parts[k].started)
            pthread_join(parts[k].th, NULL);
        else
            json_part_main(&parts[k]); /* no thread to spare */
        if (parts[k].out.err && !b->err) b->err = parts[k].out.err;
        st_put_bytes(b, parts[k].out.p, parts[k].out.len);
        st_encbuf_free(&parts[k].out);
    }
}

void st_promql_result_json(st_encbuf_t *b, const st_promql_result_t *r) {
    switch (r->type) {
    case ST_PROMQL_TSCALAR:
        st_put_cstr(b, "{\"resultType\":\"scalar\",\"result\":[");
        st_put_prom_value(b, (double)r->scalar.t / 1000);
        st_put_cstr(b, ",\"");
        st_put_prom_value(b, r->scalar.v);
        st_put_cstr(b, "\"]}");
        return;
    case ST_PROMQL_TSTRING:
        st_put_cstr(b, "{\"resultType\":\"string\",\"result\":[");
        st_put_prom_value(b, (double)r->string_t / 1000);
        st_put_u8(b, ',');
        st_promapi_put_json_string(b, r->string ? r->string : "", r->string_len);
        st_put_cstr(b, "]}");
        return;
    case ST_PROMQL_TVECTOR:
    case ST_PROMQL_TMATRIX: {
        bool vec = r->type == ST_PROMQL_TVECTOR;
        st_put_cstr(b, vec ? "{\"resultType\":\"vector\",\"result\":[" : "{\"resultType\":\"matrix\",\"result\":[");
        put_series_parallel(b, r);
        st_put_cstr(b, "]}");
        return;
    }
    default: st_put_cstr(b, "null"); return;
    }
}

void st_promql_response_json(st_encbuf_t *b, const st_promql_result_t *r) {
    if (r->error) {
        st_put_cstr(b, "{\"status\":\"error\",\"errorType\":");
        const char *t = r->error_type ? r->error_type : "execution";
        st_promapi_put_json_string(b, t, strlen(t));
        st_put_cstr(b, ",\"error\":");
        st_promapi_put_json_string(b, r->error, strlen(r->error));
        st_put_u8(b, '}');
        return;
    }
    st_put_cstr(b, "{\"status\":\"success\",\"data\":");
    st_promql_result_json(b, r);
    if (r->warnings.n) {
        st_put_cstr(b, ",\"warnings\":[");
        for (size_t i = 0; i < r->warnings.n; i++) {
            if (i) st_put_u8(b, ',');
            st_promapi_put_json_string(b, r->warnings.v[i], strlen(r->warnings.v[i]));
        }
        st_put_u8(b, ']');
    }
    st_put_u8(b, '}');
}
