/*
 * compactor.h — `strata compact` (Thanos's `thanos compact`), internal
 * interface between its files:
 *
 *   main.c        flags, validation, wiring, the iteration loop
 *   sync.c        listing the bucket and the meta filters (the view)
 *   groups.c      groups of a view, the planner's simulation (todo metrics,
 *                 /api/v1/plan)
 *   compact.c     compaction of the groups (workers), the test crash hook
 *   downsample.c  raw -> 5m -> 1h
 *   retention.c   retention per resolution and the cleanup of marked
 *                 blocks and aborted uploads
 *   http.c        /metrics, /api/v1/plan
 *
 * One iteration: sync -> redundant blocks marked -> groups compacted ->
 * sync -> downsampling -> sync -> retention -> cleanup. The main thread
 * runs it; only the compaction phase fans out to worker threads (one group
 * per worker at a time). Everything the HTTP threads read is an atomic or
 * the published plan under plan_mu.
 */
#ifndef STRATA_COMPACTOR_H
#define STRATA_COMPACTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/bucket.h"
#include "strata/compact.h"
#include "strata/objstore.h"
#include "strata/promconfig.h"

/* Resolutions the compactor knows, as metric label values and indexes. */
#define COMPACTOR_NRES 3
int compactor_res_index(int64_t resolution); /* -1 for an unknown resolution */
extern const char *const compactor_res_names[COMPACTOR_NRES]; /* "0", "300000", "3600000" */

/* Why a block got a marker (thanos_compact_blocks_marked_total's labels). */
typedef enum {
    MARK_DELETION_COMPACTED,   /* deletion-mark.json: source of a compacted block */
    MARK_DELETION_REDUNDANT,   /* deletion-mark.json: covered by another block (crash leftover) */
    MARK_DELETION_RETENTION,   /* deletion-mark.json: past retention */
    MARK_NO_COMPACT_DOWNSAMPLED_OVERLAP,
    MARK_NO_COMPACT_OVERLAP,   /* raw blocks overlap and vertical compaction is off */
    MARK_NO_COMPACT_CORRUPT,
    MARK_NO_COMPACT_UNSUPPORTED,
    MARK_NO_DOWNSAMPLE_CORRUPT,
    MARK_NO_DOWNSAMPLE_UNSUPPORTED,
    MARK_NREASONS
} mark_reason_t;

typedef struct {
    atomic_uint_fast64_t iterations, iteration_failures;
    atomic_uint_fast64_t compactions[COMPACTOR_NRES], vertical_compactions[COMPACTOR_NRES];
    atomic_uint_fast64_t compaction_failures[COMPACTOR_NRES];
    atomic_uint_fast64_t downsamples[COMPACTOR_NRES], downsample_failures[COMPACTOR_NRES];
    atomic_uint_fast64_t marked[MARK_NREASONS];
    atomic_uint_fast64_t garbage_collected; /* redundant blocks marked */
    atomic_uint_fast64_t blocks_cleaned, cleanup_failures, partial_deletes;
    atomic_uint_fast64_t bytes_read, bytes_written;
    atomic_uint_fast64_t todo_compactions, todo_compaction_blocks, todo_downsamples;
    atomic_uint_fast64_t blocks, groups; /* of the last sync */
} compactor_metrics_t;

typedef struct {
    /* configuration, fixed after start-up */
    st_objstore_t *bkt;
    char *data_dir;
    const char *const *replica_labels;
    size_t nreplica;
    bool penalty_dedup, vertical;
    int64_t consistency_delay_ms, delete_delay_ms;
    int64_t retention_ms[COMPACTOR_NRES]; /* 0 = forever */
    bool downsampling;
    int concurrency;    /* --compact.concurrency */
    int ds_concurrency; /* --downsample.concurrency */
    st_relabel_list_t relabel; /* --selector.relabel-config; compiled NULL = every block */
    const atomic_bool *stop;

    compactor_metrics_t m;
    pthread_mutex_t plan_mu;
    char *plan_json; /* /api/v1/plan body, under plan_mu */
} compactor_t;

int compactor_init(compactor_t *c, st_objstore_t *bkt, const char *data_dir);
void compactor_destroy(compactor_t *c);
/* Remove <data-dir>/compact and <data-dir>/downsample (what a killed run
 * left behind). */
int compactor_clean_local(compactor_t *c);
/* One iteration. 0 when every step succeeded; otherwise the first error
 * (the other groups and steps still ran). */
int compactor_iterate(compactor_t *c);

