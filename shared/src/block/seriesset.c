/*
 * Series sets: a block's matching series decoded chunk by chunk, and a
 * k-way merge of such sets by label order (samples merged by time, the
 * first set winning on equal timestamps).
 */
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
} series_set_vt_t;

struct st_series_set {
    const series_set_vt_t *vt;
};

int st_series_set_next(st_series_set_t *s) { return s->vt->next(s); }
const st_labels_t *st_series_set_labels(const st_series_set_t *s) { return s->vt->labels(s); }
int st_series_set_sample(st_series_set_t *s, int64_t *t, double *v) { return s->vt->sample(s, t, v); }
void st_series_set_free(st_series_set_t *s) {
    if (s) s->vt->free(s);
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

static void block_set_free(st_series_set_t *s) {
    block_set_t *bs = (block_set_t *)s;
    st_postings_free(&bs->ids);
    st_labels_free(&bs->lbls);
    free(bs->chunks);
    free(bs);
}

static const series_set_vt_t block_set_vt = {block_set_next, block_set_labels, block_set_sample, block_set_free};

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

static void ops_free(st_series_set_t *s) {
    ops_set_t *o = (ops_set_t *)s;
    o->ops.free(o->ctx);
    free(o);
}

static const series_set_vt_t ops_vt = {ops_next, ops_labels, ops_sample, ops_free};

int st_series_set_new(st_series_set_t **out, const st_series_set_ops_t *ops, void *ctx) {
    *out = NULL;
    ops_set_t *o = malloc(sizeof *o);
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
} merge_set_t;

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
            int rc = st_series_set_sample(ms->sets[i], &ms->peek_t[i], &ms->peek_v[i]);
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
            int rc = st_series_set_sample(ms->sets[i], &ms->peek_t[i], &ms->peek_v[i]);
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

static void merge_free(st_series_set_t *s) {
    merge_set_t *ms = (merge_set_t *)s;
    for (size_t i = 0; i < ms->n; i++) st_series_set_free(ms->sets[i]);
    free(ms->sets);
    free(ms->alive);
    free(ms->cur);
    free(ms->peek_state);
    free(ms->peek_t);
    free(ms->peek_v);
    free(ms);
}

static const series_set_vt_t merge_vt = {merge_next, merge_labels, merge_sample, merge_free};

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
    }
    if (!ms || !ms->sets || !ms->alive || !ms->cur || !ms->peek_state || !ms->peek_t || !ms->peek_v) {
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
