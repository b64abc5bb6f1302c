/*
 * eval_int.h — the PromQL engine's internal types, shared by eval.c (the
 * evaluator: preprocessing, selectors, subqueries, range evaluation),
 * eval_binop.c, eval_agg.c, functions.c and eval_json.c.
 *
 * Every value the evaluator passes around is a matrix over the steps of
 * the current evaluator (an instant query is one step), as in Prometheus.
 * Label sets are interned per query: equal sets share one lset_t, so
 * equality is pointer equality and the hash is computed once.
 */
#ifndef STRATA_PROMQL_EVAL_INT_H
#define STRATA_PROMQL_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"
#include "strata/promql.h"
#include "strata/promql_engine.h"

typedef struct lset {
    st_labels_t l;
    uint64_t hash;
    struct lset *next; /* intern chain */
} lset_t;

typedef st_promql_point_t pt_t;

typedef struct {
    const lset_t *m;
    pt_t *p;
    size_t n, cap;
} ser_t;

typedef struct {
    ser_t *s;
    size_t n, cap;
} mat_t;

typedef struct {
    const lset_t *m;
    int64_t t;
    double v;
} smp_t;

typedef struct {
    smp_t *s;
    size_t n, cap;
} vec_t;

/* Open-addressing map from a pointer (or any non-zero 64-bit key) to a size_t. */
typedef struct {
    uint64_t *k;
    size_t *v;
    size_t cap, n;
} pmap_t;

int pmap_put(pmap_t *m, uint64_t key, size_t val); /* insert or overwrite */
bool pmap_get(const pmap_t *m, uint64_t key, size_t *val);
void pmap_clear(pmap_t *m);
void pmap_free(pmap_t *m);
static inline uint64_t pkey(const void *p) { return (uint64_t)(uintptr_t)p; }

/* Go's int64 arithmetic: wraps around instead of overflowing. */
static inline int64_t wrap_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

/* Scratch label builder over borrowed strings (Prometheus's labels.Builder). */
typedef struct {
    st_label_t *v;
    size_t n, cap;
} lbuild_t;

typedef struct enode enode_t;

/* Query-wide state. */
typedef struct {
    const st_promql_engine_opts_t *opts;
    const st_promql_queryable_t *qb;
    lset_t **tab; /* interned label sets */
    size_t tab_cap, tab_n;
    const lset_t *empty;
    st_promql_warnings_t *warnings;
    const atomic_bool *cancel;
    int64_t deadline_ns; /* CLOCK_MONOTONIC, 0 = none */
    int64_t start, end, interval; /* the query's; interval 0 for instant queries */
    lbuild_t lb;                  /* scratch */
} qctx_t;

/* One evaluator: a time range and step, as Prometheus's evaluator struct. */
typedef struct {
    qctx_t *q;
    int64_t start, end, interval;
    uint64_t cur; /* samples in memory (currentSamples) */
    uint64_t max;
    int64_t lookback;
} ev_t;

typedef struct fcall fcall_t;
/* A function implementation: appends its results to c->out. */
typedef int (*fimpl_t)(fcall_t *c);

typedef enum {
    EN_NUMBER, EN_STRING, EN_VS, EN_MS, EN_SUBQ, EN_PAREN, EN_UNARY, EN_BINARY, EN_CALL, EN_AGG, EN_STEPINV
} en_kind_t;

struct enode {
    en_kind_t kind;
    st_promql_type_t type;
    const st_promql_expr_t *e; /* NULL for EN_STEPINV */
    enode_t *kid[2];           /* paren, unary, ms, subq, stepinv: kid[0]; binary: lhs, rhs; agg: expr, param */
    enode_t **args;            /* call */
    size_t nargs;
    fimpl_t fn;       /* call */
    bool matrix_fn;   /* call: a function over a range vector argument */
    /* vector selectors and subqueries: the @ and offset machinery */
    bool has_ts;
    int64_t ts;
    int64_t offset; /* Prometheus's Offset: the original one adjusted for @ */
    /* vector selectors: the selected series (stale markers dropped under a
     * range selector, which never sees them), loaded in data, or, as every
     * selector but timestamp()'s is read once in series order, left in set
     * and read one series at a time (ser_iter_t) */
    ser_t *data;
    size_t ndata;
    st_series_set_t *set;
    int64_t set_mint, set_maxt;
    bool drop_stale, set_read;
};

/* The series of a selector or of a matrix, one after the other: a lazy
 * selector's are read from its set into buf (reused). */
typedef struct {
    const ser_t *v;
    size_t n, i;
    enode_t *lazy;
    ser_t buf;
} ser_iter_t;

/* A range-vector argument as functions see it. */
typedef struct {
    const lset_t *metric;
    const pt_t *p;
    size_t n;
    int64_t range, offset; /* ms, of the matrix selector or subquery */
} mwin_t;

