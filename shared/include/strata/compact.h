/*
 * compact.h — compaction of blocks in a bucket, as Thanos's compactor does
 * it: which blocks belong together (groups), which of them to compact next
 * (the planner), and merging them into one block (the merger).
 *
 * Groups. A stream of blocks is identified by its external labels (the
 * meta's thanos.labels) minus the deduplication replica labels, and its
 * resolution: key "<resolution>@<st_labels_hash(labels)>" (Thanos's
 * Group key; st_labels_hash is Prometheus's labels.Hash as Thanos builds it,
 * with slicelabels). With replica labels given, the blocks of HA replicas
 * fall into one group and overlap in time: they are merged vertically.
 *
 * Planning (Thanos's tsdbBasedPlanner, Prometheus's LeveledCompactor plan
 * without its filesystem), over one group's blocks without deletion marks;
 * blocks with a no-compact mark stay in the input, flagged:
 *   1. blocks that overlap in time are compacted first, together (vertical
 *      compaction); no-compact blocks take no part in this;
 *   2. otherwise the newest block (largest min time) is left out, and for
 *      each range after the first (2h -> 8h -> 2d -> 14d) the blocks are
 *      split by aligned range (start = floor(min time / range) * range, for
 *      negative times too; a block that ends past its range's end belongs
 *      to no part of that range, the next block starts a new part); the
 *      first part with more than one block whose first block's start and
 *      last block's end are one range apart, or which ends before the
 *      newest remaining block starts, is the plan. A part with a block
 *      whose compaction failed is skipped. No-compact blocks count when
 *      choosing the part, so ranges stay what they would be without the
 *      marks, but are cut out of it: the plan is the part's first run of
 *      two or more unmarked blocks, else the search goes on;
 *   3. otherwise, scanning the unmarked blocks (the newest one left out as
 *      in 2) from the newest, while they are at least ranges[nranges / 2]
 *      long: the first with num_tombstones / (num_series + 1) > 5% is
 *      planned alone (rewritten without its deleted data).
 *
 * Merging streams the sources series by series (the index's label order,
 * a k-way merge across blocks) and writes the output while reading, so
 * memory is bounded by the largest series, not the blocks. Chunks that
 * overlap nothing are copied as they are; overlapping ones (one series in
 * several sources) are decoded, deduplicated (penalty_dedup below) and
 * re-cut to at most ST_SAMPLES_PER_CHUNK samples; tombstones are applied
 * the same way.
 */
#ifndef STRATA_COMPACT_H
#define STRATA_COMPACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/block.h"
#include "strata/labels.h"
#include "strata/meta.h"

/* Thanos's compaction levels: 2h blocks become 8h, 2d, then 14d ones. */
#define ST_COMPACT_NRANGES 4
extern const int64_t st_compact_default_ranges[ST_COMPACT_NRANGES]; /* ms: 2h, 8h, 48h, 336h */

/* ---- groups ---- */

/* The group's labels: ext without the replica labels (a new sorted set,
 * owned by *out). When replica labels are given and nothing is left, the
 * set is {replica_labels[0]="deduped"}, as Thanos's ReplicaLabelRemover
 * makes it. */
int st_compact_group_labels(const st_labels_t *ext, const char *const *replica_labels, size_t nreplica,
                            st_labels_t *out);
/* Thanos's group key "<resolution>@<hash>" of already-stripped labels into
 * buf (cap >= 48). */
void st_compact_group_key(const st_labels_t *group_labels, int64_t resolution, char *buf, size_t cap);

/* ---- the planner ---- */

/* Blocks to compact next in one group (metas in any order, without
 * deletion-marked blocks; no_compact[i] set when metas[i] has a no-compact
 * mark, NULL when none has; ranges ascending and > 0, the first one being
 * the blocks' native range; ST_EINVAL otherwise). Blocks with equal min
 * times are ordered by ULID. *out = malloc'd indexes into metas, sorted by
 * min time; *nout = 0 (and *out NULL) when nothing is due. */
int st_compact_plan(const st_meta_t *metas, size_t n, const bool *no_compact, const int64_t *ranges,
                    size_t nranges, size_t **out, size_t *nout);

/* Crash safety (Thanos's DeduplicateFilter): a block whose sources are all
 * among the sources of another block of the same group is redundant: a
 * source, or an intermediate output, of a compaction that ended before its
 * sources were marked for deletion.
 * redundant[i] is set for metas[i] when some other block covers it (of two
 * blocks with equal sources the one with the smaller ULID is kept).
 * group_keys[i] is metas[i]'s group key (st_compact_group_key, after the
 * replica labels are stripped); NULL when all metas are of one group. */
int st_compact_find_redundant(const st_meta_t *metas, const char *const *group_keys, size_t n, bool *redundant);

/* ---- the merger ---- */

typedef struct {
    uint64_t series_in, chunks_in, samples_in;
    uint64_t series_out, chunks_out, samples_out;
    uint64_t chunks_copied;      /* passed through byte for byte */
    uint64_t chunks_reencoded;   /* overlapping or tombstoned: decoded, merged, re-cut */
    uint64_t samples_deduplicated; /* dropped by vertical dedup (equal timestamps or the penalty) */
    uint64_t bytes_read, bytes_written;
} st_compact_stats_t;

typedef struct {
    /* Overlapping chunks of one series: true = HA replica dedup: the
     * replica that starts first is kept, and its gaps longer than twice its
     * median interval are filled from the others (merge.c has the rule).
     * Not Thanos's streaming penalty dedup, which waits twice the last
     * interval before switching replicas and so drops up to two samples at
     * every gap: a querier can redo that, a compacted block cannot get them
     * back. false = a plain merge by timestamp (equal timestamps: the
     * chunk that starts first wins, then the earlier source in src), as
     * Prometheus's vertical compaction. */
    bool penalty_dedup;
    /* The output's thanos section (labels = group labels, resolution);
     * NULL = none. Copied. source is set to "compactor". */
    const char *thanos_json;
} st_compact_opts_t;

/* Merge src[0..n) (n >= 1, any order) into one new block under parent_dir.
 * Output meta: min/max time over the sources, level = max level + 1,
 * sources = the union (sorted), parents = the sources' ulid/min/max. The
 * written block is checked (st_index_check: series sorted, chunks inside
 * the meta range, counts equal) before the call returns; a failed check
 * removes it and returns ST_ECORRUPT. A source whose index or chunks do
 * not decode fails with ST_ECORRUPT naming the block. *out_dir malloc'd;
 * stats may be NULL. A merge that leaves no series writes nothing
 * (*out_dir = NULL, returns 0): the sources can simply be deleted. */
int st_compact_merge(st_block_t *const *src, size_t n, const st_compact_opts_t *opts, const char *parent_dir,
                     char **out_dir, st_compact_stats_t *stats);

#endif
