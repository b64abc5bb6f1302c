/*
 * strata.QueryService (proto/strata/query.proto) on the querier's gRPC
 * server, next to its StoreAPI: PromQL over the same core as
 * /api/v1/query(_range) (query_promql_eval), for clients that want
 * protobuf instead of JSON.
 *
 *   /strata.QueryService/EvaluateInstantQuery  InstantQueryRequest -> QueryResponse
 *   /strata.QueryService/EvaluateRangeQuery    RangeQueryRequest   -> QueryResponse
 *
 * Requests are unpacked by protobuf-c, then checked as Prometheus's API
 * checks its parameters (same texts). Options: timeout_ms (0 = the
 * --query.timeout, never more than it, nor past the client's deadline),
 * disable_dedup, replica_labels (instead of --query.replica-label),
 * partial_response_disabled (otherwise --query.partial-response decides),
 * lookback_delta_ms (0 = the flag, raised for the resolution as Thanos's
 * dynamic lookback delta), max_source_resolution_ms (0 raw, -1 auto:
 * step / 5 for a range query, raw for an instant one; > 0 a window).
 * time_ms is taken as given (0 is the epoch, not "now").
 *
 * Failures, as status codes (the detail is Prometheus's error text):
 *   INVALID_ARGUMENT    undecodable request, bad parameters, parse errors,
 *                       evaluation errors ("bad_data", and "execution" errors
 *                       of the query itself such as many-to-one matching)
 *   DEADLINE_EXCEEDED   the timeout ("timeout"), also waiting for a slot
 *   CANCELLED           the client went away ("canceled")
 *   RESOURCE_EXHAUSTED  --query.max-samples, a store limit, a response above
 *                       QUERY_GRPC_RESPONSE_MAX
 *   UNAVAILABLE         a store failed with partial response off
 *   INTERNAL            out of memory and the like
 *
 * QueryResponse is encoded here, without building protobuf-c structs (so a
 * large matrix costs its bytes once), fields in number order, proto3 zero
 * values left out:
 *   QueryResponse  1 result_type varint (VECTOR 0, MATRIX 1, SCALAR 2, STRING 3)
 *                  2 series      len-delimited SeriesResult, repeated
 *                  3 scalar      len-delimited Sample (scalar; string: its time)
 *                  4 string_value len-delimited bytes
 *                  5 warnings    len-delimited bytes, repeated
 *   SeriesResult   1 labels      len-delimited thanos.Label {1 name, 2 value}, repeated, sorted
 *                  2 samples     len-delimited Sample, repeated (one for a vector)
 *   Sample         1 timestamp_ms varint (int64, two's complement)
 *                  2 value        fixed64 (IEEE 754 bits, little endian)
 * Every tag is one byte (field numbers < 16). The size is computed first
 * and checked against the cap before anything is allocated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/grpc.h"
#include "strata/promapi.h"
#include "strata/query.pb-c.h"

/* The server's send limit (st_grpc_server_new with default sizes). */
#define QUERY_GRPC_RESPONSE_MAX ST_GRPC_DEFAULT_MAX_MSG

#define METHOD_INSTANT "/strata.QueryService/EvaluateInstantQuery"
#define METHOD_RANGE "/strata.QueryService/EvaluateRangeQuery"

/* ---- requests ---- */

void query_grpc_req_free(query_grpc_req_t *r) {
    if (!r || !r->msg) return;
    if (r->range) strata__range_query_request__free_unpacked(r->msg, NULL);
    else strata__instant_query_request__free_unpacked(r->msg, NULL);
    r->msg = NULL;
}

static int check_time(const char *name, int64_t ms) {
    if (ms >= ST_PROMAPI_MIN_TIME_MS && ms <= ST_PROMAPI_MAX_TIME_MS) return ST_OK;
    return st_errorf(ST_EINVAL, "invalid parameter \"%s\": %lld is outside the timestamps Prometheus represents", name,
                     (long long)ms);
}

static int check_options(const Strata__QueryOptions *o, query_grpc_req_t *out) {
    out->dedup = true;
    if (!o) return ST_OK;
    if (o->timeout_ms < 0) return st_errorf(ST_EINVAL, "invalid parameter \"timeout_ms\": negative timeout");
    if (o->lookback_delta_ms < 0)
        return st_errorf(ST_EINVAL, "invalid parameter \"lookback_delta_ms\": negative lookback delta");
    /* Thanos's text for a negative max_source_resolution; -1 is "auto" */
    if (o->max_source_resolution_ms < -1)
        return st_errorf(ST_EINVAL, "negative max_source_resolution is not accepted. Try a positive integer");
    for (size_t i = 0; i < o->n_replica_labels; i++)
        if (!o->replica_labels[i] || !*o->replica_labels[i])
            return st_errorf(ST_EINVAL, "invalid parameter \"replica_labels\": an empty label name");
    out->timeout_ms = o->timeout_ms;
    out->dedup = !o->disable_dedup;
    out->partial_response_disabled = o->partial_response_disabled;
    out->replica_labels = (const char *const *)o->replica_labels;
    out->nreplica_labels = o->n_replica_labels;
    out->lookback_delta_ms = o->lookback_delta_ms;
    out->max_source_resolution_ms = o->max_source_resolution_ms;
    return ST_OK;
}

