/* The PromQL parser and printer.
 *
 * cases.jsonl (next to this file) holds what real Prometheus 2.42 answered
 * for each query (collect_oracle.py; tests/integration/promql re-checks it
 * against a live Prometheus): its canonical text, or its parse error. Every
 * case must match exactly, except the few listed in known_divergences.
 * Valid queries must also survive print -> parse -> print unchanged. The
 * printer rows below are the expectations of Prometheus 2.42's
 * promql/parser/printer_test.go (TestExprString), checked by hand. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/promql.h"

/* Regex errors come from PCRE2 (labels/regex.c), not Go's regexp: same
 * position, other wording. */
static const char *const known_divergences[] = {
    "foo{a=~\"(\"}",
    "foo{a=~\"[a-\"}",
    "foo{a=~\"a)|(b\"}",
    "foo{a=\"b\",\n  c=~\"(\"}",
};

static char *format(const st_promql_expr_t *e) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_promql_format(&b, e);
    st_put_u8(&b, 0);
    assert_int_equal(b.err, 0);
    return (char *)b.p;
}

/* Go's JSON encoding turns invalid UTF-8 into U+FFFD; compare alike. */
static char *json_like(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(n * 3 + 1), *w = o;
    assert_non_null(o);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok) {
            memcpy(w, s + i, len);
            w += len;
            i += len;
        } else {
            memcpy(w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        }
    }
    *w = 0;
    return o;
}

static void check_round_trip(const char *q, size_t qlen, const st_promql_expr_t *e) {
    char *s1 = format(e);
    st_promql_expr_t *e2;
    int rc = st_promql_parse(&e2, s1, strlen(s1));
    if (rc) fail_msg("%s: printed as %s, which does not parse: %s", q, s1, st_errdetail(rc));
    (void)qlen;
    if (!st_promql_expr_equal(e, e2)) fail_msg("%s: printed as %s, which parses differently", q, s1);
    char *s2 = format(e2);
    if (strcmp(s1, s2) != 0) fail_msg("%s: printed as %s, reprinted as %s", q, s1, s2);
    free(s2);
    st_promql_expr_free(e2);
    free(s1);
}

static char *cases_path(void) {
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    size_t dir = slash ? (size_t)(slash - f) + 1 : 0;
    char *p = malloc(dir + 32);
    assert_non_null(p);
    memcpy(p, f, dir);
    strcpy(p + dir, "cases.jsonl");
    return p;
}

static int unhex(const char *s, char *out) {
    size_t n = strlen(s);
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1) return -1;
        out[i / 2] = (char)v;
    }
    return (int)(n / 2);
}

