/* Label matchers (RE2-compatible anchoring and newline rules on PCRE2) and
 * the series selector parser. Error texts and positions of the selector
 * rows are those promtool 2.42 prints for `tsdb dump --match=SELECTOR`. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/matcher.h"

static bool match(st_match_type_t t, const char *re, const char *v, size_t len) {
    st_matcher_t *m;
    assert_int_equal(st_matcher_new(&m, t, "l", re), 0);
    bool r = st_matcher_matches(m, v, len);
    st_matcher_free(m);
    return r;
}

static void test_regex_semantics(void **state) {
    (void)state;
    static const struct { const char *re, *v; bool want; } cases[] = {
        {"a.*", "abc", true},
        {"a.*", "ba", false},        /* anchored at the start */
        {"a", "ab", false},          /* ... and at the end */
        {"a|b", "a", true},
        {"a|b", "ab", false},        /* alternation inside the anchors */
        {"a|b", "b", true},
        {"(?i)foo", "FoO", true},
        {"(?i)straße", "STRASSE", false},
        {"(?i)é", "É", true},
        {"foo", "FOO", false},
        {".*", "", true},
        {".*", "a\nb", false},       /* dot does not match newline */
        {".+", "", false},
        {".+", "x", true},
        {".+", "\n", false},
        {"(?s:.*)", "a\nb", true},
        {"(?s).+", "\n", true},
        {"(?s:.+)", "", false},
        {"a.b", "a\nb", false},
        {"(?s)a.b", "a\nb", true},
        {"[^x]", "\n", true},        /* negated classes do match newline */
        {"a$", "a\n", false},        /* $ is end of text, not before a final \n */
        {"a\n", "a\n", true},
        {"(?m)a$\n", "a\n", true},
        {"(?m)a\n^", "a\n", true},   /* (?m)^ after a trailing newline */
        {"", "", true},
        {"", "x", false},
        {"abc", "abc", true},        /* literal fast path */
        {"abc", "abcd", false},
        {"a\\.c", "a.c", true},
        {"a\\.c", "abc", false},
        {"\\d+", "123", true},
        {"\\d+", "12a", false},
        {"\\w+", "\xc3\xa9", false}, /* \w is ASCII-only, as in RE2 */
        {"\\pL+", "\xc3\xa9t\xc3\xa9", true},
        {"é.", "éé", true},          /* dot is one code point */
        {"caf.", "caf\xff", false},  /* invalid UTF-8 in a value: no crash, no match */
        {"foo|bar|baz", "bar", true},
        {"x{2,3}", "xxx", true},
        {"x{2,3}", "xxxx", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = match(ST_MATCH_RE, cases[i].re, cases[i].v, strlen(cases[i].v));
        if (got != cases[i].want) {
            fprintf(stderr, "row %zu: /%s/ on \"%s\": got %d\n", i, cases[i].re, cases[i].v, got);
            fail();
        }
        assert_int_equal(match(ST_MATCH_NRE, cases[i].re, cases[i].v, strlen(cases[i].v)), !cases[i].want);
    }
}

static void test_eq_neq_and_accessors(void **state) {
    (void)state;
    st_matcher_t *m;
    assert_int_equal(st_matcher_new(&m, ST_MATCH_EQ, "job", "api"), 0);
    assert_true(st_matcher_matches(m, "api", 3));
    assert_false(st_matcher_matches(m, "ap", 2));
    assert_false(st_matcher_matches(m, "apix", 4));
    assert_false(st_matcher_matches_empty(m));
    assert_int_equal(st_matcher_type(m), ST_MATCH_EQ);
    assert_string_equal(st_matcher_name(m), "job");
    assert_string_equal(st_matcher_value(m), "api");
    st_matcher_free(m);
    assert_int_equal(st_matcher_new(&m, ST_MATCH_NEQ, "job", "api"), 0);
    assert_false(st_matcher_matches(m, "api", 3));
    assert_true(st_matcher_matches(m, "", 0));
    assert_true(st_matcher_matches_empty(m));
    st_matcher_free(m);
    assert_int_equal(st_matcher_new(&m, ST_MATCH_EQ, "job", ""), 0);
    assert_true(st_matcher_matches_empty(m));
    st_matcher_free(m);
    assert_int_equal(st_matcher_new(&m, ST_MATCH_RE, "job", "a|"), 0);
    assert_true(st_matcher_matches_empty(m));
    st_matcher_free(m);
    assert_int_equal(st_matcher_new(&m, ST_MATCH_NRE, "job", ".*"), 0);
    assert_false(st_matcher_matches_empty(m));
    assert_true(st_matcher_matches(m, "a\nb", 3));
    st_matcher_free(m);
    st_matcher_free(NULL);
    st_matchers_free(NULL);
}

