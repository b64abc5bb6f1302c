/*
 * query.h — `strata query`, the global querier (Thanos's `thanos query`):
 * fans requests out to StoreAPI endpoints, merges their answers,
 * deduplicates HA replicas and serves the Prometheus HTTP API, PromQL over
 * gRPC (strata.QueryService) and, so queriers stack, the StoreAPI itself.
 *
 *   --store / file SD ──▶ endpoint set (Info every 5 s: health, label
 *                         sets, time range)
 *   select(matchers, mint, maxt, hints)
 *     ──▶ endpoints by time overlap and external label sets
 *     ──▶ one Series stream per endpoint, each read by its own thread into
 *         a bounded queue (replica labels stripped and the stream re-sorted
 *         first when deduplicating: our stores cannot strip them)
 *     ──▶ k-way merge by label set; equal sets from any streams become one
 *         series, byte-identical chunks dropped, chunks ordered by time
 *     ──▶ dedup: overlapping chunks split into "replicas", merged by
 *         Thanos's penalty algorithm (counter adjustment for rate, irate,
 *         increase, resets) ──▶ samples in time order within [mint, maxt]
 *
 * Downsampled data (max_source_resolution > 0, as Thanos's querier): the
 * stores are asked for blocks up to that resolution (capped at half the
 * range for functions needing two samples) and for the aggregates the
 * enclosing function reads (aggrsFromFunc); a series holding any
 * aggregate chunk is read through st_aggr_iter (its raw chunks as raw,
 * the rest as that aggregate, avg or the reset-corrected counter) and its
 * replicas deduplicated over those samples; an all-raw series takes the
 * raw path unchanged.
 *
 * The PromQL engine (promql_engine.h) plugs in through query_select(): the
 * API's select callback copies the engine's hints (so rate, irate, increase
 * and resets get dedup's counter adjustment); its ctx is a query_ctx_t,
 * which also collects the warnings of partial responses for the answer.
 */
#ifndef STRATA_QUERY_H
#define STRATA_QUERY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/version.h"
#include "strata/block.h"
#include "strata/dedup.h"
#include "strata/downsample.h"
#include "strata/grpc.h"
#include "strata/labels.h"
#include "strata/matcher.h"
#include "strata/promql_engine.h"
#include "strata/storeapi.h"

/* Thanos polls Info every 5 s with a 5 s timeout (hidden --endpoint.info-timeout). */
#define QUERY_INFO_INTERVAL_MS 5000
#define QUERY_INFO_TIMEOUT_MS 5000
/* What one endpoint's reader thread may hold ahead of the merge. */
#define QUERY_FEED_MAX_SERIES 256
#define QUERY_FEED_MAX_BYTES ((size_t)8 << 20)
/* Series per SeriesResponse frame asked from stores (Thanos's default). */
#define QUERY_RESPONSE_BATCH 64

/* argv[0] is "query". Exit code: 0 after SIGINT/SIGTERM, 1 on a fatal
 * error, 2 on a usage error. */
int query_main(int argc, char **argv);

/* ---- warnings (thread-safe list of strings) ---- */

typedef struct {
    pthread_mutex_t mu;
    st_strlist_t list;
} query_warnings_t;

