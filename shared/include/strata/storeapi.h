/*
 * storeapi.h — Thanos's StoreAPI (thanos.Store + thanos.info.Info) on top
 * of grpc.h: typed requests and responses, the server glue every Strata
 * store plugs into (store gateway, sidecar, later the querier), and the
 * client the querier and `strata tools store` use.
 *
 * Wire format: the storepb/labelpb/info/hintspb messages of proto/thanos/,
 * field numbers as in Thanos. Chunks travel as storepb.Chunk with encoding
 * XOR = 0 and the Prometheus chunk bytes without length, encoding byte or
 * CRC (so the data is what st_chunk_reader_get returns).
 *
 * A store implements st_storeapi_ops_t and registers it on a gRPC server:
 *
 *   st_storeapi_register(srv, &ops, store, &limits);
 *
 * Its series() streams matching series in label order through the sink;
 * the sink batches frames, enforces the request's and the store's limits
 * and notices a client that went away. Requests handed to ops are decoded,
 * validated and owned by the glue for the duration of the call.
 */
#ifndef STRATA_STOREAPI_H
#define STRATA_STOREAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/grpc.h"
#include "strata/labels.h"
#include "strata/matcher.h"
#include "strata/strlist.h"

#define ST_STOREAPI_SERIES "/thanos.Store/Series"
#define ST_STOREAPI_LABEL_NAMES "/thanos.Store/LabelNames"
#define ST_STOREAPI_LABEL_VALUES "/thanos.Store/LabelValues"
#define ST_STOREAPI_INFO "/thanos.info.Info/Info"

/* storepb.Aggr: what a downsampled chunk carries. */
typedef enum {
    ST_AGGR_RAW = 0,
    ST_AGGR_COUNT = 1,
    ST_AGGR_SUM = 2,
    ST_AGGR_MIN = 3,
    ST_AGGR_MAX = 4,
    ST_AGGR_COUNTER = 5
} st_aggr_t;
#define ST_AGGR_N 6

/* ---- requests ---- */

typedef struct {
    int64_t min_time, max_time;     /* ms, closed interval */
    st_matchers_t matchers;         /* owned */
    int64_t max_resolution_window;  /* ms; 0 = raw data only */
    uint32_t aggregates;            /* bit (1u << st_aggr_t) per requested aggregate; 0 = raw */
    bool skip_chunks;               /* labels only */
    bool partial_response_abort;    /* partial_response_disabled or strategy ABORT */
    int64_t limit;                  /* at most this many series; 0 = no limit */
    int64_t response_batch_size;    /* series per frame; 0/1 = one SeriesResponse.series each */
    st_matchers_t block_matchers;   /* from hints (hintspb.SeriesRequestHints); owned, often empty */
    /* Labels to leave out of every series, the stream sorted without them
     * (a querier deduplicating on them); sent only to stores whose Info
     * says supports_without_replica_labels. Owned. */
    st_strlist_t without_replica_labels;
} st_series_request_t;

/* Undecodable protobuf is ST_ECORRUPT, a bad matcher (unknown type, bad
 * regex) ST_EINVAL, min_time > max_time ST_EINVAL; detail says which
 * field. Unknown fields are ignored, as in Go. *out owned. */
int st_series_request_decode(const uint8_t *p, size_t len, st_series_request_t *out);
int st_series_request_encode(const st_series_request_t *r, uint8_t **out, size_t *len);
void st_series_request_free(st_series_request_t *r); /* NULL ok */

/* LabelNames and LabelValues requests share one shape (label is NULL for
 * LabelNames). */
typedef struct {
    char *label;                  /* LabelValues: the label name; owned */
    int64_t start, end;           /* ms, closed */
    st_matchers_t matchers;       /* owned; may be empty */
    bool partial_response_abort;
    int64_t limit;                /* 0 = no limit */
} st_label_request_t;

int st_label_names_request_decode(const uint8_t *p, size_t len, st_label_request_t *out);
int st_label_names_request_encode(const st_label_request_t *r, uint8_t **out, size_t *len);
int st_label_values_request_decode(const uint8_t *p, size_t len, st_label_request_t *out);
int st_label_values_request_encode(const st_label_request_t *r, uint8_t **out, size_t *len);
void st_label_request_free(st_label_request_t *r); /* NULL ok */

/* LabelNamesResponse and LabelValuesResponse (identical wire shape). */
int st_label_response_encode(const st_strlist_t *values, const st_strlist_t *warnings, uint8_t **out, size_t *len);
int st_label_response_decode(const uint8_t *p, size_t len, st_strlist_t *values, st_strlist_t *warnings);

/* ---- Info ---- */

typedef struct {
    st_labels_t labels; /* external labels of one TSDB */
    int64_t min_time, max_time;
} st_tsdb_info_t;

typedef struct {
    const char *component;   /* static: "store", "sidecar", "query" */
    st_labels_t *label_sets; /* owned; external label sets served */
    size_t nlabel_sets;
    int64_t min_time, max_time; /* over everything served; ms */
    bool supports_sharding;
    bool supports_without_replica_labels; /* Series honours st_series_request_t.without_replica_labels */
    st_tsdb_info_t *tsdb_infos; /* owned */
    size_t ntsdb_infos;
} st_store_info_t;

