/* Remote read decoders on arbitrary bytes: a ReadRequest body (as sent,
 * and snappy-wrapped so mutations reach protobuf decoding), the server
 * answering it in both response types, a streamed response parsed frame by
 * frame (as sent, and re-framed with a valid CRC), and a SAMPLES response.
 * Whatever the server answers must decode with the client functions. */
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/remoteread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t ts[3] = {1000, 2000, 3000};
static const double vs[3] = {1.5, -2, 1e300};

typedef struct {
    st_labels_t l;
    size_t pos;
    int state; /* 0 before the series, 1 on it, 2 done */
} one_t;

static int one_next(void *ctx) {
    one_t *o = ctx;
    if (o->state == 2) return 0;
    o->state++;
    return o->state == 1;
}
static const st_labels_t *one_labels(void *ctx) { return &((one_t *)ctx)->l; }
static int one_sample(void *ctx, int64_t *t, double *v) {
    one_t *o = ctx;
    if (o->pos == 3) return 0;
    *t = ts[o->pos];
    *v = vs[o->pos++];
    return 1;
}
static void one_free(void *ctx) {
    one_t *o = ctx;
    st_labels_free(&o->l);
    free(o);
}
static const st_series_set_ops_t one_ops = {.next = one_next, .labels = one_labels,
                                           .sample = one_sample, .free = one_free};

static int query(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out) {
    (void)ctx, (void)ms, (void)mint, (void)maxt;
    one_t *o = calloc(1, sizeof *o);
    st_label_t p = st_label("__name__", "x");
    if (!o || st_labels_from_pairs(&o->l, &p, 1)) {
        free(o);
        return ST_ENOMEM;
    }
    return st_series_set_new(out, &one_ops, o);
}

static void parse_frames(const uint8_t *p, size_t len) {
    size_t off = 0, used;
    st_remoteread_frame_t f;
    while (off < len && st_remoteread_frame_next(p + off, len - off, 1 << 20, &f, &used) == 1) {
        if (used == 0 || used > len - off) abort();
        for (size_t i = 0; i < f.nseries; i++)
            for (size_t k = 0; k < f.series[i].nchunks; k++)
                if (f.series[i].chunks[k].len && !f.series[i].chunks[k].data) abort();
        st_remoteread_frame_free(&f);
        off += used;
    }
}

static void serve(const uint8_t *body, size_t len) {
    st_remoteread_opts_t o = {.sample_limit = 100, .max_bytes_in_frame = 64};
    st_remoteread_response_t r;
    int rc = st_remoteread_handle(body, len, &o, query, NULL, &r);
    if ((rc == 0) != (r.status == 200)) abort();
    if (rc == 0 && strcmp(r.content_type, ST_RR_CONTENT_TYPE_STREAMED) == 0) {
        size_t off = 0, used;
        st_remoteread_frame_t f;
        while (off < r.len) {
            if (st_remoteread_frame_next(r.body + off, r.len - off, 0, &f, &used) != 1) abort();
            st_remoteread_frame_free(&f);
            off += used;
        }
    } else if (rc == 0) {
        st_remoteread_result_t *res;
        size_t n;
        if (st_remoteread_decode_samples(r.body, r.len, 0, &res, &n)) abort();
        st_remoteread_results_free(res, n);
    }
    st_remoteread_response_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    serve(data, size);
    size_t clen = snappy_max_compressed_length(size);
    uint8_t *comp = malloc(clen);
    if (comp && snappy_compress((const char *)data, size, (char *)comp, &clen) == SNAPPY_OK) {
        serve(comp, clen);
        st_remoteread_result_t *res;
        size_t n;
        if (st_remoteread_decode_samples(comp, clen, 1 << 20, &res, &n) == 0) st_remoteread_results_free(res, n);
    }
    free(comp);
    parse_frames(data, size);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_uvarint(&b, size);
    st_put_be32(&b, st_crc32c(0, data, size));
    st_put_bytes(&b, data, size);
    if (!b.err) parse_frames(b.p, b.len);
    st_encbuf_free(&b);
    return 0;
}
