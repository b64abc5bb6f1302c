/*
 * promapi.h — request parameters and JSON strings of Prometheus's HTTP API,
 * parsed and written as Prometheus 2.42 does (web/api/v1), for every
 * component serving that API (scraper, querier). Label names are checked
 * with st_label_name_valid (relabel.h): the same rule, model.LabelNameRE.
 */
#ifndef STRATA_PROMAPI_H
#define STRATA_PROMAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/buf.h"
#include "strata/labels.h"

/* Prometheus's defaults for an absent start / end: time.Unix(MinInt64/1000
 * + 62135596801, 0) and time.Unix(MaxInt64/1000 - 62135596801, 999999999),
 * in ms. */
#define ST_PROMAPI_MIN_TIME_MS INT64_C(-9223309901257974000)
#define ST_PROMAPI_MAX_TIME_MS INT64_C(9223309901257974999)

/* One decoded key=value pair of a form body. */
typedef struct {
    char *key, *value; /* owned, NUL-terminated */
} st_promapi_kv_t;

typedef struct {
    st_promapi_kv_t *v; /* owned, in body order */
    size_t n;
} st_promapi_form_t;

/* Decode an application/x-www-form-urlencoded body as Go's url.ParseQuery
 * does for Request.PostForm: pairs split at '&', '+' is a space, %XX
 * escapes; a pair with a bad escape or a ';' is skipped (Go reports it, and
 * Prometheus ignores the report). Only allocation failures are errors. */
int st_promapi_form_parse(st_promapi_form_t *out, const char *p, size_t len);
/* First value of key, or NULL. */
const char *st_promapi_form_get(const st_promapi_form_t *f, const char *key);
void st_promapi_form_free(st_promapi_form_t *f); /* NULL ok */

/* Prometheus's parseTime: a float of Unix seconds (rounded to ms as Go
 * does), an RFC 3339 time with optional fraction, or one of the two
 * formatted default times. ST_EINVAL with Prometheus's message
 * (cannot parse "x" to a valid timestamp) otherwise. */
int st_promapi_parse_time(const char *s, int64_t *ms);

/* Prometheus's parseDuration (step, timeout): float seconds or a
 * Prometheus duration ("1m30s"). ST_EINVAL with Prometheus's message. */
int st_promapi_parse_duration(const char *s, int64_t *ms);

/* Go's time.Parse(time.RFC3339Nano, s) in ms since the epoch:
 * 2006-01-02T15:04:05[.fraction](Z|+07:00), fraction truncated to ms
 * (also behind Thanos-style --min-time flags). ST_EINVAL otherwise. */
int st_rfc3339_parse(const char *s, int64_t *ms);

/* A JSON string as Prometheus's encoder (jsoniter, compatible with Go's
 * encoding/json) writes it: \" \\ \n \r \t, \u00xx for other control bytes
 * and for < > &, \u2028 \u2029, \ufffd for each byte of invalid UTF-8. */
void st_promapi_put_json_string(st_encbuf_t *b, const char *s, size_t len);
/* A label set as a JSON object in label order: {"name":"value",...}. */
void st_promapi_put_labels_json(st_encbuf_t *b, const st_labels_t *l);

#endif
