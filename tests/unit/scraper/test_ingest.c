/* Scrape ingestion against an in-test fake of the tsdb.h appender (the
 * real TSDB is exercised by the integration tests): label merging as
 * Prometheus does it, metric relabeling, staleness markers, the report
 * series, sample_limit, label_limit, the cardinality guard, parse errors
 * ingesting nothing; and target labels / URLs from discovery. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scraper_int.h"
#include "strata/err.h"
#include "strata/textfmt.h"
#include "strata/tsdb.h"

/* ---- fake TSDB: series by labels, samples as text lines ---- */

#define MAXS 4096

struct st_db {
    st_labels_t series[MAXS];
    int64_t last_t[MAXS];
    uint64_t last_bits[MAXS];
    size_t n_series;
    char *lines[MAXS * 4]; /* committed samples, "{labels} value ts" */
    size_t n_lines;
    int commits, rollbacks;
    uint64_t ref_base; /* refs are index + 1 + ref_base: raising it "forgets" every ref, as a head GC would */
};

typedef struct {
    uint64_t ref;
    int64_t t;
    double v;
} staged_t;

struct st_appender {
    st_db_t *db;
    staged_t s[MAXS];
    size_t n;
};

static st_db_t fake_db;

int st_db_appender(st_db_t *db, st_appender_t **out) {
    *out = calloc(1, sizeof **out);
    (*out)->db = db;
    return 0;
}

int st_appender_add(st_appender_t *a, uint64_t *ref, const st_labels_t *lbls, int64_t t, double v) {
    st_db_t *db = a->db;
    if (*ref <= db->ref_base || *ref > db->ref_base + db->n_series) {
        if (!lbls) return ST_ENOTFOUND; /* as tsdb.c: an unknown ref needs the labels */
        size_t i;
        for (i = 0; i < db->n_series && !st_labels_equal(&db->series[i], lbls); i++) {}
        if (i == db->n_series) {
            assert_true(db->n_series < MAXS);
            st_labels_copy(&db->series[db->n_series++], lbls);
            db->last_t[i] = INT64_MIN;
        }
        *ref = i + 1 + db->ref_base;
    }
    size_t i = *ref - 1 - db->ref_base;
    /* staged samples of this appender count too */
    int64_t last = db->last_t[i];
    uint64_t lastb = db->last_bits[i];
    for (size_t k = 0; k < a->n; k++)
        if (a->s[k].ref == *ref) {
            last = a->s[k].t;
            memcpy(&lastb, &a->s[k].v, 8);
        }
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (t < last || (t == last && bits != lastb)) return ST_EINVAL;
    if (t == last) return ST_OK;
    assert_true(a->n < MAXS);
    a->s[a->n++] = (staged_t){*ref, t, v};
    return ST_OK;
}

static char *fmt_sample(const st_labels_t *l, int64_t t, double v) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_labels_go(&b, l);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    char num[ST_FLOAT_BUF];
    if (bits == 0x7ff0000000000002ull) snprintf(num, sizeof num, "STALE");
    else st_fmt_go_g(num, v);
    st_put_fmt(&b, " %s %lld", num, (long long)t);
    st_put_u8(&b, 0);
    return (char *)b.p;
}

int st_appender_commit(st_appender_t *a) {
    st_db_t *db = a->db;
    for (size_t k = 0; k < a->n; k++) {
        size_t i = a->s[k].ref - 1 - db->ref_base;
        db->last_t[i] = a->s[k].t;
        memcpy(&db->last_bits[i], &a->s[k].v, 8);
        db->lines[db->n_lines++] = fmt_sample(&db->series[i], a->s[k].t, a->s[k].v);
    }
    db->commits++;
    free(a);
    return 0;
}

void st_appender_rollback(st_appender_t *a) {
    if (!a) return;
    a->db->rollbacks++;
    free(a);
}

static void db_reset(void) {
    for (size_t i = 0; i < fake_db.n_series; i++) st_labels_free(&fake_db.series[i]);
    for (size_t i = 0; i < fake_db.n_lines; i++) free(fake_db.lines[i]);
    memset(&fake_db, 0, sizeof fake_db);
}

