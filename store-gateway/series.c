/* The StoreAPI of the store gateway (st_storeapi_ops_t).
 *
 * Series: per external label set agreeing with the matchers, the blocks
 * chosen for the request's range and max_resolution_window
 * (store_blocks_for: Thanos's getFor, coarsest allowed resolution first,
 * gaps filled from finer ones) are read one after another: postings, then
 * series entries in batches, keeping the series with a chunk overlapping the
 * range (chunks outside it are dropped, as Thanos does; samples outside it
 * inside a kept chunk are sent). Labels carry the block's external labels.
 * The kept series of all blocks are sorted by those labels (adding
 * external labels can reorder series, so a block's index order is not
 * enough), equal label sets become one series with chunks by mint, and
 * chunks are fetched batch by batch just before the series are sent, so a
 * query holds the labels and chunk metas of what it matches plus one batch
 * of chunk bytes. An XOR chunk goes out as AggrChunk.raw; an AggrChunk of a
 * downsampled block as the requested aggregates only (Thanos's
 * populateChunk: none requested = an empty chunk, a missing one = error). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/log.h"
#include "strata/postings.h"
#include "strata/textfmt.h"

#define SERIES_BATCH 10000      /* series entries decoded per round (Thanos's default) */
#define SEND_BATCH_CHUNKS 20000 /* chunk bytes fetched per sending round */
#define SEND_BATCH_SERIES 2000

typedef struct {
    store_block_t *blk;
    st_labels_t lbls; /* with external labels */
    st_chunk_meta_t *chunks;
    size_t nchunks;
    size_t cbase; /* first slot in the sending round's chunk array */
} entry_t;

typedef struct {
    entry_t *v;
    size_t n, cap;
} entries_t;

static void entries_free(entries_t *e) {
    for (size_t i = 0; i < e->n; i++) {
        st_labels_free(&e->v[i].lbls);
        free(e->v[i].chunks);
    }
    free(e->v);
    memset(e, 0, sizeof *e);
}

static int entries_push(entries_t *e, const entry_t *x) {
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        entry_t *v = realloc(e->v, cap * sizeof *v);
        if (!v) return st_errorf(ST_ENOMEM, "allocating %zu series", cap);
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = *x;
    return ST_OK;
}

static int entry_cmp(const void *x, const void *y) {
    const entry_t *a = x, *b = y;
    int c = st_labels_cmp(&a->lbls, &b->lbls);
    if (c) return c;
    if (a->blk->min_time != b->blk->min_time) return a->blk->min_time < b->blk->min_time ? -1 : 1;
    return st_ulid_cmp(&a->blk->id, &b->blk->id);
}

/* Does the block pass the request hints' block matchers (over its
 * external labels and __block_id)? */
static bool block_matches(const store_block_t *b, const st_matchers_t *bm) {
    for (size_t i = 0; i < bm->n; i++) {
        const st_matcher_t *m = bm->v[i];
        const char *v = "";
        size_t len = 0;
        if (strcmp(st_matcher_name(m), ST_BUCKET_BLOCK_ID_LABEL) == 0) {
            v = b->ulid;
            len = ST_ULID_TEXT_LEN;
        } else {
            const st_label_t *l = st_labels_get(&b->ext, st_matcher_name(m));
            if (l) v = l->value, len = l->value_len;
        }
        if (!st_matcher_matches(m, v, len)) return false;
    }
    return true;
}

/* Blocks grouped by external label set. */
static int block_ext_cmp(const void *x, const void *y) {
    const store_block_t *a = *(store_block_t *const *)x, *b = *(store_block_t *const *)y;
    int c = st_labels_cmp(&a->ext, &b->ext);
    return c ? c : st_ulid_cmp(&a->id, &b->id);
}

/* Blocks overlapping [mint, maxt] (block ranges are [min, max)). */
static bool block_overlaps(const store_block_t *b, int64_t mint, int64_t maxt) {
    return b->min_time <= maxt && b->max_time > mint;
}

/* Keep the chunk metas overlapping [mint, maxt]; returns how many. */
static size_t filter_chunks(st_chunk_meta_t *c, size_t n, int64_t mint, int64_t maxt) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].mint <= maxt && c[i].maxt >= mint) c[k++] = c[i];
    return k;
}

