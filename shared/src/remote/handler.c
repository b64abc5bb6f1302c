/*
 * Remote read server (Prometheus 2.42 storage/remote/read_handler.go,
 * codec.go, chunked.go), layouts in §8.3/§8.4:
 *
 *   SAMPLES body     snappy( ReadResponse )
 *     ReadResponse   1: repeated QueryResult      (one per query, in order)
 *     QueryResult    1: repeated TimeSeries
 *     TimeSeries     1: repeated Label, 2: repeated Sample {1: double, 2: int64}
 *   STREAMED body    repeated frame
 *     frame          uvarint len | be32 CRC32C(msg) | msg
 *     msg            ChunkedReadResponse {1: ChunkedSeries, 2: int64 query_index}
 *     ChunkedSeries  1: repeated Label, 2: repeated Chunk
 *     Chunk          1: min_time_ms, 2: max_time_ms (closed), 3: XOR = 1, 4: bytes
 *
 * Series come from the query callback in label order and stay in it. The
 * SAMPLES response nests TimeSeries inside QueryResult inside ReadResponse;
 * each TimeSeries is packed by protobuf-c as soon as its samples are read,
 * and the two enclosing length-delimited fields are written here (tag 0x0a
 * = field 1, wire type 2), so memory holds packed bytes, not one struct per
 * sample. Streamed series are re-encoded into XOR chunks of at most 120
 * samples; a frame is sent when its chunks reach max_bytes_in_frame minus
 * the labels' size or the series ends (one series per frame, as Prometheus).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote_int.h"
#include "strata/chunkenc.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/remoteread.h"

#define TAG_FIELD1_BYTES 0x0a
#define SAMPLES_PER_XOR_CHUNK 120

typedef struct {
    st_remoteread_opts_t o;
    st_remoteread_query_fn fn;
    void *ctx;
    st_encbuf_t body;
    /* per series scratch */
    st_label_t *pairs;
    size_t npairs, cappairs;
    Prometheus__Label *pl;
    Prometheus__Label **plp;
    size_t cappl;
} rr_t;

/* Series labels merged with the external labels (the series wins on a
 * name clash), as borrowed pairs in name order, then as protobuf labels. */
static int merge_labels(rr_t *r, const st_labels_t *l) {
    const st_labels_t *ext = r->o.external_labels;
    size_t ne = ext ? ext->n : 0, need = l->n + ne;
    if (need > r->cappairs) {
        st_label_t *np = realloc(r->pairs, need * sizeof *np);
        if (!np) return st_errorf(ST_ENOMEM, "remote read: series labels");
        r->pairs = np;
        r->cappairs = need;
    }
    if (need > r->cappl) {
        Prometheus__Label *pl = realloc(r->pl, need * sizeof *pl);
        if (pl) r->pl = pl;
        Prometheus__Label **plp = pl ? realloc(r->plp, need * sizeof *plp) : NULL;
        if (!plp) return st_errorf(ST_ENOMEM, "remote read: series labels");
        r->plp = plp;
        r->cappl = need;
    }
    size_t i = 0, j = 0, n = 0;
    while (i < l->n || j < ne) {
        int c = i == l->n ? 1 : j == ne ? -1
                                     : st_bytes_cmp(l->v[i].name, l->v[i].name_len, ext->v[j].name, ext->v[j].name_len);
        if (c <= 0) {
            r->pairs[n++] = l->v[i++];
            if (c == 0) j++;
        } else {
            r->pairs[n++] = ext->v[j++];
        }
    }
    r->npairs = n;
    for (size_t k = 0; k < n; k++) {
        r->pl[k] = (Prometheus__Label)PROMETHEUS__LABEL__INIT;
        /* label strings are NUL-terminated (labels.h); packing only reads them */
        r->pl[k].name = (char *)r->pairs[k].name;
        r->pl[k].value = (char *)r->pairs[k].value;
        r->plp[k] = &r->pl[k];
    }
    return ST_OK;
}

/* ---- SAMPLES ---- */

typedef struct {
    Prometheus__Sample *s;
    Prometheus__Sample **p;
    size_t n, cap;
} samples_t;

