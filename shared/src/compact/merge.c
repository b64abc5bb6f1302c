/*
 * merge.c — the merging half of compact.h: n opened blocks become one,
 * streamed series by series.
 *
 *   symbols  the sorted union of the sources' symbol tables (a k-way merge
 *            of the tables, each already sorted), as Prometheus writes it;
 *   series   a k-way merge of the sources' series in label order (each
 *            source walked through its all-postings list, IDs ascending =
 *            label order); equal label sets are one output series;
 *   chunks   of one output series, gathered from every source that has it:
 *            a chunk touched by its block's tombstones or reaching outside
 *            its block's [minTime, maxTime) is decoded and re-encoded
 *            without those samples (one chunk, as Prometheus rewrites it);
 *            then all are sorted by (min time, max time, source) and cut
 *            into runs of transitively overlapping chunks. A run of one
 *            chunk is copied byte for byte; byte-identical chunks of a run
 *            (a block uploaded twice) count once; any other run is decoded
 *            and merged, then re-cut into XOR chunks of at most
 *            ST_SAMPLES_PER_CHUNK samples. Only XOR chunks are decoded:
 *            other encodings (AggrChunks) are copied or refused.
 *
 * Merging a run. Without penalty_dedup, one replica: a merge by time where
 * the earlier chunk wins a tie (dedup.h). With it, the run's chunks are
 * dealt into replicas by Thanos's overlap split and gap-filled offline:
 *   - the primary is the replica with the earliest first sample (ties: the
 *     first), the one Thanos's penalty algorithm would start with; its
 *     interval I is the median of its sample deltas in the run (fewer than
 *     2 samples: the first other replica's that has 2);
 *   - the output is the primary's samples; then each other replica in
 *     order adds its samples inside the output's gaps (two samples more
 *     than 2*I apart, before the first, after the last), strictly inside
 *     and at least I/2 from both ends, so a gap is filled and the output
 *     is never thicker than one replica; a later replica fills only what
 *     the earlier ones left. Samples are copied bit for bit.
 * Thanos's streaming penalty (switch to another replica only after twice
 * the last interval) is what a querier can do without look-ahead; here the
 * whole run is in hand, and that penalty loses up to two samples of the
 * other replica at every switch — from the long-term copy, for good.
 *
 * Memory: per source its all-postings list (4 bytes per series), the
 * current and previous series' labels and chunk metas; per output series
 * its chunk list and re-encoded chunk bytes, reused from series to
 * series. The index writer underneath keeps the symbols and every postings
 * list until it closes; nothing else grows with the number of series.
 * Index entries and chunk bytes are read from the sources' mappings, whose
 * pages count in the resident set once touched: they are given back
 * (RELEASE_BYTES) as the merge moves on, so RSS does not grow with the
 * size of the sources either.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "strata/bucket.h"
#include "strata/chunkenc.h"
#include "strata/compact.h"
#include "strata/dedup.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/textfmt.h"

#define THANOS_SOURCE_COMPACTOR "compactor"
/* The sources' mapped pages are released after this many chunk bytes, or
 * RELEASE_SERIES source series (their index entries), have been read. */
#define RELEASE_BYTES ((uint64_t)16 << 20)
#define RELEASE_SERIES 16384

/* ---- a heap of source positions ---- */

typedef struct {
    size_t *v;
    size_t n;
    int (*cmp)(const void *ctx, size_t a, size_t b);
    const void *ctx;
} heap_t;

/* Ties go to the lower source index, so equal keys pop in source order. */
static bool heap_less(const heap_t *h, size_t a, size_t b) {
    int c = h->cmp(h->ctx, a, b);
    return c < 0 || (c == 0 && a < b);
}