/* The labels a series goes out with: its own plus the external labels
 * ext (the block's, the request's without_replica_labels already taken
 * off), and, as Thanos strips them from the whole set, minus a stored
 * label of such a name (rare: only then a second copy). The entries are
 * sorted afterwards, so the stream is in the order of what is sent. */
static int entry_labels(const st_labels_t *series, const st_labels_t *ext, const st_strlist_t *strip,
                        st_labels_t *out) {
    int rc = st_storeapi_extend_labels(series, ext, out);
    bool stored = false;
    for (size_t k = 0; !rc && k < strip->n && !stored; k++) stored = st_labels_get(out, strip->v[k]) != NULL;
    if (!stored) return rc;
    st_labels_t full = *out;
    rc = st_labels_without(out, &full, (const char *const *)strip->v, strip->n);
    st_labels_free(&full);
    return rc;
}

/* Every series of b matching ms (after external labels were taken out)
 * with a chunk in [mint, maxt]: appended to *e, labelled as entry_labels
 * says with ext (b's external labels without strip). */
static int block_entries(store_block_t *b, const st_matchers_t *ms, int64_t mint, int64_t maxt,
                         const st_labels_t *ext, const st_strlist_t *strip, store_fetch_t *f, entries_t *e) {
    st_postings_t ids = {0};
    store_series_t *ser = NULL;
    int rc = store_block_postings(b, ms, f, &ids);
    if (rc || !ids.n) goto out;
    size_t cap = ids.n < SERIES_BATCH ? ids.n : SERIES_BATCH;
    if (!(ser = calloc(cap, sizeof *ser))) {
        rc = st_errorf(ST_ENOMEM, "allocating %zu series", cap);
        goto out;
    }
    for (size_t off = 0; off < ids.n && !rc; off += cap) {
        size_t n = ids.n - off < cap ? ids.n - off : cap;
        if (f->sink && st_series_sink_cancelled(f->sink)) {
            rc = st_errorf(ST_ECANCELED, "client went away");
            break;
        }
        rc = store_block_series(b, ids.ids + off, n, off + n < ids.n ? ids.ids[off + n] : 0, f, ser);
        for (size_t i = 0; i < n; i++) {
            if (!rc) {
                ser[i].nchunks = filter_chunks(ser[i].chunks, ser[i].nchunks, mint, maxt);
                if (ser[i].nchunks) {
                    entry_t x = {.blk = b, .chunks = ser[i].chunks, .nchunks = ser[i].nchunks};
                    if (!(rc = entry_labels(&ser[i].lbls, ext, strip, &x.lbls))) {
                        if ((rc = entries_push(e, &x)))
                            st_labels_free(&x.lbls);
                        else
                            ser[i].chunks = NULL;
                    }
                }
            }
            store_series_free(&ser[i]);
        }
    }
out:
    free(ser);
    st_postings_free(&ids);
    return rc;
}

static const char *const aggr_names[ST_AGGR_N] = {"raw", "count", "sum", "min", "max", "counter"};

int store_aggr_chunk(const uint8_t *p, size_t len, uint32_t aggregates, st_store_chunk_t *out) {
    st_store_chunk_t all = {0};
    int rc = st_aggr_chunk_decode(p, len, &all);
    if (rc) return rc;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        if (!(aggregates & (1u << a))) continue;
        if (!all.data[a]) return st_errorf(ST_ECORRUPT, "aggregate %s does not exist", aggr_names[a]);
        out->data[a] = all.data[a];
        out->len[a] = all.len[a];
    }
    return ST_OK;
}

/* The entry of e[0..n) whose chunk landed in slot `slot`. */
static const entry_t *slot_owner(const entry_t *e, size_t n, size_t slot) {
    for (size_t i = 0; i < n; i++)
        if (slot >= e[i].cbase && slot < e[i].cbase + e[i].nchunks) return &e[i];
    return NULL;
}

/* A fetched chunk into its slot: XOR data as raw, an AggrChunk as the
 * requested aggregates. Errors name the block and the series. */
