/*
 * The head's index and chunks: interned symbols, series in dense slots,
 * hash tables by labels and by WAL ref, postings per label pair, open XOR
 * chunks cut with Prometheus's rule (chunkcut.h), and garbage collection
 * after a block cut. Locking rules are at the top of tsdb_int.h.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../block/chunkcut.h"
#include "strata/err.h"
#include "strata/postings.h"
#include "tsdb_int.h"

/* The XOR encoder needs at most 40 bytes of room per sample and doubles
 * its buffer when short; growing ahead of it in small steps keeps an open
 * chunk within ~100 bytes of its size instead of up to 2x. */
#define CHUNK_HEADROOM 48
#define CHUNK_STEP 64

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- itab: index tables over the dense arrays ---- */

typedef uint64_t (*itab_hash_fn)(const head_t *h, uint32_t idx);

static size_t itab_cap_for(size_t n) {
    size_t cap = 16;
    while (n * 4 > cap * 3) cap *= 2;
    return cap;
}

static void itab_put(itab_t *t, uint64_t hash, uint32_t idx) {
    size_t k = hash & (t->cap - 1);
    while (t->v[k]) k = (k + 1) & (t->cap - 1);
    t->v[k] = idx + 1;
}

/* Rebuild t over indices 0..n-1 with capacity for `room` entries. On
 * allocation failure t is left as it was. */
static int itab_fill(itab_t *t, uint32_t n, size_t room, const head_t *h, itab_hash_fn hash) {
    size_t cap = itab_cap_for(room > n ? room : n);
    uint32_t *v = calloc(cap, sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "tsdb head: allocating a table of %zu slots", cap);
    free(t->v);
    t->v = v;
    t->cap = cap;
    for (uint32_t i = 0; i < n; i++) itab_put(t, hash(h, i), i);
    return ST_OK;
}

/* Room for entry n (the next one) at load <= 3/4. */
static int itab_room(itab_t *t, uint32_t n, const head_t *h, itab_hash_fn hash) {
    if (((size_t)n + 1) * 4 <= t->cap * 3) return ST_OK;
    return itab_fill(t, n, ((size_t)n + 1) * 2, h, hash);
}

/* ---- symbols ---- */

static uint64_t sym_hash_at(const head_t *h, uint32_t i) { return h->syms[i]->hash; }

static hsym_t *sym_find(const head_t *h, const char *s, size_t len, uint64_t hs) {
    const itab_t *t = &h->symtab;
    if (!t->cap) return NULL;
    for (size_t k = hs & (t->cap - 1); t->v[k]; k = (k + 1) & (t->cap - 1)) {
        hsym_t *y = h->syms[t->v[k] - 1];
        if (y->hash == hs && y->len == len && memcmp(y->s, s, len) == 0) return y;
    }
    return NULL;
}

/* The symbol for s with one more reference (exclusive lock held). */
static int sym_ref(head_t *h, const char *s, size_t len, hsym_t **out) {
    uint64_t hs = XXH3_64bits(s, len);
    hsym_t *y = sym_find(h, s, len, hs);
    if (!y) {
        if (len > UINT32_MAX) return st_errorf(ST_EINVAL, "tsdb head: label of %zu bytes is too long", len);
        if (h->nsyms == h->capsyms) {
            uint32_t cap = h->capsyms ? h->capsyms * 2 : 256;
            hsym_t **ns = realloc(h->syms, cap * sizeof *ns);
            if (!ns) return st_errorf(ST_ENOMEM, "tsdb head: allocating %u symbols", cap);
            h->syms = ns;
            h->capsyms = cap;
        }
        int rc = itab_room(&h->symtab, h->nsyms, h, sym_hash_at);
        if (rc) return rc;
        if (!(y = malloc(sizeof *y + len + 1))) return st_errorf(ST_ENOMEM, "tsdb head: allocating a symbol");
        y->hash = hs;
        y->refs = 0;
        y->mark = 0;
        y->len = (uint32_t)len;
        memcpy(y->s, s, len);
        y->s[len] = 0;
        h->syms[h->nsyms] = y;
        itab_put(&h->symtab, hs, h->nsyms++);
    }
    y->refs++;
    *out = y;
    return ST_OK;
}