static int push_sample(samples_t *sm, int64_t t, double v) {
    if (sm->n == sm->cap) {
        size_t cap = sm->cap ? sm->cap * 2 : 256;
        Prometheus__Sample *ns = realloc(sm->s, cap * sizeof *ns);
        if (ns) sm->s = ns;
        Prometheus__Sample **np = ns ? realloc(sm->p, cap * sizeof *np) : NULL;
        if (!np) return st_errorf(ST_ENOMEM, "remote read: buffering %zu samples", cap);
        sm->p = np;
        sm->cap = cap;
    }
    sm->s[sm->n] = (Prometheus__Sample)PROMETHEUS__SAMPLE__INIT;
    sm->s[sm->n].value = v;
    sm->s[sm->n].timestamp = t;
    sm->n++;
    return ST_OK;
}

/* Repeated TimeSeries of one query, each as field 1 of QueryResult. */
static int samples_query(rr_t *r, const st_remoteread_query_t *q, st_encbuf_t *qres, samples_t *sm, uint64_t *total) {
    st_series_set_t *set;
    int rc = r->fn(r->ctx, &q->matchers, q->start_ms, q->end_ms, &set);
    if (rc) return rc;
    st__rr_pbuf_t pb;
    st__rr_pbuf_init(&pb, qres);
    while ((rc = st_series_set_next(set)) == 1) {
        sm->n = 0;
        int64_t t;
        double v;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1) {
            if (++*total > r->o.sample_limit) {
                rc = st_errorf(ST_ELIMIT, "remote read: exceeded sample limit (%llu)",
                               (unsigned long long)r->o.sample_limit);
                goto out;
            }
            if ((rc = push_sample(sm, t, v))) goto out;
        }
        if (rc < 0) goto out;
        if (sm->n == 0) continue;
        if ((rc = merge_labels(r, st_series_set_labels(set)))) goto out;
        for (size_t i = 0; i < sm->n; i++) sm->p[i] = &sm->s[i];
        Prometheus__TimeSeries ts = PROMETHEUS__TIME_SERIES__INIT;
        ts.n_labels = r->npairs;
        ts.labels = r->plp;
        ts.n_samples = sm->n;
        ts.samples = sm->p;
        st_put_u8(qres, TAG_FIELD1_BYTES);
        st_put_uvarint(qres, prometheus__time_series__get_packed_size(&ts));
        prometheus__time_series__pack_to_buffer(&ts, &pb.base);
        if (qres->err) {
            rc = st_errorf(qres->err, "remote read: response exceeds %zu bytes", r->o.max_response_bytes);
            goto out;
        }
    }
out:
    st_series_set_free(set);
    return rc;
}

static int samples_response(rr_t *r, const st_remoteread_request_t *req, st_remoteread_response_t *out) {
    st_encbuf_t qres;
    st_encbuf_init(&qres, r->o.max_response_bytes);
    samples_t sm = {0};
    uint64_t total = 0;
    int rc = ST_OK;
    for (size_t i = 0; i < req->nqueries && !rc; i++) {
        st_encbuf_reset(&qres);
        if ((rc = samples_query(r, &req->queries[i], &qres, &sm, &total))) break;
        st_put_u8(&r->body, TAG_FIELD1_BYTES);
        st_put_uvarint(&r->body, qres.len);
        st_put_bytes(&r->body, qres.p, qres.len);
        if (r->body.err)
            rc = st_errorf(r->body.err, "remote read: response exceeds %zu bytes", r->o.max_response_bytes);
    }
    if (!rc) rc = st__rr_snappy(r->body.p, r->body.len, &out->body, &out->len);
    if (!rc) {
        out->status = 200;
        out->content_type = ST_RR_CONTENT_TYPE_SAMPLES;
        out->content_encoding = "snappy";
    }
    st_encbuf_free(&qres);
    free(sm.s);
    free(sm.p);
    return rc;
}

/* ---- STREAMED_XOR_CHUNKS ---- */

typedef struct {
    st_encbuf_t data; /* chunk bytes of the frame being built */
    Prometheus__Chunk *c;
    Prometheus__Chunk **cp;
    size_t *off;
    size_t n, cap;
} frame_t;

