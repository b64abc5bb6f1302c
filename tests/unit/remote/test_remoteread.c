/* Remote read: both response types byte for byte against the format
 * reference (§8.3 TimeSeries bytes, §8.4 streamed frame and XOR chunk),
 * negotiation, external labels, limits and bad requests, frame splitting,
 * the client decoders, and st_db_select as the data source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <snappy-c.h>

#include "strata/buf.h"
#include "strata/chunkenc.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/remoteread.h"
#include "strata/tsdb.h"
#include "st_test.h"

static const int64_t T = 1795554770989;

static size_t unhex(const char *h, uint8_t *out) {
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* ---- an in-memory series set ---- */

typedef struct {
    st_labels_t lbls;
    const int64_t *t;
    const double *v;
    size_t n;
} fseries_t;

typedef struct {
    fseries_t *s;
    size_t n, cur, pos;
    bool started;
} fset_t;

static int fset_next(void *ctx) {
    fset_t *f = ctx;
    if (f->started) f->cur++;
    f->started = true;
    f->pos = 0;
    return f->cur < f->n;
}
static const st_labels_t *fset_labels(void *ctx) {
    fset_t *f = ctx;
    return &f->s[f->cur].lbls;
}
static int fset_sample(void *ctx, int64_t *t, double *v) {
    fset_t *f = ctx;
    const fseries_t *s = &f->s[f->cur];
    if (f->pos >= s->n) return 0;
    *t = s->t[f->pos];
    *v = s->v[f->pos++];
    return 1;
}
static void fset_free(void *ctx) { free(ctx); }
static const st_series_set_ops_t fset_ops = {.next = fset_next, .labels = fset_labels,
                                            .sample = fset_sample, .free = fset_free};

typedef struct {
    fseries_t *s;
    size_t n;
    int calls;
    char seen[256]; /* the matchers of the last query, as name op value; */
    int64_t mint, maxt;
} source_t;

static int source_query(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out) {
    source_t *src = ctx;
    src->calls++;
    src->mint = mint;
    src->maxt = maxt;
    src->seen[0] = 0;
    static const char *ops[] = {"=", "!=", "=~", "!~"};
    for (size_t i = 0; i < ms->n; i++) {
        size_t l = strlen(src->seen);
        snprintf(src->seen + l, sizeof src->seen - l, "%s%s\"%s\";", st_matcher_name(ms->v[i]),
                 ops[st_matcher_type(ms->v[i])], st_matcher_value(ms->v[i]));
    }
    fset_t *f = calloc(1, sizeof *f);
    f->s = src->s;
    f->n = src->n;
    return st_series_set_new(out, &fset_ops, f);
}

static st_labels_t mk2(const char *n1, const char *v1, const char *n2, const char *v2) {
    st_label_t p[2] = {st_label(n1, v1)};
    if (n2) p[1] = st_label(n2, v2);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, n2 ? 2 : 1), 0);
    return l;
}

static const int64_t ex_t[2] = {1795554770989, 1795554771989};
static const double ex_v[2] = {1.5, 2.5};

static uint8_t *request(const char *selector, int64_t mint, int64_t maxt, const st_rr_response_type_t *acc,
                        size_t nacc, size_t *len) {
    st_remoteread_query_t q = {mint, maxt, {0}};
    assert_int_equal(st_selector_parse(&q.matchers, selector), 0);
    uint8_t *body;
    assert_int_equal(st_remoteread_encode_request(&q, 1, acc, nacc, &body, len), 0);
    st_matchers_free(&q.matchers);
    return body;
}

