/*
 * query_bench — the C half of bench/query (run.sh drives it):
 *
 *   query_bench gen DIR SERIES HOURS
 *       write HOURS/2 two-hour blocks, ending at the last whole 2h boundary
 *       before now, of SERIES counter series `x` (job: 10 values, instance:
 *       SERIES/10 values, 10 series per instance from handler x code) plus
 *       one gauge series `gauge` per instance, scraped every 15 s at a
 *       per-instance offset; prints "MINT_MS MAXT_MS" of the data
 *   query_bench time URL QUERY START END STEP RUNS
 *       GET URL/api/v1/query_range RUNS times (run.sh warms up by fetching
 *       the answer it checks); prints "median_ms body_bytes"
 *   query_bench exec RUNS OUT CMD [ARG...]
 *       run CMD RUNS times, its stdout to OUT; prints "median_ms
 *       peak_rss_kib cpu_s": the largest ru_maxrss of the runs and the
 *       median user + system CPU seconds
 *   query_bench check A.json B.json
 *       compare two query_range answers: the same series (by label set),
 *       the same timestamps, values within 1e-9 relative (NaN = NaN);
 *       prints "series points max_rel_diff", exit 1 on any difference
 *
 * Counters grow by a per-series rate (0.05-50/s, log-uniform) times a
 * random factor in [0.5, 1.5), rounded; each instance restarts (all its
 * counters go back near 0) about once a day. The gauge is a random walk of
 * whole bytes around 200 MB.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blockgen.h"
#include "strata/block.h"
#include "strata/err.h"
#include "strata/httpclient.h"
#include "strata/labels.h"

#include "benchutil.h"

#define STEP_MS 15000
#define PER_INSTANCE 10

static int fail(const char *what, int rc) {
    fprintf(stderr, "query_bench: %s: %s\n", what, st_errdetail(rc));
    return 1;
}

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double unit(uint64_t h) { return (double)(h >> 11) / 9007199254740992.0; } /* [0, 1) */

typedef struct {
    size_t ncounters;
    uint64_t rng;
    double *val;  /* per series */
    double *rate; /* per counter series, per second */
} gen_state_t;

/* One decision per instance and scrape, so all counters of an instance
 * reset at the same scrape, as when the process restarts. */
static bool restarted(size_t inst, int64_t t) {
    return mix64((uint64_t)inst * 0x100000001b3ULL ^ (uint64_t)(t / STEP_MS)) % (86400000 / STEP_MS) == 0;
}

static double next_value(void *ctx, size_t i, int64_t t) {
    gen_state_t *g = ctx;
    g->rng ^= g->rng << 13, g->rng ^= g->rng >> 7, g->rng ^= g->rng << 17;
    double u = unit(g->rng);
    if (i < g->ncounters) {
        double inc = floor(g->rate[i] * (STEP_MS / 1000.0) * (0.5 + u));
        g->val[i] = restarted(i / PER_INSTANCE, t) ? floor(inc * u) : g->val[i] + inc;
    } else {
        double v = g->val[i] + floor((u - 0.5) * 4e6);
        g->val[i] = v < 1e7 ? 1e7 : v;
    }
    return g->val[i];
}