/* ---- postings ---- */

static uint64_t pair_hash(const hsym_t *n, const hsym_t *v) {
    return mix64((uint64_t)(uintptr_t)n * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)v);
}
static uint64_t plist_hash_at(const head_t *h, uint32_t i) { return pair_hash(h->plists[i].name, h->plists[i].value); }
static uint64_t name_hash(const hsym_t *n) { return mix64((uint64_t)(uintptr_t)n); }
static uint64_t lname_hash_at(const head_t *h, uint32_t i) { return name_hash(h->names[i].name); }

static plist_t *plist_find(const head_t *h, const hsym_t *n, const hsym_t *v) {
    const itab_t *t = &h->ptab;
    if (!t->cap) return NULL;
    for (size_t k = pair_hash(n, v) & (t->cap - 1); t->v[k]; k = (k + 1) & (t->cap - 1)) {
        plist_t *p = &h->plists[t->v[k] - 1];
        if (p->name == n && p->value == v) return p;
    }
    return NULL;
}

static lname_t *lname_find(const head_t *h, const hsym_t *n) {
    const itab_t *t = &h->ntab;
    if (!t->cap) return NULL;
    for (size_t k = name_hash(n) & (t->cap - 1); t->v[k]; k = (k + 1) & (t->cap - 1)) {
        lname_t *l = &h->names[t->v[k] - 1];
        if (l->name == n) return l;
    }
    return NULL;
}

static int u32_push(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v) {
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap + *cap / 2 + 2 : 6; /* 6 x 4 bytes fill the smallest malloc chunk */
        uint32_t *na = realloc(*arr, nc * sizeof *na);
        if (!na) return st_errorf(ST_ENOMEM, "tsdb head: growing a postings list to %u entries", nc);
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return ST_OK;
}

/* The postings list of (n, v), created when missing. */
static int plist_get(head_t *h, hsym_t *n, hsym_t *v, plist_t **out) {
    plist_t *p = plist_find(h, n, v);
    *out = p;
    if (p) {
        *out = p;
        return ST_OK;
    }
    lname_t *ln = lname_find(h, n);
    int rc;
    if (!ln) {
        if (h->nnames == h->capnames) {
            uint32_t cap = h->capnames ? h->capnames * 2 : 64;
            lname_t *nn = realloc(h->names, cap * sizeof *nn);
            if (!nn) return st_errorf(ST_ENOMEM, "tsdb head: allocating %u label names", cap);
            h->names = nn;
            h->capnames = cap;
        }
        if ((rc = itab_room(&h->ntab, h->nnames, h, lname_hash_at))) return rc;
        ln = &h->names[h->nnames];
        *ln = (lname_t){.name = n};
        itab_put(&h->ntab, name_hash(n), h->nnames++);
    }
    if (h->nplists == h->capplists) {
        uint32_t cap = h->capplists ? h->capplists * 2 : 256;
        plist_t *np = realloc(h->plists, cap * sizeof *np);
        if (!np) return st_errorf(ST_ENOMEM, "tsdb head: allocating %u postings lists", cap);
        h->plists = np;
        h->capplists = cap;
    }
    if ((rc = itab_room(&h->ptab, h->nplists, h, plist_hash_at))) return rc;
    if ((rc = u32_push(&ln->plists, &ln->n, &ln->cap, h->nplists))) return rc;
    p = &h->plists[h->nplists];
    *p = (plist_t){.name = n, .value = v};
    itab_put(&h->ptab, pair_hash(n, v), h->nplists++);
    *out = p;
    return ST_OK;
}

/* ---- series lookups ---- */

static uint64_t series_hash_at(const head_t *h, uint32_t i) { return h->series[i]->hash; }

static bool series_has_labels(const hseries_t *s, const st_labels_t *l) {
    if (s->nlabels != l->n) return false;
    for (size_t k = 0; k < l->n; k++) {
        const hsym_t *n = s->lbl[2 * k], *v = s->lbl[2 * k + 1];
        if (n->len != l->v[k].name_len || v->len != l->v[k].value_len || memcmp(n->s, l->v[k].name, n->len) ||
            memcmp(v->s, l->v[k].value, v->len))
            return false;
    }
    return true;
}

