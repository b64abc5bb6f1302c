/*
 * Query results as Prometheus 2.42's HTTP API writes them
 * (web/api/v1/api.go with util/jsonutil): point timestamps as integer
 * seconds plus ".NNN" when the milliseconds are not zero; sample values as
 * strings, strconv 'f' -1, switching to 'e' below 1e-6 and from 1e21 in
 * vectors and matrices (never for scalars); label sets as encoding/json
 * maps (keys sorted, HTML-safe escaping, invalid UTF-8 as U+FFFD).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

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
        for (size_t i = 0; i < r->nseries; i++) {
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
