/* The querier's fan-out against fake stores on loopback gRPC (the real
 * StoreAPI glue and client): endpoint Info and selection by time range and
 * external label sets (Thanos's LabelSetsMatch), the k-way merge with
 * identical chunks dropped, replica labels stripped and re-sorted within
 * and across streams, the select path's dedup over real chunk bytes,
 * partial response (failing, unhealthy, silent and warning stores; WARN vs
 * ABORT), label fan-out, and the querier's own StoreAPI stacked on top. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "query.h"
#include "st_test.h"
#include "strata/chunkenc.h"
#include "strata/err.h"
#include "strata/grpc.h"
#include "strata/storeapi.h"

#define MAXS 16
#define MAXC 4

/* ---- fake stores ---- */

typedef struct {
    st_labels_t ext; /* advertised label set (may be empty) */
    int64_t mint, maxt;
    size_t n;
    st_labels_t lbls[MAXS]; /* sorted ascending, ext labels included */
    size_t nchunks[MAXS];
    st_xor_appender_t app[MAXS][MAXC];
    int64_t cmint[MAXS][MAXC], cmaxt[MAXS][MAXC];
    const char *warning;  /* sent as a warning frame */
    int fail_after;       /* > 0: fail after this many series */
    int delay_ms;         /* before the first series */
    atomic_int calls;
    st_grpc_server_t *srv;
    char addr[64];
} fake_t;

static bool series_matches(const st_labels_t *l, const st_matchers_t *ms) {
    for (size_t i = 0; i < ms->n; i++) {
        const st_label_t *x = st_labels_get(l, st_matcher_name(ms->v[i]));
        if (!st_matcher_matches(ms->v[i], x ? x->value : "", x ? x->value_len : 0)) return false;
    }
    return true;
}

static int fake_series(void *ctx, const st_series_request_t *req, st_series_sink_t *sink) {
    fake_t *f = ctx;
    atomic_fetch_add(&f->calls, 1);
    if (f->delay_ms) usleep((useconds_t)f->delay_ms * 1000);
    int rc = f->warning ? st_series_sink_warn(sink, f->warning) : ST_OK;
    int sent = 0;
    for (size_t i = 0; i < f->n && !rc; i++) {
        if (!series_matches(&f->lbls[i], &req->matchers)) continue;
        if (f->fail_after > 0 && sent == f->fail_after) return st_errorf(ST_EIO, "fake store broke down");
        st_store_chunk_t c[MAXC];
        size_t nc = 0;
        for (size_t k = 0; k < f->nchunks[i] && !req->skip_chunks; k++) {
            if (f->cmaxt[i][k] < req->min_time || f->cmint[i][k] > req->max_time) continue;
            memset(&c[nc], 0, sizeof c[nc]);
            c[nc].mint = f->cmint[i][k];
            c[nc].maxt = f->cmaxt[i][k];
            c[nc].data[ST_AGGR_RAW] = st_xor_bytes(&f->app[i][k], &c[nc].len[ST_AGGR_RAW]);
            nc++;
        }
        rc = st_series_sink_send(sink, &f->lbls[i], c, nc);
        sent++;
    }
    return rc == 1 ? 0 : rc;
}

static int fake_label_names(void *ctx, const st_label_request_t *req, st_strlist_t *names, st_strlist_t *warnings) {
    fake_t *f = ctx;
    (void)warnings;
    atomic_fetch_add(&f->calls, 1);
    if (f->fail_after > 0) return st_errorf(ST_EIO, "fake store: no names today");
    for (size_t i = 0; i < f->n; i++) {
        if (!series_matches(&f->lbls[i], &req->matchers)) continue;
        for (size_t k = 0; k < f->lbls[i].n; k++) {
            bool seen = false;
            for (size_t j = 0; j < names->n && !seen; j++) seen = strcmp(names->v[j], f->lbls[i].v[k].name) == 0;
            if (!seen && st_strlist_push(names, f->lbls[i].v[k].name)) return ST_ENOMEM;
        }
    }
    if (f->warning && st_strlist_push(warnings, f->warning)) return ST_ENOMEM;
    return ST_OK;
}

static int fake_label_values(void *ctx, const st_label_request_t *req, st_strlist_t *values, st_strlist_t *warnings) {
    fake_t *f = ctx;
    (void)warnings;
    atomic_fetch_add(&f->calls, 1);
    for (size_t i = 0; i < f->n; i++) {
        if (!series_matches(&f->lbls[i], &req->matchers)) continue;
        const st_label_t *l = st_labels_get(&f->lbls[i], req->label);
        if (l && st_strlist_push(values, l->value)) return ST_ENOMEM;
    }
    return ST_OK;
}