hseries_t *st__head_by_labels(const head_t *h, const st_labels_t *l, uint64_t hash) {
    const itab_t *t = &h->lbltab;
    if (!t->cap) return NULL;
    for (size_t k = hash & (t->cap - 1); t->v[k]; k = (k + 1) & (t->cap - 1)) {
        hseries_t *s = h->series[t->v[k] - 1];
        if (s->hash == hash && series_has_labels(s, l)) return s;
    }
    return NULL;
}

/* Refs are handed out in sequence, so their low bits spread well and keep
 * neighbours in neighbouring slots (cache friendly); the shifted terms
 * spread refs that differ only in high bits. */
static size_t ref_hash(uint64_t ref) { return (size_t)(ref ^ (ref >> 16) ^ (ref >> 32)); }

hseries_t *st__head_by_ref(const head_t *h, uint64_t ref) {
    if (!h->refcap || ref == 0) return NULL;
    for (size_t k = ref_hash(ref) & (h->refcap - 1); h->refs[k].ref; k = (k + 1) & (h->refcap - 1))
        if (h->refs[k].ref == ref) return h->refs[k].s;
    return NULL;
}

static void ref_put(refent_t *t, size_t cap, uint64_t ref, hseries_t *s) {
    size_t k = ref_hash(ref) & (cap - 1);
    while (t[k].ref && t[k].ref != ref) k = (k + 1) & (cap - 1);
    t[k] = (refent_t){ref, s};
}

/* Room for one more ref. */
static int ref_room(head_t *h) {
    if ((h->nrefs + 1) * 4 <= h->refcap * 3) return ST_OK;
    size_t cap = itab_cap_for((h->nrefs + 1) * 2);
    refent_t *t = calloc(cap, sizeof *t);
    if (!t) return st_errorf(ST_ENOMEM, "tsdb head: allocating a ref table of %zu slots", cap);
    for (size_t i = 0; i < h->refcap; i++)
        if (h->refs[i].ref) ref_put(t, cap, h->refs[i].ref, h->refs[i].s);
    free(h->refs);
    h->refs = t;
    h->refcap = cap;
    return ST_OK;
}

/* ---- series lifecycle ---- */

void st__series_lock(hseries_t *s) {
    for (unsigned spins = 0; atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire); spins++)
        if (spins > 64) sched_yield();
}

void st__series_unlock(hseries_t *s) { atomic_flag_clear_explicit(&s->lock, memory_order_release); }

static void series_free_chunks(head_t *h, hseries_t *s) {
    for (uint32_t i = 0; i < s->nclosed; i++) free(s->closed[i].data);
    atomic_fetch_sub(&h->nchunks, s->nclosed + (s->app.buf != NULL));
    free(s->closed);
    s->closed = NULL;
    s->nclosed = 0;
    st_xor_appender_free(&s->app);
}

/* Free a series nobody references any more (exclusive lock held). */
static void series_destroy_locked(head_t *h, hseries_t *s) {
    for (uint32_t k = 0; k < 2u * s->nlabels; k++) ((hsym_t *)s->lbl[k])->refs--;
    series_free_chunks(h, s);
    free(s);
}

void st__series_release(head_t *h, hseries_t *s) {
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    pthread_rwlock_wrlock(&h->lock);
    series_destroy_locked(h, s);
    pthread_rwlock_unlock(&h->lock);
}