struct fcall {
    ev_t *ev;
    enode_t *node; /* the call */
    int64_t ts;
    vec_t *args;   /* per argument: its vector at this step (scalars: one sample) */
    mwin_t win;    /* matrix functions */
    vec_t *out;
    pmap_t *memo;  /* per node: label set -> result label set */
    void *cache;   /* per node: label_replace's regex */
};

/* ---- eval.c ---- */
/* Number of steps of an evaluator, 0 when end < start. */
static inline uint64_t ev_steps(const ev_t *ev) {
    if (ev->end < ev->start) return 0;
    return ((uint64_t)ev->end - (uint64_t)ev->start) / (uint64_t)ev->interval + 1;
}
static inline int64_t step_ts(const ev_t *ev, uint64_t k) {
    return (int64_t)((uint64_t)ev->start + k * (uint64_t)ev->interval);
}
int ev_check_steps(const ev_t *ev); /* ST_ELIMIT beyond opts->max_steps */
/* rangeEval: evaluates exprs (NULL and string ones are skipped: their
 * vectors stay empty), then calls step for every step with each
 * expression's vector at that step and, when prep is given, prep's value
 * for each of those samples' series (a matching signature or grouping
 * key). step appends its result to out. */
typedef const lset_t *(*prep_fn_t)(ev_t *ev, void *ctx, const lset_t *m);
typedef int (*step_fn_t)(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *helpers, int64_t ts, vec_t *out);
int range_eval(ev_t *ev, prep_fn_t prep, step_fn_t step, void *ctx, enode_t *const *exprs, size_t nexprs, mat_t *out);
/* A consumer of a range function's output, one series at a time: the
 * points are lent for the call. */
typedef int (*series_sink_t)(ev_t *ev, void *ctx, const lset_t *metric, const pt_t *p, size_t n);
void ser_iter_vs(ser_iter_t *it, enode_t *vs);
void ser_iter_mat(ser_iter_t *it, const mat_t *m);
/* 1 and the next series in *out (valid until the next call), 0 at the end,
 * or an error ("expanding series: ..." from the data source). */
int ser_iter_next(qctx_t *q, ser_iter_t *it, const ser_t **out);
void ser_iter_free(ser_iter_t *it);
/* A call of a function of a range vector (n->matrix_fn), its series into
 * out, or each to sink when given (out unused then, and absent_over_time,
 * which needs them all, is not allowed). */
int eval_range_fn(ev_t *ev, enode_t *n, series_sink_t sink, void *sctx, mat_t *out);
/* A vector selector over the steps (lookback, stale markers), into out or
 * series by series to sink. */
int eval_vs_to(ev_t *ev, enode_t *n, series_sink_t sink, void *sctx, mat_t *out);
const lset_t *lset_intern(qctx_t *q, const st_label_t *pairs, size_t n); /* pairs sorted, unique, non-empty; NULL on ENOMEM */
int lb_reset(lbuild_t *b, const lset_t *l);
int lb_set(lbuild_t *b, const char *name, size_t nlen, const char *val, size_t vlen); /* "" deletes */
void lb_del(lbuild_t *b, const char *name);
void lb_keep(lbuild_t *b, char *const *names, size_t n);
const lset_t *lb_intern(qctx_t *q, lbuild_t *b); /* sorts; NULL on ENOMEM (detail set) */
const lset_t *drop_metric_name(qctx_t *q, pmap_t *memo, const lset_t *l);
const char *lset_get(const lset_t *l, const char *name, size_t *len); /* NULL if absent */
int vec_push(vec_t *v, const lset_t *m, int64_t t, double val);
int ser_push(ser_t *s, int64_t t, double v);
int mat_push(mat_t *m, const lset_t *metric, ser_t **out);
void mat_free(mat_t *m);
void vec_free(vec_t *v);
int ev_check_done(ev_t *ev);
int ev_too_many(void);
int oom(const char *what);
bool vec_has_dup(vec_t *v, pmap_t *scratch);
enode_t *unwrap_paren(enode_t *n);
enode_t *unwrap_arg(enode_t *n); /* parens, one step-invariant wrapper, parens */

/* ---- eval_binop.c ---- */
int eval_binary(ev_t *ev, enode_t *n, mat_t *out);
double scalar_binop(st_promql_binop_t op, double l, double r);

/* ---- eval_agg.c ---- */
int eval_aggregate(ev_t *ev, enode_t *n, mat_t *out);
double pql_quantile(double q, double *v, size_t n); /* sorts v */

/* ---- functions.c ---- */
/* The implementation of a function; *matrix_fn tells whether it takes a
 * range vector. NULL for a function the engine does not know. */
fimpl_t pql_func_impl(const char *name, bool *matrix_fn);
const lset_t *absent_labels(qctx_t *q, enode_t *arg);
/* extrapolatedRate of the window p[0..n) (n >= 2) at ts, given result =
 * p[n-1].v - p[0].v plus, for counters, the value before each reset
 * added in time order. */
double pql_extrapolate(const pt_t *p, size_t n, double result, int64_t ts, int64_t range, int64_t offset,
                       bool is_counter, bool is_rate);
void pql_func_cache_free(void *cache);

#endif
