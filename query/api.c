/*
 * HTTP endpoints of `strata query`, with Prometheus's paths and JSON (byte
 * for byte as Prometheus 2.42 writes them) and Thanos's extra parameters:
 *   GET  /metrics
 *   GET|POST /api/v1/series         match[] (required), start, end
 *   GET|POST /api/v1/labels         match[], start, end
 *   GET  /api/v1/label/<n>/values   match[], start, end
 *   GET  /api/v1/status/buildinfo, /api/v1/metadata (no metadata: {})
 *   GET  /api/v1/stores             Thanos's endpoint status, by component
 *   GET|POST /api/v1/query          query, time, timeout
 *   GET|POST /api/v1/query_range    query, start, end, step, timeout
 * Thanos's parameters: dedup and replicaLabels[] (series, query,
 * query_range), partial_response (all data endpoints), max_source_resolution
 * (query, query_range: 0 raw, a duration, "auto" = step / 5 for a range,
 * raw for an instant query; the default with --query.auto-downsampling;
 * /api/v1/series asks for any resolution, as Thanos's does). Store
 * failures under partial response come back as "warnings":[...] after
 * "data", as Prometheus and Thanos put them. Handlers run on
 * libmicrohttpd's threads; each request fans out under the
 * --query.max-concurrent gate.
 *
 * query_promql_eval() is the PromQL core the QueryService (grpc_query.c)
 * shares: the HTTP handlers only parse parameters and write JSON.
 */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/httpserver.h"
#include "strata/promapi.h"
#include "strata/promql_engine.h"
#include "strata/relabel.h"
#include "strata/textfmt.h"

#define RESPONSE_MAX ((size_t)1 << 30)

static bool method_is(const st_http_request_t *req, const char *m) {
    return strcmp(st_http_request_method(req), m) == 0;
}

static int respond_buf(st_http_response_t *resp, int status, st_encbuf_t *b, const char *what) {
    if (b->err) {
        int err = b->err;
        st_encbuf_free(b);
        return st_errorf(err, "encoding %s", what);
    }
    *resp = (st_http_response_t){status, ST_HTTP_CT_JSON, (char *)b->p, b->len, NULL};
    return ST_OK;
}

/* {"status":"error","errorType":T,"error":E} */
static int respond_error(query_t *q, st_http_response_t *resp, int status, const char *type, const char *msg) {
    atomic_fetch_add(&q->m.api_errors, 1);
    st_encbuf_t b;
    st_encbuf_init(&b, RESPONSE_MAX);
    st_put_cstr(&b, "{\"status\":\"error\",\"errorType\":");
    st_promapi_put_json_string(&b, type, strlen(type));
    st_put_cstr(&b, ",\"error\":");
    st_promapi_put_json_string(&b, msg, strlen(msg));
    st_put_u8(&b, '}');
    return respond_buf(resp, status, &b, "an error");
}

/* A failed fan-out, typed as Prometheus types storage errors. */
static int respond_exec_error(query_t *q, st_http_response_t *resp, int rc) {
    if (rc == ST_ENOMEM) return rc;
    if (rc == ST_ETIMEDOUT) return respond_error(q, resp, 503, "timeout", st_errdetail(rc));
    if (rc == ST_ECANCELED) return respond_error(q, resp, 503, "canceled", st_errdetail(rc));
    return respond_error(q, resp, 422, "execution", st_errdetail(rc));
}

/* ,"warnings":[...] when there are any, then the closing brace. */
static void put_warnings_end(st_encbuf_t *b, query_warnings_t *w) {
    pthread_mutex_lock(&w->mu);
    if (w->list.n) {
        st_put_cstr(b, ",\"warnings\":[");
        for (size_t i = 0; i < w->list.n; i++) {
            if (i) st_put_u8(b, ',');
            st_promapi_put_json_string(b, w->list.v[i], strlen(w->list.v[i]));
        }
        st_put_u8(b, ']');
    }
    pthread_mutex_unlock(&w->mu);
    st_put_u8(b, '}');
}

/* ---- parameters ---- */

/* Go's Request.FormValue / Request.Form[key]: a form body's values first,
 * then the query string's. */
typedef struct {
    const st_http_request_t *req;
    st_promapi_form_t form;
} params_t;

static int params_init(params_t *p, const st_http_request_t *req) {
    memset(p, 0, sizeof *p);
    p->req = req;
    const char *ct = st_http_request_header(req, "Content-Type");
    if (method_is(req, "POST") && ct && strncmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        size_t len;
        const char *body = st_http_request_body(req, &len);
        return st_promapi_form_parse(&p->form, body, len);
    }
    return ST_OK;
}

static const char *param(const params_t *p, const char *key) {
    const char *v = st_promapi_form_get(&p->form, key);
    return v ? v : st_http_request_arg(p->req, key);
}