static int fake_info(void *ctx, st_store_info_t *out) {
    fake_t *f = ctx;
    out->component = "store";
    out->min_time = f->mint;
    out->max_time = f->maxt;
    if (f->ext.n == 0) return ST_OK;
    if (!(out->label_sets = calloc(1, sizeof *out->label_sets))) return ST_ENOMEM;
    out->nlabel_sets = 1;
    return st_labels_copy(&out->label_sets[0], &f->ext);
}

static const st_storeapi_ops_t fake_ops = {fake_series, fake_label_names, fake_label_values, fake_info};

/* labels from "k=v,k=v" */
static st_labels_t L(const char *spec) {
    st_label_t p[8];
    char buf[256], *save = NULL;
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        p[n++] = st_label(tok, eq + 1);
    }
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, n), 0);
    return l;
}

/* A series with samples every step ms in [from, to] outside [gfrom, gto],
 * value t/1000 + off, one chunk per chunk_span ms. */
static void add_series(fake_t *f, const char *spec, int64_t from, int64_t to, int64_t step, int64_t gfrom,
                       int64_t gto, double off, int64_t chunk_span) {
    size_t i = f->n++;
    f->lbls[i] = L(spec);
    int64_t cstart = INT64_MIN;
    for (int64_t t = from; t <= to; t += step) {
        if (t >= gfrom && t <= gto) continue;
        size_t k = f->nchunks[i];
        if (k == 0 || t - cstart >= chunk_span) {
            assert_true(k < MAXC);
            assert_int_equal(st_xor_appender_init(&f->app[i][k]), 0);
            f->cmint[i][k] = t;
            f->nchunks[i]++;
            cstart = t;
            k++;
        }
        assert_int_equal(st_xor_append(&f->app[i][k - 1], t, (double)t / 1000 + off), 0);
        f->cmaxt[i][k - 1] = t;
    }
}

static void fake_start(fake_t *f) {
    int port;
    assert_int_equal(st_grpc_server_new(&f->srv, NULL), 0);
    assert_int_equal(st_storeapi_register(f->srv, &fake_ops, f, NULL), 0);
    assert_int_equal(st_grpc_server_start(f->srv, "127.0.0.1:0", &port), 0);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", port);
}

static void fake_free(fake_t *f) {
    st_grpc_server_free(f->srv);
    st_labels_free(&f->ext);
    for (size_t i = 0; i < f->n; i++) {
        st_labels_free(&f->lbls[i]);
        for (size_t k = 0; k < f->nchunks[i]; k++) st_xor_appender_free(&f->app[i][k]);
    }
    free(f);
}

static fake_t *fake_new(const char *ext, int64_t mint, int64_t maxt) {
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    if (ext && *ext) f->ext = L(ext);
    f->mint = mint;
    f->maxt = maxt;
    atomic_init(&f->calls, 0);
    return f;
}

/* ---- a querier over them ---- */

typedef struct {
    query_endpoints_t *es;
    query_t q;
    const char *addrs[8];
} querier_t;

static void querier_start(querier_t *qr, fake_t **fs, size_t n, const char *extra_addr) {
    memset(qr, 0, sizeof *qr);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) qr->addrs[k++] = fs[i]->addr;
    if (extra_addr) qr->addrs[k++] = extra_addr;
    query_endpoints_opts_t eo = {.static_addrs = qr->addrs, .nstatic = k, .sd_interval_ms = 300000};
    assert_int_equal(query_endpoints_new(&qr->es, &eo), 0);
    assert_int_equal(query_endpoints_update(qr->es), 0);
    assert_int_equal(query_init(&qr->q, qr->es, 4), 0);
    qr->q.timeout_ms = 20000;
}

static void querier_stop(querier_t *qr) {
    for (int i = 0; i < 1000 && atomic_load(&qr->q.feeds_live) > 0; i++) usleep(10000);
    assert_int_equal(atomic_load(&qr->q.feeds_live), 0);
    query_destroy(&qr->q);
    query_endpoints_free(qr->es);
}

static st_matchers_t sel(const char *s) {
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, s), 0);
    return ms;
}

static void label_str(const st_labels_t *l, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < l->n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s=%s", i ? "," : "", l->v[i].name, l->v[i].value);
}