bool compactor_stopping(const compactor_t *c);
int64_t compactor_now_ms(void);
/* The marker a reason writes, and its reason label ("" for deletions). */
st_mark_kind_t compactor_mark_kind(mark_reason_t why);
const char *compactor_mark_reason(mark_reason_t why);
/* Write a marker on block id and count it. */
int compactor_mark(compactor_t *c, const st_ulid_t *id, mark_reason_t why, const char *details);
/* The test hook: with STRATA_COMPACT_TEST_CRASH_AFTER=<step> in the
 * environment the process dies with _exit(137) when it reaches <step>
 * ("merge": compacted locally, not uploaded; "upload": uploaded, sources
 * not marked; "mark": one source marked; "downsample": a downsampled block
 * uploaded), as a kill -9 there would. Tests only. */
void compactor_crash_point(const char *step);
/* Bytes of a local block directory: index plus the chunk segments. */
uint64_t compactor_dir_bytes(const char *dir);

/* ---- sync.c: the view of the bucket ---- */

typedef struct {
    st_bucket_block_t *v; /* the whole listing, sorted by ULID (owned) */
    size_t n;
    /* blocks to work on: complete, readable, with external labels and a
     * known resolution, not marked for deletion, past the consistency
     * delay, kept by the selector, not redundant */
    size_t *live;
    size_t nlive;
    char (*keys)[48]; /* group key of v[i] (valid for live blocks) */
    int err;          /* first failure marking a redundant block (the view is complete regardless) */
} compactor_view_t;

/* List the bucket and filter it. With mark_redundant, blocks covered by
 * another block of their group are marked for deletion (Thanos's
 * garbage collection of duplicates) and left out. Fails only when the
 * listing does. */
int compactor_sync(compactor_t *c, bool mark_redundant, compactor_view_t *out);
void compactor_view_free(compactor_view_t *v);

/* ---- groups.c ---- */

typedef struct {
    char key[48];
    st_labels_t labels; /* owned: external labels without replica labels */
    int64_t resolution;
    st_meta_t *metas;   /* metas[i] is borrowed from the view unless owned[i] */
    bool *owned, *no_compact;
    size_t n, cap;
} compactor_group_t;

/* Groups of the view's live blocks, sorted by key. */
int compactor_groups_build(const compactor_t *c, const compactor_view_t *v, compactor_group_t **out, size_t *n);
void compactor_groups_free(compactor_group_t *g, size_t n);
/* Drop metas[i] for each i in idx[0..k) (the owned ones are freed). */
void compactor_group_remove(compactor_group_t *g, const size_t *idx, size_t k);
/* Append m, taking ownership (m is zeroed). */
int compactor_group_add(compactor_group_t *g, st_meta_t *m);
/* Next compaction of g. *overlap: the plan's blocks overlap in time. *out
 * malloc'd indexes (NULL, 0 when nothing is due). */
int compactor_group_plan(const compactor_group_t *g, size_t **out, size_t *nout, bool *overlap);
/* Is the plan one the compactor must refuse (overlap at a downsampled
 * resolution, or of raw blocks without vertical compaction)? Sets *why. */
bool compactor_plan_refused(const compactor_t *c, const compactor_group_t *g, bool overlap, mark_reason_t *why);
/* Raw blocks to downsample to 5m and 5m blocks to 1h: indexes into v->v
 * (live, no no-downsample mark, long enough, sources not all covered by a
 * block of the target resolution). */
int compactor_downsample_todo(const compactor_view_t *v, size_t **out, size_t *n);
/* Simulate the planner over the groups (Thanos's progress calculator) and
 * publish the todo metrics and /api/v1/plan. */
void compactor_publish_plan(compactor_t *c, const compactor_view_t *v, const compactor_group_t *g, size_t ng);

/* ---- compact.c ---- */

/* Compact every group until its plan is empty (--compact.concurrency
 * groups at a time). 0, or the first group's error. */
int compactor_compact_groups(compactor_t *c, compactor_group_t *g, size_t ng);

/* job(ctx, i) for every i in [0, n) on up to nth threads, each taking the
 * next i until none is left or the compactor stops; the caller's thread
 * does the work when no thread can be started. 0, or the first failure,
 * its detail prefixed with "<kind> <name(ctx, i)>: ". */
int compactor_run_jobs(compactor_t *c, size_t n, int nth, const char *kind, int (*job)(void *ctx, size_t i),
                       const char *(*name)(void *ctx, size_t i), void *ctx);

/* ---- downsample.c ---- */

int compactor_downsample(compactor_t *c);

/* ---- retention.c ---- */

/* Retention marks on v's live blocks (those marked leave v's live set),
 * then the cleanup over v's listing. */
int compactor_retention_and_cleanup(compactor_t *c, compactor_view_t *v);

/* ---- http.c ---- */

typedef struct st_http_server st_http_server_t;
int compactor_http_routes(compactor_t *c, st_http_server_t *s);

int compact_main(int argc, char **argv);

#endif
