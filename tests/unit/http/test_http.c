/* The HTTP server and client against each other on loopback, and the
 * external-labels extraction from Prometheus's /api/v1/status/config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <strings.h>

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "strata/err.h"
#include "strata/httpclient.h"
#include "strata/httpserver.h"

/* ---- external labels ---- */

/* The answer of a real Prometheus 2.42 (captured from
 * GET /api/v1/status/config) for a config with three external labels. */
static const char prom_242_config[] =
    "{\"status\":\"success\",\"data\":{\"yaml\":\"global:\\n  scrape_interval: 1s\\n  scrape_timeout: 1s\\n  "
    "evaluation_interval: 1m\\n  external_labels:\\n    cluster: eu-1\\n    replica: a\\\"b\\n    weird: 'x: y # "
    "z'\\nscrape_configs:\\n- job_name: prom\\n  honor_timestamps: true\\n  scrape_interval: 1s\\n  scrape_timeout: "
    "1s\\n  metrics_path: /metrics\\n  scheme: http\\n  follow_redirects: true\\n  enable_http2: true\\n  "
    "static_configs:\\n  - targets:\\n    - 127.0.0.1:19190\\n\"}}";

static char *wrap_yaml(const char *yaml) {
    /* JSON-escape the YAML into the API envelope */
    size_t n = strlen(yaml);
    char *out = malloc(n * 2 + 64);
    char *p = out + sprintf(out, "{\"status\":\"success\",\"data\":{\"yaml\":\"");
    for (size_t i = 0; i < n; i++) {
        if (yaml[i] == '\n') *p++ = '\\', *p++ = 'n';
        else if (yaml[i] == '"' || yaml[i] == '\\') *p++ = '\\', *p++ = yaml[i];
        else *p++ = yaml[i];
    }
    strcpy(p, "\"}}");
    return out;
}

static int labels_of_yaml(const char *yaml, st_labels_t *out) {
    char *json = wrap_yaml(yaml);
    int rc = st_prom_external_labels(json, strlen(json), out);
    free(json);
    return rc;
}

static void assert_label(const st_labels_t *l, size_t i, const char *name, const char *value) {
    assert_true(i < l->n);
    assert_string_equal(l->v[i].name, name);
    assert_string_equal(l->v[i].value, value);
}

static void test_labels_prometheus_242(void **state) {
    (void)state;
    st_labels_t l;
    assert_int_equal(st_prom_external_labels(prom_242_config, strlen(prom_242_config), &l), 0);
    assert_int_equal(l.n, 3);
    assert_label(&l, 0, "cluster", "eu-1");
    assert_label(&l, 1, "replica", "a\"b");
    assert_label(&l, 2, "weird", "x: y # z");
    st_labels_free(&l);
}

static void test_labels_absent_or_empty(void **state) {
    (void)state;
    static const char *const yamls[] = {
        "",                                           /* empty document */
        "scrape_configs: []\n",                       /* no global */
        "global:\n",                                  /* null global */
        "global:\n  scrape_interval: 1m\n",           /* no external_labels */
        "global:\n  external_labels: {}\n",           /* empty mapping */
        "global:\n  external_labels:\n",              /* null */
        "global:\n  external_labels:\n    a: ''\n",   /* empty value = absent label */
    };
    for (size_t i = 0; i < sizeof yamls / sizeof yamls[0]; i++) {
        st_labels_t l;
        assert_int_equal(labels_of_yaml(yamls[i], &l), 0);
        assert_int_equal(l.n, 0);
        st_labels_free(&l);
    }
}

static void test_labels_sorted_and_aliases(void **state) {
    (void)state;
    st_labels_t l;
    assert_int_equal(labels_of_yaml("x: &v eu\nglobal:\n  external_labels:\n    zone: *v\n    a_1: \"q\\u00e9\"\n"
                                    "remote_write: [{url: 'http://x'}]\n",
                                    &l),
                     0);
    assert_int_equal(l.n, 2);
    assert_label(&l, 0, "a_1", "q\xc3\xa9");
    assert_label(&l, 1, "zone", "eu");
    st_labels_free(&l);
}

