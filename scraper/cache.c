/*
 * The per-target series cache and the cardinality guard (scraper_int.h).
 *
 * The cache keeps its 32-byte entries densely in first-seen order, with an
 * open-addressing index (linear probing, uint32 entry numbers, at most 3/4
 * full) beside them: ~37 bytes per series. Lookups first try the entry
 * after the previous hit, which in a scrape that lists its series in the
 * same order as last time is a sequential read instead of two cache
 * misses. Removal compacts the array (keeping the order) and rebuilds the
 * index, which only happens when series went away.
 *
 * The guard keeps, per label name, an open-addressing set of 64-bit value
 * hashes.
 */
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "scraper_int.h"
#include "strata/err.h"

static int index_build(series_cache_t *c, size_t icap) {
    uint32_t *idx = calloc(icap, sizeof *idx);
    if (!idx) return st_errorf(ST_ENOMEM, "scrape cache: index of %zu slots", icap);
    for (size_t k = 0; k < c->n; k++) {
        size_t i = c->v[k].h1 & (icap - 1);
        while (idx[i]) i = (i + 1) & (icap - 1);
        idx[i] = (uint32_t)k + 1;
    }
    free(c->idx);
    c->idx = idx;
    c->icap = icap;
    return ST_OK;
}

cache_entry_t *cache_find(series_cache_t *c, uint64_t h1, uint64_t h2, size_t *hint) {
    /* scrapes list series in the same order every time: the entry after
     * the previous one is usually the one, and it is next in memory */
    if (hint && *hint < c->n && c->v[*hint].h1 == h1 && c->v[*hint].h2 == h2) return &c->v[(*hint)++];
    if (!c->icap) return NULL;
    size_t mask = c->icap - 1;
    for (size_t i = h1 & mask; c->idx[i]; i = (i + 1) & mask) {
        cache_entry_t *e = &c->v[c->idx[i] - 1];
        if (e->h1 == h1 && e->h2 == h2) {
            if (hint) *hint = c->idx[i];
            return e;
        }
    }
    return NULL;
}

int cache_insert(series_cache_t *c, uint64_t h1, uint64_t h2, cache_entry_t **out) {
    int rc;
    if (c->n >= UINT32_MAX - 1) return st_errorf(ST_ELIMIT, "scrape cache: more than %u series", UINT32_MAX - 1);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        cache_entry_t *v = realloc(c->v, cap * sizeof *v);
        if (!v) return st_errorf(ST_ENOMEM, "scrape cache: growing to %zu entries", cap);
        c->v = v;
        c->cap = cap;
    }
    if ((c->n + 1) * 4 > c->icap * 3 && (rc = index_build(c, c->icap ? c->icap * 2 : 128))) return rc;
    size_t mask = c->icap - 1, i = h1 & mask;
    while (c->idx[i]) i = (i + 1) & mask;
    c->v[c->n] = (cache_entry_t){.h1 = h1, .h2 = h2};
    c->idx[i] = (uint32_t)++c->n;
    *out = &c->v[c->n - 1];
    return ST_OK;
}

void cache_sweep(series_cache_t *c, bool (*drop)(const cache_entry_t *e, void *arg), void *arg) {
    /* stable compaction keeps the exposition order the hints rely on */
    size_t w = 0;
    for (size_t k = 0; k < c->n; k++)
        if (!drop(&c->v[k], arg)) c->v[w++] = c->v[k];
    if (w == c->n) return;
    c->n = w;
    /* the index is rebuilt at the size it has; on failure the cache is emptied */
    if (index_build(c, c->icap)) c->n = 0;
}

void cache_free(series_cache_t *c) {
    free(c->v);
    free(c->idx);
    memset(c, 0, sizeof *c);
}

/* ---- guard ---- */

static int vals_grow(guard_name_t *g) {
    size_t cap = g->cap ? g->cap * 2 : 16;
    uint64_t *v = calloc(cap, sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "cardinality guard: growing");
    for (size_t k = 0; k < g->cap; k++) {
        if (!g->vals[k]) continue;
        size_t i = g->vals[k] & (cap - 1);
        while (v[i]) i = (i + 1) & (cap - 1);
        v[i] = g->vals[k];
    }
    free(g->vals);
    g->vals = v;
    g->cap = cap;
    return ST_OK;
}

int guard_admit(guard_t *g, const char *name, size_t nlen, const char *val, size_t vlen, bool count, bool *ok) {
    int rc;
    *ok = true;
    if (!g->limit) return ST_OK;
    guard_name_t *gn = NULL;
    for (size_t i = 0; i < g->n && !gn; i++)
        if (strlen(g->v[i].name) == nlen && memcmp(g->v[i].name, name, nlen) == 0) gn = &g->v[i];
    if (!gn) {
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 8;
            guard_name_t *v = realloc(g->v, cap * sizeof *v);
            if (!v) return st_errorf(ST_ENOMEM, "cardinality guard: adding a label name");
            g->v = v;
            g->cap = cap;
        }
        gn = &g->v[g->n];
        *gn = (guard_name_t){.name = strndup(name, nlen)};
        if (!gn->name) return st_errorf(ST_ENOMEM, "cardinality guard: adding a label name");
        g->n++;
    }
    uint64_t h = XXH3_64bits(val, vlen);
    if (!h) h = 1;
    if (gn->cap) {
        for (size_t i = h & (gn->cap - 1);; i = (i + 1) & (gn->cap - 1)) {
            if (gn->vals[i] == h) return ST_OK;
            if (!gn->vals[i]) break;
        }
    }
    if (gn->n >= g->limit) {
        if (count) gn->reassigned++;
        *ok = false;
        return ST_OK;
    }
    if ((gn->n + 1) * 4 > gn->cap * 3 && (rc = vals_grow(gn))) return rc;
    size_t i = h & (gn->cap - 1);
    while (gn->vals[i]) i = (i + 1) & (gn->cap - 1);
    gn->vals[i] = h;
    gn->n++;
    return ST_OK;
}

void guard_free(guard_t *g) {
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].name);
        free(g->v[i].vals);
    }
    free(g->v);
    uint64_t limit = g->limit;
    memset(g, 0, sizeof *g);
    g->limit = limit;
}
