/*
 * Series sets: a block's matching series decoded chunk by chunk, and a
 * k-way merge of such sets by label order (samples merged by time, the
 * first set winning on equal timestamps).
 *
 * Samples are also read in batches (st_series_set_samples): a block set
 * decodes its chunks with st_xor_iter_next_batch straight into the
 * caller's arrays and filters them there; a merge passes the arrays down
 * to the set that alone supplies the next samples. Every batch path yields
 * what the single-sample path would, in the same order.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strata/block.h"
#include "strata/chunkenc.h"
#include "strata/err.h"

typedef struct {
    int (*next)(st_series_set_t *s);
    const st_labels_t *(*labels)(const st_series_set_t *s);
    int (*sample)(st_series_set_t *s, int64_t *t, double *v);
    void (*free)(st_series_set_t *s);
    int (*samples)(st_series_set_t *s, int64_t *t, double *v, size_t cap); /* cap in [1, INT_MAX] */
} series_set_vt_t;

struct st_series_set {
    const series_set_vt_t *vt;
    /* An error a batch met after samples it returned: the single path
     * would have returned those samples first, so the next call gets it. */
    int pending;
};

static int take_pending(st_series_set_t *s) {
    int rc = s->pending;
    s->pending = 0;
    return rc;
}

int st_series_set_next(st_series_set_t *s) { return s->pending ? take_pending(s) : s->vt->next(s); }
const st_labels_t *st_series_set_labels(const st_series_set_t *s) { return s->vt->labels(s); }
int st_series_set_sample(st_series_set_t *s, int64_t *t, double *v) {
    return s->pending ? take_pending(s) : s->vt->sample(s, t, v);
}
int st_series_set_samples(st_series_set_t *s, int64_t *t, double *v, size_t cap) {
    if (cap == 0) return st_errorf(ST_EINVAL, "series set: samples: no room for a sample");
    if (s->pending) return take_pending(s);
    return s->vt->samples(s, t, v, cap < INT_MAX ? cap : INT_MAX);
}
void st_series_set_free(st_series_set_t *s) {
    if (s) s->vt->free(s);
}

/* A batch ends with what a call of the single path returned: a sample
 * (n counts it), the end (n), or an error (returned now only if it is
 * all there is). */
static int batch_end(st_series_set_t *s, size_t n, int rc) {
    if (rc >= 0 || n == 0) return n ? (int)n : rc;
    s->pending = rc;
    return (int)n;
}

/* The single path in a loop, for sets with nothing faster. */
static int loop_samples(st_series_set_t *s, int64_t *t, double *v, size_t cap) {
    size_t n = 0;
    int rc = 0;
    while (n < cap && (rc = s->vt->sample(s, &t[n], &v[n])) == 1) n++;
    return batch_end(s, n, rc == 1 ? 0 : rc);
}

/* ---- one block ---- */

typedef struct {
    st_series_set_t base;
    const st_block_t *b;
    st_postings_t ids;
    size_t pos;
    int64_t mint, maxt; /* closed range: query range clipped to the block's */
    uint32_t id;
    bool tombstoned;
    st_labels_t lbls;
    st_chunk_meta_t *chunks;
    size_t nchunks, ci;
    st_xor_iter_t it;
    bool in_chunk;
} block_set_t;

static int block_set_next(st_series_set_t *s) {
    block_set_t *bs = (block_set_t *)s;
    const st_index_reader_t *ix = st_block_index(bs->b);
    for (;;) {
        st_labels_free(&bs->lbls);
        free(bs->chunks);
        bs->chunks = NULL;
        bs->nchunks = 0;
        if (bs->pos >= bs->ids.n) return 0;
        bs->id = bs->ids.ids[bs->pos++];
        size_t n;
        int rc = st_index_series(ix, bs->id, &bs->lbls, &bs->chunks, &n);
        if (rc) return st_errwrap(rc, "block %s", st_block_dir(bs->b));
        size_t keep = 0;
        for (size_t i = 0; i < n; i++)
            if (bs->chunks[i].maxt >= bs->mint && bs->chunks[i].mint <= bs->maxt) bs->chunks[keep++] = bs->chunks[i];
        if (keep == 0) continue;
        bs->nchunks = keep;
        bs->ci = 0;
        bs->in_chunk = false;
        bs->tombstoned = st_tombstones_has(st_block_tombstones(bs->b), bs->id);
        return 1;
    }
}

