/*
 * The fan-out behind every select (Thanos's ProxyStore.Series).
 *
 * One reader thread per endpoint ("feed") drains that endpoint's Series
 * stream into a bounded queue (QUERY_FEED_MAX_SERIES series or
 * QUERY_FEED_MAX_BYTES, whichever comes first); the caller's thread merges
 * the queues' heads by label set. Threads rather than non-blocking
 * iteration because the StoreAPI client (storeapi.h) reads a stream with a
 * blocking receive: with a thread per stream all stores transfer at once,
 * a slow store delays only its own queue, and the merge can wait on each
 * queue with a timeout (--store.response-timeout, the query deadline) and
 * walk away from a store that stopped answering. A feed is shared by its
 * thread and the merge (refcount): an abandoned feed's thread frees the
 * stream and the feed when its blocking receive returns, at the latest at
 * the call's deadline.
 *
 * When replica labels are stripped (dedup), a store whose Info says
 * supports_without_replica_labels gets them in the request's
 * without_replica_labels and sends its stream stripped and sorted, which
 * is merged as it arrives. For any other store a feed reads the whole
 * stream first, strips the labels and re-sorts, as Thanos's proxy does:
 * equal label sets then follow each other, within one feed as across
 * feeds, and the merge makes one series of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query.h"
#include "strata/err.h"
#include "strata/log.h"

/* One series read from a stream: labels and chunk bytes owned. */
typedef struct {
    st_labels_t lbls;
    st_store_chunk_t *chunks; /* data points into buf */
    size_t n;
    uint8_t *buf;
    size_t bytes;
    size_t seq; /* position in its stream: keeps the re-sort stable */
} item_t;

static void item_free(item_t *it) {
    if (!it) return;
    st_labels_free(&it->lbls);
    free(it->chunks);
    free(it->buf);
    memset(it, 0, sizeof *it);
}

/* Copy a series out of the stream's current frame, minus the strip labels. */
static int item_copy(item_t *it, const st_labels_t *lbls, const st_store_chunk_t *chunks, size_t n,
                     const st_strlist_t *strip) {
    memset(it, 0, sizeof *it);
    int rc = st_labels_without(&it->lbls, lbls, (const char *const *)strip->v, strip->n);
    if (rc) return rc;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < ST_AGGR_N; k++) bytes += chunks[i].data[k] ? chunks[i].len[k] : 0;
    it->chunks = malloc((n ? n : 1) * sizeof *it->chunks);
    it->buf = malloc(bytes ? bytes : 1);
    if (!it->chunks || !it->buf) {
        item_free(it);
        return st_errorf(ST_ENOMEM, "series: %zu chunks of %zu bytes", n, bytes);
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        it->chunks[i] = chunks[i];
        for (int k = 0; k < ST_AGGR_N; k++) {
            if (!chunks[i].data[k]) continue;
            memcpy(it->buf + off, chunks[i].data[k], chunks[i].len[k]);
            it->chunks[i].data[k] = it->buf + off;
            off += chunks[i].len[k];
        }
    }
    it->n = n;
    it->bytes = bytes + n * sizeof *it->chunks + lbls->n * 32;
    return ST_OK;
}

/* ---- feeds ---- */

typedef struct {
    atomic_int refs; /* the reader thread and the merge */
    query_t *q;
    query_endpoint_t *ep; /* reference */
    char name[320];
    st_series_stream_t *stream; /* the reader thread's */
    st_strlist_t strip;
    int64_t frame_timeout_ms;
    atomic_bool abandoned;

    pthread_mutex_t mu; /* guards the queue and the end state */
    pthread_cond_t cv;  /* signalled on every change of either */
    item_t *ring;
    size_t head, count, bytes;
    int64_t last_recv_ms; /* wall time of the last series received */
    bool done;
    int rc;
    char *err;            /* rc's detail */
    st_strlist_t store_warnings;
} feed_t;

static void feed_unref(feed_t *f) {
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1) return;
    for (size_t i = 0; i < f->count; i++) item_free(&f->ring[(f->head + i) % QUERY_FEED_MAX_SERIES]);
    free(f->ring);
    free(f->err);
    st_strlist_free(&f->strip);
    st_strlist_free(&f->store_warnings);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    query_endpoint_unref(f->ep);
    free(f);
}