static int put_chunk(const entry_t *e, size_t n, const store_chunk_req_t *r, uint32_t aggregates,
                     st_store_chunk_t *slot) {
    if (r->enc != ST_CHUNK_ENC_AGGR) {
        slot->data[ST_AGGR_RAW] = r->data;
        slot->len[ST_AGGR_RAW] = r->len;
        return ST_OK;
    }
    int rc = store_aggr_chunk(r->data, r->len, aggregates, slot);
    if (rc) {
        const entry_t *o = slot_owner(e, n, r->tag);
        st_encbuf_t name;
        st_encbuf_init(&name, 0);
        if (o) st_put_labels_go(&name, &o->lbls);
        st_errwrap(rc, "block %s: series %.*s: chunk ref %llu", o ? o->blk->ulid : "?", name.err ? 0 : (int)name.len,
                   name.err ? "" : (const char *)name.p, (unsigned long long)r->ref);
        st_encbuf_free(&name);
    }
    return rc;
}

/* Fetch the chunk bytes of e[0..n) into cdata (slots from cbase). */
static int fetch_round(entry_t *e, size_t n, uint32_t aggregates, st_store_chunk_t *cdata, store_fetch_t *f,
                       store_bufs_t *bufs) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += e[i].nchunks;
    store_chunk_req_t *reqs = malloc((total ? total : 1) * sizeof *reqs);
    bool *done = calloc(n ? n : 1, sizeof *done);
    int rc = reqs && done ? ST_OK : st_errorf(ST_ENOMEM, "allocating %zu chunk reads", total);
    /* one block at a time, so its reads can be merged */
    for (size_t i = 0; i < n && !rc; i++) {
        if (done[i]) continue;
        store_block_t *b = e[i].blk;
        size_t nr = 0;
        for (size_t j = i; j < n; j++) {
            if (e[j].blk != b) continue;
            done[j] = true;
            for (size_t k = 0; k < e[j].nchunks; k++)
                reqs[nr++] = (store_chunk_req_t){.ref = e[j].chunks[k].ref, .tag = e[j].cbase + k};
        }
        if ((rc = store_block_chunks(b, reqs, nr, f, bufs))) break;
        for (size_t k = 0; k < nr && !rc; k++) rc = put_chunk(e, n, &reqs[k], aggregates, &cdata[reqs[k].tag]);
    }
    free(reqs);
    free(done);
    return rc;
}

static int chunk_mint_cmp(const void *x, const void *y) {
    const st_store_chunk_t *a = x, *b = y;
    if (a->mint != b->mint) return a->mint < b->mint ? -1 : 1;
    return a->maxt < b->maxt ? -1 : a->maxt > b->maxt;
}

/* Send e[0..n) (sorted; runs of equal labels are one series) with the
 * chunk bytes fetched round by round. *stopped: the request's limit was
 * reached. */
static int send_all(store_t *st, const st_series_request_t *req, entry_t *e, size_t n, st_series_sink_t *sink,
                    store_fetch_t *f) {
    st_store_chunk_t *cdata = NULL, *merged = NULL;
    size_t ccap = 0, mcap = 0;
    int rc = ST_OK;
    for (size_t i = 0; i < n && !rc;) {
        /* a round: whole series (runs of equal labels) up to the caps */
        size_t j = i, nch = 0, nser = 0;
        while (j < n && (j == i || (nch < SEND_BATCH_CHUNKS && nser < SEND_BATCH_SERIES))) {
            size_t k = j + 1;
            while (k < n && st_labels_equal(&e[k].lbls, &e[j].lbls)) k++;
            for (size_t x = j; x < k; x++) {
                e[x].cbase = nch;
                nch += e[x].nchunks;
            }
            nser++;
            j = k;
        }
        if (nch > ccap) {
            st_store_chunk_t *v = realloc(cdata, nch * sizeof *v);
            if (!v) {
                rc = st_errorf(ST_ENOMEM, "allocating %zu chunks", nch);
                break;
            }
            cdata = v;
            ccap = nch;
        }
        for (size_t x = i; x < j; x++)
            for (size_t k = 0; k < e[x].nchunks; k++)
                cdata[e[x].cbase + k] = (st_store_chunk_t){.mint = e[x].chunks[k].mint, .maxt = e[x].chunks[k].maxt};
        store_bufs_t bufs = {0};
        if (!req->skip_chunks) rc = fetch_round(e + i, j - i, req->aggregates, cdata, f, &bufs);
        for (size_t x = i; x < j && !rc;) {
            size_t k = x + 1, m = e[x].nchunks;
            while (k < j && st_labels_equal(&e[k].lbls, &e[x].lbls)) m += e[k++].nchunks;
            const st_store_chunk_t *send = cdata + e[x].cbase;
            if (k > x + 1 && !req->skip_chunks) {
                /* one series from several blocks: chunks in mint order */
                if (m > mcap) {
                    st_store_chunk_t *v = realloc(merged, m * sizeof *v);
                    if (!v) {
                        rc = st_errorf(ST_ENOMEM, "allocating %zu chunks", m);
                        break;
                    }
                    merged = v;
                    mcap = m;
                }
                size_t o = 0;
                for (size_t y = x; y < k; y++)
                    for (size_t c = 0; c < e[y].nchunks; c++) merged[o++] = cdata[e[y].cbase + c];
                qsort(merged, m, sizeof *merged, chunk_mint_cmp);
                send = merged;
            }
            rc = st_series_sink_send(sink, &e[x].lbls, req->skip_chunks ? NULL : send, req->skip_chunks ? 0 : m);
            if (rc == 0) {
                atomic_fetch_add(&st->m.series_served, 1);
                if (!req->skip_chunks) atomic_fetch_add(&st->m.chunks_served, m);
            }
            x = k;
        }
        store_bufs_free(&bufs);
        i = j;
    }
    free(cdata);
    free(merged);
    return rc;
}

