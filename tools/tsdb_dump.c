/* `strata tools tsdb dump`: every sample of a data directory in promtool's
 * text form and order (series by label set, merged across blocks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "strata/flags.h"
#include "tools_int.h"

int tools_tsdb_dump(int argc, char **argv) {
    int64_t mint = INT64_MIN, maxt = INT64_MAX;
    const char *match = NULL; /* promtool's default {__name__=~'(?s:.*)'}: every series */
    const st_flag_t flags[] = {
        {"min-time", ST_FLAG_INT64, &mint, "Minimum timestamp to dump (ms)."},
        {"max-time", ST_FLAG_INT64, &maxt, "Maximum timestamp to dump (ms)."},
        {"match", ST_FLAG_STRING, &match, "Series selector. Default: every series."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    char **pos = NULL;
    size_t npos = 0;
    st_matchers_t ms = {0};
    st_block_t **blocks = NULL;
    size_t nblocks = 0;
    st_series_set_t **sets = NULL, *set = NULL;
    st_encbuf_t line;
    int exit_code = 1;
    st_encbuf_init(&line, 0);

    int rc = st_flags_parse(flags, nflags, argc - 1, argv + 1, &pos, &npos);
    if (rc == 1 || (rc == 0 && npos != 1)) {
        st_flags_usage(rc == 1 ? stdout : stderr, "strata tools tsdb dump [flags] DIR",
                       "Dump samples from the blocks of a TSDB data directory.", flags, nflags);
        exit_code = rc == 1 ? 0 : 2;
        goto out;
    }
    if (rc) {
        exit_code = tools_fail("dump", rc);
        goto out;
    }
    if ((match && (rc = st_selector_parse(&ms, match))) || (rc = st_blocks_open_dir(pos[0], &blocks, &nblocks))) {
        exit_code = tools_fail("dump", rc);
        goto out;
    }
    if (!(sets = calloc(nblocks ? nblocks : 1, sizeof *sets))) goto out;
    for (size_t i = 0; i < nblocks; i++) {
        if ((rc = st_block_select(&sets[i], blocks[i], &ms, mint, maxt))) {
            for (size_t k = 0; k < i; k++) st_series_set_free(sets[k]);
            exit_code = tools_fail("dump", rc);
            goto out;
        }
    }
    rc = st_series_set_merge(&set, sets, nblocks);
    if (rc) {
        exit_code = tools_fail("dump", rc);
        goto out;
    }
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    while ((rc = st_series_set_next(set)) == 1) {
        size_t prefix = tools_dump_series(&line, st_series_set_labels(set));
        int64_t t;
        double v;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1)
            if ((rc = tools_dump_sample(&line, prefix, t, v, stdout))) break;
        if (rc < 0) break;
    }
    if (rc < 0) {
        fflush(stdout);
        exit_code = tools_fail("dump", rc);
        goto out;
    }
    exit_code = fflush(stdout) == 0 ? 0 : 1;
out:
    st_series_set_free(set);
    free(sets);
    st_blocks_close(blocks, nblocks);
    st_matchers_free(&ms);
    st_encbuf_free(&line);
    free(pos);
    return exit_code;
}
