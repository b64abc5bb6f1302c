/*
 * In-memory LRU cache of byte strings (cache.h).
 *
 * One mutex guards a chained hash table (XXH3 of the key, power-of-two
 * buckets, doubled when entries outnumber buckets) and a doubly linked
 * recency list, most recent at the head. Each entry is one allocation:
 * header, key bytes, value bytes. Its cost is that allocation plus two
 * bucket pointers (the table runs between half full and full after it
 * grows), and the sum of costs never exceeds max_bytes: a put evicts from
 * the tail until the new entry fits. Entries are built and copied outside
 * the lock where possible; only the list/table splice and the value copy
 * of a hit happen under it.
 */
#include "strata/cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "strata/err.h"

typedef struct entry {
    struct entry *prev, *next; /* recency list */
    struct entry *chain;       /* hash bucket */
    uint64_t hash;
    size_t klen, vlen;
    uint8_t data[]; /* key then value */
} entry_t;

#define MIN_BUCKETS 64

struct st_cache {
    pthread_mutex_t mu;
    uint64_t max;
    entry_t **buckets;
    size_t nbuckets;
    entry_t *head, *tail;
    st_cache_stats_t st;
};

static uint64_t entry_cost(size_t klen, size_t vlen) {
    return sizeof(entry_t) + 2 * sizeof(entry_t *) + (uint64_t)klen + vlen;
}

int st_cache_new(st_cache_t **out, uint64_t max_bytes) {
    *out = NULL;
    st_cache_t *c = calloc(1, sizeof *c);
    if (!c) return st_errorf(ST_ENOMEM, "cache: allocating");
    c->max = max_bytes;
    if (max_bytes) {
        c->nbuckets = MIN_BUCKETS;
        if (!(c->buckets = calloc(c->nbuckets, sizeof *c->buckets))) {
            free(c);
            return st_errorf(ST_ENOMEM, "cache: allocating %d buckets", MIN_BUCKETS);
        }
    }
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->buckets);
        free(c);
        return st_errorf(ST_ENOMEM, "cache: mutex init failed");
    }
    *out = c;
    return 0;
}

void st_cache_free(st_cache_t *c) {
    if (!c) return;
    for (entry_t *e = c->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static entry_t **slot_of(st_cache_t *c, uint64_t hash, const void *key, size_t klen) {
    entry_t **pp = &c->buckets[hash & (c->nbuckets - 1)];
    while (*pp && ((*pp)->hash != hash || (*pp)->klen != klen || memcmp((*pp)->data, key, klen) != 0))
        pp = &(*pp)->chain;
    return pp;
}

static void list_unlink(st_cache_t *c, entry_t *e) {
    if (e->prev) e->prev->next = e->next;
    else c->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(st_cache_t *c, entry_t *e) {
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    else c->tail = e;
    c->head = e;
}

/* Unlink e from table and list and free it; counts the bytes, not the
 * eviction (a replaced entry is not an eviction). */
static void drop(st_cache_t *c, entry_t *e) {
    entry_t **pp = slot_of(c, e->hash, e->data, e->klen);
    *pp = e->chain;
    list_unlink(c, e);
    c->st.items--;
    c->st.bytes -= entry_cost(e->klen, e->vlen);
    free(e);
}

/* Doubling is best effort: a failed allocation only makes chains longer. */
static void maybe_grow(st_cache_t *c) {
    if (c->st.items <= c->nbuckets || c->nbuckets > SIZE_MAX / 2 / sizeof(entry_t *)) return;
    size_t n = c->nbuckets * 2;
    entry_t **b = calloc(n, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (entry_t *e = c->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

int st_cache_get(st_cache_t *c, const void *key, size_t klen, uint8_t **val, size_t *vlen) {
    *val = NULL;
    *vlen = 0;
    uint64_t h = XXH3_64bits(key, klen);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    entry_t *e = c->max ? *slot_of(c, h, key, klen) : NULL;
    if (!e) {
        c->st.misses++;
        goto out;
    }
    uint8_t *copy = malloc(e->vlen ? e->vlen : 1);
    if (!copy) {
        rc = st_errorf(ST_ENOMEM, "cache: copying a %zu-byte value", e->vlen);
        goto out;
    }
    memcpy(copy, e->data + e->klen, e->vlen);
    list_unlink(c, e);
    list_push_front(c, e);
    c->st.hits++;
    *val = copy;
    *vlen = e->vlen;
    rc = 1;
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int st_cache_put(st_cache_t *c, const void *key, size_t klen, const void *val, size_t vlen) {
    if (!c->max) return 0;
    uint64_t h = XXH3_64bits(key, klen);
    entry_t *e = NULL;
    bool fits = klen <= c->max && vlen <= c->max && entry_cost(klen, vlen) <= c->max / 16;
    if (fits) {
        if (!(e = malloc(sizeof *e + klen + vlen))) return st_errorf(ST_ENOMEM, "cache: %zu-byte entry", klen + vlen);
        e->hash = h;
        e->klen = klen;
        e->vlen = vlen;
        e->chain = NULL;
        memcpy(e->data, key, klen);
        if (vlen) memcpy(e->data + klen, val, vlen);
    }
    pthread_mutex_lock(&c->mu);
    /* A refused value must not leave an older one served under its key. */
    entry_t *old = *slot_of(c, h, key, klen);
    if (old) drop(c, old);
    if (e) {
        uint64_t cost = entry_cost(klen, vlen);
        while (c->tail && c->st.bytes + cost > c->max) {
            drop(c, c->tail);
            c->st.evictions++;
        }
        entry_t **pp = &c->buckets[h & (c->nbuckets - 1)];
        e->chain = *pp;
        *pp = e;
        list_push_front(c, e);
        c->st.items++;
        c->st.bytes += cost;
        maybe_grow(c);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void st_cache_stats(st_cache_t *c, st_cache_stats_t *out) {
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}
