/*
 * The Series sink: the frames of /thanos.Store/Series, encoded by hand on
 * the hot path (no protobuf-c structs per label or chunk). Wire layout
 * (thanos-reference.md §2.3; tags are (field << 3) | wire type, LEN =
 * uvarint length, zero scalars omitted as proto3 does):
 *
 *   unbatched frame  0x0a LEN Series                 SeriesResponse.series
 *   batched frame    0x22 LEN SeriesBatch            SeriesResponse.batch
 *     SeriesBatch    (0x0a LEN Series)*
 *   warning frame    0x12 LEN bytes                  SeriesResponse.warning
 *   hints frame      0x1a LEN Any{1 type_url, 2 SeriesResponseHints}
 *                    (packed with protobuf-c; sent once, last)
 *   Series           (0x0a LEN Label)* (0x12 LEN AggrChunk)*
 *   Label            0x0a LEN name, 0x12 LEN value
 *   AggrChunk        0x08 varint min_time, 0x10 varint max_time,
 *                    then per present aggregate a (RAW 0 .. COUNTER 5):
 *                    tag ((3 + a) << 3 | 2) LEN Chunk
 *   Chunk            [0x08 type: XOR = 0, omitted], 0x12 LEN data,
 *                    0x18 varint hash (XXH64 of data, seed 0, as Thanos's
 *                    cespare/xxhash)
 *
 * A frame is built after SA_HDR reserved bytes so its tag and length can
 * be written in front of the body once the body is complete, without a
 * copy. Batches close at response_batch_size series or when the next
 * series would make the frame exceed max_frame_bytes (a single larger
 * series still goes out, alone).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "storeapi_int.h"
#include "strata/buf.h"
#include "strata/chunkenc.h"
#include "strata/err.h"
#include "thanos/hints.pb-c.h"
#include "thanos/rpc.pb-c.h"

#define SA_HDR 11 /* tag byte + the longest uvarint */
#define SA_DEFAULT_MAX_FRAME ((size_t)1 << 20)

struct st_series_sink {
    st_grpc_call_t *call;
    const st_series_request_t *req;
    const st_storeapi_limits_t *limits;
    size_t max_frame;
    bool batched;
    uint64_t nseries, nsamples, fetched;
    st_encbuf_t frame; /* SA_HDR reserved bytes, then the pending body */
    size_t nbatch;     /* series in the pending batch */
    uint64_t *hashes;  /* scratch: ST_AGGR_N per chunk of the series being sent */
    size_t hashes_cap;
    st_strlist_t blocks;
    int dead; /* sticky transport error: the client is gone */
};

static size_t field_len(size_t n) { return 1 + st_uvarint_len(n) + n; }

static void put_tag_len(st_encbuf_t *b, uint8_t tag, size_t len) {
    st_put_u8(b, tag);
    st_put_uvarint(b, len);
}

static size_t chunk_msg_len(size_t len, uint64_t hash) {
    return (len ? field_len(len) : 0) + (hash ? 1 + st_uvarint_len(hash) : 0);
}

static size_t aggr_msg_len(const st_store_chunk_t *c, const uint64_t *h) {
    size_t n = (c->mint ? 1 + st_uvarint_len((uint64_t)c->mint) : 0) +
               (c->maxt ? 1 + st_uvarint_len((uint64_t)c->maxt) : 0);
    for (int a = 0; a < ST_AGGR_N; a++)
        if (c->data[a]) n += field_len(chunk_msg_len(c->len[a], h[a]));
    return n;
}

static size_t label_msg_len(const st_label_t *l) { return field_len(l->name_len) + field_len(l->value_len); }

static void put_series(st_encbuf_t *b, const st_labels_t *lbls, const st_store_chunk_t *chunks, size_t n,
                       const uint64_t *hashes) {
    for (size_t i = 0; i < lbls->n; i++) {
        const st_label_t *l = &lbls->v[i];
        put_tag_len(b, 0x0a, label_msg_len(l));
        put_tag_len(b, 0x0a, l->name_len);
        st_put_bytes(b, l->name, l->name_len);
        put_tag_len(b, 0x12, l->value_len);
        st_put_bytes(b, l->value, l->value_len);
    }
    for (size_t i = 0; i < n; i++) {
        const st_store_chunk_t *c = &chunks[i];
        const uint64_t *h = hashes + i * ST_AGGR_N;
        put_tag_len(b, 0x12, aggr_msg_len(c, h));
        if (c->mint) {
            st_put_u8(b, 0x08);
            st_put_uvarint(b, (uint64_t)c->mint);
        }
        if (c->maxt) {
            st_put_u8(b, 0x10);
            st_put_uvarint(b, (uint64_t)c->maxt);
        }
        for (int a = 0; a < ST_AGGR_N; a++) {
            if (!c->data[a]) continue;
            put_tag_len(b, (uint8_t)(((3 + a) << 3) | 2), chunk_msg_len(c->len[a], h[a]));
            if (c->len[a]) {
                put_tag_len(b, 0x12, c->len[a]);
                st_put_bytes(b, c->data[a], c->len[a]);
            }
            if (h[a]) {
                st_put_u8(b, 0x18);
                st_put_uvarint(b, h[a]);
            }
        }
    }
}