static bool has_warning(query_warnings_t *w, const char *needle) {
    for (size_t i = 0; i < w->list.n; i++)
        if (strstr(w->list.v[i], needle)) return true;
    return false;
}

/* ---- label-set matching ---- */

static void test_label_sets_match(void **state) {
    (void)state;
    st_labels_t sets[2] = {L("cluster=eu,replica=a"), L("cluster=us,replica=b")};
    st_matchers_t m;
    m = sel("{cluster=\"eu\"}");
    assert_true(query_label_sets_match(&m, sets, 2));
    assert_true(query_label_sets_match(&m, sets, 1));
    assert_false(query_label_sets_match(&m, &sets[1], 1));
    st_matchers_free(&m);
    m = sel("{cluster=~\"e.*\",replica!=\"a\"}"); /* set 0 fails replica, set 1 fails cluster */
    assert_false(query_label_sets_match(&m, sets, 2));
    st_matchers_free(&m);
    m = sel("{__name__=\"up\",job=\"x\"}"); /* labels no set has never exclude */
    assert_true(query_label_sets_match(&m, sets, 2));
    st_matchers_free(&m);
    m = sel("{__name__=\"up\",replica=\"\"}"); /* a set that has the label must match it */
    assert_false(query_label_sets_match(&m, sets, 2));
    st_matchers_free(&m);
    m = sel("{cluster=\"nowhere\"}");
    assert_true(query_label_sets_match(&m, NULL, 0)); /* no label sets: may hold anything */
    st_matchers_free(&m);
    query_target_t t = {.label_sets = sets, .nlabel_sets = 2, .min_time = 1000, .max_time = 2000};
    m = sel("{cluster=\"us\"}");
    assert_true(query_target_matches(&t, 0, 1000, &m));
    assert_true(query_target_matches(&t, 2000, 3000, &m));
    assert_false(query_target_matches(&t, 0, 999, &m));
    assert_false(query_target_matches(&t, 2001, 3000, &m));
    st_matchers_free(&m);
    st_labels_free(&sets[0]);
    st_labels_free(&sets[1]);
}

/* ---- merge ---- */

static void test_merge_identical_chunks(void **state) {
    (void)state;
    fake_t *a = fake_new("", 0, 100000), *b = fake_new("", 0, 100000);
    add_series(a, "__name__=m,i=1", 0, 50000, 10000, -1, -1, 0, 1000000);
    add_series(a, "__name__=m,i=3", 0, 50000, 10000, -1, -1, 0, 30000); /* chunks [0,20k] [30k,50k] */
    add_series(b, "__name__=m,i=2", 0, 50000, 10000, -1, -1, 0, 1000000);
    add_series(b, "__name__=m,i=3", 0, 20000, 10000, -1, -1, 0, 30000);   /* identical to a's first */
    b->nchunks[1] = 1;
    /* and one different chunk for i=3 from b: [25k, 55k] */
    assert_int_equal(st_xor_appender_init(&b->app[1][1]), 0);
    for (int64_t t = 25000; t <= 55000; t += 10000) assert_int_equal(st_xor_append(&b->app[1][1], t, 7), 0);
    b->cmint[1][1] = 25000;
    b->cmaxt[1][1] = 55000;
    b->nchunks[1] = 2;
    fake_start(a);
    fake_start(b);
    fake_t *fs[] = {a, b};
    querier_t qr;
    querier_start(&qr, fs, 2, NULL);
    query_warnings_t w;
    query_warnings_init(&w);
    st_matchers_t ms = sel("{__name__=\"m\"}");
    query_series_req_t r = {.min_time = 0, .max_time = 100000, .matchers = &ms, .deadline_ms = query_now_ms() + 20000};
    query_proxy_t *p;
    assert_int_equal(query_proxy_open(&qr.q, &r, &w, &p), 0);
    const st_labels_t *l;
    const st_store_chunk_t *c;
    size_t n;
    char buf[256];
    static const char *const want[] = {"__name__=m,i=1", "__name__=m,i=2", "__name__=m,i=3"};
    static const size_t wantn[] = {1, 1, 3};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(query_proxy_next(p, &l, &c, &n), 1);
        label_str(l, buf, sizeof buf);
        assert_string_equal(buf, want[i]);
        assert_int_equal(n, wantn[i]);
        for (size_t k = 1; k < n; k++) assert_true(st_dedup_chunk_cmp(&c[k - 1], &c[k]) <= 0);
    }
    /* i=3: [0,20k] once, [25k,55k], [30k,50k] in time order */
    assert_int_equal(c[0].mint, 0);
    assert_int_equal(c[1].mint, 25000);
    assert_int_equal(c[2].mint, 30000);
    assert_int_equal(query_proxy_next(p, &l, &c, &n), 0);
    assert_int_equal(w.list.n, 0);
    assert_int_equal(atomic_load(&qr.q.m.chunks_dropped_identical), 1);
    query_proxy_free(p);
    /* a limit stops the merge */
    r.limit = 2;
    assert_int_equal(query_proxy_open(&qr.q, &r, &w, &p), 0);
    assert_int_equal(query_proxy_next(p, &l, &c, &n), 1);
    assert_int_equal(query_proxy_next(p, &l, &c, &n), 1);
    assert_int_equal(query_proxy_next(p, &l, &c, &n), 0);
    query_proxy_free(p);
    /* free before reading anything: the reader threads walk away */
    r.limit = 0;
    assert_int_equal(query_proxy_open(&qr.q, &r, &w, &p), 0);
    query_proxy_free(p);
    st_matchers_free(&ms);
    query_warnings_destroy(&w);
    querier_stop(&qr);
    fake_free(a);
    fake_free(b);
}

