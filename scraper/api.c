/*
 * HTTP endpoints of `strata scraper`, with Prometheus's paths and JSON
 * shapes:
 *   GET  /-/healthy, /-/ready
 *   POST /-/reload                (--web.enable-lifecycle)
 *   GET  /metrics                 self-metrics, text format 0.0.4
 *   GET  /api/v1/targets          ?state=active|dropped|any
 *   GET  /api/v1/status/config    {"status":"success","data":{"yaml":...}}
 *   GET  /api/v1/status/flags, /api/v1/status/buildinfo
 *   POST /api/v1/read             remote read (remoteread.h), external
 *                                 labels of the running config added
 *   GET|POST /api/v1/labels       label names   } start, end, match[] as
 *   GET  /api/v1/label/<n>/values label values  } Prometheus 2.42 takes them
 *   GET|POST /api/v1/query, /api/v1/query_range  PromQL (promql_engine.h)
 *                                 over head + blocks
 * Handlers run on libmicrohttpd's threads; what they share with the other
 * threads is behind the loop's mutex, cfg_mu or atomics.
 */
#include <jansson.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/promapi.h"
#include "strata/relabel.h"
#include "scraper_int.h"
#include "strata/err.h"
#include "strata/httpserver.h"
#include "strata/remoteread.h"
#include "strata/matcher.h"
#include "strata/promql_engine.h"
#include "strata/textfmt.h"

static int respond_json(st_http_response_t *resp, int status, json_t *root) {
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) return st_errorf(ST_ENOMEM, "encoding JSON");
    *resp = (st_http_response_t){status, ST_HTTP_CT_JSON, s, strlen(s), NULL};
    return ST_OK;
}

/* {"status":"error","errorType":T,"error":E} */
static int respond_error(st_http_response_t *resp, int status, const char *type, const char *msg) {
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("error"));
    json_object_set_new(o, "errorType", json_string(type));
    json_object_set_new(o, "error", json_string(msg));
    return respond_json(resp, status, o);
}

static bool method_is(const st_http_request_t *req, const char *m) {
    return strcmp(st_http_request_method(req), m) == 0;
}

static int h_healthy(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    return st_http_respond(resp, 200, ST_HTTP_CT_TEXT, "Strata Scraper is Healthy.\n");
}

static int h_ready(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    (void)req;
    if (!atomic_load(&s->ready)) return st_http_respond(resp, 503, ST_HTTP_CT_TEXT, "Service Unavailable");
    return st_http_respond(resp, 200, ST_HTTP_CT_TEXT, "Strata Scraper is Ready.\n");
}

static int h_reload(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    if (!s->enable_lifecycle) return st_http_respond(resp, 403, ST_HTTP_CT_TEXT, "Lifecycle API is not enabled.");
    if (!method_is(req, "POST") && !method_is(req, "PUT"))
        return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Only POST or PUT requests allowed");
    int rc = scraper_reload(s);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "failed to reload config: %s\n", st_errdetail(rc));
        return st_http_respond(resp, 500, ST_HTTP_CT_TEXT, msg);
    }
    return st_http_respond(resp, 200, ST_HTTP_CT_TEXT, "");
}

static int h_targets(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    char *body;
    size_t len;
    int rc = scrape_loop_targets_json(s->loop, st_http_request_arg(req, "state"), &body, &len);
    if (rc) return rc;
    *resp = (st_http_response_t){200, ST_HTTP_CT_JSON, body, len, NULL};
    return ST_OK;
}

static int h_config(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    (void)req;
    pthread_mutex_lock(&s->cfg_mu);
    config_t *c = config_ref(s->cfg);
    pthread_mutex_unlock(&s->cfg_mu);
    json_t *o = json_object(), *d = json_object();
    json_object_set_new(d, "yaml", json_string(c ? c->yaml : ""));
    config_unref(c);
    json_object_set_new(o, "status", json_string("success"));
    json_object_set_new(o, "data", d);
    return respond_json(resp, 200, o);
}