static void heap_down(heap_t *h, size_t i) {
    for (;;) {
        size_t m = i, c = 2 * i + 1;
        if (c < h->n && heap_less(h, h->v[c], h->v[m])) m = c;
        if (c + 1 < h->n && heap_less(h, h->v[c + 1], h->v[m])) m = c + 1;
        if (m == i) return;
        size_t t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
}

static void heap_push(heap_t *h, size_t x) {
    size_t i = h->n++;
    h->v[i] = x;
    while (i > 0 && heap_less(h, h->v[i], h->v[(i - 1) / 2])) {
        size_t p = (i - 1) / 2, t = h->v[i];
        h->v[i] = h->v[p];
        h->v[p] = t;
        i = p;
    }
}

static size_t heap_pop(heap_t *h) {
    size_t top = h->v[0];
    h->v[0] = h->v[--h->n];
    heap_down(h, 0);
    return top;
}

/* ---- sources ---- */

typedef struct {
    const char *name;
    const st_index_reader_t *ix;
    const st_chunk_reader_t *cr;
    const st_tombstones_t *tomb;
    int64_t mint, maxt; /* the block's [minTime, maxTime) */
    /* symbol merge */
    size_t nsym, sym_pos;
    const char *sym;
    size_t sym_len;
    /* series merge */
    st_postings_t all;
    size_t pos;
    uint32_t id;
    st_labels_t lbls, prev;
    st_chunk_meta_t *cms;
    size_t ncm;
} src_t;

static int sym_cmp(const void *ctx, size_t a, size_t b) {
    const src_t *s = ctx;
    return st_bytes_cmp(s[a].sym, s[a].sym_len, s[b].sym, s[b].sym_len);
}

static int series_cmp(const void *ctx, size_t a, size_t b) {
    const src_t *s = ctx;
    return st_labels_cmp(&s[a].lbls, &s[b].lbls);
}

/* {a="b"} of a series for messages (truncated to fit). */
static const char *fmt_labels(const st_labels_t *l, char *out, size_t cap) {
    st_encbuf_t b;
    st_encbuf_init(&b, 4096);
    st_put_labels_go(&b, l);
    snprintf(out, cap, "%.*s", (int)(b.err ? 0 : b.len), b.p ? (const char *)b.p : "");
    st_encbuf_free(&b);
    return out;
}

/* Next symbol of s: 1 = s->sym set, 0 = table done. */
static int sym_next(src_t *s) {
    if (s->sym_pos == s->nsym) return 0;
    const char *p;
    size_t len;
    int rc = st_index_symbol(s->ix, (uint32_t)s->sym_pos, &p, &len);
    if (rc) return st_errwrap(rc, "block %s", s->name);
    if (s->sym_pos > 0 && st_bytes_cmp(s->sym, s->sym_len, p, len) >= 0)
        return st_errorf(ST_ECORRUPT, "block %s: index: symbol %zu is not after the previous one", s->name,
                         s->sym_pos);
    s->sym = p;
    s->sym_len = len;
    s->sym_pos++;
    return 1;
}

static int write_symbols(src_t *srcs, size_t n, size_t *hv, st_block_writer_t *w) {
    heap_t h = {.v = hv, .cmp = sym_cmp, .ctx = srcs};
    int rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = sym_next(&srcs[i])) < 0) return rc;
        if (rc) heap_push(&h, i);
    }
    const char *last = NULL;
    size_t last_len = 0;
    while (h.n) {
        src_t *s = &srcs[h.v[0]];
        if (!last || st_bytes_cmp(last, last_len, s->sym, s->sym_len) != 0) {
            if ((rc = st_block_writer_add_symbol(w, s->sym, s->sym_len))) return rc;
            last = s->sym; /* borrowed from the mapping, which outlives the merge */
            last_len = s->sym_len;
        }
        if ((rc = sym_next(s)) < 0) return rc;
        if (rc) heap_down(&h, 0);
        else heap_pop(&h);
    }
    return ST_OK;
}

/* Next series of s: 1 = lbls/cms set, 0 = done. */
static int series_next(src_t *s) {
    st_labels_free(&s->prev);
    s->prev = s->lbls;
    memset(&s->lbls, 0, sizeof s->lbls);
    free(s->cms);
    s->cms = NULL;
    s->ncm = 0;
    if (s->pos == s->all.n) return 0;
    s->id = s->all.ids[s->pos++];
    int rc = st_index_series(s->ix, s->id, &s->lbls, &s->cms, &s->ncm);
    if (rc) return st_errwrap(rc, "block %s", s->name);
    if (s->prev.v && st_labels_cmp(&s->prev, &s->lbls) >= 0) {
        char ls[200];
        return st_errorf(ST_ECORRUPT, "block %s: index: series %u %s is not after the previous series", s->name,
                         s->id, fmt_labels(&s->lbls, ls, sizeof ls));
    }
    return 1;
}

/* ---- one output series ---- */

typedef struct {
    int64_t mint, maxt;
    uint8_t enc;
    const uint8_t *data;
    size_t len;
    size_t src, seq;
    uint64_t nsamples;
    bool touched; /* rewritten without deleted samples: data is ours */
    bool dropped; /* a byte-identical copy of an earlier chunk of its run */
} item_t;

typedef struct {
    const st_compact_opts_t *opts;
    st_compact_stats_t *stats;
    src_t *srcs;
    const st_labels_t *lbls;
    char lstr[200]; /* lbls for messages, formatted on the first error */
    item_t *items;
    size_t nitems, items_cap;
    st_chunk_t *out;
    size_t nout, out_cap;
    int64_t *out_crc; /* per out chunk: its stored CRC32C if copied unchanged, else ST_CHUNK_CRC_UNKNOWN */
    size_t out_crc_cap;
    uint64_t out_samples;
    uint8_t **owned; /* re-encoded chunk bytes of this series */
    size_t nowned, owned_cap;
    st_store_chunk_t *run;
    size_t run_cap;
    st_xor_appender_t app;
    bool app_on;
    uint64_t mapped_bytes, mapped_series; /* read from the mappings since the last release */
} series_t;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return ST_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return st_errorf(ST_ENOMEM, "compact: allocating %zu entries of %zu bytes", c, elem);
    *p = q;
    *cap = c;
    return ST_OK;
}

static const char *lname(series_t *s) {
    return s->lstr[0] ? s->lstr : fmt_labels(s->lbls, s->lstr, sizeof s->lstr);
}

