/*
 * Remote read requests (format reference §8.3):
 *
 *   body = snappy block format of prometheus.ReadRequest
 *   ReadRequest  1: repeated Query, 2: repeated ResponseType (packed or not)
 *   Query        1: int64 start_timestamp_ms, 2: int64 end_timestamp_ms,
 *                3: repeated LabelMatcher, 4: ReadHints (ignored)
 *   LabelMatcher 1: Type (EQ 0, NEQ 1, RE 2, NRE 3), 2: name, 3: value
 *
 * Decoding is bounded before anything is allocated: the compressed size
 * (32 MiB, as Prometheus), the decompressed size claimed by the snappy
 * header (a cap, and at most snappy's maximum expansion of 22x the input);
 * protobuf-c then unpacks within those bytes. Helpers shared with the
 * response codecs live here too.
 */
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "remote_int.h"
#include "strata/err.h"
#include "strata/remoteread.h"

#define SNAPPY_MAX_EXPANSION 22

int st__rr_unsnappy(const uint8_t *p, size_t len, size_t max, uint8_t **out, size_t *outlen, const char *what) {
    *out = NULL;
    *outlen = 0;
    size_t ulen;
    if (snappy_uncompressed_length((const char *)p, len, &ulen) != SNAPPY_OK)
        return st_errorf(ST_ECORRUPT, "remote read: %s: not snappy block data", what);
    if (ulen > max)
        return st_errorf(ST_ELIMIT, "remote read: %s: decodes to %zu bytes, more than the limit of %zu", what, ulen,
                         max);
    if (ulen > len * SNAPPY_MAX_EXPANSION)
        return st_errorf(ST_ECORRUPT, "remote read: %s: snappy length header %zu is implausible for %zu bytes", what,
                         ulen, len);
    uint8_t *buf = malloc(ulen ? ulen : 1);
    if (!buf) return st_errorf(ST_ENOMEM, "remote read: %s: allocating %zu bytes", what, ulen);
    size_t got = ulen;
    if (snappy_uncompress((const char *)p, len, (char *)buf, &got) != SNAPPY_OK || got != ulen) {
        free(buf);
        return st_errorf(ST_ECORRUPT, "remote read: %s: snappy data does not decode", what);
    }
    *out = buf;
    *outlen = got;
    return ST_OK;
}

int st__rr_snappy(const uint8_t *p, size_t len, uint8_t **out, size_t *outlen) {
    size_t cap = snappy_max_compressed_length(len);
    uint8_t *buf = malloc(cap);
    if (!buf) return st_errorf(ST_ENOMEM, "remote read: allocating %zu bytes for snappy", cap);
    if (snappy_compress((const char *)p, len, (char *)buf, &cap) != SNAPPY_OK) {
        free(buf);
        return st_errorf(ST_EIO, "remote read: snappy compression failed");
    }
    *out = buf;
    *outlen = cap;
    return ST_OK;
}

int st__rr_labels_from_pb(Prometheus__Label *const *v, size_t n, st_labels_t *out, const char *what) {
    st_label_t *pairs = malloc((n ? n : 1) * sizeof *pairs);
    if (!pairs) return st_errorf(ST_ENOMEM, "remote read: %s: allocating %zu labels", what, n);
    for (size_t i = 0; i < n; i++) pairs[i] = st_label(v[i]->name, v[i]->value);
    int rc = st_labels_from_pairs(out, pairs, n);
    free(pairs);
    if (rc == ST_EINVAL) rc = st_errwrap(ST_ECORRUPT, "remote read: %s", what);
    return rc;
}

static void pbuf_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data) {
    st_put_bytes(((st__rr_pbuf_t *)buf)->b, data, len);
}

void st__rr_pbuf_init(st__rr_pbuf_t *pb, st_encbuf_t *b) {
    pb->base.append = pbuf_append;
    pb->b = b;
}

void st_remoteread_request_free(st_remoteread_request_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nqueries; i++) st_matchers_free(&r->queries[i].matchers);
    free(r->queries);
    free(r->accepted);
    memset(r, 0, sizeof *r);
}

static int convert_query(const Prometheus__Query *pq, size_t qi, st_remoteread_query_t *q) {
    q->start_ms = pq->start_timestamp_ms;
    q->end_ms = pq->end_timestamp_ms;
    if (pq->n_matchers == 0) return ST_OK;
    if (!(q->matchers.v = calloc(pq->n_matchers, sizeof *q->matchers.v)))
        return st_errorf(ST_ENOMEM, "remote read: query %zu: allocating matchers", qi);
    for (size_t k = 0; k < pq->n_matchers; k++) {
        const Prometheus__LabelMatcher *m = pq->matchers[k];
        if ((unsigned)m->type > ST_MATCH_NRE)
            return st_errorf(ST_EINVAL, "remote read: query %zu: matcher %zu has unknown type %d", qi, k, (int)m->type);
        int rc = st_matcher_new(&q->matchers.v[k], (st_match_type_t)m->type, m->name, m->value);
        if (rc) return st_errwrap(rc, "remote read: query %zu: matcher %zu", qi, k);
        q->matchers.n++;
    }
    return ST_OK;
}

