/*
 * PromQL AST: names of types and operators, the function table of
 * Prometheus 2.42 (promql/parser/functions.go), freeing and structural
 * equality.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strata/promql.h"

const char *st_promql_type_name(st_promql_type_t t) {
    switch (t) {
    case ST_PROMQL_TSCALAR: return "scalar";
    case ST_PROMQL_TVECTOR: return "instant vector";
    case ST_PROMQL_TMATRIX: return "range vector";
    case ST_PROMQL_TSTRING: return "string";
    default: return "none";
    }
}

static const char *const binop_names[] = {
    [ST_PROMQL_ADD] = "+", [ST_PROMQL_SUB] = "-", [ST_PROMQL_MUL] = "*", [ST_PROMQL_DIV] = "/",
    [ST_PROMQL_MOD] = "%", [ST_PROMQL_POW] = "^", [ST_PROMQL_ATAN2] = "atan2", [ST_PROMQL_EQLC] = "==",
    [ST_PROMQL_NEQ] = "!=", [ST_PROMQL_GTR] = ">", [ST_PROMQL_LSS] = "<", [ST_PROMQL_GTE] = ">=",
    [ST_PROMQL_LTE] = "<=", [ST_PROMQL_LAND] = "and", [ST_PROMQL_LOR] = "or", [ST_PROMQL_LUNLESS] = "unless",
};

const char *st_promql_binop_name(st_promql_binop_t op) {
    return (size_t)op < sizeof binop_names / sizeof binop_names[0] ? binop_names[op] : "?";
}

bool st_promql_binop_is_comparison(st_promql_binop_t op) {
    return op == ST_PROMQL_EQLC || op == ST_PROMQL_NEQ || op == ST_PROMQL_GTR || op == ST_PROMQL_LSS ||
           op == ST_PROMQL_GTE || op == ST_PROMQL_LTE;
}

bool st_promql_binop_is_set(st_promql_binop_t op) {
    return op == ST_PROMQL_LAND || op == ST_PROMQL_LOR || op == ST_PROMQL_LUNLESS;
}

static const char *const aggop_names[] = {
    [ST_PROMQL_SUM] = "sum", [ST_PROMQL_AVG] = "avg", [ST_PROMQL_COUNT] = "count", [ST_PROMQL_MIN] = "min",
    [ST_PROMQL_MAX] = "max", [ST_PROMQL_GROUP] = "group", [ST_PROMQL_STDDEV] = "stddev",
    [ST_PROMQL_STDVAR] = "stdvar", [ST_PROMQL_TOPK] = "topk", [ST_PROMQL_BOTTOMK] = "bottomk",
    [ST_PROMQL_COUNT_VALUES] = "count_values", [ST_PROMQL_QUANTILE] = "quantile",
};

const char *st_promql_aggop_name(st_promql_aggop_t op) {
    return (size_t)op < sizeof aggop_names / sizeof aggop_names[0] ? aggop_names[op] : "?";
}

#define S ST_PROMQL_TSCALAR
#define V ST_PROMQL_TVECTOR
#define M ST_PROMQL_TMATRIX
#define T ST_PROMQL_TSTRING
/* name, argument types, count, variadic, return type; sorted by name */
static const st_promql_func_t funcs[] = {
    {"abs", {V}, 1, 0, V},
    {"absent", {V}, 1, 0, V},
    {"absent_over_time", {M}, 1, 0, V},
    {"acos", {V}, 1, 0, V},
    {"acosh", {V}, 1, 0, V},
    {"asin", {V}, 1, 0, V},
    {"asinh", {V}, 1, 0, V},
    {"atan", {V}, 1, 0, V},
    {"atanh", {V}, 1, 0, V},
    {"avg_over_time", {M}, 1, 0, V},
    {"ceil", {V}, 1, 0, V},
    {"changes", {M}, 1, 0, V},
    {"clamp", {V, S, S}, 3, 0, V},
    {"clamp_max", {V, S}, 2, 0, V},
    {"clamp_min", {V, S}, 2, 0, V},
    {"cos", {V}, 1, 0, V},
    {"cosh", {V}, 1, 0, V},
    {"count_over_time", {M}, 1, 0, V},
    {"day_of_month", {V}, 1, 1, V},
    {"day_of_week", {V}, 1, 1, V},
    {"day_of_year", {V}, 1, 1, V},
    {"days_in_month", {V}, 1, 1, V},
    {"deg", {V}, 1, 0, V},
    {"delta", {M}, 1, 0, V},
    {"deriv", {M}, 1, 0, V},
    {"exp", {V}, 1, 0, V},
    {"floor", {V}, 1, 0, V},
    {"histogram_count", {V}, 1, 0, V},
    {"histogram_fraction", {S, S, V}, 3, 0, V},
    {"histogram_quantile", {S, V}, 2, 0, V},
    {"histogram_sum", {V}, 1, 0, V},
    {"holt_winters", {M, S, S}, 3, 0, V},
    {"hour", {V}, 1, 1, V},
    {"idelta", {M}, 1, 0, V},
    {"increase", {M}, 1, 0, V},
    {"irate", {M}, 1, 0, V},
    {"label_join", {V, T, T, T}, 4, -1, V},
    {"label_replace", {V, T, T, T, T}, 5, 0, V},
    {"last_over_time", {M}, 1, 0, V},
    {"ln", {V}, 1, 0, V},
    {"log10", {V}, 1, 0, V},
    {"log2", {V}, 1, 0, V},
    {"max_over_time", {M}, 1, 0, V},
    {"min_over_time", {M}, 1, 0, V},
    {"minute", {V}, 1, 1, V},
    {"month", {V}, 1, 1, V},
    {"pi", {0}, 0, 0, S},
    {"predict_linear", {M, S}, 2, 0, V},
    {"present_over_time", {M}, 1, 0, V},
    {"quantile_over_time", {S, M}, 2, 0, V},
    {"rad", {V}, 1, 0, V},
    {"rate", {M}, 1, 0, V},
    {"resets", {M}, 1, 0, V},
    {"round", {V, S}, 2, 1, V},
    {"scalar", {V}, 1, 0, S},
    {"sgn", {V}, 1, 0, V},
    {"sin", {V}, 1, 0, V},
    {"sinh", {V}, 1, 0, V},
    {"sort", {V}, 1, 0, V},
    {"sort_desc", {V}, 1, 0, V},
    {"sqrt", {V}, 1, 0, V},
    {"stddev_over_time", {M}, 1, 0, V},
    {"stdvar_over_time", {M}, 1, 0, V},
    {"sum_over_time", {M}, 1, 0, V},
    {"tan", {V}, 1, 0, V},
    {"tanh", {V}, 1, 0, V},
    {"time", {0}, 0, 0, S},
    {"timestamp", {V}, 1, 0, V},
    {"vector", {S}, 1, 0, V},
    {"year", {V}, 1, 1, V},
};
#undef S
#undef V
#undef M
#undef T

