/* Private to the downsample module: pieces shared by its .c files. */
#ifndef STRATA_DOWNSAMPLE_INT_H
#define STRATA_DOWNSAMPLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/chunkenc.h"

/* Thanos's window of t at resolution r: the last millisecond of the
 * aligned window (Go's %, which truncates toward zero, as C's does; Go's
 * wrap-around near the int64 limits too). */
static inline int64_t downsample_window(int64_t t, int64_t r) {
    return (int64_t)((uint64_t)t - (uint64_t)(t % r) + (uint64_t)r - 1);
}

/* Thanos's ApplyCounterResetsSeriesIterator over counter sub-chunks (XOR
 * bytes, borrowed): a running total that absorbs resets, including those
 * between chunks, which the boundary samples reveal (a sample repeating
 * the previous timestamp carries the true last raw value). NaNs are
 * skipped; after a chunk ends, samples not newer than the last one
 * returned are skipped, as Thanos's Seek(lastT + 1) does. */
typedef struct {
    const uint8_t *p;
    size_t len;
} downsample_bytes_t;

typedef struct {
    const downsample_bytes_t *chunks;
    size_t n, i;
    bool in_chunk;
    st_xor_iter_t it;
    uint64_t total;  /* samples returned */
    int64_t last_t;  /* of the last sample returned */
    double last_v;   /* last raw value seen (boundary samples included) */
    double total_v;  /* the running total */
    bool seeking;
    int64_t seek_to;
} downsample_acr_t;

void downsample_acr_init(downsample_acr_t *r, const downsample_bytes_t *chunks, size_t n);
/* 1 = *t, *v set (the total), 0 = done, ST_ECORRUPT = a sub-chunk does not decode. */
int downsample_acr_next(downsample_acr_t *r, int64_t *t, double *v);

#endif
