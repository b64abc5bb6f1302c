/*
 * dedup.h — samples of one series from the chunks of its replicas: Thanos's
 * overlap split and penalty deduplication (pkg/dedup), with the counter
 * adjustment for rate, irate, increase and resets. The querier uses it on
 * the chunks stores send; the compactor on the chunks of overlapping
 * blocks (vertical compaction).
 *
 * Chunks are st_store_chunk_t (storeapi.h): raw XOR data in
 * data[ST_AGGR_RAW], or downsampled aggregates in data[ST_AGGR_COUNT..
 * COUNTER], which st_dedup_samples_new_aggr reads through st_aggr_iter
 * (downsample.h), as Thanos dedups the samples of the aggregate it reads.
 * Ownership: every iterator borrows the chunk bytes for its life.
 */
#ifndef STRATA_DEDUP_H
#define STRATA_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/downsample.h"
#include "strata/storeapi.h"

/* Thanos's dedup: the penalty before a replica's sample interval is known. */
#define ST_DEDUP_INITIAL_PENALTY_MS 5000

/* Order of chunks in a merged series, Thanos's AggrChunk order: min time,
 * max time, then the bytes of raw, count, sum, min, max, counter (present
 * before absent, larger bytes first). */
int st_dedup_chunk_cmp(const st_store_chunk_t *a, const st_store_chunk_t *b);
/* Same data in every aggregate? (Thanos compares the xxhash of the bytes.) */
bool st_dedup_chunk_identical(const st_store_chunk_t *a, const st_store_chunk_t *b);

/* One replica's chunks, sorted by min time. */
typedef struct {
    const st_store_chunk_t *chunks;
    size_t n;
} st_dedup_replica_t;

/* Thanos's NewOverlapSplit: chunks (sorted) are dealt to "replicas" so
 * that no replica's chunks overlap: each chunk goes to the first replica
 * whose last chunk ends before it starts, else to a new one. *out and
 * *storage are malloc'd (free both); replicas point into *storage. */
int st_dedup_overlap_split(const st_store_chunk_t *chunks, size_t n, st_dedup_replica_t **out, size_t *nout,
                        st_store_chunk_t **storage);

/* Is f a function after which dedup adjusts counters? (rate, irate, increase, resets) */
bool st_dedup_func_is_counter(const char *f);

typedef struct st_dedup_samples st_dedup_samples_t;

/* Samples of one series from its replicas' raw XOR chunks, in time order,
 * within [mint, maxt]. One replica: its chunks merged by time, a repeated
 * timestamp kept once (first chunk wins). Several: Thanos's penalty dedup,
 * pairwise ((r0 ⊕ r1) ⊕ r2 ...), with the counter adjustment when counter.
 * Chunk bytes are borrowed for the iterator's life. */
int st_dedup_samples_new(st_dedup_samples_t **out, const st_dedup_replica_t *r, size_t n, int64_t mint, int64_t maxt,
                      bool counter);
/* The same over downsampled replicas: each replica's chunks (sorted, not
 * overlapping, as the overlap split deals them) are read as Thanos's
 * querier reads them, through st_aggr_iter_new(what) bounded to [mint,
 * maxt]: one aggregate (a chunk without it read as raw), avg, or the
 * counter with its resets applied. One replica: those samples; several:
 * the same penalty dedup, counter adjustment included. A chunk with
 * neither the aggregate(s) nor raw data fails here (ST_ECORRUPT). */
int st_dedup_samples_new_aggr(st_dedup_samples_t **out, const st_dedup_replica_t *r, size_t n, int64_t mint,
                              int64_t maxt, bool counter, st_aggr_read_t what);
/* 1 = *t, *v set; 0 = done; < 0 = a chunk does not decode (ST_ECORRUPT) or
 * is not raw XOR (ST_EUNSUPPORTED; st_dedup_samples_new only). */
int st_dedup_samples_next(st_dedup_samples_t *s, int64_t *t, double *v);
/* Up to cap (> 0, else ST_EINVAL) next samples into the caller's t[0..),
 * v[0..): the count (> 0), 0 = done, < 0 as above. Exactly the samples
 * that repeated st_dedup_samples_next calls would give (the two may be
 * mixed); an error met after some samples is returned by the next call.
 * One raw replica whose active chunk alone can supply the next samples
 * is decoded in batches straight into the arrays; anything else loops. */
int st_dedup_samples_next_batch(st_dedup_samples_t *s, int64_t *t, double *v, size_t cap);
void st_dedup_samples_free(st_dedup_samples_t *s); /* NULL ok */

#endif
