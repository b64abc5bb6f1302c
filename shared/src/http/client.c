/* Blocking HTTP client over libcurl; contract in httpclient.h. */
#include "strata/httpclient.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "strata/buf.h"
#include "strata/err.h"

#define DEFAULT_TIMEOUT_MS 30000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* curl_global_init is not thread-safe itself; run it exactly once. */
static void init_curl(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    st_encbuf_t b;
    size_t max;
    bool over;
    const st_http_req_t *req;
    CURL *c;
    int streaming; /* on_body mode: -1 = not decided yet, 0 = buffer, 1 = stream */
    int cb_rc;     /* what on_body stopped the transfer with */
    bool cancelled;
} sink_t;

/* CURLOPT_XFERINFOFUNCTION: libcurl calls it often while data flows and
 * about once a second while it waits; non-zero aborts the transfer. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    sink_t *s = ctx;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (!s->req->cancelled(s->req->ctx)) return 0;
    s->cancelled = true;
    return 1;
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx) {
    sink_t *s = ctx;
    size_t len = size * n;
    if (s->streaming < 0) {
        /* the headers are in by the first body byte: stream 2xx bodies only */
        long status = 0;
        curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
        s->streaming = status / 100 == 2;
    }
    if (s->streaming) {
        char *ct = NULL;
        curl_easy_getinfo(s->c, CURLINFO_CONTENT_TYPE, &ct);
        int rc = s->req->on_body(s->req->ctx, ct, p, len);
        if (rc) {
            s->cb_rc = rc;
            return 0;
        }
        return len;
    }
    if (len > s->max - s->b.len) {
        s->over = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    st_put_bytes(&s->b, p, len);
    return s->b.err ? 0 : len;
}

int st_http_do(const st_http_req_t *req, st_http_resp_t *out) {
    memset(out, 0, sizeof *out);
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK)
        return st_errorf(ST_EIO, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));

    const char *method = req->method ? req->method : "GET";
    sink_t sink = {.max = req->max_body ? req->max_body : ST_HTTP_DEFAULT_MAX_BODY,
                   .req = req,
                   .streaming = req->on_body ? -1 : 0};
    /* the encbuf cap only guards growth; the exact limit is checked in on_data */
    st_encbuf_init(&sink.b, sink.max + 1);
    struct curl_slist *hdrs = NULL;
    int rc = ST_OK;
    CURL *c = curl_easy_init();
    if (!c) {
        rc = st_errorf(ST_ENOMEM, "%s %s: curl_easy_init failed", method, req->url);
        goto out;
    }
    for (const char *const *h = req->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(hdrs, *h);
        if (!n) {
            rc = st_errorf(ST_ENOMEM, "%s %s: header list", method, req->url);
            goto out;
        }
        hdrs = n;
    }
    sink.c = c;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM from DNS timeouts in threads */
    if (req->timeout_ms >= 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS));
    if (req->cancelled) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &sink);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "strata");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "GET") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (req->body || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }

    CURLcode cc = curl_easy_perform(c);
    if (sink.cancelled) {
        rc = st_errorf(ST_ECANCELED, "%s %s: cancelled", method, req->url);
        goto out;
    }
    if (sink.cb_rc) { /* on_body's code, detail recorded by it */
        rc = sink.cb_rc;
        goto out;
    }
    if (sink.over) {
        rc = st_errorf(ST_ELIMIT, "%s %s: response body larger than %zu bytes", method, req->url, sink.max);
        goto out;
    }
    if (sink.b.err) {
        rc = st_errorf(sink.b.err, "%s %s: buffering the response body", method, req->url);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = st_errorf(ST_EIO, "%s %s: %s", method, req->url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    char *ct = NULL;
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
        out->content_type = strdup(ct);
        if (!out->content_type) {
            rc = st_errorf(ST_ENOMEM, "%s %s: content type", method, req->url);
            goto out;
        }
    }
    st_put_u8(&sink.b, 0);
    if (sink.b.err) {
        rc = st_errorf(sink.b.err, "%s %s: buffering the response body", method, req->url);
        goto out;
    }
    out->body = (char *)sink.b.p;
    out->len = sink.b.len - 1;
    sink.b.p = NULL;
out:
    st_encbuf_free(&sink.b);
    curl_slist_free_all(hdrs);
    if (c) curl_easy_cleanup(c);
    if (rc) st_http_resp_free(out);
    return rc;
}

int st_http_get(const char *url, int64_t timeout_ms, st_http_resp_t *out) {
    st_http_req_t req = {.url = url, .timeout_ms = timeout_ms};
    return st_http_do(&req, out);
}

void st_http_resp_free(st_http_resp_t *r) {
    if (!r) return;
    free(r->body);
    free(r->content_type);
    memset(r, 0, sizeof *r);
}