static int h_flags(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    (void)req;
    json_t *o = json_object(), *d = json_object();
    for (size_t i = 0; i < s->n_flags; i++)
        json_object_set_new(d, s->flags[i].name, json_string(s->flags[i].value ? s->flags[i].value : ""));
    json_object_set_new(o, "status", json_string("success"));
    json_object_set_new(o, "data", d);
    return respond_json(resp, 200, o);
}

static int h_buildinfo(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    json_t *o = json_object(), *d = json_object();
    json_object_set_new(d, "version", json_string(ST_VERSION));
    json_object_set_new(d, "revision", json_string(""));
    json_object_set_new(d, "branch", json_string(""));
    json_object_set_new(d, "buildUser", json_string(""));
    json_object_set_new(d, "buildDate", json_string(""));
    json_object_set_new(d, "goVersion", json_string(""));
    json_object_set_new(o, "status", json_string("success"));
    json_object_set_new(o, "data", d);
    return respond_json(resp, 200, o);
}

/* RSS, CPU time and start time from /proc/self/stat (fields 14, 15, 22, 24). */
static void process_metrics(st_encbuf_t *b) {
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return;
    unsigned long long utime = 0, stime = 0, start = 0, rss = 0;
    /* after ")": state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %*u %llu",
               &utime, &stime, &start, &rss) != 4)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    double boot = 0;
    f = fopen("/proc/stat", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "btime %lf", &boot) == 1) break;
        fclose(f);
    }
    st_put_metric(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", NULL,
                  (double)(utime + stime) / hz);
    st_put_metric(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", NULL,
                  (double)rss * (double)sysconf(_SC_PAGESIZE));
    st_put_metric(b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                  NULL, boot + (double)start / hz);
}

static int h_metrics(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    (void)req;
    st_encbuf_t b;
    st_encbuf_init(&b, 64 << 20);
    st_db_stats_t ds;
    st_db_stats(s->db, &ds);
    st_put_metric(&b, "strata_tsdb_head_samples_appended_total", "counter", "Total number of appended samples.", NULL,
                  (double)ds.samples_appended_total);
    st_put_metric(&b, "strata_tsdb_head_series", "gauge", "Total number of series in the head block.", NULL,
                  (double)ds.head_series);
    st_put_metric(&b, "strata_tsdb_head_chunks", "gauge", "Total number of chunks in the head block.", NULL,
                  (double)ds.head_chunks);
    st_put_metric(&b, "strata_tsdb_head_min_time", "gauge", "Minimum time bound of the head block (ms).", NULL,
                  (double)ds.head_min_time);
    st_put_metric(&b, "strata_tsdb_head_max_time", "gauge", "Maximum timestamp of the head block (ms).", NULL,
                  (double)ds.head_max_time);
    st_put_metric(&b, "strata_tsdb_out_of_order_samples_total", "counter", "Samples refused as out of order.", NULL,
                  (double)ds.out_of_order_total);
    st_put_metric(&b, "strata_tsdb_wal_bytes", "gauge", "Size of the write-ahead log in bytes.", NULL,
                  (double)ds.wal_bytes);
    st_put_metric(&b, "strata_tsdb_wal_corruptions_total", "counter", "WAL corruptions repaired at open.", NULL,
                  (double)ds.wal_corruptions_total);
    st_put_metric(&b, "strata_tsdb_blocks_loaded", "gauge", "Number of currently loaded data blocks.", NULL,
                  (double)ds.blocks);
    st_put_metric(&b, "strata_tsdb_compactions_total", "counter",
                  "Total number of compactions (blocks cut from the head).", NULL, (double)ds.compactions_total);
    st_put_metric(&b, "strata_tsdb_compaction_failures_total", "counter", "Total number of failed compactions.", NULL,
                  (double)ds.compaction_failures_total);
    const scrape_stats_t *st = scrape_loop_stats(s->loop);
    uint64_t scrapes = atomic_load(&st->scrapes_total);
    st_put_metric(&b, "strata_scrapes_total", "counter", "Scrapes done.", NULL, (double)scrapes);
    st_put_metric(&b, "strata_scrape_failures_total", "counter", "Scrapes that did not ingest (any state but UP).",
                  NULL, (double)atomic_load(&st->scrape_failures_total));
    st_put_metric(&b, "strata_scrape_samples_scraped_total", "counter", "Samples parsed from scrape bodies.", NULL,
                  (double)atomic_load(&st->samples_scraped_total));
    st_put_metric(&b, "strata_scrape_samples_appended_total", "counter",
                  "Samples of successful scrapes accepted by the TSDB.", NULL,
                  (double)atomic_load(&st->samples_appended_total));
    st_put_metric(&b, "strata_scrape_samples_rejected_total", "counter",
                  "Samples the TSDB refused (out of order, duplicate timestamp, too old).", NULL,
                  (double)atomic_load(&st->rejected_out_of_order_total));
    st_put_metric(&b, "strata_scrape_body_bytes_total", "counter", "Bytes of scrape bodies (after gzip decoding).",
                  NULL, (double)atomic_load(&st->body_bytes_total));
    st_put_cstr(&b, "# HELP strata_scrape_duration_seconds Time from request to ingested, per scrape.\n"
                    "# TYPE strata_scrape_duration_seconds summary\n");
    st_put_fmt(&b, "strata_scrape_duration_seconds_sum %.9f\nstrata_scrape_duration_seconds_count %llu\n",
               (double)atomic_load(&st->scrape_ns_total) / 1e9, (unsigned long long)scrapes);
    scrape_loop_metrics(s->loop, &b);
    st_put_metric(&b, "strata_config_last_reload_successful", "gauge",
                  "Whether the last configuration reload succeeded.", NULL, atomic_load(&s->last_reload_ok) ? 1 : 0);
    st_put_metric(&b, "strata_config_last_reload_success_timestamp_seconds", "gauge",
                  "Timestamp of the last successful configuration reload.", NULL,
                  (double)atomic_load(&s->last_reload_ok_ms) / 1000.0);
    st_put_metric(&b, "strata_config_reloads_total", "counter", "Configuration reloads attempted.", NULL,
                  (double)atomic_load(&s->reloads_total));
    st_put_metric(&b, "strata_config_reload_failures_total", "counter", "Configuration reloads that failed.", NULL,
                  (double)atomic_load(&s->reload_failures_total));
    process_metrics(&b);
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "formatting metrics");
    }
    *resp = (st_http_response_t){200, ST_HTTP_CT_METRICS, (char *)b.p, b.len, NULL};
    return ST_OK;
}

static int rr_query(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out) {
    return st_db_select(ctx, ms, mint, maxt, out);
}

/* The body's Content-Encoding (snappy) cannot be sent: httpserver.h has no
 * response headers. Prometheus and Thanos clients decode by Content-Type. */
static int h_read(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    if (!method_is(req, "POST")) return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Only POST requests allowed");
    size_t len;
    const void *body = st_http_request_body(req, &len);
    pthread_mutex_lock(&s->cfg_mu);
    config_t *c = config_ref(s->cfg);
    pthread_mutex_unlock(&s->cfg_mu);
    st_remoteread_opts_t o = {.external_labels = &c->cfg->external_labels};
    st_remoteread_response_t r;
    (void)st_remoteread_handle(body, len, &o, rr_query, s->db, &r);
    config_unref(c);
    *resp = (st_http_response_t){r.status, r.content_type, (char *)r.body, r.len, r.content_encoding};
    r.body = NULL; /* handed to the server */
    st_remoteread_response_free(&r);
    return ST_OK;
}

/* ---- label names and values ---- */

/* The parameters of a label request: Go's Request.FormValue and
 * Request.Form["match[]"] over a form body (POST) and the query string. */
typedef struct {
    st_promapi_form_t form;
    int64_t start, end;
    st_matchers_t *sets;
    size_t nsets;
} label_params_t;

static void label_params_free(label_params_t *lp) {
    st_promapi_form_free(&lp->form);
    for (size_t i = 0; i < lp->nsets; i++) st_matchers_free(&lp->sets[i]);
    free(lp->sets);
}

static const char *param(const st_http_request_t *req, const st_promapi_form_t *form, const char *key) {
    const char *v = st_promapi_form_get(form, key);
    return v ? v : st_http_request_arg(req, key);
}

/* Go's ParseForm: a POST's url-encoded body joins the query string. */
static int parse_form(const st_http_request_t *req, st_promapi_form_t *form) {
    const char *ct = st_http_request_header(req, "Content-Type");
    if (!method_is(req, "POST") || !ct || strncmp(ct, "application/x-www-form-urlencoded", 33) != 0) return ST_OK;
    size_t len;
    const char *body = st_http_request_body(req, &len);
    return st_promapi_form_parse(form, body, len);
}

static int add_matcher_set(label_params_t *lp, const char *sel) {
    st_matchers_t *nv = realloc(lp->sets, (lp->nsets + 1) * sizeof *nv);
    if (!nv) return st_errorf(ST_ENOMEM, "match[]: %zu selectors", lp->nsets + 1);
    lp->sets = nv;
    int rc = st_selector_parse(&lp->sets[lp->nsets], sel);
    if (!rc) lp->nsets++;
    /* Prometheus's selector parser takes {x=""}; its API then refuses it */
    if (rc == ST_EINVAL && strstr(st_errdetail(rc), "must contain at least one non-empty matcher"))
        rc = st_errorf(ST_EINVAL, "match[] must contain at least one non-empty matcher");
    return rc;
}

/* Parse start, end and match[]; on a bad parameter respond 400 bad_data
 * (Prometheus's texts) and return 1. */
static int label_params(const st_http_request_t *req, label_params_t *lp, st_http_response_t *resp) {
    memset(lp, 0, sizeof *lp);
    lp->start = ST_PROMAPI_MIN_TIME_MS;
    lp->end = ST_PROMAPI_MAX_TIME_MS;
    int rc;
    if ((rc = parse_form(req, &lp->form))) return rc;
    static const char *const names[] = {"start", "end"};
    int64_t *dst[] = {&lp->start, &lp->end};
    for (int i = 0; i < 2; i++) {
        const char *v = param(req, &lp->form, names[i]);
        if (!v || !*v) continue;
        if ((rc = st_promapi_parse_time(v, dst[i]))) {
            char msg[1200];
            snprintf(msg, sizeof msg, "invalid parameter \"%s\": Invalid time value for '%s': %s", names[i], names[i],
                     st_errdetail(rc));
            return respond_error(resp, 400, "bad_data", msg) ? ST_ENOMEM : 1;
        }
    }
    rc = ST_OK;
    for (size_t i = 0; i < lp->form.n && !rc; i++)
        if (strcmp(lp->form.v[i].key, "match[]") == 0) rc = add_matcher_set(lp, lp->form.v[i].value);
    const char **qs = NULL;
    size_t nq = 0;
    if (!rc) rc = st_http_request_args(req, "match[]", &qs, &nq);
    for (size_t i = 0; i < nq && !rc; i++) rc = add_matcher_set(lp, qs[i]);
    free(qs);
    if (rc == ST_ENOMEM) return rc;
    if (rc) return respond_error(resp, 400, "bad_data", st_errdetail(rc)) ? ST_ENOMEM : 1;
    return ST_OK;
}

/* {"status":"success","data":[...]}, byte for byte as Prometheus writes it. */
static int respond_strings(st_http_response_t *resp, const st_db_strings_t *v) {
    st_encbuf_t b;
    st_encbuf_init(&b, (size_t)1 << 30);
    st_put_cstr(&b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < v->n; i++) {
        if (i) st_put_u8(&b, ',');
        st_promapi_put_json_string(&b, v->v[i], strlen(v->v[i]));
    }
    st_put_cstr(&b, "]}");
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "encoding %zu label strings", v->n);
    }
    *resp = (st_http_response_t){200, ST_HTTP_CT_JSON, (char *)b.p, b.len, NULL};
    return ST_OK;
}