/* Is there a committed line equal to s? */
static bool has_line(const char *s) {
    for (size_t i = 0; i < fake_db.n_lines; i++)
        if (strcmp(fake_db.lines[i], s) == 0) return true;
    return false;
}

static void expect_line(const char *s) {
    if (has_line(s)) return;
    fprintf(stderr, "committed lines:\n");
    for (size_t i = 0; i < fake_db.n_lines; i++) fprintf(stderr, "  %s\n", fake_db.lines[i]);
    fail_msg("missing line: %s", s);
}

static size_t count_prefix(const char *p) {
    size_t n = 0;
    for (size_t i = 0; i < fake_db.n_lines; i++) n += strncmp(fake_db.lines[i], p, strlen(p)) == 0;
    return n;
}

/* ---- helpers ---- */

typedef struct {
    config_t *cfg;
    scrape_target_t *t;
} fixture_t;

static void make_target(fixture_t *f, const char *yaml, const char *addr) {
    assert_int_equal(config_from_text(&f->cfg, yaml, strlen(yaml), "t.yml"), 0);
    const st_scrape_config_t *sc = &f->cfg->cfg->scrape_configs[0];
    target_spec_t spec;
    bool keep;
    st_labels_t none = {0};
    int rc = target_populate(sc, sc->n_static_configs ? &sc->static_configs[0].labels : &none, addr, NULL, 0, &spec,
                             &keep);
    if (rc) fail_msg("populate: %s", st_errdetail(rc));
    assert_true(keep);
    assert_int_equal(scrape_target_new(&f->t, &spec, f->cfg), 0);
    db_reset();
}

static void drop_target(fixture_t *f) {
    scrape_target_free(f->t);
    config_unref(f->cfg);
    db_reset();
}

static void scrape(fixture_t *f, const char *body, const char *ct, int64_t ts) {
    fetch_result_t r = {.fetched = true, .body = body, .len = strlen(body), .content_type = ct};
    scrape_ingest(f->t, &fake_db, &r, ts, 0.25, NULL, NULL);
}

static const char base_yaml[] = "scrape_configs:\n- job_name: j\n  static_configs:\n  - targets: [h:1]\n";
#define TL "instance=\"h:1\", job=\"j\""

static void test_basic_and_staleness(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f, base_yaml, "h:1");
    scrape(&f, "# TYPE a counter\na 1\nb{x=\"1\"} 2\nb{x=\"2\"} 3\n", NULL, 1000);
    assert_int_equal(f.t->state, TS_UP);
    assert_string_equal(f.t->last_error, "");
    expect_line("{__name__=\"a\", " TL "} 1 1000");
    expect_line("{__name__=\"b\", " TL ", x=\"1\"} 2 1000");
    expect_line("{__name__=\"b\", " TL ", x=\"2\"} 3 1000");
    expect_line("{__name__=\"up\", " TL "} 1 1000");
    expect_line("{__name__=\"scrape_duration_seconds\", " TL "} 0.25 1000");
    expect_line("{__name__=\"scrape_samples_scraped\", " TL "} 3 1000");
    expect_line("{__name__=\"scrape_samples_post_metric_relabeling\", " TL "} 3 1000");
    expect_line("{__name__=\"scrape_series_added\", " TL "} 3 1000");
    assert_int_equal(fake_db.n_lines, 8);
    assert_int_equal(fake_db.commits, 1);

    /* b{x="2"} disappears: stale marker at the next scrape's timestamp */
    scrape(&f, "a 5\nb{x=\"1\"} 6\n", NULL, 2000);
    expect_line("{__name__=\"b\", " TL ", x=\"2\"} STALE 2000");
    expect_line("{__name__=\"a\", " TL "} 5 2000");
    expect_line("{__name__=\"scrape_series_added\", " TL "} 0 2000");
    assert_int_equal(count_prefix("{__name__=\"b\", " TL ", x=\"2\"} STALE"), 1);
    /* and only once */
    scrape(&f, "a 7\nb{x=\"1\"} 8\n", NULL, 3000);
    assert_int_equal(count_prefix("{__name__=\"b\", " TL ", x=\"2\"} STALE"), 1);
    /* it comes back (still cached: not counted as added) */
    scrape(&f, "a 9\nb{x=\"1\"} 10\nb{x=\"2\"} 11\n", NULL, 4000);
    expect_line("{__name__=\"b\", " TL ", x=\"2\"} 11 4000");
    expect_line("{__name__=\"scrape_series_added\", " TL "} 0 4000");
    /* the storage forgets every ref (GC after a block cut): samples and the
     * report series go in again by their labels */
    fake_db.ref_base += 1000;
    scrape(&f, "a 12\nb{x=\"1\"} 13\nb{x=\"2\"} 14\n", NULL, 5000);
    assert_int_equal(f.t->state, TS_UP);
    expect_line("{__name__=\"a\", " TL "} 12 5000");
    expect_line("{__name__=\"b\", " TL ", x=\"2\"} 14 5000");
    expect_line("{__name__=\"up\", " TL "} 1 5000");
    scrape(&f, "a 15\n", NULL, 6000);
    expect_line("{__name__=\"b\", " TL ", x=\"1\"} STALE 6000");
    drop_target(&f);
}