int st_remoteread_decode_request(const uint8_t *body, size_t len, size_t max_decoded, st_remoteread_request_t *out) {
    memset(out, 0, sizeof *out);
    if (len > ST_RR_MAX_REQUEST)
        return st_errorf(ST_ELIMIT, "remote read: request of %zu bytes exceeds the limit of %zu", len,
                         ST_RR_MAX_REQUEST);
    uint8_t *raw;
    size_t rawlen;
    int rc = st__rr_unsnappy(body, len, max_decoded ? max_decoded : ST_RR_DEFAULT_MAX_DECODED, &raw, &rawlen,
                             "ReadRequest");
    if (rc) return rc;
    Prometheus__ReadRequest *req = prometheus__read_request__unpack(NULL, rawlen, raw);
    free(raw);
    if (!req) return st_errorf(ST_ECORRUPT, "remote read: ReadRequest: protobuf does not decode");
    if (req->n_queries && !(out->queries = calloc(req->n_queries, sizeof *out->queries))) {
        rc = st_errorf(ST_ENOMEM, "remote read: allocating %zu queries", req->n_queries);
        goto out;
    }
    for (size_t i = 0; i < req->n_queries; i++) {
        out->nqueries++;
        if ((rc = convert_query(req->queries[i], i, &out->queries[i]))) goto out;
    }
    if (req->n_accepted_response_types) {
        if (!(out->accepted = malloc(req->n_accepted_response_types * sizeof *out->accepted))) {
            rc = st_errorf(ST_ENOMEM, "remote read: allocating response types");
            goto out;
        }
        for (size_t i = 0; i < req->n_accepted_response_types; i++)
            out->accepted[i] = (int)req->accepted_response_types[i];
        out->naccepted = req->n_accepted_response_types;
    }
out:
    prometheus__read_request__free_unpacked(req, NULL);
    if (rc) st_remoteread_request_free(out);
    return rc;
}

int st_remoteread_encode_request(const st_remoteread_query_t *q, size_t n, const st_rr_response_type_t *accepted,
                                 size_t naccepted, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    size_t nm = 0;
    for (size_t i = 0; i < n; i++) nm += q[i].matchers.n;
    Prometheus__Query *pq = calloc(n ? n : 1, sizeof *pq);
    Prometheus__Query **pqp = calloc(n ? n : 1, sizeof *pqp);
    Prometheus__LabelMatcher *pm = calloc(nm ? nm : 1, sizeof *pm);
    Prometheus__LabelMatcher **pmp = calloc(nm ? nm : 1, sizeof *pmp);
    Prometheus__ReadRequest__ResponseType *types = calloc(naccepted ? naccepted : 1, sizeof *types);
    st_encbuf_t raw;
    st_encbuf_init(&raw, 0);
    int rc = ST_OK;
    if (!pq || !pqp || !pm || !pmp || !types) {
        rc = st_errorf(ST_ENOMEM, "remote read: allocating a request");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        pq[i] = (Prometheus__Query)PROMETHEUS__QUERY__INIT;
        pq[i].start_timestamp_ms = q[i].start_ms;
        pq[i].end_timestamp_ms = q[i].end_ms;
        pq[i].matchers = pmp + k;
        pq[i].n_matchers = q[i].matchers.n;
        for (size_t j = 0; j < q[i].matchers.n; j++, k++) {
            const st_matcher_t *m = q[i].matchers.v[j];
            pm[k] = (Prometheus__LabelMatcher)PROMETHEUS__LABEL_MATCHER__INIT;
            pm[k].type = (Prometheus__LabelMatcher__Type)st_matcher_type(m);
            /* protobuf-c's structs are not const-correct; packing only reads */
            pm[k].name = (char *)st_matcher_name(m);
            pm[k].value = (char *)st_matcher_value(m);
            pmp[k] = &pm[k];
        }
        pqp[i] = &pq[i];
    }
    for (size_t i = 0; i < naccepted; i++) types[i] = (Prometheus__ReadRequest__ResponseType)accepted[i];
    Prometheus__ReadRequest req = PROMETHEUS__READ_REQUEST__INIT;
    req.n_queries = n;
    req.queries = pqp;
    req.n_accepted_response_types = naccepted;
    req.accepted_response_types = types;
    st__rr_pbuf_t pb;
    st__rr_pbuf_init(&pb, &raw);
    prometheus__read_request__pack_to_buffer(&req, &pb.base);
    if (raw.err) {
        rc = st_errorf(raw.err, "remote read: encoding a request");
        goto out;
    }
    rc = st__rr_snappy(raw.p, raw.len, out, len);
out:
    st_encbuf_free(&raw);
    free(pq);
    free(pqp);
    free(pm);
    free(pmp);
    free(types);
    return rc;
}
