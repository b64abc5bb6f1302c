/* StoreAPI client: Series as a stream of decoded SeriesResponse frames
 * (layout at the top of sink.c; single series, batches, warnings and
 * hints, in any order), the label calls and Info as unary calls. Frames
 * are bounded by the gRPC client's receive limit before protobuf-c sees
 * them; chunk bytes handed out point into the current frame. */
#include <stdlib.h>
#include <string.h>

#include "storeapi_int.h"
#include "strata/err.h"
#include "thanos/hints.pb-c.h"
#include "thanos/rpc.pb-c.h"

struct st_series_stream {
    st_grpc_stream_t *st;
    Thanos__SeriesResponse *msg; /* current frame: owns the chunk bytes handed out */
    size_t idx;                  /* next series of msg's batch */
    st_labels_t lbls;
    st_store_chunk_t *chunks;
    size_t chunks_cap;
    st_strlist_t warnings, blocks;
    int state; /* 1 running, 0 ended OK, < 0 failed */
};

static const uint8_t empty_bytes[1];

int st_series_stream_open(st_series_stream_t **out, st_grpc_client_t *c, const st_series_request_t *req,
                          int64_t timeout_ms) {
    *out = NULL;
    st_series_stream_t *s = calloc(1, sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "Series: allocating a stream");
    uint8_t *buf;
    size_t len;
    int rc = st_series_request_encode(req, &buf, &len);
    if (!rc) rc = st_grpc_stream_open(&s->st, c, ST_STOREAPI_SERIES, buf, len, timeout_ms);
    free(buf);
    if (rc) {
        free(s);
        return rc;
    }
    s->state = 1;
    *out = s;
    return ST_OK;
}

static int fail(st_series_stream_t *s, int rc) {
    s->state = rc;
    st_grpc_stream_cancel(s->st);
    return rc;
}

static int convert_series(st_series_stream_t *s, const Thanos__Series *ser) {
    st_labels_free(&s->lbls);
    int rc = st__sa_labels_from_pb(ser->labels, ser->n_labels, &s->lbls, "Series: response: labels");
    if (rc) return rc;
    if (ser->n_chunks > s->chunks_cap) {
        st_store_chunk_t *c = realloc(s->chunks, ser->n_chunks * sizeof *c);
        if (!c) return st_errorf(ST_ENOMEM, "Series: response: allocating %zu chunks", ser->n_chunks);
        s->chunks = c;
        s->chunks_cap = ser->n_chunks;
    }
    for (size_t i = 0; i < ser->n_chunks; i++) {
        const Thanos__AggrChunk *a = ser->chunks[i];
        const Thanos__Chunk *pc[ST_AGGR_N] = {a->raw, a->count, a->sum, a->min, a->max, a->counter};
        st_store_chunk_t *c = &s->chunks[i];
        memset(c, 0, sizeof *c);
        c->mint = a->min_time;
        c->maxt = a->max_time;
        for (int k = 0; k < ST_AGGR_N; k++) {
            if (!pc[k]) continue;
            if (pc[k]->type != THANOS__CHUNK__ENCODING__XOR)
                return st_errorf(ST_EUNSUPPORTED, "Series: response: chunk %zu: encoding %d is not XOR", i,
                                 (int)pc[k]->type);
            c->data[k] = pc[k]->data.data ? pc[k]->data.data : empty_bytes;
            c->len[k] = pc[k]->data.len;
        }
    }
    return ST_OK;
}

static int collect_hints(st_series_stream_t *s, const Google__Protobuf__Any *a) {
    if (!st__sa_any_is(a, ST__SA_SERIES_RESPONSE_HINTS)) return ST_OK;
    Hintspb__SeriesResponseHints *h = hintspb__series_response_hints__unpack(NULL, a->value.len, a->value.data);
    if (!h) return st_errorf(ST_ECORRUPT, "Series: response: SeriesResponseHints does not decode");
    int rc = ST_OK;
    for (size_t i = 0; i < h->n_queried_blocks && !rc; i++)
        rc = st_strlist_push(&s->blocks, h->queried_blocks[i]->id ? h->queried_blocks[i]->id : "");
    hintspb__series_response_hints__free_unpacked(h, NULL);
    return rc;
}