static int op_series(void *ctx, const st_series_request_t *req, st_series_sink_t *sink) {
    store_t *st = ctx;
    store_block_t **blocks = NULL, **chosen = NULL;
    size_t nblocks = 0;
    entries_t e = {0};
    store_fetch_t f = {sink};
    atomic_fetch_add(&st->m.series_calls, 1);
    int rc = store_snapshot(st, &blocks, &nblocks);
    if (!rc && !(chosen = malloc((nblocks ? nblocks : 1) * sizeof *chosen)))
        rc = st_errorf(ST_ENOMEM, "allocating %zu blocks", nblocks);
    if (!rc) qsort(blocks, nblocks, sizeof *blocks, block_ext_cmp);
    /* per external label set, as Thanos's block sets: the resolution
     * choice fills time gaps only with blocks of the same set */
    for (size_t i = 0, j; i < nblocks && !rc; i = j) {
        for (j = i + 1; j < nblocks && st_labels_equal(&blocks[j]->ext, &blocks[i]->ext); j++) {}
        bool ok;
        st_matchers_t rest;
        st_labels_t ext;
        const st_strlist_t *strip = &req->without_replica_labels;
        if ((rc = st_labels_without(&ext, &blocks[i]->ext, (const char *const *)strip->v, strip->n))) break;
        if ((rc = st_storeapi_match_external(&blocks[i]->ext, &req->matchers, &ok, &rest))) {
            st_labels_free(&ext);
            break;
        }
        size_t nc = 0;
        if (ok)
            rc = store_blocks_for(blocks + i, j - i, req->min_time, req->max_time, req->max_resolution_window, chosen,
                                  &nc);
        for (size_t k = 0; k < nc && !rc; k++) {
            store_block_t *b = chosen[k];
            if (!block_matches(b, &req->block_matchers)) continue;
            rc = st_series_sink_queried_block(sink, b->ulid);
            if (!rc) rc = block_entries(b, &rest, req->min_time, req->max_time, &ext, strip, &f, &e);
        }
        free(rest.v);
        st_labels_free(&ext);
    }
    if (!rc && e.n) {
        qsort(e.v, e.n, sizeof *e.v, entry_cmp);
        rc = send_all(st, req, e.v, e.n, sink, &f);
    }
    if (rc == 1) rc = ST_OK; /* the request's limit: the answer is complete */
    entries_free(&e);
    for (size_t i = 0; i < nblocks; i++) store_block_unref(blocks[i]);
    free(blocks);
    free(chosen);
    if (rc) {
        atomic_fetch_add(&st->m.series_call_failures, 1);
        if (rc == ST_ELIMIT) atomic_fetch_add(&st->m.queries_dropped, 1);
    }
    return rc;
}

/* ---- label names and values ---- */

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sort, drop duplicates, cut to limit (0 = none). */
static void strlist_finish(st_strlist_t *l, int64_t limit) {
    if (!l->n) return;
    qsort(l->v, l->n, sizeof *l->v, str_cmp);
    size_t k = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i], l->v[k - 1]) == 0)
            free(l->v[i]);
        else
            l->v[k++] = l->v[i];
    }
    l->n = k;
    while (limit > 0 && l->n > (uint64_t)limit) free(l->v[--l->n]);
}

