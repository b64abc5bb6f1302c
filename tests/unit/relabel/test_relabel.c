/* Relabeling: table cases mirroring the behaviour Prometheus 2.42 documents
 * for each action (defaults, anchoring, expansion, hashmod values), and the
 * validation errors of its Config.Validate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/buf.h"
#include "strata/err.h"
#include "strata/relabel.h"
#include "strata/textfmt.h"

#define MAXL 16
#define MAXR 4

typedef struct {
    const char *src[4];
    const char *separator, *regex, *target, *replacement;
    uint64_t modulus;
    st_relabel_action_t action;
} rule_def_t;

typedef struct {
    const char *name;
    const char *in;   /* "a=foo,b=bar" */
    rule_def_t rules[MAXR];
    size_t nrules;
    const char *want; /* Go labels.String() of the result, or NULL for dropped */
} case_t;

/* "a=foo,b=bar" -> pairs; values are taken up to the next ',' (none contain one). */
static size_t parse_pairs(const char *s, char *buf, st_label_t *out) {
    size_t n = 0;
    strcpy(buf, s);
    for (char *p = buf; *p;) {
        char *eq = strchr(p, '=');
        assert_non_null(eq);
        *eq = 0;
        char *v = eq + 1;
        char *end = strchr(v, ',');
        if (end) *end = 0;
        out[n++] = st_label(p, v);
        if (!end) break;
        p = end + 1;
    }
    return n;
}

static void build_specs(const case_t *c, st_relabel_spec_t *specs) {
    for (size_t i = 0; i < c->nrules; i++) {
        const rule_def_t *d = &c->rules[i];
        size_t ns = 0;
        while (ns < 4 && d->src[ns]) ns++;
        specs[i] = (st_relabel_spec_t){
            .source_labels = d->src, .n_source_labels = ns, .separator = d->separator, .regex = d->regex,
            .target_label = d->target, .replacement = d->replacement, .modulus = d->modulus, .action = d->action,
        };
    }
}