static int frame_add_chunk(frame_t *f, const st_xor_appender_t *app, int64_t mint, int64_t maxt) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        Prometheus__Chunk *nc = realloc(f->c, cap * sizeof *nc);
        if (nc) f->c = nc;
        Prometheus__Chunk **ncp = nc ? realloc(f->cp, cap * sizeof *ncp) : NULL;
        if (ncp) f->cp = ncp;
        size_t *noff = ncp ? realloc(f->off, cap * sizeof *noff) : NULL;
        if (!noff) return st_errorf(ST_ENOMEM, "remote read: frame chunks");
        f->off = noff;
        f->cap = cap;
    }
    size_t len;
    const uint8_t *bytes = st_xor_bytes(app, &len);
    f->off[f->n] = f->data.len;
    st_put_bytes(&f->data, bytes, len);
    if (f->data.err) return st_errorf(ST_ENOMEM, "remote read: frame chunk bytes");
    Prometheus__Chunk *c = &f->c[f->n++];
    *c = (Prometheus__Chunk)PROMETHEUS__CHUNK__INIT;
    c->min_time_ms = mint;
    c->max_time_ms = maxt;
    c->type = PROMETHEUS__CHUNK__ENCODING__XOR;
    c->data.len = len;
    return ST_OK;
}

/* uvarint size | be32 CRC32C | ChunkedReadResponse{series, query_index} */
static int emit_frame(rr_t *r, frame_t *f, int64_t query_index) {
    for (size_t i = 0; i < f->n; i++) {
        f->c[i].data.data = f->data.p + f->off[i];
        f->cp[i] = &f->c[i];
    }
    Prometheus__ChunkedSeries cs = PROMETHEUS__CHUNKED_SERIES__INIT;
    cs.n_labels = r->npairs;
    cs.labels = r->plp;
    cs.n_chunks = f->n;
    cs.chunks = f->cp;
    Prometheus__ChunkedSeries *csp = &cs;
    Prometheus__ChunkedReadResponse msg = PROMETHEUS__CHUNKED_READ_RESPONSE__INIT;
    msg.n_chunked_series = 1;
    msg.chunked_series = &csp;
    msg.query_index = query_index;
    size_t size = prometheus__chunked_read_response__get_packed_size(&msg);
    st_put_uvarint(&r->body, size);
    size_t crc_at = r->body.len;
    st_put_be32(&r->body, 0);
    st__rr_pbuf_t pb;
    st__rr_pbuf_init(&pb, &r->body);
    prometheus__chunked_read_response__pack_to_buffer(&msg, &pb.base);
    if (r->body.err) return st_errorf(r->body.err, "remote read: response exceeds %zu bytes", r->o.max_response_bytes);
    st_encbuf_patch_be32(&r->body, crc_at, st_crc32c(0, r->body.p + crc_at + 4, size));
    f->n = 0;
    st_encbuf_reset(&f->data);
    return ST_OK;
}

static int streamed_series(rr_t *r, st_series_set_t *set, int64_t qi, frame_t *f) {
    int rc = merge_labels(r, st_series_set_labels(set));
    if (rc) return rc;
    long budget = (long)r->o.max_bytes_in_frame;
    for (size_t k = 0; k < r->npairs; k++) budget -= (long)prometheus__label__get_packed_size(&r->pl[k]);
    long left = budget;
    st_xor_appender_t app;
    if ((rc = st_xor_appender_init(&app))) return rc;
    int64_t t, mint = 0, maxt = 0;
    double v;
    f->n = 0;
    st_encbuf_reset(&f->data);
    for (;;) {
        int more = st_series_set_sample(set, &t, &v);
        if (more < 0) {
            rc = more;
            break;
        }
        if (app.num == SAMPLES_PER_XOR_CHUNK || (!more && app.num)) {
            if ((rc = frame_add_chunk(f, &app, mint, maxt))) break;
            left -= (long)prometheus__chunk__get_packed_size(&f->c[f->n - 1]);
            if ((left <= 0 || !more) && (rc = emit_frame(r, f, qi))) break;
            if (left <= 0) left = budget;
            st_xor_appender_free(&app);
            if ((rc = st_xor_appender_init(&app))) break;
        }
        if (!more) break;
        if (app.num == 0) mint = t;
        maxt = t;
        if ((rc = st_xor_append(&app, t, v))) break;
    }
    st_xor_appender_free(&app);
    return rc;
}