/* Call fn for the labels (without external ones) of every series of b
 * matching ms with a chunk in [mint, maxt]. */
typedef int (*series_labels_fn)(void *ctx, const st_labels_t *l);

static int each_series(store_block_t *b, const st_matchers_t *ms, int64_t mint, int64_t maxt, series_labels_fn fn,
                       void *ctx) {
    store_fetch_t f = {NULL};
    st_postings_t ids = {0};
    store_series_t *ser = NULL;
    int rc = store_block_postings(b, ms, &f, &ids);
    size_t cap = ids.n < SERIES_BATCH ? ids.n : SERIES_BATCH;
    if (!rc && ids.n && !(ser = calloc(cap, sizeof *ser))) rc = st_errorf(ST_ENOMEM, "allocating %zu series", cap);
    for (size_t off = 0; off < ids.n && !rc; off += cap) {
        size_t n = ids.n - off < cap ? ids.n - off : cap;
        rc = store_block_series(b, ids.ids + off, n, off + n < ids.n ? ids.ids[off + n] : 0, &f, ser);
        for (size_t i = 0; i < n; i++) {
            if (!rc && filter_chunks(ser[i].chunks, ser[i].nchunks, mint, maxt)) rc = fn(ctx, &ser[i].lbls);
            store_series_free(&ser[i]);
        }
    }
    free(ser);
    st_postings_free(&ids);
    return rc;
}

typedef struct {
    st_strlist_t *out;
    const char *label; /* NULL: names */
    bool any;
} collect_t;

static int collect_labels(void *ctx, const st_labels_t *l) {
    collect_t *c = ctx;
    c->any = true;
    if (c->label) {
        const st_label_t *x = st_labels_get(l, c->label);
        return x ? st_strlist_push(c->out, x->value) : ST_OK;
    }
    for (size_t i = 0; i < l->n; i++) {
        int rc = st_strlist_push(c->out, l->v[i].name);
        if (rc) return rc;
    }
    return ST_OK;
}

/* One block's contribution to LabelNames (label == NULL) or LabelValues. */
static int block_labels(store_block_t *b, const st_label_request_t *req, const st_matchers_t *rest, st_strlist_t *out) {
    const char *label = req->label;
    const st_label_t *ext = label ? st_labels_get(&b->ext, label) : NULL;
    const char **v = NULL;
    size_t n = 0;
    int rc = ST_OK;
    if (!rest->n) {
        /* every series of the block counts: the index-header has the answer */
        if (ext) return st_strlist_push(out, ext->value);
        rc = label ? st_indexheader_label_values(b->ih, label, &v, &n) : st_indexheader_label_names(b->ih, &v, &n);
        for (size_t i = 0; i < n && !rc; i++) rc = st_strlist_push(out, v[i]);
        free(v);
        for (size_t i = 0; !label && i < b->ext.n && !rc; i++) rc = st_strlist_push(out, b->ext.v[i].name);
        return rc;
    }
    collect_t c = {out, ext ? NULL : label, false};
    st_strlist_t scratch = {0};
    if (ext) c.out = &scratch; /* only whether a series matches matters */
    rc = each_series(b, rest, req->start, req->end, collect_labels, &c);
    st_strlist_free(&scratch);
    if (!rc && c.any) {
        if (ext) rc = st_strlist_push(out, ext->value);
        for (size_t i = 0; !label && i < b->ext.n && !rc; i++) rc = st_strlist_push(out, b->ext.v[i].name);
    }
    return rc;
}

static int labels_call(store_t *st, const st_label_request_t *req, st_strlist_t *out) {
    store_block_t **blocks = NULL;
    size_t nblocks = 0;
    memset(out, 0, sizeof *out);
    atomic_fetch_add(&st->m.label_calls, 1);
    int rc = store_snapshot(st, &blocks, &nblocks);
    for (size_t i = 0; i < nblocks && !rc; i++) {
        store_block_t *b = blocks[i];
        if (!block_overlaps(b, req->start, req->end)) continue;
        bool ok;
        st_matchers_t rest;
        if ((rc = st_storeapi_match_external(&b->ext, &req->matchers, &ok, &rest))) break;
        if (ok) rc = block_labels(b, req, &rest, out);
        free(rest.v);
    }
    for (size_t i = 0; i < nblocks; i++) store_block_unref(blocks[i]);
    free(blocks);
    if (rc)
        st_strlist_free(out);
    else
        strlist_finish(out, req->limit);
    return rc;
}