static int h_label_names(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    if (!method_is(req, "GET") && !method_is(req, "POST"))
        return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Method Not Allowed\n");
    label_params_t lp;
    st_db_strings_t names = {0};
    int rc = label_params(req, &lp, resp);
    if (!rc) rc = st_db_label_names(s->db, lp.sets, lp.nsets, lp.start, lp.end, &names);
    if (!rc) rc = respond_strings(resp, &names);
    st_db_strings_free(&names);
    label_params_free(&lp);
    if (rc < 0 && rc != ST_ENOMEM) return respond_error(resp, 422, "execution", st_errdetail(rc));
    return rc < 0 ? rc : ST_OK;
}

/* /api/v1/label/<name>/values */
static int h_label_values(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    scraper_t *s = ctx;
    const char *path = st_http_request_path(req) + strlen("/api/v1/label/");
    const char *slash = strchr(path, '/');
    if (!slash || slash == path || strcmp(slash, "/values") != 0)
        return st_http_respond(resp, 404, ST_HTTP_CT_TEXT, "404 page not found\n");
    if (!method_is(req, "GET")) return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Method Not Allowed\n");
    size_t nlen = (size_t)(slash - path);
    char *name = strndup(path, nlen);
    if (!name) return st_errorf(ST_ENOMEM, "label values: name");
    int rc = ST_OK;
    label_params_t lp = {0};
    st_db_strings_t values = {0};
    if (!st_label_name_valid(name, strlen(name))) {
        st_encbuf_t b;
        st_encbuf_init(&b, 1 << 16);
        st_put_cstr(&b, "invalid label name: ");
        st_put_go_quote(&b, name, nlen);
        st_put_u8(&b, 0);
        rc = b.err ? st_errorf(b.err, "label values: message") : respond_error(resp, 400, "bad_data", (char *)b.p);
        st_encbuf_free(&b);
        goto out;
    }
    if ((rc = label_params(req, &lp, resp))) goto out;
    if (!(rc = st_db_label_values(s->db, name, lp.sets, lp.nsets, lp.start, lp.end, &values)))
        rc = respond_strings(resp, &values);
    if (rc < 0 && rc != ST_ENOMEM) rc = respond_error(resp, 422, "execution", st_errdetail(rc));
out:
    st_db_strings_free(&values);
    label_params_free(&lp);
    free(name);
    return rc < 0 ? rc : ST_OK;
}

