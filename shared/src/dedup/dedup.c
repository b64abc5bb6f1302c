/*
 * Samples of one merged series: chunk order, Thanos's overlap split, the
 * time-ordered merge of a replica's chunks, and Thanos's penalty dedup
 * (pkg/dedup/iter.go) with its counter adjustment.
 *
 * A replica is read by a leaf: its chunks (sorted by min time) are opened
 * as they become due and kept in a min-heap by next timestamp, so
 * overlapping chunks interleave and a timestamp already emitted is
 * skipped; samples outside [mint, maxt] are never returned, not even by a
 * seek (Thanos's bounded iterator lets a seek land past maxt). Several
 * replicas are combined pairwise, ((r0 ⊕ r1) ⊕ r2) ..., by dedup nodes
 * that follow Thanos step for step, including its quirks: the value
 * before a switch is the last emitted one, or, on the very first call,
 * replica A's first sample even when B's earlier sample is chosen.
 *
 * A downsampled replica is read by a leaf over st_aggr_iter instead
 * (chunk after chunk, as Thanos's querier reads one aggregate), so the
 * penalty dedup runs unchanged over the aggregate's samples.
 *
 * Timestamps come from stores (untrusted): penalty arithmetic saturates.
 *
 * Batches (st_dedup_samples_next_batch): a lone raw leaf whose one active
 * chunk is the only source of its next samples decodes that chunk in runs
 * into the caller's arrays (leaf_run), applying leaf_next's rules to each
 * sample; every other case loops over the single-sample path.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkenc.h"
#include "strata/dedup.h"
#include "strata/err.h"
#include "strata/satmath.h"

/* ---- chunk order ---- */

int st_dedup_chunk_cmp(const st_store_chunk_t *a, const st_store_chunk_t *b) {
    if (a->mint != b->mint) return a->mint < b->mint ? -1 : 1;
    if (a->maxt != b->maxt) return a->maxt < b->maxt ? -1 : 1;
    for (int k = 0; k < ST_AGGR_N; k++) {
        if (!a->data[k] && !b->data[k]) continue;
        if (!b->data[k]) return -1;
        if (!a->data[k]) return 1;
        int c = st_bytes_cmp((const char *)a->data[k], a->len[k], (const char *)b->data[k], b->len[k]);
        if (c) return c > 0 ? -1 : 1;
    }
    return 0;
}

bool st_dedup_chunk_identical(const st_store_chunk_t *a, const st_store_chunk_t *b) {
    for (int k = 0; k < ST_AGGR_N; k++) {
        if (!a->data[k] != !b->data[k]) return false;
        if (a->data[k] && (a->len[k] != b->len[k] || memcmp(a->data[k], b->data[k], a->len[k]) != 0)) return false;
    }
    return true;
}

int st_dedup_overlap_split(const st_store_chunk_t *chunks, size_t n, st_dedup_replica_t **out, size_t *nout,
                        st_store_chunk_t **storage) {
    *out = NULL;
    *nout = 0;
    *storage = NULL;
    size_t *rep = malloc((n ? n : 1) * sizeof *rep);
    int64_t *last = malloc((n ? n : 1) * sizeof *last); /* max time of each replica's last chunk */
    size_t *fill = calloc(n ? n : 1, sizeof *fill);
    st_dedup_replica_t *r = calloc(n ? n : 1, sizeof *r);
    st_store_chunk_t *st = malloc((n ? n : 1) * sizeof *st);
    if (!rep || !last || !fill || !r || !st) {
        free(rep), free(last), free(fill), free(r), free(st);
        return st_errorf(ST_ENOMEM, "overlap split: %zu chunks", n);
    }
    size_t nrep = 1;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        if (i > 0) {
            while (k < nrep && !(last[k] < chunks[i].mint)) k++;
            if (k == nrep) nrep++;
        }
        rep[i] = k;
        last[k] = chunks[i].maxt;
        r[k].n++;
    }
    size_t off = 0;
    for (size_t k = 0; k < nrep; k++) {
        r[k].chunks = st + off;
        fill[k] = off;
        off += r[k].n;
    }
    for (size_t i = 0; i < n; i++) st[fill[rep[i]]++] = chunks[i];
    free(rep), free(last), free(fill);
    *out = r;
    *nout = nrep;
    *storage = st;
    return ST_OK;
}

