/*
 * StoreAPI requests and label responses (protobuf, proto/thanos/rpc.proto;
 * thanos-reference.md §2.2, §2.4):
 *
 *   SeriesRequest       1 min_time int64, 2 max_time int64, 3 matchers
 *                       repeated LabelMatcher, 4 max_resolution_window
 *                       int64, 5 aggregates repeated Aggr (packed or not),
 *                       6 partial_response_disabled bool,
 *                       7 partial_response_strategy (WARN 0, ABORT 1),
 *                       8 skip_chunks bool, 9 hints Any, 14
 *                       without_replica_labels repeated string, 15 limit
 *                       int64, 16 response_batch_size int64; 10-13 ignored
 *   LabelMatcher        1 type (EQ 0, NEQ 1, RE 2, NRE 3), 2 name, 3 value
 *   Any                 1 type_url string, 2 value bytes; as hints of a
 *                       SeriesRequest only ".../hintspb.SeriesRequestHints"
 *                       is read: 1 block_matchers repeated LabelMatcher
 *   LabelNamesRequest   1 partial_response_disabled, 2 strategy, 3 start,
 *                       4 end, 5 hints (ignored), 6 matchers, 8 limit
 *   LabelValuesRequest  1 label string, 2 partial_response_disabled,
 *                       3 strategy, 4 start, 5 end, 6 hints (ignored),
 *                       7 matchers, 9 limit
 *   Label{Names,Values}Response  1 names/values repeated string,
 *                       2 warnings repeated string, 3 hints (ignored)
 *
 * protobuf-c unpacks within the given length (allocations are bounded by
 * it); every field is then checked before it is handed out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeapi_int.h"
#include "strata/err.h"
#include "thanos/hints.pb-c.h"
#include "thanos/rpc.pb-c.h"

/* ---- helpers shared with info.c, client.c and server.c ---- */

int st__sa_matchers_from_pb(Thanos__LabelMatcher *const *v, size_t n, st_matchers_t *out, const char *what) {
    memset(out, 0, sizeof *out);
    if (n == 0) return ST_OK;
    if (!(out->v = calloc(n, sizeof *out->v))) return st_errorf(ST_ENOMEM, "%s: allocating %zu matchers", what, n);
    for (size_t i = 0; i < n; i++) {
        const Thanos__LabelMatcher *m = v[i];
        if ((unsigned)m->type > ST_MATCH_NRE)
            return st_errorf(ST_EINVAL, "%s: matcher %zu: unknown type %d", what, i, (int)m->type);
        if (!m->name || !*m->name) return st_errorf(ST_EINVAL, "%s: matcher %zu: empty label name", what, i);
        int rc = st_matcher_new(&out->v[i], (st_match_type_t)m->type, m->name, m->value ? m->value : "");
        if (rc) return st_errwrap(rc, "%s: matcher %zu (%s)", what, i, m->name);
        out->n++;
    }
    return ST_OK;
}

int st__sa_matchers_to_pb(const st_matchers_t *ms, st__sa_pb_matchers_t *out) {
    memset(out, 0, sizeof *out);
    if (ms->n == 0) return ST_OK;
    out->m = calloc(ms->n, sizeof *out->m);
    out->p = calloc(ms->n, sizeof *out->p);
    if (!out->m || !out->p) {
        st__sa_pb_matchers_free(out);
        return st_errorf(ST_ENOMEM, "encoding %zu matchers", ms->n);
    }
    for (size_t i = 0; i < ms->n; i++) {
        out->m[i] = (Thanos__LabelMatcher)THANOS__LABEL_MATCHER__INIT;
        out->m[i].type = (Thanos__LabelMatcher__Type)st_matcher_type(ms->v[i]);
        /* protobuf-c's structs are not const-correct; packing only reads */
        out->m[i].name = (char *)st_matcher_name(ms->v[i]);
        out->m[i].value = (char *)st_matcher_value(ms->v[i]);
        out->p[i] = &out->m[i];
    }
    out->n = ms->n;
    return ST_OK;
}

void st__sa_pb_matchers_free(st__sa_pb_matchers_t *pm) {
    free(pm->m);
    free(pm->p);
    memset(pm, 0, sizeof *pm);
}

int st__sa_labels_from_pb(Thanos__Label *const *v, size_t n, st_labels_t *out, const char *what) {
    memset(out, 0, sizeof *out);
    st_label_t *pairs = malloc((n ? n : 1) * sizeof *pairs);
    if (!pairs) return st_errorf(ST_ENOMEM, "%s: allocating %zu labels", what, n);
    for (size_t i = 0; i < n; i++) pairs[i] = st_label(v[i]->name ? v[i]->name : "", v[i]->value ? v[i]->value : "");
    int rc = st_labels_from_pairs(out, pairs, n);
    free(pairs);
    if (rc == ST_EINVAL) rc = st_errwrap(ST_ECORRUPT, "%s", what);
    return rc;
}

