/*
 * store.h — `strata store`, the store gateway (Thanos's `thanos store`):
 * serves the blocks of a bucket over the StoreAPI without downloading them.
 *
 *   bucket ──sync (every --sync-block-duration)──▶ loaded blocks
 *            each: meta.json + an index-header built once from ranged
 *            reads of <ULID>/index into --data-dir/<ULID>/index-header
 *   Series ──▶ blocks by time, external labels and resolution ──▶
 *            postings (byte ranges from the index-header, fetched by
 *            ranged reads) ──▶ series entries (ranged reads) ──▶ chunks
 *            (ranged reads; AggrChunks cut to the requested aggregates)
 *            ──▶ merged across blocks, streamed in label order
 *
 * Nearby byte ranges are fetched with one GET (gap < 512 KiB, as Thanos's
 * partitioner); postings lists and series entries go through one LRU
 * cache (--index-cache-size). Memory grows with the index-headers (mapped)
 * and with what a query returns, never with the size of blocks.
 *
 * Threads: the main thread syncs; the gRPC workers (one per call at
 * once, --store.grpc.series-max-concurrency) answer queries; a signal
 * thread stops everything. The block set is a mutex-guarded array of
 * refcounted blocks: a query takes references to the blocks it reads, so
 * a sync that unloads a block never frees what a query is reading.
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/bucket.h"
#include "strata/cache.h"
#include "strata/index.h"
#include "strata/indexheader.h"
#include "strata/labels.h"
#include "strata/matcher.h"
#include "strata/objstore.h"
#include "strata/promconfig.h"
#include "strata/storeapi.h"

/* argv[0] is "store". Returns the process exit code: 0 after a clean
 * shutdown (SIGINT/SIGTERM), 1 on a fatal error, 2 on a usage error. */
int store_main(int argc, char **argv);

/* ---- byte-range partitioning (partition.c) ---- */

/* Thanos's gap-based partitioner: ranges closer than this share one GET. */
#define STORE_PARTITION_MAX_GAP ((uint64_t)512 << 10)
/* One GET never spans more than this unless a single range does (keeps a
 * query's memory bounded by its batch, not by the block). */
#define STORE_PARTITION_MAX_PART ((uint64_t)32 << 20)

typedef struct {
    uint64_t start, end; /* [start, end) */
} store_range_t;

typedef struct {
    uint64_t start, end; /* the GET: [start, end) */
    size_t first, last;  /* covers ranges[first..last) */
} store_part_t;

/* Group ranges (sorted by start; they may overlap) into parts: a range
 * joins the current part when it starts at most max_gap bytes after the
 * part's end and the part stays within max_part bytes. *out malloc'd. */
int store_partition(const store_range_t *r, size_t n, uint64_t max_gap, uint64_t max_part, store_part_t **out,
                    size_t *nout);

/* ---- flag values (timeflag.c) ---- */

/* Thanos's TimeOrDurationValue: an RFC 3339 time, a duration relative to
 * now ("-2w", "-72h", "1d"), or (Strata) an integer of ms since the epoch. */
typedef struct {
    bool relative;
    int64_t ms; /* absolute time, or the offset from now */
} store_time_t;

int store_time_parse(const char *s, store_time_t *out);
int64_t store_time_resolve(const store_time_t *t, int64_t now_ms);

/* ---- metrics ---- */

typedef struct {
    atomic_uint_fast64_t block_loads, block_load_failures, block_drops;
    atomic_uint_fast64_t syncs, sync_failures, sync_duration_us_sum;
    atomic_uint_fast64_t postings_requests, postings_hits, series_requests, series_hits;
    atomic_uint_fast64_t fetched_postings, fetched_series, fetched_chunks, fetched_index_header;
    atomic_uint_fast64_t gets;
    atomic_uint_fast64_t series_served, chunks_served, series_calls, series_call_failures, label_calls;
    atomic_uint_fast64_t queries_dropped; /* limits hit */
} store_metrics_t;

/* ---- blocks (bucket_block.c) ---- */

typedef struct store store_t;

typedef struct {
    char *name;    /* object name "<ULID>/chunks/000001" */
    uint64_t size; /* 0 = unknown */
} store_segment_t;

typedef struct store_block {
    atomic_int refs;
    store_t *store;
    st_ulid_t id;
    char ulid[ST_ULID_TEXT_LEN + 1];
    int64_t min_time, max_time; /* meta: [min, max) */
    int64_t resolution;
    st_labels_t ext; /* external labels (thanos section) */
    st_indexheader_t *ih;
    char *index_name; /* "<ULID>/index" */
    uint64_t index_size;
    store_segment_t *segs;
    size_t nsegs;
    char *dir; /* <data-dir>/<ULID> */
    /* The index's series section [start, end) (from its TOC, which the
     * index-header copies): every series entry lies inside it. */
    uint64_t series_start, series_end;
    /* Mean series entry and chunk size (meta.json's stats over the section
     * and segment sizes; 0 = unknown): the first read of an entry that
     * nothing else bounds takes a few times this, not the store's estimate. */
    uint64_t series_mean, chunk_mean;
} store_block_t;

/* Load a listed block: index-header (reused if a valid one is on disk,
 * else built from ranged reads), chunk segment names and sizes. Errors
 * name the block. */
