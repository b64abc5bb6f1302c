/*
 * The querier's core: request contexts, warnings, the concurrency gate,
 * the queryable (query_select: proxy ─▶ overlap split ─▶ dedup ─▶ samples)
 * and the label fan-out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query.h"
#include "strata/err.h"
#include "strata/log.h"

int64_t query_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- warnings ---- */

void query_warnings_init(query_warnings_t *w) {
    pthread_mutex_init(&w->mu, NULL);
    w->list = (st_strlist_t){0};
}

void query_warnings_destroy(query_warnings_t *w) {
    st_strlist_free(&w->list);
    pthread_mutex_destroy(&w->mu);
}

int query_warnf(query_warnings_t *w, const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rc = ST_OK;
    pthread_mutex_lock(&w->mu);
    bool seen = false;
    for (size_t i = 0; i < w->list.n && !seen; i++) seen = strcmp(w->list.v[i], msg) == 0;
    if (!seen) rc = st_strlist_push(&w->list, msg);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ---- component ---- */

int query_init(query_t *q, query_endpoints_t *es, int max_concurrent) {
    memset(q, 0, sizeof *q);
    q->endpoints = es;
    q->partial_response = true;
    q->timeout_ms = 2 * 60 * 1000;
    q->lookback_delta_ms = 5 * 60 * 1000;
    q->max_samples = 50000000;
    q->gate_max = max_concurrent > 0 ? max_concurrent : 1;
    atomic_init(&q->feeds_live, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_REALTIME);
    pthread_mutex_init(&q->gate_mu, NULL);
    pthread_cond_init(&q->gate_cv, &ca);
    pthread_condattr_destroy(&ca);
    return ST_OK;
}

void query_destroy(query_t *q) {
    pthread_mutex_destroy(&q->gate_mu);
    pthread_cond_destroy(&q->gate_cv);
}

int query_gate_enter(query_t *q, int64_t deadline_ms) {
    struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000), .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
    int rc = ST_OK;
    pthread_mutex_lock(&q->gate_mu);
    while (q->gate_used >= q->gate_max && !rc)
        if (pthread_cond_timedwait(&q->gate_cv, &q->gate_mu, &ts) != 0 && query_now_ms() >= deadline_ms)
            rc = st_errorf(ST_ETIMEDOUT, "query timed out waiting for one of --query.max-concurrent=%d slots",
                           q->gate_max);
    if (!rc) q->gate_used++;
    pthread_mutex_unlock(&q->gate_mu);
    return rc;
}

void query_gate_leave(query_t *q) {
    pthread_mutex_lock(&q->gate_mu);
    q->gate_used--;
    pthread_cond_signal(&q->gate_cv);
    pthread_mutex_unlock(&q->gate_mu);
}

/* ---- request context ---- */

int query_ctx_init(query_ctx_t *c, query_t *q) {
    memset(c, 0, sizeof *c);
    c->q = q;
    c->dedup = true;
    c->partial_response = q->partial_response;
    c->deadline_ms = query_now_ms() + q->timeout_ms;
    query_warnings_init(&c->warnings);
    int rc = ST_OK;
    for (size_t i = 0; i < q->nreplica_labels && !rc; i++)
        rc = st_strlist_push(&c->replica_labels, q->replica_labels[i]);
    if (rc) query_ctx_destroy(c);
    return rc;
}

void query_ctx_destroy(query_ctx_t *c) {
    st_strlist_free(&c->replica_labels);
    query_warnings_destroy(&c->warnings);
}

bool query_ctx_dedup(const query_ctx_t *c) { return c->dedup && c->replica_labels.n > 0; }

/* ---- the queryable ---- */

uint32_t query_aggrs_from_func(const char *f, st_aggr_read_t *read) {
    enum { EXACT = 1, PREFIX = 2 }; /* f == name; f starts with name + "_" */
    static const struct {
        const char *name;
        int match;
        st_aggr_read_t read;
        int aggr;
    } rules[] = {
        {"min", EXACT | PREFIX, ST_AGGR_READ_MIN, ST_AGGR_MIN},
        {"max", EXACT | PREFIX, ST_AGGR_READ_MAX, ST_AGGR_MAX},
        {"count", EXACT | PREFIX, ST_AGGR_READ_COUNT, ST_AGGR_COUNT},
        {"sum", PREFIX, ST_AGGR_READ_SUM, ST_AGGR_SUM}, /* plain sum wants the samples (avg) */
        {"rate", EXACT, ST_AGGR_READ_COUNTER, ST_AGGR_COUNTER},
        {"irate", EXACT, ST_AGGR_READ_COUNTER, ST_AGGR_COUNTER},
        {"increase", EXACT, ST_AGGR_READ_COUNTER, ST_AGGR_COUNTER},
        {"resets", EXACT, ST_AGGR_READ_COUNTER, ST_AGGR_COUNTER},
        {"xrate", EXACT, ST_AGGR_READ_COUNTER, ST_AGGR_COUNTER},
        {"xincrease", EXACT, ST_AGGR_READ_COUNTER, ST_AGGR_COUNTER},
    };
    const char *name = f ? f : "";
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        size_t n = strlen(rules[i].name);
        bool exact = strcmp(name, rules[i].name) == 0, pre = strncmp(name, rules[i].name, n) == 0 && name[n] == '_';
        if (!((rules[i].match & EXACT && exact) || (rules[i].match & PREFIX && pre))) continue;
        if (read) *read = rules[i].read;
        return 1u << rules[i].aggr;
    }
    if (read) *read = ST_AGGR_READ_AVG;
    return 1u << ST_AGGR_COUNT | 1u << ST_AGGR_SUM;
}

