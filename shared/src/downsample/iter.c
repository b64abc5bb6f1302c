/*
 * Reading downsampled series back as Thanos's querier does (pkg/query/iter.go):
 * one aggregate chunk after chunk, skipping what a chunk repeats of the
 * previous one; avg as sum / count window by window (AverageChunkIterator);
 * the counter through ApplyCounterResetsSeriesIterator; everything bounded
 * to [mint, maxt]. A chunk without the aggregate but with raw data is read
 * as raw, as Thanos's getFirstIterator does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "downsample_int.h"
#include "strata/downsample.h"
#include "strata/err.h"

/* ---- ApplyCounterResetsSeriesIterator ---- */

void downsample_acr_init(downsample_acr_t *r, const downsample_bytes_t *chunks, size_t n) {
    memset(r, 0, sizeof *r);
    r->chunks = chunks;
    r->n = n;
}

/* Thanos calls Seek(lastT + 1) when a chunk ends, and that Seek steps with
 * Next, which may end further chunks and seek again: the samples returned
 * meanwhile are dropped until the largest pending target is reached. */
int downsample_acr_next(downsample_acr_t *r, int64_t *t, double *v) {
    for (;;) {
        if (r->i >= r->n) return 0;
        int rc;
        if (!r->in_chunk) {
            if ((rc = st_xor_iter_init(&r->it, r->chunks[r->i].p, r->chunks[r->i].len)))
                return st_errwrap(rc, "counter chunk %zu", r->i);
            r->in_chunk = true;
        }
        if ((rc = st_xor_iter_next(&r->it)) < 0) return st_errwrap(rc, "counter chunk %zu", r->i);
        if (rc == 0) {
            r->i++;
            r->in_chunk = false;
            int64_t to = (int64_t)((uint64_t)r->last_t + 1);
            if (!r->seeking || to > r->seek_to) r->seek_to = to;
            r->seeking = true;
            continue;
        }
        int64_t st;
        double sv;
        st_xor_iter_at(&r->it, &st, &sv);
        if (isnan(sv)) continue;
        if (r->total == 0) {
            r->total_v = sv;
        } else if (st > r->last_t) {
            if (sv >= r->last_v) r->total_v += sv - r->last_v;
            else r->total_v += sv;
        } else {
            /* the boundary sample: the true last raw value */
            if (st == r->last_t) r->last_v = sv;
            continue;
        }
        r->total++;
        r->last_t = st;
        r->last_v = sv;
        if (r->seeking && r->last_t < r->seek_to) continue;
        r->seeking = false;
        *t = r->last_t;
        *v = r->total_v;
        return 1;
    }
}

/* ---- st_aggr_iter ---- */

struct st_aggr_iter {
    st_aggr_read_t what;
    int64_t mint, maxt;
    size_t n;
    downsample_bytes_t *a; /* per chunk: the aggregate read (count for avg), or raw */
    downsample_bytes_t *b; /* avg: per chunk the sum, {NULL, 0} when raw */
    downsample_acr_t acr;
    /* chunk after chunk (not counter) */
    size_t i;
    bool in_chunk, chunk_any;
    st_xor_iter_t ia, ib;
    int64_t chunk_last;
    bool seeking;
    int64_t seek_to;
    bool done;
};

static int aggr_of(st_aggr_read_t w) {
    switch (w) {
    case ST_AGGR_READ_COUNT: return ST_AGGR_COUNT;
    case ST_AGGR_READ_SUM: return ST_AGGR_SUM;
    case ST_AGGR_READ_MIN: return ST_AGGR_MIN;
    case ST_AGGR_READ_MAX: return ST_AGGR_MAX;
    case ST_AGGR_READ_COUNTER: return ST_AGGR_COUNTER;
    case ST_AGGR_READ_AVG: return ST_AGGR_COUNT;
    }
    return -1;
}

