/*
 * PromQL parser: Prometheus 2.42's yacc grammar (generated_parser.y) as a
 * recursive-descent parser with precedence climbing, plus its type checks
 * (parse.go checkAST).
 *
 * Prometheus reports only the first error it records, so this parser stops
 * at the first one; what matters is recording them in the same order. Its
 * LALR parser reads a lookahead token only when a state needs one and runs
 * an action as soon as a rule is complete, so here tokens are lexed lazily
 * (peek) and each action runs right after the last token of its rule,
 * before the next token is lexed: a lexer error after `sum()` comes second
 * to "no arguments", a lexer error right after `rate(x` comes first.
 *
 * Syntax errors read "unexpected <token>[ in CONTEXT][, expected WHAT]".
 * The context is that of the grammar's error rule that yacc's recovery
 * reaches: the rule of the current construct (label matching, grouping
 * opts, offset, @, subquery) or, from anywhere inside an aggregation's
 * arguments, "aggregation"; elsewhere none.
 *
 * Precedence, lowest first: or; and unless; == != <= < >= >; + -;
 * * / % atan2; ^ (right-assoc). Unary +/- binds like *, except that ^ on
 * its right is taken first (-a^b is -(a^b)). [range], offset and @ bind
 * tighter than everything and apply to the primary expression before them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "promql_int.h"
#include "strata/err.h"
#include "strata/textfmt.h"

typedef struct {
    pql_lexer_t lx;
    const char *in;
    size_t len;
    pql_item_t la;   /* lookahead, valid when have_la */
    bool have_la;
    pql_item_t last; /* last item lexed: what "unexpected" names */
    size_t last_closing;
    int err;          /* first error recorded */
    int agg_depth;    /* aggregations whose arguments are open */
    int depth;        /* recursion depth */
} parser_t;

/* ---- errors ------------------------------------------------------------ */

static int fail(parser_t *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser_t *p, size_t pos, const char *fmt, ...) {
    if (p->err) return p->err;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->err = pql_error_at(p->in, p->len, pos, "%s", msg);
    return p->err;
}

static int fail_code(parser_t *p, int code) {
    if (!p->err) p->err = code;
    return p->err;
}

/* A syntax error at the lookahead. ctx NULL: no error rule of the current
 * construct applies, so the enclosing aggregation's (if any) does. */
static void unexpected(parser_t *p, const char *ctx, const char *expected) {
    if (p->err) return;
    if (!ctx) {
        ctx = p->agg_depth > 0 ? "aggregation" : "";
        expected = "";
    }
    st_encbuf_t b;
    st_encbuf_init(&b, 4096);
    pql_item_desc(&b, p->in, &p->last);
    fail(p, p->last.pos, "unexpected %.*s%s%s%s%s", b.err ? 0 : (int)b.len, b.p ? (const char *)b.p : "",
         *ctx ? " in " : "", ctx, *expected ? ", expected " : "", expected);
    st_encbuf_free(&b);
}

/* ---- tokens ------------------------------------------------------------ */

static pql_tok_t peek(parser_t *p) {
    if (p->have_la) return p->la.t;
    do {
        pql_lex_next(&p->lx, &p->la);
    } while (p->la.t == PT_COMMENT);
    p->have_la = true;
    p->last = p->la;
    switch (p->la.t) {
    case PT_ERROR: fail(p, p->lx.start, "%s", p->lx.err); break;
    case PT_RIGHT_BRACE:
    case PT_RIGHT_PAREN:
    case PT_RIGHT_BRACKET:
    case PT_DURATION:
    case PT_NUMBER: p->last_closing = p->la.pos + p->la.len; break;
    default: break;
    }
    return p->la.t;
}

static pql_item_t consume(parser_t *p) {
    peek(p);
    p->have_la = false;
    return p->la;
}

static bool is_metric_identifier(pql_tok_t t) {
    switch (t) {
    case PT_AVG: case PT_BOTTOMK: case PT_BY: case PT_COUNT: case PT_COUNT_VALUES: case PT_GROUP:
    case PT_IDENT: case PT_LAND: case PT_LOR: case PT_LUNLESS: case PT_MAX: case PT_METRIC_IDENT:
    case PT_MIN: case PT_OFFSET: case PT_QUANTILE: case PT_STDDEV: case PT_STDVAR: case PT_SUM:
    case PT_TOPK: case PT_WITHOUT: case PT_START: case PT_END:
        return true;
    default: return false;
    }
}

static bool is_maybe_label(pql_tok_t t) {
    switch (t) {
    case PT_BOOL: case PT_GROUP_LEFT: case PT_GROUP_RIGHT: case PT_IGNORING: case PT_ON: case PT_ATAN2:
        return true;
    default: return is_metric_identifier(t);
    }
}

static bool starts_expr(pql_tok_t t) {
    return is_metric_identifier(t) || t == PT_NUMBER || t == PT_STRING || t == PT_LEFT_PAREN ||
           t == PT_LEFT_BRACE || t == PT_ADD || t == PT_SUB;
}

static bool is_aggregator(pql_tok_t t) { return t >= PT_AVG && t <= PT_TOPK; }

/* ---- nodes ------------------------------------------------------------- */

static st_promql_expr_t *new_node(parser_t *p, st_promql_kind_t kind) {
    st_promql_expr_t *e = calloc(1, sizeof *e);
    if (!e) fail_code(p, st_errorf(ST_ENOMEM, "promql: allocating a node"));
    else e->kind = kind;
    return e;
}

static size_t node_start(const st_promql_expr_t *e) { return e->pos.start; }

static bool push_name(parser_t *p, st_promql_names_t *l, const char *s, size_t n) {
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    char *c = malloc(n + 1);
    if (nv) l->v = nv;
    if (!nv || !c) {
        free(c);
        fail_code(p, st_errorf(ST_ENOMEM, "promql: allocating a label name"));
        return false;
    }
    memcpy(c, s, n);
    c[n] = 0;
    l->v[l->n++] = c;
    return true;
}

