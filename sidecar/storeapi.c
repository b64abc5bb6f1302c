/*
 * The sidecar's StoreAPI; behaviour in storeapi.h.
 *
 * Series reads the remote-read body as libcurl delivers it: bytes gather
 * in a buffer until a whole frame is there (uvarint size | be32 CRC32C |
 * ChunkedReadResponse, decoded by st_remoteread_frame_next with its size
 * cap), the frame's series go through reorder.h to the sink, and the
 * buffer keeps only the unfinished frame. A sink that fails (client gone,
 * limit) aborts the transfer from inside the callback, and libcurl's
 * progress callback notices a cancelled client while Prometheus has not
 * answered yet.
 *
 * without_replica_labels (a deduplicating querier): the labels are taken
 * off each received series and off the external labels the reorder adds.
 * When Prometheus stores no label of such a name in the range (its
 * /api/v1/labels, asked for the ordering mode anyway) and the mode is
 * exact, only external labels are stripped and the exact mode's bound
 * still holds over what is left; otherwise every series is held and sent
 * sorted at the end, as Thanos's sidecar does.
 */
#include "storeapi.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promclient.h"
#include "reorder.h"
#include "shipper.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/httpclient.h"
#include "strata/log.h"
#include "strata/remoteread.h"
#include "strata/textfmt.h"

#define LABELS_TIMEOUT_MS 120000
/* Series held back for ordering (reorder.h) beyond this fail the call
 * rather than the process. */
#define MAX_HELD_BYTES ((size_t)512 << 20)
/* Bounds of Prometheus's API times (web/api/v1's minTime / maxTime): a
 * range end beyond them is left out of the request. */
#define PROM_MIN_TIME_MS INT64_C(-9223309901257974000)
#define PROM_MAX_TIME_MS INT64_C(9223309901257974999)

struct sidecar_store {
    const char *url, *tsdb_dir;
    pthread_mutex_t mu;
    st_labels_t ext; /* guarded by mu */
    bool ready;      /* guarded by mu */
    atomic_int_fast64_t min_time;
};

int sidecar_store_new(sidecar_store_t **out, const char *prom_url, const char *tsdb_dir) {
    sidecar_store_t *s = calloc(1, sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "sidecar: allocating the store");
    s->url = prom_url;
    s->tsdb_dir = tsdb_dir;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->min_time, SIDECAR_MIN_TIME_UNKNOWN);
    *out = s;
    return ST_OK;
}