int query_grpc_req_decode(bool range, const uint8_t *buf, size_t len, query_grpc_req_t *out) {
    memset(out, 0, sizeof *out);
    out->range = range;
    const Strata__QueryOptions *o;
    int rc;
    if (range) {
        Strata__RangeQueryRequest *m = strata__range_query_request__unpack(NULL, len, buf);
        if (!m) return st_errorf(ST_EINVAL, "strata.RangeQueryRequest of %zu bytes does not decode", len);
        out->msg = m;
        out->text = m->query;
        out->start = m->start_ms;
        out->end = m->end_ms;
        out->step = m->step_ms;
        o = m->options;
    } else {
        Strata__InstantQueryRequest *m = strata__instant_query_request__unpack(NULL, len, buf);
        if (!m) return st_errorf(ST_EINVAL, "strata.InstantQueryRequest of %zu bytes does not decode", len);
        out->msg = m;
        out->text = m->query;
        out->start = out->end = m->time_ms;
        o = m->options;
    }
    /* Prometheus's order: times, range checks, then the query */
    if (range) {
        if (!(rc = check_time("start", out->start)) && !(rc = check_time("end", out->end)))
            rc = query_promql_check_range(out->start, out->end, out->step);
    } else {
        rc = check_time("time", out->start);
    }
    /* the parser's text for empty input, as the API names the parameter */
    if (!rc && (!out->text || !*out->text))
        rc = st_errorf(ST_EINVAL, "%s1:1: parse error: no expression found in input",
                       range ? "" : "invalid parameter \"query\": ");
    if (!rc) rc = check_options(o, out);
    if (rc) query_grpc_req_free(out);
    return rc;
}

/* ---- the response ---- */

static uint64_t double_bits(double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static size_t field_len(size_t n) { return 1 + st_uvarint_len(n) + n; }

static size_t sample_len(int64_t t, double v) {
    return (t ? 1 + st_uvarint_len((uint64_t)t) : 0) + (double_bits(v) ? 9 : 0);
}

static size_t label_len(const st_label_t *l) {
    return (l->name_len ? field_len(l->name_len) : 0) + (l->value_len ? field_len(l->value_len) : 0);
}

static size_t series_len(const st_promql_series_t *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->metric.n; i++) n += field_len(label_len(&s->metric.v[i]));
    for (size_t i = 0; i < s->npoints; i++) n += field_len(sample_len(s->points[i].t, s->points[i].v));
    return n;
}

static void put_field(st_encbuf_t *b, unsigned field, size_t len) {
    st_put_u8(b, (uint8_t)(field << 3 | 2));
    st_put_uvarint(b, len);
}

static void put_string(st_encbuf_t *b, unsigned field, const char *s, size_t len) {
    if (!len) return;
    put_field(b, field, len);
    st_put_bytes(b, s, len);
}

static void put_sample(st_encbuf_t *b, unsigned field, int64_t t, double v) {
    put_field(b, field, sample_len(t, v));
    if (t) {
        st_put_u8(b, 1 << 3 | 0);
        st_put_uvarint(b, (uint64_t)t);
    }
    uint64_t u = double_bits(v);
    if (u) {
        uint8_t x[9] = {2 << 3 | 1};
        for (int i = 0; i < 8; i++) x[1 + i] = (uint8_t)(u >> (8 * i));
        st_put_bytes(b, x, sizeof x);
    }
}