static void series_reset(series_t *s) {
    for (size_t i = 0; i < s->nowned; i++) free(s->owned[i]);
    s->nowned = s->nitems = s->nout = 0;
    s->out_samples = 0;
    if (s->app_on) st_xor_appender_free(&s->app);
    s->app_on = false;
}

static int app_start(series_t *s) {
    int rc = st_xor_appender_init(&s->app);
    if (!rc) s->app_on = true;
    return rc;
}

/* Take the appender's bytes (the series keeps them until it is written)
 * and start an empty one. */
static int app_take(series_t *s, const uint8_t **data, size_t *len) {
    int rc = grow((void **)&s->owned, &s->owned_cap, s->nowned + 1, sizeof *s->owned);
    if (rc) return rc;
    *data = st_xor_bytes(&s->app, len);
    s->owned[s->nowned++] = s->app.buf;
    s->app.buf = NULL;
    s->app_on = false;
    return app_start(s);
}

/* The deleted intervals of series id in s: tomb->v[*lo..*hi). */
static void stones(const src_t *s, uint32_t id, size_t *lo, size_t *hi) {
    const st_tombstones_t *t = s->tomb;
    size_t a = 0, b = t ? t->n : 0;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (t->v[m].series_id < id) a = m + 1;
        else b = m;
    }
    *lo = *hi = a;
    while (*hi < (t ? t->n : 0) && t->v[*hi].series_id == id) (*hi)++;
}

static bool hits(const src_t *s, size_t lo, size_t hi, int64_t mint, int64_t maxt) {
    for (size_t k = lo; k < hi; k++)
        if (s->tomb->v[k].mint <= maxt && s->tomb->v[k].maxt >= mint) return true;
    return false;
}

/* Re-encode XOR chunk it (of source s) without the samples outside the
 * block range or inside the series' deleted intervals [lo, hi). */
static int rewrite(series_t *s, const src_t *src, size_t lo, size_t hi, item_t *it) {
    st_xor_iter_t x;
    int rc = st_xor_iter_init(&x, it->data, it->len);
    uint64_t kept = 0;
    int64_t first = 0, last = 0;
    size_t k = lo;
    for (; rc == 0 && (rc = st_xor_iter_next(&x)) == 1; rc = 0) {
        int64_t t;
        double v;
        st_xor_iter_at(&x, &t, &v);
        if (t < src->mint || t >= src->maxt) continue;
        while (k < hi && src->tomb->v[k].maxt < t) k++;
        if (k < hi && src->tomb->v[k].mint <= t) continue;
        if ((rc = st_xor_append(&s->app, t, v)) == ST_EINVAL) rc = ST_ECORRUPT; /* time went backwards */
        if (rc) break;
        if (!kept++) first = t;
        last = t;
    }
    if (rc < 0)
        return st_errwrap(rc, "block %s: series %s: chunk [%lld, %lld]", src->name, lname(s), (long long)it->mint,
                          (long long)it->maxt);
    s->stats->chunks_reencoded++;
    it->touched = true;
    it->nsamples = kept;
    if (!kept) {
        it->len = 0;
        return ST_OK;
    }
    it->mint = first;
    it->maxt = last;
    it->enc = ST_CHUNK_ENC_XOR;
    return app_take(s, &it->data, &it->len);
}

static uint64_t chunk_samples(uint8_t enc, const uint8_t *data, size_t len, int *rc) {
    *rc = ST_OK;
    if (enc == ST_CHUNK_ENC_AGGR) {
        st_store_chunk_t c;
        memset(&c, 0, sizeof c);
        if ((*rc = st_aggr_chunk_decode(data, len, &c))) return 0;
        return c.data[ST_AGGR_COUNT] ? (uint64_t)st_xor_num_samples(c.data[ST_AGGR_COUNT], c.len[ST_AGGR_COUNT]) : 0;
    }
    /* XOR and Prometheus's other encodings open with a be16 sample count */
    int n = st_xor_num_samples(data, len);
    if (n < 0) *rc = st_errorf(ST_ECORRUPT, "chunk of %zu bytes has no sample count", len);
    return n < 0 ? 0 : (uint64_t)n;
}

