/*
 * compact_driver — st_compact_merge from the command line, for the
 * integration tests and the memory measurement:
 *
 *   merge OUT_PARENT BLOCK_DIR...  merge the blocks into a new block under
 *                                  OUT_PARENT and print its path; stats and
 *                                  the peak RSS (getrusage ru_maxrss, which
 *                                  counts the mapped source pages read) and
 *                                  the peak anonymous RSS (RssAnon of
 *                                  /proc/self/status sampled every 5 ms: heap
 *                                  only; also before the call, with the
 *                                  sources open) go to stderr as key=value
 *                                  lines.
 *                                  --no-penalty: time merge instead of the
 *                                  penalty dedup; --thanos=JSON: the output's
 *                                  thanos section
 *   gen PARENT                     write --blocks consecutive 2h blocks of
 *                                  --series series (m{i="<n>",job="gen"},
 *                                  one sample per --step ms) with the block
 *                                  builder, for the measurement
 *
 * Exit code 0, or 1 with the error on stderr.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "strata/block.h"
#include "strata/compact.h"
#include "strata/err.h"
#include "strata/flags.h"

static bool no_penalty = false;
static const char *thanos = NULL;
static int64_t series_n = 1000, blocks_n = 12, step_ms = 60000, start_ms = 1700006400000;

static const st_flag_t flags[] = {
    {"no-penalty", ST_FLAG_BOOL, &no_penalty, "merge: plain time merge of overlapping chunks."},
    {"thanos", ST_FLAG_STRING, &thanos, "merge: the output's thanos section (JSON)."},
    {"series", ST_FLAG_INT64, &series_n, "gen: series per block."},
    {"blocks", ST_FLAG_INT64, &blocks_n, "gen: blocks."},
    {"step", ST_FLAG_INT64, &step_ms, "gen: sample interval (ms)."},
    {"start", ST_FLAG_INT64, &start_ms, "gen: first timestamp (ms), 2h-aligned."},
};

static atomic_bool sampling;
static long peak_anon_kib;

static long rss_anon_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

static void *sampler(void *arg) {
    (void)arg;
    while (atomic_load(&sampling)) {
        long v = rss_anon_kib();
        if (v > peak_anon_kib) peak_anon_kib = v;
        usleep(5000);
    }
    return NULL;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "compact_driver: %s: %s\n", what, st_errdetail(rc));
    return 1;
}

static int cmd_merge(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: compact_driver merge OUT_PARENT BLOCK_DIR...\n");
        return 1;
    }
    size_t n = (size_t)argc - 1;
    st_block_t **src = calloc(n, sizeof *src);
    if (!src) return fail("allocation", ST_ENOMEM);
    int rc = ST_OK, ret = 1;
    for (size_t i = 0; i < n && !rc; i++)
        if ((rc = st_block_open(&src[i], argv[i + 1]))) fail("open", rc);
    if (!rc) {
        st_compact_opts_t o = {.penalty_dedup = !no_penalty, .thanos_json = thanos};
        st_compact_stats_t st;
        char *dir = NULL;
        pthread_t th;
        long base_anon_kib = rss_anon_kib();
        atomic_store(&sampling, true);
        bool sampled = pthread_create(&th, NULL, sampler, NULL) == 0;
        rc = st_compact_merge(src, n, &o, argv[0], &dir, &st);
        atomic_store(&sampling, false);
        if (sampled) pthread_join(th, NULL);
        if (rc) {
            fail("merge", rc);
        } else {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            printf("%s\n", dir ? dir : "");
            fprintf(stderr,
                    "series_in=%llu series_out=%llu chunks_in=%llu chunks_out=%llu chunks_copied=%llu "
                    "chunks_reencoded=%llu samples_in=%llu samples_out=%llu samples_deduplicated=%llu "
                    "bytes_read=%llu bytes_written=%llu\nmaxrss_kib=%ld anon_kib_before=%ld peak_anon_kib=%ld\n",
                    (unsigned long long)st.series_in, (unsigned long long)st.series_out,
                    (unsigned long long)st.chunks_in, (unsigned long long)st.chunks_out,
                    (unsigned long long)st.chunks_copied, (unsigned long long)st.chunks_reencoded,
                    (unsigned long long)st.samples_in, (unsigned long long)st.samples_out,
                    (unsigned long long)st.samples_deduplicated, (unsigned long long)st.bytes_read,
                    (unsigned long long)st.bytes_written, ru.ru_maxrss, base_anon_kib, peak_anon_kib);
            free(dir);
            ret = 0;
        }
    }
    for (size_t i = 0; i < n; i++) st_block_close(src[i]);
    free(src);
    return ret;
}

static int cmd_gen(int argc, char **argv) {
    if (argc != 1 || series_n <= 0 || blocks_n <= 0 || step_ms <= 0) {
        fprintf(stderr, "usage: compact_driver gen PARENT [--series N] [--blocks K] [--step MS]\n");
        return 1;
    }
    for (int64_t b = 0; b < blocks_n; b++) {
        st_block_builder_t *bb;
        int rc = st_block_builder_new(&bb, ST_DEFAULT_BLOCK_DURATION_MS);
        if (rc) return fail("builder", rc);
        int64_t from = start_ms + b * ST_DEFAULT_BLOCK_DURATION_MS;
        for (int64_t s = 0; s < series_n && !rc; s++) {
            char v[24];
            snprintf(v, sizeof v, "%lld", (long long)s);
            st_label_t pairs[3] = {st_label("__name__", "m"), st_label("i", v), st_label("job", "gen")};
            st_labels_t l;
            if ((rc = st_labels_from_pairs(&l, pairs, 3))) break;
            for (int64_t t = from; t < from + ST_DEFAULT_BLOCK_DURATION_MS && !rc; t += step_ms)
                rc = st_block_builder_append(bb, &l, t, (double)(s * 7 + t / step_ms % 1000));
            st_labels_free(&l);
        }
        char *dir = NULL;
        if (!rc) rc = st_block_builder_write(bb, argv[0], &dir);
        st_block_builder_free(bb);
        if (rc) return fail("gen", rc);
        printf("%s\n", dir);
        free(dir);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: compact_driver merge|gen ARGS... [flags]\n");
        return 1;
    }
    char **pos = NULL;
    size_t npos = 0;
    int rc = st_flags_parse(flags, sizeof flags / sizeof *flags, argc - 2, argv + 2, &pos, &npos);
    if (rc == 1) {
        st_flags_usage(stdout, "compact_driver merge|gen ARGS... [flags]", "st_compact_merge driver", flags,
                       sizeof flags / sizeof *flags);
        free(pos);
        return 0;
    }
    int ret = 1;
    if (rc) fail("flags", rc);
    else if (strcmp(argv[1], "merge") == 0) ret = cmd_merge((int)npos, pos);
    else if (strcmp(argv[1], "gen") == 0) ret = cmd_gen((int)npos, pos);
    else fprintf(stderr, "compact_driver: unknown command %s\n", argv[1]);
    free(pos);
    return ret;
}
