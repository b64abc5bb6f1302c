/*
 * promql.h — PromQL expressions as Prometheus 2.42 parses them.
 *
 * st_promql_parse turns a query into an AST with Prometheus's grammar
 * (precedence, associativity, keywords usable as metric or label names),
 * its literal rules (Go number and string syntax, durations), its type
 * checks and its error messages: a rejected query gets ST_EINVAL with
 * "LINE:COL: parse error: ..." in the error detail, the first error
 * Prometheus would report, positions 1-based in bytes. st_promql_format
 * prints an AST back the way Prometheus's String() does.
 *
 * Nodes know their value type and their byte range in the query. Nothing
 * here evaluates (promql_engine.h does); the function table names each
 * function's signature so an engine can attach implementations.
 */
#ifndef STRATA_PROMQL_H
#define STRATA_PROMQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/buf.h"
#include "strata/matcher.h"

/* Limits: longer queries and deeper nesting (parentheses, operands,
 * arguments) are rejected with ST_ELIMIT instead of being parsed. */
#define ST_PROMQL_MAX_QUERY (1u << 20)
#define ST_PROMQL_MAX_DEPTH 1000

typedef enum {
    ST_PROMQL_TNONE = 0,
    ST_PROMQL_TSCALAR,
    ST_PROMQL_TVECTOR, /* instant vector */
    ST_PROMQL_TMATRIX, /* range vector */
    ST_PROMQL_TSTRING
} st_promql_type_t;

/* "scalar", "instant vector", "range vector", "string", "none". */
const char *st_promql_type_name(st_promql_type_t t);

typedef enum {
    ST_PROMQL_NUMBER,
    ST_PROMQL_STRING,
    ST_PROMQL_VECTOR_SELECTOR,
    ST_PROMQL_MATRIX_SELECTOR,
    ST_PROMQL_SUBQUERY,
    ST_PROMQL_PAREN,
    ST_PROMQL_UNARY,
    ST_PROMQL_BINARY,
    ST_PROMQL_CALL,
    ST_PROMQL_AGGREGATE
} st_promql_kind_t;

typedef enum {
    ST_PROMQL_ADD, ST_PROMQL_SUB, ST_PROMQL_MUL, ST_PROMQL_DIV, ST_PROMQL_MOD, ST_PROMQL_POW,
    ST_PROMQL_ATAN2,
    ST_PROMQL_EQLC, ST_PROMQL_NEQ, ST_PROMQL_GTR, ST_PROMQL_LSS, ST_PROMQL_GTE, ST_PROMQL_LTE,
    ST_PROMQL_LAND, ST_PROMQL_LOR, ST_PROMQL_LUNLESS
} st_promql_binop_t;

/* "+", "atan2", "==", "and", ... */
const char *st_promql_binop_name(st_promql_binop_t op);
bool st_promql_binop_is_comparison(st_promql_binop_t op);
bool st_promql_binop_is_set(st_promql_binop_t op);

typedef enum {
    ST_PROMQL_SUM, ST_PROMQL_AVG, ST_PROMQL_COUNT, ST_PROMQL_MIN, ST_PROMQL_MAX, ST_PROMQL_GROUP,
    ST_PROMQL_STDDEV, ST_PROMQL_STDVAR, ST_PROMQL_TOPK, ST_PROMQL_BOTTOMK, ST_PROMQL_COUNT_VALUES,
    ST_PROMQL_QUANTILE
} st_promql_aggop_t;

const char *st_promql_aggop_name(st_promql_aggop_t op); /* "sum", ... */

/* A function's signature, as Prometheus's parser.Functions has it. With
 * variadic 0 a call takes exactly nargs arguments; otherwise at least
 * nargs-1 and at most nargs-1+variadic (no maximum when variadic is -1),
 * the extra ones of the last argument's type. */
typedef struct {
    const char *name;
    st_promql_type_t arg_types[5];
    int nargs;
    int variadic; /* 0: exactly nargs */
    st_promql_type_t ret;
} st_promql_func_t;