/* ---- PromQL queries ---- */

/* The engine's queryable over head + blocks: st_db_select takes only the
 * read side of the head, so ingestion keeps going under a long query. */
static int db_select(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const st_promql_hints_t *h,
                     st_series_set_t **out, st_promql_warnings_t *w) {
    (void)h, (void)w;
    return st_db_select(ctx, ms, mint, maxt, out);
}

static int error_status(const char *type) {
    if (strcmp(type, "bad_data") == 0) return 400;
    if (strcmp(type, "execution") == 0) return 422;
    if (strcmp(type, "timeout") == 0 || strcmp(type, "canceled") == 0) return 503;
    return 500;
}

/* 400 bad_data `invalid parameter "<name>": <detail of rc>` */
static int respond_bad_param(st_http_response_t *resp, const char *name, const char *prefix, int rc) {
    char msg[1200];
    snprintf(msg, sizeof msg, "invalid parameter \"%s\": %s%s", name, prefix, st_errdetail(rc));
    return respond_error(resp, 400, "bad_data", msg);
}

/* /api/v1/query and /api/v1/query_range: Prometheus 2.42's parameters,
 * checks in its order, and its error types and statuses. Over
 * --query.max-concurrency, requests wait for a slot. */
static int h_query(scraper_t *s, const st_http_request_t *req, st_http_response_t *resp, bool range) {
    if (!method_is(req, "GET") && !method_is(req, "POST"))
        return st_http_respond(resp, 405, ST_HTTP_CT_TEXT, "Method Not Allowed\n");
    st_promapi_form_t form = {0};
    st_encbuf_t b;
    st_encbuf_init(&b, (size_t)1 << 31);
    st_promql_result_t res = {0};
    bool have_slot = false;
    int rc = parse_form(req, &form);
    if (rc == ST_ENOMEM) goto out;
    if (rc) {
        rc = respond_error(resp, 400, "bad_data", st_errdetail(rc));
        goto out;
    }
    const char *query = param(req, &form, "query");
    st_promql_query_t qry = {.text = query ? query : "", .text_len = query ? strlen(query) : 0};
    if (range) {
        static const char *const names[] = {"start", "end"};
        int64_t *dst[] = {&qry.start, &qry.end};
        for (int i = 0; i < 2; i++) {
            const char *v = param(req, &form, names[i]);
            if ((rc = st_promapi_parse_time(v ? v : "", dst[i]))) {
                rc = respond_bad_param(resp, names[i], "", rc);
                goto out;
            }
        }
        const char *v = param(req, &form, "step");
        if ((rc = st_promapi_parse_duration(v ? v : "", &qry.step))) {
            rc = respond_bad_param(resp, "step", "", rc);
            goto out;
        }
        /* the engine takes start == end with step 0 for an instant query */
        if (qry.step <= 0 && qry.end >= qry.start) {
            rc = respond_error(resp, 400, "bad_data",
                               "invalid parameter \"step\": zero or negative query resolution step widths are not "
                               "accepted. Try a positive integer");
            goto out;
        }
    } else {
        const char *v = param(req, &form, "time");
        qry.start = now_ms();
        if (v && *v && (rc = st_promapi_parse_time(v, &qry.start))) {
            rc = respond_bad_param(resp, "time", "Invalid time value for 'time': ", rc);
            goto out;
        }
        qry.end = qry.start;
    }
    st_promql_engine_opts_t opts = s->query_opts;
    const char *to = param(req, &form, "timeout");
    if (to && *to) {
        int64_t t;
        if ((rc = st_promapi_parse_duration(to, &t))) {
            rc = respond_bad_param(resp, "timeout", "", rc);
            goto out;
        }
        if (t > 0 && (opts.timeout_ms == 0 || t < opts.timeout_ms)) opts.timeout_ms = t;
    }
    while (sem_wait(&s->query_sem) != 0) {
    }
    have_slot = true;
    st_promql_queryable_t q = {s->db, db_select};
    rc = st_promql_exec(&opts, &q, &qry, &res);
    if (rc == ST_ENOMEM) goto out;
    st_promql_response_json(&b, &res);
    if (b.err) {
        rc = st_errorf(b.err, "encoding the query result");
        goto out;
    }
    *resp = (st_http_response_t){res.error ? error_status(res.error_type) : 200, ST_HTTP_CT_JSON, (char *)b.p, b.len,
                                 NULL};
    b.p = NULL; /* handed to the server */
    rc = ST_OK;
out:
    if (have_slot) sem_post(&s->query_sem);
    st_promql_result_free(&res);
    st_encbuf_free(&b);
    st_promapi_form_free(&form);
    return rc;
}

static int h_query_instant(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    return h_query(ctx, req, resp, false);
}

static int h_query_range(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    return h_query(ctx, req, resp, true);
}

static int h_not_found_api(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    return respond_error(resp, 404, "not_found", "not served by strata scraper");
}

int api_register(scraper_t *s, struct st_http_server *srv) {
    static const st_http_route_t routes[] = {
        {"/-/healthy", false, h_healthy},
        {"/-/ready", false, h_ready},
        {"/-/reload", false, h_reload},
        {"/metrics", false, h_metrics},
        {"/api/v1/targets", false, h_targets},
        {"/api/v1/status/config", false, h_config},
        {"/api/v1/status/flags", false, h_flags},
        {"/api/v1/status/buildinfo", false, h_buildinfo},
        {"/api/v1/read", false, h_read},
        {"/api/v1/query", false, h_query_instant},
        {"/api/v1/query_range", false, h_query_range},
        {"/api/v1/labels", false, h_label_names},
        {"/api/v1/label/", true, h_label_values},
        {"/api/v1/", true, h_not_found_api},
    };
    return st_http_server_routes(srv, routes, sizeof routes / sizeof routes[0], s);
}