static void test_parse_error_ingests_nothing(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f, base_yaml, "h:1");
    scrape(&f, "a 1\nb 2\n", NULL, 1000);
    size_t before = fake_db.n_lines;
    scrape(&f, "a 3\nb 4\nc{ 5\n", NULL, 2000);
    assert_int_equal(f.t->state, TS_PARSE_ERROR);
    assert_non_null(strstr(f.t->last_error, "3:"));
    assert_false(has_line("{__name__=\"a\", " TL "} 3 2000"));
    assert_false(has_line("{__name__=\"b\", " TL "} 4 2000"));
    /* the previous scrape's series are closed, the report says down */
    expect_line("{__name__=\"a\", " TL "} STALE 2000");
    expect_line("{__name__=\"b\", " TL "} STALE 2000");
    expect_line("{__name__=\"up\", " TL "} 0 2000");
    expect_line("{__name__=\"scrape_samples_scraped\", " TL "} 2 2000");
    assert_int_equal(fake_db.n_lines, before + 2 + 5);
    assert_int_equal(fake_db.rollbacks, 1);
    /* recovery: samples again, no extra stale markers */
    scrape(&f, "a 6\nb 7\n", NULL, 3000);
    assert_int_equal(f.t->state, TS_UP);
    expect_line("{__name__=\"a\", " TL "} 6 3000");
    assert_int_equal(count_prefix("{__name__=\"a\", " TL "} STALE"), 1);
    drop_target(&f);
}

static void test_fetch_failure(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f, base_yaml, "h:1");
    scrape(&f, "a 1\n", NULL, 1000);
    fetch_result_t r = {.fetched = false, .fail_state = TS_TIMEOUT, .error = "Get \"x\": context deadline exceeded"};
    scrape_ingest(f.t, &fake_db, &r, 2000, 1.0, NULL, NULL);
    assert_int_equal(f.t->state, TS_TIMEOUT);
    assert_string_equal(f.t->last_error, "Get \"x\": context deadline exceeded");
    expect_line("{__name__=\"a\", " TL "} STALE 2000");
    expect_line("{__name__=\"up\", " TL "} 0 2000");
    expect_line("{__name__=\"scrape_duration_seconds\", " TL "} 1 2000");
    expect_line("{__name__=\"scrape_samples_scraped\", " TL "} 0 2000");
    drop_target(&f);
}

static void test_label_conflicts(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f, base_yaml, "h:1");
    scrape(&f, "m{job=\"x\",instance=\"i\",exported_job=\"y\",z=\"\"} 1\n", NULL, 1000);
    expect_line("{__name__=\"m\", exported_exported_job=\"x\", exported_instance=\"i\", exported_job=\"y\", " TL
                "} 1 1000");
    drop_target(&f);
    make_target(&f, "scrape_configs:\n- job_name: j\n  honor_labels: true\n  static_configs:\n  - targets: [h:1]\n",
                "h:1");
    scrape(&f, "m{job=\"x\"} 1\nn 2\n", NULL, 1000);
    expect_line("{__name__=\"m\", instance=\"h:1\", job=\"x\"} 1 1000");
    expect_line("{__name__=\"n\", " TL "} 2 1000");
    drop_target(&f);
}

