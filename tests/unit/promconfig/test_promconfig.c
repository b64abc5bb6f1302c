/* prometheus.yml subset: defaults as Prometheus 2.42 fills them, errors
 * with the offending line, the YAML writer (exact bytes and round trip),
 * file_sd/http_sd documents, and the alias amplification cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/promconfig.h"

static st_promconfig_t *parse_ok(const char *yaml) {
    st_promconfig_t *c = NULL;
    int rc = st_promconfig_parse(&c, yaml, strlen(yaml), "test.yml");
    if (rc) fail_msg("parse failed: %s", st_errdetail(rc));
    return c;
}

/* The parse must fail with code and a detail containing want. */
static void parse_bad(const char *yaml, int code, const char *want) {
    st_promconfig_t *c = (st_promconfig_t *)1;
    int rc = st_promconfig_parse(&c, yaml, strlen(yaml), "test.yml");
    if (rc != code) fail_msg("expected code %d, got %d for:\n%s", code, rc, yaml);
    assert_null(c);
    if (!strstr(st_errdetail(rc), want)) fail_msg("detail \"%s\" lacks \"%s\"", st_errdetail(rc), want);
}

static const char full_yaml[] =
    "global:\n"
    "  scrape_interval: 15s\n"
    "  external_labels:\n"
    "    cluster: eu-1\n"
    "    replica: \"0\"\n"
    "scrape_configs:\n"
    "  - job_name: node\n"
    "    scrape_interval: 5s\n"
    "    static_configs:\n"
    "      - targets: ['127.0.0.1:9100']\n"
    "        labels: {env: prod}\n"
    "    relabel_configs:\n"
    "      - source_labels: [__address__]\n"
    "        regex: '(.*):.*'\n"
    "        target_label: host\n"
    "    metric_relabel_configs:\n"
    "      - action: labeldrop\n"
    "        regex: tmp_.*\n";

static const char full_written[] =
    "global:\n"
    "  scrape_interval: 15s\n"
    "  scrape_timeout: 10s\n"
    "  evaluation_interval: 1m\n"
    "  external_labels:\n"
    "    cluster: eu-1\n"
    "    replica: \"0\"\n"
    "scrape_configs:\n"
    "- job_name: node\n"
    "  honor_labels: false\n"
    "  honor_timestamps: true\n"
    "  scrape_interval: 5s\n"
    "  scrape_timeout: 5s\n"
    "  metrics_path: /metrics\n"
    "  scheme: http\n"
    "  label_value_limit_per_name: 1000\n"
    "  static_configs:\n"
    "  - targets:\n"
    "    - \"127.0.0.1:9100\"\n"
    "    labels:\n"
    "      env: prod\n"
    "  relabel_configs:\n"
    "  - source_labels:\n"
    "    - __address__\n"
    "    separator: ;\n"
    "    regex: (.*):.*\n"
    "    target_label: host\n"
    "    replacement: $1\n"
    "    action: replace\n"
    "  metric_relabel_configs:\n"
    "  - separator: ;\n"
    "    regex: tmp_.*\n"
    "    replacement: $1\n"
    "    action: labeldrop\n";

static char *write_yaml(const st_promconfig_t *c) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_promconfig_write_yaml(c, &b);
    st_put_u8(&b, 0);
    assert_int_equal(b.err, 0);
    return (char *)b.p;
}

