/*
 * wal.h — the write-ahead log in Prometheus 2.42's format (tsdb/wlog and
 * tsdb/record), so `promtool tsdb dump` replays what Strata writes and
 * Strata replays what Prometheus writes:
 *
 *   wal/00000000 00000001 ...     segments (no header) of 32 KiB pages
 *   wal/checkpoint.NNNNNNNN/      segments folding everything up to N
 *
 * Records are opaque byte strings split into CRC32C-checked fragments that
 * never cross a page; a record never crosses a segment. Byte layouts are at
 * the top of shared/src/wal/segment.c (fragments) and record.c (records).
 *
 * Threads: a writer (st_wal_t) may be used from several threads; each call
 * is atomic with respect to the others. Readers belong to one thread.
 */
#ifndef STRATA_WAL_H
#define STRATA_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/buf.h"
#include "strata/labels.h"

#define ST_WAL_PAGE_SIZE 32768
#define ST_WAL_FRAGMENT_HEADER 7
#define ST_WAL_DEFAULT_SEGMENT_SIZE ((uint64_t)128 << 20)
/* A decoded (decompressed) record larger than this is treated as corrupt. */
#define ST_WAL_MAX_RECORD ((size_t)256 << 20)

/* ---- segment names ---- */

/* "<dir>/%08d", malloc'd; NULL on allocation failure. */
char *st_wal_segment_path(const char *dir, int index);
/* First and last segment index in dir (-1, -1 when there is none). Names
 * that are not 8-digit numbers are ignored. ST_ECORRUPT when the indices
 * have a gap (Prometheus: "segments are not sequential"). */
int st_wal_segments(const char *dir, int *first, int *last);

/* ---- writer ---- */

typedef struct st_wal st_wal_t;

/* Open dir (created if missing) for writing. Writing always starts a new
 * segment after the last existing one, as Prometheus does, so a torn tail
 * left by a crash is never appended to. segment_size 0 = 128 MiB; it is
 * rounded down to whole pages (at least one). */
int st_wal_open(st_wal_t **out, const char *dir, uint64_t segment_size, bool compress);
/* Append one record (compressed with snappy when enabled and smaller). It
 * is buffered in the current page; full pages are written at once. A record
 * that does not fit in the rest of the segment starts the next one; one
 * larger than a whole segment is ST_ELIMIT. */
int st_wal_log(st_wal_t *w, const uint8_t *rec, size_t len);
/* write(2) the buffered part of the current page: after this the records
 * survive the death of the process (not yet a power loss). */
int st_wal_flush(st_wal_t *w);
/* Flush, then fsync the current segment if anything was written since the
 * last sync. Safe to call from a timer thread. */
int st_wal_sync(st_wal_t *w);
/* Pad and fsync the current segment and start the next one. *index (may be
 * NULL) receives the index of the new segment. */
int st_wal_next_segment(st_wal_t *w, int *index);
/* Delete segments with an index below `below` (never the current one). */
int st_wal_truncate(st_wal_t *w, int below);
const char *st_wal_dir(const st_wal_t *w);
int st_wal_current_segment(st_wal_t *w);
/* Bytes of all segments currently in the directory. */
uint64_t st_wal_bytes(st_wal_t *w);
/* Pad the last page (like Prometheus's Close), fsync, close. Returns the
 * first error; the writer is freed either way. NULL ok. */
int st_wal_close(st_wal_t *w);

/* ---- reader ---- */

typedef struct st_wal_reader st_wal_reader_t;

/* Read segments first..last of dir in order. A partial last page is fine
 * (it reads as zero padding, i.e. ends the segment). */
int st_wal_reader_open(st_wal_reader_t **out, const char *dir, int first, int last);
/* One segment given as bytes (borrowed; tests and fuzzing); `name` appears
 * in errors. */
int st_wal_reader_open_mem(st_wal_reader_t **out, const uint8_t *p, size_t len, const char *name);
/* Next record: 1 = *rec and *len set (borrowed until the next call), 0 = end,
 * < 0 = error. Corruption (bad CRC, bad fragment sequence, non-zero
 * padding, a record torn at the end of a segment, undecodable snappy) is
 * ST_ECORRUPT with the segment path and offset in the detail. */