/* Queue one item; ST_ECANCELED once the merge walked away. */
static int feed_push(feed_t *f, item_t *it) {
    pthread_mutex_lock(&f->mu);
    while (!atomic_load(&f->abandoned) &&
           (f->count == QUERY_FEED_MAX_SERIES || (f->count > 0 && f->bytes >= QUERY_FEED_MAX_BYTES)))
        pthread_cond_wait(&f->cv, &f->mu);
    if (atomic_load(&f->abandoned)) {
        pthread_mutex_unlock(&f->mu);
        item_free(it);
        return ST_ECANCELED;
    }
    f->ring[(f->head + f->count) % QUERY_FEED_MAX_SERIES] = *it;
    f->count++;
    f->bytes += it->bytes;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return ST_OK;
}

static void feed_touch(feed_t *f) {
    pthread_mutex_lock(&f->mu);
    f->last_recv_ms = query_now_ms();
    pthread_mutex_unlock(&f->mu);
}

static int item_cmp(const void *a, const void *b) {
    const item_t *x = a, *y = b;
    int c = st_labels_cmp(&x->lbls, &y->lbls);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Whole stream, strip, re-sort, then queue (the dedup path). */
static int feed_read_all(feed_t *f) {
    item_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    const st_labels_t *lbls;
    const st_store_chunk_t *chunks;
    size_t nch;
    while (!atomic_load(&f->abandoned) && (rc = st_series_stream_next(f->stream, &lbls, &chunks, &nch)) == 1) {
        feed_touch(f);
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            item_t *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = st_errorf(ST_ENOMEM, "series: buffering %zu series", n);
                break;
            }
            v = nv;
            cap = nc;
        }
        if ((rc = item_copy(&v[n], lbls, chunks, nch, &f->strip))) break;
        v[n].seq = n;
        n++;
    }
    if (atomic_load(&f->abandoned)) rc = ST_ECANCELED;
    size_t i = 0;
    if (rc == 0) {
        if (n > 1) qsort(v, n, sizeof *v, item_cmp);
        for (; i < n && !rc; i++) rc = feed_push(f, &v[i]);
    }
    for (; i < n; i++) item_free(&v[i]);
    free(v);
    return rc;
}

static int feed_read_stream(feed_t *f) {
    int rc;
    const st_labels_t *lbls;
    const st_store_chunk_t *chunks;
    size_t nch;
    while ((rc = st_series_stream_next(f->stream, &lbls, &chunks, &nch)) == 1) {
        feed_touch(f);
        item_t it;
        if ((rc = item_copy(&it, lbls, chunks, nch, &f->strip))) break;
        if ((rc = feed_push(f, &it))) break;
    }
    return rc;
}

static void *feed_main(void *arg) {
    feed_t *f = arg;
    int rc = f->strip.n ? feed_read_all(f) : feed_read_stream(f);
    char *err = rc < 0 ? strdup(st_errdetail(rc)) : NULL;
    st_strlist_t warns = {0};
    const st_strlist_t *sw = st_series_stream_warnings(f->stream);
    for (size_t i = 0; i < sw->n; i++) st_strlist_push(&warns, sw->v[i]);
    st_series_stream_free(f->stream);
    f->stream = NULL;
    pthread_mutex_lock(&f->mu);
    f->done = true;
    f->rc = rc;
    f->err = err;
    f->store_warnings = warns;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    query_t *q = f->q;
    feed_unref(f);
    atomic_fetch_sub(&q->feeds_live, 1);
    return NULL;
}

static void feed_abandon(feed_t *f) {
    atomic_store(&f->abandoned, true);
    pthread_mutex_lock(&f->mu);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    feed_unref(f);
}

