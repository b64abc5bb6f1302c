/*
 * Reading the head: series sets for queries and the block cut.
 *
 * A reader resolves matchers under the shared lock and takes a reference
 * on every matching series, then works without the index lock: for each
 * series it copies the bytes of the chunks it needs under the series
 * spinlock (the appender may grow the open chunk meanwhile) and decodes its
 * private copy. Label strings are interned symbols that stay alive while
 * the series is referenced, so sorting and label building need no lock.
 */
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/postings.h"
#include "tsdb_int.h"

static int series_label_cmp(const void *x, const void *y) {
    const hseries_t *a = *(hseries_t *const *)x, *b = *(hseries_t *const *)y;
    uint32_t n = a->nlabels < b->nlabels ? a->nlabels : b->nlabels;
    for (uint32_t i = 0; i < 2 * n; i++) {
        const hsym_t *p = a->lbl[i], *q = b->lbl[i];
        if (p == q) continue;
        int c = st_bytes_cmp(p->s, p->len, q->s, q->len);
        if (c) return c;
    }
    return a->nlabels < b->nlabels ? -1 : a->nlabels > b->nlabels;
}

/* Pin the series matching ms (or all with ms == NULL), sorted by labels. */
static int pin_series(head_t *h, const st_matchers_t *ms, hseries_t ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    st_postings_t ids = {0};
    int rc = ST_OK;
    pthread_rwlock_rdlock(&h->lock);
    if (ms) {
        rc = st__head_postings(h, ms, &ids);
    } else if (h->nseries && (ids.ids = malloc(h->nseries * sizeof *ids.ids))) {
        for (uint32_t i = 0; i < h->nseries; i++) ids.ids[i] = i;
        ids.n = h->nseries;
    } else if (h->nseries) {
        rc = st_errorf(ST_ENOMEM, "tsdb head: listing series");
    }
    hseries_t **v = NULL;
    if (!rc && ids.n && !(v = malloc(ids.n * sizeof *v))) rc = st_errorf(ST_ENOMEM, "tsdb head: pinning series");
    if (!rc)
        for (size_t i = 0; i < ids.n; i++) {
            v[i] = h->series[ids.ids[i]];
            atomic_fetch_add(&v[i]->refs, 1);
        }
    pthread_rwlock_unlock(&h->lock);
    if (rc) {
        st_postings_free(&ids);
        return rc;
    }
    if (ids.n > 1) qsort(v, ids.n, sizeof *v, series_label_cmp);
    *out = v;
    *n = ids.n;
    st_postings_free(&ids);
    return ST_OK;
}

/* A series' labels as borrowed pairs into the symbols (pairs has room). */
static void series_pairs(const hseries_t *s, st_label_t *pairs) {
    for (uint32_t k = 0; k < s->nlabels; k++) {
        const hsym_t *n = s->lbl[2 * k], *v = s->lbl[2 * k + 1];
        pairs[k] = (st_label_t){n->s, v->s, n->len, v->len};
    }
}

/* ---- chunk copies ---- */

typedef struct {
    size_t off, len;
    int64_t mint, maxt;
} cchunk_t;

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    cchunk_t *ch;
    size_t n, capch;
} copies_t;

/* Copy the chunks of s overlapping [mint, maxt] (closed, on both ends);
 * with `whole`, only chunks lying entirely inside. */
static int copy_chunks(hseries_t *s, int64_t mint, int64_t maxt, bool whole, copies_t *c) {
    for (;;) {
        c->len = c->n = 0;
        size_t need = 0, nch = 0;
        st__series_lock(s);
        for (uint32_t i = 0; i <= s->nclosed; i++) {
            int64_t a, b;
            const uint8_t *data;
            size_t len;
            if (i < s->nclosed) {
                a = s->closed[i].mint;
                b = s->closed[i].maxt;
                data = s->closed[i].data;
                len = s->closed[i].len;
            } else {
                if (!s->app.buf || s->app.num == 0) break;
                a = s->open_mint;
                b = s->app.t;
                data = st_xor_bytes(&s->app, &len);
            }
            if (whole ? (a < mint || b > maxt) : (b < mint || a > maxt)) continue;
            need += len;
            nch++;
            if (need > c->cap || nch > c->capch) continue; /* count only; grow below */
            memcpy(c->buf + c->len, data, len);
            c->ch[c->n++] = (cchunk_t){c->len, len, a, b};
            c->len += len;
        }
        st__series_unlock(s);
        if (need <= c->cap && nch <= c->capch) return ST_OK;
        /* grow outside the spinlock and copy again */
        size_t cap = need * 2, capch = nch * 2;
        uint8_t *nb = realloc(c->buf, cap);
        if (nb) c->buf = nb, c->cap = cap;
        cchunk_t *nc = realloc(c->ch, capch * sizeof *nc);
        if (nc) c->ch = nc, c->capch = capch;
        if (!nb || !nc) return st_errorf(ST_ENOMEM, "tsdb head: copying %zu chunk bytes", need);
    }
}