/* Every value of key (borrowed); *out malloc'd. */
static int param_all(const params_t *p, const char *key, const char ***out, size_t *n) {
    const char **qs = NULL;
    size_t nq = 0;
    *out = NULL;
    *n = 0;
    int rc = st_http_request_args(p->req, key, &qs, &nq);
    if (rc) return rc;
    size_t nf = 0;
    for (size_t i = 0; i < p->form.n; i++) nf += strcmp(p->form.v[i].key, key) == 0;
    const char **v = malloc((nf + nq ? nf + nq : 1) * sizeof *v);
    if (!v) {
        free(qs);
        return st_errorf(ST_ENOMEM, "parameter %s: %zu values", key, nf + nq);
    }
    size_t k = 0;
    for (size_t i = 0; i < p->form.n; i++)
        if (strcmp(p->form.v[i].key, key) == 0) v[k++] = p->form.v[i].value;
    for (size_t i = 0; i < nq; i++) v[k++] = qs[i];
    free(qs);
    *out = v;
    *n = k;
    return ST_OK;
}

/* Go's strconv.ParseBool. */
static bool parse_bool(const char *s, bool *out) {
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, t[i]) == 0) return *out = true, true;
        if (strcmp(s, f[i]) == 0) return *out = false, true;
    }
    return false;
}

/* The parsed request; on a bad parameter the 400 answer is already in
 * *resp and the parse returns 1. */
typedef struct {
    params_t p;
    int64_t start, end;
    st_matchers_t *sets;
    size_t nsets;
} req_t;

static void req_free(req_t *r) {
    st_promapi_form_free(&r->p.form);
    for (size_t i = 0; i < r->nsets; i++) st_matchers_free(&r->sets[i]);
    free(r->sets);
}

static int bad_data(query_t *q, st_http_response_t *resp, const char *msg) {
    return respond_error(q, resp, 400, "bad_data", msg) ? ST_ENOMEM : 1;
}

static int parse_common(query_t *q, const st_http_request_t *req, req_t *r, bool need_match,
                        st_http_response_t *resp) {
    memset(r, 0, sizeof *r);
    r->start = ST_PROMAPI_MIN_TIME_MS;
    r->end = ST_PROMAPI_MAX_TIME_MS;
    int rc = params_init(&r->p, req);
    if (rc) return rc;
    const char **sels = NULL;
    size_t nsels = 0;
    if ((rc = param_all(&r->p, "match[]", &sels, &nsels))) return rc;
    if (need_match && nsels == 0) {
        free(sels);
        return bad_data(q, resp, "no match[] parameter provided");
    }
    static const char *const names[] = {"start", "end"};
    int64_t *dst[] = {&r->start, &r->end};
    for (int i = 0; i < 2 && !rc; i++) {
        const char *v = param(&r->p, names[i]);
        if (!v || !*v) continue;
        int trc = st_promapi_parse_time(v, dst[i]);
        if (trc) {
            char msg[1200];
            snprintf(msg, sizeof msg, "invalid parameter \"%s\": Invalid time value for '%s': %s", names[i],
                     names[i], st_errdetail(trc));
            rc = bad_data(q, resp, msg);
        }
    }
    if (!rc && nsels && !(r->sets = calloc(nsels, sizeof *r->sets))) rc = st_errorf(ST_ENOMEM, "match[]");
    for (size_t i = 0; i < nsels && !rc; i++) {
        rc = st_selector_parse(&r->sets[r->nsets], sels[i]);
        if (!rc) {
            r->nsets++;
            continue;
        }
        if (rc == ST_ENOMEM) break;
        /* Prometheus's selector parser takes {x=""}; its API then refuses
         * it. The series endpoint names the parameter, the label ones not. */
        char msg[2048];
        const char *what = strstr(st_errdetail(rc), "must contain at least one non-empty matcher")
                               ? "match[] must contain at least one non-empty matcher"
                               : st_errdetail(rc);
        snprintf(msg, sizeof msg, "%s%s", need_match ? "invalid parameter \"match[]\": " : "", what);
        rc = bad_data(q, resp, msg);
    }
    free(sels);
    return rc;
}

int query_parse_max_source_resolution(const char *val, bool auto_flag, int64_t auto_ms, int64_t *out_ms) {
    *out_ms = 0;
    bool is_auto = val && strcmp(val, "auto") == 0;
    if (auto_flag || is_auto) *out_ms = auto_ms;
    if (val && *val && !is_auto) {
        int rc = st_promapi_parse_duration(val, out_ms);
        if (rc) return st_errwrap(rc, "'max_source_resolution' parameter");
        /* Thanos keeps nanoseconds: -0.0001 (s) is negative, not 0 ms */
        char *end;
        double secs = strtod(val, &end);
        if (*out_ms == 0 && !*end && (int64_t)(secs * 1e9) < 0) *out_ms = -1;
    }
    if (*out_ms < 0)
        return st_errorf(ST_EINVAL, "negative 'max_source_resolution' is not accepted. Try a positive integer");
    return ST_OK;
}

