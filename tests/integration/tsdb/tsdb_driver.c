/*
 * tsdb_driver — drives st_db for the integration tests and the quick
 * ingest measurements:
 *
 *   append DIR   append --rounds commits of --series samples each
 *                (series drv{job="driver",series="<i>"}, value i*1000+round,
 *                time --start + round*--step), printing "ack <round> <t>"
 *                after each commit returns; --compact-every=K calls
 *                st_db_compact every K rounds; --crash exits without
 *                closing anything (as kill -9 would)
 *   expect       print, in promtool tsdb dump's format and order, what
 *                rounds [0, --rounds) of append produce
 *   dump DIR     open DIR (replaying the WAL) and print every sample via
 *                st_db_select in the same format
 *   serve DIR    answer POST /api/v1/read on --listen (libmicrohttpd) with
 *                st_remoteread_handle until SIGTERM/SIGINT
 *   bench DIR    append --series x --rounds and report RSS per series and
 *                samples per second
 *
 * Exit code 0, or 1 with the error on stderr.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strata/err.h"
#include "strata/flags.h"
#include "strata/remoteread.h"
#include "strata/textfmt.h"
#include "strata/tsdb.h"

static int64_t series_n = 100, rounds = 100, start_ms = 1700000000000, step_ms = 15000;
static int64_t block_ms = ST_DEFAULT_BLOCK_DURATION_MS, compact_every = 0, fsync_ms = 1000, sleep_us = 0;
static int64_t min_time = INT64_MIN, max_time = INT64_MAX;
static bool crash = false;
static const char *listen_addr = "127.0.0.1:0";

static const st_flag_t flags[] = {
    {"series", ST_FLAG_INT64, &series_n, "Series per round."},
    {"rounds", ST_FLAG_INT64, &rounds, "Commits (one sample per series each)."},
    {"start", ST_FLAG_INT64, &start_ms, "Timestamp of round 0 (ms)."},
    {"step", ST_FLAG_INT64, &step_ms, "Time between rounds (ms)."},
    {"block", ST_FLAG_INT64, &block_ms, "Block duration (ms)."},
    {"compact-every", ST_FLAG_INT64, &compact_every, "Call st_db_compact every K rounds (0 = never)."},
    {"fsync-ms", ST_FLAG_INT64, &fsync_ms, "WAL fsync interval (ms, 0 = every commit)."},
    {"sleep-us", ST_FLAG_INT64, &sleep_us, "Pause after each commit (us)."},
    {"min-time", ST_FLAG_INT64, &min_time, "dump/expect: first timestamp."},
    {"max-time", ST_FLAG_INT64, &max_time, "dump/expect: last timestamp."},
    {"crash", ST_FLAG_BOOL, &crash, "append: _exit without closing the database."},
    {"listen", ST_FLAG_STRING, &listen_addr, "serve: address (host:port)."},
};

static int fail(const char *what, int rc) {
    fprintf(stderr, "tsdb_driver: %s: %s\n", what, st_errdetail(rc));
    return 1;
}

static st_labels_t series_labels(int64_t i) {
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)i);
    st_label_t p[3] = {st_label("__name__", "drv"), st_label("job", "driver"), st_label("series", v)};
    st_labels_t l = {0};
    if (st_labels_from_pairs(&l, p, 3)) abort();
    return l;
}

static double value(int64_t i, int64_t r) { return (double)(i * 1000 + r); }

static int open_db(const char *dir, st_db_t **db) {
    st_db_opts_t o;
    st_db_opts_default(&o, dir);
    o.block_duration_ms = block_ms;
    o.retention_ms = 0;
    o.wal_fsync_interval_ms = fsync_ms;
    return st_db_open(db, &o);
}

static int cmd_append(const char *dir) {
    st_db_t *db;
    int rc = open_db(dir, &db);
    if (rc) return fail("open", rc);
    uint64_t *refs = calloc((size_t)series_n, sizeof *refs);
    for (int64_t r = 0; r < rounds; r++) {
        int64_t t = start_ms + r * step_ms;
        st_appender_t *a;
        if ((rc = st_db_appender(db, &a))) return fail("appender", rc);
        for (int64_t i = 0; i < series_n; i++) {
            st_labels_t l = {0};
            if (!refs[i]) l = series_labels(i);
            rc = st_appender_add(a, &refs[i], refs[i] ? NULL : &l, t, value(i, r));
            st_labels_free(&l);
            if (rc) return fail("add", rc);
        }
        if ((rc = st_appender_commit(a))) return fail("commit", rc);
        printf("ack %lld %lld\n", (long long)r, (long long)t);
        fflush(stdout);
        if (compact_every && (r + 1) % compact_every == 0 && (rc = st_db_compact(db))) return fail("compact", rc);
        if (sleep_us) usleep((useconds_t)sleep_us);
    }
    if (crash) _exit(0);
    free(refs);
    st_db_close(db);
    return 0;
}

static void print_sample(st_encbuf_t *b, const st_labels_t *l, int64_t t, double v) {
    char num[ST_FLOAT_BUF];
    st_encbuf_reset(b);
    st_put_labels_go(b, l);
    size_t n = st_fmt_go_g(num, v);
    st_put_u8(b, ' ');
    st_put_bytes(b, num, n);
    st_put_fmt(b, " %lld\n", (long long)t);
    fwrite(b->p, 1, b->len, stdout);
}

static int label_order(const void *x, const void *y) {
    return st_labels_cmp((const st_labels_t *)x, (const st_labels_t *)y);
}

static int cmd_expect(void) {
    st_labels_t *ls = malloc((size_t)series_n * sizeof *ls);
    for (int64_t i = 0; i < series_n; i++) ls[i] = series_labels(i);
    qsort(ls, (size_t)series_n, sizeof *ls, label_order); /* promtool prints series in label order */
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    for (int64_t k = 0; k < series_n; k++) {
        int64_t i = strtoll(st_labels_get(&ls[k], "series")->value, NULL, 10);
        for (int64_t r = 0; r < rounds; r++) {
            int64_t t = start_ms + r * step_ms;
            if (t >= min_time && t <= max_time) print_sample(&b, &ls[k], t, value(i, r));
        }
        st_labels_free(&ls[k]);
    }
    st_encbuf_free(&b);
    free(ls);
    return 0;
}