static const case_t cases[] = {
    {"replace with template", "a=foo,b=bar,c=baz",
     {{.src = {"a"}, .regex = "f(.*)", .target = "d", .replacement = "ch${1}-ch${1}"}}, 1,
     "{a=\"foo\", b=\"bar\", c=\"baz\", d=\"choo-choo\"}"},
    {"replace joins with separator", "a=foo,b=bar,c=baz",
     {{.src = {"a", "b"}, .regex = "f(.*);(.*)r", .target = "a", .replacement = "b${1}${2}m"}}, 1,
     "{a=\"boobam\", b=\"bar\", c=\"baz\"}"},
    {"replace custom separator and missing source", "a=foo",
     {{.src = {"a", "zz", "a"}, .separator = "|", .regex = "(.*)", .target = "j"}}, 1,
     "{a=\"foo\", j=\"foo||foo\"}"},
    {"regex is anchored: partial match does nothing", "a=foo,b=bar",
     {{.src = {"a"}, .regex = "o", .target = "x", .replacement = "y"}}, 1, "{a=\"foo\", b=\"bar\"}"},
    {"defaults copy a label", "__address__=h:1",
     {{.src = {"__address__"}, .target = "instance"}}, 1, "{__address__=\"h:1\", instance=\"h:1\"}"},
    {"empty replacement deletes the target", "a=foo,b=bar",
     {{.src = {"missing"}, .target = "a"}}, 1, "{b=\"bar\"}"},
    {"target from template", "a=foo,b=some-bar",
     {{.src = {"b"}, .regex = "some-([^-]+)", .target = "${1}_x", .replacement = "v"}}, 1,
     "{a=\"foo\", b=\"some-bar\", bar_x=\"v\"}"},
    {"invalid expanded target leaves the set unchanged", "a=1x",
     {{.src = {"a"}, .regex = "(.*)", .target = "$1", .replacement = "v"}}, 1, "{a=\"1x\"}"},
    {"$1x names group 1x: empty", "a=foo",
     {{.src = {"a"}, .regex = "(f)oo", .target = "b", .replacement = "$1x|${1}x|$$1|$"}}, 1,
     "{a=\"foo\", b=\"|fx|$1|$\"}"},
    {"named groups", "a=foo-bar",
     {{.src = {"a"}, .regex = "(?P<first>[a-z]+)-(?<second>[a-z]+)", .target = "b", .replacement = "$second.${first}"}},
     1, "{a=\"foo-bar\", b=\"bar.foo\"}"},
    {"unmatched optional group expands empty", "a=foo",
     {{.src = {"a"}, .regex = "(x)?(foo)", .target = "b", .replacement = "[$1][$2][$3]"}}, 1,
     "{a=\"foo\", b=\"[][foo][]\"}"},
    {"drop matching", "a=foo,b=bar", {{.src = {"a"}, .regex = "f.*", .action = ST_RELABEL_DROP}}, 1, NULL},
    {"drop not matching", "a=foo,b=bar", {{.src = {"a"}, .regex = "x.*", .action = ST_RELABEL_DROP}}, 1,
     "{a=\"foo\", b=\"bar\"}"},
    {"keep not matching", "a=foo", {{.src = {"a"}, .regex = "bar", .action = ST_RELABEL_KEEP}}, 1, NULL},
    {"keep missing label matches empty regex", "a=foo", {{.src = {"b"}, .regex = "", .action = ST_RELABEL_KEEP}}, 1,
     "{a=\"foo\"}"},
    {"keep default regex rejects a newline", "a=x\ny", {{.src = {"a"}, .action = ST_RELABEL_KEEP}}, 1, NULL},
    {"keepequal", "a=foo,b=foo", {{.src = {"a"}, .target = "b", .action = ST_RELABEL_KEEPEQUAL}}, 1,
     "{a=\"foo\", b=\"foo\"}"},
    {"keepequal differs", "a=foo,b=bar", {{.src = {"a"}, .target = "b", .action = ST_RELABEL_KEEPEQUAL}}, 1, NULL},
    {"dropequal", "a=foo,b=foo", {{.src = {"a"}, .target = "b", .action = ST_RELABEL_DROPEQUAL}}, 1, NULL},
    {"hashmod", "a=foo,b=bar,c=baz",
     {{.src = {"c"}, .target = "d", .modulus = 1000, .action = ST_RELABEL_HASHMOD}}, 1,
     "{a=\"foo\", b=\"bar\", c=\"baz\", d=\"976\"}"},
    {"hashmod of joined values", "b=bar,c=baz",
     {{.src = {"b", "c"}, .target = "shard", .modulus = 10, .action = ST_RELABEL_HASHMOD}}, 1,
     "{b=\"bar\", c=\"baz\", shard=\"2\"}"},
    {"hashmod of empty", "a=x", {{.src = {"nope"}, .target = "h", .modulus = 7, .action = ST_RELABEL_HASHMOD}}, 1,
     "{a=\"x\", h=\"1\"}"},
    {"labelmap", "a=foo,b1=bar,b2=baz",
     {{.regex = "(b.*)", .replacement = "bar_${1}", .action = ST_RELABEL_LABELMAP}}, 1,
     "{a=\"foo\", b1=\"bar\", b2=\"baz\", bar_b1=\"bar\", bar_b2=\"baz\"}"},
    {"labelmap meta labels", "__meta_kubernetes_pod_label_app=web,__meta_x=1,job=j",
     {{.regex = "__meta_kubernetes_pod_label_(.+)", .action = ST_RELABEL_LABELMAP}}, 1,
     "{__meta_kubernetes_pod_label_app=\"web\", __meta_x=\"1\", app=\"web\", job=\"j\"}"},
    {"labelmap reads original values, later name wins", "a=1,b=2,c=3",
     {{.regex = "[ab]", .replacement = "c", .action = ST_RELABEL_LABELMAP}}, 1, "{a=\"1\", b=\"2\", c=\"2\"}"},
    {"labeldrop", "a=foo,b1=bar,b2=baz", {{.regex = "(b.*)", .action = ST_RELABEL_LABELDROP}}, 1, "{a=\"foo\"}"},
    {"labeldrop anchored", "a=foo,ab=bar", {{.regex = "b", .action = ST_RELABEL_LABELDROP}}, 1,
     "{a=\"foo\", ab=\"bar\"}"},
    {"labelkeep", "a=foo,b1=bar,b2=baz,__name__=m",
     {{.regex = "(b.*|__name__)", .action = ST_RELABEL_LABELKEEP}}, 1, "{__name__=\"m\", b1=\"bar\", b2=\"baz\"}"},
    {"lowercase", "a=FoO", {{.src = {"a"}, .target = "b", .action = ST_RELABEL_LOWERCASE}}, 1,
     "{a=\"FoO\", b=\"foo\"}"},
    {"uppercase", "a=FoO", {{.src = {"a"}, .target = "a", .action = ST_RELABEL_UPPERCASE}}, 1, "{a=\"FOO\"}"},
    {"chain sees previous output", "__address__=host:80,job=x",
     {{.src = {"__address__"}, .regex = "([^:]+):.*", .target = "host"},
      {.src = {"host"}, .regex = "host", .action = ST_RELABEL_KEEP},
      {.regex = "__address__", .action = ST_RELABEL_LABELDROP}},
     3, "{host=\"host\", job=\"x\"}"},
    {"drop stops the chain", "a=foo",
     {{.src = {"a"}, .action = ST_RELABEL_DROP}, {.src = {"a"}, .target = "b"}}, 2, NULL},
    {"empty input values are absent", "a=,b=x", {{.src = {"a"}, .regex = "", .action = ST_RELABEL_KEEP}}, 1,
     "{b=\"x\"}"},
};