/* Where max_source_resolution goes, and what auto means. */
typedef struct {
    int64_t *res; /* NULL: not read here */
    bool range;
    int64_t auto_ms;
} res_param_t;

static int parse_resolution(query_t *q, req_t *r, const res_param_t *rp, st_http_response_t *resp) {
    int rc = query_parse_max_source_resolution(param(&r->p, "max_source_resolution"), q->auto_downsampling,
                                               rp->auto_ms, rp->res);
    return rc ? bad_data(q, resp, st_errdetail(rc)) : ST_OK;
}

/* Thanos's partial_response, dedup and replicaLabels[] (the last two only
 * where series are selected) into *partial, *dedup and *replicas (whose
 * list the parameter replaces); with res, max_source_resolution (auto =
 * auto_ms) into *res, where Thanos parses it: before partial_response for
 * a range query, after it for an instant one. */
static int parse_thanos(query_t *q, req_t *r, bool *dedup, bool *partial, st_strlist_t *replicas, bool series,
                        const res_param_t *rp, st_http_response_t *resp) {
    static const char *const names[] = {"dedup", "partial_response"};
    bool *dst[] = {dedup, partial};
    for (int i = series ? 0 : 1; i < 2; i++) {
        int rc = i == 1 && rp && rp->res && rp->range ? parse_resolution(q, r, rp, resp) : ST_OK;
        if (rc) return rc;
        const char *v = param(&r->p, names[i]);
        if (!v || !*v || parse_bool(v, dst[i])) continue;
        st_encbuf_t b;
        st_encbuf_init(&b, 1 << 16);
        st_put_fmt(&b, "'%s' parameter: strconv.ParseBool: parsing ", names[i]);
        st_put_go_quote(&b, v, strnlen(v, 1024));
        st_put_cstr(&b, ": invalid syntax");
        st_put_u8(&b, 0);
        rc = b.err ? st_errorf(b.err, "message") : bad_data(q, resp, (const char *)b.p);
        st_encbuf_free(&b);
        return rc;
    }
    if (rp && rp->res && !rp->range) {
        int rc = parse_resolution(q, r, rp, resp);
        if (rc) return rc;
    }
    if (!series) return ST_OK;
    const char **rl = NULL;
    size_t nrl = 0;
    int rc = param_all(&r->p, "replicaLabels[]", &rl, &nrl);
    if (!rc && nrl > 0) {
        st_strlist_free(replicas);
        for (size_t i = 0; i < nrl && !rc; i++) rc = st_strlist_push(replicas, rl[i]);
    }
    free(rl);
    return rc;
}

/* ---- series ---- */

typedef struct {
    st_labels_t *v;
    size_t n, cap;
} lset_list_t;

static void lset_list_free(lset_list_t *l) {
    for (size_t i = 0; i < l->n; i++) st_labels_free(&l->v[i]);
    free(l->v);
}

static int lset_cmp(const void *a, const void *b) { return st_labels_cmp(a, b); }

static int collect_series(query_ctx_t *c, const st_matchers_t *ms, int64_t start, int64_t end, lset_list_t *out) {
    query_hints_t h = {.start = start, .end = end, .func = "series"};
    st_series_set_t *set = NULL;
    int rc = query_select(c, ms, start, end, &h, &set);
    while (!rc && (rc = st_series_set_next(set)) == 1) {
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 256;
            st_labels_t *nv = realloc(out->v, nc * sizeof *nv);
            if (!nv) {
                rc = st_errorf(ST_ENOMEM, "series: %zu label sets", out->n);
                break;
            }
            out->v = nv;
            out->cap = nc;
        }
        if ((rc = st_labels_copy(&out->v[out->n], st_series_set_labels(set)))) break;
        out->n++;
        rc = ST_OK;
    }
    st_series_set_free(set);
    return rc < 0 ? rc : ST_OK;
}

