/*
 * block.h — TSDB blocks: write them, open them, select series from them.
 *
 * Writing. st_block_writer_t streams a block: symbols first (sorted), then
 * series in label order with their encoded chunks, then commit. Everything
 * goes to <parent>/<ULID>.tmp-for-creation, which commit fsyncs and renames
 * to <parent>/<ULID>, so a crash never leaves a half block under a ULID name.
 * st_block_builder_t sits on top for data that arrives as raw samples in any
 * series order (backfill, the head): it keeps series in memory, cuts XOR
 * chunks with the same rule as Prometheus's head (so chunk bytes equal
 * promtool's for the same samples) and writes through the writer.
 *
 * Reading. st_block_open() maps index and chunk segments, reads meta.json
 * and tombstones. A block is immutable; the handle may be shared by readers
 * on several threads. Series are read through st_series_set_t, which also
 * merges across blocks.
 */
#ifndef STRATA_BLOCK_H
#define STRATA_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/chunks.h"
#include "strata/index.h"
#include "strata/labels.h"
#include "strata/matcher.h"
#include "strata/meta.h"
#include "strata/tombstones.h"
#include "strata/ulid.h"

#define ST_BLOCK_TMP_SUFFIX ".tmp-for-creation"
#define ST_DEFAULT_BLOCK_DURATION_MS ((int64_t)2 * 60 * 60 * 1000)
/* Prometheus's head aims at this many samples per chunk (and cuts at 2x). */
#define ST_SAMPLES_PER_CHUNK 120

/* ---- streaming writer ---- */

typedef struct st_block_writer st_block_writer_t;

/* One encoded chunk handed to the writer (borrowed). */
typedef struct {
    int64_t mint, maxt; /* first and last sample timestamps */
    uint8_t encoding;
    const uint8_t *data;
    size_t len;
} st_chunk_t;

/* Start a block under parent_dir (created if missing). The ULID is fresh
 * (time = now) unless `id` is given. */
int st_block_writer_open(st_block_writer_t **out, const char *parent_dir, const st_ulid_t *id);
int st_block_writer_add_symbol(st_block_writer_t *w, const char *s, size_t len);
/* Series in strictly ascending label order, >= 1 chunk each, chunks in time
 * order. Samples/chunks are counted into the meta stats. */
int st_block_writer_add_series(st_block_writer_t *w, const st_labels_t *lbls, const st_chunk_t *chunks,
                               size_t nchunks, uint64_t nsamples);
/* Same, with crcs NULL or, per chunk, the CRC32C of its encoding | data when
 * already known (a chunk copied unchanged from a checked source,
 * st_chunk_stored_crc) or ST_CHUNK_CRC_UNKNOWN: the known ones are not
 * computed again (see st_chunk_writer_write_crc). */
#define ST_CHUNK_CRC_UNKNOWN ((int64_t)-1)
int st_block_writer_add_series_crc(st_block_writer_t *w, const st_labels_t *lbls, const st_chunk_t *chunks,
                                   const int64_t *crcs, size_t nchunks, uint64_t nsamples);
/* Finish: index, empty tombstones, meta.json (level 1, sources [ulid] unless
 * `meta` supplies compaction info; min/max time from `meta`), fsync, rename.
 * `meta` may be NULL only if mint/maxt are given through
 * st_block_writer_set_range. On success *out_dir (may be NULL) receives the
 * malloc'd final block path. The writer is consumed either way. */
int st_block_writer_commit(st_block_writer_t *w, const st_meta_t *meta, char **out_dir);
void st_block_writer_set_range(st_block_writer_t *w, int64_t mint, int64_t maxt);
const st_ulid_t *st_block_writer_ulid(const st_block_writer_t *w);
/* Abandon: removes the tmp dir. NULL ok. */
void st_block_writer_free(st_block_writer_t *w);

/* ---- in-memory builder ---- */

typedef struct st_block_builder st_block_builder_t;

/* chunk_range is the head chunk range (2h for blocks of 2h): it bounds how
 * far a chunk may reach, as in Prometheus's head. */
int st_block_builder_new(st_block_builder_t **out, int64_t chunk_range);
/* Append one sample. Samples of a series must come in increasing time order;
 * an older or equal timestamp is ST_EINVAL (Prometheus: out of order). The
 * labels are copied (st_labels_t stays the caller's). */