static bool push_matcher(parser_t *p, st_matchers_t *ms, st_matcher_t *m) {
    st_matcher_t **nv = realloc(ms->v, (ms->n + 1) * sizeof *nv);
    if (!nv) {
        st_matcher_free(m);
        fail_code(p, st_errorf(ST_ENOMEM, "promql: allocating matchers"));
        return false;
    }
    ms->v = nv;
    ms->v[ms->n++] = m;
    return true;
}

/* ---- literals ---------------------------------------------------------- */

/* Go's strconv.ParseInt(s, 0, 64) then ParseFloat(s, 64) on what the lexer
 * calls a number. */
static double parse_number(parser_t *p, const pql_item_t *it) {
    const char *s = p->in + it->pos;
    size_t n = it->len;
    char buf[512];
    bool hex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    /* ParseInt: decimal, 0-prefixed octal or 0x hex, fitting in int64 */
    {
        size_t i = hex ? 2 : 0;
        unsigned base = hex ? 16 : (n > 1 && s[0] == '0') ? 8 : 10;
        uint64_t v = 0;
        bool ok = i < n;
        for (; ok && i < n; i++) {
            int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
                    : (s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f' ? (s[i] | 0x20) - 'a' + 10 : 99;
            if ((unsigned)d >= base || v > (UINT64_MAX - (unsigned)d) / base) ok = false;
            else v = v * base + (unsigned)d;
        }
        if (ok && v <= (uint64_t)INT64_MAX) return (double)(int64_t)v;
    }
    /* ParseFloat: decimal mantissa with an optional exponent, or inf/nan */
    bool valid = false;
    if (n == 3 && (strncasecmp(s, "inf", 3) == 0 || strncasecmp(s, "nan", 3) == 0)) {
        return (s[0] | 0x20) == 'i' ? INFINITY : NAN;
    } else if (!hex && n < sizeof buf) {
        size_t i = 0, digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
        }
        valid = digits > 0;
        if (valid && i < n && (s[i] == 'e' || s[i] == 'E')) {
            i++;
            if (i < n && (s[i] == '+' || s[i] == '-')) i++;
            size_t ed = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9') i++, ed++;
            valid = ed > 0;
        }
        valid = valid && i == n;
    }
    const char *why = "invalid syntax";
    if (valid) {
        memcpy(buf, s, n);
        buf[n] = 0;
        double v = strtod(buf, NULL);
        if (!isinf(v)) return v;
        why = "value out of range";
    }
    st_encbuf_t q;
    st_encbuf_init(&q, 4096);
    st_put_go_quote(&q, s, n);
    fail(p, it->pos, "error parsing number: strconv.ParseFloat: parsing %.*s: %s", q.err ? 0 : (int)q.len,
         q.p ? (const char *)q.p : "", why);
    st_encbuf_free(&q);
    return 0;
}

/* Prometheus common's model.ParseDuration (units y w d h m s ms, each at
 * most once, in that order), then "must be greater than 0". */
static bool parse_duration(parser_t *p, const pql_item_t *it, int64_t *ms) {
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"y", 1000LL * 60 * 60 * 24 * 365}, {"w", 1000LL * 60 * 60 * 24 * 7},
                 {"d", 1000LL * 60 * 60 * 24}, {"h", 1000LL * 60 * 60}, {"m", 1000LL * 60}, {"s", 1000},
                 {"ms", 1}};
    const char *s = p->in + it->pos;
    size_t n = it->len, i = 0, u = 0;
    uint64_t dur_ns = 0; /* Go's time.Duration arithmetic, wrapping */
    bool overflow = false;
    while (i < n) {
        size_t d0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        size_t nd = i - d0;
        size_t ul = 0;
        while (i + ul < n && s[i + ul] >= 'a' && s[i + ul] <= 'z') ul++;
        while (u < 7 && (strlen(units[u].unit) != ul || strncmp(units[u].unit, s + i, ul) != 0)) u++;
        if (nd == 0 || u == 7) goto bad;
        i += ul;
        int64_t v = 0;
        bool big = false;
        for (size_t k = d0; k < d0 + nd; k++) {
            if (v > (INT64_MAX - (s[k] - '0')) / 10) big = true;
            else v = v * 10 + (s[k] - '0');
        }
        if (big) v = INT64_MAX;
        if (v > INT64_MAX / units[u].mult / 1000000) overflow = true;
        dur_ns += (uint64_t)v * 1000000u * (uint64_t)units[u].mult;
        if ((int64_t)dur_ns < 0) overflow = true;
        u++;
    }
    if (overflow) {
        fail(p, it->pos, "duration out of range");
        return false;
    }
    if (dur_ns == 0) {
        fail(p, it->pos, "duration must be greater than 0");
        return false;
    }
    *ms = (int64_t)(dur_ns / 1000000u);
    return true;
bad:;
    st_encbuf_t q;
    st_encbuf_init(&q, 4096);
    st_put_go_quote(&q, s, n);
    fail(p, it->pos, "not a valid duration string: %.*s", q.err ? 0 : (int)q.len, q.p ? (const char *)q.p : "");
    st_encbuf_free(&q);
    return false;
}

/* ---- selectors --------------------------------------------------------- */

static bool new_label_matcher(parser_t *p, st_matchers_t *ms, const pql_item_t *name, pql_tok_t op,
                              const pql_item_t *val) {
    char *v = NULL;
    size_t vlen = 0;
    int rc = pql_unquote(p->in + val->pos, val->len, &v, &vlen);
    if (rc) {
        fail_code(p, rc);
        return false;
    }
    if (memchr(v, 0, vlen)) {
        free(v);
        fail(p, val->pos, "NUL bytes in strings are not supported");
        return false;
    }
    st_match_type_t type = op == PT_EQL ? ST_MATCH_EQ : op == PT_NEQ ? ST_MATCH_NEQ
                           : op == PT_EQL_REGEX ? ST_MATCH_RE : ST_MATCH_NRE;
    char nm[256];
    snprintf(nm, sizeof nm, "%.*s", (int)name->len, p->in + name->pos);
    st_matcher_t *m = NULL;
    if (name->len >= sizeof nm) rc = st_errorf(ST_ENOMEM, "promql: label name too long");
    else rc = st_matcher_new(&m, type, nm, v);
    free(v);
    if (rc == ST_EINVAL) {
        char detail[400];
        snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
        fail(p, name->pos, "%s", detail);
        return false;
    }
    if (rc) {
        fail_code(p, rc);
        return false;
    }
    return push_matcher(p, ms, m);
}