static int h_series(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    query_t *q = ctx;
    atomic_fetch_add(&q->m.api_requests, 1);
    if (!method_is(req, "GET") && !method_is(req, "POST"))
        return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Method Not Allowed\n");
    req_t r;
    query_ctx_t c;
    bool have_ctx = false, gated = false;
    lset_list_t all = {0};
    int rc = parse_common(q, req, &r, true, resp);
    if (!rc && !(rc = query_ctx_init(&c, q))) have_ctx = true;
    if (!rc) rc = parse_thanos(q, &r, &c.dedup, &c.partial_response, &c.replica_labels, true, NULL, resp);
    /* Thanos asks for label sets at any resolution (a series kept only
     * downsampled is still listed) and reads no max_source_resolution here */
    if (!rc) c.max_resolution_ms = INT64_MAX;
    if (!rc && !(rc = query_gate_enter(q, c.deadline_ms))) gated = true;
    for (size_t i = 0; i < r.nsets && !rc; i++) rc = collect_series(&c, &r.sets[i], r.start, r.end, &all);
    if (!rc) {
        /* several match[] may select the same series: Prometheus merges the sets */
        if (all.n > 1) qsort(all.v, all.n, sizeof *all.v, lset_cmp);
        st_encbuf_t b;
        st_encbuf_init(&b, RESPONSE_MAX);
        st_put_cstr(&b, "{\"status\":\"success\",\"data\":[");
        for (size_t i = 0, k = 0; i < all.n; i++) {
            if (i > 0 && st_labels_equal(&all.v[i], &all.v[i - 1])) continue;
            if (k++) st_put_u8(&b, ',');
            st_promapi_put_labels_json(&b, &all.v[i]);
        }
        st_put_u8(&b, ']');
        put_warnings_end(&b, &c.warnings);
        rc = respond_buf(resp, 200, &b, "series");
    } else if (rc < 0) {
        rc = respond_exec_error(q, resp, rc);
    }
    if (gated) query_gate_leave(q);
    lset_list_free(&all);
    if (have_ctx) query_ctx_destroy(&c);
    req_free(&r);
    return rc < 0 ? rc : ST_OK;
}

/* ---- labels ---- */

static int respond_strings(st_http_response_t *resp, const st_strlist_t *v, query_warnings_t *w) {
    st_encbuf_t b;
    st_encbuf_init(&b, RESPONSE_MAX);
    st_put_cstr(&b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < v->n; i++) {
        if (i) st_put_u8(&b, ',');
        st_promapi_put_json_string(&b, v->v[i], strlen(v->v[i]));
    }
    st_put_u8(&b, ']');
    put_warnings_end(&b, w);
    return respond_buf(resp, 200, &b, "label strings");
}


/* Names (label NULL) or values over every match[] set, merged. */
static int labels_request(query_t *q, const st_http_request_t *req, const char *label, st_http_response_t *resp) {
    req_t r;
    query_ctx_t c;
    bool have_ctx = false, gated = false;
    st_strlist_t all = {0}, one = {0};
    int rc = parse_common(q, req, &r, false, resp);
    if (!rc && !(rc = query_ctx_init(&c, q))) have_ctx = true;
    if (!rc) rc = parse_thanos(q, &r, &c.dedup, &c.partial_response, &c.replica_labels, false, NULL, resp);
    if (!rc && !(rc = query_gate_enter(q, c.deadline_ms))) gated = true;
    for (size_t i = 0; i < (r.nsets ? r.nsets : 1) && !rc; i++) {
        rc = query_labels(&c, label, r.start, r.end, r.nsets ? &r.sets[i] : NULL, &one);
        for (size_t k = 0; k < one.n && !rc; k++) rc = st_strlist_push(&all, one.v[k]);
        st_strlist_free(&one);
    }
    if (!rc) {
        st_strlist_sort_unique(&all);
        rc = respond_strings(resp, &all, &c.warnings);
    } else if (rc < 0) {
        rc = respond_exec_error(q, resp, rc);
    }
    if (gated) query_gate_leave(q);
    st_strlist_free(&all);
    if (have_ctx) query_ctx_destroy(&c);
    req_free(&r);
    return rc < 0 ? rc : ST_OK;
}

static int h_label_names(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    query_t *q = ctx;
    atomic_fetch_add(&q->m.api_requests, 1);
    if (!method_is(req, "GET") && !method_is(req, "POST"))
        return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Method Not Allowed\n");
    return labels_request(q, req, NULL, resp);
}

/* /api/v1/label/<name>/values */
static int h_label_values(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    query_t *q = ctx;
    atomic_fetch_add(&q->m.api_requests, 1);
    const char *path = st_http_request_path(req) + strlen("/api/v1/label/");
    const char *slash = strchr(path, '/');
    if (!slash || slash == path || strcmp(slash, "/values") != 0)
        return st_http_respond(resp, 404, ST_HTTP_CT_TEXT, "404 page not found\n");
    if (!method_is(req, "GET")) return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Method Not Allowed\n");
    size_t nlen = (size_t)(slash - path);
    char *name = strndup(path, nlen);
    if (!name) return st_errorf(ST_ENOMEM, "label values: name");
    int rc;
    if (!st_label_name_valid(name, nlen)) {
        st_encbuf_t b;
        st_encbuf_init(&b, 1 << 16);
        st_put_cstr(&b, "invalid label name: ");
        st_put_go_quote(&b, name, nlen);
        st_put_u8(&b, 0);
        rc = b.err ? st_errorf(b.err, "label values: message") : bad_data(q, resp, (const char *)b.p);
        st_encbuf_free(&b);
    } else {
        rc = labels_request(q, req, name, resp);
    }
    free(name);
    return rc < 0 ? rc : ST_OK;
}

/* ---- status ---- */