/* The chunks of source si's current series into s->items. */
static int gather(series_t *s, size_t si) {
    src_t *src = &s->srcs[si];
    size_t lo, hi;
    stones(src, src->id, &lo, &hi);
    int rc = grow((void **)&s->items, &s->items_cap, s->nitems + src->ncm, sizeof *s->items);
    if (rc) return rc;
    for (size_t c = 0; c < src->ncm; c++) {
        const st_chunk_meta_t *cm = &src->cms[c];
        item_t *it = &s->items[s->nitems];
        memset(it, 0, sizeof *it);
        it->mint = cm->mint;
        it->maxt = cm->maxt;
        it->src = si;
        it->seq = s->nitems;
        if (cm->mint > cm->maxt)
            return st_errorf(ST_ECORRUPT, "block %s: series %s: chunk %zu has minTime %lld > maxTime %lld", src->name,
                             lname(s), c, (long long)cm->mint, (long long)cm->maxt);
        if ((rc = st_chunk_reader_get(src->cr, cm->ref, &it->enc, &it->data, &it->len)))
            return st_errwrap(rc, "block %s: series %s", src->name, lname(s));
        it->nsamples = chunk_samples(it->enc, it->data, it->len, &rc);
        if (rc)
            return st_errwrap(rc, "block %s: series %s: chunk ref 0x%llx", src->name, lname(s),
                              (unsigned long long)cm->ref);
        s->stats->chunks_in++;
        s->stats->samples_in += it->nsamples;
        s->mapped_bytes += it->len;
        if (it->enc != ST_CHUNK_ENC_XOR) {
            /* Not decodable here: it cannot be trimmed to its block's range
             * (a chunk ending on maxTime is tolerated, as Thanos does), and
             * is kept as is unless a deletion covers part of it. */
            if (it->mint < src->mint || it->maxt > src->maxt)
                return st_errorf(ST_ECORRUPT, "block %s: series %s: chunk [%lld, %lld] of encoding 0x%02x is outside "
                                 "the block range [%lld, %lld)", src->name, lname(s), (long long)it->mint,
                                 (long long)it->maxt, it->enc, (long long)src->mint, (long long)src->maxt);
            if (!hits(src, lo, hi, it->mint, it->maxt)) {
                s->nitems++;
                continue;
            }
            bool whole = false;
            for (size_t k = lo; k < hi && !whole; k++)
                whole = src->tomb->v[k].mint <= it->mint && src->tomb->v[k].maxt >= it->maxt;
            if (!whole)
                return st_errorf(ST_EUNSUPPORTED,
                                 "block %s: series %s: chunk [%lld, %lld] of encoding 0x%02x is partly deleted by "
                                 "tombstones; only XOR chunks can be rewritten",
                                 src->name, lname(s), (long long)it->mint, (long long)it->maxt, it->enc);
            s->stats->chunks_reencoded++;
            continue;
        }
        if (it->mint < src->mint || it->maxt >= src->maxt || hits(src, lo, hi, it->mint, it->maxt)) {
            if (!s->app_on && (rc = app_start(s))) return rc;
            if ((rc = rewrite(s, src, lo, hi, it))) return rc;
            if (!it->len) continue;
        }
        s->nitems++;
    }
    return ST_OK;
}

