/*
 * Printing an AST back to PromQL the way Prometheus 2.42's String() methods
 * do (promql/parser/printer.go): one canonical spelling, e.g.
 *   sum by (a) (rate(x{b="c"}[5m] @ 10.000 offset -1h)) > bool 0.5
 * Keywords lowercase, matchers sorted by their printed text with the
 * metric name outside the braces, durations normalised (90m -> 1h30m),
 * numbers as Go's %v, strings as Go's %q, "by ()" omitted.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "strata/err.h"
#include "strata/promql.h"
#include "strata/textfmt.h"

/* Prometheus common's model.Duration.String(). */
static void put_duration(st_encbuf_t *b, int64_t ms) {
    static const struct {
        const char *unit;
        int64_t mult;
        bool exact;
    } units[] = {{"y", 1000LL * 60 * 60 * 24 * 365, true}, {"w", 1000LL * 60 * 60 * 24 * 7, true},
                 {"d", 1000LL * 60 * 60 * 24, false}, {"h", 1000LL * 60 * 60, false}, {"m", 1000LL * 60, false},
                 {"s", 1000, false}, {"ms", 1, false}};
    if (ms == 0) {
        st_put_cstr(b, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].exact && ms % units[i].mult != 0) continue;
        int64_t v = ms / units[i].mult;
        if (v > 0) {
            st_put_fmt(b, "%lld%s", (long long)v, units[i].unit);
            ms -= v * units[i].mult;
        }
    }
}

static void put_modifiers(st_encbuf_t *b, st_promql_at_t at, int64_t at_ms, int64_t offset_ms) {
    if (at == ST_PROMQL_AT_TIME) st_put_fmt(b, " @ %.3f", (double)at_ms / 1000.0);
    else if (at == ST_PROMQL_AT_START) st_put_cstr(b, " @ start()");
    else if (at == ST_PROMQL_AT_END) st_put_cstr(b, " @ end()");
    if (offset_ms > 0) {
        st_put_cstr(b, " offset ");
        put_duration(b, offset_ms);
    } else if (offset_ms < 0) {
        st_put_cstr(b, " offset -");
        put_duration(b, -offset_ms);
    }
}

static void put_names(st_encbuf_t *b, const st_promql_names_t *l) {
    st_put_cstr(b, "(");
    for (size_t i = 0; i < l->n; i++) {
        if (i) st_put_cstr(b, ", ");
        st_put_cstr(b, l->v[i]);
    }
    st_put_cstr(b, ")");
}

static int cmp_str(const void *a, const void *b) {
    const st_encbuf_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void put_selector(st_encbuf_t *b, const st_promql_expr_t *e, bool modifiers) {
    const st_matchers_t *ms = &e->vs.matchers;
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    st_encbuf_t *strs = calloc(ms->n ? ms->n : 1, sizeof *strs);
    size_t n = 0;
    if (!strs) {
        b->err = b->err ? b->err : ST_ENOMEM;
        return;
    }
    for (size_t i = 0; i < ms->n; i++) {
        const st_matcher_t *m = ms->v[i];
        const char *v = st_matcher_value(m);
        if (strcmp(st_matcher_name(m), "__name__") == 0 && st_matcher_type(m) == ST_MATCH_EQ &&
            strcmp(v, e->vs.name) == 0)
            continue;
        st_encbuf_init(&strs[n], b->max);
        st_put_fmt(&strs[n], "%s%s", st_matcher_name(m), ops[st_matcher_type(m) & 3]);
        st_put_go_quote(&strs[n], v, strlen(v));
        n++;
    }
    qsort(strs, n, sizeof *strs, cmp_str);
    st_put_cstr(b, e->vs.name);
    if (n) {
        st_put_cstr(b, "{");
        for (size_t i = 0; i < n; i++) {
            if (i) st_put_cstr(b, ",");
            if (strs[i].err) b->err = b->err ? b->err : strs[i].err;
            else st_put_bytes(b, strs[i].p, strs[i].len);
        }
        st_put_cstr(b, "}");
    }
    for (size_t i = 0; i < n; i++) st_encbuf_free(&strs[i]);
    free(strs);
    if (modifiers) put_modifiers(b, e->vs.at, e->vs.at_ms, e->vs.offset_ms);
}

void st_promql_format(st_encbuf_t *b, const st_promql_expr_t *e) {
    char num[ST_FLOAT_BUF];
    switch (e->kind) {
    case ST_PROMQL_NUMBER:
        st_fmt_go_g(num, e->number);
        st_put_cstr(b, num);
        break;
    case ST_PROMQL_STRING: st_put_go_quote(b, e->string.v, e->string.len); break;
    case ST_PROMQL_VECTOR_SELECTOR: put_selector(b, e, true); break;
    case ST_PROMQL_MATRIX_SELECTOR:
        put_selector(b, e->ms.vs, false);
        st_put_cstr(b, "[");
        put_duration(b, e->ms.range_ms);
        st_put_cstr(b, "]");
        put_modifiers(b, e->ms.vs->vs.at, e->ms.vs->vs.at_ms, e->ms.vs->vs.offset_ms);
        break;
    case ST_PROMQL_SUBQUERY:
        st_promql_format(b, e->sq.expr);
        st_put_cstr(b, "[");
        put_duration(b, e->sq.range_ms);
        st_put_cstr(b, ":");
        if (e->sq.step_ms) put_duration(b, e->sq.step_ms);
        st_put_cstr(b, "]");
        put_modifiers(b, e->sq.at, e->sq.at_ms, e->sq.offset_ms);
        break;
    case ST_PROMQL_PAREN:
        st_put_cstr(b, "(");
        st_promql_format(b, e->paren.expr);
        st_put_cstr(b, ")");
        break;
    case ST_PROMQL_UNARY:
        st_put_cstr(b, st_promql_binop_name(e->unary.op));
        st_promql_format(b, e->unary.expr);
        break;
    case ST_PROMQL_BINARY:
        st_promql_format(b, e->binary.lhs);
        st_put_fmt(b, " %s%s", st_promql_binop_name(e->binary.op), e->binary.return_bool ? " bool" : "");
        if (e->binary.matching && (e->binary.labels.n > 0 || e->binary.on)) {
            st_put_cstr(b, e->binary.on ? " on " : " ignoring ");
            put_names(b, &e->binary.labels);
            if (e->binary.card == ST_PROMQL_CARD_MANY_TO_ONE || e->binary.card == ST_PROMQL_CARD_ONE_TO_MANY) {
                st_put_cstr(b, e->binary.card == ST_PROMQL_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
                put_names(b, &e->binary.include);
            }
        }
        st_put_cstr(b, " ");
        st_promql_format(b, e->binary.rhs);
        break;
    case ST_PROMQL_CALL:
        st_put_fmt(b, "%s(", e->call.func->name);
        for (size_t i = 0; i < e->call.nargs; i++) {
            if (i) st_put_cstr(b, ", ");
            st_promql_format(b, e->call.args[i]);
        }
        st_put_cstr(b, ")");
        break;
    case ST_PROMQL_AGGREGATE:
        st_put_cstr(b, st_promql_aggop_name(e->agg.op));
        if (e->agg.without || e->agg.grouping.n > 0) {
            st_put_cstr(b, e->agg.without ? " without " : " by ");
            put_names(b, &e->agg.grouping);
            st_put_cstr(b, " ");
        }
        st_put_cstr(b, "(");
        if (e->agg.param) {
            st_promql_format(b, e->agg.param);
            st_put_cstr(b, ", ");
        }
        st_promql_format(b, e->agg.expr);
        st_put_cstr(b, ")");
        break;
    }
}