static void test_oracle_table(void **state) {
    (void)state;
    char *path = cases_path();
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0, total = 0, valid = 0, errors = 0, exact_err = 0, pos_err = 0, divergent = 0, failures = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t jerr;
        json_t *c = json_loads(line, JSON_ALLOW_NUL, &jerr);
        if (!c) fail_msg("%s: bad line: %s", path, jerr.text);
        char *q;
        size_t qlen;
        json_t *jq = json_object_get(c, "query");
        if (jq) {
            qlen = json_string_length(jq);
            q = malloc(qlen + 1);
            assert_non_null(q);
            memcpy(q, json_string_value(jq), qlen + 1);
        } else {
            const char *hex = json_string_value(json_object_get(c, "query_hex"));
            assert_non_null(hex);
            q = malloc(strlen(hex) / 2 + 1);
            assert_non_null(q);
            qlen = (size_t)unhex(hex, q);
            q[qlen] = 0;
        }
        bool want_ok = json_is_true(json_object_get(c, "ok"));
        const char *want = json_string_value(json_object_get(c, "want"));
        assert_non_null(want);
        bool known = false;
        for (size_t i = 0; i < sizeof known_divergences / sizeof known_divergences[0]; i++)
            known |= strcmp(q, known_divergences[i]) == 0;
        total++;
        st_promql_expr_t *e = NULL;
        int rc = st_promql_parse(&e, q, qlen);
        if (want_ok) {
            valid++;
            if (rc) {
                failures++;
                fprintf(stderr, "FAIL %s\n  want ok: %s\n  got error: %s\n", q, want, st_errdetail(rc));
            } else {
                char *got = format(e);
                /* longer than 100 characters: Prometheus answered its pretty (multi-line) form */
                if (!strchr(want, '\n') && strcmp(got, want) != 0) {
                    failures++;
                    fprintf(stderr, "FAIL %s\n  want: %s\n  got:  %s\n", q, want, got);
                }
                free(got);
                check_round_trip(q, qlen, e);
            }
        } else {
            errors++;
            if (rc == 0) {
                if (known) {
                    divergent++;
                } else {
                    failures++;
                    char *got = format(e);
                    fprintf(stderr, "FAIL %s\n  want error: %s\n  got ok: %s\n", q, want, got);
                    free(got);
                }
            } else {
                char *got = json_like(st_errdetail(rc));
                const char *wc = strchr(want, ' '), *gc = strchr(got, ' ');
                bool pos = wc && gc && wc - want == gc - got && memcmp(want, got, (size_t)(wc - want)) == 0;
                pos_err += pos;
                exact_err += strcmp(got, want) == 0;
                if (strcmp(got, want) != 0) {
                    if (known && pos) {
                        divergent++;
                    } else {
                        failures++;
                        fprintf(stderr, "FAIL %s\n  want: %s\n  got:  %s\n", q, want, got);
                    }
                }
                free(got);
            }
        }
        st_promql_expr_free(e);
        free(q);
        json_decref(c);
    }
    free(line);
    fclose(f);
    free(path);
    fprintf(stderr, "cases: %zu (%zu valid, %zu errors); error text exact %zu/%zu, position %zu/%zu; "
                    "known divergences %zu; failures %zu\n",
            total, valid, errors, exact_err, errors, pos_err, errors, divergent, failures);
    assert_true(total >= 300);
    assert_int_equal(failures, 0);
}