static int item_cmp(const void *x, const void *y) {
    const item_t *a = x, *b = y;
    if (a->mint != b->mint) return a->mint < b->mint ? -1 : 1;
    if (a->maxt != b->maxt) return a->maxt < b->maxt ? -1 : 1;
    if (a->src != b->src) return a->src < b->src ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int emit(series_t *s, int64_t mint, int64_t maxt, uint8_t enc, const uint8_t *data, size_t len,
                uint64_t nsamples) {
    int rc = grow((void **)&s->out, &s->out_cap, s->nout + 1, sizeof *s->out);
    if (!rc) rc = grow((void **)&s->out_crc, &s->out_crc_cap, s->nout + 1, sizeof *s->out_crc);
    if (rc) return rc;
    s->out_crc[s->nout] = ST_CHUNK_CRC_UNKNOWN;
    s->out[s->nout++] = (st_chunk_t){.mint = mint, .maxt = maxt, .encoding = enc, .data = data, .len = len};
    s->out_samples += nsamples;
    return ST_OK;
}

static bool same_chunk(const item_t *a, const item_t *b) {
    return !a->touched && !b->touched && a->mint == b->mint && a->maxt == b->maxt && a->enc == b->enc &&
           a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* ---- penalty mode: the offline gap fill ---- */

typedef struct {
    int64_t t;
    double v;
} smp_t;

typedef struct {
    smp_t *v;
    size_t n, cap;
} smps_t;

/* The samples of one replica of the overlap split (its chunks do not
 * overlap and are sorted, so they come in time order); a sample not after
 * the previous one or outside the run's [mint, maxt] (only in a corrupt
 * chunk) is dropped. */
static int decode_replica(const st_dedup_replica_t *r, int64_t mint, int64_t maxt, smps_t *out) {
    out->n = 0;
    for (size_t c = 0; c < r->n; c++) {
        const uint8_t *data = r->chunks[c].data[ST_AGGR_RAW];
        size_t len = r->chunks[c].len[ST_AGGR_RAW];
        int ns = st_xor_num_samples(data, len);
        if (ns < 0) return st_errorf(ST_ECORRUPT, "chunk [%lld, %lld] of %zu bytes has no sample count",
                                     (long long)r->chunks[c].mint, (long long)r->chunks[c].maxt, len);
        int rc = grow((void **)&out->v, &out->cap, out->n + (size_t)ns, sizeof *out->v);
        st_xor_iter_t x;
        if (rc || (rc = st_xor_iter_init(&x, data, len))) return rc;
        while ((rc = st_xor_iter_next(&x)) == 1) {
            smp_t p;
            st_xor_iter_at(&x, &p.t, &p.v);
            if (p.t < mint || p.t > maxt || (out->n && p.t <= out->v[out->n - 1].t)) continue;
            if ((rc = grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v))) return rc;
            out->v[out->n++] = p;
        }
        if (rc < 0)
            return st_errwrap(rc, "chunk [%lld, %lld]", (long long)r->chunks[c].mint, (long long)r->chunks[c].maxt);
    }
    return ST_OK;
}

/* b - a for a <= b, without signed overflow on untrusted timestamps. */
static uint64_t tdiff(int64_t a, int64_t b) { return (uint64_t)b - (uint64_t)a; }

static int u64_cmp(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The median of r's sample intervals into *iv (r has >= 2 samples). */
static int median_interval(const smps_t *r, uint64_t *iv) {
    uint64_t *d = malloc((r->n - 1) * sizeof *d);
    if (!d) return st_errorf(ST_ENOMEM, "compact: intervals of %zu samples", r->n);
    for (size_t k = 1; k < r->n; k++) d[k - 1] = tdiff(r->v[k - 1].t, r->v[k].t);
    qsort(d, r->n - 1, sizeof *d, u64_cmp);
    *iv = d[(r->n - 1) / 2];
    free(d);
    return ST_OK;
}

/* out = have plus the samples of r inside have's gaps: between two samples
 * of have more than 2*iv apart, before its first and after its last one,
 * each at least iv/2 from the samples of have around it. */
static int fill_gaps(const smps_t *have, const smps_t *r, uint64_t iv, smps_t *out) {
    int rc = grow((void **)&out->v, &out->cap, have->n + r->n, sizeof *out->v);
    if (rc) return rc;
    uint64_t half = iv / 2 + iv % 2; /* 2*d >= iv <=> d >= ceil(iv/2) */
    size_t j = 0;
    out->n = 0;
    for (size_t k = 0; k <= have->n; k++) {
        const smp_t *lo = k ? &have->v[k - 1] : NULL, *hi = k < have->n ? &have->v[k] : NULL;
        bool gap = !lo || !hi || (tdiff(lo->t, hi->t) > iv && tdiff(lo->t, hi->t) - iv > iv);
        for (; j < r->n && (!hi || r->v[j].t < hi->t); j++) {
            int64_t t = r->v[j].t;
            if (gap && (!lo || (t > lo->t && tdiff(lo->t, t) >= half)) && (!hi || tdiff(t, hi->t) >= half))
                out->v[out->n++] = r->v[j];
        }
        if (hi) out->v[out->n++] = *hi;
    }
    return ST_OK;
}

/* The run's samples from its replicas, gap-filled (see the file comment)
 * into *res (its array is the caller's to free); reps[nrep] (>= 1) as the
 * overlap split deals them, bounded to [mint, maxt]. */
static int gap_fill(const st_dedup_replica_t *reps, size_t nrep, int64_t mint, int64_t maxt, smps_t *res) {
    smps_t *r = calloc(nrep, sizeof *r), tmp = {0};
    int rc = r ? ST_OK : st_errorf(ST_ENOMEM, "compact: %zu replicas", nrep);
    size_t p = 0;
    for (size_t i = 0; !rc && i < nrep; i++) {
        if ((rc = decode_replica(&reps[i], mint, maxt, &r[i]))) break;
        if (r[i].n && (!r[p].n || r[i].v[0].t < r[p].v[0].t)) p = i;
    }
    if (rc) goto out;
    uint64_t iv = 0;
    for (size_t i = 0; i <= nrep; i++) {
        const smps_t *c = i == 0 ? &r[p] : &r[i - 1];
        if (c->n >= 2) {
            rc = median_interval(c, &iv);
            break;
        }
    }
    if (rc) goto out;
    res->n = 0;
    if ((rc = grow((void **)&res->v, &res->cap, r[p].n, sizeof *res->v))) goto out;
    if (r[p].n) memcpy(res->v, r[p].v, r[p].n * sizeof *res->v);
    res->n = r[p].n;
    for (size_t i = 0; i < nrep; i++) {
        if (i == p || !r[i].n) continue;
        if ((rc = fill_gaps(res, &r[i], iv, &tmp))) goto out;
        smps_t x = *res;
        *res = tmp;
        tmp = x;
    }
out:
    for (size_t i = 0; r && i < nrep; i++) free(r[i].v);
    free(r);
    free(tmp.v);
    return rc;
}

/* Append (t, v) to the run's output (times strictly increasing); a full
 * chunk is emitted first. *first = the time of the open chunk's first sample. */
static int put(series_t *s, int64_t t, double v, int64_t *first) {
    int rc;
    if (s->app.num == ST_SAMPLES_PER_CHUNK) {
        int64_t last = s->app.t;
        const uint8_t *data;
        size_t len;
        if ((rc = app_take(s, &data, &len)) ||
            (rc = emit(s, *first, last, ST_CHUNK_ENC_XOR, data, len, ST_SAMPLES_PER_CHUNK)))
            return rc;
    }
    if (s->app.num == 0) *first = t;
    return st_xor_append(&s->app, t, v);
}

/* Emit the open chunk, if it holds samples. */
static int flush(series_t *s, int64_t first) {
    if (!s->app.num) return ST_OK;
    int64_t last = s->app.t;
    uint64_t ns = s->app.num;
    const uint8_t *data;
    size_t len;
    int rc = app_take(s, &data, &len);
    return rc ? rc : emit(s, first, last, ST_CHUNK_ENC_XOR, data, len, ns);
}

/* Decode, merge and re-cut the run items[i..j) (>= 2 kept chunks, all XOR). */
static int merge_run(series_t *s, size_t i, size_t j, int64_t mint, int64_t maxt) {
    size_t n = 0;
    uint64_t in = 0;
    int rc = grow((void **)&s->run, &s->run_cap, j - i, sizeof *s->run);
    if (rc) return rc;
    for (size_t k = i; k < j; k++) {
        const item_t *it = &s->items[k];
        if (it->dropped) continue;
        st_store_chunk_t *c = &s->run[n++];
        memset(c, 0, sizeof *c);
        c->mint = it->mint;
        c->maxt = it->maxt;
        c->data[ST_AGGR_RAW] = it->data;
        c->len[ST_AGGR_RAW] = it->len;
        in += it->nsamples;
        if (!it->touched) s->stats->chunks_reencoded++;
    }
    st_dedup_replica_t one = {s->run, n}, *reps = &one;
    st_store_chunk_t *storage = NULL;
    size_t nrep = 1;
    st_dedup_samples_t *ds = NULL;
    smps_t fill = {0};
    if (s->opts->penalty_dedup && (rc = st_dedup_overlap_split(s->run, n, &reps, &nrep, &storage))) goto out;
    if (!s->app_on && (rc = app_start(s))) goto out;
    int64_t first = 0;
    uint64_t emitted = 0;
    if (nrep > 1) {
        if ((rc = gap_fill(reps, nrep, mint, maxt, &fill))) goto out;
        for (size_t k = 0; k < fill.n; k++)
            if ((rc = put(s, fill.v[k].t, fill.v[k].v, &first))) goto out;
        emitted = fill.n;
    } else {
        if ((rc = st_dedup_samples_new(&ds, reps, nrep, mint, maxt, false))) goto out;
        int64_t prev = 0, t;
        double v;
        while ((rc = st_dedup_samples_next(ds, &t, &v)) == 1) {
            if (emitted && t <= prev) continue; /* the appender needs strictly increasing times */
            prev = t;
            if ((rc = put(s, t, v, &first))) goto out;
            emitted++;
        }
        if (rc < 0) goto out;
    }
    if ((rc = flush(s, first))) goto out;
    s->stats->samples_deduplicated += in - emitted;
out:
    st_dedup_samples_free(ds);
    free(fill.v);
    if (reps != &one) free(reps);
    free(storage);
    if (rc < 0 && rc != ST_ENOMEM) {
        char names[512];
        size_t off = 0;
        names[0] = 0;
        for (size_t k = i; k < j && off < sizeof names; k++) {
            bool seen = false;
            for (size_t q = i; q < k && !seen; q++) seen = s->items[q].src == s->items[k].src;
            if (!seen)
                off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", off ? ", " : "",
                                        s->srcs[s->items[k].src].name);
        }
        rc = st_errwrap(rc, "blocks %s: series %s: merging %zu overlapping chunks in [%lld, %lld]", names, lname(s), n,
                        (long long)mint, (long long)maxt);
    }
    return rc;
}

/* The gathered chunks as output chunks: copies and merged runs. */
static int cut_runs(series_t *s) {
    qsort(s->items, s->nitems, sizeof *s->items, item_cmp);
    for (size_t i = 0; i < s->nitems;) {
        int64_t mint = s->items[i].mint, maxt = s->items[i].maxt;
        size_t j = i + 1;
        for (; j < s->nitems && s->items[j].mint <= maxt; j++)
            if (s->items[j].maxt > maxt) maxt = s->items[j].maxt;
        size_t kept = 0, first = i;
        const item_t *foreign = NULL;
        for (size_t k = i; k < j; k++) {
            item_t *it = &s->items[k];
            /* chunks of equal range are adjacent after the sort */
            for (size_t q = k; q-- > i && s->items[q].mint == it->mint && s->items[q].maxt == it->maxt;)
                if (!s->items[q].dropped && same_chunk(&s->items[q], it)) {
                    it->dropped = true;
                    s->stats->samples_deduplicated += it->nsamples;
                    break;
                }
            if (it->dropped) continue;
            if (!kept++) first = k;
            if (it->enc != ST_CHUNK_ENC_XOR) foreign = it;
        }
        int rc;
        if (kept == 1) {
            const item_t *it = &s->items[first];
            if (!it->touched) s->stats->chunks_copied++;
            rc = emit(s, it->mint, it->maxt, it->enc, it->data, it->len, it->nsamples);
            if (!rc && !it->touched) s->out_crc[s->nout - 1] = st_chunk_stored_crc(it->data, it->len);
        } else if (foreign) {
            const item_t *other = &s->items[first] == foreign ? &s->items[first + 1] : &s->items[first];
            while (other->dropped) other++;
            rc = st_errorf(ST_EUNSUPPORTED,
                           "block %s: series %s: chunk [%lld, %lld] of encoding 0x%02x overlaps chunk [%lld, %lld] "
                           "of block %s; only XOR chunks can be merged",
                           s->srcs[foreign->src].name, lname(s), (long long)foreign->mint, (long long)foreign->maxt,
                           foreign->enc, (long long)other->mint, (long long)other->maxt, s->srcs[other->src].name);
        } else {
            rc = merge_run(s, i, j, mint, maxt);
        }
        if (rc) return rc;
        i = j;
    }
    return ST_OK;
}

/* Give back the pages of the sources' mappings: they are read front to
 * back, what is behind is not needed again, and what is ahead maps in
 * again from the page cache. */
static void release_pages(const src_t *srcs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        st_index_reader_release_pages(srcs[i].ix);
        st_chunk_reader_release_pages(srcs[i].cr);
    }
}

