/*
 * `strata tools tsdb create-blocks-from openmetrics INPUT OUTPUT_DIR`:
 * backfill like promtool. The input's time span is cut into windows aligned
 * to the block duration (2h); each window's samples go through a block
 * builder (Prometheus's chunk-cutting rule) and become one block. The input
 * is re-parsed per window, as promtool does, so memory holds one window.
 * Like promtool, the builder's chunk range is twice the block duration
 * (promtool's head must accept a whole block of samples); it decides where
 * chunks are cut, so it must match for the chunk bytes to match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/flags.h"
#include "strata/textparse.h"
#include "tools_int.h"

/* Calls fn for every sample of the file; errors carry the line number. */
typedef int (*sample_fn)(void *ctx, const st_labels_t *lbls, int64_t t, double v);

static int for_each_sample(const st_mmap_t *in, const char *path, sample_fn fn, void *ctx) {
    st_textparse_t *p = NULL;
    int rc = st_textparse_new(&p, ST_TEXT_OPENMETRICS, (const char *)in->p, in->len);
    if (rc) return rc;
    while ((rc = st_textparse_next(p)) > 0) {
        if (rc != ST_TP_SAMPLE) continue;
        const st_label_t *pairs;
        size_t n;
        int64_t t;
        st_labels_t lbls;
        st_textparse_labels(p, &pairs, &n);
        if (!st_textparse_timestamp(p, &t)) {
            rc = st_errorf(ST_EINVAL, "expected timestamp for series %s", pairs[0].value);
        } else if ((rc = st_labels_from_pairs(&lbls, pairs, n)) == 0) {
            rc = fn(ctx, &lbls, t, st_textparse_value(p));
            st_labels_free(&lbls);
        }
        if (rc) {
            size_t line = st_textparse_line(p);
            st_textparse_free(p);
            return st_errwrap(rc, "%s:%zu", path, line);
        }
    }
    st_textparse_free(p);
    if (rc < 0) return st_errwrap(rc, "%s", path); /* parse error: the detail has line:col */
    return ST_OK;
}

typedef struct {
    int64_t mint, maxt;
    uint64_t n;
} span_t;

static int span_fn(void *ctx, const st_labels_t *lbls, int64_t t, double v) {
    (void)lbls;
    (void)v;
    span_t *s = ctx;
    if (t < s->mint) s->mint = t;
    if (t > s->maxt) s->maxt = t;
    s->n++;
    return ST_OK;
}

typedef struct {
    st_block_builder_t *b;
    int64_t lo, hi; /* window [lo, hi) */
} window_t;

static int window_fn(void *ctx, const st_labels_t *lbls, int64_t t, double v) {
    window_t *w = ctx;
    if (t < w->lo || t >= w->hi) return ST_OK;
    return st_block_builder_append(w->b, lbls, t, v);
}

int tools_tsdb_create_blocks(int argc, char **argv) {
    int64_t block_ms = ST_DEFAULT_BLOCK_DURATION_MS;
    bool quiet = false;
    const st_flag_t flags[] = {
        {"max-block-duration", ST_FLAG_DURATION, &block_ms, "Duration of each block (default 2h)."},
        {"quiet", ST_FLAG_BOOL, &quiet, "Do not print created blocks."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    char **pos = NULL;
    size_t npos = 0;
    st_mmap_t in = {0};
    int exit_code = 1;
    int rc = st_flags_parse(flags, nflags, argc - 1, argv + 1, &pos, &npos);
    if (rc == 1 || (rc == 0 && (npos != 3 || strcmp(pos[0], "openmetrics") != 0))) {
        st_flags_usage(rc == 1 ? stdout : stderr, "strata tools tsdb create-blocks-from openmetrics [flags] INPUT OUTPUT_DIR",
                       "Import an OpenMetrics file (timestamps required, # EOF at the end) as blocks.", flags, nflags);
        exit_code = rc == 1 ? 0 : 2;
        goto out;
    }
    if (rc) goto fail;
    if (block_ms <= 0) {
        rc = st_errorf(ST_EINVAL, "--max-block-duration must be positive");
        goto fail;
    }
    const char *input = pos[1], *outdir = pos[2];
    if ((rc = st_mmap_open(&in, input))) goto fail;
    span_t span = {INT64_MAX, INT64_MIN, 0};
    if ((rc = for_each_sample(&in, input, span_fn, &span))) goto fail;
    if ((rc = st_mkdir_p(outdir, 0777))) goto fail;
    if (span.n == 0) {
        if (!quiet) printf("no samples in %s: no blocks written\n", input);
        exit_code = 0;
        goto out;
    }
    /* negative timestamps are dropped, as promtool's loop starts at 0 */
    int64_t start = span.mint < 0 ? 0 : span.mint - span.mint % block_ms;
    for (int64_t lo = start; lo <= span.maxt; lo += block_ms) {
        window_t w = {NULL, lo, lo + block_ms};
        char *dir = NULL;
        if ((rc = st_block_builder_new(&w.b, 2 * block_ms))) goto fail;
        rc = for_each_sample(&in, input, window_fn, &w);
        if (!rc) rc = st_block_builder_write(w.b, outdir, &dir);
        st_block_builder_free(w.b);
        if (rc) goto fail;
        if (dir && !quiet) printf("created block %s\n", dir);
        free(dir);
    }
    exit_code = 0;
    goto out;
fail:
    exit_code = tools_fail("create-blocks-from", rc);
out:
    st_mmap_close(&in);
    free(pos);
    return exit_code;
}