static void test_bad_regex(void **state) {
    (void)state;
    static const struct { const char *re; const char *offset; } cases[] = {
        {"(", "offset 1"},
        {"a[", "offset 2"},
        {"*a", "offset 0"},
        {"\\C", "offset"},            /* \C (one byte) is refused, as in RE2 */
        {"ok\xff", "offset"},         /* pattern must be UTF-8 */
        {"a)|(b", "offset 1"},        /* balanced only inside ^(?:...)$: Prometheus refuses it too */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_matcher_t *m = (st_matcher_t *)1;
        int rc = st_matcher_new(&m, ST_MATCH_RE, "lbl", cases[i].re);
        assert_int_equal(rc, ST_EINVAL);
        assert_null(m);
        const char *d = st_errdetail(rc);
        assert_non_null(strstr(d, "matcher lbl: invalid regex"));
        assert_non_null(strstr(d, cases[i].offset));
        /* the literal fast path must not skip validation */
        assert_int_equal(st_matcher_new(&m, ST_MATCH_NRE, "lbl", cases[i].re), ST_EINVAL);
    }
    st_matcher_t *m;
    assert_int_equal(st_matcher_new(&m, (st_match_type_t)7, "l", "v"), ST_EINVAL);
}

/* Matchers are shared by query threads: match concurrently. */
static void *hammer(void *arg) {
    const st_matcher_t *m = arg;
    for (int i = 0; i < 2000; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "host-%d.example", i);
        if (!st_matcher_matches(m, v, (size_t)n)) return (void *)1;
        if (st_matcher_matches(m, "other", 5)) return (void *)1;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    st_matcher_t *m;
    assert_int_equal(st_matcher_new(&m, ST_MATCH_RE, "instance", "host-[0-9]+\\.(example|test)"), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, hammer, m), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    st_matcher_free(m);
}

typedef struct { st_match_type_t t; const char *name, *value; } want_t;

static void check_selector(const char *sel, const want_t *want, size_t n) {
    st_matchers_t ms;
    int rc = st_selector_parse(&ms, sel);
    if (rc) fprintf(stderr, "%s: %s\n", sel, st_errdetail(rc));
    assert_int_equal(rc, 0);
    assert_int_equal(ms.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(st_matcher_type(ms.v[i]), want[i].t);
        assert_string_equal(st_matcher_name(ms.v[i]), want[i].name);
        assert_string_equal(st_matcher_value(ms.v[i]), want[i].value);
    }
    st_matchers_free(&ms);
    assert_null(ms.v);
    assert_int_equal(ms.n, 0);
}

static void test_selector_ok(void **state) {
    (void)state;
    check_selector("up", (want_t[]){{ST_MATCH_EQ, "__name__", "up"}}, 1);
    check_selector("  foo:bar_total \n", (want_t[]){{ST_MATCH_EQ, "__name__", "foo:bar_total"}}, 1);
    check_selector("sum", (want_t[]){{ST_MATCH_EQ, "__name__", "sum"}}, 1);
    check_selector("OFFSET{}", (want_t[]){{ST_MATCH_EQ, "__name__", "OFFSET"}}, 1);
    check_selector("{__name__=\"x\"}", (want_t[]){{ST_MATCH_EQ, "__name__", "x"}}, 1);
    /* the name from outside the braces comes last, as in Prometheus */
    check_selector("a{__name__=\"b\"}", (want_t[]){{ST_MATCH_EQ, "__name__", "b"}, {ST_MATCH_EQ, "__name__", "a"}}, 2);
    check_selector("x{a=\"1\", b!=\"2\", c=~\"3\", d!~\"4\",}",
                   (want_t[]){{ST_MATCH_EQ, "a", "1"},
                              {ST_MATCH_NEQ, "b", "2"},
                              {ST_MATCH_RE, "c", "3"},
                              {ST_MATCH_NRE, "d", "4"},
                              {ST_MATCH_EQ, "__name__", "x"}},
                   5);
    check_selector("{by='x', on=`y\\n`} # comment", (want_t[]){{ST_MATCH_EQ, "by", "x"}, {ST_MATCH_EQ, "on", "y\\n"}}, 2);
    check_selector("{a=\"\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\"}", (want_t[]){{ST_MATCH_EQ, "a", "\a\b\f\n\r\t\v\\\""}}, 1);
    check_selector("{a='\\''}", (want_t[]){{ST_MATCH_EQ, "a", "'"}}, 1);
    check_selector("{a=\"\\x41\\101\\u00e9\\U0001F600\"}", (want_t[]){{ST_MATCH_EQ, "a", "AA\xc3\xa9\xf0\x9f\x98\x80"}}, 1);
    check_selector("{a=\"\\xff\"}", (want_t[]){{ST_MATCH_EQ, "a", "\xff"}}, 1);
    check_selector("{a=`multi\nline`}", (want_t[]){{ST_MATCH_EQ, "a", "multi\nline"}}, 1);
    check_selector("{a=\"\", b=~\".+\"}", (want_t[]){{ST_MATCH_EQ, "a", ""}, {ST_MATCH_RE, "b", ".+"}}, 2);
}

