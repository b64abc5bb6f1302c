/*
 * bench/ingest: the scrape ingestion path of `strata scraper`.
 *
 *   ingest_bench parse  --series N      text 0.0.4 parsing alone (labels
 *                                       and values read as the scraper does):
 *                                       MB/s and ns/sample, median of 7
 *   ingest_bench ingest --series N [--rounds R] DIR
 *                                       parse -> series cache -> appender ->
 *                                       WAL commit on a real TSDB in DIR, one
 *                                       thread: samples/s per core (thread CPU
 *                                       time), RSS per active series
 *   ingest_bench serve --targets T --series S PORTFILE
 *                                       serve T generated targets of S series
 *                                       at /t/<i> (two value variants that
 *                                       alternate) for run.sh, where strata
 *                                       scraper and prometheus scrape them
 *
 * Generated series look like instrumented services: 100 metric families x
 * 20 handlers x 5 codes per 10,000 series, values with 3 decimals, so no
 * label has more than 1,000 values per target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scraper_int.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/httpserver.h"
#include "strata/textparse.h"
#include "strata/tsdb.h"

static double now_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* Exposition of `series` series for target `tgt`, value variant `var`. */
static void gen_body(st_encbuf_t *b, size_t series, size_t tgt, unsigned var) {
    static const char *const codes[] = {"200", "201", "404", "500", "503"};
    size_t done = 0;
    for (size_t f = 0; done < series; f++) {
        st_put_fmt(b, "# HELP bench_requests_%zu_total Requests of family %zu.\n# TYPE bench_requests_%zu_total counter\n",
                   f, f, f);
        for (size_t h = 0; h < 20 && done < series; h++)
            for (size_t c = 0; c < 5 && done < series; c++, done++) {
                double v = (double)((done * 7919 + tgt * 104729) % 1000003) + var * 13.125 + (double)(h * c) / 1000.0;
                st_put_fmt(b, "bench_requests_%zu_total{handler=\"/api/v1/endpoint_%zu\",method=\"%s\",code=\"%s\","
                              "shard=\"%zu\"} %.3f\n",
                           f, h, c % 2 ? "POST" : "GET", codes[c], f / 100, v);
            }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int do_parse(size_t series) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    gen_body(&b, series, 0, 0);
    double runs[7];
    size_t samples = 0;
    for (int r = 0; r < 7; r++) {
        double t0 = now_cpu();
        st_textparse_t *p;
        if (st_textparse_new(&p, ST_TEXT_PROM, (const char *)b.p, b.len)) return 1;
        int e;
        size_t n = 0;
        double sum = 0;
        while ((e = st_textparse_next(p)) > 0) {
            if (e != ST_TP_SAMPLE) continue;
            const st_label_t *l;
            size_t nl;
            st_textparse_labels(p, &l, &nl);
            sum += st_textparse_value(p) + (double)nl;
            n++;
        }
        st_textparse_free(p);
        if (e < 0) {
            fprintf(stderr, "parse error: %s\n", st_errdetail(e));
            return 1;
        }
        runs[r] = now_cpu() - t0;
        samples = n;
        if (sum == 0) fprintf(stderr, "(checksum 0)\n");
    }
    qsort(runs, 7, sizeof runs[0], cmp_double);
    double t = runs[3];
    printf("parse   series=%zu bytes=%zu  %.0f MB/s  %.1f ns/sample  %.2f M samples/s (median of 7, CPU time)\n", series,
           b.len, (double)b.len / t / 1e6, t * 1e9 / (double)samples, (double)samples / t / 1e6);
    st_encbuf_free(&b);
    return 0;
}

static int do_ingest(size_t series, int rounds, const char *dir) {
    enum { VARIANTS = 2 };
    st_encbuf_t bodies[VARIANTS];
    for (unsigned v = 0; v < VARIANTS; v++) {
        st_encbuf_init(&bodies[v], 0);
        gen_body(&bodies[v], series, 0, v);
    }
    long rss0 = rss_bytes();
    st_db_opts_t o;
    st_db_opts_default(&o, dir);
    st_db_t *db;
    int rc = st_db_open(&db, &o);
    if (rc) {
        fprintf(stderr, "open %s: %s\n", dir, st_errdetail(rc));
        return 1;
    }
    static const char cfgtext[] = "scrape_configs:\n- job_name: bench\n  static_configs: [{targets: ['127.0.0.1:9']}]\n";
    config_t *cfg;
    target_spec_t spec;
    bool keep;
    scrape_target_t *t;
    if ((rc = config_from_text(&cfg, cfgtext, sizeof cfgtext - 1, "bench")) ||
        (rc = target_populate(&cfg->cfg->scrape_configs[0], &cfg->cfg->scrape_configs[0].static_configs[0].labels,
                              "127.0.0.1:9", NULL, 0, &spec, &keep)) ||
        (rc = scrape_target_new(&t, &spec, cfg))) {
        fprintf(stderr, "target: %s\n", st_errdetail(rc));
        return 1;
    }
    scrape_stats_t stats = {0};
    int64_t ts = now_ms() - 60000;
    double first = 0, steady = 0, wall = 0;
    size_t bytes = 0;
    for (int r = 0; r < rounds; r++) {
        fetch_result_t fr = {.fetched = true, .body = (const char *)bodies[r % VARIANTS].p,
                             .len = bodies[r % VARIANTS].len};
        double c0 = now_cpu(), w0 = now_wall();
        scrape_ingest(t, db, &fr, ts + r * 1000, 0.0, &stats, NULL);
        double c = now_cpu() - c0;
        if (t->state != TS_UP) {
            fprintf(stderr, "scrape state %s: %s\n", target_state_name(t->state), t->last_error);
            return 1;
        }
        if (r == 0) first = c;
        else {
            steady += c;
            wall += now_wall() - w0;
            bytes += fr.len;
        }
    }
    long rss1 = rss_bytes();
    st_db_stats_t ds;
    st_db_stats(db, &ds);
    double per = (double)(series + 5) * (rounds - 1);
    printf("ingest  series=%zu  first scrape (new series): %.0f ns/sample  steady: %.0f ns/sample = %.2f M samples/s "
           "per core (%.0f MB/s of exposition; wall %.2f M/s)\n",
           series, first * 1e9 / (double)series, steady * 1e9 / per, per / steady / 1e6, (double)bytes / steady / 1e6,
           per / wall / 1e6);
    printf("ingest  series=%zu  head_series=%llu  RSS growth %.1f MiB = %.0f bytes per active series (head + WAL "
           "buffers + scrape cache)\n",
           series, (unsigned long long)ds.head_series, (double)(rss1 - rss0) / 1048576.0,
           (double)(rss1 - rss0) / (double)ds.head_series);
    scrape_target_free(t);
    config_unref(cfg);
    st_db_close(db);
    for (unsigned v = 0; v < VARIANTS; v++) st_encbuf_free(&bodies[v]);
    return 0;
}

typedef struct {
    size_t targets;
    st_encbuf_t *bodies; /* targets x 2 */
    unsigned *hits;
} serve_t;

static int h_target(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    serve_t *s = ctx;
    const char *p = st_http_request_path(req) + 3; /* "/t/" */
    size_t i = (size_t)strtoul(p, NULL, 10);
    if (i >= s->targets) return st_http_respond(resp, 404, NULL, "no such target\n");
    unsigned v = __atomic_fetch_add(&s->hits[i], 1, __ATOMIC_RELAXED) / 2 % 2; /* two scrapers: same variant each round */
    const st_encbuf_t *b = &s->bodies[2 * i + v];
    char *copy = malloc(b->len);
    if (!copy) return st_errorf(ST_ENOMEM, "serve: copying a body");
    memcpy(copy, b->p, b->len);
    *resp = (st_http_response_t){.status = 200, .content_type = ST_HTTP_CT_METRICS, .body = copy, .len = b->len};
    return ST_OK;
}

static int do_serve(size_t targets, size_t series, const char *portfile) {
    serve_t s = {.targets = targets};
    s.bodies = calloc(2 * targets, sizeof *s.bodies);
    s.hits = calloc(targets, sizeof *s.hits);
    if (!s.bodies || !s.hits) return 1;
    for (size_t i = 0; i < targets; i++)
        for (unsigned v = 0; v < 2; v++) {
            st_encbuf_init(&s.bodies[2 * i + v], 0);
            gen_body(&s.bodies[2 * i + v], series, i, v);
        }
    st_http_server_t *srv;
    st_http_server_opts_t o = {.threads = 4};
    int rc;
    if ((rc = st_http_server_new(&srv, &o)) || (rc = st_http_server_route(srv, "/t/", true, h_target, &s)) ||
        (rc = st_http_server_start(srv, "127.0.0.1:0"))) {
        fprintf(stderr, "serve: %s\n", st_errdetail(rc));
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
    FILE *f = fopen(tmp, "w");
    if (!f) return 1;
    fprintf(f, "%u\n", st_http_server_port(srv));
    fclose(f);
    if (rename(tmp, portfile) != 0) return 1;
    for (;;) pause();
}

int main(int argc, char **argv) {
    size_t series = 10000, targets = 1;
    int rounds = 12;
    const char *pos[2] = {0};
    size_t npos = 0;
    if (argc < 2) goto usage;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--series") == 0 && i + 1 < argc) series = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--targets") == 0 && i + 1 < argc) targets = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (npos < 2) pos[npos++] = argv[i];
        else goto usage;
    }
    if (strcmp(argv[1], "parse") == 0) return do_parse(series);
    if (strcmp(argv[1], "ingest") == 0 && npos == 1 && rounds >= 2) return do_ingest(series, rounds, pos[0]);
    if (strcmp(argv[1], "serve") == 0 && npos == 1) return do_serve(targets, series, pos[0]);
usage:
    fprintf(stderr, "usage: ingest_bench parse [--series N] | ingest [--series N] [--rounds R] DIR | "
                    "serve [--targets T] [--series S] PORTFILE\n");
    return 2;
}