int st__sa_labels_to_pb(const st_labels_t *sets, size_t nsets, st__sa_pb_labels_t *out, size_t *offsets) {
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (size_t i = 0; i < nsets; i++) total += sets[i].n;
    out->l = calloc(total ? total : 1, sizeof *out->l);
    out->p = calloc(total ? total : 1, sizeof *out->p);
    if (!out->l || !out->p) {
        st__sa_pb_labels_free(out);
        return st_errorf(ST_ENOMEM, "encoding %zu labels", total);
    }
    for (size_t i = 0; i < nsets; i++) {
        offsets[i] = out->n;
        for (size_t k = 0; k < sets[i].n; k++, out->n++) {
            out->l[out->n] = (Thanos__Label)THANOS__LABEL__INIT;
            out->l[out->n].name = (char *)sets[i].v[k].name;
            out->l[out->n].value = (char *)sets[i].v[k].value;
            out->p[out->n] = &out->l[out->n];
        }
    }
    return ST_OK;
}

void st__sa_pb_labels_free(st__sa_pb_labels_t *pl) {
    free(pl->l);
    free(pl->p);
    memset(pl, 0, sizeof *pl);
}

int st__sa_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len, const char *what) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return st_errorf(ST_ENOMEM, "%s: allocating %zu bytes", what, n);
    *len = protobuf_c_message_pack(m, buf);
    *out = buf;
    return ST_OK;
}

bool st__sa_any_is(const Google__Protobuf__Any *a, const char *msg) {
    if (!a || !a->type_url) return false;
    const char *slash = strrchr(a->type_url, '/');
    return slash && strcmp(slash + 1, msg) == 0;
}

static int check_strategy(int strategy, bool disabled, bool *abort_out, const char *what) {
    if (strategy != THANOS__PARTIAL_RESPONSE_STRATEGY__WARN && strategy != THANOS__PARTIAL_RESPONSE_STRATEGY__ABORT)
        return st_errorf(ST_EINVAL, "%s: unknown partial_response_strategy %d", what, strategy);
    *abort_out = disabled || strategy == THANOS__PARTIAL_RESPONSE_STRATEGY__ABORT;
    return ST_OK;
}

/* ---- SeriesRequest ---- */

void st_series_request_free(st_series_request_t *r) {
    if (!r) return;
    st_matchers_free(&r->matchers);
    st_matchers_free(&r->block_matchers);
    st_strlist_free(&r->without_replica_labels);
    memset(r, 0, sizeof *r);
}

static int decode_series_hints(const Google__Protobuf__Any *a, st_series_request_t *out) {
    if (!st__sa_any_is(a, ST__SA_SERIES_REQUEST_HINTS)) return ST_OK;
    Hintspb__SeriesRequestHints *h = hintspb__series_request_hints__unpack(NULL, a->value.len, a->value.data);
    if (!h) return st_errorf(ST_ECORRUPT, "SeriesRequest: hints: SeriesRequestHints does not decode");
    int rc = st__sa_matchers_from_pb(h->block_matchers, h->n_block_matchers, &out->block_matchers,
                                     "SeriesRequest: hints: block_matchers");
    hintspb__series_request_hints__free_unpacked(h, NULL);
    return rc;
}

int st_series_request_decode(const uint8_t *p, size_t len, st_series_request_t *out) {
    memset(out, 0, sizeof *out);
    Thanos__SeriesRequest *r = thanos__series_request__unpack(NULL, len, p);
    if (!r) return st_errorf(ST_ECORRUPT, "SeriesRequest: protobuf does not decode (%zu bytes)", len);
    int rc = ST_OK;
    if (r->min_time > r->max_time) {
        rc = st_errorf(ST_EINVAL, "SeriesRequest: min_time %lld is after max_time %lld", (long long)r->min_time,
                       (long long)r->max_time);
        goto out;
    }
    const struct {
        const char *field;
        int64_t v;
    } nonneg[] = {{"max_resolution_window", r->max_resolution_window},
                  {"limit", r->limit},
                  {"response_batch_size", r->response_batch_size}};
    for (size_t i = 0; i < sizeof nonneg / sizeof nonneg[0]; i++) {
        if (nonneg[i].v < 0) {
            rc = st_errorf(ST_EINVAL, "SeriesRequest: negative %s %lld", nonneg[i].field, (long long)nonneg[i].v);
            goto out;
        }
    }
    out->min_time = r->min_time;
    out->max_time = r->max_time;
    out->max_resolution_window = r->max_resolution_window;
    out->skip_chunks = r->skip_chunks;
    out->limit = r->limit;
    out->response_batch_size = r->response_batch_size;
    for (size_t i = 0; i < r->n_aggregates; i++) {
        if ((unsigned)r->aggregates[i] >= ST_AGGR_N) {
            rc = st_errorf(ST_EINVAL, "SeriesRequest: aggregates[%zu]: unknown aggregate %d", i,
                           (int)r->aggregates[i]);
            goto out;
        }
        out->aggregates |= 1u << r->aggregates[i];
    }
    if ((rc = check_strategy(r->partial_response_strategy, r->partial_response_disabled, &out->partial_response_abort,
                             "SeriesRequest")))
        goto out;
    if ((rc = st__sa_matchers_from_pb(r->matchers, r->n_matchers, &out->matchers, "SeriesRequest: matchers")))
        goto out;
    for (size_t i = 0; i < r->n_without_replica_labels && !rc; i++) {
        if (!*r->without_replica_labels[i])
            rc = st_errorf(ST_EINVAL, "SeriesRequest: without_replica_labels[%zu]: empty label name", i);
        else
            rc = st_strlist_push(&out->without_replica_labels, r->without_replica_labels[i]);
    }
    if (rc) goto out;
    rc = decode_series_hints(r->hints, out);
out:
    thanos__series_request__free_unpacked(r, NULL);
    if (rc) st_series_request_free(out);
    return rc;
}

