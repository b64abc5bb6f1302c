/* gRPC server and client (grpc.h) against each other on 127.0.0.1: unary
 * and streaming calls, the status table both ways, limits, cancellation,
 * deadlines, health, queueing beyond the pool, TLS with certificates made
 * by the openssl CLI, and shutdown with a stream in flight. Each test is
 * bounded by alarm(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "st_test.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/grpc.h"

#define TEST_ALARM_S 20

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- what the handlers report to the tests ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;      /* a Forever or Slow handler returned */
    int rc;             /* its last send / its outcome */
    int64_t finished_ms;
    bool saw_cancel;
    int64_t deadline_ms;
    int running, max_running;
} hs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void hs_reset(void) {
    pthread_mutex_lock(&hs.mu);
    hs.finished = false;
    hs.rc = 1;
    hs.saw_cancel = false;
    hs.deadline_ms = 0;
    hs.running = hs.max_running = 0;
    pthread_mutex_unlock(&hs.mu);
}

static void hs_finish(int rc, bool saw_cancel, int64_t deadline_ms) {
    pthread_mutex_lock(&hs.mu);
    hs.finished = true;
    hs.rc = rc;
    hs.saw_cancel = saw_cancel;
    hs.deadline_ms = deadline_ms;
    hs.finished_ms = mono_ms();
    pthread_cond_broadcast(&hs.cv);
    pthread_mutex_unlock(&hs.mu);
}

/* true once a handler finished, false after timeout_ms */
static bool hs_wait(int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_mutex_lock(&hs.mu);
    while (!hs.finished)
        if (pthread_cond_timedwait(&hs.cv, &hs.mu, &ts) != 0) break;
    bool f = hs.finished;
    pthread_mutex_unlock(&hs.mu);
    return f;
}

/* ---- handlers ---- */

static uint8_t *dup_bytes(const void *p, size_t n) {
    uint8_t *b = malloc(n ? n : 1);
    memcpy(b, p, n);
    return b;
}

static int h_echo(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len) {
    (void)ctx, (void)call;
    *resp = len ? dup_bytes(req, len) : NULL;
    *resp_len = len;
    return 0;
}

/* "method|peer|deadline" */
static int h_info(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len) {
    (void)ctx, (void)req, (void)len;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s|%s|%lld", st_grpc_call_method(call), st_grpc_call_peer(call),
                     (long long)st_grpc_call_deadline_ms(call));
    *resp = dup_bytes(buf, (size_t)n);
    *resp_len = (size_t)n;
    return 0;
}

static int parse_int(const uint8_t *req, size_t len) {
    char buf[32];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, req, n);
    buf[n] = 0;
    return atoi(buf);
}

/* request "N": N messages "msg i" */
static int h_count(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len) {
    (void)ctx;
    int n = parse_int(req, len);
    for (int i = 0; i < n; i++) {
        char m[32];
        int ml = snprintf(m, sizeof m, "msg %d", i);
        int rc = st_grpc_call_send(call, (const uint8_t *)m, (size_t)ml);
        if (rc < 0) return rc;
    }
    return 0;
}

/* request "code": fails with that ST_E* code */
static int h_fail(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len) {
    (void)ctx, (void)call, (void)resp, (void)resp_len;
    int code = parse_int(req, len);
    return st_errorf(code, "handler failed with %d: naïve \"detail\"", code);
}

/* two messages, then the code of the request */
static int h_fail_stream(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len) {
    (void)ctx;
    for (int i = 0; i < 2; i++) {
        int rc = st_grpc_call_send(call, (const uint8_t *)"x", 1);
        if (rc < 0) return rc;
    }
    int code = parse_int(req, len);
    return st_errorf(code, "stream failed with %d", code);
}

/* sends 1 KiB messages until a send fails; owns a buffer ASan would report */
static int h_forever(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len) {
    (void)ctx, (void)req, (void)len;
    uint8_t *state = malloc(1024);
    memset(state, 'f', 1024);
    int rc;
    while ((rc = st_grpc_call_send(call, state, 1024)) == 0) {
    }
    free(state);
    hs_finish(rc, st_grpc_call_cancelled(call), st_grpc_call_deadline_ms(call));
    return rc;
}

/* works for the ms of the request (default 5000) unless cancelled, checking every 10 ms */
static int h_slow(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len) {
    (void)ctx;
    int ms = parse_int(req, len);
    int64_t end = mono_ms() + (ms > 0 ? ms : 5000);
    bool cancelled = false;
    while (mono_ms() < end && !(cancelled = st_grpc_call_cancelled(call))) sleep_ms(10);
    hs_finish(0, cancelled, st_grpc_call_deadline_ms(call));
    *resp = NULL;
    *resp_len = 0;
    return 0;
}