/* After "{" was peeked: the matchers up to and including "}"; *end gets
 * the offset after "}". */
static bool parse_label_matchers(parser_t *p, st_matchers_t *ms, size_t *end) {
    consume(p);
    pql_tok_t t = peek(p);
    if (p->err) return false;
    if (t == PT_RIGHT_BRACE) {
        *end = consume(p).pos + 1;
        return true;
    }
    for (;;) {
        if (t != PT_IDENT) {
            unexpected(p, "label matching", "identifier or \"}\"");
            return false;
        }
        pql_item_t name = consume(p);
        t = peek(p);
        if (p->err) return false;
        if (t != PT_EQL && t != PT_NEQ && t != PT_EQL_REGEX && t != PT_NEQ_REGEX) {
            unexpected(p, "label matching", "label matching operator");
            return false;
        }
        pql_item_t op = consume(p);
        t = peek(p);
        if (p->err) return false;
        if (t != PT_STRING) {
            unexpected(p, "label matching", "string");
            return false;
        }
        pql_item_t val = consume(p);
        if (!new_label_matcher(p, ms, &name, op.t, &val)) return false;
        t = peek(p);
        if (p->err) return false;
        if (t == PT_COMMA) {
            consume(p);
            t = peek(p);
            if (p->err) return false;
            if (t != PT_RIGHT_BRACE) continue;
        }
        if (t != PT_RIGHT_BRACE) {
            unexpected(p, "label matching", "\",\" or \"}\"");
            return false;
        }
        *end = consume(p).pos + 1;
        return true;
    }
}

/* A vector selector whose name (if any) was consumed; "{" may follow. */
static st_promql_expr_t *parse_vector_selector(parser_t *p, const pql_item_t *name) {
    st_promql_expr_t *e = new_node(p, ST_PROMQL_VECTOR_SELECTOR);
    if (!e) return NULL;
    e->type = ST_PROMQL_TVECTOR;
    size_t n = name ? name->len : 0;
    e->vs.name = malloc(n + 1);
    if (!e->vs.name) {
        fail_code(p, st_errorf(ST_ENOMEM, "promql: allocating a metric name"));
        return e;
    }
    if (n) memcpy(e->vs.name, p->in + name->pos, n);
    e->vs.name[n] = 0;
    if (name) {
        e->pos.start = name->pos;
        e->pos.end = name->pos + name->len;
    }
    pql_tok_t t = name ? peek(p) : PT_LEFT_BRACE;
    if (p->err) return e;
    if (t == PT_LEFT_BRACE) {
        if (!name) e->pos.start = p->la.pos;
        if (!parse_label_matchers(p, &e->vs.matchers, &e->pos.end)) return e;
    }
    if (name) {
        st_matcher_t *m;
        int rc = st_matcher_new(&m, ST_MATCH_EQ, "__name__", e->vs.name);
        if (rc) fail_code(p, rc);
        else push_matcher(p, &e->vs.matchers, m);
    }
    return e;
}

/* After BY, WITHOUT, ON, IGNORING, GROUP_LEFT or GROUP_RIGHT: "(" labels ")". */
static bool parse_grouping(parser_t *p, st_promql_names_t *out) {
    pql_tok_t t = peek(p);
    if (p->err) return false;
    if (t != PT_LEFT_PAREN) {
        unexpected(p, "grouping opts", "\"(\"");
        return false;
    }
    consume(p);
    t = peek(p);
    if (p->err) return false;
    if (t == PT_RIGHT_PAREN) {
        consume(p);
        return true;
    }
    for (;;) {
        if (!is_maybe_label(t)) {
            unexpected(p, "grouping opts", "label");
            return false;
        }
        pql_item_t l = consume(p);
        const char *s = p->in + l.pos;
        bool label = l.len > 0 && s[0] != ':' && !(s[0] >= '0' && s[0] <= '9');
        for (size_t i = 0; i < l.len; i++) label &= s[i] != ':';
        if (!label) {
            unexpected(p, "grouping opts", "label");
            return false;
        }
        if (!push_name(p, out, s, l.len)) return false;
        t = peek(p);
        if (p->err) return false;
        if (t == PT_COMMA) {
            consume(p);
            t = peek(p);
            if (p->err) return false;
            if (t != PT_RIGHT_PAREN) continue;
        }
        if (t != PT_RIGHT_PAREN) {
            unexpected(p, "grouping opts", "\",\" or \")\"");
            return false;
        }
        consume(p);
        return true;
    }
}

static st_promql_expr_t *parse_expr(parser_t *p, int minprec, int *h);

static bool too_high(parser_t *p, int h, size_t pos) {
    if (h <= ST_PROMQL_MAX_DEPTH) return false;
    if (!p->err)
        p->err = st_errorf(ST_ELIMIT, "promql: expression nested deeper than %d levels at byte %zu",
                           ST_PROMQL_MAX_DEPTH, pos);
    return true;
}