/* ---- select with dedup ---- */

typedef struct {
    char lbls[256];
    size_t n;
    int64_t t[128];
    double v[128];
} got_t;

static size_t run_select(query_ctx_t *c, const char *selector, int64_t mint, int64_t maxt, const char *func,
                         got_t *out, size_t max, int *rc_out) {
    st_matchers_t ms = sel(selector);
    query_hints_t h = {.start = mint, .end = maxt, .func = func};
    st_series_set_t *set = NULL;
    int rc = query_select(c, &ms, mint, maxt, &h, &set);
    size_t n = 0;
    while (!rc && (rc = st_series_set_next(set)) == 1) {
        assert_true(n < max);
        label_str(st_series_set_labels(set), out[n].lbls, sizeof out[n].lbls);
        out[n].n = 0;
        int64_t t;
        double v;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1) {
            assert_true(out[n].n < 128);
            out[n].t[out[n].n] = t;
            out[n].v[out[n].n++] = v;
        }
        n++;
        if (rc < 0) break;
    }
    st_series_set_free(set);
    st_matchers_free(&ms);
    *rc_out = rc;
    return n;
}

/* Two stores, one replica each ({replica="a"} and {replica="b"}), each
 * missing a different stretch of a 15 s series: deduplicated, one series
 * per set without the replica label. A's values are t/1000, B's + 0.5.
 * Each replica is one chunk, so the overlap split makes them the two
 * replicas, in the merged chunk order (equal spans: larger bytes first);
 * the expectations for either order are test_dedup.c's hand-run ones:
 * only the two samples at each switch are lost. */