/* 300 ms of work, counting how many run at once */
static int h_block(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp,
                   size_t *resp_len) {
    (void)ctx, (void)call, (void)req, (void)len;
    pthread_mutex_lock(&hs.mu);
    if (++hs.running > hs.max_running) hs.max_running = hs.running;
    pthread_mutex_unlock(&hs.mu);
    sleep_ms(300);
    pthread_mutex_lock(&hs.mu);
    hs.running--;
    pthread_mutex_unlock(&hs.mu);
    *resp = dup_bytes("done", 4);
    *resp_len = 4;
    return 0;
}

/* ---- fixture ---- */

typedef struct {
    st_grpc_server_t *srv;
    st_grpc_client_t *cli;
    int port;
    char target[64];
} fx_t;

static void fx_server(fx_t *f, const st_grpc_server_opts_t *opts) {
    memset(f, 0, sizeof *f);
    hs_reset();
    assert_int_equal(st_grpc_server_new(&f->srv, opts), 0);
    assert_int_equal(st_grpc_server_add_unary(f->srv, "/test.Echo/Unary", h_echo, NULL), 0);
    assert_int_equal(st_grpc_server_add_unary(f->srv, "/test.Echo/Info", h_info, NULL), 0);
    assert_int_equal(st_grpc_server_add_unary(f->srv, "/test.Echo/Fail", h_fail, NULL), 0);
    assert_int_equal(st_grpc_server_add_unary(f->srv, "/test.Echo/Slow", h_slow, NULL), 0);
    assert_int_equal(st_grpc_server_add_unary(f->srv, "/test.Echo/Block", h_block, NULL), 0);
    assert_int_equal(st_grpc_server_add_stream(f->srv, "/test.Echo/Count", h_count, NULL), 0);
    assert_int_equal(st_grpc_server_add_stream(f->srv, "/test.Echo/FailStream", h_fail_stream, NULL), 0);
    assert_int_equal(st_grpc_server_add_stream(f->srv, "/test.Other/Forever", h_forever, NULL), 0);
    int rc = st_grpc_server_start(f->srv, "127.0.0.1:0", &f->port);
    if (rc < 0) fail_msg("start: %s", st_errdetail(rc));
    assert_true(f->port > 0);
    snprintf(f->target, sizeof f->target, "127.0.0.1:%d", f->port);
}

static void fx_start(fx_t *f, const st_grpc_server_opts_t *sopts, const st_grpc_client_opts_t *copts) {
    fx_server(f, sopts);
    int rc = st_grpc_client_new(&f->cli, f->target, copts);
    if (rc < 0) fail_msg("client: %s", st_errdetail(rc));
}

static void fx_stop(fx_t *f) {
    st_grpc_client_free(f->cli);
    st_grpc_server_free(f->srv);
}

static int unary_str(st_grpc_client_t *c, const char *method, const char *req, int64_t timeout_ms, char **resp,
                     int *status) {
    uint8_t *r = NULL;
    size_t n = 0;
    int rc = st_grpc_client_unary(c, method, (const uint8_t *)req, strlen(req), timeout_ms, &r, &n, status);
    if (resp) {
        *resp = malloc(n + 1);
        if (n) memcpy(*resp, r, n);
        (*resp)[n] = 0;
    }
    free(r);
    return rc;
}

static int setup_alarm(void **state) {
    (void)state;
    alarm(TEST_ALARM_S);
    return 0;
}

/* ---- tests ---- */

static void test_unary_echo(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, &(st_grpc_server_opts_t){.threads = 2}, NULL);
    uint8_t req[3000];
    for (size_t i = 0; i < sizeof req; i++) req[i] = (uint8_t)(i * 7);
    uint8_t *resp = NULL;
    size_t len = 0;
    int status = -1;
    assert_int_equal(st_grpc_client_unary(f.cli, "/test.Echo/Unary", req, sizeof req, 5000, &resp, &len, &status), 0);
    assert_int_equal(status, ST_GRPC_OK);
    assert_int_equal(len, sizeof req);
    assert_memory_equal(resp, req, sizeof req);
    free(resp);
    /* an empty message both ways */
    assert_int_equal(st_grpc_client_unary(f.cli, "/test.Echo/Unary", NULL, 0, 0, &resp, &len, NULL), 0);
    assert_null(resp);
    assert_int_equal(len, 0);

    /* what the handler sees of the call */
    char *info = NULL;
    int64_t before = wall_ms();
    assert_int_equal(unary_str(f.cli, "/test.Echo/Info", "", 5000, &info, NULL), 0);
    char peer[128];
    long long dl = 0;
    assert_int_equal(sscanf(info, "/test.Echo/Info|%127[^|]|%lld", peer, &dl), 2);
    assert_true(strncmp(peer, "ipv4:127.0.0.1:", 15) == 0);
    assert_true(dl >= before + 4000 && dl <= wall_ms() + 5000 + 100);
    free(info);
    assert_int_equal(unary_str(f.cli, "/test.Echo/Info", "", 0, &info, NULL), 0);
    assert_string_equal(strrchr(info, '|') + 1, "9223372036854775807");
    free(info);
    assert_string_equal(st_grpc_client_target(f.cli), f.target);
    fx_stop(&f);
}

