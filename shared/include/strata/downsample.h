/*
 * downsample.h — Thanos's downsampling: raw series become 5m aggregates,
 * 5m aggregates become 1h aggregates, stored in blocks as AggrChunks
 * (chunk encoding 0xff) so that a Thanos store gateway serves our
 * downsampled blocks and we serve Thanos's.
 *
 * Per window of `resolution` ms (window end = t - t % res + res - 1, the
 * timestamp the window's aggregate samples carry; a chunk's last window
 * carries its last raw sample's timestamp instead), five aggregates:
 *   count    samples in the window
 *   sum      their sum
 *   min/max  their extremes
 *   counter  a reset-corrected running counter: its last value in the
 *            window. Each counter sub-chunk also starts with the chunk's
 *            first raw sample at its own timestamp and ends with the last
 *            raw value repeated at the last timestamp, so a reader can
 *            detect a reset across chunk (and block) boundaries.
 * NaN samples (staleness markers) are dropped before aggregation. An
 * AggrChunk holds about ST_DOWNSAMPLE_CHUNK_SAMPLES windows; the rules
 * that cut chunks are Thanos's (see shared/src/downsample/downsampler.c),
 * so the same input gives the same bytes.
 *
 * Reading: an AggrChunk decodes into an st_store_chunk_t (storeapi.h) whose
 * data[ST_AGGR_COUNT..ST_AGGR_COUNTER] point at XOR sub-chunks, which is
 * also what the StoreAPI carries. st_aggr_iter_t turns a series' chunks
 * back into samples for PromQL: one aggregate, avg (sum / count), or the
 * counter with its resets applied, as Thanos's querier does.
 *
 * Ownership: decoders borrow the caller's bytes; the downsampler owns the
 * chunks it hands out until its next call.
 */
#ifndef STRATA_DOWNSAMPLE_H
#define STRATA_DOWNSAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/block.h"
#include "strata/buf.h"
#include "strata/storeapi.h"

/* Resolutions (thanos.downsample.resolution, ms). */
#define ST_RES_RAW 0
#define ST_RES_5M ((int64_t)300000)
#define ST_RES_1H ((int64_t)3600000)
/* A raw block spanning at least this is downsampled to 5m; a 5m block
 * spanning at least ST_DOWNSAMPLE_RANGE_1H to 1h (Thanos's
 * DownsampleRange0/1: 40h and 10d). */
#define ST_DOWNSAMPLE_RANGE_5M ((int64_t)40 * 3600 * 1000)
#define ST_DOWNSAMPLE_RANGE_1H ((int64_t)10 * 24 * 3600 * 1000)
/* Chunk encoding byte of an AggrChunk in a block's segment files. */
#define ST_CHUNK_ENC_AGGR 0xff
/* Thanos aims at this many windows per AggrChunk. */
#define ST_DOWNSAMPLE_CHUNK_SAMPLES 140

/* ---- AggrChunk codec ----
 * Payload (after the 0xff encoding byte of the segment entry): for count,
 * sum, min, max, counter in that order, uvarint(len) then, when len > 0,
 * one encoding byte (1 = XOR) and len bytes of chunk data. len 0 = the
 * aggregate is absent. */

/* Decode payload p[0..len): out->data/len[ST_AGGR_COUNT..COUNTER] point
 * into p (absent = NULL/0), data[ST_AGGR_RAW] = NULL; out->mint/maxt are
 * left alone. A truncated or over-long payload, trailing bytes or a
 * sub-chunk encoding other than XOR is ST_ECORRUPT. */
int st_aggr_chunk_decode(const uint8_t *p, size_t len, st_store_chunk_t *out);
/* Append the payload for c's count..counter members to b. */
int st_aggr_chunk_encode(const st_store_chunk_t *c, st_encbuf_t *b);

/* ---- downsampling one series ---- */

typedef struct st_downsampler st_downsampler_t;

