/*
 * cache.h — a thread-safe in-memory LRU cache of byte strings with a size
 * cap, for the store gateway's postings and series bytes (Thanos's
 * in-memory index cache). Keys and values are copied in and out, so no
 * entry is ever referenced after eviction. Entries bigger than 1/16 of the
 * cap are not stored (one huge item must not flush everything).
 */
#ifndef STRATA_CACHE_H
#define STRATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_cache st_cache_t;

typedef struct {
    uint64_t hits, misses, items, bytes, evictions; /* bytes: sum of entry costs; replacements are no evictions */
} st_cache_stats_t;

/* max_bytes caps the sum of entry costs: key + value + a fixed per-entry
 * overhead (its header and hash bucket share, 64 bytes on 64-bit); it is
 * never exceeded. 0 = disabled (every get misses, puts are dropped). */
int st_cache_new(st_cache_t **out, uint64_t max_bytes);
void st_cache_free(st_cache_t *c); /* NULL ok */
/* 1 = hit: *val malloc'd copy (free()), *vlen set, the entry becomes the
 * most recently used; 0 = miss; ST_ENOMEM if the copy cannot be made. */
int st_cache_get(st_cache_t *c, const void *key, size_t klen, uint8_t **val, size_t *vlen);
/* Insert or replace, evicting least recently used entries until it fits.
 * An entry costing more than max_bytes/16 is not stored (and any older
 * value under its key is dropped). 0, or ST_ENOMEM. */
int st_cache_put(st_cache_t *c, const void *key, size_t klen, const void *val, size_t vlen);
void st_cache_stats(st_cache_t *c, st_cache_stats_t *out);

#endif