static void test_stream_1000(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, NULL);
    st_grpc_stream_t *st = NULL;
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Echo/Count", (const uint8_t *)"1000", 4, 10000), 0);
    for (int i = 0; i < 1000; i++) {
        uint8_t *m = NULL;
        size_t n = 0;
        assert_int_equal(st_grpc_stream_recv(st, &m, &n), 1);
        char want[32];
        snprintf(want, sizeof want, "msg %d", i);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(m, want, n);
        free(m);
    }
    uint8_t *m = NULL;
    size_t n = 0;
    assert_int_equal(st_grpc_stream_recv(st, &m, &n), 0);
    assert_int_equal(st_grpc_stream_status(st), ST_GRPC_OK);
    assert_int_equal(st_grpc_stream_recv(st, &m, &n), 0); /* stays over */
    st_grpc_stream_free(st);

    /* an empty stream; and a stream freed before it is read */
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Echo/Count", (const uint8_t *)"0", 1, 0), 0);
    assert_int_equal(st_grpc_stream_recv(st, &m, &n), 0);
    st_grpc_stream_free(st);
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Echo/Count", (const uint8_t *)"500", 3, 0), 0);
    st_grpc_stream_free(st);
    st_grpc_stream_free(NULL);
    fx_stop(&f);
}

static const struct {
    int err, status, back;
    const char *name;
} table[] = {
    {ST_EINVAL, 3, ST_EINVAL, "INVALID_ARGUMENT"},
    {ST_ECORRUPT, 3, ST_EINVAL, "INVALID_ARGUMENT"},
    {ST_ENOTFOUND, 5, ST_ENOTFOUND, "NOT_FOUND"},
    {ST_ELIMIT, 8, ST_ELIMIT, "RESOURCE_EXHAUSTED"},
    {ST_EUNSUPPORTED, 12, ST_EUNSUPPORTED, "UNIMPLEMENTED"},
    {ST_ECANCELED, 1, ST_ECANCELED, "CANCELLED"},
    {ST_ETIMEDOUT, 4, ST_ETIMEDOUT, "DEADLINE_EXCEEDED"},
    {ST_EIO, 14, ST_EIO, "UNAVAILABLE"},
    {ST_ENOMEM, 13, ST_EIO, "INTERNAL"},
    {ST_EEXIST, 13, ST_EIO, "INTERNAL"},
};

static void test_error_mapping(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        assert_int_equal(st_grpc_status_from_err(table[i].err), table[i].status);
        assert_int_equal(st_grpc_err_from_status(table[i].status), table[i].back);
    }
    assert_int_equal(st_grpc_status_from_err(0), 0);
    assert_int_equal(st_grpc_err_from_status(0), 0);
    for (int s = 2; s <= 16; s++) /* UNKNOWN, ALREADY_EXISTS, ..., UNAUTHENTICATED */
        if (s != 3 && s != 4 && s != 5 && s != 8 && s != 12) assert_int_equal(st_grpc_err_from_status(s), ST_EIO);

    fx_t f;
    fx_start(&f, NULL, NULL);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char req[16], want[256];
        snprintf(req, sizeof req, "%d", table[i].err);
        int status = -1;
        int rc = unary_str(f.cli, "/test.Echo/Fail", req, 5000, NULL, &status);
        assert_int_equal(rc, table[i].back);
        assert_int_equal(status, table[i].status);
        snprintf(want, sizeof want, "/test.Echo/Fail: %s: handler failed with %d: naïve \"detail\"", table[i].name,
                 table[i].err);
        assert_string_equal(st_errdetail(rc), want);

        st_grpc_stream_t *st = NULL;
        assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Echo/FailStream", (uint8_t *)req, strlen(req), 0),
                         0);
        uint8_t *m;
        size_t n;
        assert_int_equal(st_grpc_stream_recv(st, &m, &n), 1);
        free(m);
        assert_int_equal(st_grpc_stream_recv(st, &m, &n), 1);
        free(m);
        rc = st_grpc_stream_recv(st, &m, &n);
        assert_int_equal(rc, table[i].back);
        assert_int_equal(st_grpc_stream_status(st), table[i].status);
        snprintf(want, sizeof want, "/test.Echo/FailStream: %s: stream failed with %d", table[i].name, table[i].err);
        assert_string_equal(st_errdetail(rc), want);
        st_errclear();
        assert_int_equal(st_grpc_stream_recv(st, &m, &n), table[i].back); /* the detail is kept */
        assert_string_equal(st_errdetail(rc), want);
        st_grpc_stream_free(st);
    }
    fx_stop(&f);
}