static void test_metric_relabel_and_limits(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f,
                "scrape_configs:\n- job_name: j\n  sample_limit: 3\n  static_configs:\n  - targets: [h:1]\n"
                "  metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: drop_.*\n    action: drop\n"
                "  - regex: tmp\n    action: labeldrop\n",
                "h:1");
    scrape(&f, "drop_me 1\ndrop_too 2\nkeep{tmp=\"1\"} 3\nk2 4\nk3 5\n", NULL, 1000);
    assert_int_equal(f.t->state, TS_UP);
    expect_line("{__name__=\"keep\", " TL "} 3 1000");
    assert_false(has_line("{__name__=\"drop_me\", " TL "} 1 1000"));
    expect_line("{__name__=\"scrape_samples_scraped\", " TL "} 5 1000");
    expect_line("{__name__=\"scrape_samples_post_metric_relabeling\", " TL "} 3 1000");
    /* one more kept sample than the limit: the whole scrape is discarded */
    size_t before = fake_db.n_lines;
    scrape(&f, "drop_me 1\nkeep{tmp=\"1\"} 6\nk2 7\nk3 8\nk4 9\nk5 10\n", NULL, 2000);
    assert_int_equal(f.t->state, TS_OVERLIMIT);
    assert_non_null(strstr(f.t->last_error, "sample limit exceeded"));
    assert_false(has_line("{__name__=\"keep\", " TL "} 6 2000"));
    assert_false(has_line("{__name__=\"k4\", " TL "} 9 2000"));
    expect_line("{__name__=\"up\", " TL "} 0 2000");
    expect_line("{__name__=\"scrape_samples_scraped\", " TL "} 6 2000");
    expect_line("{__name__=\"scrape_samples_post_metric_relabeling\", " TL "} 5 2000");
    expect_line("{__name__=\"keep\", " TL "} STALE 2000");
    assert_int_equal(fake_db.n_lines, before + 3 + 5);
    drop_target(&f);

    make_target(&f, "scrape_configs:\n- job_name: j\n  label_limit: 4\n  static_configs:\n  - targets: [h:1]\n", "h:1");
    scrape(&f, "ok{a=\"1\"} 1\nbad{a=\"1\",b=\"2\"} 2\n", NULL, 1000);
    assert_int_equal(f.t->state, TS_OVERLIMIT);
    assert_non_null(strstr(f.t->last_error, "label_limit exceeded (metric: bad, number of labels: 5, limit: 4)"));
    assert_false(has_line("{__name__=\"ok\", a=\"1\", " TL "} 1 1000"));
    drop_target(&f);
}

static void test_cardinality_guard(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f,
                "scrape_configs:\n- job_name: j\n  label_value_limit_per_name: 3\n  static_configs:\n"
                "  - targets: [h:1]\n",
                "h:1");
    scrape(&f, "r{id=\"0\",k=\"a\"} 0\nr{id=\"1\",k=\"a\"} 1\nr{id=\"2\",k=\"a\"} 2\nr{id=\"3\",k=\"a\"} 3\n"
               "r{id=\"4\",k=\"a\"} 4\n",
           NULL, 1000);
    assert_int_equal(f.t->state, TS_UP);
    expect_line("{__name__=\"r\", id=\"2\", " TL ", k=\"a\"} 2 1000");
    /* the 4th and 5th values become one series; its second sample at the same
     * time is refused by the storage */
    expect_line("{__name__=\"r\", id=\"reassigned_high_cardinality\", " TL ", k=\"a\"} 3 1000");
    assert_false(has_line("{__name__=\"r\", id=\"3\", " TL ", k=\"a\"} 3 1000"));
    const guard_name_t *g = NULL;
    for (size_t i = 0; i < f.t->guard.n; i++)
        if (strcmp(f.t->guard.v[i].name, "id") == 0) g = &f.t->guard.v[i];
    assert_non_null(g);
    assert_int_equal(g->reassigned, 2);
    assert_int_equal(g->n, 3);
    /* known values stay admitted; job/instance and the metric name are not guarded */
    scrape(&f, "r{id=\"1\",k=\"a\"} 11\nother 1\nthird 1\nfourth 1\n", NULL, 2000);
    expect_line("{__name__=\"r\", id=\"1\", " TL ", k=\"a\"} 11 2000");
    expect_line("{__name__=\"fourth\", " TL "} 1 2000");
    assert_int_equal(g->reassigned, 2);
    /* the same exposition again: reassigned raw series are counted once */
    scrape(&f, "r{id=\"0\",k=\"a\"} 0\nr{id=\"1\",k=\"a\"} 1\nr{id=\"2\",k=\"a\"} 2\nr{id=\"3\",k=\"a\"} 3\n"
               "r{id=\"4\",k=\"a\"} 4\n",
           NULL, 3000);
    expect_line("{__name__=\"r\", id=\"reassigned_high_cardinality\", " TL ", k=\"a\"} 3 3000");
    assert_int_equal(g->reassigned, 2);
    drop_target(&f);
}