static const st_labels_t *block_set_labels(const st_series_set_t *s) { return &((const block_set_t *)s)->lbls; }

static int block_set_sample(st_series_set_t *s, int64_t *t, double *v) {
    block_set_t *bs = (block_set_t *)s;
    for (;;) {
        if (!bs->in_chunk) {
            if (bs->ci >= bs->nchunks) return 0;
            const st_chunk_meta_t *cm = &bs->chunks[bs->ci++];
            uint8_t enc;
            const uint8_t *data;
            size_t len;
            int rc = st_chunk_reader_get(st_block_chunks(bs->b), cm->ref, &enc, &data, &len);
            if (rc) return st_errwrap(rc, "block %s", st_block_dir(bs->b));
            if (enc != ST_CHUNK_ENC_XOR)
                return st_errorf(ST_EUNSUPPORTED, "block %s: series %u: chunk encoding %u is not supported",
                                 st_block_dir(bs->b), bs->id, enc);
            if ((rc = st_xor_iter_init(&bs->it, data, len)) ||
                (cm->mint < bs->mint && (rc = st_xor_iter_seek(&bs->it, bs->mint)) < 0))
                return st_errorf(ST_ECORRUPT, "block %s: chunks: series %u: chunk ref 0x%llx: corrupt XOR data",
                                 st_block_dir(bs->b), bs->id, (unsigned long long)cm->ref);
            bs->in_chunk = true;
            if (cm->mint < bs->mint) {
                if (rc == 0) {
                    bs->in_chunk = false;
                    continue;
                }
                goto have_sample;
            }
        }
        {
            int rc = st_xor_iter_next(&bs->it);
            if (rc < 0)
                return st_errorf(ST_ECORRUPT, "block %s: chunks: series %u: corrupt XOR data in chunk %zu",
                                 st_block_dir(bs->b), bs->id, bs->ci - 1);
            if (rc == 0) {
                bs->in_chunk = false;
                continue;
            }
        }
    have_sample:
        st_xor_iter_at(&bs->it, t, v);
        if (*t > bs->maxt) {
            bs->in_chunk = false;
            bs->ci = bs->nchunks; /* chunks are in time order: nothing later qualifies */
            continue;
        }
        if (*t < bs->mint) continue;
        if (bs->tombstoned && st_tombstones_covers(st_block_tombstones(bs->b), bs->id, *t)) continue;
        return 1;
    }
}

/* Whole runs of the open chunk are decoded into the caller's arrays, then
 * put through block_set_sample's filters in place; chunk boundaries (open,
 * seek to mint) go through block_set_sample itself. The filters run on
 * every sample because a chunk's index bounds are not proof of what its
 * bytes hold. */
static int block_set_samples(st_series_set_t *s, int64_t *t, double *v, size_t cap) {
    block_set_t *bs = (block_set_t *)s;
    const st_tombstones_t *tomb = bs->tombstoned ? st_block_tombstones(bs->b) : NULL;
    size_t n = 0;
    while (n < cap) {
        if (!bs->in_chunk) {
            int rc = block_set_sample(s, &t[n], &v[n]);
            if (rc != 1) return batch_end(s, n, rc);
            n++;
            continue;
        }
        int k = st_xor_iter_next_batch(&bs->it, &t[n], &v[n], (int)(cap - n));
        if (k < 0)
            return batch_end(s, n,
                             st_errorf(ST_ECORRUPT, "block %s: chunks: series %u: corrupt XOR data in chunk %zu",
                                       st_block_dir(bs->b), bs->id, bs->ci - 1));
        if (k == 0) {
            bs->in_chunk = false;
            continue;
        }
        size_t w = n;
        for (size_t j = n; j < n + (size_t)k; j++) {
            if (t[j] > bs->maxt) {
                bs->in_chunk = false;
                bs->ci = bs->nchunks;
                break;
            }
            if (t[j] < bs->mint || (tomb && st_tombstones_covers(tomb, bs->id, t[j]))) continue;
            t[w] = t[j];
            v[w++] = v[j];
        }
        n = w;
    }
    return (int)n;
}

