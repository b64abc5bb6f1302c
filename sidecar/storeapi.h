/*
 * The sidecar's StoreAPI (Thanos's pkg/store/prometheus.go behaviour),
 * served through storeapi.h's glue:
 *   Series       one remote read (STREAMED_XOR_CHUNKS) to
 *                <prometheus.url>/api/v1/read, frames converted as they
 *                arrive, external labels added (reorder.h keeps the order);
 *   LabelNames   GET /api/v1/labels, external label names merged in;
 *   LabelValues  GET /api/v1/label/<name>/values, or the external value;
 *   Info         component "sidecar", label_sets [external labels],
 *                min_time = oldest block minTime in --tsdb.path,
 *                max_time = INT64_MAX.
 * Until the external labels are known every call is UNAVAILABLE.
 */
#ifndef STRATA_SIDECAR_STOREAPI_H
#define STRATA_SIDECAR_STOREAPI_H

#include <stdint.h>

#include "strata/labels.h"
#include "strata/storeapi.h"

/* Info's min_time while no block is known: Thanos advertises all of time
 * when Prometheus has no block yet (math.MinInt64). */
#define SIDECAR_MIN_TIME_UNKNOWN INT64_MIN

typedef struct sidecar_store sidecar_store_t;

/* prom_url and tsdb_dir are borrowed and must outlive the store. */
int sidecar_store_new(sidecar_store_t **out, const char *prom_url, const char *tsdb_dir);
/* Call after the gRPC server serving it is freed. NULL ok. */
void sidecar_store_free(sidecar_store_t *s);
/* Publish Prometheus's external labels (copied; any thread). */
int sidecar_store_set_labels(sidecar_store_t *s, const st_labels_t *ext);
/* Re-read the oldest block minTime under tsdb_dir (meta.json of every
 * block directory); keeps the previous value when the directory cannot
 * be read. */
void sidecar_store_refresh_min_time(sidecar_store_t *s);
int64_t sidecar_store_min_time(const sidecar_store_t *s);

extern const st_storeapi_ops_t sidecar_store_ops;

#endif