static void test_cases(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const case_t *c = &cases[i];
        st_relabel_spec_t specs[MAXR];
        build_specs(c, specs);
        st_relabel_t *r;
        int rc = st_relabel_new(&r, specs, c->nrules);
        if (rc) fail_msg("%s: compile: %s", c->name, st_errdetail(rc));
        char buf[256];
        st_label_t pairs[MAXL];
        size_t n = parse_pairs(c->in, buf, pairs);
        st_labels_t out;
        bool keep;
        assert_int_equal(st_relabel_process(r, pairs, n, &out, &keep), 0);
        if (!c->want) {
            if (keep) fail_msg("%s: expected the set to be dropped", c->name);
            assert_int_equal(out.n, 0);
        } else {
            if (!keep) fail_msg("%s: dropped, expected %s", c->name, c->want);
            st_encbuf_t b;
            st_encbuf_init(&b, 0);
            st_put_labels_go(&b, &out);
            st_put_u8(&b, 0);
            if (strcmp((char *)b.p, c->want) != 0) fail_msg("%s: got %s, want %s", c->name, b.p, c->want);
            st_encbuf_free(&b);
        }
        st_labels_free(&out);
        st_relabel_free(r);
    }
}

static void test_no_rules_normalises(void **state) {
    (void)state;
    st_label_t in[] = {st_label("b", "2"), st_label("a", "1"), st_label("c", "")};
    st_labels_t out;
    bool keep;
    assert_int_equal(st_relabel_process(NULL, in, 3, &out, &keep), 0);
    assert_true(keep);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.v[0].name, "a");
    st_labels_free(&out);
}

typedef struct {
    rule_def_t rule;
    const char *detail; /* substring expected in st_errdetail */
} bad_t;