static int h_buildinfo(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    return st_http_respond(resp, 200, ST_HTTP_CT_JSON,
                           "{\"status\":\"success\",\"data\":{\"version\":\"" ST_VERSION
                           "\",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\","
                           "\"goVersion\":\"\"}}");
}

static int h_metadata(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    return st_http_respond(resp, 200, ST_HTTP_CT_JSON, "{\"status\":\"success\",\"data\":{}}");
}

/* Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros cut), UTC. */
static void put_time_json(st_encbuf_t *b, int64_t ms) {
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    st_put_fmt(b, "\"%s", buf);
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%03d", frac);
        for (int i = 2; i > 0 && f[i] == '0'; i--) f[i] = 0;
        st_put_fmt(b, ".%s", f);
    }
    st_put_cstr(b, "Z\"");
}

/* Thanos's /api/v1/stores: {"<component>":[{name, lastCheck, lastError,
 * labelSets, minTime, maxTime}]}, endpoints that answered Info once. */
static int h_stores(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    query_t *q = ctx;
    (void)req;
    query_target_t *ts = NULL;
    size_t nts = 0;
    int rc = query_endpoints_snapshot(q->endpoints, &ts, &nts);
    if (rc) return rc;
    /* the component and last check are read once, under the endpoint's lock */
    char **comps = calloc(nts ? nts : 1, sizeof *comps);
    int64_t *checks = calloc(nts ? nts : 1, sizeof *checks);
    if (!comps || !checks) {
        free(comps), free(checks);
        query_targets_free(ts, nts);
        return st_errorf(ST_ENOMEM, "stores: %zu endpoints", nts);
    }
    for (size_t i = 0; i < nts; i++) {
        pthread_mutex_lock(&ts[i].ep->mu);
        comps[i] = ts[i].ep->component ? strdup(ts[i].ep->component) : NULL;
        checks[i] = ts[i].ep->last_check_ms;
        pthread_mutex_unlock(&ts[i].ep->mu);
    }
    st_encbuf_t b;
    st_encbuf_init(&b, RESPONSE_MAX);
    st_put_cstr(&b, "{\"status\":\"success\",\"data\":{");
    /* components in Go's map-key order, endpoints by name within each */
    bool *done = calloc(nts ? nts : 1, sizeof *done);
    size_t ngroups = 0;
    for (;;) {
        const char *next = NULL;
        for (size_t i = 0; done && i < nts; i++)
            if (!done[i] && ts[i].known && comps[i] && (!next || strcmp(comps[i], next) < 0)) next = comps[i];
        if (!next) break;
        if (ngroups++) st_put_u8(&b, ',');
        st_promapi_put_json_string(&b, next, strlen(next));
        st_put_cstr(&b, ":[");
        size_t k = 0;
        for (size_t i = 0; i < nts; i++) {
            if (done[i] || !ts[i].known || !comps[i] || strcmp(comps[i], next) != 0) continue;
            done[i] = true;
            if (k++) st_put_u8(&b, ',');
            st_put_cstr(&b, "{\"name\":");
            st_promapi_put_json_string(&b, ts[i].ep->addr, strlen(ts[i].ep->addr));
            st_put_cstr(&b, ",\"lastCheck\":");
            put_time_json(&b, checks[i]);
            st_put_cstr(&b, ",\"lastError\":");
            if (ts[i].last_error)
                st_promapi_put_json_string(&b, ts[i].last_error, strlen(ts[i].last_error));
            else
                st_put_cstr(&b, "null");
            st_put_cstr(&b, ",\"labelSets\":[");
            for (size_t s = 0; s < ts[i].nlabel_sets; s++) {
                if (s) st_put_u8(&b, ',');
                st_promapi_put_labels_json(&b, &ts[i].label_sets[s]);
            }
            st_put_fmt(&b, "],\"minTime\":%lld,\"maxTime\":%lld}", (long long)ts[i].min_time,
                       (long long)ts[i].max_time);
        }
        st_put_u8(&b, ']');
    }
    st_put_cstr(&b, "}}");
    if (!done) b.err = ST_ENOMEM;
    free(done);
    for (size_t i = 0; i < nts; i++) free(comps[i]);
    free(comps);
    free(checks);
    query_targets_free(ts, nts);
    return respond_buf(resp, 200, &b, "stores");
}

/* ---- PromQL ---- */

/* A parameter error: 400 with Prometheus's `invalid parameter "name": ...`. */
static int bad_param(query_t *q, st_http_response_t *resp, const char *name, int rc) {
    if (rc == ST_ENOMEM) return rc;
    char msg[1400];
    snprintf(msg, sizeof msg, "invalid parameter \"%s\": %s", name, st_errdetail(rc));
    return bad_data(q, resp, msg);
}

/* One query's run: its context, and what the engine's select saw. */
typedef struct {
    query_ctx_t c;
    const query_promql_req_t *r;
    atomic_bool cancel; /* the engine's cancel flag, set from r->cancelled */
    int64_t next_poll_ms;
    int store_err; /* the first error of a store's series set */
} promql_run_t;