int st_series_request_encode(const st_series_request_t *r, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    Thanos__SeriesRequest m = THANOS__SERIES_REQUEST__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Hintspb__SeriesRequestHints hints = HINTSPB__SERIES_REQUEST_HINTS__INIT;
    Thanos__Aggr aggrs[ST_AGGR_N];
    st__sa_pb_matchers_t pm, pbm = {0};
    uint8_t *hbuf = NULL;
    int rc = st__sa_matchers_to_pb(&r->matchers, &pm);
    if (rc) return rc;
    m.min_time = r->min_time;
    m.max_time = r->max_time;
    m.matchers = pm.p;
    m.n_matchers = pm.n;
    m.max_resolution_window = r->max_resolution_window;
    for (int a = 0; a < ST_AGGR_N; a++)
        if (r->aggregates & (1u << a)) aggrs[m.n_aggregates++] = (Thanos__Aggr)a;
    m.aggregates = aggrs;
    m.partial_response_strategy =
        r->partial_response_abort ? THANOS__PARTIAL_RESPONSE_STRATEGY__ABORT : THANOS__PARTIAL_RESPONSE_STRATEGY__WARN;
    m.skip_chunks = r->skip_chunks;
    m.limit = r->limit;
    m.response_batch_size = r->response_batch_size;
    m.without_replica_labels = r->without_replica_labels.v;
    m.n_without_replica_labels = r->without_replica_labels.n;
    if (r->block_matchers.n) {
        if ((rc = st__sa_matchers_to_pb(&r->block_matchers, &pbm))) goto out;
        hints.block_matchers = pbm.p;
        hints.n_block_matchers = pbm.n;
        if ((rc = st__sa_pack(&hints.base, &hbuf, &any.value.len, "SeriesRequest: hints"))) goto out;
        any.value.data = hbuf;
        any.type_url = ST__SA_TYPE_URL_PREFIX ST__SA_SERIES_REQUEST_HINTS;
        m.hints = &any;
    }
    rc = st__sa_pack(&m.base, out, len, "SeriesRequest");
out:
    free(hbuf);
    st__sa_pb_matchers_free(&pm);
    st__sa_pb_matchers_free(&pbm);
    return rc;
}

/* ---- label requests ---- */

void st_label_request_free(st_label_request_t *r) {
    if (!r) return;
    free(r->label);
    st_matchers_free(&r->matchers);
    memset(r, 0, sizeof *r);
}

/* The checks both label requests share. */
static int label_request_common(int64_t start, int64_t end, int64_t limit, int strategy, bool disabled,
                                Thanos__LabelMatcher *const *ms, size_t nms, st_label_request_t *out,
                                const char *what) {
    if (start > end)
        return st_errorf(ST_EINVAL, "%s: start %lld is after end %lld", what, (long long)start, (long long)end);
    if (limit < 0) return st_errorf(ST_EINVAL, "%s: negative limit %lld", what, (long long)limit);
    out->start = start;
    out->end = end;
    out->limit = limit;
    int rc = check_strategy(strategy, disabled, &out->partial_response_abort, what);
    if (rc) return rc;
    char w[64];
    snprintf(w, sizeof w, "%s: matchers", what);
    return st__sa_matchers_from_pb(ms, nms, &out->matchers, w);
}