int st_block_builder_append(st_block_builder_t *b, const st_labels_t *lbls, int64_t t, double v);
size_t st_block_builder_num_series(const st_block_builder_t *b);
uint64_t st_block_builder_num_samples(const st_block_builder_t *b);
/* Write all series as one block under parent_dir with meta range
 * [first sample, last sample + 1). Nothing is written for an empty builder
 * (*out_dir = NULL, returns 0). */
int st_block_builder_write(st_block_builder_t *b, const char *parent_dir, char **out_dir);
void st_block_builder_free(st_block_builder_t *b);

/* ---- reader ---- */

typedef struct st_block st_block_t;

/* Open the block directory `dir`. Errors name the file and section. */
int st_block_open(st_block_t **out, const char *dir);
void st_block_close(st_block_t *b); /* NULL ok */
const st_meta_t *st_block_meta(const st_block_t *b);
const st_index_reader_t *st_block_index(const st_block_t *b);
const st_chunk_reader_t *st_block_chunks(const st_block_t *b);
const st_tombstones_t *st_block_tombstones(const st_block_t *b);
const char *st_block_dir(const st_block_t *b);
uint64_t st_block_size(const st_block_t *b); /* bytes of index + chunks + meta + tombstones */

/* Series IDs matching all matchers (Prometheus semantics: a matcher that
 * matches "" also selects series without the label). *out owned. */
int st_block_postings(const st_block_t *b, const st_matchers_t *ms, st_postings_t *out);

/* Open every block directory (name = ULID) under data_dir, sorted by
 * minTime then ULID. Returns an owned array of opened blocks. A block that
 * fails to open fails the call, with its path in the detail. */
int st_blocks_open_dir(const char *data_dir, st_block_t ***out, size_t *n);
void st_blocks_close(st_block_t **blocks, size_t n);

/* ---- series sets ---- */

/* A forward-only set of series in label order; within a series, samples in
 * time order. Labels and samples are valid until the next call. */
typedef struct st_series_set st_series_set_t;

/* Series of one block matching ms with samples in [mint, maxt] (closed),
 * tombstones and the block's own [minTime, maxTime) applied. The block
 * must outlive the set. */
int st_block_select(st_series_set_t **out, const st_block_t *b, const st_matchers_t *ms, int64_t mint,
                    int64_t maxt);
/* Merge sets (takes ownership of sets[0..n)): equal label sets become one
 * series whose samples are merged by time, duplicates of a timestamp
 * dropped (first set wins), as Prometheus's merge querier does. */
int st_series_set_merge(st_series_set_t **out, st_series_set_t **sets, size_t n);
/* A set backed by callbacks, for series kept outside blocks (the TSDB
 * head): next, labels, sample and samples follow the contracts below and
 * receive ctx; free(ctx) runs when the set is freed (also when this call
 * fails). samples is optional (NULL: st_series_set_samples loops over
 * sample). */
typedef struct {
    int (*next)(void *ctx);
    const st_labels_t *(*labels)(void *ctx);
    int (*sample)(void *ctx, int64_t *t, double *v);
    void (*free)(void *ctx);
    int (*samples)(void *ctx, int64_t *t, double *v, size_t cap);
} st_series_set_ops_t;
int st_series_set_new(st_series_set_t **out, const st_series_set_ops_t *ops, void *ctx);
/* 1 = moved to the next series, 0 = end, < 0 error. */
int st_series_set_next(st_series_set_t *s);
const st_labels_t *st_series_set_labels(const st_series_set_t *s);
/* Next sample of the current series: 1 = *t,*v set, 0 = series done, <0 error. */
int st_series_set_sample(st_series_set_t *s, int64_t *t, double *v);
/* Up to cap (> 0, else ST_EINVAL) next samples of the current series into
 * the caller's t[0..cap), v[0..cap) (the arrays stay the caller's; no
 * sample refers to set memory): the count (> 0), 0 = series done, < 0
 * error. Exactly the samples, in the same order and bit for bit, that
 * repeated st_series_set_sample calls would give, and the two may be mixed
 * on one series. An error met after some samples is returned by the
 * following call (next, sample or samples), where the single-sample path
 * would meet it. A set's samples op receives a cap of at most INT_MAX. */
int st_series_set_samples(st_series_set_t *s, int64_t *t, double *v, size_t cap);
void st_series_set_free(st_series_set_t *s); /* NULL ok */

#endif