static void test_unknown_method_and_registration(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, NULL);
    int status = -1;
    int rc = unary_str(f.cli, "/test.Echo/Nope", "x", 5000, NULL, &status);
    assert_int_equal(rc, ST_EUNSUPPORTED);
    assert_int_equal(status, ST_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(st_errdetail(rc), "/test.Echo/Nope: UNIMPLEMENTED: unknown method /test.Echo/Nope"));
    st_grpc_stream_t *st = NULL;
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/nope.Svc/Stream", (const uint8_t *)"x", 1, 5000), 0);
    uint8_t *m;
    size_t n;
    assert_int_equal(st_grpc_stream_recv(st, &m, &n), ST_EUNSUPPORTED);
    assert_int_equal(st_grpc_stream_status(st), ST_GRPC_UNIMPLEMENTED);
    st_grpc_stream_free(st);
    /* a unary method called as a stream answers once */
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Echo/Unary", (const uint8_t *)"abc", 3, 5000), 0);
    assert_int_equal(st_grpc_stream_recv(st, &m, &n), 1);
    assert_int_equal(n, 3);
    free(m);
    assert_int_equal(st_grpc_stream_recv(st, &m, &n), 0);
    st_grpc_stream_free(st);

    /* registration rules; after start nothing can be added */
    assert_int_equal(st_grpc_server_add_unary(f.srv, "/test.Echo/Late", h_echo, NULL), ST_EINVAL);
    st_grpc_server_t *s = NULL;
    assert_int_equal(st_grpc_server_new(&s, NULL), 0);
    assert_int_equal(st_grpc_server_add_unary(s, "/a.B/C", h_echo, NULL), 0);
    assert_int_equal(st_grpc_server_add_stream(s, "/a.B/C", h_count, NULL), ST_EEXIST);
    assert_int_equal(st_grpc_server_add_unary(s, "/grpc.health.v1.Health/Check", h_echo, NULL), ST_EEXIST);
    assert_int_equal(st_grpc_server_add_unary(s, "a.B/C", h_echo, NULL), ST_EINVAL);
    assert_int_equal(st_grpc_server_add_unary(s, "/a.B", h_echo, NULL), ST_EINVAL);
    assert_int_equal(st_grpc_server_add_unary(s, "//C", h_echo, NULL), ST_EINVAL);
    assert_int_equal(st_grpc_server_add_unary(s, "/a.B/", h_echo, NULL), ST_EINVAL);
    st_grpc_server_free(s); /* never started */
    st_grpc_server_free(NULL);
    fx_stop(&f);
}

static void test_message_limits(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, &(st_grpc_server_opts_t){.threads = 1, .max_recv_msg = 4096, .max_send_msg = 2048}, NULL);
    static uint8_t big[8192];
    memset(big, 'b', sizeof big);
    uint8_t *resp = NULL;
    size_t len = 0;
    int status = -1;
    /* above the server's receive limit */
    int rc = st_grpc_client_unary(f.cli, "/test.Echo/Unary", big, 5000, 5000, &resp, &len, &status);
    assert_int_equal(rc, ST_ELIMIT);
    assert_int_equal(status, ST_GRPC_RESOURCE_EXHAUSTED);
    assert_null(resp);
    /* the (single) worker still serves: received, but the echo is above the send limit */
    rc = st_grpc_client_unary(f.cli, "/test.Echo/Unary", big, 3000, 5000, &resp, &len, &status);
    assert_int_equal(rc, ST_ELIMIT);
    assert_int_equal(status, ST_GRPC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(st_errdetail(rc), "response of 3000 bytes above the send limit of 2048 bytes"));
    rc = st_grpc_client_unary(f.cli, "/test.Echo/Unary", big, 2048, 5000, &resp, &len, &status);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 2048);
    free(resp);
    fx_stop(&f);

    /* the client's own receive limit */
    fx_start(&f, NULL, &(st_grpc_client_opts_t){.max_recv_msg = 1000});
    rc = st_grpc_client_unary(f.cli, "/test.Echo/Unary", big, 1001, 5000, &resp, &len, &status);
    assert_int_equal(rc, ST_ELIMIT);
    assert_int_equal(status, ST_GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(st_grpc_client_unary(f.cli, "/test.Echo/Unary", big, 1000, 5000, &resp, &len, NULL), 0);
    free(resp);
    fx_stop(&f);
}