static void ms_to_timespec(int64_t ms, struct timespec *ts) {
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

enum { POP_ITEM = 1, POP_END = 0, POP_FRAME_TIMEOUT = 2 };

/* Next item of a feed, waiting until the deadline (ST_ETIMEDOUT) or the
 * frame timeout since the last series the feed received. */
static int feed_pop(feed_t *f, int64_t deadline_ms, item_t *out) {
    int rc = POP_END;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        if (f->count > 0) {
            *out = f->ring[f->head];
            f->head = (f->head + 1) % QUERY_FEED_MAX_SERIES;
            f->count--;
            f->bytes -= out->bytes;
            pthread_cond_broadcast(&f->cv);
            rc = POP_ITEM;
            break;
        }
        if (f->done) break;
        int64_t now = query_now_ms(), until = deadline_ms;
        if (f->frame_timeout_ms > 0 && f->last_recv_ms + f->frame_timeout_ms < until)
            until = f->last_recv_ms + f->frame_timeout_ms;
        if (now >= until) {
            rc = until < deadline_ms ? POP_FRAME_TIMEOUT
                                     : st_errorf(ST_ETIMEDOUT, "query timed out waiting for %s", f->name);
            break;
        }
        struct timespec ts;
        ms_to_timespec(until, &ts);
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* ---- the merge ---- */

struct query_proxy {
    query_t *q;
    query_warnings_t *w;
    bool abort;
    int64_t deadline_ms, limit, emitted;
    feed_t **feeds;
    size_t nfeeds;
    item_t *heads;
    bool *has_head, *ended;
    item_t *taken; /* the items of the series last returned */
    size_t ntaken, taken_cap;
    st_store_chunk_t *out;
    size_t out_cap;
    int state;
};

/* A store failure: a warning, or with partial response off the error.
 * Logged unless it is an unhealthy endpoint (the Info poller logged that). */
static int store_failure(query_proxy_t *p, int code, bool log, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int store_failure(query_proxy_t *p, int code, bool log, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&p->q->m.store_failures, 1);
    if (p->abort) return st_errorf(code < 0 ? code : ST_EIO, "%s", msg);
    if (log) st_log(ST_LOG_WARN, "partial response: a store failed", "err", msg, NULL);
    return query_warnf(p->w, "%s", msg);
}

/* A feed reached its end: its error and its stores' warnings. */
static int feed_ended(query_proxy_t *p, size_t i) {
    feed_t *f = p->feeds[i];
    p->ended[i] = true;
    int rc = ST_OK;
    pthread_mutex_lock(&f->mu);
    int frc = f->rc;
    char *err = f->err ? strdup(f->err) : NULL;
    st_strlist_t sw = {0};
    for (size_t k = 0; k < f->store_warnings.n && !rc; k++) rc = st_strlist_push(&sw, f->store_warnings.v[k]);
    pthread_mutex_unlock(&f->mu);
    if (!rc && frc == ST_ETIMEDOUT && query_now_ms() >= p->deadline_ms)
        rc = st_errorf(ST_ETIMEDOUT, "query timed out waiting for %s", f->name); /* the query's, not the store's */
    else if (!rc && frc < 0)
        rc = store_failure(p, frc, true, "receive series from %s: %s", f->name, err ? err : st_strerror(frc));
    for (size_t k = 0; k < sw.n && !rc; k++) rc = store_failure(p, ST_EIO, true, "%s", sw.v[k]);
    free(err);
    st_strlist_free(&sw);
    return rc;
}

static int fill(query_proxy_t *p, size_t i) {
    if (p->ended[i] || p->has_head[i]) return ST_OK;
    int rc = feed_pop(p->feeds[i], p->deadline_ms, &p->heads[i]);
    if (rc == POP_ITEM) {
        p->has_head[i] = true;
        return ST_OK;
    }
    if (rc == POP_END) return feed_ended(p, i);
    if (rc == POP_FRAME_TIMEOUT) {
        p->ended[i] = true;
        char secs[32];
        snprintf(secs, sizeof secs, "%.3gs", (double)p->q->frame_timeout_ms / 1000);
        return store_failure(p, ST_ETIMEDOUT, true, "failed to receive any data in %s from %s", secs,
                             p->feeds[i]->name);
    }
    return rc;
}

static void release_taken(query_proxy_t *p) {
    for (size_t i = 0; i < p->ntaken; i++) item_free(&p->taken[i]);
    p->ntaken = 0;
}

static int take(query_proxy_t *p, size_t i) {
    if (p->ntaken == p->taken_cap) {
        size_t nc = p->taken_cap ? p->taken_cap * 2 : 8;
        item_t *nv = realloc(p->taken, nc * sizeof *nv);
        if (!nv) return st_errorf(ST_ENOMEM, "merge: %zu equal series", p->ntaken + 1);
        p->taken = nv;
        p->taken_cap = nc;
    }
    p->taken[p->ntaken++] = p->heads[i];
    p->has_head[i] = false;
    return fill(p, i);
}

static int chunk_qcmp(const void *a, const void *b) { return st_dedup_chunk_cmp(a, b); }

int query_proxy_next(query_proxy_t *p, const st_labels_t **lbls, const st_store_chunk_t **chunks, size_t *n) {
    release_taken(p);
    if (p->state <= 0) return p->state;
    if (p->limit > 0 && p->emitted >= p->limit) return p->state = 0;
    int rc = ST_OK;
    for (size_t i = 0; i < p->nfeeds && !rc; i++) rc = fill(p, i);
    if (rc) return p->state = rc;
    size_t min = SIZE_MAX;
    for (size_t i = 0; i < p->nfeeds; i++)
        if (p->has_head[i] && (min == SIZE_MAX || st_labels_cmp(&p->heads[i].lbls, &p->heads[min].lbls) < 0))
            min = i;
    if (min == SIZE_MAX) return p->state = 0;
    if ((rc = take(p, min))) return p->state = rc;
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < p->nfeeds && !rc; i++)
            if (p->has_head[i] && st_labels_equal(&p->heads[i].lbls, &p->taken[0].lbls)) {
                rc = take(p, i);
                more = true;
            }
        if (rc) return p->state = rc;
    }
    size_t total = 0;
    for (size_t i = 0; i < p->ntaken; i++) total += p->taken[i].n;
    if (total > p->out_cap) {
        st_store_chunk_t *nv = realloc(p->out, total * sizeof *nv);
        if (!nv) return p->state = st_errorf(ST_ENOMEM, "merge: %zu chunks", total);
        p->out = nv;
        p->out_cap = total;
    }
    size_t k = 0;
    for (size_t i = 0; i < p->ntaken; i++)
        for (size_t j = 0; j < p->taken[i].n; j++) p->out[k++] = p->taken[i].chunks[j];
    /* Chunks that overlap (several stores, or one store merging replicas
     * it was asked to strip) go in st_dedup_chunk_cmp's order: on equal
     * ranges the fuller chunk first, so the overlap split makes it the
     * replica dedup follows, whichever store sent it. */
    bool disjoint = true;
    for (size_t j = 1; j < k && disjoint; j++) disjoint = p->out[j - 1].maxt < p->out[j].mint;
    if (!disjoint) {
        qsort(p->out, k, sizeof *p->out, chunk_qcmp);
        size_t m = 0;
        for (size_t j = 0; j < k; j++) {
            if (m > 0 && st_dedup_chunk_cmp(&p->out[m - 1], &p->out[j]) == 0 &&
                st_dedup_chunk_identical(&p->out[m - 1], &p->out[j])) {
                atomic_fetch_add(&p->q->m.chunks_dropped_identical, 1);
                continue;
            }
            p->out[m++] = p->out[j];
        }
        k = m;
    }
    if (p->ntaken > 1) atomic_fetch_add(&p->q->m.series_merged, 1);
    p->emitted++;
    *lbls = &p->taken[0].lbls;
    *chunks = p->out;
    *n = k;
    return 1;
}

