/*
 * blockgen.h — the synthetic-block writer the benchmarks share
 * (bench/store, bench/query): fixed label sets, one sample per series every
 * step, values from the caller, cut into 2h blocks by strata's block
 * builder.
 */
#ifndef STRATA_BENCH_BLOCKGEN_H
#define STRATA_BENCH_BLOCKGEN_H

#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"

/* The value of series `i` at time t (ms). Called for every sample in this
 * order: block by block (oldest first), series 0..n-1 inside a block, time
 * increasing inside a series — so a callback may keep running state. */
typedef double (*bench_value_fn)(void *ctx, size_t i, int64_t t);

/* Writes one block per 2h window of [start, end) (both multiples of 2h)
 * into dir. Series i is sampled at window start + offset_ms[i] (NULL: 0;
 * each offset in [0, step_ms)) and then every step_ms. lbls stays the
 * caller's. 0 or a negative ST_E* code (detail recorded). */
int bench_gen_blocks(const char *dir, const st_labels_t *lbls, size_t n, const int64_t *offset_ms, int64_t start,
                     int64_t end, int64_t step_ms, bench_value_fn value, void *ctx);

#endif