/* ---- the output block ---- */

static int ulid_cmp(const void *a, const void *b) { return st_ulid_cmp(a, b); }

static int thanos_section(const char *in, char **out) {
    *out = NULL;
    if (!in) return ST_OK;
    json_error_t jerr;
    json_t *root = json_loads(in, 0, &jerr);
    if (!root) return st_errorf(ST_EINVAL, "compact: thanos section: %s", jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return st_errorf(ST_EINVAL, "compact: thanos section: not a JSON object");
    }
    /* the sources' file lists describe other files */
    json_object_del(root, "files");
    json_object_del(root, "segment_files");
    if (json_object_set_new(root, "source", json_string(THANOS_SOURCE_COMPACTOR)) == 0)
        *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return *out ? ST_OK : st_errorf(ST_ENOMEM, "compact: building the thanos section");
}

/* min/max, level, sources, parents of the output (owned members). */
static int build_meta(st_block_t *const *src, size_t n, const st_compact_opts_t *opts, st_meta_t *m) {
    memset(m, 0, sizeof *m);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const st_meta_t *a = st_block_meta(src[i]);
        total += a->nsources ? a->nsources : 1;
    }
    m->sources = malloc(total * sizeof *m->sources);
    m->parents = malloc(n * sizeof *m->parents);
    if (!m->sources || !m->parents) return st_errorf(ST_ENOMEM, "compact: meta of %zu sources", total);
    for (size_t i = 0; i < n; i++) {
        const st_meta_t *a = st_block_meta(src[i]);
        if (i == 0 || a->min_time < m->min_time) m->min_time = a->min_time;
        if (i == 0 || a->max_time > m->max_time) m->max_time = a->max_time;
        if (a->level > m->level) m->level = a->level;
        if (a->nsources) memcpy(m->sources + m->nsources, a->sources, a->nsources * sizeof *a->sources);
        else m->sources[m->nsources] = a->ulid; /* malformed meta: the block stands for itself */
        m->nsources += a->nsources ? a->nsources : 1;
        m->parents[m->nparents++] = (st_block_desc_t){a->ulid, a->min_time, a->max_time};
    }
    m->level++;
    qsort(m->sources, m->nsources, sizeof *m->sources, ulid_cmp);
    size_t u = 0;
    for (size_t i = 0; i < m->nsources; i++)
        if (!u || st_ulid_cmp(&m->sources[u - 1], &m->sources[i]) != 0) m->sources[u++] = m->sources[i];
    m->nsources = u;
    return thanos_section(opts->thanos_json, &m->thanos_json);
}

