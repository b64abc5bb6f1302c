/*
 * remoteread.h — Prometheus remote read, protocol 0.1.0 (format reference
 * §8): the server side of POST /api/v1/read, and the client side (encode a
 * request, decode both kinds of response) for the sidecar.
 *
 * Request: snappy block format of a prometheus.ReadRequest (protobuf).
 * Response, negotiated as Prometheus does (the first type in
 * accepted_response_types that is supported; none listed = SAMPLES):
 *   SAMPLES              200, Content-Type application/x-protobuf,
 *                        Content-Encoding snappy, body snappy(ReadResponse)
 *   STREAMED_XOR_CHUNKS  200, Content-Type application/x-streamed-protobuf;
 *                        proto=prometheus.ChunkedReadResponse, no encoding,
 *                        body = frames of uvarint size | be32 CRC32C(msg) |
 *                        msg (a ChunkedReadResponse holding one series and
 *                        XOR chunks of at most 120 samples), each frame
 *                        kept near max_bytes_in_frame
 *
 * Using it behind an HTTP server (the scraper's /api/v1/read):
 *
 *   static int query(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt,
 *                    st_series_set_t **out) { return st_db_select(ctx, ms, mint, maxt, out); }
 *   ...
 *   st_remoteread_response_t r;
 *   st_remoteread_handle(body, len, &opts, query, db, &r);   // always fills r
 *   reply with r.status, r.content_type, r.content_encoding (header only
 *   when non-NULL), r.body / r.len; then st_remoteread_response_free(&r).
 *
 * The whole response is built in memory; the SAMPLES sample limit and
 * max_response_bytes bound it.
 */
#ifndef STRATA_REMOTEREAD_H
#define STRATA_REMOTEREAD_H

#include <stddef.h>
#include <stdint.h>

#include "strata/block.h"
#include "strata/labels.h"
#include "strata/matcher.h"

#define ST_RR_CONTENT_TYPE_SAMPLES "application/x-protobuf"
#define ST_RR_CONTENT_TYPE_STREAMED "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
#define ST_RR_MAX_REQUEST ((size_t)32 << 20)          /* compressed request bytes, as Prometheus */
#define ST_RR_DEFAULT_MAX_DECODED ((size_t)64 << 20)  /* decompressed request/response */
#define ST_RR_DEFAULT_SAMPLE_LIMIT 50000000u          /* --storage.remote.read-sample-limit */
#define ST_RR_DEFAULT_FRAME_BYTES ((size_t)1 << 20)   /* --storage.remote.read-max-bytes-in-frame */
#define ST_RR_DEFAULT_MAX_RESPONSE ((size_t)1 << 30)
#define ST_RR_CLIENT_MAX_FRAME ((size_t)50 << 20)     /* what Prometheus accepts as a client */

typedef enum { ST_RR_SAMPLES = 0, ST_RR_STREAMED_XOR_CHUNKS = 1 } st_rr_response_type_t;

/* ---- server ---- */

/* Series matching ms with samples in [mint, maxt] (st_db_select's shape). */
typedef int (*st_remoteread_query_fn)(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt,
                                      st_series_set_t **out);

typedef struct {
    /* Added to every returned series (a series' own label wins); an EQ
     * matcher on one with the same value is turned into name="" before the
     * query, as Prometheus does. NULL = none. */
    const st_labels_t *external_labels;
    uint64_t sample_limit;     /* SAMPLES: more is 400; 0 = ST_RR_DEFAULT_SAMPLE_LIMIT */
    size_t max_bytes_in_frame; /* 0 = ST_RR_DEFAULT_FRAME_BYTES */
    size_t max_decoded;        /* decompressed request cap; 0 = ST_RR_DEFAULT_MAX_DECODED */
    size_t max_response_bytes; /* 0 = ST_RR_DEFAULT_MAX_RESPONSE */
} st_remoteread_opts_t;