void query_warnings_init(query_warnings_t *w);
void query_warnings_destroy(query_warnings_t *w);
/* Adds a formatted warning unless the same text is already there. */
int query_warnf(query_warnings_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- endpoints (endpoints.c) ---- */

/* One StoreAPI endpoint. Refcounted: the set holds one reference while the
 * endpoint is configured, every request using it one more, so an endpoint
 * dropped from file SD lives until its last call ends. */
typedef struct query_endpoint {
    atomic_int refs;
    char *addr;
    st_grpc_client_t *client;
    pthread_mutex_t mu; /* guards everything below */
    bool known;         /* an Info call succeeded once */
    bool healthy;       /* the last Info call succeeded */
    int64_t last_check_ms; /* wall time of the last successful Info; 0 = never */
    char *last_error;      /* of the last Info call; NULL when healthy */
    char *component;       /* "store", "sidecar", "query", ...; NULL until known */
    st_labels_t *label_sets;
    size_t nlabel_sets;
    int64_t min_time, max_time; /* INT64_MIN / INT64_MAX until known (Thanos: a store of everything) */
    bool strips_replica_labels; /* Info: supports_without_replica_labels */
} query_endpoint_t;

void query_endpoint_ref(query_endpoint_t *e);
void query_endpoint_unref(query_endpoint_t *e); /* frees at 0; NULL ok */

/* An endpoint's state copied for one request, so a request sees one
 * consistent view however the Info poller changes the endpoint. */
typedef struct {
    query_endpoint_t *ep; /* one reference */
    bool healthy, known;
    char *last_error;        /* owned; NULL when healthy */
    st_labels_t *label_sets; /* owned copies */
    size_t nlabel_sets;
    int64_t min_time, max_time;
    bool strips_replica_labels;
    char name[320]; /* Thanos's endpoint text: "Addr: a MinTime: x MaxTime: y" */
} query_target_t;

typedef struct {
    st_grpc_client_opts_t client_opts; /* TLS etc.; strings borrowed for the set's life */
    const char *const *static_addrs;   /* --store / --endpoint */
    size_t nstatic;
    const char *const *sd_files; /* --store.sd-files (globs) */
    size_t nsd_files;
    int64_t sd_interval_ms; /* re-read every file this often even when unchanged */
} query_endpoints_opts_t;

typedef struct query_endpoints query_endpoints_t;

/* Addresses are checked here ("host:port"; dns+ prefixes are refused). */
int query_endpoints_new(query_endpoints_t **out, const query_endpoints_opts_t *opts);
/* One round: re-read file SD when a file changed or sd_interval passed,
 * add and drop endpoints, then one Info call per endpoint, all at once
 * (a thread each), each bounded by QUERY_INFO_TIMEOUT_MS. */
int query_endpoints_update(query_endpoints_t *es);
/* Configured endpoints, sorted by address; *out owned (query_targets_free). */
int query_endpoints_snapshot(query_endpoints_t *es, query_target_t **out, size_t *n);
void query_targets_free(query_target_t *t, size_t n);
size_t query_endpoints_count(query_endpoints_t *es, size_t *healthy);
void query_endpoints_info_stats(query_endpoints_t *es, uint64_t *calls, uint64_t *failures);
void query_endpoints_free(query_endpoints_t *es); /* NULL ok */

/* Thanos's LabelSetsMatch: a store may hold matching series unless every
 * one of its label sets has a label that some matcher rejects (a store
 * with no label sets always may). */
bool query_label_sets_match(const st_matchers_t *ms, const st_labels_t *sets, size_t n);
/* Time overlap ([mint, maxt] against the target's) and label sets. */
bool query_target_matches(const query_target_t *t, int64_t mint, int64_t maxt, const st_matchers_t *ms);

/* ---- the component ---- */

typedef struct {
    atomic_uint_fast64_t series_requests, label_requests, api_requests, api_errors;
    atomic_uint_fast64_t grpc_queries, grpc_query_errors; /* QueryService calls */
    atomic_uint_fast64_t store_calls, store_failures;
    atomic_uint_fast64_t series_merged, chunks_dropped_identical;
} query_metrics_t;

typedef struct query {
    query_endpoints_t *endpoints;
    query_metrics_t m;
    const char *const *replica_labels; /* --query.replica-label */
    size_t nreplica_labels;
    bool partial_response;     /* --query.partial-response */
    int64_t timeout_ms;        /* --query.timeout */
    int64_t frame_timeout_ms;  /* --store.response-timeout; 0 = none */
    int64_t lookback_delta_ms; /* --query.lookback-delta */
    uint64_t max_samples;      /* --query.max-samples */
    bool auto_downsampling;    /* --query.auto-downsampling: no max_source_resolution = auto */
    /* --query.max-concurrent: requests fanning out at once (gate) */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate_max, gate_used;
    atomic_int feeds_live; /* reader threads still running (shutdown waits for them) */
} query_t;

int query_init(query_t *q, query_endpoints_t *es, int max_concurrent);
void query_destroy(query_t *q);
/* Wait for a gate slot until deadline_ms (wall clock): ST_ETIMEDOUT past it. */
int query_gate_enter(query_t *q, int64_t deadline_ms);
void query_gate_leave(query_t *q);
int64_t query_now_ms(void); /* wall clock, ms */

/* ---- one request's context (the select callback's ctx) ---- */

typedef struct {
    query_t *q;
    bool dedup;                /* dedup param (default true) */
    st_strlist_t replica_labels; /* effective: replicaLabels[] or the flag; owned */
    bool partial_response;     /* false: any store failure fails the request */
    int64_t deadline_ms;       /* wall clock */
    int64_t max_resolution_ms; /* max_source_resolution: 0 raw only (default), INT64_MAX any */
    query_warnings_t warnings;
} query_ctx_t;

/* Defaults from the flags; deadline now + --query.timeout. */
int query_ctx_init(query_ctx_t *c, query_t *q);
void query_ctx_destroy(query_ctx_t *c);
/* Deduplicate this request? (dedup on and some replica label given) */
bool query_ctx_dedup(const query_ctx_t *c);

/* Prometheus's storage.SelectHints, the part the querier uses; the same
 * fields as the engine's st_promql_hints_t, so its select callback only
 * copies them (and hands the ctx's warnings on when the query ends: stream
 * failures surface while the set is read, after select returned). */
typedef struct {
    int64_t start, end; /* ms */
    int64_t step, range; /* ms */
    const char *func;    /* enclosing PromQL function; "series" = labels only; NULL or "" = none */
} query_hints_t;

/* Thanos's aggrsFromFunc: the aggregates (bits 1u << st_aggr_t) asked of
 * stores under the enclosing function f (NULL = none), and *read (may be
 * NULL) how a downsampled series is then read: min* / max* / count* /
 * sum_* that aggregate, rate / irate / increase / resets / xrate /
 * xincrease the counter, anything else (plain sum too) count + sum read
 * as their average. */
uint32_t query_aggrs_from_func(const char *f, st_aggr_read_t *read);
/* Thanos's maxResolutionFromSelectHints: the resolution asked of stores
 * for one select, max_res capped at half the range for functions that
 * need two samples in it (rate, irate, increase, delta, idelta, deriv,
 * predict_linear, holt_winters, double_exponential_smoothing). */
int64_t query_select_resolution(int64_t max_res, const query_hints_t *h);
/* What max_source_resolution=auto means: step / 5 for a range query (at
 * least five samples a step), 0 (raw) for an instant one (Thanos's
 * --query.instant.default.max_source_resolution default). */
int64_t query_auto_resolution(bool range, int64_t step);
/* Thanos's dynamic lookback delta (LookbackDeltaFactory, on by default):
 * the flag's delta, raised to 5m above raw resolution and to 1h above 5m,
 * so an instant selector still finds the window's aggregate sample. */
int64_t query_lookback_delta(int64_t flag_ms, int64_t max_res_ms);
/* The HTTP max_source_resolution parameter as Thanos parses it: "auto",
 * and when absent with --query.auto-downsampling on, mean auto_ms;
 * otherwise float seconds or a Prometheus duration, 0 when absent.
 * ST_EINVAL with Thanos's text: "'max_source_resolution' parameter:
 * cannot parse ..." or "negative 'max_source_resolution' is not
 * accepted. Try a positive integer". */
int query_parse_max_source_resolution(const char *val, bool auto_flag, int64_t auto_ms, int64_t *out_ms);

/* The queryable: series matching ms with samples in [mint, maxt],
 * deduplicated per the ctx. Store failures become warnings in ctx (or
 * fail the call / the set with partial response off). ctx is a
 * query_ctx_t that must outlive the set. *out owned. */
int query_select(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const query_hints_t *hints,
                 st_series_set_t **out);

/* Label names / values over the matching endpoints (all at once), merged,
 * sorted, unique. ms may be NULL. label NULL = names. */
int query_labels(query_ctx_t *c, const char *label, int64_t start, int64_t end, const st_matchers_t *ms,
                 st_strlist_t *out);

/* ---- proxy: the merged, not yet deduplicated stream (proxy.c) ---- */

typedef struct {
    int64_t min_time, max_time;
    const st_matchers_t *matchers;
    bool skip_chunks;
    bool abort_on_error;  /* partial response off: a store failure fails the stream */
    int64_t limit;        /* series; 0 = none */
    uint32_t aggregates;  /* as st_series_request_t; 0 = raw */
    int64_t max_resolution_window;
    const char *const *strip; /* labels removed from every series (replica labels) */
    size_t nstrip;
    int64_t deadline_ms; /* wall clock */
} query_series_req_t;

typedef struct query_proxy query_proxy_t;

/* Open one Series stream per matching endpoint. Unhealthy endpoints and
 * failures to start a call become warnings in w, or (abort_on_error) the
 * error. */
int query_proxy_open(query_t *q, const query_series_req_t *req, query_warnings_t *w, query_proxy_t **out);
/* Next merged series: 1 (labels and chunks valid until the next call),
 * 0 at the end, < 0 on error. Chunks are sorted by (mint, maxt); chunks
 * with identical bytes from several streams appear once. */
int query_proxy_next(query_proxy_t *p, const st_labels_t **lbls, const st_store_chunk_t **chunks, size_t *n);
void query_proxy_free(query_proxy_t *p); /* abandons unfinished streams; NULL ok */

/* ---- PromQL, the core both APIs call (api.c) ---- */

/* One PromQL query as the HTTP API and the QueryService ask it, already
 * parsed and checked. Borrowed for the call. */
typedef struct {
    const char *text; /* need not be NUL-terminated */
    size_t text_len;
    int64_t start, end, step; /* ms; an instant query: start == end, step 0 */
    int64_t timeout_ms;       /* the caller caps it at --query.timeout; <= 0 = expired */
    bool dedup;
    const char *const *replica_labels; /* nreplica_labels > 0: instead of --query.replica-label */
    size_t nreplica_labels;
    bool partial_response;
    int64_t lookback_delta_ms; /* 0 = --query.lookback-delta, raised for max_source_resolution */
    int64_t max_source_resolution_ms; /* >= 0: 0 raw; auto already resolved (query_auto_resolution) */
    /* Polled on the calling thread (at most every QUERY_CANCEL_POLL_MS)
     * while the stores answer: true stops the query (ST_ECANCELED). NULL =
     * never. */
    bool (*cancelled)(void *arg);
    void *cancelled_arg;
} query_promql_req_t;

#define QUERY_CANCEL_POLL_MS 50
/* Prometheus's API refuses range queries with more points per series. */
#define QUERY_MAX_POINTS_PER_SERIES 11000

/* Prometheus's query_range checks, in its order and with its texts:
 * end before start, step <= 0, more than 11,000 points. ST_EINVAL. */
int query_promql_check_range(int64_t start, int64_t end, int64_t step);

/* Evaluate r: a request context (deadline now + timeout, dedup, replica
 * labels, partial response), a --query.max-concurrent slot, the engine
 * (--query.lookback-delta / r's, --query.max-samples) over query_select,
 * the stores' warnings merged into res->warnings. *res is the caller's
 * either way (st_promql_result_free). 0, or an ST_E* code with res->error and
 * res->error_type set as the engine sets them (a slot not found before
 * the deadline: "timeout"); res->error stays NULL only when there was no
 * memory for it: callers answer that as an internal error.
 * *store_err (may be NULL) receives the first error the stores' series
 * sets returned (0 if none), so callers can tell a failed fan-out from a
 * failed evaluation. */
int query_promql_eval(query_t *q, const query_promql_req_t *r, st_promql_result_t *res, int *store_err);
/* After a query's result is freed: glibc keeps what a thread freed in its
 * arena, so every worker that ran a big query would hold its peak (2 GB
 * per worker in bench/query); hand it back to the system. */
void query_release_memory(void);

/* ---- HTTP API (api.c), StoreAPI (storeapi.c), QueryService (grpc_query.c) ---- */

struct st_http_server;
int query_api_register(query_t *q, struct st_http_server *srv);
extern const st_storeapi_ops_t query_store_ops; /* ctx = query_t * */

/* A QueryService request (strata.InstantQueryRequest or
 * strata.RangeQueryRequest), unpacked by protobuf-c (bounds-checked) and
 * checked as Prometheus's and Thanos's APIs check their parameters. */
typedef struct {
    void *msg; /* the protobuf-c message, owned; the strings below point into it */
    bool range;
    const char *text;
    int64_t start, end, step;         /* ms; instant: start == end, step 0 */
    int64_t timeout_ms;               /* >= 0; 0 = --query.timeout */
    bool dedup, partial_response_disabled;
    const char *const *replica_labels; /* nreplica_labels > 0: instead of the flag */
    size_t nreplica_labels;
    int64_t lookback_delta_ms;        /* >= 0; 0 = --query.lookback-delta */
    int64_t max_source_resolution_ms; /* 0 raw, -1 auto (query_auto_resolution), > 0 a window */
} query_grpc_req_t;

/* ST_EINVAL with the message for the client (Prometheus's text where it
 * has one) on bytes that do not decode or values it refuses. */
int query_grpc_req_decode(bool range, const uint8_t *buf, size_t len, query_grpc_req_t *out);
void query_grpc_req_free(query_grpc_req_t *r); /* NULL ok */

/* /strata.QueryService/EvaluateInstantQuery and EvaluateRangeQuery on
 * srv, served with q (which must outlive the server). */
int query_grpc_register(query_t *q, st_grpc_server_t *srv);

#endif