static int seg_name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int file_size(const char *dir, const char *rel, uint64_t *size) {
    char *p = st_path_join(dir, rel);
    if (!p) return st_errorf(ST_ENOMEM, "compact: path of %s", rel);
    struct stat st;
    int rc = stat(p, &st) == 0 ? ST_OK : st_errorf(ST_EIO, "compact: stat %s failed", p);
    *size = rc ? 0 : (uint64_t)st.st_size;
    free(p);
    return rc;
}

/* st_index_check of the written block against its meta.json, with the
 * sizes of its segment files; *bytes = the block's size on disk. */
static int verify(const char *dir, uint64_t *bytes) {
    st_meta_t m;
    st_index_check_t chk;
    char *chunkdir = st_path_join(dir, "chunks"), *index = st_path_join(dir, "index");
    char **names = NULL;
    uint64_t *sizes = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    memset(&m, 0, sizeof m);
    int rc = chunkdir && index ? ST_OK : st_errorf(ST_ENOMEM, "compact: checking %s", dir);
    if (rc || (rc = st_meta_read(&m, dir))) goto out;
    if (!(d = opendir(chunkdir))) {
        rc = st_errorf(ST_EIO, "compact: opendir %s failed", chunkdir);
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || strspn(e->d_name, "0123456789") != strlen(e->d_name))
            continue;
        if ((rc = grow((void **)&names, &cap, n + 1, sizeof *names))) goto out;
        if (!(names[n] = strdup(e->d_name))) {
            rc = st_errorf(ST_ENOMEM, "compact: checking %s", dir);
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof *names, seg_name_cmp);
    if (!(sizes = calloc(n + 1, sizeof *sizes))) {
        rc = st_errorf(ST_ENOMEM, "compact: checking %s", dir);
        goto out;
    }
    *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if ((rc = file_size(chunkdir, names[i], &sizes[i]))) goto out;
        *bytes += sizes[i];
    }
    const char *others[] = {"index", ST_META_FILENAME, ST_TOMBSTONES_FILENAME};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        uint64_t sz = 0;
        if ((rc = file_size(dir, others[i], &sz))) goto out;
        *bytes += sz;
    }
    if ((rc = st_index_check(index, &m, sizes, n, &chk))) goto out;
    if (chk.problems)
        rc = st_errorf(ST_ECORRUPT, "compacted block %s: %llu problem(s), first: %s", dir,
                       (unsigned long long)chk.problems, chk.first_problem);
