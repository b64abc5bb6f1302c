/* HTTP calls to the Prometheus next to the sidecar; see promclient.h. */
#include "promclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "strata/err.h"
#include "strata/flags.h"
#include "strata/httpclient.h"

/* Prometheus's answers here are small; a config with thousands of scrape
 * jobs still fits. */
#define PROM_MAX_BODY ((size_t)8 << 20)

/* Label values of a big TSDB can be many; Prometheus itself has no cap. */
#define PROM_MAX_STRINGS_BODY ((size_t)256 << 20)

static char *api_url(const char *base_url, const char *path) {
    size_t n = strlen(base_url);
    while (n && base_url[n - 1] == '/') n--;
    size_t len = n + strlen(path) + 1;
    char *url = malloc(len);
    if (url) snprintf(url, len, "%.*s%s", (int)n, base_url, path);
    return url;
}

static int get_api(const char *base_url, const char *path, int64_t timeout_ms, st_http_resp_t *resp) {
    char *url = api_url(base_url, path);
    if (!url) return st_errorf(ST_ENOMEM, "prometheus url");
    st_http_req_t req = {.url = url, .timeout_ms = timeout_ms, .max_body = PROM_MAX_BODY};
    int rc = st_http_do(&req, resp);
    if (!rc && resp->status != 200) {
        rc = st_errorf(ST_EIO, "GET %s: HTTP status %ld: %.200s", url, resp->status, resp->body);
        st_http_resp_free(resp);
    }
    free(url);
    return rc;
}

int prom_parse_strings(const char *json, size_t len, st_strlist_t *out) {
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return st_errorf(ST_ECORRUPT, "bad JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    int rc = ST_OK;
    json_t *status = json_object_get(root, "status"), *data = json_object_get(root, "data");
    if (!json_is_string(status) || strcmp(json_string_value(status), "success") != 0) {
        rc = st_errorf(ST_ECORRUPT, "status is not \"success\"");
    } else if (!json_is_array(data)) {
        rc = st_errorf(ST_ECORRUPT, "\"data\" is not an array");
    } else {
        for (size_t i = 0; i < json_array_size(data) && !rc; i++) {
            json_t *v = json_array_get(data, i);
            if (!json_is_string(v)) rc = st_errorf(ST_ECORRUPT, "data[%zu] is not a string", i);
            else if (strlen(json_string_value(v)) != json_string_length(v))
                rc = st_errorf(ST_ECORRUPT, "data[%zu] holds a NUL byte", i);
            else rc = st_strlist_push(out, json_string_value(v));
        }
    }
    json_decref(root);
    return rc;
}

int prom_get_strings(const char *base_url, const char *path_query, int64_t timeout_ms, bool (*cancelled)(void *),
                     void *ctx, st_strlist_t *out) {
    char *url = api_url(base_url, path_query);
    if (!url) return st_errorf(ST_ENOMEM, "prometheus url");
    st_http_req_t req = {
        .url = url, .timeout_ms = timeout_ms, .max_body = PROM_MAX_STRINGS_BODY, .cancelled = cancelled, .ctx = ctx};
    st_http_resp_t resp;
    int rc = st_http_do(&req, &resp);
    if (rc) {
        rc = st_errwrap(rc == ST_ELIMIT || rc == ST_ECANCELED ? rc : ST_EIO, "Prometheus at %s", base_url);
    } else if (resp.status == 200) {
        if ((rc = prom_parse_strings(resp.body, resp.len, out))) rc = st_errwrap(rc, "GET %s", url);
    } else {
        /* Prometheus explains a refusal in {"status":"error","error":...} */
        json_t *root = json_loadb(resp.body, resp.len, 0, NULL);
        json_t *err = json_object_get(root, "error");
        rc = st_errorf(resp.status / 100 == 4 ? ST_EINVAL : ST_EIO, "GET %s: HTTP status %ld: %.300s", url,
                       resp.status, json_is_string(err) ? json_string_value(err) : resp.body);
        json_decref(root);
    }
    st_http_resp_free(&resp);
    free(url);
    return rc;
}

int prom_external_labels(const char *base_url, int64_t timeout_ms, st_labels_t *out) {
    memset(out, 0, sizeof *out);
    st_http_resp_t resp;
    int rc = get_api(base_url, "/api/v1/status/config", timeout_ms, &resp);
    if (rc) return rc;
    rc = st_prom_external_labels(resp.body, resp.len, out);
    st_http_resp_free(&resp);
    return rc;
}

int prom_block_durations_equal(const char *base_url, int64_t timeout_ms, bool *equal, char *min, char *max,
                               size_t cap) {
    st_http_resp_t resp;
    int rc = get_api(base_url, "/api/v1/status/flags", timeout_ms, &resp);
    if (rc) return rc;
    json_t *root = json_loadb(resp.body, resp.len, 0, NULL);
    json_t *data = json_object_get(root, "data");
    json_t *lo = json_object_get(data, "storage.tsdb.min-block-duration");
    json_t *hi = json_object_get(data, "storage.tsdb.max-block-duration");
    if (!json_is_string(lo) || !json_is_string(hi)) {
        rc = st_errorf(ST_ENOTFOUND, "GET %s/api/v1/status/flags: no storage.tsdb.min/max-block-duration", base_url);
    } else {
        snprintf(min, cap, "%s", json_string_value(lo));
        snprintf(max, cap, "%s", json_string_value(hi));
        /* "2h" and "120m" are the same duration */
        int64_t a, b;
        if (st_duration_parse(min, &a) == ST_OK && st_duration_parse(max, &b) == ST_OK) *equal = a == b;
        else *equal = strcmp(min, max) == 0;
    }
    json_decref(root);
    st_http_resp_free(&resp);
    return rc;
}