static void test_timestamps_and_openmetrics(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f, base_yaml, "h:1");
    scrape(&f, "# TYPE c counter\nc_total 4 1.5\nd 2\n# EOF\n", "application/openmetrics-text; version=1.0.0", 5000);
    assert_int_equal(f.t->state, TS_UP);
    expect_line("{__name__=\"c_total\", " TL "} 4 1500");
    expect_line("{__name__=\"d\", " TL "} 2 5000");
    /* explicit-timestamp series are not marked stale when they go away */
    scrape(&f, "d 3\n", NULL, 6000);
    assert_int_equal(count_prefix("{__name__=\"c_total\", " TL "} STALE"), 0);
    /* missing # EOF in OpenMetrics is a parse error */
    scrape(&f, "d 4\n", "application/openmetrics-text", 7000);
    assert_int_equal(f.t->state, TS_PARSE_ERROR);
    drop_target(&f);
}

static void test_honor_timestamps_false(void **state) {
    (void)state;
    fixture_t f;
    make_target(&f, "scrape_configs:\n- job_name: j\n  honor_timestamps: false\n  static_configs:\n  - targets: [h:1]\n",
                "h:1");
    scrape(&f, "x 1 123\ny 2\n", NULL, 5000);
    expect_line("{__name__=\"x\", " TL "} 1 5000");
    assert_false(has_line("{__name__=\"x\", " TL "} 1 123"));
    /* exposed timestamps dropped: the series is tracked for staleness */
    scrape(&f, "y 3\n", NULL, 6000);
    expect_line("{__name__=\"x\", " TL "} STALE 6000");
    drop_target(&f);
}