static void test_send_limit_stream(void **state) {
    (void)state;
    /* the Forever handler sends 1 KiB messages: above a 512-byte limit its first send fails */
    fx_t f;
    fx_start(&f, &(st_grpc_server_opts_t){.max_send_msg = 512}, NULL);
    st_grpc_stream_t *st = NULL;
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Other/Forever", NULL, 0, 5000), 0);
    uint8_t *m;
    size_t n;
    int rc = st_grpc_stream_recv(st, &m, &n);
    assert_int_equal(rc, ST_ELIMIT);
    assert_non_null(strstr(st_errdetail(rc), "message of 1024 bytes above the send limit of 512 bytes"));
    assert_true(hs_wait(2000));
    assert_int_equal(hs.rc, ST_ELIMIT);
    st_grpc_stream_free(st);
    fx_stop(&f);
}

static void *cancel_later(void *arg) {
    sleep_ms(150);
    st_grpc_stream_cancel(arg);
    return (void *)(intptr_t)mono_ms();
}

static void test_client_cancel(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, NULL);
    st_grpc_stream_t *st = NULL;
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Other/Forever", NULL, 0, 0), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, st), 0);
    int rc, got = 0;
    uint8_t *m;
    size_t n;
    while ((rc = st_grpc_stream_recv(st, &m, &n)) == 1) {
        assert_int_equal(n, 1024);
        free(m);
        got++;
    }
    void *ret;
    pthread_join(th, &ret);
    int64_t cancelled_at = (int64_t)(intptr_t)ret;
    assert_int_equal(rc, ST_ECANCELED);
    assert_int_equal(st_grpc_stream_status(st), ST_GRPC_CANCELLED);
    assert_true(got > 0);
    /* the handler's send fails promptly and it returns */
    assert_true(hs_wait(3000));
    assert_int_equal(hs.rc, ST_ECANCELED);
    assert_true(hs.saw_cancel);
    assert_true(hs.finished_ms - cancelled_at < 2000);
    st_grpc_stream_free(st);
    /* the worker is free again */
    assert_int_equal(unary_str(f.cli, "/test.Echo/Unary", "again", 5000, NULL, NULL), 0);
    fx_stop(&f);
}

static void test_deadline(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, NULL);
    int status = -1;
    int64_t t0 = mono_ms();
    int rc = unary_str(f.cli, "/test.Echo/Slow", "", 300, NULL, &status);
    assert_int_equal(rc, ST_ETIMEDOUT);
    assert_int_equal(status, ST_GRPC_DEADLINE_EXCEEDED);
    assert_true(mono_ms() - t0 < 2000);
    assert_non_null(strstr(st_errdetail(rc), "/test.Echo/Slow: DEADLINE_EXCEEDED"));
    assert_true(hs_wait(3000));
    assert_true(hs.saw_cancel);
    assert_true(hs.finished_ms - t0 < 2000);
    assert_true(hs.deadline_ms != INT64_MAX);

    /* a stream past its deadline: the handler's send says ST_ETIMEDOUT */
    hs_reset();
    st_grpc_stream_t *st = NULL;
    t0 = mono_ms();
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Other/Forever", NULL, 0, 300), 0);
    uint8_t *m;
    size_t n;
    while ((rc = st_grpc_stream_recv(st, &m, &n)) == 1) free(m);
    assert_int_equal(rc, ST_ETIMEDOUT);
    assert_int_equal(st_grpc_stream_status(st), ST_GRPC_DEADLINE_EXCEEDED);
    assert_true(mono_ms() - t0 < 2000);
    st_grpc_stream_free(st);
    assert_true(hs_wait(3000));
    assert_int_equal(hs.rc, ST_ETIMEDOUT);
    fx_stop(&f);
}

/* A client pinging as often as gRPC lets it (every 1 s) through a 4.5 s
 * call without data: the server (minimum ping interval 5 s) counts strikes
 * but must never answer GOAWAY too_many_pings, which kills the call (it
 * does with gRPC's default of 2 strikes). */
static void test_keepalive_pings(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, &(st_grpc_client_opts_t){.keepalive_ms = 300});
    int rc = unary_str(f.cli, "/test.Echo/Slow", "4500", 10000, NULL, NULL);
    if (rc < 0) fail_msg("call under pings: %s", st_errdetail(rc));
    assert_true(hs_wait(1000));
    assert_false(hs.saw_cancel);
    fx_stop(&f);
}

static int health(st_grpc_client_t *c, const char *service) {
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    uint8_t buf[256];
    size_t len = grpc__health__v1__health_check_request__pack(&req, buf);
    uint8_t *resp = NULL;
    size_t rlen = 0;
    int rc = st_grpc_client_unary(c, "/grpc.health.v1.Health/Check", buf, len, 5000, &resp, &rlen, NULL);
    if (rc < 0) return rc;
    Grpc__Health__V1__HealthCheckResponse *r = grpc__health__v1__health_check_response__unpack(NULL, rlen, resp);
    assert_non_null(r);
    int st = r->status;
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
    free(resp);
    return st;
}