static void test_full_and_writer(void **state) {
    (void)state;
    st_promconfig_t *c = parse_ok(full_yaml);
    assert_int_equal(c->scrape_interval_ms, 15000);
    assert_int_equal(c->scrape_timeout_ms, 10000);
    assert_int_equal(c->evaluation_interval_ms, 60000);
    assert_int_equal(c->external_labels.n, 2);
    assert_int_equal(c->n_scrape_configs, 1);
    const st_scrape_config_t *s = &c->scrape_configs[0];
    assert_string_equal(s->job_name, "node");
    assert_int_equal(s->scrape_interval_ms, 5000);
    assert_int_equal(s->scrape_timeout_ms, 5000); /* global 10s clamped to the job's interval */
    assert_string_equal(s->metrics_path, "/metrics");
    assert_string_equal(s->scheme, "http");
    assert_true(s->honor_timestamps);
    assert_false(s->honor_labels);
    assert_int_equal(s->label_value_limit_per_name, 1000);
    assert_int_equal(s->n_static_configs, 1);
    assert_string_equal(s->static_configs[0].targets[0], "127.0.0.1:9100");
    assert_string_equal(st_labels_get(&s->static_configs[0].labels, "env")->value, "prod");
    assert_int_equal(s->relabel_configs.n, 1);
    assert_non_null(s->relabel_configs.compiled);
    assert_int_equal(s->metric_relabel_configs.specs[0].action, ST_RELABEL_LABELDROP);

    char *y = write_yaml(c);
    assert_string_equal(y, full_written);
    /* round trip: the written config reads back to the same bytes */
    st_promconfig_t *c2 = parse_ok(y);
    char *y2 = write_yaml(c2);
    assert_string_equal(y2, y);
    free(y);
    free(y2);
    st_promconfig_free(c);
    st_promconfig_free(c2);
}

static void test_defaults(void **state) {
    (void)state;
    st_promconfig_t *c = parse_ok("");
    assert_int_equal(c->scrape_interval_ms, 60000);
    assert_int_equal(c->scrape_timeout_ms, 10000);
    assert_int_equal(c->n_scrape_configs, 0);
    st_promconfig_free(c);
    /* global interval below the default timeout: the timeout follows it */
    c = parse_ok("global:\n  scrape_interval: 2s\nscrape_configs:\n- job_name: a\n- job_name: b\n  scrape_interval: 1m\n");
    assert_int_equal(c->scrape_timeout_ms, 2000);
    assert_int_equal(c->scrape_configs[0].scrape_interval_ms, 2000);
    assert_int_equal(c->scrape_configs[0].scrape_timeout_ms, 2000);
    assert_int_equal(c->scrape_configs[1].scrape_timeout_ms, 2000);
    st_promconfig_free(c);
    c = parse_ok("scrape_configs:\n- job_name: p\n  params:\n    module: [if_mib, x]\n  honor_labels: yes\n"
                 "  body_size_limit: 10MB\n  sample_limit: 100\n  label_value_limit_per_name: 0\n"
                 "  file_sd_configs:\n  - files: [/a/*.json, b.yml]\n  http_sd_configs:\n  - url: http://h/sd\n"
                 "    refresh_interval: 30s\n");
    const st_scrape_config_t *s = &c->scrape_configs[0];
    assert_true(s->honor_labels);
    assert_int_equal(s->body_size_limit, 10u << 20);
    assert_int_equal(s->sample_limit, 100);
    assert_int_equal(s->label_value_limit_per_name, 0);
    assert_int_equal(s->n_params, 1);
    assert_int_equal(s->params[0].n_values, 2);
    assert_string_equal(s->params[0].values[1], "x");
    assert_int_equal(s->n_file_sd_configs, 1);
    assert_int_equal(s->file_sd_configs[0].refresh_interval_ms, 300000);
    assert_int_equal(s->file_sd_configs[0].n_files, 2);
    assert_int_equal(s->http_sd_configs[0].refresh_interval_ms, 30000);
    char *y = write_yaml(c);
    st_promconfig_t *c2 = parse_ok(y);
    char *y2 = write_yaml(c2);
    assert_string_equal(y, y2);
    assert_non_null(strstr(y, "  body_size_limit: 10MiB\n"));
    free(y);
    free(y2);
    st_promconfig_free(c2);
    st_promconfig_free(c);
}