static void test_target_populate(void **state) {
    (void)state;
    config_t *c;
    const char *y = "global:\n  scrape_interval: 10s\nscrape_configs:\n- job_name: snmp\n  metrics_path: /snmp\n"
                    "  params:\n    module: [if_mib]\n    z: [\"a b\", c]\n  static_configs:\n"
                    "  - targets: [router1, 'h:9']\n    labels: {dc: eu}\n"
                    "  relabel_configs:\n  - source_labels: [__address__]\n    target_label: __param_target\n"
                    "  - source_labels: [__param_target]\n    regex: 'h:9'\n    action: drop\n";
    assert_int_equal(config_from_text(&c, y, strlen(y), "t.yml"), 0);
    const st_scrape_config_t *sc = &c->cfg->scrape_configs[0];
    target_spec_t spec;
    bool keep;
    st_label_t meta = st_label("__meta_filepath", "/x.json");
    assert_int_equal(target_populate(sc, &sc->static_configs[0].labels, "router1", &meta, 1, &spec, &keep), 0);
    assert_true(keep);
    assert_string_equal(spec.url, "http://router1:80/snmp?module=if_mib&target=router1&z=a+b&z=c");
    assert_int_equal(spec.interval_ms, 10000);
    assert_int_equal(spec.timeout_ms, 10000);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_labels_go(&b, &spec.target_labels);
    st_put_u8(&b, 0);
    assert_string_equal((char *)b.p, "{dc=\"eu\", instance=\"router1:80\", job=\"snmp\"}");
    st_encbuf_reset(&b);
    st_put_labels_go(&b, &spec.discovered);
    st_put_u8(&b, 0);
    assert_string_equal((char *)b.p,
                        "{__address__=\"router1\", __meta_filepath=\"/x.json\", __metrics_path__=\"/snmp\", "
                        "__param_module=\"if_mib\", __param_z=\"a b\", __scheme__=\"http\", __scrape_interval__=\"10s\", "
                        "__scrape_timeout__=\"10s\", dc=\"eu\", job=\"snmp\"}");
    st_encbuf_free(&b);
    assert_null(st_labels_get(&spec.labels, "__meta_filepath"));
    assert_non_null(st_labels_get(&spec.labels, "__param_target"));
    target_spec_clear(&spec);
    /* dropped by relabeling: discovered labels kept for the API */
    assert_int_equal(target_populate(sc, &sc->static_configs[0].labels, "h:9", NULL, 0, &spec, &keep), 0);
    assert_false(keep);
    assert_non_null(st_labels_get(&spec.discovered, "__address__"));
    assert_null(spec.url);
    st_labels_free(&spec.discovered);
    config_unref(c);

    /* __scrape_interval__ / __scrape_timeout__ rewritten by relabeling */
    y = "scrape_configs:\n- job_name: j\n  scheme: https\n  relabel_configs:\n  - target_label: __scrape_timeout__\n"
        "    replacement: 2m\n";
    assert_int_equal(config_from_text(&c, y, strlen(y), "t.yml"), 0);
    sc = &c->cfg->scrape_configs[0];
    st_labels_t none = {0};
    assert_int_equal(target_populate(sc, &none, "[::1]", NULL, 0, &spec, &keep), ST_EINVAL);
    assert_non_null(strstr(st_errdetail(ST_EINVAL), "scrape timeout cannot be greater than scrape interval"));
    st_labels_free(&spec.discovered);
    config_unref(c);
}

static void test_schedule(void **state) {
    (void)state;
    assert_int_equal(scrape_offset(12345, 1000), 345);
    assert_int_equal(scrape_next(10000, 1000, 345), 10345);
    assert_int_equal(scrape_next(10345, 1000, 345), 11345);
    assert_int_equal(scrape_next(10346, 1000, 345), 11345);
    assert_int_equal(scrape_next(10344, 1000, 345), 10345);
    /* targets of one job spread over the interval */
    int buckets[10] = {0};
    for (uint64_t k = 1; k <= 1000; k++) buckets[scrape_offset(k * 0x9E3779B97F4A7C15ull, 10000) / 1000]++;
    for (int i = 0; i < 10; i++) assert_in_range(buckets[i], 60, 140);
}

static bool drop_odd(const cache_entry_t *e, void *arg) {
    (void)arg;
    return e->ref & 1;
}

static void test_cache_sweep(void **state) {
    (void)state;
    series_cache_t c = {0};
    const size_t n = 20000;
    for (size_t i = 1; i <= n; i++) {
        cache_entry_t *e;
        /* clustered hashes make long probe chains, wrapping around the end */
        assert_int_equal(cache_insert(&c, (i * 7) % 64 + (i << 40), i, &e), 0);
        e->ref = i;
    }
    assert_int_equal(c.n, n);
    cache_sweep(&c, drop_odd, NULL);
    assert_int_equal(c.n, n / 2);
    for (size_t i = 1; i <= n; i++) {
        cache_entry_t *e = cache_find(&c, (i * 7) % 64 + (i << 40), i, NULL);
        if (i & 1) assert_null(e);
        else {
            assert_non_null(e);
            assert_int_equal(e->ref, i);
        }
    }
    cache_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_and_staleness), cmocka_unit_test(test_parse_error_ingests_nothing),
        cmocka_unit_test(test_fetch_failure),       cmocka_unit_test(test_label_conflicts),
        cmocka_unit_test(test_metric_relabel_and_limits), cmocka_unit_test(test_cardinality_guard),
        cmocka_unit_test(test_timestamps_and_openmetrics), cmocka_unit_test(test_honor_timestamps_false),
        cmocka_unit_test(test_target_populate),
        cmocka_unit_test(test_schedule),            cmocka_unit_test(test_cache_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