out:
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(sizes);
    free(chunkdir);
    free(index);
    st_meta_free(&m);
    return rc;
}

int st_compact_merge(st_block_t *const *src, size_t n, const st_compact_opts_t *opts, const char *parent_dir,
                     char **out_dir, st_compact_stats_t *stats) {
    *out_dir = NULL;
    st_compact_stats_t own;
    if (!stats) stats = &own;
    memset(stats, 0, sizeof *stats);
    if (n == 0 || !opts) return st_errorf(ST_EINVAL, "compact: merge needs at least one block and options");
    st_meta_t meta;
    series_t s;
    memset(&s, 0, sizeof s);
    st_block_writer_t *w = NULL;
    char *dir = NULL;
    src_t *srcs = calloc(n, sizeof *srcs);
    size_t *hv = calloc(n, sizeof *hv), *group = calloc(n, sizeof *group);
    int rc = build_meta(src, n, opts, &meta);
    if (rc) goto out;
    if (!srcs || !hv || !group) {
        rc = st_errorf(ST_ENOMEM, "compact: merging %zu blocks", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        src_t *x = &srcs[i];
        const st_meta_t *m = st_block_meta(src[i]);
        x->name = st_block_dir(src[i]);
        x->ix = st_block_index(src[i]);
        x->cr = st_block_chunks(src[i]);
        x->tomb = st_block_tombstones(src[i]);
        x->mint = m->min_time;
        x->maxt = m->max_time;
        x->nsym = st_index_symbol_count(x->ix);
        if ((rc = st_index_postings(x->ix, "", "", &x->all))) {
            rc = st_errwrap(rc, "block %s", x->name);
            goto out;
        }
        stats->bytes_read += st_block_size(src[i]);
    }
    if ((rc = st_block_writer_open(&w, parent_dir, NULL)) || (rc = write_symbols(srcs, n, hv, w))) goto out;
    release_pages(srcs, n);

    s.opts = opts;
    s.stats = stats;
    s.srcs = srcs;
    heap_t h = {.v = hv, .cmp = series_cmp, .ctx = srcs};
    for (size_t i = 0; i < n; i++) {
        if ((rc = series_next(&srcs[i])) < 0) goto out;
        if (rc) heap_push(&h, i);
    }
    rc = ST_OK;
    while (h.n) {
        size_t ng = 0;
        group[ng++] = heap_pop(&h);
        while (h.n && st_labels_equal(&srcs[h.v[0]].lbls, &srcs[group[0]].lbls)) group[ng++] = heap_pop(&h);
        series_reset(&s);
        s.lbls = &srcs[group[0]].lbls;
        s.lstr[0] = 0;
        stats->series_in += ng;
        s.mapped_series += ng;
        for (size_t g = 0; g < ng; g++)
            if ((rc = gather(&s, group[g]))) goto out;
        if ((rc = cut_runs(&s))) goto out;
        if (s.nout) {
            if ((rc = st_block_writer_add_series_crc(w, s.lbls, s.out, s.out_crc, s.nout, s.out_samples))) goto out;
            stats->series_out++;
            stats->chunks_out += s.nout;
            stats->samples_out += s.out_samples;
        }
        if (s.mapped_bytes >= RELEASE_BYTES || s.mapped_series >= RELEASE_SERIES) {
            release_pages(srcs, n);
            s.mapped_bytes = s.mapped_series = 0;
        }
        for (size_t g = 0; g < ng; g++) {
            if ((rc = series_next(&srcs[group[g]])) < 0) goto out;
            if (rc) heap_push(&h, group[g]);
        }
        rc = ST_OK;
    }
    release_pages(srcs, n);
    if (!stats->series_out) goto out; /* nothing left: no block */
    rc = st_block_writer_commit(w, &meta, &dir);
    w = NULL;
    if (rc) goto out;
    if ((rc = verify(dir, &stats->bytes_written))) {
        st_rm_rf(dir);
        goto out;
    }
    *out_dir = dir;
    dir = NULL;
out:
    series_reset(&s);
    free(s.items);
    free(s.out);
    free(s.out_crc);
    free(s.owned);
    free(s.run);
    for (size_t i = 0; srcs && i < n; i++) {
        st_postings_free(&srcs[i].all);
        st_labels_free(&srcs[i].lbls);
        st_labels_free(&srcs[i].prev);
        free(srcs[i].cms);
    }
    free(srcs);
    free(hv);
    free(group);
    st_block_writer_free(w);
    free(dir);
    st_meta_free(&meta);
    return rc;
}