static int cmd_dump(const char *dir) {
    st_db_t *db;
    int rc = open_db(dir, &db);
    if (rc) return fail("open", rc);
    st_matchers_t ms;
    st_series_set_t *set = NULL;
    if ((rc = st_selector_parse(&ms, "{__name__=~\".+\"}")) || (rc = st_db_select(db, &ms, min_time, max_time, &set)))
        return fail("select", rc);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    while ((rc = st_series_set_next(set)) == 1) {
        int64_t t;
        double v;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1) print_sample(&b, st_series_set_labels(set), t, v);
        if (rc < 0) break;
    }
    if (rc < 0) return fail("read", rc);
    st_encbuf_free(&b);
    st_series_set_free(set);
    st_matchers_free(&ms);
    st_db_close(db);
    return 0;
}

/* ---- serve ---- */

typedef struct {
    st_db_t *db;
} server_t;

typedef struct {
    st_encbuf_t body;
} request_t;

static int query(void *ctx, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out) {
    return st_db_select(ctx, ms, mint, maxt, out);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **con_cls) {
    (void)version;
    server_t *s = cls;
    request_t *req = *con_cls;
    if (!req) {
        if (!(req = calloc(1, sizeof *req))) return MHD_NO;
        st_encbuf_init(&req->body, ST_RR_MAX_REQUEST + 1);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_len) {
        st_put_bytes(&req->body, upload, *upload_len);
        *upload_len = 0;
        return MHD_YES;
    }
    struct MHD_Response *resp;
    unsigned status;
    if (strcmp(url, "/api/v1/read") != 0 || strcmp(method, "POST") != 0) {
        static const char nf[] = "404 page not found\n";
        resp = MHD_create_response_from_buffer(sizeof nf - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
        status = 404;
    } else {
        st_remoteread_response_t r;
        st_remoteread_handle(req->body.p ? req->body.p : (const uint8_t *)"", req->body.len, NULL, query, s->db, &r);
        resp = MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Type", r.content_type);
        if (r.content_encoding) MHD_add_response_header(resp, "Content-Encoding", r.content_encoding);
        status = (unsigned)r.status;
        fprintf(stderr, "tsdb_driver: POST /api/v1/read -> %u (%zu bytes)\n", status, r.len);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)cls, (void)c, (void)code;
    request_t *req = *con_cls;
    if (!req) return;
    st_encbuf_free(&req->body);
    free(req);
    *con_cls = NULL;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static int cmd_serve(const char *dir) {
    const char *colon = strrchr(listen_addr, ':');
    if (!colon) return fail("serve", st_errorf(ST_EINVAL, "--listen must be host:port"));
    server_t s;
    int rc = open_db(dir, &s.db);
    if (rc) return fail("open", rc);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen_addr), listen_addr);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return fail("serve", st_errorf(ST_EINVAL, "bad host %s", host));
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, &s,
                                            MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
                                            MHD_OPTION_END);
    if (!d) return fail("serve", st_errorf(ST_EIO, "cannot listen on %s", listen_addr));
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("listening %s\n", listen_addr);
    fflush(stdout);
    while (!stop) usleep(100000);
    MHD_stop_daemon(d);
    st_db_close(s.db);
    return 0;
}