static void block_set_free(st_series_set_t *s) {
    block_set_t *bs = (block_set_t *)s;
    st_postings_free(&bs->ids);
    st_labels_free(&bs->lbls);
    free(bs->chunks);
    free(bs);
}

static const series_set_vt_t block_set_vt = {block_set_next, block_set_labels, block_set_sample, block_set_free,
                                             block_set_samples};

int st_block_select(st_series_set_t **out, const st_block_t *b, const st_matchers_t *ms, int64_t mint,
                    int64_t maxt) {
    *out = NULL;
    block_set_t *bs = calloc(1, sizeof *bs);
    if (!bs) return st_errorf(ST_ENOMEM, "series set: allocation failed");
    bs->base.vt = &block_set_vt;
    bs->b = b;
    const st_meta_t *m = st_block_meta(b);
    bs->mint = mint > m->min_time ? mint : m->min_time;
    bs->maxt = maxt < m->max_time - 1 ? maxt : m->max_time - 1;
    int rc = ST_OK;
    if (bs->mint <= bs->maxt && (rc = st_block_postings(b, ms, &bs->ids))) {
        block_set_free(&bs->base);
        return rc;
    }
    *out = &bs->base;
    return ST_OK;
}

/* ---- callbacks (st_series_set_new) ---- */

typedef struct {
    st_series_set_t base;
    st_series_set_ops_t ops;
    void *ctx;
} ops_set_t;

static int ops_next(st_series_set_t *s) {
    ops_set_t *o = (ops_set_t *)s;
    return o->ops.next(o->ctx);
}

static const st_labels_t *ops_labels(const st_series_set_t *s) {
    const ops_set_t *o = (const ops_set_t *)s;
    return o->ops.labels(o->ctx);
}

static int ops_sample(st_series_set_t *s, int64_t *t, double *v) {
    ops_set_t *o = (ops_set_t *)s;
    return o->ops.sample(o->ctx, t, v);
}

static int ops_samples(st_series_set_t *s, int64_t *t, double *v, size_t cap) {
    ops_set_t *o = (ops_set_t *)s;
    return o->ops.samples ? o->ops.samples(o->ctx, t, v, cap) : loop_samples(s, t, v, cap);
}

static void ops_free(st_series_set_t *s) {
    ops_set_t *o = (ops_set_t *)s;
    o->ops.free(o->ctx);
    free(o);
}

static const series_set_vt_t ops_vt = {ops_next, ops_labels, ops_sample, ops_free, ops_samples};

int st_series_set_new(st_series_set_t **out, const st_series_set_ops_t *ops, void *ctx) {
    *out = NULL;
    ops_set_t *o = calloc(1, sizeof *o);
    if (!o) {
        ops->free(ctx);
        return st_errorf(ST_ENOMEM, "series set: allocation failed");
    }
    o->base.vt = &ops_vt;
    o->ops = *ops;
    o->ctx = ctx;
    *out = &o->base;
    return ST_OK;
}

/* ---- merge ---- */

enum { PEEK_EMPTY, PEEK_HAVE, PEEK_DONE };

/* Most samples a batch takes from one set at a time: what it read past the
 * point where another set's sample comes first waits in a buffer this big. */
#define MERGE_BATCH 256

typedef struct {
    st_series_set_t base;
    st_series_set_t **sets;
    size_t n;
    bool *alive; /* set has a current series */
    bool started;
    size_t *cur; /* indices of the sets whose current series forms the group */
    size_t ncur;
    uint8_t *peek_state;
    int64_t *peek_t;
    double *peek_v;
    /* Blocks rarely overlap: the set that gave the last sample (lead) keeps
     * giving them while its next one comes before every other set's peeked
     * sample (second_t), without a scan of all the sets. second_t is
     * INT64_MIN when some other set's peek is unknown. */
    size_t lead;
    int64_t second_t;
    /* Samples of set buf_set read by a batch but not yet due: they come
     * before that set's further samples (merge_pull). */
    int64_t *buf_t;
    double *buf_v;
    size_t buf_set, buf_pos, buf_len;
} merge_set_t;

