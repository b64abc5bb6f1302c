/* What the sidecar asks its Prometheus (or strata scraper) over HTTP. */
#ifndef STRATA_SIDECAR_PROMCLIENT_H
#define STRATA_SIDECAR_PROMCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"
#include "strata/storeapi.h"

/* global.external_labels from GET <base>/api/v1/status/config. A non-200
 * answer or a transport failure is ST_EIO (status and a body excerpt in
 * the detail); a malformed answer ST_ECORRUPT. *out owned. */
int prom_external_labels(const char *base_url, int64_t timeout_ms, st_labels_t *out);

/* GET <base>/api/v1/status/flags: *equal = storage.tsdb.min-block-duration
 * equals storage.tsdb.max-block-duration (local compaction off, as a
 * sidecar needs). ST_ENOTFOUND when the server does not report them. */
int prom_block_durations_equal(const char *base_url, int64_t timeout_ms, bool *equal, char *min, char *max,
                               size_t cap);

/* The "data" array of strings of a Prometheus API answer
 * {"status":"success","data":[...]} (/api/v1/labels, /api/v1/label/<n>/
 * values), appended to *out. Anything else (bad JSON, another status, a
 * non-string or a string with a NUL byte) is ST_ECORRUPT. */
int prom_parse_strings(const char *json, size_t len, st_strlist_t *out);

/* GET <base><path_query> and parse the answer as above. A transport
 * failure or a 5xx answer is ST_EIO, a 4xx one ST_EINVAL (Prometheus
 * refused the request: its "error" text in the detail); the URL is in
 * every detail. cancelled (may be NULL) is polled while waiting, as in
 * httpclient.h: true ends the call with ST_ECANCELED. */
int prom_get_strings(const char *base_url, const char *path_query, int64_t timeout_ms, bool (*cancelled)(void *),
                     void *ctx, st_strlist_t *out);

#endif