static void test_select_dedup(void **state) {
    (void)state;
    fake_t *a = fake_new("replica=a", 0, 600000), *b = fake_new("replica=b", 0, 600000);
    add_series(a, "__name__=m,i=1,replica=a", 0, 600000, 15000, 120000, 240000, 0, 10000000);
    add_series(a, "__name__=m,i=2,replica=a", 0, 600000, 15000, -1, -1, 0, 10000000);
    add_series(b, "__name__=m,i=1,replica=b", 0, 600000, 15000, 390000, 480000, 0.5, 10000000);
    add_series(b, "__name__=m,i=2,replica=b", 0, 600000, 15000, -1, -1, 0.5, 10000000);
    st_store_chunk_t cha = {.mint = 0, .maxt = 600000}, chb = cha;
    cha.data[ST_AGGR_RAW] = st_xor_bytes(&a->app[0][0], &cha.len[ST_AGGR_RAW]);
    chb.data[ST_AGGR_RAW] = st_xor_bytes(&b->app[0][0], &chb.len[ST_AGGR_RAW]);
    bool a_first = st_dedup_chunk_cmp(&cha, &chb) < 0;
    fake_start(a);
    fake_start(b);
    fake_t *fs[] = {a, b};
    querier_t qr;
    querier_start(&qr, fs, 2, NULL);
    static const char *const rl[] = {"replica"};
    qr.q.replica_labels = rl;
    qr.q.nreplica_labels = 1;
    query_ctx_t c;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    got_t *got = calloc(8, sizeof *got);
    int rc;
    size_t n = run_select(&c, "{__name__=\"m\"}", 0, 600000, NULL, got, 8, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].lbls, "__name__=m,i=1");
    assert_string_equal(got[1].lbls, "__name__=m,i=2");
    size_t k = 0;
    for (int64_t t = 0; t <= 600000; t += 15000) {
        bool from_b;
        if (a_first) {
            if (t == 120000 || t == 135000 || t == 390000 || t == 405000) continue;
            from_b = t >= 150000 && t <= 375000;
        } else {
            if (t == 390000 || t == 405000) continue;
            from_b = t <= 375000;
        }
        assert_true(k < got[0].n);
        assert_int_equal(got[0].t[k], t);
        assert_true(got[0].v[k] == (double)t / 1000 + (from_b ? 0.5 : 0));
        k++;
    }
    assert_int_equal(k, got[0].n);
    assert_int_equal(got[1].n, 41); /* no gaps: one replica throughout */
    /* labels only: the same two sets, no samples */
    n = run_select(&c, "{__name__=\"m\"}", 0, 600000, "series", got, 8, &rc);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].n, 0);
    /* dedup off: four series with their replica labels */
    c.dedup = false;
    n = run_select(&c, "{__name__=\"m\"}", 100000, 200000, NULL, got, 8, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 4);
    assert_string_equal(got[0].lbls, "__name__=m,i=1,replica=a");
    assert_string_equal(got[1].lbls, "__name__=m,i=1,replica=b");
    assert_string_equal(got[3].lbls, "__name__=m,i=2,replica=b");
    assert_int_equal(got[0].n, 1); /* 105000: A's gap starts at 120000 */
    assert_int_equal(got[1].n, 7); /* 105000..195000 every 15 s */
    assert_int_equal(c.warnings.list.n, 0);
    /* selection by external labels: {replica="b"} reaches only b */
    int ca = atomic_load(&a->calls), cb = atomic_load(&b->calls);
    n = run_select(&c, "{__name__=\"m\",replica=\"b\"}", 0, 600000, NULL, got, 8, &rc);
    assert_int_equal(n, 2);
    assert_int_equal(atomic_load(&a->calls), ca);
    assert_int_equal(atomic_load(&b->calls), cb + 1);
    /* and by time: nothing before the stores' ranges asks anyone */
    n = run_select(&c, "{__name__=\"m\"}", -5000, -1, NULL, got, 8, &rc);
    assert_int_equal(n, 0);
    assert_int_equal(atomic_load(&a->calls), ca);
    query_ctx_destroy(&c);
    free(got);
    querier_stop(&qr);
    fake_free(a);
    fake_free(b);
}

/* One store holding both replicas, with a replica label that sorts first:
 * its stream (a_replica=x: i=1, i=2; a_replica=y: i=1, i=2) must be
 * re-sorted once the label is stripped, and equal sets from the same
 * stream merged. */
static void test_strip_resorts_one_stream(void **state) {
    (void)state;
    fake_t *a = fake_new("", 0, 100000);
    add_series(a, "__name__=m,a_replica=x,i=1", 0, 60000, 15000, -1, -1, 0, 1000000);
    add_series(a, "__name__=m,a_replica=x,i=2", 0, 60000, 15000, -1, -1, 0, 1000000);
    add_series(a, "__name__=m,a_replica=y,i=1", 0, 60000, 15000, 15000, 45000, 0.5, 1000000);
    add_series(a, "__name__=m,a_replica=y,i=2", 0, 60000, 15000, -1, -1, 0.5, 1000000);
    fake_start(a);
    fake_t *fs[] = {a};
    querier_t qr;
    querier_start(&qr, fs, 1, NULL);
    query_ctx_t c;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    assert_int_equal(st_strlist_push(&c.replica_labels, "a_replica"), 0);
    got_t *got = calloc(8, sizeof *got);
    int rc;
    size_t n = run_select(&c, "{__name__=\"m\"}", 0, 100000, NULL, got, 8, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].lbls, "__name__=m,i=1");
    assert_string_equal(got[1].lbls, "__name__=m,i=2");
    /* y's two samples and x's five dedup to five, the last from x (the
     * equal-span chunks' order, and so the first sample's replica, is
     * Thanos's byte order) */
    assert_int_equal(got[0].n, 5);
    assert_true(got[0].v[4] == 60);
    assert_int_equal(got[1].n, 5);
    query_ctx_destroy(&c);
    free(got);
    querier_stop(&qr);
    fake_free(a);
}