int st_series_stream_next(st_series_stream_t *s, const st_labels_t **lbls, const st_store_chunk_t **chunks,
                          size_t *n) {
    if (s->state <= 0) return s->state;
    for (;;) {
        const Thanos__Series *ser = NULL;
        if (s->msg && s->msg->result_case == THANOS__SERIES_RESPONSE__RESULT_BATCH && s->msg->batch &&
            s->idx < s->msg->batch->n_series) {
            ser = s->msg->batch->series[s->idx++];
        } else {
            if (s->msg) thanos__series_response__free_unpacked(s->msg, NULL);
            s->msg = NULL;
            uint8_t *buf;
            size_t len;
            int rc = st_grpc_stream_recv(s->st, &buf, &len);
            if (rc <= 0) return s->state = rc;
            s->msg = thanos__series_response__unpack(NULL, len, buf ? buf : empty_bytes);
            free(buf);
            if (!s->msg)
                return fail(s, st_errorf(ST_ECORRUPT, "Series: response frame of %zu bytes does not decode", len));
            s->idx = 0;
            switch (s->msg->result_case) {
            case THANOS__SERIES_RESPONSE__RESULT_SERIES: ser = s->msg->series; break;
            case THANOS__SERIES_RESPONSE__RESULT_WARNING:
                if ((rc = st_strlist_push(&s->warnings, s->msg->warning))) return fail(s, rc);
                break;
            case THANOS__SERIES_RESPONSE__RESULT_HINTS:
                if ((rc = collect_hints(s, s->msg->hints))) return fail(s, rc);
                break;
            default: break; /* a batch is read above; unknown results are skipped, as in Go */
            }
        }
        if (!ser) continue;
        int rc = convert_series(s, ser);
        if (rc) return fail(s, rc);
        *lbls = &s->lbls;
        *chunks = s->chunks;
        *n = ser->n_chunks;
        return 1;
    }
}

const st_strlist_t *st_series_stream_warnings(const st_series_stream_t *s) { return &s->warnings; }
const st_strlist_t *st_series_stream_queried_blocks(const st_series_stream_t *s) { return &s->blocks; }

void st_series_stream_free(st_series_stream_t *s) {
    if (!s) return;
    st_grpc_stream_free(s->st);
    if (s->msg) thanos__series_response__free_unpacked(s->msg, NULL);
    st_labels_free(&s->lbls);
    free(s->chunks);
    st_strlist_free(&s->warnings);
    st_strlist_free(&s->blocks);
    free(s);
}

typedef int (*label_encode_t)(const st_label_request_t *, uint8_t **, size_t *);

static int label_call(st_grpc_client_t *c, const char *method, label_encode_t encode, const st_label_request_t *req,
                      int64_t timeout_ms, st_strlist_t *values, st_strlist_t *warnings) {
    memset(values, 0, sizeof *values);
    memset(warnings, 0, sizeof *warnings);
    uint8_t *buf, *resp = NULL;
    size_t len, resp_len = 0;
    int rc = encode(req, &buf, &len);
    if (rc) return rc;
    rc = st_grpc_client_unary(c, method, buf, len, timeout_ms, &resp, &resp_len, NULL);
    free(buf);
    if (!rc) rc = st_label_response_decode(resp ? resp : empty_bytes, resp_len, values, warnings);
    free(resp);
    return rc;
}

int st_storeapi_label_names(st_grpc_client_t *c, const st_label_request_t *req, int64_t timeout_ms,
                            st_strlist_t *names, st_strlist_t *warnings) {
    return label_call(c, ST_STOREAPI_LABEL_NAMES, st_label_names_request_encode, req, timeout_ms, names, warnings);
}

int st_storeapi_label_values(st_grpc_client_t *c, const st_label_request_t *req, int64_t timeout_ms,
                             st_strlist_t *values, st_strlist_t *warnings) {
    return label_call(c, ST_STOREAPI_LABEL_VALUES, st_label_values_request_encode, req, timeout_ms, values, warnings);
}

int st_storeapi_info(st_grpc_client_t *c, int64_t timeout_ms, st_store_info_t *out) {
    memset(out, 0, sizeof *out);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    /* InfoRequest has no fields: its encoding is empty */
    int rc = st_grpc_client_unary(c, ST_STOREAPI_INFO, empty_bytes, 0, timeout_ms, &resp, &resp_len, NULL);
    if (!rc) rc = st_store_info_decode(resp ? resp : empty_bytes, resp_len, out);
    free(resp);
    return rc;
}