int st__head_create(head_t *h, const st_labels_t *l, uint64_t hash, uint64_t ref, hseries_t **out) {
    *out = NULL;
    if (l->n == 0) return st_errorf(ST_EINVAL, "tsdb: a series needs at least one label");
    if (l->n > UINT16_MAX) return st_errorf(ST_EINVAL, "tsdb: a series with %zu labels is too large", l->n);
    hseries_t *s = calloc(1, sizeof *s + 2 * l->n * sizeof s->lbl[0]);
    if (!s) return st_errorf(ST_ENOMEM, "tsdb head: allocating a series");
    s->ref = ref;
    s->hash = hash;
    s->nlabels = (uint16_t)l->n;
    atomic_init(&s->refs, 1);
    atomic_flag_clear(&s->lock);
    size_t nsym = 0, nposted = 0;
    plist_t **posted = NULL;
    int rc = ST_OK;
    pthread_rwlock_wrlock(&h->lock);
    if (h->nseries == UINT32_MAX - 1) {
        rc = st_errorf(ST_ELIMIT, "tsdb head: too many series");
        goto out;
    }
    if (h->nseries == h->capseries) {
        uint32_t cap = h->capseries ? h->capseries + h->capseries / 2 : 1024;
        hseries_t **ns = realloc(h->series, cap * sizeof *ns);
        if (!ns) {
            rc = st_errorf(ST_ENOMEM, "tsdb head: allocating %u series slots", cap);
            goto out;
        }
        h->series = ns;
        h->capseries = cap;
    }
    if ((rc = itab_room(&h->lbltab, h->nseries, h, series_hash_at)) || (rc = ref_room(h))) goto out;
    if (!(posted = malloc(l->n * sizeof *posted))) {
        rc = st_errorf(ST_ENOMEM, "tsdb head: allocating a series");
        goto out;
    }
    for (; nsym < 2 * l->n; nsym++) {
        const st_label_t *lb = &l->v[nsym / 2];
        hsym_t *y;
        if ((rc = nsym % 2 ? sym_ref(h, lb->value, lb->value_len, &y) : sym_ref(h, lb->name, lb->name_len, &y)))
            goto out;
        s->lbl[nsym] = y;
    }
    uint32_t slot = h->nseries;
    for (; nposted < l->n; nposted++) {
        plist_t *p = NULL;
        if ((rc = plist_get(h, (hsym_t *)s->lbl[2 * nposted], (hsym_t *)s->lbl[2 * nposted + 1], &p)) ||
            (rc = u32_push(&p->ids, &p->n, &p->cap, slot)))
            goto out;
        posted[nposted] = p;
    }
    h->series[slot] = s;
    h->nseries++;
    itab_put(&h->lbltab, hash, slot);
    ref_put(h->refs, h->refcap, ref, s);
    h->nrefs++;
    *out = s;
    s = NULL;
out:
    if (s) {
        /* undo: the slot is the largest id, so it is last in every list */
        for (size_t i = 0; i < nposted; i++) posted[i]->n--;
        for (size_t i = 0; i < nsym; i++) ((hsym_t *)s->lbl[i])->refs--;
        free(s);
    }
    pthread_rwlock_unlock(&h->lock);
    free(posted);
    return rc;
}