static void test_labels_errors(void **state) {
    (void)state;
    static const struct {
        const char *yaml, *detail;
    } cases[] = {
        {"global:\n  external_labels:\n    1abc: x\n", "invalid label name"},
        {"global:\n  external_labels:\n    a-b: x\n", "invalid label name"},
        {"global:\n  external_labels:\n    a: [1, 2]\n", "not a scalar name and value"},
        {"global:\n  external_labels: [a, b]\n", "is not a mapping"},
        {"global: 5\n", "global (line 1) is not a mapping"},
        {"- a\n- b\n", "top level (line 1) is not a mapping"},
        {"global: {}\nglobal: {}\n", "key \"global\" repeated"},
        {"global:\n  external_labels:\n    a: x\n    a: y\n", "global.external_labels"},
        {"global:\n  external_labels:\n    a: \"x\\0y\"\n", "NUL byte"},
        {"global:\n  external_labels: {a: b\n", "YAML line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_labels_t l;
        int rc = labels_of_yaml(cases[i].yaml, &l);
        assert_int_equal(rc, ST_ECORRUPT);
        if (!strstr(st_errdetail(rc), cases[i].detail))
            fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, st_errdetail(rc), cases[i].detail);
        assert_int_equal(l.n, 0);
    }
    static const struct {
        const char *json, *detail;
    } jcases[] = {
        {"{\"status\":\"error\",\"error\":\"boom\"}", "status is not \"success\": boom"},
        {"{\"status\":\"success\",\"data\":{}}", "data.yaml missing"},
        {"{\"status\":\"success\",\"data\":{\"yaml\":5}}", "data.yaml missing"},
        {"{\"status\":", "bad JSON"},
        {"", "bad JSON"},
    };
    for (size_t i = 0; i < sizeof jcases / sizeof jcases[0]; i++) {
        st_labels_t l;
        int rc = st_prom_external_labels(jcases[i].json, strlen(jcases[i].json), &l);
        assert_int_equal(rc, ST_ECORRUPT);
        if (!strstr(st_errdetail(rc), jcases[i].detail))
            fail_msg("json case %zu: detail \"%s\" lacks \"%s\"", i, st_errdetail(rc), jcases[i].detail);
    }
}

/* ---- server and client ---- */

static int h_hello(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx;
    const char *who = st_http_request_arg(req, "who"), *hdr = st_http_request_header(req, "x-test");
    char text[256];
    snprintf(text, sizeof text, "%s %s hello %s hdr=%s", st_http_request_method(req), st_http_request_path(req),
             who ? who : "-", hdr ? hdr : "-");
    return st_http_respond(resp, 200, ST_HTTP_CT_TEXT, text);
}

static int h_echo(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx;
    size_t n;
    const void *body = st_http_request_body(req, &n);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, body, n);
    *resp = (st_http_response_t){.status = 201, .content_type = ST_HTTP_CT_JSON, .body = copy, .len = n,
                                 .content_encoding = "snappy"};
    return 0;
}

/* Every match[] argument, joined by '|'. */
static int h_args(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx;
    const char **v;
    size_t n;
    int rc = st_http_request_args(req, "match[]", &v, &n);
    if (rc) return rc;
    char text[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(text, "|");
        strncat(text, v[i], sizeof text - strlen(text) - 2);
    }
    free(v);
    return st_http_respond(resp, 200, NULL, text);
}

static int h_prefix(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    return st_http_respond(resp, 200, NULL, ctx ? (const char *)ctx : st_http_request_path(req));
}

static int h_fail(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    st_http_respond(resp, 200, NULL, "discarded");
    return st_errorf(ST_EIO, "backend unreachable");
}