/* resolution: ST_RES_5M or ST_RES_1H. */
int st_downsampler_new(st_downsampler_t **out, int64_t resolution);
/* Start a new series (drops the previous one's state and chunks). */
void st_downsampler_reset(st_downsampler_t *d);
/* Raw input: samples of the series in strictly increasing time order
 * (ST_EINVAL otherwise). Stale markers are dropped here; other NaNs count
 * when chunks are sized, as in Thanos, and are dropped from the windows. */
int st_downsampler_add_raw(st_downsampler_t *d, int64_t t, double v);
/* Downsampled input (5m -> 1h; ST_EINVAL unless d's resolution is 1h):
 * the series' chunks in time order (ST_EINVAL if one overlaps the
 * previous), each with all five aggregates (a missing one is skipped).
 * The bytes are copied. Windows of the input are merged into the
 * coarser ones (count and sum add up, min/max of extremes, the counter
 * continued with its resets applied). Raw and downsampled input do not
 * mix in one series (ST_EINVAL). Input after st_downsampler_finish starts
 * the next series. */
int st_downsampler_add_aggr(st_downsampler_t *d, const st_store_chunk_t *c);
/* End the series: *chunks (encoding ST_CHUNK_ENC_AGGR, in time order) and
 * *nsamples (windows, for the meta stats) stay valid until the next call
 * on d. *n = 0 when every input sample was NaN. */
int st_downsampler_finish(st_downsampler_t *d, const st_chunk_t **chunks, size_t *n, uint64_t *nsamples);
void st_downsampler_free(st_downsampler_t *d); /* NULL ok */

/* ---- downsampling a block ---- */

typedef struct {
    uint64_t series_in, samples_in, chunks_in;
    uint64_t series_out, samples_out, chunks_out;
} st_downsample_stats_t;

/* Downsample block src (resolution src_res: raw or 5m) to `resolution`
 * into a new block under parent_dir, series by series (memory bounded by
 * one series), tombstones of src applied. The new meta keeps src's
 * compaction section (level, sources, parents), src's time range, and a
 * thanos section equal to src's with downsample.resolution = resolution
 * and source "compactor". A raw series whose chunks are not XOR, or an
 * AggrChunk that does not decode, fails with ST_ECORRUPT naming the
 * block and series. *out_dir (malloc'd) is the new block's path; stats
 * may be NULL. */
int st_downsample_block(const st_block_t *src, int64_t src_res, int64_t resolution, const char *parent_dir,
                        char **out_dir, st_downsample_stats_t *stats);

/* ---- reading aggregates back ---- */

typedef enum {
    ST_AGGR_READ_COUNT,   /* one aggregate as stored */
    ST_AGGR_READ_SUM,
    ST_AGGR_READ_MIN,
    ST_AGGR_READ_MAX,
    ST_AGGR_READ_COUNTER, /* resets applied; the boundary samples folded so rate/increase see a plain counter */
    ST_AGGR_READ_AVG      /* sum / count per window */
} st_aggr_read_t;

typedef struct st_aggr_iter st_aggr_iter_t;

/* Samples of one series from its downsampled chunks (sorted by mint, not
 * overlapping; bytes borrowed for the iterator's life) within [mint, maxt].
 * A chunk lacking the aggregate(s) needed but holding raw data
 * (data[ST_AGGR_RAW]) is read as raw, as Thanos's querier does; one with
 * neither is ST_EINVAL at creation. */
int st_aggr_iter_new(st_aggr_iter_t **out, const st_store_chunk_t *chunks, size_t n, st_aggr_read_t what,
                     int64_t mint, int64_t maxt);
/* 1 = *t, *v set; 0 = done; < 0 = a sub-chunk does not decode (ST_ECORRUPT). */
int st_aggr_iter_next(st_aggr_iter_t *it, int64_t *t, double *v);
void st_aggr_iter_free(st_aggr_iter_t *it); /* NULL ok */

#endif