/* ---- partial response ---- */

static void test_partial_response(void **state) {
    (void)state;
    fake_t *a = fake_new("replica=a", 0, 100000), *b = fake_new("replica=b", 0, 100000);
    for (int i = 0; i < 3; i++) {
        char s[64];
        snprintf(s, sizeof s, "__name__=m,i=%d,replica=a", i);
        add_series(a, s, 0, 60000, 15000, -1, -1, 0, 1000000);
        snprintf(s, sizeof s, "__name__=m,i=%d,replica=b", i);
        add_series(b, s, 0, 60000, 15000, -1, -1, 0, 1000000);
    }
    b->fail_after = 1;
    fake_start(a);
    fake_start(b);
    fake_t *fs[] = {a, b};
    /* a third endpoint nobody listens on: unhealthy after the Info round */
    querier_t qr;
    querier_start(&qr, fs, 2, "127.0.0.1:1");
    size_t healthy;
    assert_int_equal(query_endpoints_count(qr.es, &healthy), 3);
    assert_int_equal(healthy, 2);
    query_ctx_t c;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    c.dedup = false;
    got_t *got = calloc(8, sizeof *got);
    int rc;
    size_t n = run_select(&c, "{__name__=\"m\"}", 0, 100000, NULL, got, 8, &rc);
    assert_int_equal(rc, 0);
    /* a's three; b's first went down with its call (the glue sends a
     * batch of series when it is full or the call ends well) */
    assert_int_equal(n, 3);
    assert_true(has_warning(&c.warnings, "receive series from Addr: "));
    assert_true(has_warning(&c.warnings, "fake store broke down"));
    assert_true(has_warning(&c.warnings, "store Addr: 127.0.0.1:1 MinTime: "));
    assert_true(has_warning(&c.warnings, "is unhealthy"));
    query_ctx_destroy(&c);
    /* partial response off: the first failure fails the select */
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    c.partial_response = false;
    n = run_select(&c, "{__name__=\"m\"}", 0, 100000, NULL, got, 8, &rc);
    assert_true(rc < 0);
    assert_non_null(strstr(st_errdetail(rc), "unhealthy"));
    query_ctx_destroy(&c);
    /* labels: the failing and the unhealthy store become warnings */
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    st_strlist_t names = {0};
    assert_int_equal(query_labels(&c, NULL, 0, 100000, NULL, &names), 0);
    assert_int_equal(names.n, 3);
    assert_string_equal(names.v[0], "__name__");
    assert_string_equal(names.v[2], "replica");
    assert_true(has_warning(&c.warnings, "fetch label names from store Addr: "));
    assert_true(has_warning(&c.warnings, "no names today"));
    st_strlist_free(&names);
    st_strlist_t values = {0};
    assert_int_equal(query_labels(&c, "replica", 0, 100000, NULL, &values), 0);
    assert_int_equal(values.n, 2); /* sorted, unique */
    assert_string_equal(values.v[0], "a");
    assert_string_equal(values.v[1], "b");
    st_strlist_free(&values);
    c.partial_response = false;
    assert_true(query_labels(&c, NULL, 0, 100000, NULL, &names) < 0);
    query_ctx_destroy(&c);
    free(got);
    querier_stop(&qr);
    fake_free(a);
    fake_free(b);
}

/* A store that says nothing for longer than --store.response-timeout is
 * given up (warning); one whose answer carries a warning frame passes it
 * on, or fails the select under ABORT (as Thanos's proxy). */