int st__head_alias(head_t *h, uint64_t ref, hseries_t *s) {
    if (ref == 0 || st__head_by_ref(h, ref)) return ST_OK;
    pthread_rwlock_wrlock(&h->lock);
    int rc = ref_room(h);
    if (!rc) {
        ref_put(h->refs, h->refcap, ref, s);
        h->nrefs++;
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

/* ---- chunks ---- */

static int open_chunk(head_t *h, hseries_t *s, int64_t t) {
    int rc = st_xor_appender_init(&s->app);
    if (rc) return rc;
    s->open_mint = t;
    s->next_at = st_chunkcut_range_end(t, h->chunk_range);
    atomic_fetch_add(&h->nchunks, 1);
    return ST_OK;
}

static int close_chunk(hseries_t *s) {
    hchunk_t *nc = realloc(s->closed, (s->nclosed + 1) * sizeof *nc);
    if (!nc) return st_errorf(ST_ENOMEM, "tsdb head: allocating a chunk list");
    s->closed = nc;
    size_t len;
    st_xor_bytes(&s->app, &len);
    uint8_t *data = realloc(s->app.buf, len);
    nc[s->nclosed++] = (hchunk_t){s->open_mint, s->app.t, data ? data : s->app.buf, (uint32_t)len};
    memset(&s->app, 0, sizeof s->app);
    return ST_OK;
}

int st__series_append(head_t *h, hseries_t *s, int64_t t, double v) {
    int rc;
    if (!s->app.buf) {
        if ((rc = open_chunk(h, s, t))) return rc;
    } else if (st_chunkcut_before_append(&s->next_at, s->app.num, s->open_mint, s->app.t, t)) {
        if ((rc = close_chunk(s))) return rc;
        if ((rc = open_chunk(h, s, t))) return rc; /* the closed chunk is kept; the series just has none open */
    }
    st_xor_appender_t *a = &s->app;
    if (a->cap - a->len < CHUNK_HEADROOM) {
        size_t ncap = a->cap + CHUNK_STEP;
        uint8_t *nb = realloc(a->buf, ncap);
        if (!nb) return st_errorf(ST_ENOMEM, "tsdb head: growing a chunk to %zu bytes", ncap);
        memset(nb + a->cap, 0, ncap - a->cap); /* the encoder relies on zeros past len */
        a->buf = nb;
        a->cap = ncap;
    }
    return st_xor_append(a, t, v);
}

/* ---- matchers -> slots (shared lock held) ---- */

static int u32_cmp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* Union of the lists of every value of m's label whose verdict is `want`. */
static int values_postings(const head_t *h, const st_matcher_t *m, bool want, st_postings_t *out) {
    out->ids = NULL;
    out->n = 0;
    const char *name = st_matcher_name(m);
    size_t nlen = strlen(name);
    const hsym_t *ns = sym_find(h, name, nlen, XXH3_64bits(name, nlen));
    if (!ns) return ST_OK;
    if (st_matcher_type(m) == ST_MATCH_EQ && want) {
        const char *val = st_matcher_value(m);
        size_t vlen = strlen(val);
        const hsym_t *vs = sym_find(h, val, vlen, XXH3_64bits(val, vlen));
        const plist_t *p = vs ? plist_find(h, ns, vs) : NULL;
        if (!p || p->n == 0) return ST_OK;
        if (!(out->ids = malloc(p->n * sizeof *out->ids))) return st_errorf(ST_ENOMEM, "tsdb head: postings");
        memcpy(out->ids, p->ids, p->n * sizeof *out->ids);
        out->n = p->n;
        return ST_OK;
    }
    const lname_t *ln = lname_find(h, ns);
    if (!ln) return ST_OK;
    size_t total = 0;
    for (uint32_t i = 0; i < ln->n; i++) {
        const plist_t *p = &h->plists[ln->plists[i]];
        if (st_matcher_matches(m, p->value->s, p->value->len) == want) total += p->n;
    }
    if (total == 0) return ST_OK;
    if (!(out->ids = malloc(total * sizeof *out->ids))) return st_errorf(ST_ENOMEM, "tsdb head: postings");
    size_t n = 0;
    for (uint32_t i = 0; i < ln->n; i++) {
        const plist_t *p = &h->plists[ln->plists[i]];
        if (st_matcher_matches(m, p->value->s, p->value->len) != want) continue;
        memcpy(out->ids + n, p->ids, p->n * sizeof *out->ids);
        n += p->n;
    }
    qsort(out->ids, n, sizeof *out->ids, u32_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || out->ids[u - 1] != out->ids[i]) out->ids[u++] = out->ids[i];
    out->n = u;
    return ST_OK;
}

/* Slots of the series matching all of ms, ascending. Same semantics as
 * st_block_postings: a label a series lacks has the empty value. */
int st__head_postings(const head_t *h, const st_matchers_t *ms, st_postings_t *out) {
    st_postings_t cur = {0}, p = {0}, next = {0};
    bool have = false;
    int rc = ST_OK;
    for (size_t i = 0; i < ms->n; i++) {
        if (st_matcher_matches_empty(ms->v[i])) continue;
        if ((rc = values_postings(h, ms->v[i], true, &p))) goto out;
        if (!have) {
            cur = p;
            p = (st_postings_t){0};
            have = true;
        } else {
            rc = st_postings_intersect(&next, &cur, &p);
            st_postings_free(&p);
            st_postings_free(&cur);
            if (rc) goto out;
            cur = next;
            next = (st_postings_t){0};
        }
        if (cur.n == 0) goto out;
    }
    if (!have) {
        if (h->nseries && !(cur.ids = malloc(h->nseries * sizeof *cur.ids))) {
            rc = st_errorf(ST_ENOMEM, "tsdb head: postings");
            goto out;
        }
        for (uint32_t i = 0; i < h->nseries; i++) cur.ids[i] = i;
        cur.n = h->nseries;
    }
    for (size_t i = 0; i < ms->n && cur.n; i++) {
        if (!st_matcher_matches_empty(ms->v[i])) continue;
        if ((rc = values_postings(h, ms->v[i], false, &p))) goto out;
        if (p.n == 0) continue;
        rc = st_postings_subtract(&next, &cur, &p);
        st_postings_free(&p);
        st_postings_free(&cur);
        if (rc) goto out;
        cur = next;
        next = (st_postings_t){0};
    }
out:
    if (rc) st_postings_free(&cur);
    *out = cur;
    return rc;
}

/* ---- label names and values ---- */

static int ptr_cmp(const void *x, const void *y) {
    uintptr_t a = (uintptr_t)*(const void *const *)x, b = (uintptr_t)*(const void *const *)y;
    return a < b ? -1 : a > b;
}

/* Symbols are interned, so duplicates are equal pointers: sort and dedup
 * those before copying any string out. */
static int add_syms(strset_t *out, const hsym_t **v, size_t n) {
    if (n > 1) qsort(v, n, sizeof *v, ptr_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i && v[i] == v[i - 1]) continue;
        int rc = st__strset_add(out, v[i]->s, v[i]->len);
        if (rc) return rc;
    }
    return ST_OK;
}

/* Label names (want == NULL) or the values of label `want` of the series
 * in ids, under the shared lock. */
static int series_syms(const head_t *h, const st_postings_t *ids, const hsym_t *want, strset_t *out) {
    size_t cap = 0, n = 0;
    for (size_t i = 0; i < ids->n; i++) cap += want ? 1 : h->series[ids->ids[i]]->nlabels;
    const hsym_t **v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "tsdb head: collecting labels of %zu series", ids->n);
    for (size_t i = 0; i < ids->n; i++) {
        const hseries_t *s = h->series[ids->ids[i]];
        for (uint32_t k = 0; k < s->nlabels; k++) {
            if (!want) v[n++] = s->lbl[2 * k];
            else if (s->lbl[2 * k] == want) v[n++] = s->lbl[2 * k + 1];
        }
    }
    int rc = add_syms(out, v, n);
    free(v);
    return rc;
}