bool st_dedup_func_is_counter(const char *f) {
    return f && (strcmp(f, "rate") == 0 || strcmp(f, "irate") == 0 || strcmp(f, "increase") == 0 ||
                 strcmp(f, "resets") == 0);
}

/* ---- leaf: one replica's chunks merged by time ---- */

typedef struct {
    st_xor_iter_t it;
    int64_t t;
    double v;
    size_t idx; /* chunk index: the earlier chunk wins a tie */
} act_t;

typedef struct {
    const st_store_chunk_t *chunks;
    size_t n, next;
    st_aggr_iter_t *aggr; /* downsampled replica: read through it, no heap */
    act_t *heap;
    size_t nheap;
    int64_t mint, maxt;
    int state; /* 1 positioned, 0 exhausted, < 0 error; meaningful once started */
    bool started, counter;
    int64_t t;
    double v;
    double adj; /* counter error adjustment (Thanos's errAdjust) */
} leaf_t;

static bool act_less(const act_t *a, const act_t *b) { return a->t < b->t || (a->t == b->t && a->idx < b->idx); }

static void heap_down(leaf_t *l, size_t i) {
    for (;;) {
        size_t m = i, c = 2 * i + 1;
        if (c < l->nheap && act_less(&l->heap[c], &l->heap[m])) m = c;
        if (c + 1 < l->nheap && act_less(&l->heap[c + 1], &l->heap[m])) m = c + 1;
        if (m == i) return;
        act_t tmp = l->heap[i];
        l->heap[i] = l->heap[m];
        l->heap[m] = tmp;
        i = m;
    }
}

