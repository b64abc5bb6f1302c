/* Holding back series until the external labels cannot reorder them any
 * more; the reasoning is in reorder.h. Held series sit in a binary heap
 * ordered by (F, arrival), so even a response that has to be held whole
 * costs O(log n) per series. */
#include "reorder.h"

#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/textfmt.h"

struct held {
    st_labels_t f;
    uint64_t seq;
    st_store_chunk_t *chunks; /* data[ST_AGGR_RAW] points into data */
    size_t n;
    uint8_t *data;
    size_t bytes;
};

static bool held_less(const held_t *a, const held_t *b) {
    int c = st_labels_cmp(&a->f, &b->f);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static void held_free(held_t *h) {
    if (!h) return;
    st_labels_free(&h->f);
    free(h->chunks);
    free(h->data);
    free(h);
}

void reorder_init(reorder_t *r, const st_labels_t *ext, reorder_mode_t mode, size_t max_held_bytes,
                  reorder_emit_fn emit, void *ctx) {
    memset(r, 0, sizeof *r);
    r->ext = ext;
    r->mode = mode;
    r->max_held_bytes = max_held_bytes;
    r->emit = emit;
    r->ctx = ctx;
}

void reorder_free(reorder_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nheld; i++) held_free(r->held[i]);
    free(r->held);
    st_labels_free(&r->last);
    free(r->scratch);
    memset(r, 0, sizeof *r);
}

static bool is_ext(const reorder_t *r, const st_label_t *l) { return st_labels_get(r->ext, l->name) != NULL; }

/* LB(S) into r->scratch[0..*n); empty (nothing but an empty label set is
 * at or below it) when every series is held. */
static int lower_bound(reorder_t *r, const st_labels_t *p, size_t *n) {
    *n = 0;
    if (r->mode == REORDER_HOLD_ALL) return ST_OK;
    size_t need = p->n + r->ext->n;
    if (2 * need > r->scratch_cap) {
        st_label_t *s = realloc(r->scratch, 2 * need * sizeof *s);
        if (!s) return st_errorf(ST_ENOMEM, "sidecar: ordering bound of %zu labels", need);
        r->scratch = s;
        r->scratch_cap = 2 * need;
    }
    /* Q: in exact mode P without its external-named labels, else P up to
     * its first external-named label */
    st_label_t *q = r->scratch + need;
    size_t nq = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (!is_ext(r, &p->v[i])) q[nq++] = p->v[i];
        else if (r->mode != REORDER_EXACT) break;
    }
    /* Q merged with the external labels named below its last label (no
     * external name equals a name in Q) */
    size_t o = 0, k = 0;
    for (size_t i = 0; i < nq;) {
        const st_label_t *e = k < r->ext->n ? &r->ext->v[k] : NULL;
        if (e && st_bytes_cmp(e->name, e->name_len, q[i].name, q[i].name_len) < 0) {
            r->scratch[o++] = *e;
            k++;
        } else {
            r->scratch[o++] = q[i++];
        }
    }
    *n = o;
    return ST_OK;
}

static int send(reorder_t *r, st_labels_t *f, const st_store_chunk_t *chunks, size_t n) {
    if (r->sent_any && st_labels_cmp(f, &r->last) < 0) {
        st_encbuf_t a, b;
        st_encbuf_init(&a, 4096);
        st_encbuf_init(&b, 4096);
        st_put_labels_go(&a, f);
        st_put_labels_go(&b, &r->last);
        int rc = st_errorf(ST_ECORRUPT,
                           "series out of order after adding the external labels: %.*s after %.*s (the remote read "
                           "stream is not sorted, or a stored label named like an external one appeared meanwhile)",
                           (int)(a.err ? 0 : a.len), a.p ? (const char *)a.p : "", (int)(b.err ? 0 : b.len),
                           b.p ? (const char *)b.p : "");
        st_encbuf_free(&a);
        st_encbuf_free(&b);
        st_labels_free(f);
        return rc;
    }
    int rc = r->emit(r->ctx, f, chunks, n);
    st_labels_free(&r->last);
    r->last = *f; /* ownership moves */
    memset(f, 0, sizeof *f);
    r->sent_any = true;
    return rc;
}

