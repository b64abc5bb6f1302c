/*
 * Prometheus 2.42's rule for cutting a series' samples into XOR chunks
 * (memSeries.appendPreprocessor), shared by the block builder and the TSDB
 * head so that both produce the chunks Prometheus's head would:
 *   - a series' first sample opens a chunk and sets next_at to the end of
 *     the chunk-range window containing it ((t / range) * range + range);
 *   - when the open chunk holds 30 samples (a quarter of 120), next_at is
 *     re-estimated so the rest of the window splits into equal chunks;
 *   - a sample at or past next_at, or arriving at a chunk already holding
 *     240, starts a new chunk.
 * Chunks therefore never cross a window boundary.
 */
#ifndef STRATA_CHUNKCUT_H
#define STRATA_CHUNKCUT_H

#include <stdbool.h>
#include <stdint.h>

#include "strata/block.h"

/* End of the window of width `range` that contains t: next_at of a chunk
 * opened at t. Truncating division, as Prometheus's rangeForTimestamp. */
static inline int64_t st_chunkcut_range_end(int64_t t, int64_t range) { return (t / range) * range + range; }

/* Before appending sample t to the open chunk holding n samples from mint
 * to maxt: updates *next_at and says whether t must open a new chunk (whose
 * next_at is then st_chunkcut_range_end(t, range)). */
static inline bool st_chunkcut_before_append(int64_t *next_at, unsigned n, int64_t mint, int64_t maxt, int64_t t) {
    if (n == ST_SAMPLES_PER_CHUNK / 4) {
        /* spread the rest of the window evenly, assuming a quarter-full chunk */
        int64_t k = (*next_at - mint) / ((maxt - mint + 1) * 4);
        if (k > 1) *next_at = mint + (*next_at - mint) / k;
    }
    return t >= *next_at || n >= ST_SAMPLES_PER_CHUNK * 2;
}

#endif