int st_wal_reader_next(st_wal_reader_t *r, const uint8_t **rec, size_t *len);
/* Segment index (or -1 for a memory reader) and byte offset where the last
 * record returned, or the one that failed, begins; repair truncates there. */
void st_wal_reader_position(const st_wal_reader_t *r, int *segment, uint64_t *offset);
void st_wal_reader_free(st_wal_reader_t *r); /* NULL ok */

/* Cut the WAL at a corruption: truncate segment `segment` to `offset`
 * bytes and delete every later segment (durably). What came before stays
 * readable; later records are lost, as with Prometheus's repair. */
int st_wal_repair(const char *dir, int segment, uint64_t offset);

/* ---- records (tsdb/record, layout in record.c) ---- */

enum {
    ST_WAL_REC_SERIES = 1,
    ST_WAL_REC_SAMPLES = 2,
    ST_WAL_REC_TOMBSTONES = 3,
};

typedef struct {
    uint64_t ref;
    st_labels_t lbls; /* owned when decoded; may be a borrowed view when encoding */
} st_wal_series_t;

typedef struct {
    uint64_t ref;
    int64_t t;
    double v;
} st_wal_sample_t;

typedef struct {
    uint64_t ref;
    int64_t mint, maxt; /* closed interval */
} st_wal_tombstone_t;

/* Record type byte of rec, or ST_ECORRUPT for an empty record. Unknown
 * types (exemplars, metadata, histograms) are returned as they are: callers
 * skip what they do not handle. */
int st_wal_record_type(const uint8_t *rec, size_t len);

/* Append a whole record to b (type byte included). Check b->err once. */
void st_wal_encode_series(st_encbuf_t *b, const st_wal_series_t *s, size_t n);
void st_wal_encode_samples(st_encbuf_t *b, const st_wal_sample_t *s, size_t n);
void st_wal_encode_tombstones(st_encbuf_t *b, const st_wal_tombstone_t *t, size_t n);

/* Decoders: *out is malloc'd (NULL when *n == 0). Label sets are checked
 * and normalised like st_labels_from_pairs; a repeated or empty label name
 * is ST_ECORRUPT. */
int st_wal_decode_series(const uint8_t *rec, size_t len, st_wal_series_t **out, size_t *n);
void st_wal_series_free(st_wal_series_t *s, size_t n); /* NULL ok */
int st_wal_decode_samples(const uint8_t *rec, size_t len, st_wal_sample_t **out, size_t *n);
int st_wal_decode_tombstones(const uint8_t *rec, size_t len, st_wal_tombstone_t **out, size_t *n);

/* ---- checkpoints ---- */

/* Newest dir/checkpoint.NNNNNNNN: *path malloc'd, *index its N.
 * ST_ENOTFOUND when there is none. */
int st_wal_last_checkpoint(const char *dir, char **path, int *index);

/* Does series `ref` still exist? Series records of other refs are dropped. */
typedef bool (*st_wal_keep_fn)(void *ctx, uint64_t ref);

typedef struct {
    uint64_t series_kept, series_dropped;
    uint64_t samples_kept, samples_dropped;
    uint64_t tombstones_kept, tombstones_dropped;
} st_wal_checkpoint_stats_t;

/* Fold the last checkpoint (if any) and segments from..to of dir into
 * dir/checkpoint.<to>: series records of refs keep() accepts, samples with
 * t >= mint, tombstone intervals ending at or after mint; other record
 * types are dropped. Written to checkpoint.<to>.tmp and renamed durably.
 * stats may be NULL. Does not delete anything. */
int st_wal_checkpoint(const char *dir, int from, int to, st_wal_keep_fn keep, void *ctx, int64_t mint,
                      bool compress, st_wal_checkpoint_stats_t *stats);
/* Delete checkpoints with an index below `below`. */
int st_wal_delete_checkpoints(const char *dir, int below);

#endif
