/*
 * bucket.h — TSDB blocks in object storage, laid out as Thanos does:
 *
 *   <ULID>/chunks/000001 ...      segment files
 *   <ULID>/index
 *   <ULID>/meta.json              Prometheus meta + "thanos" section; written LAST
 *   <ULID>/deletion-mark.json     optional markers
 *   <ULID>/no-compact-mark.json
 *   <ULID>/no-downsample-mark.json
 *
 * Upload order is chunks, index, meta.json, so a block directory without
 * meta.json is a partial upload (still going, or aborted) and readers skip
 * it. Deletion runs the other way: meta.json first (the block stops being a
 * block), then the rest, the deletion mark last. Tombstones are not shipped.
 *
 * Everything read from the bucket is untrusted: meta.json, markers and the
 * thanos section are validated; a bad one is ST_ECORRUPT naming the object.
 */
#ifndef STRATA_BUCKET_H
#define STRATA_BUCKET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"
#include "strata/meta.h"
#include "strata/objstore.h"
#include "strata/relabel.h"
#include "strata/ulid.h"

#define ST_BUCKET_DELETION_MARK "deletion-mark.json"
#define ST_BUCKET_NO_COMPACT_MARK "no-compact-mark.json"
/* The pseudo-label of a block's ULID in selector relabeling and hints. */
#define ST_BUCKET_BLOCK_ID_LABEL "__block_id"
#define ST_BUCKET_NO_DOWNSAMPLE_MARK "no-downsample-mark.json"
#define ST_THANOS_SOURCE_SIDECAR "sidecar"
#define ST_THANOS_SOURCE_COMPACTOR "compactor"
/* meta.json objects above this are refused (Thanos lists every file). */
#define ST_BUCKET_META_MAX ((size_t)16 << 20)

/* ---- the "thanos" section of meta.json ----
 *
 *   "thanos": {
 *     "version": 1,                       optional; absent = 1, other = error
 *     "labels": {"name": "value", ...},   external labels of the producer
 *     "downsample": {"resolution": 0},    ms: 0 raw, 300000, 3600000
 *     "source": "sidecar",
 *     "segment_files": ["000001", ...],   deprecated, written for old readers
 *     "files": [{"rel_path": "chunks/000001", "size_bytes": 123}, ...,
 *               {"rel_path": "index", "size_bytes": 456}, {"rel_path": "meta.json"}]
 *   }
 * Other keys (rewrites, index_stats, ...) are kept verbatim by re-uploads.
 */

typedef struct {
    char *rel_path;
    uint64_t size; /* 0 = not recorded (meta.json) */
} st_thanos_file_t;

typedef struct {
    st_labels_t labels;
    int64_t resolution;
    char *source;            /* owned; "" when absent */
    st_thanos_file_t *files; /* owned, sorted by rel_path */
    size_t nfiles;
} st_thanos_t;

/* Parse meta.thanos_json (NULL = no section: empty result). `name` goes in
 * error details. *out owned. */
int st_thanos_parse(st_thanos_t *out, const char *json, const char *name);
void st_thanos_free(st_thanos_t *t); /* NULL ok */

/* ---- markers ---- */

typedef enum { ST_MARK_DELETION, ST_MARK_NO_COMPACT, ST_MARK_NO_DOWNSAMPLE } st_mark_kind_t;

/* deletion-mark.json:      {"id":"<ULID>","version":1,"details":"..","deletion_time":<unix s>}
 * no-compact-mark.json:    {"id":"<ULID>","version":1,"details":"..","no_compact_time":<unix s>,"reason":".."}
 * no-downsample-mark.json: {"id":"<ULID>","version":1,"details":"..","no_downsample_time":<unix s>,"reason":".."}
 * (details omitted when empty). */
typedef struct {
    st_ulid_t id;
    int64_t time_s;
    char *details; /* owned, may be NULL */
    char *reason;  /* owned; no-compact / no-downsample only ("manual", ...) */
} st_marker_t;

/* The marker's object name ("deletion-mark.json", ...). */
const char *st_marker_filename(st_mark_kind_t kind);

int st_marker_encode(st_mark_kind_t kind, const st_marker_t *m, char **out, size_t *len);
int st_marker_parse(st_mark_kind_t kind, const char *json, size_t len, const char *name, st_marker_t *out);
void st_marker_free(st_marker_t *m); /* NULL ok */
/* <ULID>/<marker>. Writing over an existing marker replaces it. A missing
 * marker on read is ST_ENOTFOUND. */
int st_bucket_write_marker(st_objstore_t *s, st_mark_kind_t kind, const st_marker_t *m);
int st_bucket_read_marker(st_objstore_t *s, st_mark_kind_t kind, const st_ulid_t *id, st_marker_t *out);

/* ---- blocks ---- */

/* Upload the local block directory `dir` (named by its ULID). The uploaded
 * meta.json carries `thanos` (labels must be non-empty; files are computed
 * here, given ones are ignored), or, when thanos is NULL, the block's own
 * section with fresh files. The local directory is not modified. `stop`
 * (may be NULL) is checked between objects: once set, the upload stops with
 * ST_EIO and leaves a partial upload. On a failure before meta.json the
 * objects already sent are deleted (best effort); a failed meta.json upload
 * is left alone, as it may still have landed. out_meta (may be NULL)
 * receives the uploaded meta. */
int st_bucket_upload_block(st_objstore_t *s, const char *dir, const st_thanos_t *thanos, const atomic_bool *stop,
                           st_meta_t *out_meta);
