/* The StoreAPI glue end to end on loopback: a fake store implementing the
 * ops behind st_storeapi_register, and the client. Series streaming of
 * 5000 series unbatched and batched (frames checked with protobuf-c: batch
 * sizes, frame size cap, chunk hashes recomputed with XXH64), the request
 * limit (with skip_chunks), the store limits (series, samples, fetched
 * bytes) reaching the client as ST_ELIMIT with Thanos's text, warnings and
 * queried-block hints, a client cancelling mid-stream, bad requests, label
 * names/values (sorted, unique, limited), and Info. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <time.h>
#include <xxhash.h>

#include "strata/chunkenc.h"
#include "strata/err.h"
#include "strata/grpc.h"
#include "strata/storeapi.h"
#include "thanos/rpc.pb-c.h"

#define NSERIES 5000
#define SAMPLES_PER_CHUNK 3
#define TIMEOUT_MS 30000

/* ---- the fake store ---- */

typedef struct {
    /* data: series i = {__name__="m", i="%05d"} with one raw chunk of
     * SAMPLES_PER_CHUNK samples t = 1000 k, v = i + k / 10 */
    st_labels_t lbls[NSERIES];
    st_xor_appender_t chunk[NSERIES];
    bool endless; /* keep sending until the sink refuses */
    /* what the last series() call saw, for the tests to wait on */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int last_rc; /* the sink's last non-zero answer */
    size_t sent;
} store_t;

static store_t *S;

static int store_series(void *ctx, const st_series_request_t *req, st_series_sink_t *sink) {
    store_t *s = ctx;
    int rc = st_series_sink_warn(sink, "fake store: partial data");
    if (!rc) rc = st_series_sink_queried_block(sink, "01AAAAAAAAAAAAAAAAAAAAAAAA");
    if (!rc) rc = st_series_sink_queried_block(sink, "01BBBBBBBBBBBBBBBBBBBBBBBB");
    size_t sent = 0;
    for (size_t i = 0; !rc && (s->endless || i < NSERIES); i++) {
        size_t k = i % NSERIES;
        st_store_chunk_t c = {.mint = 0, .maxt = 1000 * (SAMPLES_PER_CHUNK - 1)};
        c.data[ST_AGGR_RAW] = st_xor_bytes(&s->chunk[k], &c.len[ST_AGGR_RAW]);
        if (s->endless && k == 0 && i > 0) {
            /* labels must keep ascending: wrap with a bigger name */
            st_label_t p[2] = {st_label("__name__", "n"), st_label("i", "x")};
            st_labels_t l;
            if (st_labels_from_pairs(&l, p, 2)) return ST_ENOMEM;
            rc = st_series_sink_send(sink, &l, &c, 1);
            st_labels_free(&l);
            if (!rc) continue;
            break;
        }
        if ((rc = st_series_sink_fetched(sink, 100))) break;
        rc = st_series_sink_send(sink, &s->lbls[k], &c, req->skip_chunks ? 0 : 1);
        if (rc == 0 || rc == 1) sent++;
    }
    pthread_mutex_lock(&s->mu);
    s->last_rc = rc;
    s->sent = sent;
    s->done = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return rc == 1 ? 0 : rc;
}

static int store_label_names(void *ctx, const st_label_request_t *req, st_strlist_t *names, st_strlist_t *warnings) {
    (void)ctx;
    if (req->start != -10 || req->end != 10) return st_errorf(ST_EINVAL, "fake store: unexpected range");
    static const char *const v[] = {"job", "__name__", "zone", "job", "instance"};
    for (size_t i = 0; i < 5; i++)
        if (st_strlist_push(names, v[i])) return ST_ENOMEM;
    return st_strlist_push(warnings, "fake store: names may be partial");
}

static int store_label_values(void *ctx, const st_label_request_t *req, st_strlist_t *values,
                              st_strlist_t *warnings) {
    (void)ctx, (void)warnings;
    if (strcmp(req->label, "job") != 0) return st_errorf(ST_ENOTFOUND, "fake store: no label %s", req->label);
    if (req->matchers.n != 1 || strcmp(st_matcher_value(req->matchers.v[0]), "m") != 0)
        return st_errorf(ST_EINVAL, "fake store: expected the matcher __name__=\"m\"");
    static const char *const v[] = {"c", "a", "b", "a"};
    for (size_t i = 0; i < 4; i++)
        if (st_strlist_push(values, v[i])) return ST_ENOMEM;
    return ST_OK;
}