void sidecar_store_free(sidecar_store_t *s) {
    if (!s) return;
    st_labels_free(&s->ext);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int sidecar_store_set_labels(sidecar_store_t *s, const st_labels_t *ext) {
    st_labels_t c;
    int rc = st_labels_copy(&c, ext);
    if (rc) return rc;
    pthread_mutex_lock(&s->mu);
    st_labels_free(&s->ext);
    s->ext = c;
    s->ready = true;
    pthread_mutex_unlock(&s->mu);
    return ST_OK;
}

void sidecar_store_refresh_min_time(sidecar_store_t *s) {
    int64_t mint;
    int rc = shipper_local_min_time(s->tsdb_dir, &mint);
    if (rc) {
        st_log(ST_LOG_WARN, "StoreAPI: cannot read the blocks for Info's min time; keeping the previous one", "err",
               st_errdetail(rc), NULL);
        return;
    }
    atomic_store(&s->min_time, mint);
}

int64_t sidecar_store_min_time(const sidecar_store_t *s) { return atomic_load(&s->min_time); }

/* A copy of the external labels; UNAVAILABLE until Prometheus gave them. */
static int get_labels(sidecar_store_t *s, const char *what, st_labels_t *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    int rc = s->ready ? st_labels_copy(out, &s->ext)
                      : st_errorf(ST_EIO, "%s: the external labels of Prometheus at %s are not known yet", what,
                                  s->url);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- Prometheus HTTP API requests ---- */

/* Unix seconds with ms as Prometheus's parseTime reads them back. */
static void put_time_param(st_encbuf_t *b, const char *name, int64_t ms) {
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    st_put_fmt(b, "%s=%s%llu.%03llu&", name, ms < 0 ? "-" : "", (unsigned long long)(a / 1000),
               (unsigned long long)(a % 1000));
}

static void put_escaped(st_encbuf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            st_put_u8(b, c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            st_put_bytes(b, e, 3);
        }
    }
}

/* match[]={a="b",c=~"d"}, percent-encoded; values quoted as Go's %q,
 * which is what Thanos sends (labels.Matcher.String). */
static void put_selector_param(st_encbuf_t *b, const st_matchers_t *ms) {
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    st_encbuf_t sel;
    st_encbuf_init(&sel, (size_t)64 << 20);
    st_put_u8(&sel, '{');
    for (size_t i = 0; i < ms->n; i++) {
        const st_matcher_t *m = ms->v[i];
        const char *v = st_matcher_value(m);
        st_put_fmt(&sel, "%s%s%s", i ? "," : "", st_matcher_name(m), ops[st_matcher_type(m)]);
        st_put_go_quote(&sel, v, strlen(v));
    }
    st_put_u8(&sel, '}');
    if (sel.err) {
        b->err = sel.err;
    } else {
        st_put_cstr(b, "match%5B%5D=");
        put_escaped(b, (const char *)sel.p, sel.len);
        st_put_u8(b, '&');
    }
    st_encbuf_free(&sel);
}

/* GET <url><path>?start&end[&match[]] into *out; sink (may be NULL): give
 * up when its client is gone. */
static bool sink_cancelled(void *sink) { return st_series_sink_cancelled(sink); }

static int get_strings(sidecar_store_t *s, const char *path, int64_t start, int64_t end, const st_matchers_t *ms,
                       st_series_sink_t *sink, st_strlist_t *out) {
    st_encbuf_t b;
    st_encbuf_init(&b, (size_t)256 << 20);
    st_put_cstr(&b, path);
    st_put_u8(&b, '?');
    if (start > PROM_MIN_TIME_MS) put_time_param(&b, "start", start);
    if (end < PROM_MAX_TIME_MS) put_time_param(&b, "end", end);
    if (ms && ms->n) put_selector_param(&b, ms);
    b.len--; /* the last '&', or the '?' */
    st_put_u8(&b, 0);
    int rc = b.err ? st_errorf(b.err, "building the request to Prometheus at %s", s->url)
                   : prom_get_strings(s->url, (const char *)b.p, LABELS_TIMEOUT_MS, sink ? sink_cancelled : NULL,
                                      sink, out);
    st_encbuf_free(&b);
    return rc;
}

/* ---- LabelNames, LabelValues ---- */

static int label_names(void *ctx, const st_label_request_t *req, st_strlist_t *names, st_strlist_t *warnings) {
    sidecar_store_t *s = ctx;
    (void)warnings;
    st_labels_t ext;
    st_matchers_t rest = {0};
    bool match;
    int rc = get_labels(s, "LabelNames", &ext);
    if (!rc) rc = st_storeapi_match_external(&ext, &req->matchers, &match, &rest);
    if (!rc && match) rc = get_strings(s, "/api/v1/labels", req->start, req->end, &rest, NULL, names);
    /* Thanos adds the external names only to an answer that has names */
    for (size_t i = 0; !rc && match && names->n && i < ext.n; i++) rc = st_strlist_push(names, ext.v[i].name);
    free(rest.v);
    st_labels_free(&ext);
    return rc;
}

static int label_values(void *ctx, const st_label_request_t *req, st_strlist_t *values, st_strlist_t *warnings) {
    sidecar_store_t *s = ctx;
    (void)warnings;
    if (!req->label || !*req->label) return st_errorf(ST_EINVAL, "label name parameter cannot be empty");
    st_labels_t ext;
    st_matchers_t rest = {0};
    st_strlist_t names = {0};
    bool match;
    int rc = get_labels(s, "LabelValues", &ext);
    if (!rc) rc = st_storeapi_match_external(&ext, &req->matchers, &match, &rest);
    if (rc || !match) goto out;
    const st_label_t *e = st_labels_get(&ext, req->label);
    if (e) {
        /* an external label has one value, on every series there is; with
         * matchers, only if some series matches (any label name will do) */
        if (rest.n && (rc = get_strings(s, "/api/v1/labels", req->start, req->end, &rest, NULL, &names))) goto out;
        if (!rest.n || names.n) rc = st_strlist_push(values, e->value);
        goto out;
    }
    st_encbuf_t path;
    st_encbuf_init(&path, 1 << 20);
    st_put_cstr(&path, "/api/v1/label/");
    put_escaped(&path, req->label, strlen(req->label));
    st_put_cstr(&path, "/values");
    st_put_u8(&path, 0);
    rc = path.err ? st_errorf(path.err, "LabelValues: request path")
                  : get_strings(s, (const char *)path.p, req->start, req->end, &rest, NULL, values);
    st_encbuf_free(&path);
out:
    st_strlist_free(&names);
    free(rest.v);
    st_labels_free(&ext);
    return rc;
}

/* ---- Info ---- */

static int info(void *ctx, st_store_info_t *out) {
    sidecar_store_t *s = ctx;
    memset(out, 0, sizeof *out);
    int rc;
    st_labels_t ext, copy = {0};
    if ((rc = get_labels(s, "Info", &ext))) return rc;
    out->component = "sidecar";
    out->supports_without_replica_labels = true;
    out->label_sets = calloc(1, sizeof *out->label_sets);
    out->tsdb_infos = calloc(1, sizeof *out->tsdb_infos);
    if (!out->label_sets || !out->tsdb_infos || (rc = st_labels_copy(&copy, &ext))) {
        st_labels_free(&ext);
        return rc ? rc : st_errorf(ST_ENOMEM, "Info: allocating the answer");
    }
    out->min_time = atomic_load(&s->min_time);
    out->max_time = INT64_MAX;
    out->label_sets[0] = ext;
    out->nlabel_sets = 1;
    out->tsdb_infos[0] = (st_tsdb_info_t){copy, out->min_time, out->max_time};
    out->ntsdb_infos = 1;
    return ST_OK;
}

/* ---- Series ---- */

#define STOP 1 /* the sink reached the request's limit: end the call cleanly */

typedef struct {
    sidecar_store_t *s;
    const st_series_request_t *req;
    st_series_sink_t *sink;
    reorder_t ro;
    st_encbuf_t buf; /* unparsed body bytes */
    size_t off;      /* parsed up to here */
    bool checked_type;
    st_store_chunk_t *chunks;
    size_t capchunks;
    int body_rc; /* what on_body stopped the transfer with */
} series_call_t;

static int emit(void *ctx, const st_labels_t *lbls, const st_store_chunk_t *chunks, size_t n) {
    series_call_t *c = ctx;
    int rc = st_series_sink_send(c->sink, lbls, chunks, n);
    return rc == 1 ? STOP : rc;
}

static int add_series(series_call_t *c, const st_remoteread_chunked_series_t *cs) {
    size_t n = c->req->skip_chunks ? 0 : cs->nchunks;
    if (n > c->capchunks) {
        st_store_chunk_t *nc = realloc(c->chunks, n * sizeof *nc);
        if (!nc) return st_errorf(ST_ENOMEM, "Series: %zu chunks", n);
        c->chunks = nc;
        c->capchunks = n;
    }
    for (size_t i = 0; i < n; i++) {
        const st_remoteread_chunk_t *k = &cs->chunks[i];
        if (k->type != 1) { /* prompb XOR = 1 is storepb XOR = 0; histograms are not served */
            st_encbuf_t b;
            st_encbuf_init(&b, 4096);
            st_put_labels_go(&b, &cs->lbls);
            int rc = st_errorf(ST_EUNSUPPORTED, "Series: %.*s: chunk encoding %d from Prometheus is not supported",
                               (int)(b.err ? 0 : b.len), b.p ? (const char *)b.p : "", k->type);
            st_encbuf_free(&b);
            return rc;
        }
        c->chunks[i] = (st_store_chunk_t){.mint = k->mint, .maxt = k->maxt};
        c->chunks[i].data[ST_AGGR_RAW] = k->data;
        c->chunks[i].len[ST_AGGR_RAW] = k->len;
    }
    const st_strlist_t *strip = &c->req->without_replica_labels;
    if (!strip->n) return reorder_add(&c->ro, &cs->lbls, c->chunks, n);
    st_labels_t p;
    int rc = st_labels_without(&p, &cs->lbls, (const char *const *)strip->v, strip->n);
    if (!rc) rc = reorder_add(&c->ro, &p, c->chunks, n);
    st_labels_free(&p);
    return rc;
}

static int take_body(series_call_t *c, const char *content_type, const void *p, size_t len) {
    if (!c->checked_type) {
        c->checked_type = true;
        if (!content_type || strncmp(content_type, ST_RR_CONTENT_TYPE_STREAMED, strlen(ST_RR_CONTENT_TYPE_STREAMED)))
            return st_errorf(ST_EUNSUPPORTED,
                             "Series: remote read of Prometheus at %s answered with content type %s, not streamed "
                             "chunks (Prometheus older than 2.13?)",
                             c->s->url, content_type ? content_type : "(none)");
    }
    if (c->off) { /* keep only the unfinished frame, at the front */
        memmove(c->buf.p, c->buf.p + c->off, c->buf.len - c->off);
        c->buf.len -= c->off;
        c->off = 0;
    }
    st_put_bytes(&c->buf, p, len);
    if (c->buf.err) return st_errorf(c->buf.err, "Series: buffering a remote read frame");
    for (;;) {
        st_remoteread_frame_t f;
        size_t used;
        int rc = st_remoteread_frame_next(c->buf.p + c->off, c->buf.len - c->off, 0, &f, &used);
        if (rc < 0) return st_errwrap(rc, "Series: remote read from Prometheus at %s", c->s->url);
        if (rc == 0) break;
        c->off += used;
        rc = ST_OK;
        if (f.query_index != 0)
            rc = st_errorf(ST_ECORRUPT, "Series: remote read frame for query %lld, only query 0 was sent",
                           (long long)f.query_index);
        for (size_t i = 0; i < f.nseries && !rc; i++) rc = add_series(c, &f.series[i]);
        st_remoteread_frame_free(&f);
        if (rc) return rc;
    }
    return ST_OK;
}

static int on_body(void *ctx, const char *content_type, const void *p, size_t len) {
    series_call_t *c = ctx;
    return c->body_rc = take_body(c, content_type, p, len);
}

static bool call_cancelled(void *ctx) { return st_series_sink_cancelled(((series_call_t *)ctx)->sink); }

/* The ordering mode (reorder.h): exact when no stored label in the range
 * is named like an external one; holding everything when labels are
 * stripped (strip) and one of them may be a stored label. */
static int ordering_mode(sidecar_store_t *s, const st_labels_t *ext, const st_strlist_t *strip, int64_t mint,
                         int64_t maxt, st_series_sink_t *sink, reorder_mode_t *mode) {
    st_strlist_t names = {0};
    int rc = get_strings(s, "/api/v1/labels", mint, maxt, NULL, sink, &names);
    bool exact = true, stored_strip = false;
    for (size_t i = 0; !rc && i < names.n; i++) {
        if (st_labels_get(ext, names.v[i])) exact = false;
        for (size_t k = 0; k < strip->n; k++) stored_strip |= strcmp(names.v[i], strip->v[k]) == 0;
    }
    st_strlist_free(&names);
    *mode = strip->n && (!exact || stored_strip) ? REORDER_HOLD_ALL : exact ? REORDER_EXACT : REORDER_CONSERVATIVE;
    return rc;
}

static int series(void *ctx, const st_series_request_t *req, st_series_sink_t *sink) {
    sidecar_store_t *s = ctx;
    series_call_t c = {.s = s, .req = req, .sink = sink};
    st_labels_t ext, ext_sent = {0};
    st_matchers_t rest = {0};
    bool match;
    reorder_mode_t mode = REORDER_CONSERVATIVE;
    const st_strlist_t *strip = &req->without_replica_labels;
    uint8_t *body = NULL;
    size_t blen = 0;
    char *url = NULL;
    st_http_resp_t resp = {0};
    st_encbuf_init(&c.buf, ST_RR_CLIENT_MAX_FRAME + ((size_t)1 << 20)); /* a frame and a piece of the next */
    int rc = get_labels(s, "Series", &ext);
    if (rc) goto out;
    if ((rc = st_storeapi_match_external(&ext, &req->matchers, &match, &rest)) || !match) goto out;
    if (!rest.n) {
        rc = st_errorf(ST_EINVAL, "no matchers specified (excluding external labels)");
        goto out;
    }
    if ((rc = ordering_mode(s, &ext, strip, req->min_time, req->max_time, sink, &mode))) goto out;
    if ((rc = st_labels_without(&ext_sent, &ext, (const char *const *)strip->v, strip->n))) goto out;
    reorder_init(&c.ro, &ext_sent, mode, MAX_HELD_BYTES, emit, &c);
    st_remoteread_query_t q = {req->min_time, req->max_time, rest};
    const st_rr_response_type_t accepted[] = {ST_RR_STREAMED_XOR_CHUNKS};
    if ((rc = st_remoteread_encode_request(&q, 1, accepted, 1, &body, &blen))) goto out;
    size_t ulen = strlen(s->url);
    while (ulen && s->url[ulen - 1] == '/') ulen--;
    if (!(url = malloc(ulen + sizeof "/api/v1/read"))) {
        rc = st_errorf(ST_ENOMEM, "Series: request URL");
        goto out;
    }
    snprintf(url, ulen + sizeof "/api/v1/read", "%.*s/api/v1/read", (int)ulen, s->url);
    static const char *const hdrs[] = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                                       "X-Prometheus-Remote-Read-Version: 0.1.0", NULL};
    /* no overall timeout: the client's deadline and cancellation end it */
    st_http_req_t hr = {.method = "POST", .url = url, .headers = hdrs, .body = body, .body_len = blen,
                        .timeout_ms = -1, .on_body = on_body, .cancelled = call_cancelled, .ctx = &c};
    rc = st_http_do(&hr, &resp);
    if (rc == STOP) {
        rc = ST_OK;
        goto out;
    }
    if (rc && rc != c.body_rc) { /* not ours: cancelled while waiting, or the transfer failed */
        if (rc == ST_ECANCELED) rc = st_errorf(ST_ECANCELED, "Series: the client cancelled the call or went away");
        else if (rc == ST_EIO) rc = st_errwrap(ST_EIO, "Series: Prometheus at %s is unavailable", s->url);
    }
    if (rc) goto out;
    if (resp.status / 100 != 2) {
        rc = st_errorf(resp.status / 100 == 4 ? ST_EINVAL : ST_EIO,
                       "Series: remote read POST %s: HTTP status %ld: %.300s", url, resp.status, resp.body);
        goto out;
    }
    if (c.off != c.buf.len) {
        rc = st_errorf(ST_ECORRUPT, "Series: remote read from Prometheus at %s ended inside a frame (%zu bytes left)",
                       s->url, c.buf.len - c.off);
        goto out;
    }
    rc = reorder_flush(&c.ro);
    if (rc == STOP) rc = ST_OK;
    char held[24];
    snprintf(held, sizeof held, "%zu", c.ro.max_held_seen);
    static const char *const mode_names[] = {"conservative", "exact", "hold-all"};
    st_log(ST_LOG_DEBUG, "Series: remote read done", "ordering", mode_names[mode], "max_held", held, NULL);
out:
    reorder_free(&c.ro);
    st_http_resp_free(&resp);
    st_encbuf_free(&c.buf);
    free(c.chunks);
    free(body);
    free(url);
    free(rest.v);
    st_labels_free(&ext_sent);
    st_labels_free(&ext);
    return rc;
}

const st_storeapi_ops_t sidecar_store_ops = {series, label_names, label_values, info};
