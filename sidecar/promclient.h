/* What the sidecar asks its Prometheus (or strata scraper) over HTTP. */
#ifndef STRATA_SIDECAR_PROMCLIENT_H
#define STRATA_SIDECAR_PROMCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"

/* global.external_labels from GET <base>/api/v1/status/config. A non-200
 * answer or a transport failure is ST_EIO (status and a body excerpt in
 * the detail); a malformed answer ST_ECORRUPT. *out owned. */
int prom_external_labels(const char *base_url, int64_t timeout_ms, st_labels_t *out);

/* GET <base>/api/v1/status/flags: *equal = storage.tsdb.min-block-duration
 * equals storage.tsdb.max-block-duration (local compaction off, as a
 * sidecar needs). ST_ENOTFOUND when the server does not report them. */
int prom_block_durations_equal(const char *base_url, int64_t timeout_ms, bool *equal, char *min, char *max,
                               size_t cap);

#endif