static int gen(const char *dir, long ncounters, long hours) {
    static const char *const handlers[] = {"/api/v1/query", "/api/v1/query_range", "/api/v1/series",
                                           "/api/v1/labels", "/-/healthy"};
    static const char *const codes[] = {"200", "500"};
    const int64_t block_ms = ST_DEFAULT_BLOCK_DURATION_MS;
    if (ncounters < PER_INSTANCE || ncounters % PER_INSTANCE || hours < 2)
        return fail("gen", st_errorf(ST_EINVAL, "SERIES must be a multiple of %d, HOURS >= 2", PER_INSTANCE));
    size_t nc = (size_t)ncounters, ninst = nc / PER_INSTANCE, n = nc + ninst;
    int64_t end = ((int64_t)time(NULL) * 1000 / block_ms) * block_ms;
    int64_t start = end - (hours + 1) / 2 * block_ms;
    st_labels_t *lbls = calloc(n, sizeof *lbls);
    int64_t *offset = calloc(n, sizeof *offset);
    gen_state_t g = {nc, 0x2545f4914f6cdd1dULL, calloc(n, sizeof *g.val), calloc(nc, sizeof *g.rate)};
    int rc = 0;
    if (!lbls || !offset || !g.val || !g.rate) {
        rc = st_errorf(ST_ENOMEM, "%zu series", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t inst = i < nc ? i / PER_INSTANCE : i - nc;
        char job[32], instance[32];
        snprintf(job, sizeof job, "job-%zu", inst % 10);
        snprintf(instance, sizeof instance, "host-%04zu:9100", inst);
        offset[i] = (int64_t)(mix64(inst) % STEP_MS);
        if (i < nc) {
            const char *h = handlers[(i % PER_INSTANCE) / 2], *c = codes[i % 2];
            st_label_t l[] = {{"__name__", "x", 8, 1},
                              {"code", c, 4, strlen(c)},
                              {"handler", h, 7, strlen(h)},
                              {"instance", instance, 8, strlen(instance)},
                              {"job", job, 3, strlen(job)}};
            rc = st_labels_from_pairs(&lbls[i], l, 5);
            g.rate[i] = exp(log(0.05) + unit(mix64(i ^ 0xabcdef)) * (log(50) - log(0.05)));
        } else {
            st_label_t l[] = {{"__name__", "gauge", 8, 5},
                              {"instance", instance, 8, strlen(instance)},
                              {"job", job, 3, strlen(job)}};
            rc = st_labels_from_pairs(&lbls[i], l, 3);
            g.val[i] = 2e8 + floor(unit(mix64(inst)) * 1e8);
        }
        if (rc) goto out;
    }
    if (!(rc = bench_gen_blocks(dir, lbls, n, offset, start, end, STEP_MS, next_value, &g)))
        printf("%" PRId64 " %" PRId64 "\n", start, end);
out:
    for (size_t i = 0; lbls && i < n; i++) st_labels_free(&lbls[i]);
    free(lbls);
    free(offset);
    free(g.val);
    free(g.rate);
    return rc ? fail("gen", rc) : 0;
}

/* Percent-encodes s into out (form encoding of a URL query value). */
static void url_encode(char *out, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
    }
    out[o] = 0;
}

static int count_body(void *ctx, const char *ct, const void *p, size_t len) {
    (void)ct, (void)p;
    *(uint64_t *)ctx += len;
    return 0;
}

static int time_query(const char *base, const char *query, const char *start, const char *end, const char *step,
                      int runs) {
    char q[4096], url[8192];
    url_encode(q, sizeof q, query);
    snprintf(url, sizeof url, "%s/api/v1/query_range?query=%s&start=%s&end=%s&step=%s", base, q, start, end, step);
    double *lat = calloc((size_t)runs, sizeof *lat);
    uint64_t bytes = 0;
    int rc = lat ? 0 : st_errorf(ST_ENOMEM, "runs");
    for (int r = 0; r < runs && !rc; r++) {
        st_http_req_t req = {.url = url, .timeout_ms = 1200000, .on_body = count_body, .ctx = &bytes};
        st_http_resp_t resp = {0};
        bytes = 0;
        double t0 = bench_now_ms();
        rc = st_http_do(&req, &resp);
        if (!rc && resp.status != 200) rc = st_errorf(ST_EIO, "%s: HTTP %ld: %.300s", url, resp.status, resp.body);
        lat[r] = bench_now_ms() - t0;
        st_http_resp_free(&resp);
    }
    if (!rc) printf("%.1f %" PRIu64 "\n", bench_median(lat, runs), bytes);
    free(lat);
    return rc ? fail("time", rc) : 0;
}

static int exec_runs(int runs, const char *out, char **cmd) {
    double *lat = calloc((size_t)runs * 2, sizeof *lat), *cpu = lat + runs;
    long peak_kib = 0;
    if (!lat) return fail("exec", st_errorf(ST_ENOMEM, "runs"));
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now_ms();
        pid_t pid = fork();
        if (pid < 0) return fail("exec", st_errorf(ST_EIO, "fork: %s", strerror(errno)));
        if (pid == 0) {
            int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(127);
            execvp(cmd[0], cmd);
            _exit(127);
        }
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            free(lat);
            return fail("exec", st_errorf(ST_EIO, "%s: failed (status %d)", cmd[0], status));
        }
        lat[r] = bench_now_ms() - t0;
        cpu[r] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        if (ru.ru_maxrss > peak_kib) peak_kib = ru.ru_maxrss;
    }
    double med = bench_median(lat, runs);
    printf("%.1f %ld %.2f\n", med, peak_kib, bench_median(cpu, runs));
    free(lat);
    return 0;
}

/* ---- check ---- */

typedef struct {
    char *key; /* the metric object as compact JSON with sorted keys */
    json_t *values;
} series_t;

static int cmp_series(const void *a, const void *b) {
    return strcmp(((const series_t *)a)->key, ((const series_t *)b)->key);
}