static void test_health(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, NULL);
    enum { SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3 };
    assert_int_equal(health(f.cli, ""), SERVING);
    assert_int_equal(health(f.cli, "test.Echo"), SERVING);
    assert_int_equal(health(f.cli, "test.Other"), SERVING);
    assert_int_equal(health(f.cli, "test"), SERVICE_UNKNOWN);
    assert_int_equal(health(f.cli, "test.Echo/Unary"), SERVICE_UNKNOWN);
    assert_int_equal(health(f.cli, "nope.Svc"), SERVICE_UNKNOWN);
    st_grpc_server_set_serving(f.srv, false);
    assert_int_equal(health(f.cli, ""), NOT_SERVING);
    assert_int_equal(health(f.cli, "test.Echo"), NOT_SERVING);
    assert_int_equal(health(f.cli, "nope.Svc"), SERVICE_UNKNOWN);
    st_grpc_server_set_serving(f.srv, true);
    assert_int_equal(health(f.cli, ""), SERVING);
    /* a request that is not a HealthCheckRequest */
    int status = -1;
    uint8_t *resp = NULL;
    size_t len;
    int rc = st_grpc_client_unary(f.cli, "/grpc.health.v1.Health/Check", (const uint8_t *)"\xff\xff\xff", 3, 5000,
                                  &resp, &len, &status);
    assert_int_equal(rc, ST_EINVAL);
    assert_int_equal(status, ST_GRPC_INVALID_ARGUMENT);
    fx_stop(&f);
}

typedef struct {
    st_grpc_client_t *c;
    int rc;
} caller_t;

static void *call_block(void *arg) {
    caller_t *a = arg;
    char *resp = NULL;
    a->rc = unary_str(a->c, "/test.Echo/Block", "", 10000, &resp, NULL);
    if (a->rc == 0 && strcmp(resp, "done") != 0) a->rc = -100;
    free(resp);
    return NULL;
}

static void test_queueing(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, &(st_grpc_server_opts_t){.threads = 2}, NULL);
    enum { N = 6 };
    pthread_t th[N];
    caller_t a[N];
    int64_t t0 = mono_ms();
    for (int i = 0; i < N; i++) {
        a[i] = (caller_t){f.cli, 1};
        assert_int_equal(pthread_create(&th[i], NULL, call_block, &a[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    int64_t took = mono_ms() - t0;
    for (int i = 0; i < N; i++) assert_int_equal(a[i].rc, 0);
    assert_int_equal(hs.max_running, 2);
    assert_true(took >= 3 * 300 - 50); /* three rounds of two */
    fx_stop(&f);
}

static void test_server_free_inflight(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, NULL);
    st_grpc_stream_t *st = NULL;
    assert_int_equal(st_grpc_stream_open(&st, f.cli, "/test.Other/Forever", NULL, 0, 0), 0);
    uint8_t *m;
    size_t n;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st_grpc_stream_recv(st, &m, &n), 1);
        free(m);
    }
    int64_t t0 = mono_ms();
    st_grpc_server_free(f.srv);
    assert_true(mono_ms() - t0 < 5000);
    assert_true(hs_wait(1000)); /* already: free joined the workers */
    assert_int_equal(hs.rc, ST_ECANCELED);
    int rc;
    while ((rc = st_grpc_stream_recv(st, &m, &n)) == 1) free(m);
    assert_true(rc < 0);
    st_grpc_stream_free(st);
    /* the server is gone: new calls fail as unavailable */
    int status = -1;
    assert_int_equal(unary_str(f.cli, "/test.Echo/Unary", "x", 5000, NULL, &status), ST_EIO);
    assert_int_equal(status, ST_GRPC_UNAVAILABLE);
    st_grpc_client_free(f.cli);
}

static void test_listen_errors(void **state) {
    (void)state;
    fx_t f;
    fx_start(&f, NULL, NULL);
    st_grpc_server_t *s = NULL;
    assert_int_equal(st_grpc_server_new(&s, NULL), 0);
    int port = -1;
    int rc = st_grpc_server_start(s, f.target, &port);
    assert_int_equal(rc, ST_EIO);
    assert_non_null(strstr(st_errdetail(rc), f.target));
    assert_int_equal(port, -1);
    rc = st_grpc_server_start(s, "256.1.1.1:1", &port);
    assert_int_equal(rc, ST_EIO);
    st_grpc_server_free(s);
    /* the first server is unharmed */
    assert_int_equal(unary_str(f.cli, "/test.Echo/Unary", "x", 5000, NULL, NULL), 0);
    fx_stop(&f);

    /* nothing listens there any more */
    st_grpc_client_t *c = NULL;
    assert_int_equal(st_grpc_client_new(&c, f.target, NULL), 0);
    int status = -1;
    assert_int_equal(unary_str(c, "/test.Echo/Unary", "x", 5000, NULL, &status), ST_EIO);
    assert_int_equal(status, ST_GRPC_UNAVAILABLE);
    assert_non_null(strstr(st_errdetail(ST_EIO), "/test.Echo/Unary: UNAVAILABLE: "));
    st_grpc_client_free(c);
    assert_int_equal(st_grpc_client_new(&c, "", NULL), ST_EINVAL);
    st_grpc_client_free(NULL);
}