static int streamed_response(rr_t *r, const st_remoteread_request_t *req, st_remoteread_response_t *out) {
    frame_t f = {0};
    st_encbuf_init(&f.data, 0);
    int rc = ST_OK;
    for (size_t i = 0; i < req->nqueries && !rc; i++) {
        const st_remoteread_query_t *q = &req->queries[i];
        st_series_set_t *set;
        if ((rc = r->fn(r->ctx, &q->matchers, q->start_ms, q->end_ms, &set))) break;
        while ((rc = st_series_set_next(set)) == 1)
            if ((rc = streamed_series(r, set, (int64_t)i, &f))) break;
        st_series_set_free(set);
    }
    if (!rc) {
        out->status = 200;
        out->content_type = ST_RR_CONTENT_TYPE_STREAMED;
        out->body = r->body.p ? r->body.p : malloc(1);
        out->len = r->body.len;
        r->body.p = NULL;
        if (!out->body) rc = st_errorf(ST_ENOMEM, "remote read: allocating a response");
    }
    st_encbuf_free(&f.data);
    free(f.c);
    free(f.cp);
    free(f.off);
    return rc;
}

/* ---- entry point ---- */

/* An EQ matcher on an external label with its value selects series that
 * lack the label locally: it becomes name="" (Prometheus's
 * filterExtLabelsFromMatchers). */
static int filter_external(const st_labels_t *ext, st_remoteread_request_t *req) {
    for (size_t i = 0; ext && i < req->nqueries; i++) {
        st_matchers_t *ms = &req->queries[i].matchers;
        for (size_t k = 0; k < ms->n; k++) {
            const st_matcher_t *m = ms->v[k];
            const st_label_t *l = st_labels_get(ext, st_matcher_name(m));
            if (!l || st_matcher_type(m) != ST_MATCH_EQ || strcmp(l->value, st_matcher_value(m)) != 0) continue;
            st_matcher_t *nm;
            int rc = st_matcher_new(&nm, ST_MATCH_EQ, st_matcher_name(m), "");
            if (rc) return rc;
            st_matcher_free(ms->v[k]);
            ms->v[k] = nm;
        }
    }
    return ST_OK;
}

static void fail(st_remoteread_response_t *out, int rc) {
    const char *msg = st_errdetail(rc);
    size_t n = strlen(msg);
    out->status = rc == ST_ECORRUPT || rc == ST_EINVAL || rc == ST_ELIMIT ? 400 : 500;
    out->content_type = "text/plain; charset=utf-8";
    out->content_encoding = NULL;
    if ((out->body = malloc(n + 1))) {
        memcpy(out->body, msg, n);
        out->body[n] = '\n';
        out->len = n + 1;
    }
}

int st_remoteread_handle(const uint8_t *body, size_t len, const st_remoteread_opts_t *opts, st_remoteread_query_fn fn,
                         void *ctx, st_remoteread_response_t *out) {
    memset(out, 0, sizeof *out);
    rr_t r = {.fn = fn, .ctx = ctx};
    if (opts) r.o = *opts;
    if (!r.o.sample_limit) r.o.sample_limit = ST_RR_DEFAULT_SAMPLE_LIMIT;
    if (!r.o.max_bytes_in_frame) r.o.max_bytes_in_frame = ST_RR_DEFAULT_FRAME_BYTES;
    if (!r.o.max_response_bytes) r.o.max_response_bytes = ST_RR_DEFAULT_MAX_RESPONSE;
    st_encbuf_init(&r.body, r.o.max_response_bytes);
    st_remoteread_request_t req;
    int rc = st_remoteread_decode_request(body, len, r.o.max_decoded, &req);
    if (rc) goto out;
    int type = -1;
    for (size_t i = 0; i < req.naccepted && type < 0; i++)
        if (req.accepted[i] == ST_RR_SAMPLES || req.accepted[i] == ST_RR_STREAMED_XOR_CHUNKS) type = req.accepted[i];
    if (req.naccepted == 0) type = ST_RR_SAMPLES;
    if (type < 0) {
        rc = st_errorf(ST_EINVAL, "remote read: server does not support any of the requested response types "
                                  "(supported: SAMPLES, STREAMED_XOR_CHUNKS)");
    } else if (!(rc = filter_external(r.o.external_labels, &req))) {
        rc = type == ST_RR_SAMPLES ? samples_response(&r, &req, out) : streamed_response(&r, &req, out);
    }
    st_remoteread_request_free(&req);
out:
    if (rc) {
        free(out->body);
        fail(out, rc);
    }
    st_encbuf_free(&r.body);
    free(r.pairs);
    free(r.pl);
    free(r.plp);
    return rc;
}

void st_remoteread_response_free(st_remoteread_response_t *r) {
    if (!r) return;
    free(r->body);
    memset(r, 0, sizeof *r);
}