static void copies_free(copies_t *c) {
    free(c->buf);
    free(c->ch);
}

/* ---- series set ---- */

typedef struct {
    head_t *h;
    hseries_t **ser;
    size_t n, next;
    int64_t mint, maxt;
    st_labels_t lbls;
    st_label_t *pairs;
    size_t pcap;
    copies_t cp;
    size_t ci;
    bool in_chunk;
    st_xor_iter_t it;
} head_set_t;

static int head_set_next(void *ctx) {
    head_set_t *hs = ctx;
    st_labels_free(&hs->lbls);
    while (hs->next < hs->n) {
        hseries_t *s = hs->ser[hs->next++];
        int rc = copy_chunks(s, hs->mint, hs->maxt, false, &hs->cp);
        if (rc) return rc;
        if (hs->cp.n == 0) continue;
        if (s->nlabels > hs->pcap) {
            st_label_t *np = realloc(hs->pairs, s->nlabels * sizeof *np);
            if (!np) return st_errorf(ST_ENOMEM, "tsdb head: series labels");
            hs->pairs = np;
            hs->pcap = s->nlabels;
        }
        series_pairs(s, hs->pairs);
        if ((rc = st_labels_from_sorted(&hs->lbls, hs->pairs, s->nlabels))) return rc;
        hs->ci = 0;
        hs->in_chunk = false;
        return 1;
    }
    return 0;
}

static const st_labels_t *head_set_labels(void *ctx) { return &((head_set_t *)ctx)->lbls; }

static int head_set_sample(void *ctx, int64_t *t, double *v) {
    head_set_t *hs = ctx;
    for (;;) {
        int rc;
        if (!hs->in_chunk) {
            if (hs->ci >= hs->cp.n) return 0;
            const cchunk_t *c = &hs->cp.ch[hs->ci++];
            if (st_xor_iter_init(&hs->it, hs->cp.buf + c->off, c->len))
                return st_errorf(ST_ECORRUPT, "tsdb head: chunk without a header");
            hs->in_chunk = true;
            rc = c->mint < hs->mint ? st_xor_iter_seek(&hs->it, hs->mint) : st_xor_iter_next(&hs->it);
        } else {
            rc = st_xor_iter_next(&hs->it);
        }
        if (rc < 0) return st_errorf(ST_ECORRUPT, "tsdb head: undecodable head chunk");
        if (rc == 0) {
            hs->in_chunk = false;
            continue;
        }
        st_xor_iter_at(&hs->it, t, v);
        if (*t > hs->maxt) {
            hs->in_chunk = false;
            hs->ci = hs->cp.n;
            continue;
        }
        if (*t < hs->mint) continue;
        return 1;
    }
}

static void head_set_free(void *ctx) {
    head_set_t *hs = ctx;
    for (size_t i = 0; i < hs->n; i++) st__series_release(hs->h, hs->ser[i]);
    free(hs->ser);
    st_labels_free(&hs->lbls);
    free(hs->pairs);
    copies_free(&hs->cp);
    free(hs);
}

static const st_series_set_ops_t head_set_ops = {.next = head_set_next, .labels = head_set_labels,
                                                .sample = head_set_sample, .free = head_set_free};

int st__head_select(head_t *h, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out) {
    *out = NULL;
    head_set_t *hs = calloc(1, sizeof *hs);
    if (!hs) return st_errorf(ST_ENOMEM, "tsdb head: allocating a series set");
    hs->h = h;
    hs->mint = mint;
    hs->maxt = maxt;
    int rc = mint <= maxt ? pin_series(h, ms, &hs->ser, &hs->n) : ST_OK;
    if (rc) {
        free(hs);
        return rc;
    }
    return st_series_set_new(out, &head_set_ops, hs);
}

/* ---- block cut ---- */

static int sym_ptr_cmp(const void *x, const void *y) {
    const hsym_t *a = *(const hsym_t *const *)x, *b = *(const hsym_t *const *)y;
    return st_bytes_cmp(a->s, a->len, b->s, b->len);
}