static bool run_cancelled(promql_run_t *run) {
    if (!run->r->cancelled || atomic_load(&run->cancel)) return atomic_load(&run->cancel);
    int64_t now = query_now_ms();
    if (now < run->next_poll_ms) return false;
    run->next_poll_ms = now + QUERY_CANCEL_POLL_MS;
    if (run->r->cancelled(run->r->cancelled_arg)) atomic_store(&run->cancel, true);
    return atomic_load(&run->cancel);
}

static int run_store_err(promql_run_t *run, int rc) {
    if (rc < 0 && !run->store_err) run->store_err = rc;
    return rc;
}

/* The querier's series set as the engine reads it: errors noted as the
 * stores', the client's cancellation polled between series. */
typedef struct {
    promql_run_t *run;
    st_series_set_t *in;
} run_set_t;

static int run_set_next(void *ctx) {
    run_set_t *s = ctx;
    if (run_cancelled(s->run)) return st_errorf(ST_ECANCELED, "query was canceled by the client");
    return run_store_err(s->run, st_series_set_next(s->in));
}

static const st_labels_t *run_set_labels(void *ctx) { return st_series_set_labels(((run_set_t *)ctx)->in); }

static int run_set_sample(void *ctx, int64_t *t, double *v) {
    run_set_t *s = ctx;
    return run_store_err(s->run, st_series_set_sample(s->in, t, v));
}

static int run_set_samples(void *ctx, int64_t *t, double *v, size_t cap) {
    run_set_t *s = ctx;
    return run_store_err(s->run, st_series_set_samples(s->in, t, v, cap));
}

static void run_set_free(void *ctx) {
    run_set_t *s = ctx;
    st_series_set_free(s->in);
    free(s);
}

static const st_series_set_ops_t run_set_ops = {run_set_next, run_set_labels, run_set_sample, run_set_free,
                                                run_set_samples};

/* The engine's select: the querier's, with the engine's hints copied.
 * Store warnings are collected in the ctx (query_select's contract). */
static int engine_select(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const st_promql_hints_t *h,
                         st_series_set_t **out, st_promql_warnings_t *w) {
    (void)w;
    promql_run_t *run = ctx;
    *out = NULL;
    if (run_cancelled(run)) return st_errorf(ST_ECANCELED, "query was canceled by the client");
    query_hints_t qh = {.start = h->start, .end = h->end, .step = h->step, .range = h->range, .func = h->func};
    st_series_set_t *in = NULL;
    int rc = run_store_err(run, query_select(&run->c, ms, mint, maxt, &qh, &in));
    if (rc) return rc;
    run_set_t *s = malloc(sizeof *s);
    if (!s) {
        st_series_set_free(in);
        return st_errorf(ST_ENOMEM, "select: allocating a series set");
    }
    *s = (run_set_t){run, in};
    if ((rc = st_series_set_new(out, &run_set_ops, s))) run_set_free(s);
    return rc;
}

int query_promql_check_range(int64_t start, int64_t end, int64_t step) {
    if (end < start) return st_errorf(ST_EINVAL, "invalid parameter \"end\": end timestamp must not be before start time");
    if (step <= 0)
        return st_errorf(ST_EINVAL, "invalid parameter \"step\": zero or negative query resolution step widths are not "
                                    "accepted. Try a positive integer");
    if (((uint64_t)end - (uint64_t)start) / (uint64_t)step > QUERY_MAX_POINTS_PER_SERIES)
        return st_errorf(ST_EINVAL, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
                                    "query resolution (?step=XX)");
    return ST_OK;
}