static void test_silent_and_warning_stores(void **state) {
    (void)state;
    fake_t *a = fake_new("replica=a", 0, 100000), *b = fake_new("replica=b", 0, 100000);
    add_series(a, "__name__=m,replica=a", 0, 60000, 15000, -1, -1, 0, 1000000);
    add_series(b, "__name__=m,replica=b", 0, 60000, 15000, -1, -1, 0, 1000000);
    b->delay_ms = 1500;
    a->warning = "store a: some blocks were skipped";
    fake_start(a);
    fake_start(b);
    fake_t *fs[] = {a, b};
    querier_t qr;
    querier_start(&qr, fs, 2, NULL);
    qr.q.frame_timeout_ms = 200;
    query_ctx_t c;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    got_t *got = calloc(8, sizeof *got);
    int rc;
    size_t n = run_select(&c, "{__name__=\"m\"}", 0, 100000, NULL, got, 8, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].lbls, "__name__=m,replica=a");
    assert_true(has_warning(&c.warnings, "failed to receive any data in 0.2s from Addr: "));
    assert_true(has_warning(&c.warnings, "store a: some blocks were skipped"));
    query_ctx_destroy(&c);
    /* ABORT: the warning frame fails it (b is still silent but a comes first) */
    qr.q.frame_timeout_ms = 0;
    b->delay_ms = 0;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    c.partial_response = false;
    n = run_select(&c, "{__name__=\"m\"}", 0, 100000, NULL, got, 8, &rc);
    assert_true(rc < 0);
    assert_non_null(strstr(st_errdetail(rc), "some blocks were skipped"));
    query_ctx_destroy(&c);
    /* a deadline passes while waiting: a timeout, not a warning */
    b->delay_ms = 1500;
    a->warning = NULL;
    assert_int_equal(query_ctx_init(&c, &qr.q), 0);
    c.deadline_ms = query_now_ms() + 300;
    n = run_select(&c, "{__name__=\"m\"}", 0, 100000, NULL, got, 8, &rc);
    assert_int_equal(rc, ST_ETIMEDOUT);
    query_ctx_destroy(&c);
    free(got);
    querier_stop(&qr); /* waits for the abandoned readers */
    fake_free(a);
    fake_free(b);
}

/* ---- the querier's own StoreAPI ---- */