typedef struct {
    int status;                   /* HTTP status: 200, 400 (bad request / limit), 500 */
    const char *content_type;     /* static string */
    const char *content_encoding; /* "snappy" or NULL */
    uint8_t *body;                /* malloc'd; for errors a text message */
    size_t len;
} st_remoteread_response_t;

/* Answer one POST /api/v1/read body. Always fills *out (free it with
 * st_remoteread_response_free); returns 0 or the error behind a non-200
 * status (ST_ECORRUPT / ST_EINVAL / ST_ELIMIT for 400s). opts may be NULL. */
int st_remoteread_handle(const uint8_t *body, size_t len, const st_remoteread_opts_t *opts, st_remoteread_query_fn fn,
                         void *ctx, st_remoteread_response_t *out);
void st_remoteread_response_free(st_remoteread_response_t *r); /* NULL ok */

/* ---- requests ---- */

typedef struct {
    int64_t start_ms, end_ms; /* closed range */
    st_matchers_t matchers;   /* owned when decoded; borrowed when encoding */
} st_remoteread_query_t;

typedef struct {
    st_remoteread_query_t *queries;
    size_t nqueries;
    int *accepted; /* response types as sent, unknown values included */
    size_t naccepted;
} st_remoteread_request_t;

/* Decode a snappy ReadRequest: at most ST_RR_MAX_REQUEST compressed and
 * max_decoded (0 = default) decompressed bytes (ST_ELIMIT); undecodable
 * snappy or protobuf is ST_ECORRUPT; a bad matcher type or regex ST_EINVAL. */
int st_remoteread_decode_request(const uint8_t *body, size_t len, size_t max_decoded, st_remoteread_request_t *out);
void st_remoteread_request_free(st_remoteread_request_t *r); /* NULL ok */
/* The snappy ReadRequest for queries (client side); *out malloc'd. */
int st_remoteread_encode_request(const st_remoteread_query_t *q, size_t n, const st_rr_response_type_t *accepted,
                                 size_t naccepted, uint8_t **out, size_t *len);

/* ---- responses (client side) ---- */

typedef struct {
    st_labels_t lbls;
    int64_t *t;
    double *v;
    size_t n;
} st_remoteread_series_t;

typedef struct {
    st_remoteread_series_t *series;
    size_t n;
} st_remoteread_result_t;

/* Decode a SAMPLES body (snappy ReadResponse): one result per query. */
int st_remoteread_decode_samples(const uint8_t *body, size_t len, size_t max_decoded, st_remoteread_result_t **out,
                                 size_t *n);
void st_remoteread_results_free(st_remoteread_result_t *r, size_t n); /* NULL ok */

typedef struct {
    int64_t mint, maxt; /* closed */
    int type;           /* 1 = XOR */
    const uint8_t *data;
    size_t len;
} st_remoteread_chunk_t;

typedef struct {
    st_labels_t lbls;
    st_remoteread_chunk_t *chunks;
    size_t nchunks;
} st_remoteread_chunked_series_t;

/* One frame of a STREAMED_XOR_CHUNKS body. Chunk data is borrowed from the
 * frame and lives until st_remoteread_frame_free. */
typedef struct {
    int64_t query_index;
    st_remoteread_chunked_series_t *series;
    size_t nseries;
    void *msg; /* the decoded protobuf message */
} st_remoteread_frame_t;

/* Decode the frame at the start of p[0..len): 1 = *out filled and
 * *consumed = its size, 0 = p holds only part of a frame (read more),
 * < 0 = error: a frame larger than max_frame (0 = ST_RR_CLIENT_MAX_FRAME)
 * is ST_ELIMIT, a CRC mismatch or a bad message ST_ECORRUPT. */
int st_remoteread_frame_next(const uint8_t *p, size_t len, size_t max_frame, st_remoteread_frame_t *out,
                             size_t *consumed);
void st_remoteread_frame_free(st_remoteread_frame_t *f); /* NULL ok */

#endif