/* ---- bench ---- */

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_bench(const char *dir) {
    st_db_t *db;
    int rc = open_db(dir, &db);
    if (rc) return fail("open", rc);
    st_labels_t *ls = malloc((size_t)series_n * sizeof *ls);
    uint64_t *refs = calloc((size_t)series_n, sizeof *refs);
    for (int64_t i = 0; i < series_n; i++) ls[i] = series_labels(i);
    long rss0 = rss_kib();
    double t0 = now_s(), tfirst = 0;
    for (int64_t r = 0; r < rounds; r++) {
        st_appender_t *a;
        if ((rc = st_db_appender(db, &a))) return fail("appender", rc);
        for (int64_t i = 0; i < series_n; i++)
            if ((rc = st_appender_add(a, &refs[i], refs[i] ? NULL : &ls[i], start_ms + r * step_ms, value(i, r))))
                return fail("add", rc);
        if ((rc = st_appender_commit(a))) return fail("commit", rc);
        if (r == 0) tfirst = now_s();
    }
    double t1 = now_s();
    long rss1 = rss_kib();
    st_db_stats_t st;
    st_db_stats(db, &st);
    double later = (double)series_n * (double)(rounds - 1);
    printf("series=%lld samples_per_series=%lld head_chunks=%llu\n", (long long)series_n, (long long)rounds,
           (unsigned long long)st.head_chunks);
    printf("rss_delta_kib=%ld bytes_per_series=%.0f\n", rss1 - rss0, (double)(rss1 - rss0) * 1024 / (double)series_n);
    printf("first_round_s=%.3f (series creation) appends_per_s_after=%.0f total_appends_per_s=%.0f\n", tfirst - t0,
           rounds > 1 ? later / (t1 - tfirst) : 0.0, (double)series_n * (double)rounds / (t1 - t0));
    printf("wal_bytes=%llu\n", (unsigned long long)st.wal_bytes);
    for (int64_t i = 0; i < series_n; i++) st_labels_free(&ls[i]);
    free(ls);
    free(refs);
    st_db_close(db);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tsdb_driver append|expect|dump|serve|bench [DIR] [flags]\n");
        return 2;
    }
    char **pos;
    size_t npos;
    int rc = st_flags_parse(flags, sizeof flags / sizeof flags[0], argc - 2, argv + 2, &pos, &npos);
    if (rc == 1) {
        st_flags_usage(stdout, "tsdb_driver CMD [DIR] [flags]", "st_db driver for the tsdb integration tests",
                       flags, sizeof flags / sizeof flags[0]);
        return 0;
    }
    if (rc) return fail("flags", rc);
    const char *cmd = argv[1], *dir = npos ? pos[0] : NULL;
    free(pos);
    if (strcmp(cmd, "expect") == 0) return cmd_expect();
    if (!dir) {
        fprintf(stderr, "tsdb_driver %s: a data directory is required\n", cmd);
        return 2;
    }
    if (strcmp(cmd, "append") == 0) return cmd_append(dir);
    if (strcmp(cmd, "dump") == 0) return cmd_dump(dir);
    if (strcmp(cmd, "serve") == 0) return cmd_serve(dir);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(dir);
    fprintf(stderr, "tsdb_driver: unknown command %s\n", cmd);
    return 2;
}