int64_t query_select_resolution(int64_t max_res, const query_hints_t *h) {
    static const char *const two_samples[] = {"rate",   "irate",          "increase",     "delta",
                                              "idelta", "deriv",          "predict_linear", "holt_winters",
                                              "double_exponential_smoothing"};
    if (!h || h->range <= 0 || !h->func) return max_res;
    for (size_t i = 0; i < sizeof two_samples / sizeof two_samples[0]; i++)
        if (strcmp(h->func, two_samples[i]) == 0) return h->range / 2 < max_res ? h->range / 2 : max_res;
    return max_res;
}

int64_t query_auto_resolution(bool range, int64_t step) { return range && step > 0 ? step / 5 : 0; }

int64_t query_lookback_delta(int64_t flag_ms, int64_t max_res_ms) {
    /* Thanos: deltas for raw, 5m and 1h, each at least its resolution; the
     * coarsest whose finer neighbour (or the flag, if larger) lies below
     * max_res_ms */
    static const int64_t res[] = {0, ST_RES_5M, ST_RES_1H};
    for (int i = 2; i >= 1; i--) {
        int64_t left = res[i - 1] > flag_ms ? res[i - 1] : flag_ms;
        if (left < max_res_ms) return flag_ms < res[i] ? res[i] : flag_ms;
    }
    return flag_ms;
}

typedef struct {
    query_proxy_t *p;
    const st_labels_t *lbls;
    bool labels_only, dedup, counter;
    st_aggr_read_t read; /* how a series with aggregate chunks is read */
    int64_t mint, maxt;
    st_dedup_samples_t *smp;
    st_dedup_replica_t *reps;
    st_store_chunk_t *storage;
} sel_t;

static void sel_reset(sel_t *s) {
    st_dedup_samples_free(s->smp);
    free(s->reps);
    free(s->storage);
    s->smp = NULL;
    s->reps = NULL;
    s->storage = NULL;
}

static int sel_next(void *ctx) {
    sel_t *s = ctx;
    sel_reset(s);
    const st_store_chunk_t *chunks;
    size_t n;
    int rc = query_proxy_next(s->p, &s->lbls, &chunks, &n);
    if (rc <= 0 || s->labels_only) return rc;
    /* stores fall back to raw where nothing is downsampled: only a series
     * with an aggregate chunk is read as aggregates */
    bool raw = true;
    for (size_t i = 0; i < n && raw; i++) raw = chunks[i].data[ST_AGGR_RAW] != NULL;
    st_dedup_replica_t one = {chunks, n}, *reps = &one;
    size_t nrep = 1;
    if (s->dedup && (rc = st_dedup_overlap_split(chunks, n, &s->reps, &nrep, &s->storage))) return rc;
    if (s->dedup) reps = s->reps;
    bool counter = s->dedup && s->counter;
    rc = raw ? st_dedup_samples_new(&s->smp, reps, nrep, s->mint, s->maxt, counter)
             : st_dedup_samples_new_aggr(&s->smp, reps, nrep, s->mint, s->maxt, counter, s->read);
    return rc ? rc : 1;
}

static const st_labels_t *sel_labels(void *ctx) { return ((sel_t *)ctx)->lbls; }

static int sel_sample(void *ctx, int64_t *t, double *v) {
    sel_t *s = ctx;
    return s->smp ? st_dedup_samples_next(s->smp, t, v) : 0;
}

static int sel_samples(void *ctx, int64_t *t, double *v, size_t cap) {
    sel_t *s = ctx;
    return s->smp ? st_dedup_samples_next_batch(s->smp, t, v, cap) : 0;
}

static void sel_free(void *ctx) {
    sel_t *s = ctx;
    sel_reset(s);
    query_proxy_free(s->p);
    free(s);
}

static const st_series_set_ops_t sel_ops = {sel_next, sel_labels, sel_sample, sel_free, sel_samples};