int query_promql_eval(query_t *q, const query_promql_req_t *r, st_promql_result_t *res, int *store_err) {
    memset(res, 0, sizeof *res);
    if (store_err) *store_err = 0;
    promql_run_t *run = calloc(1, sizeof *run);
    if (!run) return st_errorf(ST_ENOMEM, "query: allocating its context");
    run->r = r;
    atomic_init(&run->cancel, false);
    bool gated = false;
    int rc = query_ctx_init(&run->c, q);
    if (rc) {
        free(run);
        return rc;
    }
    run->c.deadline_ms = query_now_ms() + (r->timeout_ms > 0 ? r->timeout_ms : 0);
    run->c.dedup = r->dedup;
    run->c.partial_response = r->partial_response;
    run->c.max_resolution_ms = r->max_source_resolution_ms;
    if (r->nreplica_labels > 0) {
        st_strlist_free(&run->c.replica_labels);
        for (size_t i = 0; i < r->nreplica_labels && !rc; i++)
            rc = st_strlist_push(&run->c.replica_labels, r->replica_labels[i]);
    }
    if (!rc && !(rc = query_gate_enter(q, run->c.deadline_ms))) gated = true;
    else if (rc == ST_ETIMEDOUT && !(res->error = strdup(st_errdetail(rc)))) rc = ST_ENOMEM;
    else if (rc == ST_ETIMEDOUT) res->error_type = "timeout";
    if (gated) {
        st_promql_engine_opts_t opts;
        st_promql_engine_opts_default(&opts);
        opts.lookback_delta_ms = r->lookback_delta_ms > 0
                                     ? r->lookback_delta_ms
                                     : query_lookback_delta(q->lookback_delta_ms, r->max_source_resolution_ms);
        opts.max_samples = q->max_samples;
        /* 0 would mean none: an expired timeout still stops at once */
        opts.timeout_ms = r->timeout_ms > 0 ? r->timeout_ms : 1;
        st_promql_queryable_t qb = {run, engine_select};
        st_promql_query_t qry = {.text = r->text,
                                 .text_len = r->text_len,
                                 .start = r->start,
                                 .end = r->end,
                                 .step = r->step,
                                 .cancel = r->cancelled ? &run->cancel : NULL};
        rc = st_promql_exec(&opts, &qb, &qry, res);
        if (rc != ST_ENOMEM) {
            /* store failures met under partial response */
            int wrc = ST_OK;
            pthread_mutex_lock(&run->c.warnings.mu);
            for (size_t i = 0; i < run->c.warnings.list.n && !wrc; i++)
                wrc = st_promql_warnings_add(&res->warnings, "%s", run->c.warnings.list.v[i]);
            pthread_mutex_unlock(&run->c.warnings.mu);
            if (wrc) rc = wrc;
        }
        query_gate_leave(q);
    }
    if (store_err) *store_err = run->store_err;
    query_ctx_destroy(&run->c);
    free(run);
    return rc;
}

/* Prometheus's status codes for its API error types. */
static int error_status(const char *type) {
    if (strcmp(type, "bad_data") == 0) return 400;
    if (strcmp(type, "timeout") == 0) return 503;
    if (strcmp(type, "canceled") == 0) return 499;
    if (strcmp(type, "internal") == 0) return 500;
    return 422;
}

static int promql_request(query_t *q, const st_http_request_t *req, bool range, st_http_response_t *resp) {
    atomic_fetch_add(&q->m.api_requests, 1);
    if (!method_is(req, "GET") && !method_is(req, "POST"))
        return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Method Not Allowed\n");
    req_t r;
    st_promql_result_t res = {0};
    st_strlist_t replicas = {0};
    query_promql_req_t pr = {.timeout_ms = q->timeout_ms, .dedup = true, .partial_response = q->partial_response};
    memset(&r, 0, sizeof r);
    int rc = params_init(&r.p, req);
    /* Prometheus's order: time (start, end, step), timeout; then Thanos's
     * parameters; the query text is the engine's */
    if (!rc && !range) {
        const char *t = param(&r.p, "time");
        if (!t || !*t) {
            pr.start = query_now_ms();
        } else if ((rc = st_promapi_parse_time(t, &pr.start))) {
            st_errwrap(rc, "Invalid time value for 'time'");
            rc = bad_param(q, resp, "time", rc);
        }
        pr.end = pr.start;
    }
    if (!rc && range) {
        static const char *const names[] = {"start", "end", "step"};
        int64_t *dst[] = {&pr.start, &pr.end, &pr.step};
        for (int i = 0; i < 3 && !rc; i++) {
            const char *v = param(&r.p, names[i]);
            if (!v) v = "";
            if ((rc = i < 2 ? st_promapi_parse_time(v, dst[i]) : st_promapi_parse_duration(v, dst[i])))
                rc = bad_param(q, resp, names[i], rc);
            /* end before start is refused before step is parsed (a step
             * of INT64_MAX passes the other checks) */
            else if (i > 0 && (rc = query_promql_check_range(pr.start, pr.end, i == 2 ? pr.step : INT64_MAX)))
                rc = bad_data(q, resp, st_errdetail(rc));
        }
    }
    const char *to = rc ? NULL : param(&r.p, "timeout");
    if (to && *to) {
        int64_t t;
        if ((rc = st_promapi_parse_duration(to, &t))) rc = bad_param(q, resp, "timeout", rc);
        else if (t < pr.timeout_ms) pr.timeout_ms = t;
    }
    res_param_t rp = {&pr.max_source_resolution_ms, range, query_auto_resolution(range, pr.step)};
    if (!rc) rc = parse_thanos(q, &r, &pr.dedup, &pr.partial_response, &replicas, true, &rp, resp);
    if (!rc) {
        const char *text = param(&r.p, "query");
        pr.text = text ? text : "";
        pr.text_len = strlen(pr.text);
        pr.replica_labels = (const char *const *)replicas.v;
        pr.nreplica_labels = replicas.n;
        rc = query_promql_eval(q, &pr, &res, NULL);
        if (!rc || res.error) {
            if (res.error) atomic_fetch_add(&q->m.api_errors, 1);
            st_encbuf_t b;
            st_encbuf_init(&b, RESPONSE_MAX);
            st_promql_response_json(&b, &res);
            rc = respond_buf(resp, res.error ? error_status(res.error_type) : 200, &b, "a query result");
        }
    }
    st_promql_result_free(&res);
    st_strlist_free(&replicas);
    req_free(&r);
    query_release_memory();
    return rc < 0 ? rc : ST_OK;
}

