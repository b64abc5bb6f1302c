/* `strata tools promql query`: evaluate a PromQL query over the blocks of a
 * local data directory and print Prometheus's /api/v1/query(_range)
 * response body (the interop tests diff it against a live Prometheus). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/flags.h"
#include "strata/promapi.h"
#include "strata/promql_engine.h"
#include "tools_int.h"

typedef struct {
    st_block_t **blocks;
    size_t n;
} blocks_q_t;

static int blocks_select(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, const st_promql_hints_t *h,
                         st_series_set_t **out, st_promql_warnings_t *w) {
    (void)h, (void)w;
    blocks_q_t *q = ctx;
    st_series_set_t **sets = calloc(q->n ? q->n : 1, sizeof *sets);
    size_t n = 0;
    int rc = 0;
    if (!sets) return st_errorf(ST_ENOMEM, "select: out of memory");
    for (size_t i = 0; i < q->n; i++) {
        const st_meta_t *m = st_block_meta(q->blocks[i]);
        if (m->max_time <= mint || m->min_time > maxt) continue;
        if ((rc = st_block_select(&sets[n], q->blocks[i], ms, mint, maxt))) break;
        n++;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) st_series_set_free(sets[i]);
    } else {
        rc = st_series_set_merge(out, sets, n);
    }
    free(sets);
    return rc;
}

/* Evaluate and print one response line; 0 when the query succeeded. */
static int run_one(const st_promql_engine_opts_t *opts, const st_promql_queryable_t *q, st_promql_query_t *qry,
                   st_encbuf_t *b, bool *write_failed) {
    st_promql_result_t res;
    int rc = st_promql_exec(opts, q, qry, &res);
    st_encbuf_reset(b);
    st_promql_response_json(b, &res);
    st_put_u8(b, '\n');
    st_promql_result_free(&res);
    *write_failed = b->err || fwrite(b->p, 1, b->len, stdout) != b->len || fflush(stdout);
    return rc;
}

int tools_promql_query(int argc, char **argv) {
    const char *dir = NULL, *t = NULL, *start = NULL, *end = NULL, *step = NULL;
    bool batch = false;
    int64_t lookback = 0, timeout = 0, max_samples = 0;
    const st_flag_t flags[] = {
        {"data-dir", ST_FLAG_STRING, &dir, "Data directory with blocks (required)."},
        {"time", ST_FLAG_STRING, &t, "Instant query at this Unix time (seconds)."},
        {"start", ST_FLAG_STRING, &start, "Range query start (Unix seconds)."},
        {"end", ST_FLAG_STRING, &end, "Range query end (Unix seconds)."},
        {"step", ST_FLAG_STRING, &step, "Range query step (seconds or a duration)."},
        {"query.lookback-delta", ST_FLAG_DURATION, &lookback, "Lookback delta (default 5m)."},
        {"query.timeout", ST_FLAG_DURATION, &timeout, "Query timeout (default 2m)."},
        {"query.max-samples", ST_FLAG_INT64, &max_samples, "Samples a query may hold in memory (default 50000000)."},
        {"batch", ST_FLAG_BOOL, &batch, "Read queries from stdin, one per line; print one response per line."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    char **pos = NULL;
    size_t npos = 0;
    st_block_t **blocks = NULL;
    size_t nblocks = 0;
    st_encbuf_t b;
    char *line = NULL;
    size_t linecap = 0;
    int exit_code = 1;
    st_encbuf_init(&b, 0);
    int rc = st_flags_parse(flags, nflags, argc - 1, argv + 1, &pos, &npos);
    bool range = start || end || step;
    if (rc == 1 || (rc == 0 && (npos != (batch ? 0u : 1u) || !dir || (range ? (!start || !end || !step || t) : !t)))) {
        st_flags_usage(rc == 1 ? stdout : stderr,
                       "strata tools promql query --data-dir=DIR (--time=T | --start=S --end=E --step=D) (QUERY | --batch)",
                       "Evaluate a PromQL query over the blocks of a data directory; print the API's JSON.", flags,
                       nflags);
        exit_code = rc == 1 ? 0 : 2;
        goto out;
    }
    st_promql_engine_opts_t opts;
    st_promql_engine_opts_default(&opts);
    if (lookback > 0) opts.lookback_delta_ms = lookback;
    if (timeout > 0) opts.timeout_ms = timeout;
    if (max_samples > 0) opts.max_samples = (uint64_t)max_samples;
    st_promql_query_t qry = {.text = batch ? NULL : pos[0], .text_len = batch ? 0 : strlen(pos[0])};
    if (rc || (range ? (rc = st_promapi_parse_time(start, &qry.start)) || (rc = st_promapi_parse_time(end, &qry.end)) ||
                           (rc = st_promapi_parse_duration(step, &qry.step))
                     : (rc = st_promapi_parse_time(t, &qry.start))) ||
        (rc = st_blocks_open_dir(dir, &blocks, &nblocks))) {
        exit_code = tools_fail_in("promql", "query", rc);
        goto out;
    }
    if (!range) qry.end = qry.start;
    blocks_q_t bq = {blocks, nblocks};
    st_promql_queryable_t q = {&bq, blocks_select};
    bool write_failed = false;
    if (!batch) {
        rc = run_one(&opts, &q, &qry, &b, &write_failed);
    } else {
        ssize_t n;
        rc = 0;
        while (!write_failed && (n = getline(&line, &linecap, stdin)) >= 0) {
            if (n && line[n - 1] == '\n') line[--n] = 0;
            qry.text = line;
            qry.text_len = (size_t)n;
            run_one(&opts, &q, &qry, &b, &write_failed);
        }
    }
    if (write_failed) {
        fprintf(stderr, "strata tools promql query: writing the result failed\n");
        goto out;
    }
    exit_code = rc ? 1 : 0;
out:
    free(line);
    st_encbuf_free(&b);
    st_blocks_close(blocks, nblocks);
    free(pos);
    return exit_code;
}
