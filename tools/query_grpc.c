/* `strata tools query instant|range`: a client of the querier's
 * strata.QueryService (proto/strata/query.proto). The answer is printed as
 * the body Prometheus's /api/v1/query(_range) would send
 * ({"status":"success","data":{...}[,"warnings":[...]]}, numbers formatted
 * as Prometheus does), so it compares with Prometheus's own; a failed call
 * prints "<method>: <STATUS>: <message>" on stderr and exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/err.h"
#include "strata/flags.h"
#include "strata/grpc.h"
#include "strata/promapi.h"
#include "strata/promql_engine.h"
#include "strata/query.pb-c.h"
#include "tools_int.h"

/* The client waits this much longer than the query may run, so the
 * server's own DEADLINE_EXCEEDED (with its message) arrives first. */
#define CALL_SLACK_MS 10000
#define DEFAULT_CALL_MS (10 * 60 * 1000)

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int to_labels(const Strata__SeriesResult *s, st_labels_t *out) {
    st_label_t *pairs = calloc(s->n_labels ? s->n_labels : 1, sizeof *pairs);
    if (!pairs) return st_errorf(ST_ENOMEM, "response: %zu labels", s->n_labels);
    for (size_t i = 0; i < s->n_labels; i++) {
        const Thanos__Label *l = s->labels[i];
        pairs[i] = (st_label_t){l->name, l->value, strlen(l->name), strlen(l->value)};
    }
    int rc = st_labels_from_pairs(out, pairs, s->n_labels);
    free(pairs);
    return rc ? st_errorf(ST_ECORRUPT, "response: a series' labels: %s", st_errdetail(rc)) : ST_OK;
}

/* QueryResponse -> the engine's result, for its JSON writer. */
static int to_result(const Strata__QueryResponse *m, st_promql_result_t *r) {
    memset(r, 0, sizeof *r);
    int rc = ST_OK;
    switch (m->result_type) {
    case STRATA__QUERY_RESPONSE__RESULT_TYPE__VECTOR: r->type = ST_PROMQL_TVECTOR; break;
    case STRATA__QUERY_RESPONSE__RESULT_TYPE__MATRIX: r->type = ST_PROMQL_TMATRIX; break;
    case STRATA__QUERY_RESPONSE__RESULT_TYPE__SCALAR: r->type = ST_PROMQL_TSCALAR; break;
    case STRATA__QUERY_RESPONSE__RESULT_TYPE__STRING: r->type = ST_PROMQL_TSTRING; break;
    default: return st_errorf(ST_ECORRUPT, "response: unknown result type %d", (int)m->result_type);
    }
    if (m->scalar) r->scalar = (st_promql_point_t){m->scalar->timestamp_ms, m->scalar->value};
    if (r->type == ST_PROMQL_TSTRING) {
        r->string_t = r->scalar.t;
        r->string_len = strlen(m->string_value);
        if (!(r->string = strdup(m->string_value))) return st_errorf(ST_ENOMEM, "response: string");
    }
    if (m->n_series && !(r->series = calloc(m->n_series, sizeof *r->series)))
        return st_errorf(ST_ENOMEM, "response: %zu series", m->n_series);
    for (size_t i = 0; i < m->n_series && !rc; i++) {
        const Strata__SeriesResult *s = m->series[i];
        if (r->type == ST_PROMQL_TVECTOR && s->n_samples != 1)
            return st_errorf(ST_ECORRUPT, "response: a vector's series with %zu samples", s->n_samples);
        st_promql_series_t *d = &r->series[r->nseries];
        if ((rc = to_labels(s, &d->metric))) break;
        r->nseries++;
        if (s->n_samples && !(d->points = malloc(s->n_samples * sizeof *d->points)))
            return st_errorf(ST_ENOMEM, "response: %zu samples", s->n_samples);
        for (size_t k = 0; k < s->n_samples; k++)
            d->points[k] = (st_promql_point_t){s->samples[k]->timestamp_ms, s->samples[k]->value};
        d->npoints = s->n_samples;
    }
    for (size_t i = 0; i < m->n_warnings && !rc; i++) rc = st_promql_warnings_add(&r->warnings, "%s", m->warnings[i]);
    return rc;
}