/* ---- TLS ---- */

static char tls_dir[512];

static void path_in(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", tls_dir, name); }

/* A CA, a server certificate for localhost / 127.0.0.1 and a client
 * certificate, all signed by the CA, plus a second CA nobody uses. */
static int setup_tls(void **state) {
    (void)state;
    if (st_test_mkdtemp(tls_dir, sizeof tls_dir, "grpc-tls") != 0) return -1;
    const char *d = tls_dir;
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "(set -e; cd '%s';"
             "openssl req -x509 %s -keyout ca.key -out ca.crt -days 2 -subj /CN=strata-test-ca;"
             "openssl req -x509 %s -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca;"
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext;"
             "openssl req %s -keyout server.key -out server.csr -subj /CN=localhost;"
             "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 "
             "-extfile server.ext;"
             "openssl req %s -keyout client.key -out client.csr -subj /CN=strata-client;"
             "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2;"
             "openssl pkey -in server.key -aes256 -passout pass:secret -out encrypted.key;"
             "printf 'not a certificate\\n' > garbage.pem"
             ") > /dev/null 2>&1",
             d, ec, ec, ec, ec);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown_tls(void **state) {
    (void)state;
    return st_rm_rf(tls_dir) == 0 ? 0 : -1;
}

static void test_tls(void **state) {
    (void)state;
    alarm(TEST_ALARM_S);
    char ca[600], other_ca[600], crt[600], key[600], ccrt[600], ckey[600];
    path_in(ca, sizeof ca, "ca.crt");
    path_in(other_ca, sizeof other_ca, "other-ca.crt");
    path_in(crt, sizeof crt, "server.crt");
    path_in(key, sizeof key, "server.key");
    path_in(ccrt, sizeof ccrt, "client.crt");
    path_in(ckey, sizeof ckey, "client.key");

    fx_t f;
    fx_server(&f, &(st_grpc_server_opts_t){.tls_cert_file = crt, .tls_key_file = key});
    st_grpc_client_t *c = NULL;
    char *resp = NULL;
    /* the CA verifies the server: by IP SAN, and by name override */
    assert_int_equal(st_grpc_client_new(&c, f.target, &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = ca}), 0);
    int rc = unary_str(c, "/test.Echo/Unary", "secret", 5000, &resp, NULL);
    if (rc < 0) fail_msg("TLS call: %s", st_errdetail(rc));
    assert_string_equal(resp, "secret");
    free(resp);
    st_grpc_client_free(c);
    assert_int_equal(st_grpc_client_new(&c, f.target,
                                        &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = ca,
                                                                 .tls_server_name = "localhost"}),
                     0);
    assert_int_equal(unary_str(c, "/test.Echo/Unary", "x", 5000, NULL, NULL), 0);
    st_grpc_client_free(c);
    /* a name the certificate does not carry */
    assert_int_equal(st_grpc_client_new(&c, f.target,
                                        &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = ca,
                                                                 .tls_server_name = "elsewhere.example"}),
                     0);
    assert_int_equal(unary_str(c, "/test.Echo/Unary", "x", 5000, NULL, NULL), ST_EIO);
    st_grpc_client_free(c);
    /* another CA does not verify it */
    assert_int_equal(
        st_grpc_client_new(&c, f.target, &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = other_ca}), 0);
    int status = -1;
    assert_int_equal(unary_str(c, "/test.Echo/Unary", "x", 5000, NULL, &status), ST_EIO);
    assert_int_equal(status, ST_GRPC_UNAVAILABLE);
    st_grpc_client_free(c);
    /* plaintext against TLS fails cleanly */
    assert_int_equal(st_grpc_client_new(&c, f.target, NULL), 0);
    int64_t t0 = mono_ms();
    rc = unary_str(c, "/test.Echo/Unary", "x", 5000, NULL, &status);
    assert_true(rc == ST_EIO || rc == ST_ETIMEDOUT);
    assert_true(mono_ms() - t0 < 6000);
    st_grpc_client_free(c);
    st_grpc_server_free(f.srv);

    /* client certificates required */
    fx_server(&f, &(st_grpc_server_opts_t){.tls_cert_file = crt, .tls_key_file = key, .tls_client_ca_file = ca});
    assert_int_equal(st_grpc_client_new(&c, f.target, &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = ca}), 0);
    assert_int_equal(unary_str(c, "/test.Echo/Unary", "x", 5000, NULL, NULL), ST_EIO);
    st_grpc_client_free(c);
    assert_int_equal(st_grpc_client_new(&c, f.target,
                                        &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = ca,
                                                                 .tls_cert_file = ccrt, .tls_key_file = ckey}),
                     0);
    rc = unary_str(c, "/test.Echo/Unary", "mutual", 5000, &resp, NULL);
    if (rc < 0) fail_msg("mTLS call: %s", st_errdetail(rc));
    assert_string_equal(resp, "mutual");
    free(resp);
    st_grpc_client_free(c);
    st_grpc_server_free(f.srv);

    /* TLS client against a plaintext server */
    fx_server(&f, NULL);
    assert_int_equal(st_grpc_client_new(&c, f.target, &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = ca}), 0);
    rc = unary_str(c, "/test.Echo/Unary", "x", 5000, NULL, NULL);
    assert_true(rc == ST_EIO || rc == ST_ETIMEDOUT);
    st_grpc_client_free(c);
    st_grpc_server_free(f.srv);
}