int st_store_info_encode(const st_store_info_t *i, uint8_t **out, size_t *len);
/* A decoded info's component is a malloc'd string (freed by _free). */
int st_store_info_decode(const uint8_t *p, size_t len, st_store_info_t *out);
void st_store_info_free(st_store_info_t *i); /* frees members, zeroes; NULL ok */

/* ---- chunks as the StoreAPI carries them ---- */

/* data[ST_AGGR_RAW] for raw data; data[ST_AGGR_COUNT..COUNTER] for
 * downsampled data. Absent members are NULL. Bytes borrowed. */
typedef struct {
    int64_t mint, maxt;
    const uint8_t *data[ST_AGGR_N];
    size_t len[ST_AGGR_N];
} st_store_chunk_t;

/* ---- server glue ---- */

typedef struct st_series_sink st_series_sink_t;

/* Send one series (labels sorted; chunks sorted by mint; n may be 0 with
 * skip_chunks). Returns 0, or 1 when the request's `limit` of series has
 * been reached (stop, not an error), or an error: ST_ELIMIT when a store
 * limit is exceeded (detail: "exceeded series limit: limit N violated"),
 * ST_ECANCELED / ST_ETIMEDOUT when the client is gone. Labels and chunk
 * bytes are copied into the outgoing frame before the call returns. */
int st_series_sink_send(st_series_sink_t *k, const st_labels_t *lbls, const st_store_chunk_t *chunks, size_t n);
/* A SeriesResponse.warning frame (partial results). */
int st_series_sink_warn(st_series_sink_t *k, const char *msg);
/* Account bytes fetched from the bucket for this request against
 * max_fetched_bytes: ST_ELIMIT once exceeded. */
int st_series_sink_fetched(st_series_sink_t *k, uint64_t bytes);
/* Record a queried block ID; sent once at the end as SeriesResponseHints. */
int st_series_sink_queried_block(st_series_sink_t *k, const char *ulid);
bool st_series_sink_cancelled(st_series_sink_t *k);

typedef struct {
    /* Stream matching series in ascending label order (st_labels_cmp). */
    int (*series)(void *ctx, const st_series_request_t *req, st_series_sink_t *sink);
    /* Sorted, unique. */
    int (*label_names)(void *ctx, const st_label_request_t *req, st_strlist_t *names, st_strlist_t *warnings);
    int (*label_values)(void *ctx, const st_label_request_t *req, st_strlist_t *values, st_strlist_t *warnings);
    /* Fill *out (the glue frees it). */
    int (*info)(void *ctx, st_store_info_t *out);
} st_storeapi_ops_t;

typedef struct {
    uint64_t max_series;        /* --store.limits.request-series; 0 = none */
    uint64_t max_samples;       /* --store.limits.request-samples; 0 = none */
    uint64_t max_fetched_bytes; /* --store.grpc.downloaded-bytes-limit; 0 = none */
    size_t max_frame_bytes;     /* batch frames up to this size; 0 = 1 MiB */
} st_storeapi_limits_t;

/* Register Series, LabelNames, LabelValues and Info on s. ops and ctx must
 * outlive the server; limits are copied (NULL = none). */
int st_storeapi_register(st_grpc_server_t *s, const st_storeapi_ops_t *ops, void *ctx,
                         const st_storeapi_limits_t *limits);

/* External labels, as Thanos stores apply them: a store whose external
 * labels ext contradict an equality/regex matcher on one of them serves
 * nothing (*matches = false); matchers on external labels that hold are
 * dropped, the rest go to *rest. rest->v is a malloc'd array of BORROWED
 * matcher pointers: release it with free(rest->v), never st_matchers_free. */
int st_storeapi_match_external(const st_labels_t *ext, const st_matchers_t *ms, bool *matches, st_matchers_t *rest);
/* series labels + ext -> *out (owned, sorted); an external label replaces
 * a series label of the same name, as Thanos's ExtendSortedLabels does. */
int st_storeapi_extend_labels(const st_labels_t *series, const st_labels_t *ext, st_labels_t *out);

/* ---- client ---- */

typedef struct st_series_stream st_series_stream_t;

int st_series_stream_open(st_series_stream_t **out, st_grpc_client_t *c, const st_series_request_t *req,
                          int64_t timeout_ms);
/* 1 = next series (*lbls, *chunks valid until the next call), 0 = end,
 * < 0 error (the call's status mapped as in grpc.h). Warning and hints
 * frames are collected, not returned. */
int st_series_stream_next(st_series_stream_t *s, const st_labels_t **lbls, const st_store_chunk_t **chunks,
                          size_t *n);
const st_strlist_t *st_series_stream_warnings(const st_series_stream_t *s);
const st_strlist_t *st_series_stream_queried_blocks(const st_series_stream_t *s);
void st_series_stream_free(st_series_stream_t *s); /* cancels if unfinished; NULL ok */

int st_storeapi_label_names(st_grpc_client_t *c, const st_label_request_t *req, int64_t timeout_ms,
                            st_strlist_t *names, st_strlist_t *warnings);
int st_storeapi_label_values(st_grpc_client_t *c, const st_label_request_t *req, int64_t timeout_ms,
                             st_strlist_t *values, st_strlist_t *warnings);
int st_storeapi_info(st_grpc_client_t *c, int64_t timeout_ms, st_store_info_t *out);

#endif
