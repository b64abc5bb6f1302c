/*
 * The querier's own StoreAPI (component "query"), so queriers stack as in
 * Thanos: Series proxies the merged, not deduplicated stream of the
 * endpoints (chunks passed through as the stores sent them, identical
 * ones once); label calls fan out; Info advertises the union of the
 * healthy endpoints' label sets and time ranges.
 */
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "strata/err.h"

static int op_series(void *ctx, const st_series_request_t *req, st_series_sink_t *sink) {
    query_t *q = ctx;
    query_warnings_t w;
    query_warnings_init(&w);
    query_series_req_t r = {
        .min_time = req->min_time,
        .max_time = req->max_time,
        .matchers = &req->matchers,
        .skip_chunks = req->skip_chunks,
        .abort_on_error = req->partial_response_abort,
        .limit = req->limit,
        .aggregates = req->aggregates,
        .max_resolution_window = req->max_resolution_window,
        .deadline_ms = query_now_ms() + q->timeout_ms,
    };
    query_proxy_t *p = NULL;
    int rc = query_proxy_open(q, &r, &w, &p);
    const st_labels_t *lbls;
    const st_store_chunk_t *chunks;
    size_t n;
    while (!rc && (rc = query_proxy_next(p, &lbls, &chunks, &n)) == 1) {
        rc = st_series_sink_send(sink, lbls, chunks, n);
        if (rc == 1) rc = ST_OK; /* the request's limit: stop, not an error */
        if (rc || st_series_sink_cancelled(sink)) break;
    }
    query_proxy_free(p);
    pthread_mutex_lock(&w.mu);
    for (size_t i = 0; i < w.list.n && rc >= 0; i++) rc = st_series_sink_warn(sink, w.list.v[i]);
    pthread_mutex_unlock(&w.mu);
    query_warnings_destroy(&w);
    return rc < 0 ? rc : ST_OK;
}

static int labels_op(query_t *q, const st_label_request_t *req, st_strlist_t *values, st_strlist_t *warnings) {
    query_ctx_t c;
    int rc = query_ctx_init(&c, q);
    if (rc) return rc;
    c.partial_response = !req->partial_response_abort;
    rc = query_labels(&c, req->label, req->start, req->end, &req->matchers, values);
    if (!rc && req->limit > 0)
        while (values->n > (size_t)req->limit) free(values->v[--values->n]);
    for (size_t i = 0; i < c.warnings.list.n && !rc; i++) rc = st_strlist_push(warnings, c.warnings.list.v[i]);
    query_ctx_destroy(&c);
    return rc;
}

static int op_label_names(void *ctx, const st_label_request_t *req, st_strlist_t *names, st_strlist_t *warnings) {
    return labels_op(ctx, req, names, warnings);
}

static int op_label_values(void *ctx, const st_label_request_t *req, st_strlist_t *values, st_strlist_t *warnings) {
    return labels_op(ctx, req, values, warnings);
}

typedef struct {
    const st_labels_t *set;
    int64_t min_time, max_time;
} info_set_t;

static int info_set_cmp(const void *a, const void *b) {
    return st_labels_cmp(((const info_set_t *)a)->set, ((const info_set_t *)b)->set);
}

static int op_info(void *ctx, st_store_info_t *out) {
    query_t *q = ctx;
    memset(out, 0, sizeof *out);
    out->component = "query";
    query_target_t *ts = NULL;
    size_t nts = 0;
    int rc = query_endpoints_snapshot(q->endpoints, &ts, &nts);
    if (rc) return rc;
    size_t nsets = 0, k = 0;
    for (size_t i = 0; i < nts; i++) nsets += ts[i].healthy ? ts[i].nlabel_sets : 0;
    info_set_t *sets = malloc((nsets ? nsets : 1) * sizeof *sets);
    out->label_sets = calloc(nsets ? nsets : 1, sizeof *out->label_sets);
    out->tsdb_infos = calloc(nsets ? nsets : 1, sizeof *out->tsdb_infos);
    if (!sets || !out->label_sets || !out->tsdb_infos) {
        rc = st_errorf(ST_ENOMEM, "info: %zu label sets", nsets);
        goto out;
    }
    /* Thanos's proxy: the hull of the stores' ranges; no store, no bounds */
    bool any = false;
    out->min_time = INT64_MAX;
    out->max_time = INT64_MIN;
    for (size_t i = 0; i < nts; i++) {
        if (!ts[i].healthy) continue;
        any = true;
        if (ts[i].min_time < out->min_time) out->min_time = ts[i].min_time;
        if (ts[i].max_time > out->max_time) out->max_time = ts[i].max_time;
        for (size_t j = 0; j < ts[i].nlabel_sets; j++)
            sets[k++] = (info_set_t){&ts[i].label_sets[j], ts[i].min_time, ts[i].max_time};
    }
    if (!any) {
        out->min_time = INT64_MIN;
        out->max_time = INT64_MAX;
    }
    qsort(sets, k, sizeof *sets, info_set_cmp);
    for (size_t i = 0; i < k && !rc; i++) {
        size_t d = out->nlabel_sets;
        if (d > 0 && st_labels_equal(&out->label_sets[d - 1], sets[i].set)) {
            st_tsdb_info_t *t = &out->tsdb_infos[d - 1];
            if (sets[i].min_time < t->min_time) t->min_time = sets[i].min_time;
            if (sets[i].max_time > t->max_time) t->max_time = sets[i].max_time;
            continue;
        }
        if ((rc = st_labels_copy(&out->label_sets[d], sets[i].set))) break;
        out->nlabel_sets++;
        st_tsdb_info_t *t = &out->tsdb_infos[d];
        t->min_time = sets[i].min_time;
        t->max_time = sets[i].max_time;
        if ((rc = st_labels_copy(&t->labels, sets[i].set))) break;
        out->ntsdb_infos++;
    }
out:
    free(sets);
    query_targets_free(ts, nts);
    return rc;
}

const st_storeapi_ops_t query_store_ops = {op_series, op_label_names, op_label_values, op_info};