static int merge_pull(merge_set_t *ms, size_t i, int64_t *t, double *v) {
    if (ms->buf_pos < ms->buf_len && ms->buf_set == i) {
        *t = ms->buf_t[ms->buf_pos];
        *v = ms->buf_v[ms->buf_pos++];
        return 1;
    }
    return st_series_set_sample(ms->sets[i], t, v);
}

static int merge_next(st_series_set_t *s) {
    merge_set_t *ms = (merge_set_t *)s;
    int rc;
    if (!ms->started) {
        ms->started = true;
        for (size_t i = 0; i < ms->n; i++) {
            if ((rc = st_series_set_next(ms->sets[i])) < 0) return rc;
            ms->alive[i] = rc == 1;
        }
    } else {
        for (size_t k = 0; k < ms->ncur; k++) {
            size_t i = ms->cur[k];
            if ((rc = st_series_set_next(ms->sets[i])) < 0) return rc;
            ms->alive[i] = rc == 1;
        }
    }
    ms->ncur = 0;
    const st_labels_t *min = NULL;
    for (size_t i = 0; i < ms->n; i++) {
        if (!ms->alive[i]) continue;
        const st_labels_t *l = st_series_set_labels(ms->sets[i]);
        int c = min ? st_labels_cmp(l, min) : -1;
        if (c < 0) {
            min = l;
            ms->ncur = 0;
        }
        if (c <= 0) ms->cur[ms->ncur++] = i;
    }
    for (size_t k = 0; k < ms->ncur; k++) ms->peek_state[ms->cur[k]] = PEEK_EMPTY;
    ms->lead = SIZE_MAX;
    ms->second_t = INT64_MIN;
    ms->buf_pos = ms->buf_len = 0;
    return ms->ncur > 0;
}

static const st_labels_t *merge_labels(const st_series_set_t *s) {
    const merge_set_t *ms = (const merge_set_t *)s;
    return st_series_set_labels(ms->sets[ms->cur[0]]);
}

static int merge_sample(st_series_set_t *s, int64_t *t, double *v) {
    merge_set_t *ms = (merge_set_t *)s;
    if (ms->ncur == 1) return st_series_set_sample(ms->sets[ms->cur[0]], t, v);
    if (ms->lead != SIZE_MAX) {
        size_t i = ms->lead;
        if (ms->peek_state[i] == PEEK_EMPTY) {
            int rc = merge_pull(ms, i, &ms->peek_t[i], &ms->peek_v[i]);
            if (rc < 0) return rc;
            ms->peek_state[i] = rc == 1 ? PEEK_HAVE : PEEK_DONE;
        }
        if (ms->peek_state[i] == PEEK_HAVE && ms->peek_t[i] < ms->second_t) {
            *t = ms->peek_t[i];
            *v = ms->peek_v[i];
            ms->peek_state[i] = PEEK_EMPTY;
            return 1;
        }
    }
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < ms->ncur; k++) {
        size_t i = ms->cur[k];
        if (ms->peek_state[i] == PEEK_EMPTY) {
            int rc = merge_pull(ms, i, &ms->peek_t[i], &ms->peek_v[i]);
            if (rc < 0) return rc;
            ms->peek_state[i] = rc == 1 ? PEEK_HAVE : PEEK_DONE;
        }
        if (ms->peek_state[i] == PEEK_HAVE && (best == SIZE_MAX || ms->peek_t[i] < ms->peek_t[best])) best = i;
    }
    if (best == SIZE_MAX) return 0;
    *t = ms->peek_t[best];
    *v = ms->peek_v[best];
    ms->lead = best;
    ms->second_t = INT64_MAX;
    for (size_t k = 0; k < ms->ncur; k++) {
        size_t i = ms->cur[k];
        if (i == best || ms->peek_state[i] != PEEK_HAVE) continue;
        if (ms->peek_t[i] == *t) {
            ms->peek_state[i] = PEEK_EMPTY; /* a duplicate: its next sample is not known yet */
            ms->second_t = INT64_MIN;
        } else if (ms->peek_t[i] < ms->second_t) {
            ms->second_t = ms->peek_t[i];
        }
    }
    ms->peek_state[best] = PEEK_EMPTY;
    return 1;
}