static void test_errors(void **state) {
    (void)state;
    parse_bad("scrape_configs:\n- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n", ST_EINVAL,
              "test.yml:2: scrape_configs[0] (job \"a\"): scrape timeout greater than scrape interval");
    parse_bad("global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n", ST_EINVAL,
              "test.yml:2: global scrape timeout greater than scrape interval");
    parse_bad("scrape_configs:\n- job_name: a\n  scrape_intervl: 5s\n", ST_EINVAL,
              "test.yml:3: scrape_configs[0]: field scrape_intervl not found");
    parse_bad("scrape_configs:\n- job_name: a\n- job_name: a\n", ST_EINVAL,
              "test.yml:3: found multiple scrape configs with job name \"a\"");
    parse_bad("scrape_configs:\n- job_name: a\n  scrape_interval: 5x\n", ST_EINVAL,
              "test.yml:3: scrape_configs[0].scrape_interval: not a valid duration string: \"5x\"");
    parse_bad("scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: [a]\n    action: hashmod\n"
              "    target_label: t\n",
              ST_EINVAL, "test.yml:4: scrape_configs[0].relabel_configs[0] (hashmod): relabel configuration for hashmod "
                         "requires non-zero modulus");
    parse_bad("scrape_configs:\n- job_name: a\n  metric_relabel_configs:\n  - action: nope\n", ST_EINVAL,
              "test.yml:4: scrape_configs[0].metric_relabel_configs[0]: unknown relabel action \"nope\"");
    parse_bad("scrape_configs:\n- job_name: a\n  relabel_configs:\n  - regex: '('\n    target_label: x\n", ST_EINVAL,
              "invalid regex");
    parse_bad("scrape_configs:\n- job_name: a\n  honor_labels: maybe\n", ST_EINVAL,
              "test.yml:3: scrape_configs[0].honor_labels: cannot unmarshal \"maybe\" into a bool");
    parse_bad("scrape_configs:\n- job_name: a\n  sample_limit: -1\n", ST_EINVAL, "unsigned integer");
    parse_bad("scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - files: [x.txt]\n", ST_EINVAL,
              "test.yml:4: scrape_configs[0].file_sd_configs[0]: path name \"x.txt\" is not valid");
    parse_bad("scrape_configs:\n- job_name: a\n  http_sd_configs:\n  - url: ftp://x\n", ST_EINVAL,
              "URL scheme must be 'http' or 'https'");
    parse_bad("scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [a/b]\n", ST_EINVAL,
              "\"a/b\" is not a valid hostname");
    parse_bad("global:\n  external_labels:\n    1x: a\n", ST_EINVAL, "test.yml:3: global.external_labels: \"1x\" is not a valid label name");
    parse_bad("rule_files: [a.yml]\n", ST_EINVAL, "test.yml:1: top level: field rule_files not found");
    parse_bad("global:\n  scrape_interval: 1s\nglobal:\n  scrape_interval: 2s\n", ST_EINVAL, "already defined");
    parse_bad("scrape_configs:\n- job_name: a\n  scheme: ftp\n", ST_EINVAL, "unknown scheme \"ftp\"");
    parse_bad("scrape_configs: [\n", ST_EINVAL, "test.yml:2: YAML error");
    parse_bad("scrape_configs:\n- job_name: a\n  static_configs: {a: b}\n", ST_EINVAL, "expected a list");
    parse_bad("- a\n", ST_EINVAL, "top level: expected a mapping");
    parse_bad("a: 1\n---\nb: 2\n", ST_EINVAL, "more than one YAML document");
    parse_bad("scrape_configs:\n- job_name: \"\"\n", ST_EINVAL, "job_name is empty");
}

/* An alias referenced many times is walked each time: the visit cap stops
 * quadratic blow-up from a small file. */
static void test_alias_cap(void **state) {
    (void)state;
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_cstr(&b, "scrape_configs:\n- job_name: j\n  static_configs:\n  - &g {targets: [");
    for (int i = 0; i < 5000; i++) st_put_cstr(&b, i ? ",a" : "a");
    st_put_cstr(&b, "]}\n");
    for (int i = 0; i < 1000; i++) st_put_cstr(&b, "  - *g\n");
    st_promconfig_t *c = (st_promconfig_t *)1;
    int rc = st_promconfig_parse(&c, (const char *)b.p, b.len, "bomb.yml");
    assert_int_equal(rc, ST_ELIMIT);
    assert_null(c);
    assert_non_null(strstr(st_errdetail(rc), "YAML nodes"));
    st_encbuf_free(&b);
}