static void test_printer_facts(void **state) {
    (void)state;
    static const struct { const char *in, *out; } rows[] = {
        {"sum by() (task:errors:rate10s{job=\"s\"})", "sum(task:errors:rate10s{job=\"s\"})"},
        {"sum by(code) (task:errors:rate10s{job=\"s\"})", "sum by (code) (task:errors:rate10s{job=\"s\"})"},
        {"sum without() (task:errors:rate10s{job=\"s\"})", "sum without () (task:errors:rate10s{job=\"s\"})"},
        {"sum without(instance) (task:errors:rate10s{job=\"s\"})",
         "sum without (instance) (task:errors:rate10s{job=\"s\"})"},
        {"topk(5, task:errors:rate10s{job=\"s\"})", NULL},
        {"count_values(\"value\", task:errors:rate10s{job=\"s\"})", NULL},
        {"a - on() c", "a - on () c"},
        {"a - on(b) c", "a - on (b) c"},
        {"a - on(b) group_left(x) c", "a - on (b) group_left (x) c"},
        {"a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"},
        {"a - on(b) group_left c", "a - on (b) group_left () c"},
        {"a - on(b) group_left() (c)", "a - on (b) group_left () (c)"},
        {"a - ignoring(b) c", "a - ignoring (b) c"},
        {"a - ignoring() c", "a - c"},
        {"up > bool 0", NULL},
        {"a offset 1m", NULL},
        {"a offset -7m", NULL},
        {"a{c=\"d\"}[5m] offset 1m", NULL},
        {"a[5m] offset 1m", NULL},
        {"a[12m] offset -3m", NULL},
        {"a[1h:5m] offset 1m", NULL},
        {"{__name__=\"a\"}", NULL},
        {"a{b!=\"c\"}[1m]", NULL},
        {"a{b=~\"c\"}[1m]", NULL},
        {"a{b!~\"c\"}[1m]", NULL},
        {"a @ 10", "a @ 10.000"},
        {"a[1m] @ 10", "a[1m] @ 10.000"},
        {"a @ start()", NULL},
        {"a @ end()", NULL},
        {"a[1m] @ start()", NULL},
        {"a[1m] @ end()", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        st_promql_expr_t *e;
        int rc = st_promql_parse(&e, rows[i].in, strlen(rows[i].in));
        if (rc) fail_msg("%s: %s", rows[i].in, st_errdetail(rc));
        char *got = format(e);
        const char *want = rows[i].out ? rows[i].out : rows[i].in;
        if (strcmp(got, want) != 0) fail_msg("%s: printed %s, want %s", rows[i].in, got, want);
        free(got);
        st_promql_expr_free(e);
    }
}

static st_promql_expr_t *parse_ok(const char *q) {
    st_promql_expr_t *e;
    int rc = st_promql_parse(&e, q, strlen(q));
    if (rc) fail_msg("%s: %s", q, st_errdetail(rc));
    return e;
}

static void test_ast_shape(void **state) {
    (void)state;
    st_promql_expr_t *e = parse_ok("1 + 2 * 3 ^ 4 ^ 5");
    assert_int_equal(e->kind, ST_PROMQL_BINARY);
    assert_int_equal(e->type, ST_PROMQL_TSCALAR);
    assert_int_equal(e->binary.op, ST_PROMQL_ADD);
    const st_promql_expr_t *mul = e->binary.rhs;
    assert_int_equal(mul->binary.op, ST_PROMQL_MUL);
    const st_promql_expr_t *pow = mul->binary.rhs;
    assert_int_equal(pow->binary.op, ST_PROMQL_POW);
    assert_int_equal(pow->binary.lhs->kind, ST_PROMQL_NUMBER);
    assert_int_equal(pow->binary.rhs->binary.op, ST_PROMQL_POW); /* right-assoc */
    assert_int_equal(e->pos.start, 0);
    assert_int_equal(e->pos.end, 17);
    st_promql_expr_free(e);

    e = parse_ok("-a ^ b - c");
    assert_int_equal(e->binary.op, ST_PROMQL_SUB);
    assert_int_equal(e->binary.lhs->kind, ST_PROMQL_UNARY);
    assert_int_equal(e->binary.lhs->unary.expr->binary.op, ST_PROMQL_POW);
    st_promql_expr_free(e);

    e = parse_ok("sum without (a, b) (rate(x:y{j=~\"a|b\", k!=\"v\"}[1h30m] offset -5m @ 12.5))");
    assert_int_equal(e->kind, ST_PROMQL_AGGREGATE);
    assert_int_equal(e->agg.op, ST_PROMQL_SUM);
    assert_true(e->agg.without);
    assert_int_equal(e->agg.grouping.n, 2);
    assert_string_equal(e->agg.grouping.v[1], "b");
    const st_promql_expr_t *call = e->agg.expr;
    assert_int_equal(call->kind, ST_PROMQL_CALL);
    assert_string_equal(call->call.func->name, "rate");
    assert_int_equal(call->type, ST_PROMQL_TVECTOR);
    const st_promql_expr_t *ms = call->call.args[0];
    assert_int_equal(ms->kind, ST_PROMQL_MATRIX_SELECTOR);
    assert_int_equal(ms->type, ST_PROMQL_TMATRIX);
    assert_int_equal(ms->ms.range_ms, 90 * 60 * 1000);
    const st_promql_expr_t *vs = ms->ms.vs;
    assert_string_equal(vs->vs.name, "x:y");
    assert_int_equal(vs->vs.offset_ms, -5 * 60 * 1000);
    assert_int_equal(vs->vs.at, ST_PROMQL_AT_TIME);
    assert_int_equal(vs->vs.at_ms, 12500);
    assert_int_equal(vs->vs.matchers.n, 3); /* braced ones, then the name */
    assert_string_equal(st_matcher_name(vs->vs.matchers.v[0]), "j");
    assert_int_equal(st_matcher_type(vs->vs.matchers.v[0]), ST_MATCH_RE);
    assert_string_equal(st_matcher_name(vs->vs.matchers.v[2]), "__name__");
    assert_string_equal(st_matcher_value(vs->vs.matchers.v[2]), "x:y");
    st_promql_expr_free(e);

    e = parse_ok("a * on(b) group_right(c) d and e");
    assert_int_equal(e->binary.op, ST_PROMQL_LAND);
    assert_int_equal(e->binary.card, ST_PROMQL_CARD_MANY_TO_MANY);
    assert_int_equal(e->binary.lhs->binary.card, ST_PROMQL_CARD_ONE_TO_MANY);
    assert_true(e->binary.lhs->binary.on);
    assert_string_equal(e->binary.lhs->binary.include.v[0], "c");
    st_promql_expr_free(e);

    e = parse_ok("label_replace(x, \"a\\x00b\", `c`, \"d\", \".*\")[5m:]");
    assert_int_equal(e->kind, ST_PROMQL_SUBQUERY);
    assert_int_equal(e->sq.step_ms, 0);
    const st_promql_expr_t *s = e->sq.expr->call.args[1];
    assert_int_equal(s->kind, ST_PROMQL_STRING);
    assert_int_equal(s->string.len, 3);
    assert_memory_equal(s->string.v, "a\0b", 3);
    st_promql_expr_free(e);

    /* positions are bytes, errors are 1-based line:column */
    int rc = st_promql_parse(&e, "foo +\n  bar baz", 15);
    assert_int_equal(rc, ST_EINVAL);
    assert_string_equal(st_errdetail(rc), "2:7: parse error: unexpected identifier \"baz\"");
    /* not NUL-terminated input */
    rc = st_promql_parse(&e, "up{a=\"b\"}xyz", 9);
    assert_int_equal(rc, 0);
    st_promql_expr_free(e);
}

static void test_function_table(void **state) {
    (void)state;
    size_t n;
    const st_promql_func_t *f = st_promql_funcs(&n);
    assert_int_equal(n, 70); /* Prometheus 2.42's functions.go */
    for (size_t i = 0; i + 1 < n; i++) assert_true(strcmp(f[i].name, f[i + 1].name) < 0);
    for (size_t i = 0; i < n; i++) assert_ptr_equal(st_promql_func_lookup(f[i].name, strlen(f[i].name)), &f[i]);
    assert_null(st_promql_func_lookup("rat", 3));
    assert_null(st_promql_func_lookup("rates", 5));
    const st_promql_func_t *lj = st_promql_func_lookup("label_join", 10);
    assert_int_equal(lj->variadic, -1);
    assert_int_equal(lj->nargs, 4);
    const st_promql_func_t *r = st_promql_func_lookup("round", 5);
    assert_int_equal(r->variadic, 1);
    assert_int_equal(st_promql_func_lookup("time", 4)->ret, ST_PROMQL_TSCALAR);
}

static char *repeat(const char *a, size_t n, const char *mid, const char *b) {
    size_t la = strlen(a), lm = strlen(mid), lb = strlen(b);
    char *s = malloc(n * (la + lb) + lm + 1), *w = s;
    assert_non_null(s);
    for (size_t i = 0; i < n; i++, w += la) memcpy(w, a, la);
    memcpy(w, mid, lm);
    w += lm;
    for (size_t i = 0; i < n; i++, w += lb) memcpy(w, b, lb);
    *w = 0;
    return s;
}

static void test_limits(void **state) {
    (void)state;
    st_promql_expr_t *e;
    char *q = repeat("(", 300, "1", ")");
    assert_int_equal(st_promql_parse(&e, q, strlen(q)), 0);
    st_promql_expr_free(e);
    free(q);
    static const struct { const char *a, *mid, *b; size_t n; } deep[] = {
        {"(", "1", ")", 1000}, {"(", "1", "", 100000}, {"-", "foo", "", 5000}, {"", "1", "+1", 5000},
        {"", "2", "^2", 5000}, {"sum(", "x", ")", 2000}, {"", "x", "[1m:]", 5000}, {"abs(", "x", ")", 3000},
        {"{", "", "", 100000}, {"[", "", "", 3},
    };
    for (size_t i = 0; i < sizeof deep / sizeof deep[0]; i++) {
        q = repeat(deep[i].a, deep[i].n, deep[i].mid, deep[i].b);
        int rc = st_promql_parse(&e, q, strlen(q));
        assert_null(e);
        assert_true(rc == ST_ELIMIT || rc == ST_EINVAL);
        if (i < 8) assert_int_equal(rc, ST_ELIMIT);
        free(q);
    }
    size_t big = ST_PROMQL_MAX_QUERY + 1;
    q = malloc(big);
    assert_non_null(q);
    memset(q, ' ', big);
    q[0] = '1';
    assert_int_equal(st_promql_parse(&e, q, big), ST_ELIMIT);
    assert_int_equal(st_promql_parse(&e, q, big - 1), 0);
    st_promql_expr_free(e);
    free(q);
    st_promql_expr_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_table),
        cmocka_unit_test(test_printer_facts),
        cmocka_unit_test(test_ast_shape),
        cmocka_unit_test(test_function_table),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