static void test_querier_storeapi(void **state) {
    (void)state;
    fake_t *a = fake_new("replica=a", 1000, 100000), *b = fake_new("replica=b", 0, 90000);
    add_series(a, "__name__=m,replica=a", 0, 60000, 15000, -1, -1, 0, 1000000);
    add_series(b, "__name__=m,replica=b", 0, 60000, 15000, -1, -1, 0, 1000000);
    fake_start(a);
    fake_start(b);
    fake_t *fs[] = {a, b};
    querier_t qr;
    querier_start(&qr, fs, 2, NULL);
    st_grpc_server_t *srv;
    int port;
    char addr[64];
    assert_int_equal(st_grpc_server_new(&srv, NULL), 0);
    assert_int_equal(st_storeapi_register(srv, &query_store_ops, &qr.q, NULL), 0);
    assert_int_equal(st_grpc_server_start(srv, "127.0.0.1:0", &port), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    st_grpc_client_t *cli;
    assert_int_equal(st_grpc_client_new(&cli, addr, NULL), 0);
    st_store_info_t info;
    assert_int_equal(st_storeapi_info(cli, 5000, &info), 0);
    assert_string_equal(info.component, "query");
    assert_int_equal(info.nlabel_sets, 2);
    assert_int_equal(info.min_time, 0);
    assert_int_equal(info.max_time, 100000);
    assert_int_equal(info.ntsdb_infos, 2);
    assert_int_equal(info.tsdb_infos[0].min_time, 1000);
    st_store_info_free(&info);
    st_matchers_t ms = sel("{__name__=\"m\"}");
    st_series_request_t req = {.min_time = 0, .max_time = 100000, .matchers = ms};
    st_series_stream_t *s;
    assert_int_equal(st_series_stream_open(&s, cli, &req, 5000), 0);
    const st_labels_t *l;
    const st_store_chunk_t *c;
    size_t n;
    char buf[256];
    assert_int_equal(st_series_stream_next(s, &l, &c, &n), 1);
    label_str(l, buf, sizeof buf);
    assert_string_equal(buf, "__name__=m,replica=a"); /* not deduplicated */
    assert_int_equal(n, 1);
    assert_int_equal(st_xor_num_samples(c[0].data[ST_AGGR_RAW], c[0].len[ST_AGGR_RAW]), 5);
    assert_int_equal(st_series_stream_next(s, &l, &c, &n), 1);
    label_str(l, buf, sizeof buf);
    assert_string_equal(buf, "__name__=m,replica=b");
    assert_int_equal(st_series_stream_next(s, &l, &c, &n), 0);
    st_series_stream_free(s);
    st_label_request_t lr = {.label = "replica", .start = 0, .end = 100000};
    st_strlist_t vals = {0}, warns = {0};
    assert_int_equal(st_storeapi_label_values(cli, &lr, 5000, &vals, &warns), 0);
    assert_int_equal(vals.n, 2);
    st_strlist_free(&vals);
    st_strlist_free(&warns);
    st_matchers_free(&ms);
    st_grpc_client_free(cli);
    st_grpc_server_free(srv);
    querier_stop(&qr);
    fake_free(a);
    fake_free(b);
}


/* ---- file SD ---- */

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_file_sd(void **state) {
    (void)state;
    fake_t *a = fake_new("replica=a", 0, 1000), *b = fake_new("replica=b", 0, 1000);
    fake_start(a);
    fake_start(b);
    char dir[256], glob1[300], glob2[300], text[512];
    assert_int_equal(st_test_mkdtemp(dir, sizeof dir, "query_sd"), 0);
    snprintf(glob1, sizeof glob1, "%s/*.yml", dir);
    snprintf(glob2, sizeof glob2, "%s/*.json", dir);
    const char *files[] = {glob1, glob2};
    query_endpoints_opts_t eo = {.sd_files = files, .nsd_files = 2, .sd_interval_ms = 300000};
    query_endpoints_t *es;
    assert_int_equal(query_endpoints_new(&es, &eo), 0);
    size_t healthy;
    assert_int_equal(query_endpoints_update(es), 0);
    assert_int_equal(query_endpoints_count(es, &healthy), 0); /* no file yet */
    snprintf(text, sizeof text, "- targets: ['%s']\n  labels: {ignored: x}\n", a->addr);
    write_file(dir, "one.yml", text);
    assert_int_equal(query_endpoints_update(es), 0);
    assert_int_equal(query_endpoints_count(es, &healthy), 1);
    assert_int_equal(healthy, 1);
    /* a JSON file adds b; the same address twice is one endpoint */
    snprintf(text, sizeof text, "[{\"targets\": [\"%s\", \"%s\"]}]", b->addr, a->addr);
    write_file(dir, "two.json", text);
    assert_int_equal(query_endpoints_update(es), 0);
    assert_int_equal(query_endpoints_count(es, &healthy), 2);
    assert_int_equal(healthy, 2);
    query_target_t *ts;
    size_t nts;
    assert_int_equal(query_endpoints_snapshot(es, &ts, &nts), 0);
    assert_int_equal(nts, 2);
    assert_int_equal(ts[0].nlabel_sets, 1);
    assert_true(ts[0].known && ts[1].known);
    query_targets_free(ts, nts);
    /* a broken file keeps what it said before */
    write_file(dir, "one.yml", "- targets: [unclosed\n");
    assert_int_equal(query_endpoints_update(es), 0);
    assert_int_equal(query_endpoints_count(es, &healthy), 2);
    /* dns+ is refused (the file's previous targets stay) */
    write_file(dir, "one.yml", "- targets: ['dns+store:10901']\n");
    assert_int_equal(query_endpoints_update(es), 0);
    assert_int_equal(query_endpoints_count(es, &healthy), 2);
    /* a file that goes away takes its targets with it; an endpoint that
     * stops answering stays, unhealthy */
    char path[512];
    snprintf(path, sizeof path, "%s/two.json", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(text, sizeof text, "- targets: ['%s']\n", a->addr);
    write_file(dir, "one.yml", text);
    assert_int_equal(query_endpoints_update(es), 0);
    assert_int_equal(query_endpoints_count(es, &healthy), 1);
    st_grpc_server_free(a->srv);
    a->srv = NULL;
    assert_int_equal(query_endpoints_update(es), 0);
    assert_int_equal(query_endpoints_count(es, &healthy), 1);
    assert_int_equal(healthy, 0);
    assert_int_equal(query_endpoints_snapshot(es, &ts, &nts), 0);
    assert_non_null(ts[0].last_error);
    assert_int_equal(ts[0].nlabel_sets, 1); /* the last known metadata stays */
    query_targets_free(ts, nts);
    query_endpoints_free(es);
    st_rm_rf(dir);
    fake_free(a);
    fake_free(b);
    /* dns+ on the command line is a usage error */
    const char *bad[] = {"dnssrv+_grpc._tcp.store"};
    query_endpoints_opts_t eb = {.static_addrs = bad, .nstatic = 1, .sd_interval_ms = 1000};
    assert_int_equal(query_endpoints_new(&es, &eb), ST_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_sets_match),
        cmocka_unit_test(test_merge_identical_chunks),
        cmocka_unit_test(test_select_dedup),
        cmocka_unit_test(test_strip_resorts_one_stream),
        cmocka_unit_test(test_partial_response),
        cmocka_unit_test(test_silent_and_warning_stores),
        cmocka_unit_test(test_querier_storeapi),
        cmocka_unit_test(test_file_sd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