static int encode_response(const st_promql_result_t *r, uint8_t **out, size_t *out_len) {
    unsigned type;
    switch (r->type) {
    case ST_PROMQL_TVECTOR: type = STRATA__QUERY_RESPONSE__RESULT_TYPE__VECTOR; break;
    case ST_PROMQL_TMATRIX: type = STRATA__QUERY_RESPONSE__RESULT_TYPE__MATRIX; break;
    case ST_PROMQL_TSCALAR: type = STRATA__QUERY_RESPONSE__RESULT_TYPE__SCALAR; break;
    case ST_PROMQL_TSTRING: type = STRATA__QUERY_RESPONSE__RESULT_TYPE__STRING; break;
    default: return st_errorf(ST_EINVAL, "query result of type %d", (int)r->type);
    }
    /* sizes as size_t sums cannot overflow before the cap stops them:
     * every term is bounded by bytes already in memory */
    size_t total = type ? 2 : 0;
    for (size_t i = 0; i < r->nseries; i++) total += field_len(series_len(&r->series[i]));
    bool scalar = r->type == ST_PROMQL_TSCALAR || r->type == ST_PROMQL_TSTRING;
    int64_t st = r->type == ST_PROMQL_TSTRING ? r->string_t : r->scalar.t;
    double sv = r->type == ST_PROMQL_TSTRING ? 0 : r->scalar.v;
    if (scalar) total += field_len(sample_len(st, sv));
    if (r->type == ST_PROMQL_TSTRING && r->string_len) total += field_len(r->string_len);
    for (size_t i = 0; i < r->warnings.n; i++) {
        size_t wl = strlen(r->warnings.v[i]);
        if (wl) total += field_len(wl);
    }
    if (total > QUERY_GRPC_RESPONSE_MAX)
        return st_errorf(ST_ELIMIT, "the response would be %zu bytes, above the limit of %zu: narrow the query", total,
                         QUERY_GRPC_RESPONSE_MAX);
    st_encbuf_t b;
    st_encbuf_init(&b, total ? total : 1);
    if (type) {
        st_put_u8(&b, 1 << 3 | 0);
        st_put_u8(&b, (uint8_t)type);
    }
    for (size_t i = 0; i < r->nseries; i++) {
        const st_promql_series_t *s = &r->series[i];
        put_field(&b, 2, series_len(s));
        for (size_t k = 0; k < s->metric.n; k++) {
            const st_label_t *l = &s->metric.v[k];
            put_field(&b, 1, label_len(l));
            put_string(&b, 1, l->name, l->name_len);
            put_string(&b, 2, l->value, l->value_len);
        }
        for (size_t k = 0; k < s->npoints; k++) put_sample(&b, 2, s->points[k].t, s->points[k].v);
    }
    if (scalar) put_sample(&b, 3, st, sv);
    if (r->type == ST_PROMQL_TSTRING) put_string(&b, 4, r->string, r->string_len);
    for (size_t i = 0; i < r->warnings.n; i++) put_string(&b, 5, r->warnings.v[i], strlen(r->warnings.v[i]));
    if (b.err || b.len != total) {
        int err = b.err ? b.err : ST_EINVAL;
        st_encbuf_free(&b);
        return st_errorf(err, "encoding a QueryResponse of %zu bytes", total);
    }
    *out = b.p;
    *out_len = b.len;
    return ST_OK;
}

/* ---- the calls ---- */

static bool call_cancelled(void *arg) { return st_grpc_call_cancelled(arg); }

/* The code whose status (grpc.h's table) tells what failed. */
static int failure_code(int rc, const st_promql_result_t *res, int store_err) {
    const char *type = res->error_type ? res->error_type : "";
    if (strcmp(type, "timeout") == 0) return ST_ETIMEDOUT;
    if (strcmp(type, "canceled") == 0) return ST_ECANCELED;
    if (strcmp(type, "bad_data") == 0) return ST_EINVAL;
    /* a store's failure (partial response off): the stores are what is
     * unavailable, whatever code they failed with, unless a limit */
    if (store_err && rc == store_err && rc != ST_ELIMIT && rc != ST_ENOMEM) return ST_EIO;
    return rc;
}

static int serve(query_t *q, st_grpc_call_t *call, bool range, const uint8_t *in, size_t len, uint8_t **resp,
                 size_t *resp_len) {
    atomic_fetch_add(&q->m.grpc_queries, 1);
    query_grpc_req_t g;
    st_promql_result_t res = {0};
    int rc = query_grpc_req_decode(range, in, len, &g);
    if (!rc) {
        int64_t timeout = g.timeout_ms > 0 && g.timeout_ms < q->timeout_ms ? g.timeout_ms : q->timeout_ms;
        int64_t dl = st_grpc_call_deadline_ms(call);
        if (dl != INT64_MAX && dl - query_now_ms() < timeout) timeout = dl - query_now_ms();
        query_promql_req_t pr = {
            .text = g.text,
            .text_len = strlen(g.text),
            .start = g.start,
            .end = g.end,
            .step = g.step,
            .timeout_ms = timeout,
            .dedup = g.dedup,
            .replica_labels = g.replica_labels,
            .nreplica_labels = g.nreplica_labels,
            .partial_response = q->partial_response && !g.partial_response_disabled,
            .lookback_delta_ms = g.lookback_delta_ms,
            .max_source_resolution_ms = g.max_source_resolution_ms < 0 ? query_auto_resolution(range, g.step)
                                                                       : g.max_source_resolution_ms,
            .cancelled = call_cancelled,
            .cancelled_arg = call,
        };
        int store_err = 0;
        rc = query_promql_eval(q, &pr, &res, &store_err);
        if (!rc) {
            rc = encode_response(&res, resp, resp_len);
        } else if (res.error) {
            rc = st_errorf(failure_code(rc, &res, store_err), "%s", res.error);
        }
    }
    if (rc) atomic_fetch_add(&q->m.grpc_query_errors, 1);
    st_promql_result_free(&res);
    query_release_memory();
    query_grpc_req_free(&g);
    return rc;
}

static int h_instant(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp,
                     size_t *resp_len) {
    return serve(ctx, call, false, req, len, resp, resp_len);
}

static int h_range(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len) {
    return serve(ctx, call, true, req, len, resp, resp_len);
}

int query_grpc_register(query_t *q, st_grpc_server_t *srv) {
    int rc = st_grpc_server_add_unary(srv, METHOD_INSTANT, h_instant, q);
    if (!rc) rc = st_grpc_server_add_unary(srv, METHOD_RANGE, h_range, q);
    return rc;
}