/* "(" [expr {"," expr}] ")" of a call or an aggregation, "(" peeked. */
static bool parse_args(parser_t *p, st_promql_expr_t ***args, size_t *nargs, int *h) {
    consume(p);
    pql_tok_t t = peek(p);
    if (p->err) return false;
    if (t == PT_RIGHT_PAREN) {
        consume(p);
        return true;
    }
    for (;;) {
        int ah = 0;
        st_promql_expr_t *a = parse_expr(p, 1, &ah);
        if (a) {
            st_promql_expr_t **nv = realloc(*args, (*nargs + 1) * sizeof *nv);
            if (!nv) {
                st_promql_expr_free(a);
                fail_code(p, st_errorf(ST_ENOMEM, "promql: allocating arguments"));
                return false;
            }
            *args = nv;
            nv[(*nargs)++] = a;
            if (ah + 1 > *h) *h = ah + 1;
        }
        if (p->err) return false;
        t = peek(p);
        if (p->err) return false;
        if (t == PT_COMMA) {
            pql_item_t comma = consume(p);
            t = peek(p);
            if (p->err) return false;
            if (!starts_expr(t)) {
                fail(p, comma.pos, "trailing commas not allowed in function call args");
                return false;
            }
            continue;
        }
        if (t != PT_RIGHT_PAREN) {
            unexpected(p, NULL, NULL);
            return false;
        }
        consume(p);
        return true;
    }
}

static st_promql_expr_t *parse_call(parser_t *p, const pql_item_t *name, int *h) {
    st_promql_expr_t *e = new_node(p, ST_PROMQL_CALL);
    if (!e) return NULL;
    e->pos.start = name->pos;
    if (!parse_args(p, &e->call.args, &e->call.nargs, h)) return e;
    e->pos.end = p->last_closing;
    e->call.func = st_promql_func_lookup(p->in + name->pos, name->len);
    if (!e->call.func) {
        st_encbuf_t q;
        st_encbuf_init(&q, 4096);
        st_put_go_quote(&q, p->in + name->pos, name->len);
        fail(p, name->pos, "unknown function with name %.*s", q.err ? 0 : (int)q.len,
             q.p ? (const char *)q.p : "");
        st_encbuf_free(&q);
        return e;
    }
    e->type = e->call.func->ret;
    return e;
}

static const st_promql_aggop_t agg_of_tok[] = {
    [PT_AVG - PT_AVG] = ST_PROMQL_AVG, [PT_BOTTOMK - PT_AVG] = ST_PROMQL_BOTTOMK,
    [PT_COUNT - PT_AVG] = ST_PROMQL_COUNT, [PT_COUNT_VALUES - PT_AVG] = ST_PROMQL_COUNT_VALUES,
    [PT_GROUP - PT_AVG] = ST_PROMQL_GROUP, [PT_MAX - PT_AVG] = ST_PROMQL_MAX, [PT_MIN - PT_AVG] = ST_PROMQL_MIN,
    [PT_QUANTILE - PT_AVG] = ST_PROMQL_QUANTILE, [PT_STDDEV - PT_AVG] = ST_PROMQL_STDDEV,
    [PT_STDVAR - PT_AVG] = ST_PROMQL_STDVAR, [PT_SUM - PT_AVG] = ST_PROMQL_SUM, [PT_TOPK - PT_AVG] = ST_PROMQL_TOPK,
};

static st_promql_expr_t *parse_aggregate(parser_t *p, const pql_item_t *op, int *h) {
    st_promql_expr_t *e = new_node(p, ST_PROMQL_AGGREGATE);
    if (!e) return NULL;
    e->type = ST_PROMQL_TVECTOR;
    e->agg.op = agg_of_tok[op->t - PT_AVG];
    e->pos.start = op->pos;
    st_promql_expr_t **args = NULL;
    size_t nargs = 0;
    p->agg_depth++;
    pql_tok_t t = peek(p);
    bool ok;
    if (t == PT_BY || t == PT_WITHOUT) {
        consume(p);
        e->agg.without = t == PT_WITHOUT;
        ok = parse_grouping(p, &e->agg.grouping);
        if (ok && peek(p) != PT_LEFT_PAREN) {
            unexpected(p, NULL, NULL);
            ok = false;
        }
        ok = ok && parse_args(p, &args, &nargs, h);
        p->agg_depth--;
    } else {
        ok = parse_args(p, &args, &nargs, h);
        p->agg_depth--;
        t = ok ? peek(p) : PT_EOF;
        if (ok && !p->err && (t == PT_BY || t == PT_WITHOUT)) {
            consume(p);
            e->agg.without = t == PT_WITHOUT;
            ok = parse_grouping(p, &e->agg.grouping);
        }
    }
    ok = ok && !p->err;
    if (ok) {
        e->pos.end = p->last_closing;
        bool param = e->agg.op == ST_PROMQL_TOPK || e->agg.op == ST_PROMQL_BOTTOMK ||
                     e->agg.op == ST_PROMQL_COUNT_VALUES || e->agg.op == ST_PROMQL_QUANTILE;
        size_t want = param ? 2 : 1;
        if (nargs == 0) {
            fail(p, op->pos, "no arguments for aggregate expression provided");
        } else if (nargs != want) {
            fail(p, op->pos, "wrong number of arguments for aggregate expression provided, expected %zu, got %zu",
                 want, nargs);
        } else {
            if (param) e->agg.param = args[0];
            e->agg.expr = args[want - 1];
            free(args);
            return e;
        }
    }
    for (size_t i = 0; i < nargs; i++) st_promql_expr_free(args[i]);
    free(args);
    return e;
}