static void test_validation(void **state) {
    (void)state;
    static const bad_t bad[] = {
        {{.src = {"a"}, .action = ST_RELABEL_HASHMOD, .target = "t"}, "requires non-zero modulus"},
        {{.src = {"a"}, .action = ST_RELABEL_REPLACE}, "requires 'target_label' value"},
        {{.src = {"a"}, .target = "1abc"}, "\"1abc\" is invalid 'target_label' for replace action"},
        {{.src = {"a"}, .target = "a-b"}, "is invalid 'target_label'"},
        {{.src = {"a"}, .target = "${1"}, "is invalid 'target_label'"},
        {{.src = {"a"}, .target = "$1", .modulus = 3, .action = ST_RELABEL_HASHMOD}, "is invalid 'target_label' for hashmod"},
        {{.src = {"a"}, .target = "b", .replacement = "x", .action = ST_RELABEL_LOWERCASE}, "'replacement' can not be set"},
        {{.regex = "a", .replacement = "1bad", .action = ST_RELABEL_LABELMAP}, "is invalid 'replacement' for labelmap"},
        {{.src = {"a"}, .regex = "a", .action = ST_RELABEL_LABELDROP}, "requires only 'regex'"},
        {{.regex = "a", .target = "x", .action = ST_RELABEL_LABELKEEP}, "requires only 'regex'"},
        {{.regex = "a", .separator = ",", .action = ST_RELABEL_LABELKEEP}, "requires only 'regex'"},
        {{.src = {"a"}, .target = "b", .regex = "x", .action = ST_RELABEL_KEEPEQUAL}, "requires only 'source_labels'"},
        {{.src = {"a"}, .regex = "(", .action = ST_RELABEL_KEEP}, "invalid regex \"(\""},
        {{.src = {"1a"}, .action = ST_RELABEL_KEEP}, "\"1a\" is not a valid label name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        case_t c = {.nrules = 2};
        c.rules[1] = bad[i].rule;
        c.rules[0] = (rule_def_t){.src = {"x"}, .action = ST_RELABEL_KEEP};
        st_relabel_spec_t specs[MAXR];
        build_specs(&c, specs);
        st_relabel_t *r = (st_relabel_t *)1;
        int rc = st_relabel_new(&r, specs, 2);
        if (rc != ST_EINVAL) fail_msg("bad rule %zu accepted (rc %d)", i, rc);
        assert_null(r);
        const char *d = st_errdetail(rc);
        if (!strstr(d, bad[i].detail) || !strstr(d, "relabel rule 2 ("))
            fail_msg("bad rule %zu: detail \"%s\" lacks \"%s\"", i, d, bad[i].detail);
    }
}

static void test_action_names(void **state) {
    (void)state;
    st_relabel_action_t a;
    assert_int_equal(st_relabel_action_parse("LabelMap", &a), 0);
    assert_int_equal(a, ST_RELABEL_LABELMAP);
    assert_string_equal(st_relabel_action_name(ST_RELABEL_HASHMOD), "hashmod");
    assert_int_equal(st_relabel_action_parse("rename", &a), ST_EINVAL);
    assert_non_null(strstr(st_errdetail(ST_EINVAL), "unknown relabel action \"rename\""));
    assert_true(st_label_name_valid("_a1", 3));
    assert_false(st_label_name_valid("1a", 2));
    assert_false(st_label_name_valid("", 0));
    assert_false(st_label_name_valid("a.b", 3));
}

/* Many groups: more than any fixed ovector size. */
static void test_many_groups(void **state) {
    (void)state;
    const char *src[] = {"a"};
    st_relabel_spec_t sp = {.source_labels = src, .n_source_labels = 1,
                            .regex = "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)(m)(n)(o)(p)(q)(r)(s)(t)(u)(v)(w)(x)(y)(z)"
                                     "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)(m)(n)",
                            .target_label = "t", .replacement = "$40$26$1"};
    st_relabel_t *r;
    assert_int_equal(st_relabel_new(&r, &sp, 1), 0);
    st_label_t in = st_label("a", "abcdefghijklmnopqrstuvwxyzabcdefghijklmn");
    st_labels_t out;
    bool keep;
    assert_int_equal(st_relabel_process(r, &in, 1, &out, &keep), 0);
    const st_label_t *t = st_labels_get(&out, "t");
    assert_non_null(t);
    assert_string_equal(t->value, "nza");
    st_labels_free(&out);
    st_relabel_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),          cmocka_unit_test(test_no_rules_normalises),
        cmocka_unit_test(test_validation),     cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_many_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