static int store_info(void *ctx, st_store_info_t *out) {
    (void)ctx;
    st_label_t p[2] = {st_label("cluster", "eu"), st_label("replica", "r1")};
    out->component = "store";
    out->min_time = -1000;
    out->max_time = INT64_MAX;
    out->supports_sharding = false;
    if (!(out->label_sets = calloc(1, sizeof *out->label_sets))) return ST_ENOMEM;
    int rc = st_labels_from_pairs(&out->label_sets[0], p, 2);
    if (rc) return rc;
    out->nlabel_sets = 1;
    if (!(out->tsdb_infos = calloc(1, sizeof *out->tsdb_infos))) return ST_ENOMEM;
    out->ntsdb_infos = 1;
    out->tsdb_infos[0].min_time = 5;
    out->tsdb_infos[0].max_time = 6;
    return st_labels_from_pairs(&out->tsdb_infos[0].labels, p, 1);
}

static const st_storeapi_ops_t ops = {store_series, store_label_names, store_label_values, store_info};
static const st_storeapi_ops_t ops_series_only = {store_series, NULL, NULL, NULL};

typedef struct {
    st_grpc_server_t *srv;
    st_grpc_client_t *cli;
} loop_t;

static loop_t start(const st_storeapi_ops_t *o, const st_storeapi_limits_t *limits) {
    loop_t l = {0};
    int port;
    char addr[64];
    assert_int_equal(st_grpc_server_new(&l.srv, NULL), 0);
    assert_int_equal(st_storeapi_register(l.srv, o, S, limits), 0);
    assert_int_equal(st_grpc_server_start(l.srv, "127.0.0.1:0", &port), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(st_grpc_client_new(&l.cli, addr, NULL), 0);
    pthread_mutex_lock(&S->mu);
    S->done = false;
    S->last_rc = 0;
    S->sent = 0;
    pthread_mutex_unlock(&S->mu);
    return l;
}

static void stop(loop_t *l) {
    st_grpc_client_free(l->cli);
    st_grpc_server_free(l->srv);
}

/* Wait until the fake store's series() returned; its last sink answer. */
static int wait_store(size_t *sent) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&S->mu);
    while (!S->done)
        if (pthread_cond_timedwait(&S->cv, &S->mu, &ts)) fail_msg("the store's series() did not return in 20 s");
    int rc = S->last_rc;
    if (sent) *sent = S->sent;
    pthread_mutex_unlock(&S->mu);
    return rc;
}

static int setup(void **state) {
    (void)state;
    S = calloc(1, sizeof *S);
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);
    for (size_t i = 0; i < NSERIES; i++) {
        char v[16];
        snprintf(v, sizeof v, "%05zu", i);
        st_label_t p[2] = {st_label("__name__", "m"), st_label("i", v)};
        if (st_labels_from_pairs(&S->lbls[i], p, 2) || st_xor_appender_init(&S->chunk[i])) return -1;
        for (int k = 0; k < SAMPLES_PER_CHUNK; k++)
            if (st_xor_append(&S->chunk[i], 1000 * k, (double)i + k / 10.0)) return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (size_t i = 0; i < NSERIES; i++) {
        st_labels_free(&S->lbls[i]);
        st_xor_appender_free(&S->chunk[i]);
    }
    pthread_mutex_destroy(&S->mu);
    pthread_cond_destroy(&S->cv);
    free(S);
    return 0;
}

static st_series_request_t request(int64_t batch, int64_t limit) {
    st_series_request_t r = {.min_time = 0, .max_time = 10000, .limit = limit, .response_batch_size = batch};
    assert_int_equal(st_selector_parse(&r.matchers, "{__name__=\"m\"}"), 0);
    return r;
}