const st_promql_func_t *st_promql_funcs(size_t *n) {
    *n = sizeof funcs / sizeof funcs[0];
    return funcs;
}

const st_promql_func_t *st_promql_func_lookup(const char *name, size_t len) {
    size_t lo = 0, hi = sizeof funcs / sizeof funcs[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(funcs[mid].name, name, len);
        if (c == 0 && funcs[mid].name[len] != 0) c = 1;
        if (c == 0) return &funcs[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void names_free(st_promql_names_t *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

void st_promql_expr_free(st_promql_expr_t *e) {
    if (!e) return;
    switch (e->kind) {
    case ST_PROMQL_STRING: free(e->string.v); break;
    case ST_PROMQL_VECTOR_SELECTOR:
        free(e->vs.name);
        st_matchers_free(&e->vs.matchers);
        break;
    case ST_PROMQL_MATRIX_SELECTOR: st_promql_expr_free(e->ms.vs); break;
    case ST_PROMQL_SUBQUERY: st_promql_expr_free(e->sq.expr); break;
    case ST_PROMQL_PAREN: st_promql_expr_free(e->paren.expr); break;
    case ST_PROMQL_UNARY: st_promql_expr_free(e->unary.expr); break;
    case ST_PROMQL_BINARY:
        st_promql_expr_free(e->binary.lhs);
        st_promql_expr_free(e->binary.rhs);
        names_free(&e->binary.labels);
        names_free(&e->binary.include);
        break;
    case ST_PROMQL_CALL:
        for (size_t i = 0; i < e->call.nargs; i++) st_promql_expr_free(e->call.args[i]);
        free(e->call.args);
        break;
    case ST_PROMQL_AGGREGATE:
        st_promql_expr_free(e->agg.expr);
        st_promql_expr_free(e->agg.param);
        names_free(&e->agg.grouping);
        break;
    default: break;
    }
    free(e);
}

static bool names_equal(const st_promql_names_t *a, const st_promql_names_t *b) {
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0) return false;
    return true;
}

/* Matchers as sets: printing sorts them. */
static bool matchers_equal(const st_matchers_t *a, const st_matchers_t *b) {
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n && !found; j++)
            found = st_matcher_type(a->v[i]) == st_matcher_type(b->v[j]) &&
                    strcmp(st_matcher_name(a->v[i]), st_matcher_name(b->v[j])) == 0 &&
                    strcmp(st_matcher_value(a->v[i]), st_matcher_value(b->v[j])) == 0;
        if (!found) return false;
    }
    return true;
}

bool st_promql_expr_equal(const st_promql_expr_t *a, const st_promql_expr_t *b) {
    if (!a || !b) return a == b;
    if (a->kind != b->kind || a->type != b->type) return false;
    switch (a->kind) {
    case ST_PROMQL_NUMBER:
        if (isnan(a->number)) return isnan(b->number);
        return a->number == b->number && signbit(a->number) == signbit(b->number);
    case ST_PROMQL_STRING:
        return a->string.len == b->string.len && memcmp(a->string.v, b->string.v, a->string.len) == 0;
    case ST_PROMQL_VECTOR_SELECTOR:
        return strcmp(a->vs.name, b->vs.name) == 0 && matchers_equal(&a->vs.matchers, &b->vs.matchers) &&
               a->vs.offset_ms == b->vs.offset_ms && a->vs.at == b->vs.at &&
               (a->vs.at != ST_PROMQL_AT_TIME || a->vs.at_ms == b->vs.at_ms);
    case ST_PROMQL_MATRIX_SELECTOR:
        return a->ms.range_ms == b->ms.range_ms && st_promql_expr_equal(a->ms.vs, b->ms.vs);
    case ST_PROMQL_SUBQUERY:
        return a->sq.range_ms == b->sq.range_ms && a->sq.step_ms == b->sq.step_ms &&
               a->sq.offset_ms == b->sq.offset_ms && a->sq.at == b->sq.at &&
               (a->sq.at != ST_PROMQL_AT_TIME || a->sq.at_ms == b->sq.at_ms) &&
               st_promql_expr_equal(a->sq.expr, b->sq.expr);
    case ST_PROMQL_PAREN: return st_promql_expr_equal(a->paren.expr, b->paren.expr);
    case ST_PROMQL_UNARY: return a->unary.op == b->unary.op && st_promql_expr_equal(a->unary.expr, b->unary.expr);
    case ST_PROMQL_BINARY:
        if (a->binary.op != b->binary.op || a->binary.return_bool != b->binary.return_bool ||
            a->binary.matching != b->binary.matching)
            return false;
        if (a->binary.matching &&
            (a->binary.card != b->binary.card || a->binary.on != b->binary.on ||
             !names_equal(&a->binary.labels, &b->binary.labels) ||
             !names_equal(&a->binary.include, &b->binary.include)))
            return false;
        return st_promql_expr_equal(a->binary.lhs, b->binary.lhs) && st_promql_expr_equal(a->binary.rhs, b->binary.rhs);
    case ST_PROMQL_CALL:
        if (a->call.func != b->call.func || a->call.nargs != b->call.nargs) return false;
        for (size_t i = 0; i < a->call.nargs; i++)
            if (!st_promql_expr_equal(a->call.args[i], b->call.args[i])) return false;
        return true;
    case ST_PROMQL_AGGREGATE:
        return a->agg.op == b->agg.op && a->agg.without == b->agg.without &&
               names_equal(&a->agg.grouping, &b->agg.grouping) && st_promql_expr_equal(a->agg.expr, b->agg.expr) &&
               st_promql_expr_equal(a->agg.param, b->agg.param);
    }
    return false;
}