static int op_label_names(void *ctx, const st_label_request_t *req, st_strlist_t *names, st_strlist_t *warnings) {
    memset(warnings, 0, sizeof *warnings);
    return labels_call(ctx, req, names);
}

static int op_label_values(void *ctx, const st_label_request_t *req, st_strlist_t *values, st_strlist_t *warnings) {
    memset(warnings, 0, sizeof *warnings);
    if (!req->label || !*req->label) {
        memset(values, 0, sizeof *values);
        return st_errorf(ST_EINVAL, "label values: no label name given");
    }
    return labels_call(ctx, req, values);
}

/* ---- info ---- */

static int labels_ptr_cmp(const void *a, const void *b) {
    return st_labels_cmp(*(const st_labels_t *const *)a, *(const st_labels_t *const *)b);
}

static int op_info(void *ctx, st_store_info_t *out) {
    store_t *st = ctx;
    store_block_t **blocks = NULL;
    size_t nblocks = 0;
    const st_labels_t **sets = NULL;
    memset(out, 0, sizeof *out);
    out->component = "store";
    out->supports_without_replica_labels = true;
    out->min_time = INT64_MAX;
    out->max_time = INT64_MIN;
    int rc = store_snapshot(st, &blocks, &nblocks);
    if (rc) return rc;
    if (!(sets = malloc((nblocks ? nblocks : 1) * sizeof *sets))) {
        rc = st_errorf(ST_ENOMEM, "info: allocating %zu label sets", nblocks);
        goto out;
    }
    for (size_t i = 0; i < nblocks; i++) {
        sets[i] = &blocks[i]->ext;
        if (blocks[i]->min_time < out->min_time) out->min_time = blocks[i]->min_time;
        if (blocks[i]->max_time > out->max_time) out->max_time = blocks[i]->max_time;
    }
    qsort(sets, nblocks, sizeof *sets, labels_ptr_cmp);
    size_t nd = 0;
    for (size_t i = 0; i < nblocks; i++)
        if (i == 0 || !st_labels_equal(sets[i], sets[nd - 1])) sets[nd++] = sets[i];
    out->label_sets = calloc(nd ? nd : 1, sizeof *out->label_sets);
    out->tsdb_infos = calloc(nd ? nd : 1, sizeof *out->tsdb_infos);
    if (!out->label_sets || !out->tsdb_infos) {
        rc = st_errorf(ST_ENOMEM, "info: allocating %zu label sets", nd);
        goto out;
    }
    for (size_t i = 0; i < nd && !rc; i++) {
        st_tsdb_info_t *t = &out->tsdb_infos[i];
        t->min_time = INT64_MAX;
        t->max_time = INT64_MIN;
        for (size_t k = 0; k < nblocks; k++) {
            if (!st_labels_equal(&blocks[k]->ext, sets[i])) continue;
            if (blocks[k]->min_time < t->min_time) t->min_time = blocks[k]->min_time;
            if (blocks[k]->max_time > t->max_time) t->max_time = blocks[k]->max_time;
        }
        if ((rc = st_labels_copy(&out->label_sets[i], sets[i]))) break;
        out->nlabel_sets++;
        if ((rc = st_labels_copy(&t->labels, sets[i]))) break;
        out->ntsdb_infos++;
    }
    /* a time-partitioned store answers only for its partition */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t lo = store_time_resolve(&st->min_time, now), hi = store_time_resolve(&st->max_time, now);
    if (nblocks && out->min_time < lo) out->min_time = lo;
    if (nblocks && out->max_time > hi) out->max_time = hi;
out:
    free(sets);
    for (size_t i = 0; i < nblocks; i++) store_block_unref(blocks[i]);
    free(blocks);
    return rc;
}

const st_storeapi_ops_t store_ops = {
    .series = op_series,
    .label_names = op_label_names,
    .label_values = op_label_values,
    .info = op_info,
};