/* SAMPLES: the ReadResponse is QueryResult{ the §8.3 TimeSeries bytes }. */
static void test_samples_exact_bytes(void **state) {
    (void)state;
    fseries_t s = {mk2("__name__", "rw_test", "job", "c"), ex_t, ex_v, 2};
    source_t src = {&s, 1, 0, {0}, 0, 0};
    size_t len;
    uint8_t *body = request("rw_test", T - 5000, T + 5000, NULL, 0, &len);
    st_remoteread_response_t r;
    assert_int_equal(st_remoteread_handle(body, len, NULL, source_query, &src, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/x-protobuf");
    assert_string_equal(r.content_encoding, "snappy");
    assert_string_equal(src.seen, "__name__=\"rw_test\";");
    assert_int_equal(src.mint, T - 5000);
    assert_int_equal(src.maxt, T + 5000);

    size_t ulen;
    assert_int_equal(snappy_uncompressed_length((const char *)r.body, r.len, &ulen), SNAPPY_OK);
    uint8_t *raw = malloc(ulen);
    assert_int_equal(snappy_uncompress((const char *)r.body, r.len, (char *)raw, &ulen), SNAPPY_OK);
    uint8_t want[128];
    size_t wn = unhex("0a45"
                      "0a430a130a085f5f6e616d655f5f120772775f746573740a080a036a6f62120163121009000000000000f83f10ad80"
                      "9efba03412100900000000000004401095889efba034",
                      want);
    assert_int_equal(ulen, wn);
    assert_memory_equal(raw, want, wn);
    free(raw);

    /* and the client decoder reads it back */
    st_remoteread_result_t *res;
    size_t nres;
    assert_int_equal(st_remoteread_decode_samples(r.body, r.len, 0, &res, &nres), 0);
    assert_int_equal(nres, 1);
    assert_int_equal(res[0].n, 1);
    assert_true(st_labels_equal(&res[0].series[0].lbls, &s.lbls));
    assert_int_equal(res[0].series[0].n, 2);
    assert_int_equal(res[0].series[0].t[1], T + 1000);
    assert_true(res[0].series[0].v[1] == 2.5);
    st_remoteread_results_free(res, nres);
    st_remoteread_response_free(&r);
    free(body);
    st_labels_free(&s.lbls);
}

/* STREAMED_XOR_CHUNKS: one 75-byte frame holding the §8.4 chunk. */
static void test_streamed_exact_bytes(void **state) {
    (void)state;
    fseries_t s = {mk2("__name__", "rw_test", "job", "c"), ex_t, ex_v, 2};
    source_t src = {&s, 1, 0, {0}, 0, 0};
    st_rr_response_type_t acc[1] = {ST_RR_STREAMED_XOR_CHUNKS};
    size_t len;
    uint8_t *body = request("rw_test", T - 5000, T + 5000, acc, 1, &len);
    st_remoteread_response_t r;
    assert_int_equal(st_remoteread_handle(body, len, NULL, source_query, &src, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse");
    assert_null(r.content_encoding);
    uint8_t msg[128];
    size_t mn = unhex("0a49"
                      "0a130a085f5f6e616d655f5f120772775f74657374"
                      "0a080a036a6f62120163"
                      "1228"
                      "08ad809efba034" "1095889efba034" "1801"
                      "2216" "0002da80bcf6c1683ff8000000000000e807c26fffc0",
                      msg);
    assert_int_equal(mn, 75);
    assert_int_equal(r.len, 1 + 4 + 75);
    assert_int_equal(r.body[0], 75);
    assert_int_equal(st_be32(r.body + 1), st_crc32c(0, msg, mn));
    assert_memory_equal(r.body + 5, msg, mn);

    st_remoteread_frame_t f;
    size_t used;
    assert_int_equal(st_remoteread_frame_next(r.body, r.len - 1, 0, &f, &used), 0); /* partial: read more */
    assert_int_equal(st_remoteread_frame_next(r.body, r.len, 0, &f, &used), 1);
    assert_int_equal(used, r.len);
    assert_int_equal(f.query_index, 0);
    assert_int_equal(f.nseries, 1);
    assert_int_equal(f.series[0].nchunks, 1);
    assert_int_equal(f.series[0].chunks[0].mint, T);
    assert_int_equal(f.series[0].chunks[0].maxt, T + 1000);
    assert_int_equal(f.series[0].chunks[0].type, ST_CHUNK_ENC_XOR);
    assert_int_equal(f.series[0].chunks[0].len, 22);
    st_remoteread_frame_free(&f);

    /* client-side errors: CRC, size cap */
    r.body[10] ^= 1;
    int rc = st_remoteread_frame_next(r.body, r.len, 0, &f, &used);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "CRC"));
    assert_int_equal(st_remoteread_frame_next(r.body, r.len, 10, &f, &used), ST_ELIMIT);
    uint8_t badvar[11];
    memset(badvar, 0xff, sizeof badvar);
    assert_int_equal(st_remoteread_frame_next(badvar, sizeof badvar, 0, &f, &used), ST_ECORRUPT);
    st_remoteread_response_free(&r);
    free(body);
    st_labels_free(&s.lbls);
}

/* Long series are split into chunks of <= 120 samples and frames of about
 * max_bytes_in_frame; series are never mixed in a frame. */
static void test_streamed_frames_split(void **state) {
    (void)state;
    enum { N = 1000 };
    int64_t *t = malloc(N * sizeof *t);
    double *v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        t[i] = 1000 + (int64_t)i * 15000;
        v[i] = i; /* a counter: a few hundred bytes per chunk, several chunks per frame */
    }
    fseries_t s[2] = {{mk2("__name__", "a", NULL, NULL), t, v, N}, {mk2("__name__", "b", NULL, NULL), t, v, 7}};
    source_t src = {s, 2, 0, {0}, 0, 0};
    st_rr_response_type_t acc[2] = {(st_rr_response_type_t)7, ST_RR_STREAMED_XOR_CHUNKS}; /* unknown first: skipped */
    size_t len;
    uint8_t *body = request("{__name__=~\"a|b\"}", 0, INT64_MAX, acc, 2, &len);
    st_remoteread_opts_t o = {.max_bytes_in_frame = 600};
    st_remoteread_response_t r;
    assert_int_equal(st_remoteread_handle(body, len, &o, source_query, &src, &r), 0);
    assert_string_equal(r.content_type, ST_RR_CONTENT_TYPE_STREAMED);
    size_t off = 0, frames = 0, got[2] = {0, 0}, maxchunks = 0;
    while (off < r.len) {
        st_remoteread_frame_t f;
        size_t used;
        assert_int_equal(st_remoteread_frame_next(r.body + off, r.len - off, 0, &f, &used), 1);
        assert_true(used < 600 + 500); /* the budget may be exceeded by one chunk */
        maxchunks = f.series[0].nchunks > maxchunks ? f.series[0].nchunks : maxchunks;
        assert_int_equal(f.nseries, 1);
        int which = f.series[0].lbls.v[0].value[0] - 'a';
        for (size_t c = 0; c < f.series[0].nchunks; c++) {
            const st_remoteread_chunk_t *ch = &f.series[0].chunks[c];
            st_xor_iter_t it;
            assert_int_equal(st_xor_iter_init(&it, ch->data, ch->len), 0);
            assert_true(it.num <= 120);
            int64_t ts;
            double vs;
            int64_t first = INT64_MIN, last = 0;
            while (st_xor_iter_next(&it) == 1) {
                st_xor_iter_at(&it, &ts, &vs);
                assert_int_equal(ts, t[got[which]]);
                assert_true(vs == v[got[which]]);
                got[which]++;
                if (first == INT64_MIN) first = ts;
                last = ts;
            }
            assert_int_equal(ch->mint, first);
            assert_int_equal(ch->maxt, last);
        }
        st_remoteread_frame_free(&f);
        off += used;
        frames++;
    }
    assert_int_equal(got[0], N);
    assert_int_equal(got[1], 7);
    assert_true(frames > 3);
    assert_true(maxchunks > 1);
    st_remoteread_response_free(&r);
    free(body);
    st_labels_free(&s[0].lbls);
    st_labels_free(&s[1].lbls);
    free(t);
    free(v);
}

static void test_external_labels(void **state) {
    (void)state;
    fseries_t s = {mk2("__name__", "up", "job", "x"), ex_t, ex_v, 2};
    source_t src = {&s, 1, 0, {0}, 0, 0};
    st_labels_t ext = mk2("job", "ignored", "region", "eu");
    st_remoteread_opts_t o = {.external_labels = &ext};
    size_t len;
    uint8_t *body = request("up{region=\"eu\",job=~\".+\"}", 0, INT64_MAX, NULL, 0, &len);
    st_remoteread_response_t r;
    assert_int_equal(st_remoteread_handle(body, len, &o, source_query, &src, &r), 0);
    /* the external label's matcher now asks for series without it */
    assert_string_equal(src.seen, "region=\"\";job=~\".+\";__name__=\"up\";");
    st_remoteread_result_t *res;
    size_t nres;
    assert_int_equal(st_remoteread_decode_samples(r.body, r.len, 0, &res, &nres), 0);
    const st_labels_t *l = &res[0].series[0].lbls;
    assert_int_equal(l->n, 3);
    assert_string_equal(st_labels_get(l, "job")->value, "x"); /* the series' own value wins */
    assert_string_equal(st_labels_get(l, "region")->value, "eu");
    st_remoteread_results_free(res, nres);
    st_remoteread_response_free(&r);
    free(body);
    st_labels_free(&ext);
    st_labels_free(&s.lbls);
}

static void expect_400(const uint8_t *body, size_t len, const st_remoteread_opts_t *o, source_t *src, int code,
                       const char *text) {
    st_remoteread_response_t r;
    int rc = st_remoteread_handle(body, len, o, source_query, src, &r);
    assert_int_equal(rc, code);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    assert_non_null(r.body);
    char *msg = strndup((const char *)r.body, r.len);
    if (!strstr(msg, text)) fail_msg("expected \"%s\" in \"%s\"", text, msg);
    free(msg);
    st_remoteread_response_free(&r);
}

static void test_bad_requests(void **state) {
    (void)state;
    fseries_t s = {mk2("__name__", "up", NULL, NULL), ex_t, ex_v, 2};
    source_t src = {&s, 1, 0, {0}, 0, 0};
    const uint8_t junk[] = {0x05, 'a', 'b'};
    expect_400(junk, sizeof junk, NULL, &src, ST_ECORRUPT, "snappy");
    /* valid snappy, invalid protobuf */
    uint8_t raw[] = {0x0a, 0x50, 0x01}, comp[64];
    size_t clen = sizeof comp;
    assert_int_equal(snappy_compress((const char *)raw, sizeof raw, (char *)comp, &clen), SNAPPY_OK);
    expect_400(comp, clen, NULL, &src, ST_ECORRUPT, "protobuf");
    /* a header claiming a huge decoded size */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    expect_400(huge, sizeof huge, NULL, &src, ST_ELIMIT, "limit");
    /* no supported response type */
    st_rr_response_type_t acc[1] = {(st_rr_response_type_t)9};
    size_t len;
    uint8_t *body = request("up", 0, 1, acc, 1, &len);
    expect_400(body, len, NULL, &src, ST_EINVAL, "does not support");
    free(body);
    /* sample limit */
    body = request("up", 0, INT64_MAX, NULL, 0, &len);
    st_remoteread_opts_t o = {.sample_limit = 1};
    expect_400(body, len, &o, &src, ST_ELIMIT, "exceeded sample limit (1)");
    free(body);
    /* a regex that does not compile: ReadRequest{Query{end 1, LabelMatcher{RE, "a", "(("}}} */
    uint8_t req2[32];
    size_t n2 = unhex("0a0d" "1001" "1a09" "0802" "120161" "1a022828", req2);
    clen = sizeof comp;
    assert_int_equal(snappy_compress((const char *)req2, n2, (char *)comp, &clen), SNAPPY_OK);
    expect_400(comp, clen, NULL, &src, ST_EINVAL, "query 0: matcher 0");
    assert_int_equal(src.calls, 1); /* only the sample-limit request got as far as a query */
    st_labels_free(&s.lbls);
}

static void test_request_roundtrip(void **state) {
    (void)state;
    st_remoteread_query_t q[2] = {{-5, 10, {0}}, {100, 200, {0}}};
    assert_int_equal(st_selector_parse(&q[0].matchers, "up{a!=\"b\",c=~\"d|e\",f!~\"g\"}"), 0);
    assert_int_equal(st_selector_parse(&q[1].matchers, "{x=\"y\"}"), 0);
    st_rr_response_type_t acc[2] = {ST_RR_STREAMED_XOR_CHUNKS, ST_RR_SAMPLES};
    uint8_t *body;
    size_t len;
    assert_int_equal(st_remoteread_encode_request(q, 2, acc, 2, &body, &len), 0);
    st_remoteread_request_t req;
    assert_int_equal(st_remoteread_decode_request(body, len, 0, &req), 0);
    assert_int_equal(req.nqueries, 2);
    assert_int_equal(req.queries[0].start_ms, -5);
    assert_int_equal(req.queries[0].matchers.n, 4);
    /* the selector parser puts the metric name last */
    assert_int_equal(st_matcher_type(req.queries[0].matchers.v[2]), ST_MATCH_NRE);
    assert_string_equal(st_matcher_value(req.queries[0].matchers.v[1]), "d|e");
    assert_string_equal(st_matcher_value(req.queries[0].matchers.v[3]), "up");
    assert_int_equal(req.queries[1].end_ms, 200);
    assert_int_equal(req.naccepted, 2);
    assert_int_equal(req.accepted[0], ST_RR_STREAMED_XOR_CHUNKS);
    st_remoteread_request_free(&req);
    /* truncated */
    assert_int_equal(st_remoteread_decode_request(body, len - 1, 0, &req), ST_ECORRUPT);
    free(body);
    st_matchers_free(&q[0].matchers);
    st_matchers_free(&q[1].matchers);
}

static int db_query(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out) {
    return st_db_select(ctx, ms, mint, maxt, out);
}

/* The scraper's wiring: st_db_select over the head answers remote read. */
static void test_from_db(void **state) {
    (void)state;
    char dir[4096];
    assert_int_equal(st_test_mkdtemp(dir, sizeof dir, "remoteread"), 0);
    st_db_opts_t o;
    st_db_opts_default(&o, dir);
    st_db_t *db;
    assert_int_equal(st_db_open(&db, &o), 0);
    st_appender_t *a;
    assert_int_equal(st_db_appender(db, &a), 0);
    st_labels_t l = mk2("__name__", "rw_test", "job", "c");
    uint64_t ref = 0;
    assert_int_equal(st_appender_add(a, &ref, &l, T, 1.5), 0);
    assert_int_equal(st_appender_add(a, &ref, NULL, T + 1000, 2.5), 0);
    assert_int_equal(st_appender_commit(a), 0);
    st_rr_response_type_t acc[1] = {ST_RR_STREAMED_XOR_CHUNKS};
    size_t len;
    uint8_t *body = request("rw_test", T - 10000, T + 10000, acc, 1, &len);
    st_remoteread_response_t r;
    assert_int_equal(st_remoteread_handle(body, len, NULL, db_query, db, &r), 0);
    /* same bytes as the §8.4 frame */
    assert_int_equal(r.len, 80);
    uint8_t chunk[32];
    size_t cn = unhex("0002da80bcf6c1683ff8000000000000e807c26fffc0", chunk);
    assert_memory_equal(r.body + 80 - cn, chunk, cn);
    st_remoteread_response_free(&r);
    free(body);
    st_labels_free(&l);
    st_db_close(db);
    assert_int_equal(st_rm_rf(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_exact_bytes), cmocka_unit_test(test_streamed_exact_bytes),
        cmocka_unit_test(test_streamed_frames_split), cmocka_unit_test(test_external_labels),
        cmocka_unit_test(test_bad_requests), cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_from_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