static void expect_server_tls_error(const st_grpc_server_opts_t *o, const char *named) {
    st_grpc_server_t *s = NULL;
    int rc = st_grpc_server_new(&s, o);
    if (rc == 0) {
        rc = st_grpc_server_start(s, "127.0.0.1:0", NULL);
        st_grpc_server_free(s);
    }
    assert_int_equal(rc, ST_EINVAL);
    if (named) assert_non_null(strstr(st_errdetail(rc), named));
}

static void test_tls_bad_files(void **state) {
    (void)state;
    char ca[600], crt[600], key[600], ckey[600], garbage[600], missing[600], enc[600];
    path_in(enc, sizeof enc, "encrypted.key");
    path_in(ca, sizeof ca, "ca.crt");
    path_in(crt, sizeof crt, "server.crt");
    path_in(key, sizeof key, "server.key");
    path_in(ckey, sizeof ckey, "client.key");
    path_in(garbage, sizeof garbage, "garbage.pem");
    path_in(missing, sizeof missing, "missing.pem");

    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_cert_file = missing, .tls_key_file = key}, missing);
    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_cert_file = garbage, .tls_key_file = key}, garbage);
    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_cert_file = crt, .tls_key_file = garbage}, garbage);
    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_cert_file = crt, .tls_key_file = crt}, crt);
    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_cert_file = crt, .tls_key_file = enc}, enc);
    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_cert_file = crt, .tls_key_file = ckey}, ckey);
    expect_server_tls_error(
        &(st_grpc_server_opts_t){.tls_cert_file = crt, .tls_key_file = key, .tls_client_ca_file = missing}, missing);
    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_cert_file = crt}, "--grpc-server-tls-key");
    expect_server_tls_error(&(st_grpc_server_opts_t){.tls_client_ca_file = ca}, "--grpc-server-tls-client-ca");

    st_grpc_client_t *c = NULL;
    int rc = st_grpc_client_new(&c, "127.0.0.1:1", &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = missing});
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), missing));
    assert_null(c);
    rc = st_grpc_client_new(&c, "127.0.0.1:1", &(st_grpc_client_opts_t){.tls = true, .tls_ca_file = garbage});
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), garbage));
    rc = st_grpc_client_new(&c, "127.0.0.1:1", &(st_grpc_client_opts_t){.tls = true, .tls_cert_file = crt});
    assert_int_equal(rc, ST_EINVAL);
    rc = st_grpc_client_new(&c, "127.0.0.1:1",
                            &(st_grpc_client_opts_t){.tls = true, .tls_cert_file = crt, .tls_key_file = ckey});
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), ckey));
    /* without --grpc-client-tls-secure the TLS files are not read */
    assert_int_equal(st_grpc_client_new(&c, "127.0.0.1:1", &(st_grpc_client_opts_t){.tls_ca_file = missing}), 0);
    st_grpc_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_unary_echo, setup_alarm),
        cmocka_unit_test_setup(test_stream_1000, setup_alarm),
        cmocka_unit_test_setup(test_error_mapping, setup_alarm),
        cmocka_unit_test_setup(test_unknown_method_and_registration, setup_alarm),
        cmocka_unit_test_setup(test_message_limits, setup_alarm),
        cmocka_unit_test_setup(test_send_limit_stream, setup_alarm),
        cmocka_unit_test_setup(test_client_cancel, setup_alarm),
        cmocka_unit_test_setup(test_deadline, setup_alarm),
        cmocka_unit_test_setup(test_keepalive_pings, setup_alarm),
        cmocka_unit_test_setup(test_health, setup_alarm),
        cmocka_unit_test_setup(test_queueing, setup_alarm),
        cmocka_unit_test_setup(test_server_free_inflight, setup_alarm),
        cmocka_unit_test_setup(test_listen_errors, setup_alarm),
        cmocka_unit_test(test_tls),
        cmocka_unit_test_setup(test_tls_bad_files, setup_alarm),
    };
    return cmocka_run_group_tests(tests, setup_tls, teardown_tls);
}