/* Samples a chunk holds, from the XOR header: the raw chunk's, else (a
 * downsampled chunk) the COUNT aggregate's, else the first one present. */
static uint64_t chunk_samples(const st_store_chunk_t *c) {
    int a = c->data[ST_AGGR_RAW] ? ST_AGGR_RAW : ST_AGGR_COUNT;
    if (!c->data[a])
        for (a = 0; a < ST_AGGR_N - 1 && !c->data[a]; a++) {}
    int n = c->data[a] ? st_xor_num_samples(c->data[a], c->len[a]) : 0;
    return n > 0 ? (uint64_t)n : 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The client went away or its deadline passed: remember which, once. */
static int client_gone(st_series_sink_t *k) {
    if (!k->dead) {
        k->dead = now_ms() >= st_grpc_call_deadline_ms(k->call)
                      ? st_errorf(ST_ETIMEDOUT, "Series: the client's deadline passed")
                      : st_errorf(ST_ECANCELED, "Series: the client cancelled the call or went away");
    }
    return k->dead;
}

static int send_frame(st_series_sink_t *k, const uint8_t *p, size_t len) {
    int rc = st_grpc_call_send(k->call, p, len);
    if (rc == ST_ECANCELED || rc == ST_ETIMEDOUT) k->dead = rc;
    return rc;
}

/* Send the pending series (one Series or one SeriesBatch), if any. */
static int flush(st_series_sink_t *k) {
    if (k->dead) return k->dead;
    if (k->frame.len == SA_HDR) return ST_OK;
    size_t body = k->frame.len - SA_HDR;
    size_t h = 1 + st_uvarint_len(body);
    uint8_t *start = k->frame.p + SA_HDR - h;
    start[0] = k->batched ? 0x22 : 0x0a;
    st_uvarint_put(start + 1, body);
    int rc = send_frame(k, start, h + body);
    k->frame.len = SA_HDR;
    k->nbatch = 0;
    return rc;
}

int st_series_sink_send(st_series_sink_t *k, const st_labels_t *lbls, const st_store_chunk_t *chunks, size_t n) {
    if (k->dead) return k->dead;
    if (k->req->limit > 0 && k->nseries >= (uint64_t)k->req->limit) return 1;
    if (st_grpc_call_cancelled(k->call)) return client_gone(k);
    uint64_t max = k->limits->max_series;
    if (max && k->nseries + 1 > max)
        return st_errorf(ST_ELIMIT, "exceeded series limit: limit %llu violated (got %llu)", (unsigned long long)max,
                         (unsigned long long)(k->nseries + 1));
    uint64_t samples = 0;
    for (size_t i = 0; i < n; i++) samples += chunk_samples(&chunks[i]);
    max = k->limits->max_samples;
    if (max && k->nsamples + samples > max)
        return st_errorf(ST_ELIMIT, "exceeded samples limit: limit %llu violated (got %llu)", (unsigned long long)max,
                         (unsigned long long)(k->nsamples + samples));
    if (n > k->hashes_cap) {
        uint64_t *h = realloc(k->hashes, n * ST_AGGR_N * sizeof *h);
        if (!h) return st_errorf(ST_ENOMEM, "Series: allocating hashes of %zu chunks", n);
        k->hashes = h;
        k->hashes_cap = n;
    }
    size_t size = 0;
    for (size_t i = 0; i < lbls->n; i++) size += field_len(label_msg_len(&lbls->v[i]));
    for (size_t i = 0; i < n; i++) {
        uint64_t *h = k->hashes + i * ST_AGGR_N;
        for (int a = 0; a < ST_AGGR_N; a++)
            h[a] = chunks[i].data[a] ? XXH64(chunks[i].data[a], chunks[i].len[a], 0) : 0;
        size += field_len(aggr_msg_len(&chunks[i], h));
    }
    int rc;
    if (k->batched) {
        if (k->nbatch && field_len(k->frame.len - SA_HDR + field_len(size)) > k->max_frame && (rc = flush(k)))
            return rc;
        put_tag_len(&k->frame, 0x0a, size);
    }
    put_series(&k->frame, lbls, chunks, n, k->hashes);
    if (k->frame.err) {
        rc = st_errorf(k->frame.err, "Series: encoding a series of %zu bytes", size);
        st_encbuf_reset(&k->frame); /* the call fails: the pending batch is dropped */
        k->frame.len = SA_HDR;
        k->nbatch = 0;
        return rc;
    }
    k->nseries++;
    k->nsamples += samples;
    k->nbatch++;
    if ((!k->batched || k->nbatch >= (uint64_t)k->req->response_batch_size ||
         k->frame.len - SA_HDR >= k->max_frame) &&
        (rc = flush(k)))
        return rc;
    return k->req->limit > 0 && k->nseries >= (uint64_t)k->req->limit ? 1 : ST_OK;
}

int st_series_sink_warn(st_series_sink_t *k, const char *msg) {
    int rc = flush(k); /* keep warnings in stream order */
    if (rc) return rc;
    size_t len = strlen(msg);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    put_tag_len(&b, 0x12, len);
    st_put_bytes(&b, msg, len);
    rc = b.err ? st_errorf(b.err, "Series: encoding a warning of %zu bytes", len) : send_frame(k, b.p, b.len);
    st_encbuf_free(&b);
    return rc;
}

int st_series_sink_fetched(st_series_sink_t *k, uint64_t bytes) {
    k->fetched += bytes;
    uint64_t max = k->limits->max_fetched_bytes;
    if (max && k->fetched > max)
        return st_errorf(ST_ELIMIT, "exceeded bytes limit: limit %llu violated (got %llu)", (unsigned long long)max,
                         (unsigned long long)k->fetched);
    return ST_OK;
}

int st_series_sink_queried_block(st_series_sink_t *k, const char *ulid) { return st_strlist_push(&k->blocks, ulid); }

bool st_series_sink_cancelled(st_series_sink_t *k) { return k->dead || st_grpc_call_cancelled(k->call); }

static int send_hints(st_series_sink_t *k) {
    Hintspb__Block *b = calloc(k->blocks.n, sizeof *b);
    Hintspb__Block **bp = calloc(k->blocks.n, sizeof *bp);
    uint8_t *hbuf = NULL, *frame = NULL;
    int rc;
    if (!b || !bp) {
        rc = st_errorf(ST_ENOMEM, "Series: hints of %zu blocks", k->blocks.n);
        goto out;
    }
    for (size_t i = 0; i < k->blocks.n; i++) {
        b[i] = (Hintspb__Block)HINTSPB__BLOCK__INIT;
        b[i].id = k->blocks.v[i];
        bp[i] = &b[i];
    }
    Hintspb__SeriesResponseHints h = HINTSPB__SERIES_RESPONSE_HINTS__INIT;
    h.queried_blocks = bp;
    h.n_queried_blocks = k->blocks.n;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = ST__SA_TYPE_URL_PREFIX ST__SA_SERIES_RESPONSE_HINTS;
    if ((rc = st__sa_pack(&h.base, &hbuf, &any.value.len, "Series: hints"))) goto out;
    any.value.data = hbuf;
    Thanos__SeriesResponse m = THANOS__SERIES_RESPONSE__INIT;
    m.result_case = THANOS__SERIES_RESPONSE__RESULT_HINTS;
    m.hints = &any;
    size_t len;
    if ((rc = st__sa_pack(&m.base, &frame, &len, "Series: hints"))) goto out;
    rc = send_frame(k, frame, len);
out:
    free(b);
    free(bp);
    free(hbuf);
    free(frame);
    return rc;
}

int st__sa_serve_series(const st__sa_glue_t *g, st_grpc_call_t *call, const uint8_t *req, size_t len) {
    if (!g->ops->series) return st_errorf(ST_EUNSUPPORTED, "Series: not served by this store");
    st_series_request_t r;
    int rc = st_series_request_decode(req, len, &r);
    if (rc) return rc;
    st_series_sink_t k = {
        .call = call,
        .req = &r,
        .limits = &g->limits,
        .max_frame = g->limits.max_frame_bytes ? g->limits.max_frame_bytes : SA_DEFAULT_MAX_FRAME,
        .batched = r.response_batch_size > 1,
    };
    st_encbuf_init(&k.frame, 0);
    if (!st_encbuf_reserve(&k.frame, SA_HDR)) {
        rc = st_errorf(ST_ENOMEM, "Series: allocating a frame");
        goto out;
    }
    k.frame.len = SA_HDR;
    rc = g->ops->series(g->ctx, &r, &k);
    if (rc == 1) rc = ST_OK; /* the request's limit stopped the store */
    if (!rc) rc = flush(&k);
    if (!rc && k.blocks.n) rc = send_hints(&k);
out:
    st_encbuf_free(&k.frame);
    free(k.hashes);
    st_strlist_free(&k.blocks);
    st_series_request_free(&r);
    return rc;
}
