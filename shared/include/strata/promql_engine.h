/*
 * promql_engine.h — evaluating PromQL as Prometheus 2.42's engine does.
 *
 * A query (text or an AST from promql.h) is evaluated at one time (instant
 * query) or over [start, end] every step (range query) against a
 * queryable: a callback that hands out series sets (block.h) for a set of
 * matchers and a time range. The engine owns nothing of the data source; it
 * asks once per selector in the query, with the time range and the hints
 * Prometheus's engine computes (enclosing function or aggregation, its
 * grouping, step and range), so a querier can choose downsampled data or
 * deduplicate.
 *
 * Semantics follow Prometheus 2.42 (promql/engine.go, functions.go,
 * quantile.go): lookback delta and staleness markers, offset and @ (with
 * start()/end()), range selectors closed on both ends, subqueries with
 * steps aligned to absolute multiples of their step, step-invariant parts
 * evaluated once, every operator with vector matching, every aggregation,
 * every function on float samples, and Prometheus's error messages. Native
 * histograms are not supported (histogram_count/sum/fraction see only
 * floats and return nothing).
 *
 * Results own their labels and points. The JSON writers print the `data`
 * object (and the whole response) of Prometheus's HTTP API byte for byte:
 * timestamps as seconds with up to three decimals, values as strings in
 * Go's formatting.
 */
#ifndef STRATA_PROMQL_ENGINE_H
#define STRATA_PROMQL_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/block.h"
#include "strata/buf.h"
#include "strata/labels.h"
#include "strata/matcher.h"
#include "strata/promql.h"

/* Prometheus's stale marker: a NaN with this exact bit pattern ends a series. */
#define ST_STALE_NAN_BITS 0x7ff0000000000002ULL
bool st_is_stale_nan(double v);

/* A list of owned warning strings (partial responses, ...). */
typedef struct {
    char **v;
    size_t n;
} st_promql_warnings_t;
/* Append a formatted warning; a repeat of an existing one is dropped. */
int st_promql_warnings_add(st_promql_warnings_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void st_promql_warnings_free(st_promql_warnings_t *w); /* NULL ok */

/* What the engine knows about a selector when it asks for its series
 * (Prometheus's storage.SelectHints). Borrowed for the call. */
typedef struct {
    int64_t start, end; /* ms, = the select range */
    int64_t step;       /* ms, of the innermost enclosing subquery or the query; 0 for instant queries */
    int64_t range;      /* ms, of the enclosing range selector; 0 for instant selectors */
    const char *func;   /* innermost enclosing function or aggregation ("rate", "sum"), "" if none */
    bool by;            /* grouping of a directly enclosing aggregation: by (true) or without */
    const char *const *grouping;
    size_t ngrouping;
} st_promql_hints_t;

/* The data source. select() returns in *out a set (block.h contract: series
 * in label order, samples in time order) of the series matching ms with
 * their samples in [mint, maxt]; samples outside may be included (they are
 * ignored). It may append warnings. A failure fails the query with its code
 * and detail. */
typedef struct {
    void *ctx;
    int (*select)(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const st_promql_hints_t *hints,
                  st_series_set_t **out, st_promql_warnings_t *warnings);
} st_promql_queryable_t;

typedef struct {
    int64_t lookback_delta_ms;            /* --query.lookback-delta, default 5m */
    int64_t timeout_ms;                   /* --query.timeout, default 2m; 0 = none */
    uint64_t max_samples;                 /* --query.max-samples, default 50000000 */
    int64_t no_step_subquery_interval_ms; /* subqueries without a step: the global evaluation_interval, 1m */
    int64_t max_points_per_series;        /* range queries with more steps are refused: 11000 as the API */
    /* Steps one evaluation (the query or a subquery) may have; more is
     * ST_ELIMIT. 0 = unlimited, as Prometheus (only the timeout stops it). */
    uint64_t max_steps;
} st_promql_engine_opts_t;

void st_promql_engine_opts_default(st_promql_engine_opts_t *o);

typedef struct {
    const char *text; /* parsed when expr is NULL; need not be NUL-terminated */
    size_t text_len;
    const st_promql_expr_t *expr; /* or a parsed tree (borrowed, not modified) */
    int64_t start, end, step;     /* ms; an instant query has start == end and step 0 */
    const atomic_bool *cancel;    /* optional: set to true to stop the query (ST_ECANCELED) */
} st_promql_query_t;

typedef struct {
    int64_t t;
    double v;
} st_promql_point_t;

typedef struct {
    st_labels_t metric; /* owned */
    st_promql_point_t *points; /* owned; one point per sample of a vector */
    size_t npoints;
} st_promql_series_t;

typedef struct {
    st_promql_type_t type; /* TVECTOR, TMATRIX, TSCALAR or TSTRING once evaluated */
    st_promql_series_t *series; /* vector (each with one point at the evaluation time) or matrix */
    size_t nseries;
    st_promql_point_t scalar; /* TSCALAR */
    char *string;             /* TSTRING: owned, NUL-terminated, string_len bytes (may hold NUL) */
    size_t string_len;
    int64_t string_t;
    st_promql_warnings_t warnings;
    /* On failure: Prometheus's API error type ("bad_data", "execution",
     * "timeout", "canceled", "internal"; static) and message (owned). */
    const char *error_type;
    char *error;
} st_promql_result_t;

void st_promql_result_free(st_promql_result_t *r); /* NULL ok; zeroes */

/* Evaluate a query. 0 and an owned *out, or an error with Prometheus's
 * message in the detail and in out->error, out->error_type set
 * (out->warnings kept):
 *   ST_EINVAL   parse errors, a range query of a non scalar/vector
 *               expression, bad step or range ("bad_data"); errors during
 *               evaluation ("execution"), e.g. "multiple matches for labels:
 *               many-to-one matching must be explicit (group_left/group_right)"
 *   ST_ELIMIT   "query processing would load too many samples into memory in
 *               query execution" ("execution"); too deep or long queries
 *   ST_ETIMEDOUT "query timed out in expression evaluation" ("timeout")
 *   ST_ECANCELED "query was canceled in expression evaluation" ("canceled")
 *   other codes from the queryable, detail prefixed "expanding series: "
 *   ("execution", as Prometheus reports storage errors). */
int st_promql_exec(const st_promql_engine_opts_t *opts, const st_promql_queryable_t *q, const st_promql_query_t *qry,
                   st_promql_result_t *out);
/* Shorthands of st_promql_exec for query text (NUL-terminated). */
int st_promql_eval_instant(const st_promql_engine_opts_t *opts, const st_promql_queryable_t *q, const char *query,
                           int64_t t, st_promql_result_t *out);
int st_promql_eval_range(const st_promql_engine_opts_t *opts, const st_promql_queryable_t *q, const char *query,
                         int64_t start, int64_t end, int64_t step, st_promql_result_t *out);

/* Prometheus's `data` object of /api/v1/query(_range):
 * {"resultType":"vector","result":[{"metric":{...},"value":[1700000000.5,"1"]}]} */
void st_promql_result_json(st_encbuf_t *b, const st_promql_result_t *r);
/* The whole response body: {"status":"success","data":{...}[,"warnings":[...]]},
 * or when r->error is set {"status":"error","errorType":"...","error":"..."}. */
void st_promql_response_json(st_encbuf_t *b, const st_promql_result_t *r);

#endif
