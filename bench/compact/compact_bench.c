/*
 * compact_bench — the C half of bench/compact (run.sh drives it):
 *
 *   compact_bench gen DIR SERIES BLOCKS START_MS
 *       write BLOCKS consecutive 2h blocks from START_MS (a multiple of 2h)
 *       of SERIES series sampled every 15 s into DIR (bench/common's
 *       generator, two threads each writing half the blocks). Series come
 *       in targets of 100 (instance, job, one per-family label): 50 %
 *       counters (integer and float, reset about once a day), 20 % integer
 *       gauges, 15 % float gauges with two decimals, 15 % constants (up,
 *       build_info). Prints the number of samples written.
 *   compact_bench merge OUT_PARENT BLOCK_DIR...
 *       st_compact_merge of the blocks into one new block under OUT_PARENT
 *   compact_bench downsample OUT_PARENT BLOCK_DIR
 *       st_downsample_block of a raw block to 5m under OUT_PARENT
 *
 * merge/downsample run the call once in a fresh process and print one line
 * of key=value: the wall and CPU seconds of the call, samples in/out, the
 * output dir, the process's RSS once the sources are open (rss_open_kib)
 * and its peak RSS (VmHWM, mapped file pages included) at the end.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "blockgen.h"
#include "strata/block.h"
#include "strata/compact.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/labels.h"

#define BLOCK_MS ST_DEFAULT_BLOCK_DURATION_MS
#define STEP_MS 15000
#define PER_TARGET 100 /* 20 families x 5 values of their own label */

static int fail(const char *what, int rc) {
    fprintf(stderr, "compact_bench: %s: %s\n", what, st_errdetail(rc));
    return 1;
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static long status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t klen = strlen(key);
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    if (f) fclose(f);
    return v;
}

/* ---- the data ---- */

typedef enum { COUNTER, FCOUNTER, GAUGE_STEP, GAUGE_SMALL, GAUGE_FLOAT, CONSTANT } kind_t;

static const struct {
    const char *name, *label;
    kind_t kind;
    const char *values[5];
} families[PER_TARGET / 5] = {
    {"http_requests_total", "code", COUNTER, {"200", "201", "404", "500", "503"}},
    {"http_request_duration_seconds_count", "handler", COUNTER,
     {"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/metrics", "/-/ready"}},
    {"http_request_duration_seconds_sum", "handler", FCOUNTER,
     {"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/metrics", "/-/ready"}},
    {"node_cpu_seconds_total", "mode", FCOUNTER, {"idle", "iowait", "irq", "system", "user"}},
    {"node_network_receive_bytes_total", "device", COUNTER, {"eth0", "eth1", "lo", "docker0", "veth1"}},
    {"node_network_transmit_bytes_total", "device", COUNTER, {"eth0", "eth1", "lo", "docker0", "veth1"}},
    {"process_cpu_seconds_total", "component", FCOUNTER, {"api", "db", "cache", "worker", "proxy"}},
    {"grpc_server_handled_total", "grpc_code", COUNTER, {"OK", "Canceled", "NotFound", "Unavailable", "Internal"}},
    {"node_disk_io_time_seconds_total", "device", FCOUNTER, {"sda", "sdb", "nvme0n1", "nvme1n1", "dm-0"}},
    {"node_disk_written_bytes_total", "device", COUNTER, {"sda", "sdb", "nvme0n1", "nvme1n1", "dm-0"}},
    {"node_memory_bytes", "type", GAUGE_STEP, {"Active", "Buffers", "Cached", "MemFree", "Slab"}},
    {"go_goroutines", "component", GAUGE_SMALL, {"api", "db", "cache", "worker", "proxy"}},
    {"process_resident_memory_bytes", "component", GAUGE_STEP, {"api", "db", "cache", "worker", "proxy"}},
    {"node_filesystem_avail_bytes", "mountpoint", GAUGE_STEP, {"/", "/boot", "/data", "/var", "/tmp"}},
    {"node_load1", "cpu", GAUGE_FLOAT, {"0", "1", "2", "3", "all"}},
    {"node_hwmon_temp_celsius", "sensor", GAUGE_FLOAT, {"temp1", "temp2", "temp3", "temp4", "temp5"}},
    {"http_request_duration_seconds", "quantile", GAUGE_FLOAT, {"0.5", "0.9", "0.95", "0.99", "0.999"}},
    {"up", "scrape_pool", CONSTANT, {"a", "b", "c", "d", "e"}},
    {"build_info", "version", CONSTANT, {"1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"}},
    {"node_filesystem_readonly", "mountpoint", CONSTANT, {"/", "/boot", "/data", "/var", "/tmp"}},
};

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A pure function of (series, time), so the two generator threads need no
 * shared state: counters are n * rate plus a jitter below rate (never
 * decreasing), restarting from 0 every `period` samples. */
static double value(void *ctx, size_t i, int64_t t) {
    (void)ctx;
    uint64_t n = (uint64_t)(t / STEP_MS), hs = mix(i), hn = mix(i * 0x100000001b3ULL ^ n);
    size_t f = (i % PER_TARGET) / 5;
    uint64_t rate = 1 + hs % 50, period = 2880 + hs % 2880;
    uint64_t c = (n + hs) % period;
    switch (families[f].kind) {
    case COUNTER:
        return (double)(c * rate + hn % rate);
    case FCOUNTER:
        return ((double)c * 0.25 + (double)(hn % 1000) / 4000.0) * (double)rate / 10.0;
    case GAUGE_STEP:
        return (double)((hs % 1000000) * 4096 + 4096 * (mix(i ^ (n / 20) << 20) % 256));
    case GAUGE_SMALL:
        return (double)(50 + hn % 20);
    case GAUGE_FLOAT:
        return (double)(hn % 10000) / 100.0;
    case CONSTANT:
        break;
    }
    return f == PER_TARGET / 5 - 1 ? 0 : 1;
}