/* Read a whole stream, checking each series against the store's data. */
static void read_all(loop_t *l, int64_t batch) {
    st_series_request_t req = request(batch, 0);
    st_series_stream_t *s;
    assert_int_equal(st_series_stream_open(&s, l->cli, &req, TIMEOUT_MS), 0);
    const st_labels_t *lbls;
    const st_store_chunk_t *chunks;
    size_t n, got = 0;
    int rc;
    while ((rc = st_series_stream_next(s, &lbls, &chunks, &n)) == 1) {
        assert_true(got < NSERIES);
        assert_true(st_labels_equal(lbls, &S->lbls[got]));
        assert_int_equal(n, 1);
        size_t len;
        const uint8_t *want = st_xor_bytes(&S->chunk[got], &len);
        assert_int_equal(chunks[0].len[ST_AGGR_RAW], len);
        assert_memory_equal(chunks[0].data[ST_AGGR_RAW], want, len);
        assert_int_equal(chunks[0].maxt, 1000 * (SAMPLES_PER_CHUNK - 1));
        for (int a = 1; a < ST_AGGR_N; a++) assert_null(chunks[0].data[a]);
        got++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got, NSERIES);
    const st_strlist_t *w = st_series_stream_warnings(s), *b = st_series_stream_queried_blocks(s);
    assert_int_equal(w->n, 1);
    assert_string_equal(w->v[0], "fake store: partial data");
    assert_int_equal(b->n, 2);
    assert_string_equal(b->v[0], "01AAAAAAAAAAAAAAAAAAAAAAAA");
    assert_string_equal(b->v[1], "01BBBBBBBBBBBBBBBBBBBBBBBB");
    assert_int_equal(st_series_stream_next(s, &lbls, &chunks, &n), 0); /* stays ended */
    st_series_stream_free(s);
    st_series_request_free(&req);
    assert_int_equal(wait_store(NULL), 0);
}

static void test_series_unbatched(void **state) {
    (void)state;
    loop_t l = start(&ops, NULL);
    read_all(&l, 0);
    stop(&l);
}

static void test_series_batched(void **state) {
    (void)state;
    loop_t l = start(&ops, NULL);
    read_all(&l, 100);
    stop(&l);
}

/* The raw frames, decoded with protobuf-c: shapes, sizes, hashes. */
/* Without a frame cap every batch but the last holds `per_frame` series;
 * with one, every frame fits the cap and all but the last are too full to
 * take another series (one is < 80 bytes here). */