void query_release_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static int h_query(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    return promql_request(ctx, req, false, resp);
}

static int h_query_range(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    return promql_request(ctx, req, true, resp);
}

static int h_not_found_api(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)req;
    return respond_error(ctx, resp, 404, "not_found", "not served by strata query");
}

/* ---- probes and metrics ---- */

#define LD(x) ((double)atomic_load(&(x)))

static int h_metrics(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    query_t *q = ctx;
    (void)req;
    const query_metrics_t *m = &q->m;
    size_t healthy = 0, total = query_endpoints_count(q->endpoints, &healthy);
    uint64_t calls = 0, failures = 0;
    query_endpoints_info_stats(q->endpoints, &calls, &failures);
    pthread_mutex_lock(&q->gate_mu);
    int used = q->gate_used, max = q->gate_max;
    pthread_mutex_unlock(&q->gate_mu);
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 20);
    st_put_metric(&b, "strata_query_endpoints", "gauge",
                  "Configured StoreAPI endpoints by the state of their last Info call.", "{state=\"healthy\"}",
                  (double)healthy);
    st_put_metric(&b, "strata_query_endpoints", NULL, NULL, "{state=\"unhealthy\"}", (double)(total - healthy));
    st_put_metric(&b, "strata_query_info_calls_total", "counter", "Info calls made to endpoints.", NULL, (double)calls);
    st_put_metric(&b, "strata_query_info_failures_total", "counter", "Info calls that failed.", NULL, (double)failures);
    st_put_metric(&b, "strata_query_store_calls_total", "counter", "Series and label calls made to endpoints.", NULL,
                  LD(m->store_calls));
    st_put_metric(&b, "strata_query_store_failures_total", "counter",
                  "Endpoint failures met by requests (unhealthy, call errors, timeouts, store warnings).", NULL,
                  LD(m->store_failures));
    st_put_metric(&b, "strata_query_selects_total", "counter", "Series selects fanned out.", NULL,
                  LD(m->series_requests));
    st_put_metric(&b, "strata_query_label_requests_total", "counter", "Label name/value fan-outs.", NULL,
                  LD(m->label_requests));
    st_put_metric(&b, "strata_query_merged_series_total", "counter",
                  "Series assembled from more than one store response.", NULL, LD(m->series_merged));
    st_put_metric(&b, "strata_query_identical_chunks_dropped_total", "counter",
                  "Chunks dropped because another store sent the same bytes.", NULL, LD(m->chunks_dropped_identical));
    st_put_metric(&b, "strata_query_api_requests_total", "counter", "HTTP API data requests.", NULL,
                  LD(m->api_requests));
    st_put_metric(&b, "strata_query_api_errors_total", "counter", "HTTP API requests answered with an error.", NULL,
                  LD(m->api_errors));
    st_put_metric(&b, "strata_query_grpc_queries_total", "counter", "QueryService calls (instant and range).", NULL,
                  LD(m->grpc_queries));
    st_put_metric(&b, "strata_query_grpc_query_errors_total", "counter",
                  "QueryService calls answered with an error status.", NULL, LD(m->grpc_query_errors));
    st_put_metric(&b, "thanos_query_concurrent_gate_queries_in_flight", "gauge",
                  "Number of queries that are currently in flight.", NULL, (double)used);
    st_put_metric(&b, "thanos_query_concurrent_gate_queries_max", "gauge", "Maximum number of concurrent queries.",
                  NULL, (double)max);
    st_put_metric(&b, "strata_query_reader_threads", "gauge", "Store stream reader threads running.", NULL,
                  (double)atomic_load(&q->feeds_live));
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "formatting metrics");
    }
    *resp = (st_http_response_t){200, ST_HTTP_CT_METRICS, (char *)b.p, b.len, NULL};
    return ST_OK;
}

int query_api_register(query_t *q, struct st_http_server *srv) {
    static const st_http_route_t routes[] = {
        {"/metrics", false, h_metrics},
        {"/api/v1/series", false, h_series},
        {"/api/v1/labels", false, h_label_names},
        {"/api/v1/label/", true, h_label_values},
        {"/api/v1/status/buildinfo", false, h_buildinfo},
        {"/api/v1/metadata", false, h_metadata},
        {"/api/v1/stores", false, h_stores},
        {"/api/v1/query", false, h_query},
        {"/api/v1/query_range", false, h_query_range},
        {"/api/v1/", true, h_not_found_api},
    };
    return st_http_server_routes(srv, routes, sizeof routes / sizeof routes[0], q);
}
