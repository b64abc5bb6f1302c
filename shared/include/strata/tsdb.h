/*
 * tsdb.h — the local time-series database of `strata scraper`: an
 * in-memory head backed by a write-ahead log, plus the persisted blocks of a
 * data directory laid out exactly like Prometheus's (--storage.tsdb.path):
 *
 *   data/<ULID>/...        blocks (block.h)
 *   data/wal/00000000 ...  WAL segments, Prometheus 2.42 format
 *   data/wal/checkpoint.N/ checkpoint after truncation
 *   data/lock              lock file while open
 *
 * so `promtool tsdb dump/analyze` and `strata sidecar` work on it.
 *
 * Write path: samples go through an appender; commit writes them to the WAL
 * (series records first) and only then makes them visible in the head. A
 * sample acknowledged by a commit survives kill -9 (the WAL is written with
 * write(2) at commit and fsynced at least every wal_fsync_interval_ms and
 * on close; see tsdb.c for the exact guarantee).
 *
 * Persistence: st_db_compact() writes the head's oldest block-duration
 * window as a block once the head spans 1.5 windows (as Prometheus does),
 * then truncates the WAL (checkpoint) and applies retention.
 *
 * Threads: one appender at a time (the scrape loop); any number of
 * concurrent readers (st_db_select, st_db_label_*) and one st_db_compact
 * caller.
 */
#ifndef STRATA_TSDB_H
#define STRATA_TSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/block.h"
#include "strata/labels.h"
#include "strata/matcher.h"

typedef struct {
    const char *path;              /* data directory, created if missing */
    int64_t block_duration_ms;     /* default 2h (--storage.tsdb.min-block-duration) */
    int64_t retention_ms;          /* --storage.tsdb.retention.time, 0 = keep forever (default 15d) */
    uint64_t wal_segment_size;     /* default 128 MiB */
    bool wal_compression;          /* snappy-compressed records (default true, like 2.42) */
    int64_t wal_fsync_interval_ms; /* default 1000 */
} st_db_opts_t;

void st_db_opts_default(st_db_opts_t *o, const char *path);

typedef struct st_db st_db_t;

/* Open: take the lock, open blocks, replay checkpoint + WAL into the head.
 * A corrupt WAL tail is truncated at the first bad record (logged with the
 * segment and offset) and replay continues with what came before. */
int st_db_open(st_db_t **out, const st_db_opts_t *opts);
/* Flush and fsync the WAL, release the lock. The head is not persisted as a
 * block (the WAL is replayed next time). NULL ok. */
void st_db_close(st_db_t *db);

typedef struct st_appender st_appender_t;

int st_db_appender(st_db_t *db, st_appender_t **out);
/* Stage one sample. *ref caches the series (pass 0 the first time; the
 * appender sets it); a non-zero ref skips the label lookup. lbls is read
 * only when *ref is 0 or unknown. Out-of-order, duplicate-timestamp with a
 * different value, or too old (before the head's min valid time) samples
 * give ST_EINVAL and stage nothing. */
int st_appender_add(st_appender_t *a, uint64_t *ref, const st_labels_t *lbls, int64_t t, double v);
/* Write staged samples to the WAL, then make them visible. Frees a. */
int st_appender_commit(st_appender_t *a);
void st_appender_rollback(st_appender_t *a); /* discards, frees; NULL ok */

/* Cut blocks from the head when due, truncate the WAL, apply retention.
 * Cheap when nothing is due; call it periodically (e.g. every minute). */
int st_db_compact(st_db_t *db);

/* Series of head and blocks matching ms with samples in [mint, maxt],
 * merged (st_series_set_merge). The set holds a read reference that keeps
 * the blocks and head data it reads alive until freed. */
int st_db_select(st_db_t *db, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out);

/* A sorted list of unique strings; v and every string owned. */
typedef struct {
    char **v;
    size_t n;
} st_db_strings_t;
void st_db_strings_free(st_db_strings_t *s); /* frees all, zeroes; NULL ok */

/* Label names (st_db_label_names) or the values of label `name`
 * (st_db_label_values) of the series matching any of the matcher sets
 * sets[0..nsets) (every series when nsets is 0), as Prometheus 2.42's
 * /api/v1/labels and /api/v1/label/<name>/values compute them over
 * [mint, maxt]: from the blocks overlapping the range and from the head
 * when the range overlaps its samples, without looking at the samples of
 * each series (a series of an included block or head counts even if its
 * own samples lie outside the range). "" is never a name or value. */
int st_db_label_names(st_db_t *db, const st_matchers_t *sets, size_t nsets, int64_t mint, int64_t maxt,
                      st_db_strings_t *out);
int st_db_label_values(st_db_t *db, const char *name, const st_matchers_t *sets, size_t nsets, int64_t mint,
                       int64_t maxt, st_db_strings_t *out);

typedef struct {
    uint64_t head_series;
    uint64_t head_chunks;
    uint64_t samples_appended_total;
    uint64_t out_of_order_total;
    int64_t head_min_time, head_max_time;
    uint64_t wal_bytes;
    uint64_t blocks;
    uint64_t compactions_total, compaction_failures_total;
    uint64_t wal_corruptions_total;
    int64_t lowest_timestamp_ms; /* oldest sample in blocks or head, INT64_MAX if none */
} st_db_stats_t;
void st_db_stats(st_db_t *db, st_db_stats_t *out);

#endif