int st_label_names_request_decode(const uint8_t *p, size_t len, st_label_request_t *out) {
    memset(out, 0, sizeof *out);
    Thanos__LabelNamesRequest *r = thanos__label_names_request__unpack(NULL, len, p);
    if (!r) return st_errorf(ST_ECORRUPT, "LabelNamesRequest: protobuf does not decode (%zu bytes)", len);
    int rc = label_request_common(r->start, r->end, r->limit, r->partial_response_strategy,
                                  r->partial_response_disabled, r->matchers, r->n_matchers, out, "LabelNamesRequest");
    thanos__label_names_request__free_unpacked(r, NULL);
    if (rc) st_label_request_free(out);
    return rc;
}

int st_label_values_request_decode(const uint8_t *p, size_t len, st_label_request_t *out) {
    memset(out, 0, sizeof *out);
    Thanos__LabelValuesRequest *r = thanos__label_values_request__unpack(NULL, len, p);
    if (!r) return st_errorf(ST_ECORRUPT, "LabelValuesRequest: protobuf does not decode (%zu bytes)", len);
    int rc;
    if (!r->label || !*r->label) {
        rc = st_errorf(ST_EINVAL, "LabelValuesRequest: empty label name");
        goto out;
    }
    if ((rc = label_request_common(r->start, r->end, r->limit, r->partial_response_strategy,
                                   r->partial_response_disabled, r->matchers, r->n_matchers, out,
                                   "LabelValuesRequest")))
        goto out;
    if (!(out->label = strdup(r->label))) rc = st_errorf(ST_ENOMEM, "LabelValuesRequest: copying the label name");
out:
    thanos__label_values_request__free_unpacked(r, NULL);
    if (rc) st_label_request_free(out);
    return rc;
}

int st_label_names_request_encode(const st_label_request_t *r, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    Thanos__LabelNamesRequest m = THANOS__LABEL_NAMES_REQUEST__INIT;
    st__sa_pb_matchers_t pm;
    int rc = st__sa_matchers_to_pb(&r->matchers, &pm);
    if (rc) return rc;
    m.partial_response_strategy =
        r->partial_response_abort ? THANOS__PARTIAL_RESPONSE_STRATEGY__ABORT : THANOS__PARTIAL_RESPONSE_STRATEGY__WARN;
    m.start = r->start;
    m.end = r->end;
    m.matchers = pm.p;
    m.n_matchers = pm.n;
    m.limit = r->limit;
    rc = st__sa_pack(&m.base, out, len, "LabelNamesRequest");
    st__sa_pb_matchers_free(&pm);
    return rc;
}

int st_label_values_request_encode(const st_label_request_t *r, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (!r->label || !*r->label) return st_errorf(ST_EINVAL, "LabelValuesRequest: empty label name");
    Thanos__LabelValuesRequest m = THANOS__LABEL_VALUES_REQUEST__INIT;
    st__sa_pb_matchers_t pm;
    int rc = st__sa_matchers_to_pb(&r->matchers, &pm);
    if (rc) return rc;
    m.label = r->label;
    m.partial_response_strategy =
        r->partial_response_abort ? THANOS__PARTIAL_RESPONSE_STRATEGY__ABORT : THANOS__PARTIAL_RESPONSE_STRATEGY__WARN;
    m.start = r->start;
    m.end = r->end;
    m.matchers = pm.p;
    m.n_matchers = pm.n;
    m.limit = r->limit;
    rc = st__sa_pack(&m.base, out, len, "LabelValuesRequest");
    st__sa_pb_matchers_free(&pm);
    return rc;
}

/* ---- label responses ---- */

int st_label_response_encode(const st_strlist_t *values, const st_strlist_t *warnings, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    /* LabelValuesResponse has the same fields and numbers */
    Thanos__LabelNamesResponse m = THANOS__LABEL_NAMES_RESPONSE__INIT;
    if (values) {
        m.names = values->v;
        m.n_names = values->n;
    }
    if (warnings) {
        m.warnings = warnings->v;
        m.n_warnings = warnings->n;
    }
    return st__sa_pack(&m.base, out, len, "label response");
}

/* Copy n C strings (NULL read as "") onto the end of l. */
static int strlist_append(st_strlist_t *l, char *const *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int rc = st_strlist_push(l, v[i] ? v[i] : "");
        if (rc) return rc;
    }
    return ST_OK;
}

int st_label_response_decode(const uint8_t *p, size_t len, st_strlist_t *values, st_strlist_t *warnings) {
    memset(values, 0, sizeof *values);
    memset(warnings, 0, sizeof *warnings);
    Thanos__LabelNamesResponse *m = thanos__label_names_response__unpack(NULL, len, p);
    if (!m) return st_errorf(ST_ECORRUPT, "label response: protobuf does not decode (%zu bytes)", len);
    int rc = strlist_append(values, m->names, m->n_names);
    if (!rc) rc = strlist_append(warnings, m->warnings, m->n_warnings);
    thanos__label_names_response__free_unpacked(m, NULL);
    if (rc) {
        st_strlist_free(values);
        st_strlist_free(warnings);
    }
    return rc;
}