static int query_cmd(int argc, char **argv, bool range) {
    const char *cmd = range ? "range" : "instant";
    const char *addr = NULL, *text = NULL, *t = NULL, *start = NULL, *end = NULL, *step = NULL, *msr = NULL;
    bool dedup = true, partial = true;
    int64_t timeout = 0, lookback = 0;
    st_flag_strings_t replicas = {0};
    const st_flag_t flags[] = {
        {"grpc-address", ST_FLAG_STRING, &addr, "Address (host:port) of the querier's gRPC server (required)."},
        {"query", ST_FLAG_STRING, &text, "PromQL expression (required)."},
        {"time", ST_FLAG_STRING, &t, "instant: evaluation time (Unix seconds or RFC 3339; default now)."},
        {"start", ST_FLAG_STRING, &start, "range: start (Unix seconds or RFC 3339)."},
        {"end", ST_FLAG_STRING, &end, "range: end (Unix seconds or RFC 3339)."},
        {"step", ST_FLAG_STRING, &step, "range: step (seconds or a duration)."},
        {"dedup", ST_FLAG_BOOL, &dedup, "Deduplicate HA replicas (default true)."},
        {"partial-response", ST_FLAG_BOOL, &partial,
         "Answer with the stores that answered (default true; false: any store failure fails the query)."},
        {"replica-label", ST_FLAG_STRINGS, &replicas, "Replica label instead of the querier's (repeatable)."},
        {"lookback-delta", ST_FLAG_DURATION, &lookback, "Lookback delta (default: the querier's)."},
        {"max-source-resolution", ST_FLAG_STRING, &msr, "auto, the coarsest resolution to use as a duration, or in ms (default 0: raw)."},
        {"timeout", ST_FLAG_DURATION, &timeout, "Query timeout (default: the querier's --query.timeout)."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    char **pos = NULL;
    size_t npos = 0;
    uint8_t *req = NULL, *resp = NULL;
    size_t req_len = 0, resp_len = 0;
    st_grpc_client_t *client = NULL;
    Strata__QueryResponse *m = NULL;
    st_promql_result_t res = {0};
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    int exit_code = 1;
    int rc = st_flags_parse(flags, nflags, argc - 1, argv + 1, &pos, &npos);
    if (rc == 1 || (rc == 0 && (npos || !addr || !text || (range ? !start || !end || !step || t : start || end || step)))) {
        st_flags_usage(rc == 1 ? stdout : stderr,
                       range ? "strata tools query range --grpc-address=HOST:PORT --query=Q --start=S --end=E --step=D"
                             : "strata tools query instant --grpc-address=HOST:PORT --query=Q [--time=T]",
                       "Evaluate PromQL through a querier's QueryService; print Prometheus's API JSON.", flags, nflags);
        exit_code = rc == 1 ? 0 : 2;
        goto out;
    }
    Strata__QueryOptions o = STRATA__QUERY_OPTIONS__INIT;
    o.timeout_ms = timeout;
    o.disable_dedup = !dedup;
    o.partial_response_disabled = !partial;
    o.replica_labels = (char **)replicas.v;
    o.n_replica_labels = replicas.n;
    o.lookback_delta_ms = lookback;
    /* raw milliseconds too, negative ones included: the server judges them */
    if (!rc && msr && strcmp(msr, "auto") == 0) o.max_source_resolution_ms = -1;
    else if (!rc && msr && st_int64_parse(msr, &o.max_source_resolution_ms) &&
             (rc = st_promapi_parse_duration(msr, &o.max_source_resolution_ms)))
        st_errwrap(rc, "--max-source-resolution");
    const char *method;
    if (range) {
        Strata__RangeQueryRequest q = STRATA__RANGE_QUERY_REQUEST__INIT;
        q.query = (char *)text;
        q.options = &o;
        if (!rc && !(rc = st_promapi_parse_time(start, &q.start_ms)) && !(rc = st_promapi_parse_time(end, &q.end_ms)))
            rc = st_promapi_parse_duration(step, &q.step_ms);
        method = "/strata.QueryService/EvaluateRangeQuery";
        req_len = strata__range_query_request__get_packed_size(&q);
        if (!rc && !(req = malloc(req_len ? req_len : 1))) rc = st_errorf(ST_ENOMEM, "request");
        if (!rc) strata__range_query_request__pack(&q, req);
    } else {
        Strata__InstantQueryRequest q = STRATA__INSTANT_QUERY_REQUEST__INIT;
        q.query = (char *)text;
        q.options = &o;
        q.time_ms = now_ms();
        if (!rc && t) rc = st_promapi_parse_time(t, &q.time_ms);
        method = "/strata.QueryService/EvaluateInstantQuery";
        req_len = strata__instant_query_request__get_packed_size(&q);
        if (!rc && !(req = malloc(req_len ? req_len : 1))) rc = st_errorf(ST_ENOMEM, "request");
        if (!rc) strata__instant_query_request__pack(&q, req);
    }
    if (!rc) rc = st_grpc_client_new(&client, addr, NULL);
    if (!rc)
        rc = st_grpc_client_unary(client, method, req, req_len, (timeout > 0 ? timeout : DEFAULT_CALL_MS) + CALL_SLACK_MS,
                                  &resp, &resp_len, NULL);
    if (!rc && !(m = strata__query_response__unpack(NULL, resp_len, resp)))
        rc = st_errorf(ST_ECORRUPT, "a QueryResponse of %zu bytes does not decode", resp_len);
    if (!rc) rc = to_result(m, &res);
    if (rc) {
        exit_code = tools_fail_in("query", cmd, rc);
        goto out;
    }
    st_promql_response_json(&b, &res);
    st_put_u8(&b, '\n');
    if (b.err || fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout)) {
        exit_code = tools_fail_in("query", cmd, st_errorf(ST_EIO, "writing the result failed"));
        goto out;
    }
    exit_code = 0;
out:
    st_encbuf_free(&b);
    st_promql_result_free(&res);
    if (m) strata__query_response__free_unpacked(m, NULL);
    st_grpc_client_free(client);
    free(resp);
    free(req);
    free(replicas.v);
    free(pos);
    return exit_code;
}

int tools_query_instant(int argc, char **argv) { return query_cmd(argc, argv, false); }
int tools_query_range(int argc, char **argv) { return query_cmd(argc, argv, true); }