int store_block_load(store_t *st, const st_bucket_block_t *b, store_block_t **out);
void store_block_ref(store_block_t *b);
void store_block_unref(store_block_t *b); /* frees at 0; NULL ok */

/* Where bytes fetched for one request are accounted: metrics always, the
 * Series sink's downloaded-bytes limit when there is one. */
typedef struct {
    st_series_sink_t *sink; /* NULL for label calls */
} store_fetch_t;

/* Series IDs of the block matching ms, Prometheus semantics (as
 * st_block_postings). *out owned. */
int store_block_postings(store_block_t *b, const st_matchers_t *ms, store_fetch_t *f, st_postings_t *out);

/* A decoded series entry: labels (owned) and chunk metas (owned). */
typedef struct {
    st_labels_t lbls;
    st_chunk_meta_t *chunks;
    size_t nchunks;
} store_series_t;

/* Decode the series ids[0..n) (ascending) into out[0..n) (zeroed by the
 * caller; release with store_series_free). next: the ID following
 * ids[n-1] in the caller's list, 0 if none; an entry ends before the next
 * series starts, so each is read up to the following ID. */
int store_block_series(store_block_t *b, const uint32_t *ids, size_t n, uint32_t next, store_fetch_t *f,
                       store_series_t *out);
void store_series_free(store_series_t *s);

/* One chunk to fetch; enc and data (borrowed from *bufs) are filled in. */
typedef struct {
    uint64_t ref;
    size_t tag; /* the caller's, untouched */
    uint8_t enc; /* XOR (1) or AggrChunk (ST_CHUNK_ENC_AGGR) */
    const uint8_t *data;
    size_t len;
} store_chunk_req_t;

/* Fetch the chunks reqs[0..n) of block b (any order). Buffers holding the
 * data are appended to *bufs (free each, then the array) so the caller
 * releases them once the data is sent. XOR chunks and AggrChunks are
 * served (in any block, as Thanos does); other encodings are
 * ST_EUNSUPPORTED. */
typedef struct {
    uint8_t **v;
    size_t n, cap;
} store_bufs_t;
int store_block_chunks(store_block_t *b, store_chunk_req_t *reqs, size_t n, store_fetch_t *f, store_bufs_t *bufs);
void store_bufs_free(store_bufs_t *b);

/* ---- the store (sync.c) ---- */

struct store {
    st_objstore_t *bkt;
    char *data_dir;
    st_cache_t *cache;
    store_metrics_t m;
    int sync_concurrency;
    store_time_t min_time, max_time;
    st_relabel_list_t relabel; /* --selector.relabel-config; empty = keep all */
    int64_t deletion_delay_ms; /* --ignore-deletion-marks-delay */
    /* Largest first read of a series entry and of a chunk (Thanos's 64 KiB
     * and 16000 B); larger ones are read again. Tests lower them. */
    uint64_t series_estimate, chunk_estimate;
    atomic_bool *stop;

    pthread_mutex_t mu;     /* guards blocks / nblocks */
    store_block_t **blocks; /* sorted by ULID; one reference each */
    size_t nblocks;
    atomic_uint_fast64_t ih_file_bytes, ih_mem_bytes;
};

int store_init(store_t *st, st_objstore_t *bkt, const char *data_dir, uint64_t cache_bytes);
void store_destroy(store_t *st); /* unloads every block (index-headers stay on disk) */
/* One sync pass: list, filter, load new blocks, unload gone ones. A
 * failed listing keeps the current set and returns the error. */
int store_sync(store_t *st);
/* References to the loaded blocks (unref each, free the array). */
int store_snapshot(store_t *st, store_block_t ***out, size_t *n);
/* Keep this block? (time range, relabel over ext labels + __block_id) */
bool store_block_wanted(store_t *st, const st_bucket_block_t *b, int64_t now_ms);

/* ---- block choice (blockset.c) ---- */

/* Thanos's bucketBlockSet.getFor over the blocks v[0..n) of one external
 * label set (any order): for the closed range [mint, maxt], the blocks of
 * the coarsest resolution (1h, 5m, raw) not above max_res, ordered by
 * (min time, max time); each time gap they leave (before, between and
 * after them) is filled the same way from the next finer resolution. A
 * block's range covers its span even where it holds no data. max_res 0 (or
 * below) picks raw blocks only. Blocks of other resolutions are never
 * picked. out has room for n; a block is listed once even where
 * overlapping coarser blocks make Thanos list it twice. */
int store_blocks_for(store_block_t *const *v, size_t n, int64_t mint, int64_t maxt, int64_t max_res,
                     store_block_t **out, size_t *nout);

/* ---- StoreAPI (series.c) ---- */

/* Thanos's populateChunk for an AggrChunk payload p[0..len) (after the
 * 0xff encoding byte): out->data/len get the aggregates requested in
 * `aggregates` (bits 1u << ST_AGGR_COUNT..COUNTER; the RAW bit is
 * ignored), borrowed from p; with none requested the chunk goes out
 * empty, as Thanos sends it. ST_ECORRUPT when the payload does not decode
 * or lacks a requested aggregate ("aggregate counter does not exist");
 * the caller names block and series. */
int store_aggr_chunk(const uint8_t *p, size_t len, uint32_t aggregates, st_store_chunk_t *out);

extern const st_storeapi_ops_t store_ops; /* ctx = store_t * */

#endif