typedef struct {
    const char *dir;
    const st_labels_t *lbls;
    const int64_t *offsets;
    size_t n;
    int64_t start, end;
    int rc;
    char err[512];
} gen_job_t;

static void *gen_thread(void *arg) {
    gen_job_t *j = arg;
    j->rc = bench_gen_blocks(j->dir, j->lbls, j->n, j->offsets, j->start, j->end, STEP_MS, value, NULL);
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", st_errdetail(j->rc));
    return NULL;
}

static int gen(const char *dir, long nseries, long nblocks, int64_t start) {
    st_labels_t *lbls = calloc((size_t)nseries, sizeof *lbls);
    int64_t *off = calloc((size_t)nseries, sizeof *off);
    int rc = 0;
    if (!lbls || !off) {
        rc = st_errorf(ST_ENOMEM, "%ld series", nseries);
        goto out;
    }
    for (long i = 0; i < nseries; i++) {
        long target = i / PER_TARGET, k = i % PER_TARGET;
        char inst[32], job[32];
        snprintf(inst, sizeof inst, "10.%ld.%ld.%ld:9100", target / 65536 % 256, target / 256 % 256, target % 256);
        snprintf(job, sizeof job, "service-%ld", target % 20);
        st_label_t l[] = {st_label("__name__", families[k / 5].name), st_label("instance", inst),
                          st_label("job", job), st_label(families[k / 5].label, families[k / 5].values[k % 5])};
        if ((rc = st_labels_from_pairs(&lbls[i], l, 4))) goto out;
        off[i] = (int64_t)(mix((uint64_t)target) % STEP_MS); /* one scrape time per target */
    }
    int64_t mid = start + nblocks / 2 * BLOCK_MS, end = start + nblocks * BLOCK_MS;
    gen_job_t jobs[2] = {{dir, lbls, off, (size_t)nseries, start, mid, 0, ""},
                         {dir, lbls, off, (size_t)nseries, mid, end, 0, ""}};
    pthread_t th;
    bool threaded = mid > start && pthread_create(&th, NULL, gen_thread, &jobs[0]) == 0;
    if (!threaded) jobs[1].start = start;
    gen_thread(&jobs[1]);
    if (threaded) pthread_join(th, NULL);
    for (int k = 0; k < 2; k++)
        if (jobs[k].rc) fprintf(stderr, "compact_bench: gen: %s\n", jobs[k].err);
    if (!jobs[0].rc && !jobs[1].rc) printf("%" PRId64 "\n", (int64_t)nseries * nblocks * (BLOCK_MS / STEP_MS));
    rc = jobs[0].rc || jobs[1].rc;
out:
    for (long i = 0; lbls && i < nseries; i++) st_labels_free(&lbls[i]);
    free(lbls);
    free(off);
    return rc < 0 ? fail("gen", rc) : rc;
}

/* ---- the measured calls ---- */

static int run(bool downsample, const char *parent, char **dirs, size_t n) {
    st_block_t **src = calloc(n, sizeof *src);
    int rc = src ? ST_OK : st_errorf(ST_ENOMEM, "%zu blocks", n);
    for (size_t i = 0; i < n && !rc; i++) rc = st_block_open(&src[i], dirs[i]);
    if (rc) {
        fail("open", rc);
        goto out;
    }
    long rss_open = status_kib("VmRSS");
    char *out = NULL;
    uint64_t in = 0, outn = 0, series = 0;
    double w0 = wall_s(), c0 = cpu_s();
    if (downsample) {
        st_downsample_stats_t st;
        rc = st_downsample_block(src[0], ST_RES_RAW, ST_RES_5M, parent, &out, &st);
        in = st.samples_in, outn = st.samples_out, series = st.series_out;
    } else {
        st_compact_opts_t o = {.penalty_dedup = false};
        st_compact_stats_t st;
        rc = st_compact_merge(src, n, &o, parent, &out, &st);
        in = st.samples_in, outn = st.samples_out, series = st.series_out;
    }
    double w = wall_s() - w0, c = cpu_s() - c0;
    if (rc) {
        fail(downsample ? "downsample" : "merge", rc);
    } else {
        printf("wall_s=%.3f cpu_s=%.3f samples_in=%" PRIu64 " samples_out=%" PRIu64 " series_out=%" PRIu64
               " rss_open_kib=%ld hwm_kib=%ld out=%s\n",
               w, c, in, outn, series, rss_open, status_kib("VmHWM"), out ? out : "");
    }
    free(out);
out:
    for (size_t i = 0; src && i < n; i++) st_block_close(src[i]);
    free(src);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "gen") == 0) {
        long series = atol(argv[3]), blocks = atol(argv[4]);
        int64_t start = strtoll(argv[5], NULL, 10);
        if (series > 0 && blocks > 0 && start % BLOCK_MS == 0) return gen(argv[2], series, blocks, start);
    } else if (argc >= 4 && strcmp(argv[1], "merge") == 0) {
        return run(false, argv[2], argv + 3, (size_t)argc - 3);
    } else if (argc == 4 && strcmp(argv[1], "downsample") == 0) {
        return run(true, argv[2], argv + 3, 1);
    }
    fprintf(stderr, "usage: compact_bench gen DIR SERIES BLOCKS START_MS | merge OUT_PARENT BLOCK_DIR... | "
                    "downsample OUT_PARENT BLOCK_DIR\n");
    return 2;
}