/* While the lead set's samples come before every other set's peeked one
 * (second_t), they pass through the caller's arrays untouched; the first
 * one that does not, and those after it, wait in the buffer for
 * merge_sample, which decides as it would have. */
static int merge_samples(st_series_set_t *s, int64_t *t, double *v, size_t cap) {
    merge_set_t *ms = (merge_set_t *)s;
    if (ms->ncur == 1) return st_series_set_samples(ms->sets[ms->cur[0]], t, v, cap);
    size_t n = 0;
    while (n < cap) {
        size_t i = ms->lead;
        if (i != SIZE_MAX && ms->peek_state[i] == PEEK_EMPTY && ms->second_t != INT64_MIN) {
            if (ms->buf_pos == ms->buf_len) {
                size_t room = cap - n < MERGE_BATCH ? cap - n : MERGE_BATCH;
                int k = st_series_set_samples(ms->sets[i], &t[n], &v[n], room);
                if (k < 0) return batch_end(s, n, k);
                if (k == 0) {
                    ms->peek_state[i] = PEEK_DONE;
                    continue;
                }
                size_t j = 0;
                while (j < (size_t)k && t[n + j] < ms->second_t) j++;
                if (j < (size_t)k) {
                    ms->buf_set = i;
                    ms->buf_pos = 0;
                    ms->buf_len = (size_t)k - j;
                    memcpy(ms->buf_t, &t[n + j], ms->buf_len * sizeof *t);
                    memcpy(ms->buf_v, &v[n + j], ms->buf_len * sizeof *v);
                }
                n += j;
                if (j) continue;
            } else if (ms->buf_set == i && ms->buf_t[ms->buf_pos] < ms->second_t) {
                while (n < cap && ms->buf_pos < ms->buf_len && ms->buf_t[ms->buf_pos] < ms->second_t) {
                    t[n] = ms->buf_t[ms->buf_pos];
                    v[n++] = ms->buf_v[ms->buf_pos++];
                }
                continue;
            }
        }
        int rc = merge_sample(s, &t[n], &v[n]);
        if (rc != 1) return batch_end(s, n, rc);
        n++;
    }
    return (int)n;
}

static void merge_free(st_series_set_t *s) {
    merge_set_t *ms = (merge_set_t *)s;
    for (size_t i = 0; i < ms->n; i++) st_series_set_free(ms->sets[i]);
    free(ms->sets);
    free(ms->alive);
    free(ms->cur);
    free(ms->peek_state);
    free(ms->peek_t);
    free(ms->peek_v);
    free(ms->buf_t);
    free(ms->buf_v);
    free(ms);
}

static const series_set_vt_t merge_vt = {merge_next, merge_labels, merge_sample, merge_free, merge_samples};

int st_series_set_merge(st_series_set_t **out, st_series_set_t **sets, size_t n) {
    *out = NULL;
    merge_set_t *ms = calloc(1, sizeof *ms);
    if (ms) {
        ms->base.vt = &merge_vt;
        ms->n = n;
        ms->sets = malloc((n ? n : 1) * sizeof *ms->sets);
        ms->alive = calloc(n ? n : 1, sizeof *ms->alive);
        ms->cur = malloc((n ? n : 1) * sizeof *ms->cur);
        ms->peek_state = calloc(n ? n : 1, 1);
        ms->peek_t = malloc((n ? n : 1) * sizeof *ms->peek_t);
        ms->peek_v = malloc((n ? n : 1) * sizeof *ms->peek_v);
        ms->buf_t = malloc(MERGE_BATCH * sizeof *ms->buf_t);
        ms->buf_v = malloc(MERGE_BATCH * sizeof *ms->buf_v);
    }
    if (!ms || !ms->sets || !ms->alive || !ms->cur || !ms->peek_state || !ms->peek_t || !ms->peek_v || !ms->buf_t ||
        !ms->buf_v) {
        for (size_t i = 0; i < n; i++) st_series_set_free(sets[i]);
        if (ms) {
            ms->n = 0;
            merge_free(&ms->base);
        }
        return st_errorf(ST_ENOMEM, "series set: allocation failed");
    }
    if (n) memcpy(ms->sets, sets, n * sizeof *sets);
    *out = &ms->base;
    return ST_OK;
}