void query_proxy_free(query_proxy_t *p) {
    if (!p) return;
    release_taken(p);
    for (size_t i = 0; i < p->nfeeds; i++) {
        if (p->has_head[i]) item_free(&p->heads[i]);
        feed_abandon(p->feeds[i]);
    }
    free(p->feeds);
    free(p->heads);
    free(p->has_head);
    free(p->ended);
    free(p->taken);
    free(p->out);
    free(p);
}

/* Start the call and the reader thread of one endpoint. */
static int start_feed(query_proxy_t *p, const query_target_t *t, const query_series_req_t *req) {
    int64_t left = req->deadline_ms - query_now_ms();
    if (left <= 0) return st_errorf(ST_ETIMEDOUT, "query timed out before calling %s", t->name);
    feed_t *f = calloc(1, sizeof *f);
    if (!f || !(f->ring = calloc(QUERY_FEED_MAX_SERIES, sizeof *f->ring))) {
        free(f);
        return st_errorf(ST_ENOMEM, "allocating a feed");
    }
    atomic_init(&f->refs, 1);
    atomic_init(&f->abandoned, false);
    f->q = p->q;
    f->ep = t->ep;
    query_endpoint_ref(t->ep);
    snprintf(f->name, sizeof f->name, "%s", t->name);
    f->frame_timeout_ms = p->q->frame_timeout_ms;
    f->last_recv_ms = query_now_ms();
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    int rc = ST_OK;
    /* a store that strips the replica labels itself sends its stream
     * sorted without them: it is merged as it arrives; any other is read
     * whole, stripped and re-sorted here */
    bool store_strips = req->nstrip && t->strips_replica_labels;
    if (!store_strips)
        for (size_t i = 0; i < req->nstrip && !rc; i++) rc = st_strlist_push(&f->strip, req->strip[i]);
    st_series_request_t sr = {
        .min_time = req->min_time,
        .max_time = req->max_time,
        .matchers = *req->matchers,
        .max_resolution_window = req->max_resolution_window,
        .aggregates = req->aggregates,
        .skip_chunks = req->skip_chunks,
        .partial_response_abort = req->abort_on_error,
        .limit = req->limit,
        .response_batch_size = QUERY_RESPONSE_BATCH,
        /* borrowed: sr is never freed */
        .without_replica_labels = {store_strips ? (char **)req->strip : NULL, store_strips ? req->nstrip : 0},
    };
    atomic_fetch_add(&p->q->m.store_calls, 1);
    if (!rc && (rc = st_series_stream_open(&f->stream, t->ep->client, &sr, left)))
        rc = store_failure(p, rc, true, "fetch series for %s: %s", t->name, st_errdetail(rc));
    if (rc || !f->stream) {
        feed_unref(f);
        return rc;
    }
    /* one reference for the thread, one for the merge */
    atomic_store(&f->refs, 2);
    atomic_fetch_add(&p->q->feeds_live, 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int e = pthread_create(&th, &attr, feed_main, f);
    pthread_attr_destroy(&attr);
    if (e) {
        atomic_fetch_sub(&p->q->feeds_live, 1);
        st_series_stream_free(f->stream);
        f->stream = NULL;
        atomic_store(&f->refs, 1);
        feed_unref(f);
        return st_errorf(ST_ENOMEM, "starting a reader thread for %s: %s", t->name, strerror(e));
    }
    p->feeds[p->nfeeds++] = f;
    return ST_OK;
}

int query_proxy_open(query_t *q, const query_series_req_t *req, query_warnings_t *w, query_proxy_t **out) {
    *out = NULL;
    query_target_t *ts = NULL;
    size_t nts = 0;
    int rc = query_endpoints_snapshot(q->endpoints, &ts, &nts);
    if (rc) return rc;
    query_proxy_t *p = calloc(1, sizeof *p);
    size_t cap = nts ? nts : 1;
    if (p) {
        p->feeds = calloc(cap, sizeof *p->feeds);
        p->heads = calloc(cap, sizeof *p->heads);
        p->has_head = calloc(cap, sizeof *p->has_head);
        p->ended = calloc(cap, sizeof *p->ended);
    }
    if (!p || !p->feeds || !p->heads || !p->has_head || !p->ended) {
        query_proxy_free(p);
        query_targets_free(ts, nts);
        return st_errorf(ST_ENOMEM, "proxy: %zu endpoints", nts);
    }
    p->q = q;
    p->w = w;
    p->abort = req->abort_on_error;
    p->deadline_ms = req->deadline_ms;
    p->limit = req->limit;
    p->state = 1;
    if (nts == 0 && p->abort) rc = st_errorf(ST_EIO, "No StoreAPIs available");
    for (size_t i = 0; i < nts && !rc; i++) {
        const query_target_t *t = &ts[i];
        if (!query_target_matches(t, req->min_time, req->max_time, req->matchers)) continue;
        if (!t->healthy) {
            rc = store_failure(p, ST_EIO, false, "store %s is unhealthy: %s", t->name,
                               t->last_error ? t->last_error : "no Info answer yet");
            continue;
        }
        rc = start_feed(p, t, req);
    }
    query_targets_free(ts, nts);
    if (rc) {
        query_proxy_free(p);
        return rc;
    }
    *out = p;
    return ST_OK;
}
