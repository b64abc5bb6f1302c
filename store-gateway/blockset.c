/* Which blocks answer a Series request: Thanos's bucketBlockSet.getFor.
 * Within one external label set, the coarsest resolution the request
 * allows is used where it has blocks, and the time it leaves uncovered is
 * filled from the next finer resolution, recursively down to raw. So a
 * querier asking for 1h data over a range whose newest part has not been
 * downsampled yet gets 1h aggregates for the old part and raw chunks for
 * the rest, and one asking for raw (max_resolution_window 0) never sees a
 * downsampled block. */
#include <stdbool.h>
#include <stdlib.h>

#include "store.h"
#include "strata/downsample.h"
#include "strata/err.h"

/* Coarsest first, as Thanos orders them. */
static const int64_t resolutions[] = {ST_RES_1H, ST_RES_5M, ST_RES_RAW};
#define NRES (sizeof resolutions / sizeof *resolutions)

typedef struct {
    store_block_t *b;
    size_t i; /* index into v */
} cand_t;

typedef struct {
    cand_t *by_res[NRES]; /* sorted by (min time, max time, ULID) */
    size_t n[NRES];
    bool *taken; /* per index into v */
    store_block_t **out;
    size_t nout;
} choice_t;

static int by_range(const void *x, const void *y) {
    const store_block_t *a = ((const cand_t *)x)->b, *b = ((const cand_t *)y)->b;
    if (a->min_time != b->min_time) return a->min_time < b->min_time ? -1 : 1;
    if (a->max_time != b->max_time) return a->max_time < b->max_time ? -1 : 1;
    return st_ulid_cmp(&a->id, &b->id);
}

/* Fill the closed range [mint, maxt] from resolution level `lvl`. Block
 * ranges are half-open [min, max). Depth is bounded by NRES. */
static void fill(choice_t *c, int64_t mint, int64_t maxt, size_t lvl) {
    if (mint > maxt) return;
    int64_t start = mint;
    for (size_t k = 0; k < c->n[lvl]; k++) {
        size_t i = c->by_res[lvl][k].i;
        store_block_t *b = c->by_res[lvl][k].b;
        if (b->max_time <= mint) continue;
        if (b->min_time > maxt) break;
        if (lvl + 1 < NRES && b->min_time > INT64_MIN) fill(c, start, b->min_time - 1, lvl + 1);
        if (!c->taken[i]) {
            c->taken[i] = true;
            c->out[c->nout++] = b;
        }
        /* as Thanos: the last block's end, even when an earlier one reached further */
        start = b->max_time;
    }
    if (lvl + 1 < NRES) fill(c, start, maxt, lvl + 1);
}

int store_blocks_for(store_block_t *const *v, size_t n, int64_t mint, int64_t maxt, int64_t max_res,
                     store_block_t **out, size_t *nout) {
    choice_t c = {.out = out};
    *nout = 0;
    int rc = ST_OK;
    c.taken = calloc(n ? n : 1, sizeof *c.taken);
    for (size_t r = 0; r < NRES; r++) c.by_res[r] = malloc((n ? n : 1) * sizeof *c.by_res[r]);
    for (size_t r = 0; r < NRES && !rc; r++)
        if (!c.by_res[r]) rc = st_errorf(ST_ENOMEM, "choosing among %zu blocks", n);
    if (!c.taken) rc = st_errorf(ST_ENOMEM, "choosing among %zu blocks", n);
    if (rc) goto out;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < NRES; r++)
            if (v[i]->resolution == resolutions[r]) c.by_res[r][c.n[r]++] = (cand_t){v[i], i};
    for (size_t r = 0; r < NRES; r++) qsort(c.by_res[r], c.n[r], sizeof *c.by_res[r], by_range);
    size_t lvl = 0;
    while (lvl + 1 < NRES && resolutions[lvl] > max_res) lvl++;
    fill(&c, mint, maxt, lvl);
    *nout = c.nout;
out:
    for (size_t r = 0; r < NRES; r++) free(c.by_res[r]);
    free(c.taken);
    return rc;
}