static void heap_up(held_t **h, size_t i) {
    while (i && held_less(h[i], h[(i - 1) / 2])) {
        held_t *t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static held_t *heap_pop(reorder_t *r) {
    held_t **h = r->held, *top = h[0];
    h[0] = h[--r->nheld];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->nheld && held_less(h[l], h[m])) m = l;
        if (l + 1 < r->nheld && held_less(h[l + 1], h[m])) m = l + 1;
        if (m == i) break;
        held_t *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    r->held_bytes -= top->bytes;
    return top;
}

static int send_held(reorder_t *r, held_t *h) {
    int rc = send(r, &h->f, h->chunks, h->n);
    held_free(h);
    return rc;
}

static int hold(reorder_t *r, st_labels_t *f, const st_store_chunk_t *chunks, size_t n) {
    size_t data = 0;
    for (size_t i = 0; i < n; i++) data += chunks[i].len[ST_AGGR_RAW];
    size_t lbytes = 0;
    for (size_t i = 0; i < f->n; i++) lbytes += f->v[i].name_len + f->v[i].value_len + sizeof(st_label_t) + 2;
    size_t bytes = sizeof(held_t) + lbytes + data + n * sizeof(st_store_chunk_t);
    if (r->held_bytes + bytes > r->max_held_bytes) {
        st_labels_free(f);
        return st_errorf(ST_ELIMIT,
                         "sidecar: more than %zu bytes of series held back to keep them sorted after adding the "
                         "external labels; narrow the query",
                         r->max_held_bytes);
    }
    held_t *h = calloc(1, sizeof *h);
    if (h) h->chunks = malloc((n ? n : 1) * sizeof *h->chunks);
    if (h && h->chunks) h->data = malloc(data ? data : 1);
    if (!h || !h->chunks || !h->data) {
        held_free(h);
        st_labels_free(f);
        return st_errorf(ST_ENOMEM, "sidecar: holding a series of %zu chunk bytes", data);
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        h->chunks[i] = (st_store_chunk_t){.mint = chunks[i].mint, .maxt = chunks[i].maxt};
        size_t len = chunks[i].len[ST_AGGR_RAW];
        if (len) memcpy(h->data + off, chunks[i].data[ST_AGGR_RAW], len);
        h->chunks[i].data[ST_AGGR_RAW] = h->data + off;
        h->chunks[i].len[ST_AGGR_RAW] = len;
        off += len;
    }
    h->n = n;
    h->f = *f;
    memset(f, 0, sizeof *f);
    h->bytes = bytes;
    if (r->nheld == r->capheld) {
        size_t cap = r->capheld ? r->capheld * 2 : 16;
        held_t **nh = realloc(r->held, cap * sizeof *nh);
        if (!nh) {
            held_free(h);
            return st_errorf(ST_ENOMEM, "sidecar: holding %zu series", cap);
        }
        r->held = nh;
        r->capheld = cap;
    }
    h->seq = r->seq++;
    r->held[r->nheld] = h;
    r->held_bytes += bytes;
    heap_up(r->held, r->nheld++);
    return ST_OK;
}

int reorder_add(reorder_t *r, const st_labels_t *p, const st_store_chunk_t *chunks, size_t n) {
    st_labels_t f;
    size_t nlb = 0;
    int rc = st_storeapi_extend_labels(p, r->ext, &f);
    if (!rc) rc = lower_bound(r, p, &nlb);
    if (rc) {
        st_labels_free(&f);
        return rc;
    }
    const st_labels_t lb = {r->scratch, nlb}; /* a view: never freed */
    if (!r->nheld && st_labels_cmp(&f, &lb) <= 0) return send(r, &f, chunks, n);
    if ((rc = hold(r, &f, chunks, n))) return rc;
    while (r->nheld && st_labels_cmp(&r->held[0]->f, &lb) <= 0)
        if ((rc = send_held(r, heap_pop(r)))) return rc;
    if (r->nheld > r->max_held_seen) r->max_held_seen = r->nheld;
    return ST_OK;
}

int reorder_flush(reorder_t *r) {
    while (r->nheld) {
        int rc = send_held(r, heap_pop(r));
        if (rc) return rc;
    }
    return ST_OK;
}