/* Does s have a chunk ending before w1? (Chunks are time ordered.) */
static bool has_chunk_before(hseries_t *s, int64_t w1) {
    st__series_lock(s);
    bool found = s->nclosed ? s->closed[0].maxt < w1 : s->app.buf && s->app.num && s->app.t < w1;
    st__series_unlock(s);
    return found;
}

int st__head_write_block(head_t *h, const char *dir, int64_t w0, int64_t w1, char **out_dir) {
    int64_t data_min = w0;
    *out_dir = NULL;
    hseries_t **ser;
    size_t n, keep = 0, nsyms = 0, capsyms = 0;
    int rc = pin_series(h, NULL, &ser, &n);
    if (rc) return rc;
    const hsym_t **syms = NULL;
    st_label_t *pairs = NULL;
    st_chunk_t *chunks = NULL;
    size_t pcap = 0, capchunks = 0;
    copies_t cp = {0};
    st_block_writer_t *w = NULL;
    /* Only this function (under the db's compaction lock) uses marks. */
    uint32_t epoch = ++h->cut_epoch;
    for (size_t i = 0; i < n; i++) {
        if (has_chunk_before(ser[i], w1)) ser[keep++] = ser[i];
        else st__series_release(h, ser[i]);
    }
    n = keep;
    if (keep == 0) goto out;
    for (size_t i = 0; i < keep; i++) {
        const hseries_t *s = ser[i];
        for (uint32_t k = 0; k < 2u * s->nlabels; k++) {
            hsym_t *y = (hsym_t *)s->lbl[k];
            if (y->mark == epoch) continue;
            y->mark = epoch;
            if (nsyms == capsyms) {
                capsyms = capsyms ? capsyms * 2 : 1024;
                const hsym_t **nsy = realloc(syms, capsyms * sizeof *nsy);
                if (!nsy) {
                    rc = st_errorf(ST_ENOMEM, "tsdb head: collecting block symbols");
                    goto out;
                }
                syms = nsy;
            }
            syms[nsyms++] = y;
        }
    }
    qsort(syms, nsyms, sizeof *syms, sym_ptr_cmp);
    if ((rc = st_block_writer_open(&w, dir, NULL))) goto out;
    /* "" first, as Prometheus's head contributes it (no label has it) */
    if ((rc = st_block_writer_add_symbol(w, "", 0))) goto out;
    for (size_t i = 0; i < nsyms; i++)
        if ((rc = st_block_writer_add_symbol(w, syms[i]->s, syms[i]->len))) goto out;
    for (size_t i = 0; i < keep; i++) {
        hseries_t *s = ser[i];
        if ((rc = copy_chunks(s, INT64_MIN, w1 - 1, true, &cp))) goto out;
        if (cp.n && cp.ch[0].mint < data_min) data_min = cp.ch[0].mint;
        if (s->nlabels > pcap) {
            st_label_t *np = realloc(pairs, s->nlabels * sizeof *np);
            if (!np) {
                rc = st_errorf(ST_ENOMEM, "tsdb head: series labels");
                goto out;
            }
            pairs = np;
            pcap = s->nlabels;
        }
        if (cp.n > capchunks) {
            st_chunk_t *nc = realloc(chunks, cp.n * sizeof *nc);
            if (!nc) {
                rc = st_errorf(ST_ENOMEM, "tsdb head: chunk list");
                goto out;
            }
            chunks = nc;
            capchunks = cp.n;
        }
        uint64_t nsamples = 0;
        for (size_t k = 0; k < cp.n; k++) {
            const uint8_t *data = cp.buf + cp.ch[k].off;
            chunks[k] = (st_chunk_t){cp.ch[k].mint, cp.ch[k].maxt, ST_CHUNK_ENC_XOR, data, cp.ch[k].len};
            nsamples += (uint64_t)st_xor_num_samples(data, cp.ch[k].len);
        }
        series_pairs(s, pairs);
        st_labels_t view = {pairs, s->nlabels};
        if ((rc = st_block_writer_add_series(w, &view, chunks, cp.n, nsamples))) goto out;
    }
    st_block_writer_set_range(w, data_min, w1);
    rc = st_block_writer_commit(w, NULL, out_dir);
    w = NULL;
out:
    st_block_writer_free(w);
    for (size_t i = 0; i < n; i++) st__series_release(h, ser[i]);
    free(ser);
    free(syms);
    free(pairs);
    free(chunks);
    copies_free(&cp);
    return rc;
}