static int h_big(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    char *b = malloc(100000);
    memset(b, 'x', 100000);
    *resp = (st_http_response_t){.status = 200, .body = b, .len = 100000};
    return 0;
}

static st_http_server_t *srv;
static char base[64];

static int setup(void **state) {
    (void)state;
    st_http_server_opts_t o = {.threads = 3, .max_body = 1000};
    if (st_http_server_new(&srv, &o) || st_http_server_route(srv, "/hello", false, h_hello, NULL) ||
        st_http_server_route(srv, "/echo", false, h_echo, NULL) ||
        st_http_server_route(srv, "/api/", true, h_prefix, NULL) ||
        st_http_server_route(srv, "/api/v1/", true, h_prefix, (void *)"longer prefix") ||
        st_http_server_route(srv, "/api/v1/exact", false, h_prefix, (void *)"exact") ||
        st_http_server_route(srv, "/fail", false, h_fail, NULL) || st_http_server_route(srv, "/args", false, h_args, NULL) || st_http_server_route(srv, "/big", false, h_big, NULL) ||
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

static void get(const char *path, st_http_resp_t *r) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    const char *hdrs[] = {"X-Test: yes", NULL};
    st_http_req_t req = {.url = url, .headers = hdrs, .timeout_ms = 5000};
    int rc = st_http_do(&req, r);
    if (rc) fail_msg("GET %s: %s", url, st_errdetail(rc));
}

static void test_routes(void **state) {
    (void)state;
    assert_true(st_http_server_port(srv) > 0);
    st_http_resp_t r;
    get("/hello?who=w%20x", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET /hello hello w x hdr=yes");
    assert_string_equal(r.content_type, ST_HTTP_CT_TEXT);
    st_http_resp_free(&r);

    get("/nope", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "404 page not found\n");
    st_http_resp_free(&r);

    get("/hello/sub", &r); /* exact routes do not match longer paths */
    assert_int_equal(r.status, 404);
    st_http_resp_free(&r);

    get("/api/x", &r);
    assert_string_equal(r.body, "/api/x");
    st_http_resp_free(&r);
    get("/api/v1/labels", &r);
    assert_string_equal(r.body, "longer prefix");
    st_http_resp_free(&r);
    get("/api/v1/exact", &r);
    assert_string_equal(r.body, "exact");
    st_http_resp_free(&r);

    get("/fail", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "internal error: backend unreachable\n");
    st_http_resp_free(&r);

    get("/args?match[]=a&x=1&match[]=b%20c&match%5B%5D=d", &r);
    assert_string_equal(r.body, "a|b c|d");
    st_http_resp_free(&r);
    get("/args", &r);
    assert_string_equal(r.body, "");
    st_http_resp_free(&r);
}

static size_t find_encoding(char *p, size_t size, size_t n, void *ud) {
    if (size * n > 18 && strncasecmp(p, "Content-Encoding: ", 18) == 0) snprintf(ud, 32, "%.*s", (int)(n - 20), p + 18);
    return size * n;
}

/* A handler's content_encoding reaches the client as a header. */
static void test_content_encoding(void **state) {
    (void)state;
    char url[128], enc[32] = "";
    snprintf(url, sizeof url, "%s/echo", base);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, find_encoding);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, enc);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, find_encoding); /* body: ignored unless it looks like a header */
    char sink[32];
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    assert_string_equal(enc, "snappy");
}

