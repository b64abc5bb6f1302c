/*
 * Remote read client side: decoding both response types (layouts at the
 * top of handler.c). Everything is bounded by the caller's caps before
 * allocation: the snappy length header for SAMPLES, the frame's uvarint
 * size for STREAMED_XOR_CHUNKS, whose CRC32C is checked before protobuf-c
 * sees the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote_int.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/remoteread.h"

void st_remoteread_results_free(st_remoteread_result_t *r, size_t n) {
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < r[i].n; k++) {
            st_labels_free(&r[i].series[k].lbls);
            free(r[i].series[k].t);
            free(r[i].series[k].v);
        }
        free(r[i].series);
    }
    free(r);
}

static int convert_series(const Prometheus__TimeSeries *ts, size_t qi, size_t si, st_remoteread_series_t *out) {
    char what[64];
    snprintf(what, sizeof what, "result %zu, series %zu", qi, si);
    int rc = st__rr_labels_from_pb(ts->labels, ts->n_labels, &out->lbls, what);
    if (rc || ts->n_samples == 0) return rc;
    out->t = malloc(ts->n_samples * sizeof *out->t);
    out->v = malloc(ts->n_samples * sizeof *out->v);
    if (!out->t || !out->v) return st_errorf(ST_ENOMEM, "remote read: %s: allocating samples", what);
    for (size_t i = 0; i < ts->n_samples; i++) {
        out->t[i] = ts->samples[i]->timestamp;
        out->v[i] = ts->samples[i]->value;
    }
    out->n = ts->n_samples;
    return ST_OK;
}

int st_remoteread_decode_samples(const uint8_t *body, size_t len, size_t max_decoded, st_remoteread_result_t **out,
                                 size_t *n) {
    *out = NULL;
    *n = 0;
    uint8_t *raw;
    size_t rawlen;
    int rc = st__rr_unsnappy(body, len, max_decoded ? max_decoded : ST_RR_DEFAULT_MAX_DECODED, &raw, &rawlen,
                             "ReadResponse");
    if (rc) return rc;
    Prometheus__ReadResponse *resp = prometheus__read_response__unpack(NULL, rawlen, raw);
    free(raw);
    if (!resp) return st_errorf(ST_ECORRUPT, "remote read: ReadResponse: protobuf does not decode");
    st_remoteread_result_t *res = calloc(resp->n_results ? resp->n_results : 1, sizeof *res);
    size_t nres = 0;
    if (!res) {
        rc = st_errorf(ST_ENOMEM, "remote read: allocating %zu results", resp->n_results);
        goto out;
    }
    for (; nres < resp->n_results; nres++) {
        const Prometheus__QueryResult *qr = resp->results[nres];
        if (qr->n_timeseries && !(res[nres].series = calloc(qr->n_timeseries, sizeof *res[nres].series))) {
            rc = st_errorf(ST_ENOMEM, "remote read: allocating %zu series", qr->n_timeseries);
            nres++;
            goto out;
        }
        for (size_t k = 0; k < qr->n_timeseries; k++) {
            res[nres].n++;
            if ((rc = convert_series(qr->timeseries[k], nres, k, &res[nres].series[k]))) {
                nres++;
                goto out;
            }
        }
    }
out:
    prometheus__read_response__free_unpacked(resp, NULL);
    if (rc) {
        st_remoteread_results_free(res, nres);
        return rc;
    }
    *out = res;
    *n = nres;
    return ST_OK;
}

void st_remoteread_frame_free(st_remoteread_frame_t *f) {
    if (!f) return;
    for (size_t i = 0; i < f->nseries; i++) {
        st_labels_free(&f->series[i].lbls);
        free(f->series[i].chunks);
    }
    free(f->series);
    if (f->msg) prometheus__chunked_read_response__free_unpacked(f->msg, NULL);
    memset(f, 0, sizeof *f);
}

int st_remoteread_frame_next(const uint8_t *p, size_t len, size_t max_frame, st_remoteread_frame_t *out,
                             size_t *consumed) {
    memset(out, 0, sizeof *out);
    *consumed = 0;
    if (!max_frame) max_frame = ST_RR_CLIENT_MAX_FRAME;
    uint64_t size;
    size_t hdr = st_uvarint_get(p, len, &size);
    if (hdr == 0) {
        /* a varint ends at the first byte below 0x80 within 10 bytes */
        for (size_t i = 0; i < len; i++)
            if (i >= 9 || !(p[i] & 0x80)) return st_errorf(ST_ECORRUPT, "remote read: frame: bad size varint");
        return 0;
    }
    if (size > max_frame)
        return st_errorf(ST_ELIMIT, "remote read: frame of %llu bytes exceeds the limit of %zu",
                         (unsigned long long)size, max_frame);
    if (len - hdr < 4 + size) return 0;
    uint32_t stored = st_be32(p + hdr), crc = st_crc32c(0, p + hdr + 4, (size_t)size);
    if (crc != stored)
        return st_errorf(ST_ECORRUPT, "remote read: frame: CRC mismatch (stored 0x%08x, computed 0x%08x)", stored, crc);
    Prometheus__ChunkedReadResponse *msg = prometheus__chunked_read_response__unpack(NULL, (size_t)size, p + hdr + 4);
    if (!msg) return st_errorf(ST_ECORRUPT, "remote read: frame: ChunkedReadResponse does not decode");
    out->msg = msg;
    out->query_index = msg->query_index;
    int rc = ST_OK;
    if (msg->n_chunked_series && !(out->series = calloc(msg->n_chunked_series, sizeof *out->series))) {
        rc = st_errorf(ST_ENOMEM, "remote read: frame: allocating series");
        goto out;
    }
    for (size_t i = 0; i < msg->n_chunked_series; i++) {
        const Prometheus__ChunkedSeries *cs = msg->chunked_series[i];
        st_remoteread_chunked_series_t *s = &out->series[i];
        out->nseries++;
        char what[48];
        snprintf(what, sizeof what, "frame series %zu", i);
        if ((rc = st__rr_labels_from_pb(cs->labels, cs->n_labels, &s->lbls, what))) goto out;
        if (cs->n_chunks && !(s->chunks = malloc(cs->n_chunks * sizeof *s->chunks))) {
            rc = st_errorf(ST_ENOMEM, "remote read: frame: allocating chunks");
            goto out;
        }
        for (size_t k = 0; k < cs->n_chunks; k++) {
            const Prometheus__Chunk *c = cs->chunks[k];
            s->chunks[k] = (st_remoteread_chunk_t){c->min_time_ms, c->max_time_ms, (int)c->type, c->data.data,
                                                   c->data.len};
        }
        s->nchunks = cs->n_chunks;
    }
out:
    if (rc) {
        st_remoteread_frame_free(out);
        return rc;
    }
    *consumed = hdr + 4 + (size_t)size;
    return 1;
}