static void heap_up(leaf_t *l, size_t i) {
    while (i > 0 && act_less(&l->heap[i], &l->heap[(i - 1) / 2])) {
        act_t tmp = l->heap[i];
        l->heap[i] = l->heap[(i - 1) / 2];
        l->heap[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

/* Open chunk i at its first sample >= mint and add it to the heap. */
static int activate(leaf_t *l, size_t i) {
    const st_store_chunk_t *c = &l->chunks[i];
    if (c->maxt < l->mint) return ST_OK; /* claims no sample in range */
    if (!c->data[ST_AGGR_RAW])
        return st_errorf(ST_EUNSUPPORTED, "chunk [%lld, %lld] has no raw data (downsampled chunks are not read)",
                         (long long)c->mint, (long long)c->maxt);
    act_t *a = &l->heap[l->nheap];
    int rc = st_xor_iter_init(&a->it, c->data[ST_AGGR_RAW], c->len[ST_AGGR_RAW]);
    if (!rc) rc = st_xor_iter_seek(&a->it, l->mint);
    if (rc < 0) return st_errorf(rc, "chunk [%lld, %lld] of %zu bytes does not decode", (long long)c->mint,
                                 (long long)c->maxt, c->len[ST_AGGR_RAW]);
    if (rc == 0) return ST_OK;
    st_xor_iter_at(&a->it, &a->t, &a->v);
    a->idx = i;
    heap_up(l, l->nheap++);
    return ST_OK;
}

/* Aggregate samples come bounded and in chunk order; a chunk repeating
 * what the previous one covered is skipped by st_aggr_iter, anything else
 * not newer (corrupt input) here, so time still only moves forward. */
static int leaf_next_aggr(leaf_t *l, bool have_last) {
    for (;;) {
        int64_t t;
        double v;
        int rc = st_aggr_iter_next(l->aggr, &t, &v);
        if (rc <= 0) return l->state = rc;
        if (have_last && t <= l->t) continue;
        l->t = t;
        l->v = v;
        return l->state = 1;
    }
}

static int leaf_next(leaf_t *l) {
    if (l->started && l->state <= 0) return l->state;
    bool have_last = l->started;
    l->started = true;
    if (l->aggr) return leaf_next_aggr(l, have_last);
    for (;;) {
        while (l->next < l->n && (l->nheap == 0 || l->chunks[l->next].mint <= l->heap[0].t)) {
            int rc = activate(l, l->next++);
            if (rc) return l->state = rc;
        }
        if (l->nheap == 0) return l->state = 0;
        act_t *top = &l->heap[0];
        int64_t t = top->t;
        double v = top->v;
        int rc = st_xor_iter_next(&top->it);
        if (rc < 0) return l->state = st_errorf(rc, "chunk %zu of a series does not decode", top->idx);
        if (rc > 0) {
            st_xor_iter_at(&top->it, &top->t, &top->v);
        } else {
            l->heap[0] = l->heap[--l->nheap];
        }
        heap_down(l, 0);
        if ((have_last && t <= l->t) || t < l->mint) continue;
        if (t > l->maxt) return l->state = 0;
        l->t = t;
        l->v = v;
        return l->state = 1;
    }
}

/* leaf_next's loop for a leaf with one active chunk, run over a decoded
 * run: the heap top's sample (the candidate) may be taken once the chunk
 * has advanced past it, so the candidate goes to t[0] and the run is
 * decoded behind it, its last sample becoming the new candidate. A sample
 * at or past the next chunk's min time would make leaf_next activate that
 * chunk first: there the run stops and the chunk is decoded again up to
 * that sample (rare: only chunks whose claimed bounds lie, or touch). The
 * leaf has returned a sample (l->t is set); room is in [2, INT_MAX].
 * Returns how many samples went to t[], v[]; l->state tells whether the
 * leaf goes on. */
static size_t leaf_run(leaf_t *l, int64_t *t, double *v, size_t room) {
    act_t *a = &l->heap[0];
    int64_t limit = l->next < l->n ? l->chunks[l->next].mint : INT64_MAX;
    st_xor_iter_t saved = a->it;
    int k = st_xor_iter_next_batch(&a->it, t + 1, v + 1, (int)(room - 1));
    if (k < 0) {
        l->state = st_errorf(k, "chunk %zu of a series does not decode", a->idx);
        return 0;
    }
    t[0] = a->t;
    v[0] = a->v;
    /* taken: the candidate and the run but its last sample (the candidate
     * alone when the chunk ended) */
    size_t taken = k ? (size_t)k : 1, w = 0;
    if (k) {
        a->t = t[k];
        a->v = v[k];
    } else {
        l->nheap = 0;
    }
    for (size_t j = 0; j < taken; j++) {
        if (t[j] >= limit) {
            a->it = saved;
            for (size_t r = 0; r < j; r++) st_xor_iter_next(&a->it); /* decoded fine a moment ago */
            st_xor_iter_at(&a->it, &a->t, &a->v);
            l->nheap = 1;
            return w;
        }
        if (t[j] <= l->t || t[j] < l->mint) continue;
        if (t[j] > l->maxt) {
            l->state = 0;
            return w;
        }
        l->t = t[w] = t[j];
        l->v = v[w] = v[j];
        w++;
    }
    return w;
}

static int leaf_seek(leaf_t *l, int64_t t) {
    if (!l->started) {
        int rc = leaf_next(l);
        if (rc <= 0) return rc;
    }
    if (l->state <= 0) return l->state;
    if (t > l->maxt) return l->state = 0;
    while (l->t < t) {
        int rc = leaf_next(l);
        if (rc <= 0) return rc;
    }
    return 1;
}

static void leaf_adjust(leaf_t *l, double last) {
    if (!l->counter) return;
    double v = l->v + l->adj;
    if (last > v) l->adj += last - v; /* this replica missed the counter's real progress */
}

/* ---- dedup nodes ---- */

typedef struct node node_t;
struct node {
    bool is_leaf;
    leaf_t leaf;
    node_t *a, *b;
    int aval, bval;
    int64_t last_t; /* INT64_MIN: nothing emitted yet */
    node_t *last_iter;
    int64_t pen_a, pen_b;
    bool use_a;
};

static int node_next(node_t *n);

static int64_t node_at_t(const node_t *n) {
    if (n->is_leaf) return n->leaf.t;
    return node_at_t(n->use_a ? n->a : n->b);
}

static void node_at(const node_t *n, int64_t *t, double *v) {
    if (n->is_leaf) {
        *t = n->leaf.t;
        /* Only a counter under dedup is adjusted (as Thanos wraps only
         * those): even + 0.0 would turn -0 into 0 and quiet the stale
         * marker's signalling NaN, which PromQL must see bit for bit. */
        *v = n->leaf.counter ? n->leaf.v + n->leaf.adj : n->leaf.v;
        return;
    }
    node_at(n->last_iter, t, v);
}

static void node_adjust(node_t *n, double last) {
    if (n->is_leaf) {
        leaf_adjust(&n->leaf, last);
        return;
    }
    if (n->aval == 1) node_adjust(n->a, last);
    if (n->bval == 1) node_adjust(n->b, last);
}

/* Thanos's dedupSeriesIterator.Seek: Next until at or past t, so a gap in
 * the chosen replica is never skipped over. */
static int node_seek(node_t *n, int64_t t) {
    if (n->is_leaf) return leaf_seek(&n->leaf, t);
    for (;;) {
        int64_t ts = node_at_t(n);
        if (ts >= t) return n->use_a ? node_seek(n->a, ts) : node_seek(n->b, ts);
        int rc = node_next(n);
        if (rc <= 0) return rc;
    }
}

static int dedup_step(node_t *n) {
    /* nothing comes after the last representable time (the seek target
     * saturates there and would find the same timestamp again) */
    if (n->last_t == INT64_MAX) return 0;
    if (n->aval > 0) n->aval = node_seek(n->a, st_sat_add(st_sat_add(n->last_t, 1), n->pen_a));
    if (n->bval > 0) n->bval = node_seek(n->b, st_sat_add(st_sat_add(n->last_t, 1), n->pen_b));
    if (n->aval < 0) return n->aval;
    if (n->bval < 0) return n->bval;
    if (n->aval == 0) {
        n->use_a = false;
        if (n->bval) {
            n->last_t = node_at_t(n->b);
            n->last_iter = n->b;
            n->pen_b = 0;
        }
        return n->bval;
    }
    if (n->bval == 0) {
        n->use_a = true;
        n->last_t = node_at_t(n->a);
        n->last_iter = n->a;
        n->pen_a = 0;
        return n->aval;
    }
    int64_t ta = node_at_t(n->a), tb = node_at_t(n->b);
    n->use_a = ta <= tb;
    /* The replica not taken may only come back after twice the step just
     * made: a replica is left only for a gap of at least twice its
     * interval, and the other's samples never thicken the output. */
    int64_t chosen = n->use_a ? ta : tb;
    int64_t pen = n->last_t != INT64_MIN ? st_sat_add(st_sat_sub(chosen, n->last_t), st_sat_sub(chosen, n->last_t))
                                         : ST_DEDUP_INITIAL_PENALTY_MS;
    if (n->use_a) {
        n->pen_b = pen;
        n->pen_a = 0;
        n->last_iter = n->a;
    } else {
        n->pen_a = pen;
        n->pen_b = 0;
        n->last_iter = n->b;
    }
    n->last_t = chosen;
    return 1;
}

static int node_next(node_t *n) {
    if (n->is_leaf) return leaf_next(&n->leaf);
    /* the value before this step: what a switch of replica must not undercut */
    bool had = (n->use_a && n->aval == 1) || (!n->use_a && n->bval == 1);
    int64_t lt = 0;
    double last = 0;
    if (had) node_at(n->last_iter, &lt, &last);
    bool was_a = n->use_a;
    int rc = dedup_step(n);
    if (rc >= 0 && had && n->use_a != was_a) node_adjust(n, last);
    return rc;
}

/* ---- the iterator ---- */

struct st_dedup_samples {
    node_t *nodes; /* leaves first, then dedup nodes; root last */
    size_t nnodes;
    act_t *acts;
};

/* what < 0: raw leaves; else st_aggr_iter leaves reading what. */
static int samples_new(st_dedup_samples_t **out, const st_dedup_replica_t *r, size_t n, int64_t mint, int64_t maxt,
                       bool counter, int what) {
    *out = NULL;
    if (n == 0) return st_errorf(ST_EINVAL, "samples: no replica");
    st_dedup_samples_t *s = calloc(1, sizeof *s);
    size_t nchunks = 0;
    for (size_t i = 0; i < n; i++) nchunks += r[i].n;
    if (s) {
        s->nnodes = 2 * n - 1;
        s->nodes = calloc(s->nnodes, sizeof *s->nodes);
        if (what < 0) s->acts = malloc((nchunks ? nchunks : 1) * sizeof *s->acts);
    }
    if (!s || !s->nodes || (what < 0 && !s->acts)) {
        st_dedup_samples_free(s);
        return st_errorf(ST_ENOMEM, "samples: %zu replicas, %zu chunks", n, nchunks);
    }
    act_t *acts = s->acts;
    for (size_t i = 0; i < n; i++) {
        node_t *nd = &s->nodes[i];
        nd->is_leaf = true;
        nd->leaf = (leaf_t){.chunks = r[i].chunks, .n = r[i].n, .heap = acts, .mint = mint, .maxt = maxt,
                            .counter = counter && n > 1};
        if (what < 0) {
            acts += r[i].n;
            continue;
        }
        int rc = st_aggr_iter_new(&nd->leaf.aggr, r[i].chunks, r[i].n, (st_aggr_read_t)what, mint, maxt);
        if (rc) {
            st_dedup_samples_free(s);
            return rc == ST_ENOMEM ? rc : st_errwrap(ST_ECORRUPT, "replica %zu of %zu", i, n);
        }
    }
    node_t *prev = &s->nodes[0];
    for (size_t i = 1; i < n; i++) {
        node_t *d = &s->nodes[n + i - 1];
        d->a = prev;
        d->b = &s->nodes[i];
        d->last_t = INT64_MIN;
        d->last_iter = d->a;
        d->use_a = true;
        d->aval = node_next(d->a);
        d->bval = node_next(d->b);
        prev = d;
    }
    *out = s;
    return ST_OK;
}

int st_dedup_samples_new(st_dedup_samples_t **out, const st_dedup_replica_t *r, size_t n, int64_t mint, int64_t maxt,
                      bool counter) {
    return samples_new(out, r, n, mint, maxt, counter, -1);
}

int st_dedup_samples_new_aggr(st_dedup_samples_t **out, const st_dedup_replica_t *r, size_t n, int64_t mint,
                              int64_t maxt, bool counter, st_aggr_read_t what) {
    if ((int)what < ST_AGGR_READ_COUNT || (int)what > ST_AGGR_READ_AVG)
        return st_errorf(ST_EINVAL, "samples: unknown aggregate read %d", (int)what);
    return samples_new(out, r, n, mint, maxt, counter, (int)what);
}

int st_dedup_samples_next(st_dedup_samples_t *s, int64_t *t, double *v) {
    node_t *root = &s->nodes[s->nnodes - 1];
    int rc = node_next(root);
    if (rc == 1) node_at(root, t, v);
    return rc;
}

int st_dedup_samples_next_batch(st_dedup_samples_t *s, int64_t *t, double *v, size_t cap) {
    if (cap == 0) return st_errorf(ST_EINVAL, "samples: no room for a sample");
    if (cap > INT_MAX) cap = INT_MAX;
    node_t *root = &s->nodes[s->nnodes - 1];
    leaf_t *l = root->is_leaf && !root->leaf.aggr ? &root->leaf : NULL;
    size_t n = 0;
    int rc = 1;
    while (n < cap) {
        if (l && l->started && l->state == 1 && l->nheap == 1 && cap - n >= 2 &&
            l->heap[0].t < (l->next < l->n ? l->chunks[l->next].mint : INT64_MAX) &&
            (l->next == l->n || l->chunks[l->next].mint > l->chunks[l->heap[0].idx].maxt)) {
            n += leaf_run(l, &t[n], &v[n], cap - n);
            if (l->state != 1) {
                rc = l->state;
                break;
            }
            continue;
        }
        if ((rc = st_dedup_samples_next(s, &t[n], &v[n])) != 1) break;
        n++;
    }
    /* an error after samples stays in the leaves and nodes for the next call */
    return n ? (int)n : rc;
}

void st_dedup_samples_free(st_dedup_samples_t *s) {
    if (!s) return;
    for (size_t i = 0; s->nodes && i < s->nnodes; i++)
        if (s->nodes[i].is_leaf) st_aggr_iter_free(s->nodes[i].leaf.aggr);
    free(s->nodes);
    free(s->acts);
    free(s);
}
