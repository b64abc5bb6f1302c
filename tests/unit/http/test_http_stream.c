/* The HTTP client's streaming mode against the HTTP server on loopback: a
 * 2xx body reaches on_body whole and is not buffered, other statuses are
 * buffered, on_body's error aborts the transfer, and `cancelled` ends a
 * request the server is slow to answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/httpclient.h"
#include "strata/httpserver.h"

#define BIG 300000

static st_http_server_t *srv;
static char base[64];

static int h_big(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    char *b = malloc(BIG);
    if (!b) return ST_ENOMEM;
    for (size_t i = 0; i < BIG; i++) b[i] = (char)('a' + i % 23);
    *resp = (st_http_response_t){.status = 200, .content_type = "application/x-test", .body = b, .len = BIG};
    return ST_OK;
}

static int h_bad(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    return st_http_respond(resp, 400, ST_HTTP_CT_TEXT, "bad request, explained");
}

static int h_slow(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    sleep(3);
    return st_http_respond(resp, 200, ST_HTTP_CT_TEXT, "late");
}

static int setup(void **state) {
    (void)state;
    st_http_server_opts_t o = {.threads = 4};
    if (st_http_server_new(&srv, &o) || st_http_server_route(srv, "/big", false, h_big, NULL) ||
        st_http_server_route(srv, "/bad", false, h_bad, NULL) ||
        st_http_server_route(srv, "/slow", false, h_slow, NULL) ||
        st_http_server_start(srv, "127.0.0.1:0"))
        return -1;
    snprintf(base, sizeof base, "http://127.0.0.1:%u", st_http_server_port(srv));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    st_http_server_free(srv);
    return 0;
}

typedef struct {
    size_t got, calls;
    bool bad_byte, bad_type;
    int fail_at; /* return ST_ECORRUPT on this call (1-based); 0 = never */
    int cancel_after_polls;
    int polls;
} stream_t;

static int on_body(void *ctx, const char *ct, const void *p, size_t len) {
    stream_t *s = ctx;
    s->calls++;
    if (!ct || strcmp(ct, "application/x-test") != 0) s->bad_type = true;
    for (size_t i = 0; i < len; i++)
        if (((const char *)p)[i] != (char)('a' + (s->got + i) % 23)) s->bad_byte = true;
    s->got += len;
    if (s->fail_at && (int)s->calls == s->fail_at) return st_errorf(ST_ECORRUPT, "test: stop at call %zu", s->calls);
    return ST_OK;
}

static bool cancelled(void *ctx) {
    stream_t *s = ctx;
    return ++s->polls > s->cancel_after_polls;
}

static void test_stream_whole_body(void **state) {
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "%s/big", base);
    stream_t s = {0};
    /* max_body far below the body: streaming is not capped by it */
    st_http_req_t req = {.url = url, .timeout_ms = -1, .max_body = 1000, .on_body = on_body, .ctx = &s};
    st_http_resp_t r;
    int rc = st_http_do(&req, &r);
    if (rc) fail_msg("%s", st_errdetail(rc));
    assert_int_equal(r.status, 200);
    assert_int_equal(s.got, BIG);
    assert_false(s.bad_byte);
    assert_false(s.bad_type);
    assert_string_equal(r.body, "");
    assert_int_equal(r.len, 0);
    st_http_resp_free(&r);
}

static void test_stream_abort(void **state) {
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "%s/big", base);
    stream_t s = {.fail_at = 1};
    st_http_req_t req = {.url = url, .on_body = on_body, .ctx = &s};
    st_http_resp_t r;
    int rc = st_http_do(&req, &r);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "stop at call 1"));
    assert_int_equal(s.calls, 1);
    assert_null(r.body);
}

static void test_stream_error_status_buffered(void **state) {
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "%s/bad", base);
    stream_t s = {0};
    st_http_req_t req = {.url = url, .on_body = on_body, .ctx = &s};
    st_http_resp_t r;
    assert_int_equal(st_http_do(&req, &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "bad request, explained");
    assert_int_equal(s.calls, 0);
    st_http_resp_free(&r);
}

static void test_cancel_while_waiting(void **state) {
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "%s/slow", base);
    stream_t s = {.cancel_after_polls = 1};
    st_http_req_t req = {.url = url, .timeout_ms = -1, .on_body = on_body, .cancelled = cancelled, .ctx = &s};
    st_http_resp_t r;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = st_http_do(&req, &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_int_equal(rc, ST_ECANCELED);
    assert_non_null(strstr(st_errdetail(rc), "cancelled"));
    assert_true(secs < 2.5); /* the handler sleeps 3 s */
    assert_int_equal(s.calls, 0);

    /* never cancelled: the slow answer arrives, though no timeout is set */
    stream_t t = {.cancel_after_polls = 1 << 30};
    req.ctx = &t;
    req.on_body = NULL;
    assert_int_equal(st_http_do(&req, &r), 0);
    assert_string_equal(r.body, "late");
    st_http_resp_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_whole_body),
        cmocka_unit_test(test_stream_abort),
        cmocka_unit_test(test_stream_error_status_buffered),
        cmocka_unit_test(test_cancel_while_waiting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