static st_promql_expr_t *parse_primary(parser_t *p, int *h) {
    pql_tok_t t = peek(p);
    if (p->err) return NULL;
    st_promql_expr_t *e;
    pql_item_t it;
    *h = 1;
    switch (t) {
    case PT_NUMBER:
        it = consume(p);
        if (!(e = new_node(p, ST_PROMQL_NUMBER))) return NULL;
        e->type = ST_PROMQL_TSCALAR;
        e->pos.start = it.pos;
        e->pos.end = it.pos + it.len;
        e->number = parse_number(p, &it);
        return e;
    case PT_STRING:
        it = consume(p);
        if (!(e = new_node(p, ST_PROMQL_STRING))) return NULL;
        e->type = ST_PROMQL_TSTRING;
        e->pos.start = it.pos;
        e->pos.end = it.pos + it.len;
        {
            int rc = pql_unquote(p->in + it.pos, it.len, &e->string.v, &e->string.len);
            if (rc) fail_code(p, rc);
        }
        return e;
    case PT_LEFT_PAREN: {
        it = consume(p);
        int ih = 0;
        st_promql_expr_t *inner = parse_expr(p, 1, &ih);
        if (!inner) return NULL;
        if (!(e = new_node(p, ST_PROMQL_PAREN))) {
            st_promql_expr_free(inner);
            return NULL;
        }
        e->paren.expr = inner;
        e->type = inner->type;
        e->pos.start = it.pos;
        *h = ih + 1;
        if (p->err) return e;
        if (peek(p) != PT_RIGHT_PAREN) {
            unexpected(p, NULL, NULL);
            return e;
        }
        e->pos.end = consume(p).pos + 1;
        return e;
    }
    case PT_LEFT_BRACE: return parse_vector_selector(p, NULL);
    default: break;
    }
    if (!is_metric_identifier(t)) {
        unexpected(p, NULL, NULL);
        return NULL;
    }
    it = consume(p);
    if (t == PT_IDENT || is_aggregator(t)) {
        pql_tok_t n = peek(p);
        if (p->err) return NULL;
        if (n == PT_LEFT_PAREN && t == PT_IDENT) return parse_call(p, &it, h);
        if (is_aggregator(t) && (n == PT_LEFT_PAREN || n == PT_BY || n == PT_WITHOUT)) return parse_aggregate(p, &it, h);
    }
    return parse_vector_selector(p, &it);
}

/* Go's %f of a float64 ("+Inf", "NaN" rather than C's "inf", "nan"). */
static void go_f(char out[64], double v) {
    if (isnan(v)) snprintf(out, 64, "NaN");
    else if (isinf(v)) snprintf(out, 64, v > 0 ? "+Inf" : "-Inf");
    else snprintf(out, 64, "%f", v);
}

/* The offset and @ fields of the selector or subquery e, or NULL after
 * recording Prometheus's error. */
static st_promql_expr_t *modifier_target(parser_t *p, st_promql_expr_t *e, const char *what) {
    switch (e->kind) {
    case ST_PROMQL_VECTOR_SELECTOR:
    case ST_PROMQL_SUBQUERY: return e;
    case ST_PROMQL_MATRIX_SELECTOR: return e->ms.vs;
    default:
        fail(p, node_start(e), "%s must be preceded by an instant vector selector or range vector selector or a subquery",
             what);
        return NULL;
    }
}

static void add_offset(parser_t *p, st_promql_expr_t *e, int64_t off) {
    st_promql_expr_t *t = modifier_target(p, e, "offset modifier");
    if (!t) return;
    int64_t *o = t->kind == ST_PROMQL_SUBQUERY ? &t->sq.offset_ms : &t->vs.offset_ms;
    if (*o != 0) {
        fail(p, node_start(e), "offset may not be set multiple times");
        return;
    }
    *o = off;
    e->pos.end = p->last_closing;
}

static void set_at(parser_t *p, st_promql_expr_t *e, st_promql_at_t at, double ts) {
    if (at == ST_PROMQL_AT_TIME && (isnan(ts) || isinf(ts) || ts >= 9223372036854775807.0 ||
                                    ts <= -9223372036854775808.0)) {
        char f[64];
        go_f(f, ts);
        fail(p, node_start(e), "timestamp out of bounds for @ modifier: %s", f);
        return;
    }
    st_promql_expr_t *t = modifier_target(p, e, "@ modifier");
    if (!t) return;
    st_promql_at_t *a = t->kind == ST_PROMQL_SUBQUERY ? &t->sq.at : &t->vs.at;
    int64_t *ms = t->kind == ST_PROMQL_SUBQUERY ? &t->sq.at_ms : &t->vs.at_ms;
    if (*a != ST_PROMQL_AT_NONE) {
        fail(p, node_start(e), "@ <timestamp> may not be set multiple times");
        return;
    }
    *a = at;
    if (at == ST_PROMQL_AT_TIME) {
        /* Go's int64(math.Round(ts*1000)); out of range it is INT64_MIN on amd64 */
        double x = round(ts * 1000);
        *ms = x >= 9223372036854775807.0 || x < -9223372036854775808.0 ? INT64_MIN : (int64_t)x;
    }
    e->pos.end = p->last_closing;
}

/* "[" peeked: a range or a subquery on e. */
static st_promql_expr_t *parse_brackets(parser_t *p, st_promql_expr_t *e, int *h) {
    pql_item_t lb = consume(p);
    pql_tok_t t = peek(p);
    if (p->err) return e;
    if (t != PT_DURATION) {
        unexpected(p, "subquery selector", "duration");
        return e;
    }
    pql_item_t d = consume(p);
    int64_t range = 0, step = 0;
    if (!parse_duration(p, &d, &range)) return e;
    t = peek(p);
    if (p->err) return e;
    if (t == PT_RIGHT_BRACKET) {
        consume(p);
        const char *msg = NULL;
        if (e->kind != ST_PROMQL_VECTOR_SELECTOR) msg = "ranges only allowed for vector selectors";
        else if (e->vs.offset_ms != 0) msg = "no offset modifiers allowed before range";
        else if (e->vs.at == ST_PROMQL_AT_TIME) msg = "no @ modifiers allowed before range";
        if (msg) {
            fail(p, lb.pos, "%s", msg);
            return e;
        }
        st_promql_expr_t *m = new_node(p, ST_PROMQL_MATRIX_SELECTOR);
        if (!m) return e;
        m->type = ST_PROMQL_TMATRIX;
        m->ms.vs = e;
        m->ms.range_ms = range;
        m->pos.start = e->pos.start;
        m->pos.end = p->last_closing;
        (*h)++;
        return m;
    }
    if (t != PT_COLON) {
        unexpected(p, "subquery or range", "\":\" or \"]\"");
        return e;
    }
    consume(p);
    t = peek(p);
    if (p->err) return e;
    if (t == PT_DURATION) {
        pql_item_t s = consume(p);
        if (!parse_duration(p, &s, &step)) return e;
        t = peek(p);
        if (p->err) return e;
    }
    if (t != PT_RIGHT_BRACKET) {
        unexpected(p, "subquery selector", step ? "\"]\"" : "duration or \"]\"");
        return e;
    }
    pql_item_t rb = consume(p);
    st_promql_expr_t *s = new_node(p, ST_PROMQL_SUBQUERY);
    if (!s) return e;
    s->type = ST_PROMQL_TMATRIX;
    s->sq.expr = e;
    s->sq.range_ms = range;
    s->sq.step_ms = step;
    s->pos.start = e->pos.start;
    s->pos.end = rb.pos + 1;
    (*h)++;
    return s;
}