int query_select(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const query_hints_t *hints,
                 st_series_set_t **out) {
    query_ctx_t *c = ctx;
    *out = NULL;
    sel_t *s = calloc(1, sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "select: allocating a series set");
    s->labels_only = hints && hints->func && strcmp(hints->func, "series") == 0;
    s->dedup = query_ctx_dedup(c);
    s->counter = hints && st_dedup_func_is_counter(hints->func);
    s->mint = mint;
    s->maxt = maxt;
    uint32_t aggrs = query_aggrs_from_func(hints ? hints->func : NULL, &s->read);
    query_series_req_t r = {
        .min_time = mint,
        .max_time = maxt,
        .matchers = ms,
        .skip_chunks = s->labels_only,
        .abort_on_error = !c->partial_response,
        .aggregates = aggrs,
        .max_resolution_window = query_select_resolution(c->max_resolution_ms, hints),
        .strip = s->dedup ? (const char *const *)c->replica_labels.v : NULL,
        .nstrip = s->dedup ? c->replica_labels.n : 0,
        .deadline_ms = c->deadline_ms,
    };
    atomic_fetch_add(&c->q->m.series_requests, 1);
    int rc = query_proxy_open(c->q, &r, &c->warnings, &s->p);
    if (rc) {
        free(s);
        return rc;
    }
    return st_series_set_new(out, &sel_ops, s);
}

/* ---- labels ---- */

typedef struct {
    query_target_t *t;
    const st_label_request_t *req;
    int64_t timeout_ms;
    pthread_t th;
    bool started, threaded;
    int rc;
    char *err;
    st_strlist_t values, warnings;
} label_job_t;

static void *label_main(void *arg) {
    label_job_t *j = arg;
    j->rc = j->req->label
                ? st_storeapi_label_values(j->t->ep->client, j->req, j->timeout_ms, &j->values, &j->warnings)
                : st_storeapi_label_names(j->t->ep->client, j->req, j->timeout_ms, &j->values, &j->warnings);
    if (j->rc) j->err = strdup(st_errdetail(j->rc));
    return NULL;
}

static int label_failure(query_ctx_t *c, int code, bool log, const char *msg) {
    atomic_fetch_add(&c->q->m.store_failures, 1);
    if (!c->partial_response) return st_errorf(code < 0 ? code : ST_EIO, "%s", msg);
    if (log) st_log(ST_LOG_WARN, "partial response: a store failed", "err", msg, NULL);
    return query_warnf(&c->warnings, "%s", msg);
}


int query_labels(query_ctx_t *c, const char *label, int64_t start, int64_t end, const st_matchers_t *ms,
                 st_strlist_t *out) {
    *out = (st_strlist_t){0};
    query_target_t *ts = NULL;
    size_t nts = 0;
    int rc = query_endpoints_snapshot(c->q->endpoints, &ts, &nts);
    if (rc) return rc;
    atomic_fetch_add(&c->q->m.label_requests, 1);
    st_matchers_t none = {0};
    st_label_request_t req = {
        .label = (char *)label,
        .start = start,
        .end = end,
        .matchers = ms ? *ms : none,
        .partial_response_abort = !c->partial_response,
    };
    label_job_t *jobs = calloc(nts ? nts : 1, sizeof *jobs);
    if (!jobs) rc = st_errorf(ST_ENOMEM, "labels: %zu endpoints", nts);
    int64_t left = c->deadline_ms - query_now_ms();
    if (!rc && left <= 0) rc = st_errorf(ST_ETIMEDOUT, "query timed out");
    char msg[2048];
    for (size_t i = 0; i < nts && !rc; i++) {
        query_target_t *t = &ts[i];
        if (!query_target_matches(t, start, end, ms)) continue;
        if (!t->healthy) {
            snprintf(msg, sizeof msg, "store %s is unhealthy: %s", t->name,
                     t->last_error ? t->last_error : "no Info answer yet");
            rc = label_failure(c, ST_EIO, false, msg);
            continue;
        }
        jobs[i] = (label_job_t){.t = t, .req = &req, .timeout_ms = left};
        atomic_fetch_add(&c->q->m.store_calls, 1);
        jobs[i].threaded = pthread_create(&jobs[i].th, NULL, label_main, &jobs[i]) == 0;
        if (!jobs[i].threaded) label_main(&jobs[i]); /* no thread to spare: call it here */
        jobs[i].started = true;
    }
    for (size_t i = 0; jobs && i < nts; i++) {
        label_job_t *j = &jobs[i];
        if (!j->started) continue;
        if (j->threaded) pthread_join(j->th, NULL);
        if (!rc && j->rc) {
            snprintf(msg, sizeof msg, "fetch %s from store %s: %s", label ? "label values" : "label names",
                     j->t->name, j->err ? j->err : st_strerror(j->rc));
            rc = label_failure(c, j->rc, true, msg);
        }
        for (size_t k = 0; k < j->warnings.n && !rc; k++) rc = label_failure(c, ST_EIO, true, j->warnings.v[k]);
        for (size_t k = 0; k < j->values.n && !rc; k++) rc = st_strlist_push(out, j->values.v[k]);
        free(j->err);
        st_strlist_free(&j->values);
        st_strlist_free(&j->warnings);
    }
    free(jobs);
    query_targets_free(ts, nts);
    if (rc) {
        st_strlist_free(out);
        return rc;
    }
    st_strlist_sort_unique(out);
    return ST_OK;
}
