/*
 * httpclient.h — blocking HTTP requests over libcurl (one easy handle per
 * call, so any thread may call at any time), plus the helpers that read
 * Prometheus's HTTP API answers.
 *
 * A request has an overall timeout and the response body is capped: a body
 * larger than max_body is ST_ELIMIT, never a huge allocation. A transport
 * failure (refused, timeout, DNS) is ST_EIO with curl's message and the URL
 * in the detail. Any HTTP status is a successful call: the caller judges
 * resp.status. A large 2xx body can be streamed to a callback instead of
 * buffered (on_body below).
 */
#ifndef STRATA_HTTPCLIENT_H
#define STRATA_HTTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"

#define ST_HTTP_DEFAULT_MAX_BODY ((size_t)16 << 20)

typedef struct {
    long status;        /* HTTP status code */
    char *content_type; /* owned, NULL when the server sent none */
    char *body;         /* owned, NUL-terminated (len excludes the NUL); never NULL on success */
    size_t len;
} st_http_resp_t;

typedef struct {
    const char *method;       /* "GET" (default when NULL) or "POST", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated array; may be NULL */
    const void *body;         /* request body (POST); may be NULL */
    size_t body_len;
    int64_t timeout_ms;       /* whole request; 0 = 30 s; < 0 = none (see `cancelled`) */
    size_t max_body;          /* response cap; 0 = ST_HTTP_DEFAULT_MAX_BODY */
    /* Streaming (optional). With on_body set, the body of a 2xx response
     * is not buffered: each piece goes to on_body as it arrives, with the
     * response's Content-Type (NULL when none), and out->body stays "".
     * A non-zero return aborts the transfer and is what st_http_do returns
     * (record the detail with st_errorf first). Bodies of other statuses
     * are buffered as usual (capped by max_body) for the error message. */
    int (*on_body)(void *ctx, const char *content_type, const void *p, size_t len);
    /* Optional; polled while the transfer runs, also while the server has
     * not answered yet (at least about once a second): true aborts it with
     * ST_ECANCELED. */
    bool (*cancelled)(void *ctx);
    void *ctx; /* for on_body and cancelled */
} st_http_req_t;

int st_http_do(const st_http_req_t *req, st_http_resp_t *out);
/* GET url with the default cap. */
int st_http_get(const char *url, int64_t timeout_ms, st_http_resp_t *out);
void st_http_resp_free(st_http_resp_t *r); /* frees members, zeroes; NULL ok */

/* ---- Prometheus HTTP API ---- */

/* From the body of GET /api/v1/status/config
 * ({"status":"success","data":{"yaml":"<config>"}}), the label set under
 * global.external_labels of the YAML (empty when the config has none).
 * Anything malformed is ST_ECORRUPT naming the part (JSON, YAML line,
 * label); an invalid label name is ST_ECORRUPT too. *out owned. */
int st_prom_external_labels(const char *json, size_t len, st_labels_t *out);

#endif