/* Ranges, subqueries, offset and @ after a primary expression. */
static st_promql_expr_t *parse_postfix(parser_t *p, st_promql_expr_t *e, int *h) {
    while (e && !p->err && !too_high(p, *h, e->pos.start)) {
        pql_tok_t t = peek(p);
        if (p->err) break;
        if (t == PT_LEFT_BRACKET) {
            e = parse_brackets(p, e, h);
        } else if (t == PT_OFFSET) {
            consume(p);
            t = peek(p);
            if (p->err) break;
            bool neg = t == PT_SUB;
            if (neg) {
                consume(p);
                t = peek(p);
                if (p->err) break;
            }
            if (t != PT_DURATION) {
                unexpected(p, "offset", "duration");
                break;
            }
            pql_item_t d = consume(p);
            int64_t off;
            if (!parse_duration(p, &d, &off)) break;
            add_offset(p, e, neg ? -off : off);
        } else if (t == PT_AT) {
            consume(p);
            t = peek(p);
            if (p->err) break;
            if (t == PT_START || t == PT_END) {
                consume(p);
                if (peek(p) != PT_LEFT_PAREN) {
                    unexpected(p, "@", "timestamp");
                    break;
                }
                consume(p);
                if (peek(p) != PT_RIGHT_PAREN) {
                    unexpected(p, "@", "timestamp");
                    break;
                }
                consume(p);
                set_at(p, e, t == PT_START ? ST_PROMQL_AT_START : ST_PROMQL_AT_END, 0);
                continue;
            }
            bool neg = t == PT_SUB;
            if (t == PT_ADD || t == PT_SUB) {
                consume(p);
                t = peek(p);
                if (p->err) break;
            }
            if (t != PT_NUMBER) {
                unexpected(p, "@", "timestamp");
                break;
            }
            pql_item_t n = consume(p);
            double ts = parse_number(p, &n);
            if (p->err) break;
            set_at(p, e, ST_PROMQL_AT_TIME, neg ? -ts : ts);
        } else {
            break;
        }
    }
    return e;
}