/* Download block `id` into <parent>/<ULID> (via <ULID>.tmp-for-creation,
 * renamed durably at the end). ST_ENOTFOUND when the bucket has no
 * meta.json for it; ST_EEXIST when the target exists. out_dir may be NULL. */
int st_bucket_download_block(st_objstore_t *s, const st_ulid_t *id, const char *parent, char **out_dir);
/* Delete block `id`: meta.json, then every other object, deletion mark last.
 * Stops at the first failure (a block never loses meta.json last). */
int st_bucket_delete_block(st_objstore_t *s, const st_ulid_t *id);
/* Meta of block `id` from the bucket; ST_ENOTFOUND when absent. */
int st_bucket_read_meta(st_objstore_t *s, const st_ulid_t *id, st_meta_t *out);
/* Newest last-modified time (ms) over the block's objects; 0 when the
 * backend can't tell or there are none. */
int st_bucket_block_last_modified(st_objstore_t *s, const st_ulid_t *id, int64_t *ms);

typedef struct {
    st_ulid_t id;
    bool partial;       /* no meta.json */
    int meta_rc;        /* != 0: meta.json exists but is unreadable; meta_err says why */
    char *meta_err;     /* owned */
    st_meta_t meta;     /* valid when !partial && !meta_rc */
    st_thanos_t thanos; /* likewise */
    bool deletion_marked, no_compact_marked, no_downsample_marked; /* only with ST_BUCKET_LIST_MARKERS */
    int64_t deletion_time_s;
    char *marker_err;   /* owned; set when a marker exists but is unreadable (it then counts as absent) */
} st_bucket_block_t;

#define ST_BUCKET_LIST_MARKERS 1u

/* Every block directory at the bucket root (other names are ignored),
 * sorted by ULID. Transport errors fail the call; a corrupt meta.json or
 * marker is recorded in the entry (meta_rc / meta_err). */
int st_bucket_list(st_objstore_t *s, unsigned flags, st_bucket_block_t **out, size_t *n);
void st_bucket_blocks_free(st_bucket_block_t *v, size_t n);

/* Thanos's selector sharding (--selector.relabel-config): the block's
 * external labels, without those named in drop[0..ndrop) (the compactor's
 * replica labels, so HA replicas land on one shard), plus __block_id=<ULID>
 * go through r. *keep = false when the rules drop the set or leave no
 * label. r NULL keeps every block. */
int st_bucket_block_selected(const st_relabel_t *r, const st_bucket_block_t *b, const char *const *drop, size_t ndrop,
                             bool *keep);

/* ---- cleanup ---- */

/* What st_bucket_cleanup did with one block it considered. */
typedef enum { ST_CLEANUP_KEPT, ST_CLEANUP_DELETED, ST_CLEANUP_WOULD_DELETE, ST_CLEANUP_FAILED } st_cleanup_action_t;

typedef struct {
    const st_bucket_block_t *block;
    const char *what;   /* "block marked for deletion" or "partial upload" */
    int64_t age_ms;     /* since the deletion mark / the newest object; 0 when FAILED before it was known */
    st_cleanup_action_t action;
    const char *err;    /* FAILED: what went wrong (borrowed for the call) */
} st_cleanup_event_t;

typedef struct {
    size_t deleted, kept, failed;
} st_cleanup_stats_t;

/* Thanos's blocks cleaner and aborted-upload cleaner over a listing made
 * with ST_BUCKET_LIST_MARKERS: a block marked for deletion at least
 * delay_ms before now_ms, and a partial upload whose newest object (the
 * ULID's time when the backend has no modification times) is at least
 * delay_ms old, are deleted (st_bucket_delete_block); others are kept.
 * dry_run only reports. fn (may be NULL) hears of every deletion-marked or
 * partial block. `stop` (may be NULL) ends the walk early. Failures are
 * counted and reported, not returned: one block's trouble never stops the
 * others. */
int st_bucket_cleanup(st_objstore_t *s, const st_bucket_block_t *v, size_t n, int64_t delay_ms, int64_t now_ms,
                      bool dry_run, const atomic_bool *stop, void (*fn)(void *ctx, const st_cleanup_event_t *ev),
                      void *ctx, st_cleanup_stats_t *stats);

/* ---- verification ---- */

typedef struct {
    uint64_t series, chunks;
    uint64_t problems; /* 0 = healthy; the first one is in first_problem */
    char first_problem[512];
} st_index_check_t;

/* Check an index against its block meta: series in strictly ascending
 * label order with sorted unique names, >= 1 chunk each, chunks with
 * mint <= maxt, in order, not overlapping, inside [minTime, maxTime], refs
 * inside the segment files (seg_sizes[i] = size of segment i, nseg may be
 * 0 to skip that check), and series/chunk counts equal to the meta stats.
 * Problems are counted in *out (returns 0); a format error opening or
 * decoding the index is returned as ST_ECORRUPT. */
int st_index_check(const char *index_path, const st_meta_t *meta, const uint64_t *seg_sizes, size_t nseg,
                   st_index_check_t *out);
/* Download b's index into tmp_dir, check it (segment sizes from the
 * thanos files list), remove the copy. Also counts as problems: files of
 * the thanos list missing from the bucket or of another size. */
int st_bucket_check_block(st_objstore_t *s, const st_bucket_block_t *b, const char *tmp_dir, st_index_check_t *out);

#endif