int st__head_label_names(head_t *h, const st_matchers_t *ms, strset_t *out) {
    int rc = ST_OK;
    pthread_rwlock_rdlock(&h->lock);
    if (ms) {
        st_postings_t ids;
        if (!(rc = st__head_postings(h, ms, &ids))) rc = series_syms(h, &ids, NULL, out);
        st_postings_free(&ids);
    } else {
        /* GC drops names left without series, so every name listed has some */
        for (uint32_t i = 0; i < h->nnames && !rc; i++)
            if (h->names[i].n) rc = st__strset_add(out, h->names[i].name->s, h->names[i].name->len);
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

int st__head_label_values(head_t *h, const char *name, const st_matchers_t *ms, strset_t *out) {
    int rc = ST_OK;
    size_t nlen = strlen(name);
    pthread_rwlock_rdlock(&h->lock);
    const hsym_t *ns = sym_find(h, name, nlen, XXH3_64bits(name, nlen));
    const lname_t *ln = ns ? lname_find(h, ns) : NULL;
    if (ln && ms) {
        st_postings_t ids;
        if (!(rc = st__head_postings(h, ms, &ids))) rc = series_syms(h, &ids, ns, out);
        st_postings_free(&ids);
    } else if (ln) {
        for (uint32_t i = 0; i < ln->n && !rc; i++) {
            const plist_t *p = &h->plists[ln->plists[i]];
            if (p->n) rc = st__strset_add(out, p->value->s, p->value->len);
        }
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

/* ---- garbage collection ---- */

typedef struct {
    itab_t lbltab, ptab, ntab, symtab;
    refent_t *refs;
    size_t refcap;
    uint32_t *pmap;
} gc_tables_t;

static void gc_tables_free(gc_tables_t *t) {
    free(t->lbltab.v);
    free(t->ptab.v);
    free(t->ntab.v);
    free(t->symtab.v);
    free(t->refs);
    free(t->pmap);
}

/* Every table sized for the current counts (upper bounds after GC), so
 * the rebuild itself cannot fail half way. */
static int gc_tables_alloc(const head_t *h, gc_tables_t *t) {
    memset(t, 0, sizeof *t);
    itab_t *tabs[4] = {&t->lbltab, &t->ptab, &t->ntab, &t->symtab};
    size_t sizes[4] = {h->nseries, h->nplists, h->nnames, h->nsyms};
    for (int i = 0; i < 4; i++) {
        tabs[i]->cap = itab_cap_for(sizes[i]);
        if (!(tabs[i]->v = calloc(tabs[i]->cap, sizeof *tabs[i]->v))) goto nomem;
    }
    t->refcap = itab_cap_for(h->nrefs);
    t->refs = calloc(t->refcap, sizeof *t->refs);
    t->pmap = malloc((h->nplists ? h->nplists : 1) * sizeof *t->pmap);
    if (t->refs && t->pmap) return ST_OK;
nomem:
    gc_tables_free(t);
    return st_errorf(ST_ENOMEM, "tsdb head: allocating tables for garbage collection");
}

static void install(itab_t *dst, itab_t *src, uint32_t n, const head_t *h, itab_hash_fn hash) {
    free(dst->v);
    *dst = *src;
    src->v = NULL;
    for (uint32_t i = 0; i < n; i++) itab_put(dst, hash(h, i), i);
}

/* Drop chunks of one series that end before mint. Returns whether the
 * series still has data; *first receives its oldest timestamp. */
static bool truncate_series(head_t *h, hseries_t *s, int64_t mint, int64_t *first) {
    st__series_lock(s);
    uint32_t drop = 0;
    while (drop < s->nclosed && s->closed[drop].maxt < mint) free(s->closed[drop++].data);
    if (drop) {
        memmove(s->closed, s->closed + drop, (s->nclosed - drop) * sizeof *s->closed);
        s->nclosed -= drop;
        atomic_fetch_sub(&h->nchunks, drop);
        if (s->nclosed == 0) {
            free(s->closed);
            s->closed = NULL;
        }
    }
    if (s->app.buf && s->nclosed == 0 && (s->app.num == 0 || s->app.t < mint)) {
        st_xor_appender_free(&s->app);
        atomic_fetch_sub(&h->nchunks, 1);
    }
    bool alive = s->nclosed || s->app.buf;
    if (alive) *first = s->nclosed ? s->closed[0].mint : s->open_mint;
    st__series_unlock(s);
    return alive;
}

int st__head_gc(head_t *h, int64_t mint) {
    uint32_t n = h->nseries, kept = 0;
    int64_t newmin = INT64_MAX;
    uint32_t *remap = malloc((n ? n : 1) * sizeof *remap);
    if (!remap) return st_errorf(ST_ENOMEM, "tsdb head: garbage collection of %u series", n);
    for (uint32_t i = 0; i < n; i++) {
        int64_t first;
        if (truncate_series(h, h->series[i], mint, &first)) {
            remap[i] = kept++;
            if (first < newmin) newmin = first;
        } else {
            remap[i] = UINT32_MAX;
        }
    }
    atomic_store(&h->min_time, newmin);
    if (newmin == INT64_MAX) atomic_store(&h->max_time, INT64_MIN);
    gc_tables_t t;
    int rc = ST_OK;
    if (kept == n || (rc = gc_tables_alloc(h, &t))) {
        free(remap);
        return rc; /* nothing to remove, or retried at the next GC */
    }

    pthread_rwlock_wrlock(&h->lock);
    for (uint32_t i = 0; i < n; i++)
        if (remap[i] == UINT32_MAX) h->series[i]->dead = true;
    size_t nrefs = 0;
    for (size_t i = 0; i < h->refcap; i++)
        if (h->refs[i].ref && !h->refs[i].s->dead) {
            ref_put(t.refs, t.refcap, h->refs[i].ref, h->refs[i].s);
            nrefs++;
        }
    free(h->refs);
    h->refs = t.refs;
    h->refcap = t.refcap;
    h->nrefs = nrefs;
    t.refs = NULL;
    for (uint32_t i = 0; i < n; i++) {
        hseries_t *s = h->series[i];
        if (remap[i] != UINT32_MAX) h->series[remap[i]] = s;
        else if (atomic_fetch_sub(&s->refs, 1) == 1) series_destroy_locked(h, s);
        /* else a reader still holds it and frees it when done */
    }
    h->nseries = kept;

    uint32_t *pmap = t.pmap, np = 0; /* old plist index -> new */
    for (uint32_t i = 0; i < h->nplists; i++) {
        plist_t p = h->plists[i];
        uint32_t w = 0;
        for (uint32_t k = 0; k < p.n; k++)
            if (remap[p.ids[k]] != UINT32_MAX) p.ids[w++] = remap[p.ids[k]];
        p.n = w;
        if (w == 0) {
            free(p.ids);
            pmap[i] = UINT32_MAX;
            continue;
        }
        if (w < p.cap / 4) {
            uint32_t *shrunk = realloc(p.ids, w * sizeof *shrunk);
            if (shrunk) {
                p.ids = shrunk;
                p.cap = w;
            }
        }
        pmap[i] = np;
        h->plists[np++] = p;
    }
    uint32_t nn = 0;
    for (uint32_t i = 0; i < h->nnames; i++) {
        lname_t ln = h->names[i];
        uint32_t w = 0;
        for (uint32_t k = 0; k < ln.n; k++)
            if (pmap[ln.plists[k]] != UINT32_MAX) ln.plists[w++] = pmap[ln.plists[k]];
        ln.n = w;
        if (w == 0) {
            free(ln.plists);
            continue;
        }
        h->names[nn++] = ln;
    }
    h->nplists = np;
    h->nnames = nn;

    uint32_t ns = 0;
    for (uint32_t i = 0; i < h->nsyms; i++) {
        if (h->syms[i]->refs == 0) free(h->syms[i]);
        else h->syms[ns++] = h->syms[i];
    }
    h->nsyms = ns;

    install(&h->lbltab, &t.lbltab, h->nseries, h, series_hash_at);
    install(&h->ptab, &t.ptab, h->nplists, h, plist_hash_at);
    install(&h->ntab, &t.ntab, h->nnames, h, lname_hash_at);
    install(&h->symtab, &t.symtab, h->nsyms, h, sym_hash_at);
    pthread_rwlock_unlock(&h->lock);
    gc_tables_free(&t);
    free(remap);
    return ST_OK;
}

/* ---- setup ---- */

int st__head_init(head_t *h, int64_t chunk_range) {
    memset(h, 0, sizeof *h);
    if (pthread_rwlock_init(&h->lock, NULL) != 0) return st_errorf(ST_ENOMEM, "tsdb head: creating a lock");
    h->chunk_range = chunk_range;
    atomic_init(&h->min_time, INT64_MAX);
    atomic_init(&h->max_time, INT64_MIN);
    atomic_init(&h->nchunks, 0);
    return ST_OK;
}

void st__head_free(head_t *h) {
    for (uint32_t i = 0; i < h->nseries; i++) {
        hseries_t *s = h->series[i];
        series_free_chunks(h, s);
        free(s);
    }
    for (uint32_t i = 0; i < h->nsyms; i++) free(h->syms[i]);
    for (uint32_t i = 0; i < h->nplists; i++) free(h->plists[i].ids);
    for (uint32_t i = 0; i < h->nnames; i++) free(h->names[i].plists);
    free(h->series);
    free(h->syms);
    free(h->plists);
    free(h->names);
    free(h->lbltab.v);
    free(h->ptab.v);
    free(h->ntab.v);
    free(h->symtab.v);
    free(h->refs);
    pthread_rwlock_destroy(&h->lock);
    memset(h, 0, sizeof *h);
}