int st_aggr_iter_new(st_aggr_iter_t **out, const st_store_chunk_t *chunks, size_t n, st_aggr_read_t what,
                     int64_t mint, int64_t maxt) {
    *out = NULL;
    int a = aggr_of(what);
    if (a < 0) return st_errorf(ST_EINVAL, "aggr iterator: unknown aggregate %d", (int)what);
    st_aggr_iter_t *it = calloc(1, sizeof *it);
    if (!it) return st_errorf(ST_ENOMEM, "aggr iterator: allocation failed");
    it->a = calloc(n ? n : 1, sizeof *it->a);
    it->b = calloc(n ? n : 1, sizeof *it->b);
    if (!it->a || !it->b) {
        st_aggr_iter_free(it);
        return st_errorf(ST_ENOMEM, "aggr iterator: %zu chunks", n);
    }
    it->what = what;
    it->mint = mint;
    it->maxt = maxt;
    it->n = n;
    for (size_t i = 0; i < n; i++) {
        const st_store_chunk_t *c = &chunks[i];
        bool have = c->data[a] && c->len[a] && (what != ST_AGGR_READ_AVG || (c->data[ST_AGGR_SUM] && c->len[ST_AGGR_SUM]));
        if (have) {
            it->a[i] = (downsample_bytes_t){c->data[a], c->len[a]};
            if (what == ST_AGGR_READ_AVG) it->b[i] = (downsample_bytes_t){c->data[ST_AGGR_SUM], c->len[ST_AGGR_SUM]};
        } else if (c->data[ST_AGGR_RAW] && c->len[ST_AGGR_RAW]) {
            it->a[i] = (downsample_bytes_t){c->data[ST_AGGR_RAW], c->len[ST_AGGR_RAW]};
        } else {
            st_aggr_iter_free(it);
            return st_errorf(ST_EINVAL, "aggr iterator: chunk %zu [%lld, %lld] lacks the aggregate(s) read", i,
                             (long long)c->mint, (long long)c->maxt);
        }
    }
    downsample_acr_init(&it->acr, it->a, n);
    *out = it;
    return ST_OK;
}

/* Thanos's chunkSeriesIterator: when chunk i ends, the next one is sought
 * to (chunk i's last sample time) + 1; an empty chunk leaves the target as
 * it was. */
static int chunk_next(st_aggr_iter_t *it, int64_t *t, double *v) {
    for (;;) {
        if (it->i >= it->n) return 0;
        int rc;
        bool avg = it->b[it->i].p != NULL;
        if (!it->in_chunk) {
            if ((rc = st_xor_iter_init(&it->ia, it->a[it->i].p, it->a[it->i].len)) ||
                (avg && (rc = st_xor_iter_init(&it->ib, it->b[it->i].p, it->b[it->i].len))))
                return st_errwrap(rc, "aggregate chunk %zu", it->i);
            it->in_chunk = true;
            it->chunk_any = false;
        }
        if ((rc = st_xor_iter_next(&it->ia)) < 0) return st_errwrap(rc, "aggregate chunk %zu", it->i);
        if (avg) {
            int rb = st_xor_iter_next(&it->ib);
            if (rb < 0) return st_errwrap(rb, "sum chunk %zu", it->i);
            if (rb != rc) return st_errorf(ST_ECORRUPT, "aggr chunk %zu: sum and count not aligned", it->i);
        }
        if (rc == 0) {
            if (it->chunk_any) {
                int64_t to = (int64_t)((uint64_t)it->chunk_last + 1);
                if (!it->seeking || to > it->seek_to) it->seek_to = to;
                it->seeking = true;
            }
            it->i++;
            it->in_chunk = false;
            continue;
        }
        st_xor_iter_at(&it->ia, t, v);
        if (avg) {
            int64_t ts;
            double sum;
            st_xor_iter_at(&it->ib, &ts, &sum);
            if (ts != *t) return st_errorf(ST_ECORRUPT, "aggr chunk %zu: sum and count timestamps not aligned", it->i);
            *v = sum / *v;
        }
        it->chunk_any = true;
        it->chunk_last = *t;
        if (it->seeking && *t < it->seek_to) continue;
        it->seeking = false;
        return 1;
    }
}

int st_aggr_iter_next(st_aggr_iter_t *it, int64_t *t, double *v) {
    while (!it->done) {
        int rc = it->what == ST_AGGR_READ_COUNTER ? downsample_acr_next(&it->acr, t, v) : chunk_next(it, t, v);
        if (rc < 0) {
            it->done = true;
            return st_errwrap(ST_ECORRUPT, "aggr iterator");
        }
        if (rc == 0 || *t > it->maxt) break;
        if (*t >= it->mint) return 1;
    }
    it->done = true;
    return 0;
}

void st_aggr_iter_free(st_aggr_iter_t *it) {
    if (!it) return;
    free(it->a);
    free(it->b);
    free(it);
}