static int load_series(const char *path, json_t **root, series_t **out, size_t *n) {
    json_error_t err;
    if (!(*root = json_load_file(path, 0, &err)))
        return st_errorf(ST_ECORRUPT, "%s:%d: %s", path, err.line, err.text);
    json_t *res = json_object_get(json_object_get(*root, "data"), "result");
    const char *status = json_string_value(json_object_get(*root, "status"));
    if (!status || strcmp(status, "success") || !json_is_array(res))
        return st_errorf(ST_ECORRUPT, "%s: not a successful matrix answer", path);
    *n = json_array_size(res);
    if (!(*out = calloc(*n ? *n : 1, sizeof **out))) return st_errorf(ST_ENOMEM, "%s: %zu series", path, *n);
    for (size_t i = 0; i < *n; i++) {
        json_t *s = json_array_get(res, i);
        (*out)[i].key = json_dumps(json_object_get(s, "metric"), JSON_SORT_KEYS | JSON_COMPACT);
        (*out)[i].values = json_object_get(s, "values");
        if (!(*out)[i].key || !json_is_array((*out)[i].values))
            return st_errorf(ST_ECORRUPT, "%s: series %zu: no metric or values", path, i);
    }
    qsort(*out, *n, sizeof **out, cmp_series);
    return 0;
}

static double sample_value(json_t *pt, double *t) {
    const char *s = json_string_value(json_array_get(pt, 1));
    *t = json_number_value(json_array_get(pt, 0));
    return s ? strtod(s, NULL) : NAN; /* strtod reads "NaN", "+Inf", "-Inf" */
}

static int check(const char *pa, const char *pb) {
    json_t *ra = NULL, *rb = NULL;
    series_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    uint64_t points = 0;
    double max_rel = 0;
    int rc = load_series(pa, &ra, &a, &na);
    if (!rc) rc = load_series(pb, &rb, &b, &nb);
    if (!rc && na != nb) rc = st_errorf(ST_ECORRUPT, "%s has %zu series, %s %zu", pa, na, pb, nb);
    for (size_t i = 0; !rc && i < na; i++) {
        if (strcmp(a[i].key, b[i].key)) {
            rc = st_errorf(ST_ECORRUPT, "series %zu: %s in %s, %s in %s", i, a[i].key, pa, b[i].key, pb);
            break;
        }
        size_t np = json_array_size(a[i].values);
        if (np != json_array_size(b[i].values)) {
            rc = st_errorf(ST_ECORRUPT, "%s: %zu points in %s, %zu in %s", a[i].key, np, pa,
                           json_array_size(b[i].values), pb);
            break;
        }
        for (size_t k = 0; k < np; k++) {
            double ta, tb, va = sample_value(json_array_get(a[i].values, k), &ta),
                           vb = sample_value(json_array_get(b[i].values, k), &tb);
            double diff = fabs(va - vb), mag = fmax(fabs(va), fabs(vb));
            double rel = va == vb || (isnan(va) && isnan(vb)) ? 0 : mag > 0 ? diff / mag : INFINITY;
            if (ta != tb || !(rel <= 1e-9)) {
                rc = st_errorf(ST_ECORRUPT, "%s: point %zu: %.3f %.17g in %s, %.3f %.17g in %s", a[i].key, k, ta,
                               va, pa, tb, vb, pb);
                break;
            }
            if (rel > max_rel) max_rel = rel;
            points++;
        }
    }
    if (!rc) printf("%zu %" PRIu64 " %.3g\n", na, points, max_rel);
    for (size_t i = 0; a && i < na; i++) free(a[i].key);
    for (size_t i = 0; b && i < nb; i++) free(b[i].key);
    free(a);
    free(b);
    json_decref(ra);
    json_decref(rb);
    return rc ? fail("check", rc) : 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "gen") == 0) return gen(argv[2], atol(argv[3]), atol(argv[4]));
    if (argc == 8 && strcmp(argv[1], "time") == 0)
        return time_query(argv[2], argv[3], argv[4], argv[5], argv[6], atoi(argv[7]) > 0 ? atoi(argv[7]) : 1);
    if (argc >= 5 && strcmp(argv[1], "exec") == 0)
        return exec_runs(atoi(argv[2]) > 0 ? atoi(argv[2]) : 1, argv[3], argv + 4);
    if (argc == 4 && strcmp(argv[1], "check") == 0) return check(argv[2], argv[3]);
    fprintf(stderr, "usage: query_bench gen DIR SERIES HOURS\n"
                    "       query_bench time URL QUERY START END STEP RUNS\n"
                    "       query_bench exec RUNS OUT CMD [ARG...]\n"
                    "       query_bench check A.json B.json\n");
    return 2;
}