enum { PREC_OR = 1, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

static int binop_prec(pql_tok_t t, st_promql_binop_t *op) {
    switch (t) {
    case PT_LOR: *op = ST_PROMQL_LOR; return PREC_OR;
    case PT_LAND: *op = ST_PROMQL_LAND; return PREC_AND;
    case PT_LUNLESS: *op = ST_PROMQL_LUNLESS; return PREC_AND;
    case PT_EQLC: *op = ST_PROMQL_EQLC; return PREC_CMP;
    case PT_NEQ: *op = ST_PROMQL_NEQ; return PREC_CMP;
    case PT_GTE: *op = ST_PROMQL_GTE; return PREC_CMP;
    case PT_GTR: *op = ST_PROMQL_GTR; return PREC_CMP;
    case PT_LSS: *op = ST_PROMQL_LSS; return PREC_CMP;
    case PT_LTE: *op = ST_PROMQL_LTE; return PREC_CMP;
    case PT_ADD: *op = ST_PROMQL_ADD; return PREC_ADD;
    case PT_SUB: *op = ST_PROMQL_SUB; return PREC_ADD;
    case PT_MUL: *op = ST_PROMQL_MUL; return PREC_MUL;
    case PT_DIV: *op = ST_PROMQL_DIV; return PREC_MUL;
    case PT_MOD: *op = ST_PROMQL_MOD; return PREC_MUL;
    case PT_ATAN2: *op = ST_PROMQL_ATAN2; return PREC_MUL;
    case PT_POW: *op = ST_PROMQL_POW; return PREC_POW;
    default: return 0;
    }
}

static st_promql_expr_t *parse_unary(parser_t *p, int *h) {
    pql_tok_t t = peek(p);
    if (p->err) return NULL;
    if (t != PT_ADD && t != PT_SUB) {
        st_promql_expr_t *e = parse_primary(p, h);
        return parse_postfix(p, e, h);
    }
    pql_item_t op = consume(p);
    st_promql_expr_t *x = parse_expr(p, PREC_POW, h);
    if (!x || p->err) return x;
    if (x->kind == ST_PROMQL_NUMBER) {
        if (t == PT_SUB) x->number = -x->number;
        x->pos.start = op.pos;
        return x;
    }
    st_promql_expr_t *u = new_node(p, ST_PROMQL_UNARY);
    if (!u) {
        st_promql_expr_free(x);
        return NULL;
    }
    u->unary.op = t == PT_SUB ? ST_PROMQL_SUB : ST_PROMQL_ADD;
    u->unary.expr = x;
    u->type = x->type;
    u->pos.start = op.pos;
    u->pos.end = x->pos.end;
    (*h)++;
    too_high(p, *h, op.pos);
    return u;
}

static st_promql_expr_t *parse_expr(parser_t *p, int minprec, int *h) {
    if (++p->depth > ST_PROMQL_MAX_DEPTH) {
        too_high(p, p->depth, p->have_la ? p->la.pos : p->lx.pos);
        p->depth--;
        return NULL;
    }
    st_promql_expr_t *lhs = parse_unary(p, h);
    while (lhs && !p->err) {
        st_promql_binop_t op;
        pql_tok_t t = peek(p);
        if (p->err) break;
        int prec = binop_prec(t, &op);
        if (prec == 0 || prec < minprec) break;
        consume(p);
        st_promql_expr_t *b = new_node(p, ST_PROMQL_BINARY);
        if (!b) break;
        b->binary.op = op;
        b->binary.lhs = lhs;
        b->binary.matching = true;
        b->binary.card = ST_PROMQL_CARD_ONE_TO_ONE;
        b->pos.start = lhs->pos.start;
        lhs = b;
        t = peek(p);
        if (t == PT_BOOL) {
            consume(p);
            b->binary.return_bool = true;
            t = peek(p);
        }
        if (t == PT_ON || t == PT_IGNORING) {
            consume(p);
            b->binary.on = t == PT_ON;
            if (!parse_grouping(p, &b->binary.labels)) break;
            t = peek(p);
            if (t == PT_GROUP_LEFT || t == PT_GROUP_RIGHT) {
                consume(p);
                b->binary.card = t == PT_GROUP_LEFT ? ST_PROMQL_CARD_MANY_TO_ONE : ST_PROMQL_CARD_ONE_TO_MANY;
                if (peek(p) == PT_LEFT_PAREN && !parse_grouping(p, &b->binary.include)) break;
            }
        }
        if (p->err) break;
        int rh = 0;
        b->binary.rhs = parse_expr(p, op == ST_PROMQL_POW ? prec : prec + 1, &rh);
        if (!b->binary.rhs) break;
        b->pos.end = b->binary.rhs->pos.end;
        b->type = b->binary.lhs->type == ST_PROMQL_TSCALAR && b->binary.rhs->type == ST_PROMQL_TSCALAR
                      ? ST_PROMQL_TSCALAR
                      : ST_PROMQL_TVECTOR;
        *h = (rh > *h ? rh : *h) + 1;
        if (too_high(p, *h, b->pos.start)) break;
    }
    p->depth--;
    return lhs;
}

/* ---- type checks (Prometheus's checkAST) -------------------------------- */

static st_promql_type_t check(parser_t *p, st_promql_expr_t *e);

static const char *doc_type(st_promql_type_t t) { return st_promql_type_name(t); }

/* ValueType's own names, as "subquery is only allowed ..." prints them. */
static const char *raw_type(st_promql_type_t t) {
    switch (t) {
    case ST_PROMQL_TSCALAR: return "scalar";
    case ST_PROMQL_TVECTOR: return "vector";
    case ST_PROMQL_TMATRIX: return "matrix";
    case ST_PROMQL_TSTRING: return "string";
    default: return "none";
    }
}

static void expect_type(parser_t *p, st_promql_expr_t *e, st_promql_type_t want, const char *ctx) {
    st_promql_type_t t = check(p, e);
    if (t != want) fail(p, e->pos.start, "expected type %s in %s, got %s", doc_type(want), ctx, doc_type(t));
}

static size_t op_start(const parser_t *p, const st_promql_expr_t *e) {
    size_t s = e->binary.lhs->pos.end;
    while (s < p->len && (p->in[s] == ' ' || p->in[s] == '\t' || p->in[s] == '\n' || p->in[s] == '\r')) s++;
    return s;
}

static void quote_into(char *out, size_t cap, const char *s) {
    st_encbuf_t q;
    st_encbuf_init(&q, 4096);
    st_put_go_quote(&q, s, strlen(s));
    snprintf(out, cap, "%.*s", q.err ? 0 : (int)q.len, q.p ? (const char *)q.p : "");
    st_encbuf_free(&q);
}

static st_promql_type_t check(parser_t *p, st_promql_expr_t *e) {
    char q1[300], q2[340];
    switch (e->kind) {
    case ST_PROMQL_AGGREGATE:
        expect_type(p, e->agg.expr, ST_PROMQL_TVECTOR, "aggregation expression");
        if (e->agg.op == ST_PROMQL_TOPK || e->agg.op == ST_PROMQL_BOTTOMK || e->agg.op == ST_PROMQL_QUANTILE)
            expect_type(p, e->agg.param, ST_PROMQL_TSCALAR, "aggregation parameter");
        if (e->agg.op == ST_PROMQL_COUNT_VALUES) expect_type(p, e->agg.param, ST_PROMQL_TSTRING, "aggregation parameter");
        break;
    case ST_PROMQL_BINARY: {
        st_promql_type_t lt = check(p, e->binary.lhs), rt = check(p, e->binary.rhs);
        st_promql_binop_t op = e->binary.op;
        bool cmp = st_promql_binop_is_comparison(op), set = st_promql_binop_is_set(op);
        if (e->binary.return_bool && !cmp) fail(p, op_start(p, e), "bool modifier can only be used on comparison operators");
        if (cmp && !e->binary.return_bool && e->binary.lhs->type == ST_PROMQL_TSCALAR &&
            e->binary.rhs->type == ST_PROMQL_TSCALAR)
            fail(p, op_start(p, e), "comparisons between scalars must use BOOL modifier");
        if (set && e->binary.card == ST_PROMQL_CARD_ONE_TO_ONE) e->binary.card = ST_PROMQL_CARD_MANY_TO_MANY;
        if (e->binary.on)
            for (size_t i = 0; i < e->binary.labels.n; i++)
                for (size_t j = 0; j < e->binary.include.n; j++)
                    if (strcmp(e->binary.labels.v[i], e->binary.include.v[j]) == 0) {
                        quote_into(q1, sizeof q1, e->binary.labels.v[i]);
                        fail(p, op_start(p, e), "label %s must not occur in ON and GROUP clause at once", q1);
                    }
        if (lt != ST_PROMQL_TSCALAR && lt != ST_PROMQL_TVECTOR)
            fail(p, e->binary.lhs->pos.start, "binary expression must contain only scalar and instant vector types");
        if (rt != ST_PROMQL_TSCALAR && rt != ST_PROMQL_TVECTOR)
            fail(p, e->binary.rhs->pos.start, "binary expression must contain only scalar and instant vector types");
        if (lt != ST_PROMQL_TVECTOR || rt != ST_PROMQL_TVECTOR) {
            if (e->binary.labels.n > 0) fail(p, e->pos.start, "vector matching only allowed between instant vectors");
            e->binary.matching = false;
        } else if (set) {
            if (e->binary.card == ST_PROMQL_CARD_ONE_TO_MANY || e->binary.card == ST_PROMQL_CARD_MANY_TO_ONE)
                fail(p, e->pos.start, "no grouping allowed for \"%s\" operation", st_promql_binop_name(op));
            if (e->binary.card != ST_PROMQL_CARD_MANY_TO_MANY)
                fail(p, e->pos.start, "set operations must always be many-to-many");
        }
        if ((lt == ST_PROMQL_TSCALAR || rt == ST_PROMQL_TSCALAR) && set)
            fail(p, e->pos.start, "set operator \"%s\" not allowed in binary scalar expression", st_promql_binop_name(op));
        break;
    }
    case ST_PROMQL_CALL: {
        const st_promql_func_t *f = e->call.func;
        size_t nargs = (size_t)f->nargs, n = e->call.nargs;
        quote_into(q1, sizeof q1, f->name);
        if (f->variadic == 0) {
            if (nargs != n)
                fail(p, e->pos.start, "expected %zu argument(s) in call to %s, got %zu", nargs, q1, n);
        } else {
            size_t na = nargs - 1;
            if (na > n)
                fail(p, e->pos.start, "expected at least %zu argument(s) in call to %s, got %zu", na, q1, n);
            else if (f->variadic > 0 && na + (size_t)f->variadic < n)
                fail(p, e->pos.start, "expected at most %zu argument(s) in call to %s, got %zu", na + (size_t)f->variadic,
                     q1, n);
        }
        snprintf(q2, sizeof q2, "call to function %s", q1);
        for (size_t i = 0; i < n; i++) {
            size_t k = i;
            if (k >= nargs) {
                if (f->variadic == 0) break;
                k = nargs - 1;
            }
            expect_type(p, e->call.args[i], f->arg_types[k], q2);
        }
        break;
    }
    case ST_PROMQL_PAREN: check(p, e->paren.expr); break;
    case ST_PROMQL_UNARY: {
        st_promql_type_t t = check(p, e->unary.expr);
        if (t != ST_PROMQL_TSCALAR && t != ST_PROMQL_TVECTOR)
            fail(p, e->pos.start, "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
                 doc_type(t));
        break;
    }
    case ST_PROMQL_SUBQUERY: {
        st_promql_type_t t = check(p, e->sq.expr);
        if (t != ST_PROMQL_TVECTOR)
            fail(p, e->pos.start, "subquery is only allowed on instant vector, got %s instead", raw_type(t));
        break;
    }
    case ST_PROMQL_MATRIX_SELECTOR: check(p, e->ms.vs); break;
    case ST_PROMQL_VECTOR_SELECTOR:
        if (e->vs.name[0]) {
            for (size_t i = 0; i + 1 < e->vs.matchers.n; i++) {
                const st_matcher_t *m = e->vs.matchers.v[i];
                if (strcmp(st_matcher_name(m), "__name__") == 0) {
                    quote_into(q1, sizeof q1, e->vs.name);
                    quote_into(q2, sizeof q2, st_matcher_value(m));
                    fail(p, e->pos.start, "metric name must not be set twice: %s or %s", q1, q2);
                }
            }
            break;
        }
        {
            bool selective = false;
            for (size_t i = 0; i < e->vs.matchers.n; i++) selective |= !st_matcher_matches_empty(e->vs.matchers.v[i]);
            if (!selective) fail(p, e->pos.start, "vector selector must contain at least one non-empty matcher");
        }
        break;
    default: break;
    }
    return e->type;
}

/* ---- entry points ------------------------------------------------------ */

static void parser_init(parser_t *p, const char *in, size_t len) {
    memset(p, 0, sizeof *p);
    p->in = in;
    p->len = len;
    pql_lex_init(&p->lx, in, len);
}

int st_promql_parse(st_promql_expr_t **out, const char *query, size_t len) {
    *out = NULL;
    if (len > ST_PROMQL_MAX_QUERY)
        return st_errorf(ST_ELIMIT, "promql: query of %zu bytes is longer than the limit of %u", len,
                         (unsigned)ST_PROMQL_MAX_QUERY);
    parser_t p;
    parser_init(&p, query, len);
    st_promql_expr_t *e = NULL;
    pql_tok_t t = peek(&p);
    if (!p.err && t == PT_EOF) fail(&p, 0, "no expression found in input");
    if (!p.err) {
        int h = 0;
        e = parse_expr(&p, PREC_OR, &h);
        if (!p.err && peek(&p) != PT_EOF) unexpected(&p, NULL, NULL);
    }
    if (!p.err) check(&p, e);
    if (p.err) {
        st_promql_expr_free(e);
        return p.err;
    }
    *out = e;
    return ST_OK;
}

int pql_parse_metric_selector(const char *in, size_t len, st_matchers_t *out, size_t *sel_pos) {
    out->v = NULL;
    out->n = 0;
    parser_t p;
    parser_init(&p, in, len);
    st_promql_expr_t *e = NULL;
    pql_tok_t t = peek(&p);
    *sel_pos = p.la.pos;
    if (!p.err) {
        if (t == PT_LEFT_BRACE) {
            e = parse_vector_selector(&p, NULL);
        } else if (is_metric_identifier(t)) {
            pql_item_t name = consume(&p);
            e = parse_vector_selector(&p, &name);
        } else {
            unexpected(&p, NULL, NULL);
        }
    }
    if (!p.err && peek(&p) != PT_EOF) unexpected(&p, NULL, NULL);
    if (!p.err) {
        *out = e->vs.matchers;
        e->vs.matchers.v = NULL;
        e->vs.matchers.n = 0;
    }
    st_promql_expr_free(e);
    return p.err;
}