static void test_target_groups(void **state) {
    (void)state;
    const char *json = "[{\"targets\": [\"a:1\", \"b:2\"], \"labels\": {\"env\": \"x\", \"e\": \"\"}}, {\"targets\": []}]";
    st_target_group_t *g;
    size_t n;
    assert_int_equal(st_target_groups_parse(&g, &n, json, strlen(json), true, "sd.json"), 0);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].n_targets, 2);
    assert_string_equal(g[0].targets[1], "b:2");
    assert_int_equal(g[0].labels.n, 1); /* empty value = absent */
    assert_int_equal(g[1].n_targets, 0);
    st_target_groups_free(g, n);

    const char *yml = "- targets: [h:9]\n  labels:\n    a: b\n- targets:\n  - i:10\n";
    assert_int_equal(st_target_groups_parse(&g, &n, yml, strlen(yml), false, "sd.yml"), 0);
    assert_int_equal(n, 2);
    assert_string_equal(g[1].targets[0], "i:10");
    st_target_groups_free(g, n);

    static const struct { const char *doc; bool json; const char *want; } bad[] = {
        {"{\"targets\": []}", true, "expected a JSON list"},
        {"[{\"targets\": [1]}]", true, "group 0: target 0 is not a string"},
        {"[{\"targets\": [\"a\"], \"labels\": {\"a-b\": \"x\"}}]", true, "\"a-b\" is not a valid label name"},
        {"[{\"targets\": [\"a\"], \"labels\": {\"a\": 1}}]", true, "value of label a is not a string"},
        {"[{\"targetz\": []}]", true, "unknown field \"targetz\""},
        {"[{\"targets\": [\"a\"]}", true, "sd.json:1:"},
        {"- targets: [a]\n  labls: {}\n", false, "sd.yml:2: groups[0]: field labls not found"},
        {"- targets: {a: b}\n", false, "sd.yml:1: groups[0].targets: expected a list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g = (st_target_group_t *)1;
        int rc = st_target_groups_parse(&g, &n, bad[i].doc, strlen(bad[i].doc), bad[i].json,
                                        bad[i].json ? "sd.json" : "sd.yml");
        if (rc != ST_EINVAL) fail_msg("bad doc %zu: rc %d", i, rc);
        assert_null(g);
        if (!strstr(st_errdetail(rc), bad[i].want)) fail_msg("bad doc %zu: \"%s\" lacks \"%s\"", i, st_errdetail(rc), bad[i].want);
    }
}

static void test_relabel_file(void **state) {
    (void)state;
    const char *y = "- action: keep\n  source_labels: [__name__]\n  regex: up|scrape_.*\n- action: labeldrop\n  regex: tmp\n";
    st_relabel_list_t l;
    assert_int_equal(st_promconfig_parse_relabel(&l, y, strlen(y), "sel.yml"), 0);
    assert_int_equal(l.n, 2);
    st_label_t in[] = {st_label("__name__", "up"), st_label("tmp", "1")};
    st_labels_t out;
    bool keep;
    assert_int_equal(st_relabel_process(l.compiled, in, 2, &out, &keep), 0);
    assert_true(keep);
    assert_int_equal(out.n, 1);
    st_labels_free(&out);
    st_relabel_list_free(&l);
    y = "- action: keep\n  regex: [x]\n";
    assert_int_equal(st_promconfig_parse_relabel(&l, y, strlen(y), "sel.yml"), ST_EINVAL);
    assert_non_null(strstr(st_errdetail(ST_EINVAL), "sel.yml:2: relabel_configs[0].regex: expected a string"));
}

static void test_durations(void **state) {
    (void)state;
    static const struct { int64_t ms; const char *s; } d[] = {
        {0, "0s"}, {1, "1ms"}, {1500, "1s500ms"}, {60000, "1m"}, {5400000, "1h30m"}, {86400000, "1d"},
        {1209600000, "2w"}, {7776000000, "90d"}, {31536000000, "1y"}, {1296000000, "15d"},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        char out[32];
        st_fmt_prom_duration(out, d[i].ms);
        assert_string_equal(out, d[i].s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_and_writer), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_alias_cap),
        cmocka_unit_test(test_target_groups),   cmocka_unit_test(test_relabel_file),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