static void test_selector_errors(void **state) {
    (void)state;
    static const struct { const char *sel, *err; } cases[] = {
        {"", "1:1: parse error: unexpected end of input"},
        {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"  {a=\"\"}", "1:3: parse error: vector selector must contain at least one non-empty matcher"},
        {"{a=~\".*\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
        {"{a}", "1:3: parse error: unexpected \"}\" in label matching, expected label matching operator"},
        {"{a=}", "1:4: parse error: unexpected \"}\" in label matching, expected string"},
        {"{a=\"b\"", "1:7: parse error: unexpected end of input inside braces"},
        {"{a=\"b\",,}", "1:8: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
        {"{,}", "1:2: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
        {"foo{a=\"b\" c=\"d\"}", "1:11: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\""},
        {"{a=\"\\q\"}", "1:4: parse error: unknown escape sequence U+0071 'q'"},
        {"on", "1:1: parse error: unexpected <on>"},
        {"foo}", "1:4: parse error: unexpected character: '}'"},
        {"{a=\"b\"}x", "1:8: parse error: unexpected identifier \"x\""},
        {"a{b!x\"c\"}", "1:4: parse error: unexpected character after '!' inside braces: 'x'"},
        {"{a='\\\"'}", "1:4: parse error: unknown escape sequence U+0022 '\"'"},
        {"{a=\"\\xZZ\"}", "1:4: parse error: illegal character U+005A 'Z' in escape sequence"},
        {"{a=\"\\400\"}", "1:4: parse error: escape sequence is an invalid Unicode code point"},
        {"{a=\"\\uD800\"}", "1:4: parse error: escape sequence is an invalid Unicode code point"},
        {"{a=\"\\x4", "1:4: parse error: escape sequence not terminated"},
        {"1", "1:1: parse error: unexpected number \"1\""},
        {"{a=\"b\"}[5m]", "1:8: parse error: unexpected \"[\""},
        {"  \n {a=\"b\",", "2:9: parse error: unexpected end of input inside braces"},
        {"foo=~", "1:4: parse error: unexpected character after '=': '~'"},
        {"foo $", "1:5: parse error: unexpected character: '$'"},
        {"{a=\"abc", "1:4: parse error: unterminated quoted string"},
        {"{a=\"a\nb\"}", "1:4: parse error: unterminated quoted string"},
        {"{a=`abc", "1:4: parse error: unterminated raw string"},
        {"{a=\"\xff\"}", "1:4: parse error: invalid UTF-8 rune"},
        {"{a=\"\xef\xbf\xbd\"}", "1:4: parse error: invalid UTF-8 rune"},
        {"{a:b=\"c\"}", "1:3: parse error: unexpected character inside braces: ':'"},
        {"{{", "1:2: parse error: unexpected left brace '{'"},
        {"{a=\"\\x00\"}", "1:4: parse error: NUL bytes in strings are not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_matchers_t ms = {(st_matcher_t **)1, 1};
        int rc = st_selector_parse(&ms, cases[i].sel);
        assert_int_equal(rc, ST_EINVAL);
        assert_null(ms.v);
        assert_int_equal(ms.n, 0);
        if (strcmp(st_errdetail(rc), cases[i].err) != 0) {
            fprintf(stderr, "selector %s\n got: %s\nwant: %s\n", cases[i].sel, st_errdetail(rc), cases[i].err);
            fail();
        }
    }
    /* a bad regex is reported at its label, with PCRE2's words */
    st_matchers_t ms;
    int rc = st_selector_parse(&ms, "foo{a=~\"(\"}");
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "1:5: parse error: matcher a: invalid regex \"(\" at offset 1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_semantics),
        cmocka_unit_test(test_eq_neq_and_accessors),
        cmocka_unit_test(test_bad_regex),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_selector_ok),
        cmocka_unit_test(test_selector_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