static void test_post_and_limits(void **state) {
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "%s/echo", base);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    st_http_req_t req = {.method = "POST", .url = url, .headers = hdrs, .body = "{\"a\":1}", .body_len = 7};
    st_http_resp_t r;
    assert_int_equal(st_http_do(&req, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.len, 7);
    assert_string_equal(r.body, "{\"a\":1}");
    assert_string_equal(r.content_type, ST_HTTP_CT_JSON);
    st_http_resp_free(&r);

    /* request body above the server's 1000-byte cap */
    char big[5000];
    memset(big, 'y', sizeof big);
    req.body = big;
    req.body_len = sizeof big;
    assert_int_equal(st_http_do(&req, &r), 0);
    assert_int_equal(r.status, 413);
    st_http_resp_free(&r);

    /* response body above the client's cap */
    snprintf(url, sizeof url, "%s/big", base);
    st_http_req_t g = {.url = url, .max_body = 1000};
    int rc = st_http_do(&g, &r);
    assert_int_equal(rc, ST_ELIMIT);
    assert_non_null(strstr(st_errdetail(rc), "larger than 1000 bytes"));
    assert_null(r.body);
    g.max_body = 100000; /* exactly fits */
    assert_int_equal(st_http_do(&g, &r), 0);
    assert_int_equal(r.len, 100000);
    st_http_resp_free(&r);
}

static void test_client_errors(void **state) {
    (void)state;
    /* a port nobody listens on: bind one, read it back, close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
    st_http_resp_t r;
    int rc = st_http_get(url, 2000, &r);
    assert_int_equal(rc, ST_EIO);
    assert_non_null(strstr(st_errdetail(rc), url));
    rc = st_http_get("ftp://127.0.0.1/x", 2000, &r);
    assert_int_equal(rc, ST_EIO);
}

static void test_server_address_errors(void **state) {
    (void)state;
    static const char *const bad[] = {"127.0.0.1", "::1:80", "[::1]80", "host:", "host:12a", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_http_server_t *s;
        assert_int_equal(st_http_server_new(&s, NULL), 0);
        int rc = st_http_server_start(s, bad[i]);
        if (rc != ST_EINVAL) fail_msg("address \"%s\": rc %d (%s)", bad[i], rc, st_errdetail(rc));
        st_http_server_free(s);
    }
    /* the port of the running test server is taken */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", st_http_server_port(srv));
    st_http_server_t *s;
    assert_int_equal(st_http_server_new(&s, NULL), 0);
    int rc = st_http_server_start(s, addr);
    assert_int_equal(rc, ST_EIO);
    assert_non_null(strstr(st_errdetail(rc), "Address already in use"));
    st_http_server_free(s);
    /* IPv6 loopback with brackets, when the machine has it */
    assert_int_equal(st_http_server_new(&s, NULL), 0);
    rc = st_http_server_start(s, "[::1]:0");
    assert_true(rc == 0 || rc == ST_EIO);
    st_http_server_free(s);
    /* routes are fixed once started */
    assert_int_equal(st_http_server_route(srv, "/late", false, h_hello, NULL), ST_EINVAL);
}

static void *hammer(void *arg) {
    int *ok = arg;
    for (int i = 0; i < 50; i++) {
        char url[128], want[64];
        snprintf(url, sizeof url, "%s/hello?who=%d", base, i);
        snprintf(want, sizeof want, "GET /hello hello %d hdr=-", i);
        st_http_resp_t r;
        if (st_http_get(url, 5000, &r) == 0 && r.status == 200 && strcmp(r.body, want) == 0) (*ok)++;
        st_http_resp_free(&r);
    }
    return NULL;
}

static void test_concurrent_clients(void **state) {
    (void)state;
    pthread_t th[6];
    int ok[6] = {0};
    for (int i = 0; i < 6; i++) pthread_create(&th[i], NULL, hammer, &ok[i]);
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ok[i], 50);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_prometheus_242),
        cmocka_unit_test(test_labels_absent_or_empty),
        cmocka_unit_test(test_labels_sorted_and_aliases),
        cmocka_unit_test(test_labels_errors),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_content_encoding),
        cmocka_unit_test(test_post_and_limits),
        cmocka_unit_test(test_client_errors),
        cmocka_unit_test(test_server_address_errors),
        cmocka_unit_test(test_concurrent_clients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