/* The static table, sorted by name; *n gets its length. An entry's index
 * (pointer minus table) is stable within a build. */
const st_promql_func_t *st_promql_funcs(size_t *n);
const st_promql_func_t *st_promql_func_lookup(const char *name, size_t len); /* NULL if unknown */

typedef enum { ST_PROMQL_AT_NONE, ST_PROMQL_AT_TIME, ST_PROMQL_AT_START, ST_PROMQL_AT_END } st_promql_at_t;

/* Byte range [start, end) of a node in the query. */
typedef struct {
    size_t start, end;
} st_promql_pos_t;

typedef struct {
    char **v; /* owned, NUL-terminated label names */
    size_t n;
} st_promql_names_t;

typedef enum {
    ST_PROMQL_CARD_ONE_TO_ONE, ST_PROMQL_CARD_MANY_TO_ONE, ST_PROMQL_CARD_ONE_TO_MANY,
    ST_PROMQL_CARD_MANY_TO_MANY
} st_promql_card_t;

typedef struct st_promql_expr st_promql_expr_t;

struct st_promql_expr {
    st_promql_kind_t kind;
    st_promql_type_t type;
    st_promql_pos_t pos;
    union {
        double number;
        struct {
            char *v; /* owned, decoded; may hold NUL bytes */
            size_t len;
        } string;
        struct {
            char *name;            /* owned metric name, "" when only braces */
            st_matchers_t matchers; /* braced ones in order, then __name__="name" */
            int64_t offset_ms;     /* as written, may be negative */
            st_promql_at_t at;
            int64_t at_ms;         /* with ST_PROMQL_AT_TIME */
        } vs;
        struct {
            st_promql_expr_t *vs; /* a VECTOR_SELECTOR (holds offset and @) */
            int64_t range_ms;
        } ms;
        struct {
            st_promql_expr_t *expr;
            int64_t range_ms, step_ms; /* step 0: the default */
            int64_t offset_ms;
            st_promql_at_t at;
            int64_t at_ms;
        } sq;
        struct {
            st_promql_expr_t *expr;
        } paren;
        struct {
            st_promql_binop_t op; /* ADD or SUB */
            st_promql_expr_t *expr;
        } unary;
        struct {
            st_promql_binop_t op;
            st_promql_expr_t *lhs, *rhs;
            bool return_bool;
            /* vector matching, meaningful only when both sides are vectors */
            bool matching;
            st_promql_card_t card;
            bool on;
            st_promql_names_t labels;  /* on / ignoring */
            st_promql_names_t include; /* group_left / group_right */
        } binary;
        struct {
            const st_promql_func_t *func;
            st_promql_expr_t **args; /* owned */
            size_t nargs;
        } call;
        struct {
            st_promql_aggop_t op;
            st_promql_expr_t *expr;
            st_promql_expr_t *param; /* topk, bottomk, quantile, count_values; else NULL */
            st_promql_names_t grouping;
            bool without;
        } agg;
    };
};

/* Parse query[0..len) (bytes; need not be NUL-terminated). On success *out
 * is an owned tree (st_promql_expr_free). On failure *out is NULL and the
 * return is ST_EINVAL (detail: Prometheus's "L:C: parse error: ..."),
 * ST_ELIMIT (too long or too deeply nested) or ST_ENOMEM. */
int st_promql_parse(st_promql_expr_t **out, const char *query, size_t len);
void st_promql_expr_free(st_promql_expr_t *e); /* NULL ok */

/* Append Prometheus's String() of e to b (check b->err). */
void st_promql_format(st_encbuf_t *b, const st_promql_expr_t *e);

/* Structural equality (what parse(print(parse(q))) must preserve):
 * kinds, values (NaN equals NaN), names, matchers, durations, modifiers;
 * positions are not compared. */
bool st_promql_expr_equal(const st_promql_expr_t *a, const st_promql_expr_t *b);

#endif