static void check_frames(int64_t batch, size_t max_frame, size_t per_frame) {
    st_storeapi_limits_t lim = {.max_frame_bytes = max_frame};
    loop_t l = start(&ops, &lim);
    st_series_request_t req = request(batch, 0);
    uint8_t *enc, *msg;
    size_t len, mlen, series = 0, frames = 0, max_seen = 0;
    assert_int_equal(st_series_request_encode(&req, &enc, &len), 0);
    st_grpc_stream_t *st;
    assert_int_equal(st_grpc_stream_open(&st, l.cli, ST_STOREAPI_SERIES, enc, len, TIMEOUT_MS), 0);
    int rc, order = 0; /* 0 warning first, 1 series, 2 hints last */
    while ((rc = st_grpc_stream_recv(st, &msg, &mlen)) == 1) {
        Thanos__SeriesResponse *r = thanos__series_response__unpack(NULL, mlen, msg);
        assert_non_null(r);
        Thanos__Series **sv = NULL;
        size_t ns = 0;
        switch (r->result_case) {
        case THANOS__SERIES_RESPONSE__RESULT_WARNING:
            assert_int_equal(order, 0);
            assert_string_equal(r->warning, "fake store: partial data");
            break;
        case THANOS__SERIES_RESPONSE__RESULT_SERIES:
            assert_true(batch <= 1);
            sv = &r->series;
            ns = 1;
            break;
        case THANOS__SERIES_RESPONSE__RESULT_BATCH:
            assert_true(batch > 1);
            sv = r->batch->series;
            ns = r->batch->n_series;
            assert_true(ns >= 1 && ns <= (size_t)batch);
            if (max_frame) {
                assert_true(mlen <= max_frame);
                if (series + ns < NSERIES) assert_true(mlen + 80 > max_frame);
            } else if (series + ns < NSERIES) {
                assert_int_equal(ns, per_frame);
            }
            break;
        case THANOS__SERIES_RESPONSE__RESULT_HINTS:
            order = 2;
            assert_string_equal(r->hints->type_url, "type.googleapis.com/hintspb.SeriesResponseHints");
            break;
        default: fail_msg("unexpected frame %d", (int)r->result_case);
        }
        if (ns) {
            assert_int_not_equal(order, 2);
            order = 1;
            frames++;
            if (ns > max_seen) max_seen = ns;
        }
        for (size_t i = 0; i < ns; i++, series++) {
            assert_int_equal(sv[i]->n_labels, 2);
            assert_string_equal(sv[i]->labels[1]->value, S->lbls[series].v[1].value);
            assert_int_equal(sv[i]->n_chunks, 1);
            Thanos__Chunk *c = sv[i]->chunks[0]->raw;
            assert_non_null(c);
            assert_int_equal(c->type, THANOS__CHUNK__ENCODING__XOR);
            assert_int_equal(c->hash, XXH64(c->data.data, c->data.len, 0));
            assert_int_equal(sv[i]->chunks[0]->min_time, 0);
            assert_int_equal(sv[i]->chunks[0]->max_time, 2000);
        }
        thanos__series_response__free_unpacked(r, NULL);
        free(msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(order, 2);
    assert_int_equal(series, NSERIES);
    if (!max_frame) {
        assert_int_equal(max_seen, per_frame);
        assert_int_equal(frames, (NSERIES + per_frame - 1) / per_frame);
    } else {
        assert_true(max_seen < (size_t)batch); /* the cap, not the batch size, closed the frames */
    }
    st_grpc_stream_free(st);
    free(enc);
    st_series_request_free(&req);
    stop(&l);
}

static void test_series_frames(void **state) {
    (void)state;
    check_frames(0, 0, 1);
    check_frames(1, 0, 1);
    check_frames(100, 0, 100);
    check_frames(100, 1000, 0);
}

static void test_series_limit(void **state) {
    (void)state;
    for (int64_t batch = 0; batch <= 100; batch += 100) {
        loop_t l = start(&ops, NULL);
        st_series_request_t req = request(batch, 10);
        req.skip_chunks = batch > 0;
        st_series_stream_t *s;
        assert_int_equal(st_series_stream_open(&s, l.cli, &req, TIMEOUT_MS), 0);
        const st_labels_t *lbls;
        const st_store_chunk_t *chunks;
        size_t n, got = 0, sent;
        int rc;
        while ((rc = st_series_stream_next(s, &lbls, &chunks, &n)) == 1) {
            assert_true(st_labels_equal(lbls, &S->lbls[got++]));
            assert_int_equal(n, req.skip_chunks ? 0 : 1);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(got, 10);
        assert_int_equal(st_series_stream_queried_blocks(s)->n, 2);
        /* the sink said "stop" (1) on the 10th series: the store never produced an 11th */
        assert_int_equal(wait_store(&sent), 1);
        assert_int_equal(sent, 10);
        st_series_stream_free(s);
        st_series_request_free(&req);
        stop(&l);
    }
}

static void expect_limit(const st_storeapi_limits_t *lim, int64_t batch, const char *text) {
    loop_t l = start(&ops, lim);
    st_series_request_t req = request(batch, 0);
    st_series_stream_t *s;
    assert_int_equal(st_series_stream_open(&s, l.cli, &req, TIMEOUT_MS), 0);
    const st_labels_t *lbls;
    const st_store_chunk_t *chunks;
    size_t n, got = 0;
    int rc;
    while ((rc = st_series_stream_next(s, &lbls, &chunks, &n)) == 1) got++;
    assert_int_equal(rc, ST_ELIMIT);
    if (!strstr(st_errdetail(rc), text)) fail_msg("detail \"%s\" lacks \"%s\"", st_errdetail(rc), text);
    assert_true(got <= 1000);
    assert_int_equal(wait_store(NULL), ST_ELIMIT);
    st_series_stream_free(s);
    st_series_request_free(&req);
    stop(&l);
}

static void test_store_limits(void **state) {
    (void)state;
    st_storeapi_limits_t lim = {.max_series = 1000};
    expect_limit(&lim, 0, "exceeded series limit: limit 1000 violated (got 1001)");
    expect_limit(&lim, 100, "exceeded series limit: limit 1000 violated (got 1001)");
    /* 3 samples per chunk: the 1001st series brings 3003 */
    lim = (st_storeapi_limits_t){.max_samples = 3000};
    expect_limit(&lim, 0, "exceeded samples limit: limit 3000 violated (got 3003)");
    /* the store reports 100 fetched bytes per series */
    lim = (st_storeapi_limits_t){.max_fetched_bytes = 50000};
    expect_limit(&lim, 100, "exceeded bytes limit: limit 50000 violated (got 50100)");
}

static void test_cancel_mid_stream(void **state) {
    (void)state;
    for (int64_t batch = 0; batch <= 100; batch += 100) {
        S->endless = true;
        loop_t l = start(&ops, NULL);
        st_series_request_t req = request(batch, 0);
        st_series_stream_t *s;
        assert_int_equal(st_series_stream_open(&s, l.cli, &req, TIMEOUT_MS), 0);
        const st_labels_t *lbls;
        const st_store_chunk_t *chunks;
        size_t n;
        for (int i = 0; i < 250; i++) assert_int_equal(st_series_stream_next(s, &lbls, &chunks, &n), 1);
        st_series_stream_free(s); /* cancels the call */
        assert_int_equal(wait_store(NULL), ST_ECANCELED);
        S->endless = false;
        st_series_request_free(&req);
        stop(&l);
    }
}

static void test_bad_requests(void **state) {
    (void)state;
    loop_t l = start(&ops_series_only, NULL);
    /* a matcher of type 9 (field 3 {1: 9, 2: "a"}) */
    static const uint8_t bad[] = {0x1a, 0x05, 0x08, 0x09, 0x12, 0x01, 'a'};
    st_grpc_stream_t *st;
    uint8_t *msg;
    size_t len;
    assert_int_equal(st_grpc_stream_open(&st, l.cli, ST_STOREAPI_SERIES, bad, sizeof bad, TIMEOUT_MS), 0);
    int rc = st_grpc_stream_recv(st, &msg, &len);
    assert_int_equal(rc, ST_EINVAL);
    assert_int_equal(st_grpc_stream_status(st), ST_GRPC_INVALID_ARGUMENT);
    assert_non_null(strstr(st_errdetail(rc), "unknown type 9"));
    st_grpc_stream_free(st);
    /* ops without label or info calls answer UNIMPLEMENTED */
    st_label_request_t lr = {.start = -10, .end = 10};
    st_strlist_t v, w;
    assert_int_equal(st_storeapi_label_names(l.cli, &lr, TIMEOUT_MS, &v, &w), ST_EUNSUPPORTED);
    st_store_info_t info;
    assert_int_equal(st_storeapi_info(l.cli, TIMEOUT_MS, &info), ST_EUNSUPPORTED);
    stop(&l);
}

static void test_labels(void **state) {
    (void)state;
    loop_t l = start(&ops, NULL);
    st_label_request_t r = {.start = -10, .end = 10};
    st_strlist_t v, w;
    assert_int_equal(st_storeapi_label_names(l.cli, &r, TIMEOUT_MS, &v, &w), 0);
    static const char *const names[] = {"__name__", "instance", "job", "zone"};
    assert_int_equal(v.n, 4);
    for (size_t i = 0; i < 4; i++) assert_string_equal(v.v[i], names[i]);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.v[0], "fake store: names may be partial");
    st_strlist_free(&v);
    st_strlist_free(&w);
    /* the limit applies after sorting and deduplication */
    r.limit = 2;
    assert_int_equal(st_storeapi_label_names(l.cli, &r, TIMEOUT_MS, &v, &w), 0);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.v[1], "instance");
    st_strlist_free(&v);
    st_strlist_free(&w);

    st_label_request_t lv = {.label = "job", .start = 0, .end = 1, .limit = 0};
    assert_int_equal(st_selector_parse(&lv.matchers, "{__name__=\"m\"}"), 0);
    assert_int_equal(st_storeapi_label_values(l.cli, &lv, TIMEOUT_MS, &v, &w), 0);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.v[0], "a");
    assert_string_equal(v.v[2], "c");
    assert_int_equal(w.n, 0);
    st_strlist_free(&v);
    st_strlist_free(&w);
    /* a store error reaches the client with its code and text */
    lv.label = "nope";
    int rc = st_storeapi_label_values(l.cli, &lv, TIMEOUT_MS, &v, &w);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), "fake store: no label nope"));
    st_matchers_free(&lv.matchers);
    stop(&l);
}

static void test_info(void **state) {
    (void)state;
    loop_t l = start(&ops, NULL);
    st_store_info_t i;
    assert_int_equal(st_storeapi_info(l.cli, TIMEOUT_MS, &i), 0);
    assert_string_equal(i.component, "store");
    assert_int_equal(i.min_time, -1000);
    assert_int_equal(i.max_time, INT64_MAX);
    assert_false(i.supports_sharding);
    assert_int_equal(i.nlabel_sets, 1);
    assert_int_equal(i.label_sets[0].n, 2);
    assert_string_equal(i.label_sets[0].v[1].value, "r1");
    assert_int_equal(i.ntsdb_infos, 1);
    assert_int_equal(i.tsdb_infos[0].max_time, 6);
    assert_int_equal(i.tsdb_infos[0].labels.n, 1);
    assert_string_equal(i.tsdb_infos[0].labels.v[0].value, "eu");
    st_store_info_free(&i);
    stop(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_unbatched), cmocka_unit_test(test_series_batched),
        cmocka_unit_test(test_series_frames),    cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_store_limits),     cmocka_unit_test(test_cancel_mid_stream),
        cmocka_unit_test(test_bad_requests),     cmocka_unit_test(test_labels),
        cmocka_unit_test(test_info),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
