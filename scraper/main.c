/*
 * `strata scraper`: flags, wiring, reload and shutdown. Threads:
 *   main        sigwait()s SIGHUP (reload), SIGINT/SIGTERM (stop); the
 *               signals are blocked in every other thread
 *   scrape loop one thread, libcurl multi (scrape.c), the only appender
 *   discovery   file/http SD and target building (discovery.c)
 *   compactor   calls st_db_compact periodically (head -> blocks, WAL
 *               truncation, retention)
 *   http        libmicrohttpd's pool (api.c)
 * A reload parses the file first; a bad file changes nothing (the error,
 * with its line, goes to the log and to POST /-/reload's answer). Stored
 * data is untouched by a reload; surviving targets keep their state.
 */
#include "scraper.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scraper_int.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/httpserver.h"
#include "strata/log.h"

typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    st_db_t *db;
    int64_t every_ms;
} compactor_t;

static void *compactor_main(void *arg) {
    compactor_t *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += c->every_ms / 1000;
        dl.tv_nsec += (c->every_ms % 1000) * 1000000;
        if (dl.tv_nsec >= 1000000000) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000;
        }
        while (!c->stop && pthread_cond_timedwait(&c->cv, &c->mu, &dl) == 0) {}
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        int rc = st_db_compact(c->db);
        if (rc) st_log(ST_LOG_ERROR, "compaction failed", "err", st_errdetail(rc), NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int scraper_reload(scraper_t *s) {
    pthread_mutex_lock(&s->reload_mu);
    atomic_fetch_add(&s->reloads_total, 1);
    config_t *c;
    int rc = config_load(&c, s->config_path);
    if (rc) {
        atomic_fetch_add(&s->reload_failures_total, 1);
        atomic_store(&s->last_reload_ok, false);
        st_log(ST_LOG_ERROR, "Error reloading config; keeping the running one", "filename", s->config_path, "err",
               st_errdetail(rc), NULL);
        pthread_mutex_unlock(&s->reload_mu);
        return rc;
    }
    pthread_mutex_lock(&s->cfg_mu);
    config_t *old = s->cfg;
    s->cfg = c;
    pthread_mutex_unlock(&s->cfg_mu);
    discovery_set_config(s->disc, c);
    config_unref(old);
    atomic_store(&s->last_reload_ok, true);
    atomic_store(&s->last_reload_ok_ms, now_ms());
    st_log(ST_LOG_INFO, "Completed loading of configuration file", "filename", s->config_path, NULL);
    pthread_mutex_unlock(&s->reload_mu);
    return ST_OK;
}

static int fail(int rc, const char *what) {
    st_log(ST_LOG_ERROR, what, "err", st_errdetail(rc), NULL);
    return 1;
}

int scraper_main(int argc, char **argv) {
    const char *config_file = "prometheus.yml", *tsdb_path = "data/", *listen = "127.0.0.1:9090",
               *log_level = "info";
    int64_t retention_ms = -1, block_ms = 0, min_block_ms = 0, max_block_ms = 0;
    bool lifecycle = false;
    int64_t q_timeout = 120000, q_max_samples = 50000000, q_lookback = 300000, q_concurrency = 20;
    const st_flag_t flags[] = {
        {"config.file", ST_FLAG_STRING, &config_file, "Prometheus configuration file path (default prometheus.yml)."},
        {"storage.tsdb.path", ST_FLAG_STRING, &tsdb_path, "Base path for metrics storage (default data/)."},
        {"storage.tsdb.retention.time", ST_FLAG_DURATION, &retention_ms,
         "How long to retain samples in storage (default 15d)."},
        {"storage.tsdb.block-duration", ST_FLAG_DURATION, &block_ms,
         "Duration of the blocks cut from the head (min = max block duration; default 2h)."},
        {"storage.tsdb.min-block-duration", ST_FLAG_DURATION, &min_block_ms,
         "Same as --storage.tsdb.block-duration (Prometheus's name)."},
        {"storage.tsdb.max-block-duration", ST_FLAG_DURATION, &max_block_ms,
         "Accepted for compatibility; blocks are never compacted further here, so it must equal the min."},
        {"web.listen-address", ST_FLAG_STRING, &listen, "Address to listen on for the API (default 127.0.0.1:9090)."},
        {"web.enable-lifecycle", ST_FLAG_BOOL, &lifecycle, "Enable reload via HTTP request (POST /-/reload)."},
        {"query.timeout", ST_FLAG_DURATION, &q_timeout, "Maximum time a query may take before being aborted "
                                                        "(default 2m)."},
        {"query.max-samples", ST_FLAG_INT64, &q_max_samples,
         "Maximum number of samples a single query can load into memory (default 50000000)."},
        {"query.lookback-delta", ST_FLAG_DURATION, &q_lookback,
         "How far back to look for samples of an instant selector (default 5m)."},
        {"query.max-concurrency", ST_FLAG_INT64, &q_concurrency,
         "Maximum number of queries executed concurrently; more wait (default 20)."},
        {"log.level", ST_FLAG_STRING, &log_level, "Only log messages with the given severity or above: debug, info, "
                                                  "warn, error (default info)."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int exit_code;
    int rc = st_flags_parse_command(
        flags, nflags, nflags, argc, argv, "strata scraper [flags]",
        "Scrape targets as Prometheus does and store the samples in a Prometheus TSDB directory (head + WAL + "
        "blocks).",
        &exit_code);
    if (rc == 1) return exit_code;
    st_log_level_t level = ST_LOG_INFO;
    if (!rc) rc = st_log_parse_level(log_level, &level);
    if (!rc && block_ms && min_block_ms && block_ms != min_block_ms)
        rc = st_errorf(ST_EINVAL, "--storage.tsdb.block-duration and --storage.tsdb.min-block-duration disagree");
    if (!block_ms) block_ms = min_block_ms;
    if (!rc && max_block_ms && max_block_ms != (block_ms ? block_ms : 7200000))
        rc = st_errorf(ST_EINVAL, "--storage.tsdb.max-block-duration must equal the block duration (blocks are not "
                                  "compacted further by the scraper)");
    if (!rc && block_ms < 0) rc = st_errorf(ST_EINVAL, "--storage.tsdb.block-duration must be positive");
    if (!rc && (q_concurrency < 1 || q_concurrency > 1000000))
        rc = st_errorf(ST_EINVAL, "--query.max-concurrency must be in [1, 1000000]");
    if (!rc && (q_timeout < 0 || q_max_samples < 1 || q_lookback <= 0))
        rc = st_errorf(ST_EINVAL, "--query.timeout must be >= 0, --query.max-samples and --query.lookback-delta > 0");
    if (rc) {
        fprintf(stderr, "strata scraper: %s\n", st_errdetail(rc));
        return 2;
    }
    st_log_set_level(level);

    scraper_t s = {.config_path = config_file, .enable_lifecycle = lifecycle, .start_ms = now_ms()};
    pthread_mutex_init(&s.cfg_mu, NULL);
    pthread_mutex_init(&s.reload_mu, NULL);
    st_promql_engine_opts_default(&s.query_opts);
    s.query_opts.timeout_ms = q_timeout;
    s.query_opts.max_samples = (uint64_t)q_max_samples;
    s.query_opts.lookback_delta_ms = q_lookback;
    sem_init(&s.query_sem, 0, (unsigned)q_concurrency);
    st_http_server_t *srv = NULL;
    compactor_t comp = {.every_ms = 60000};
    bool comp_started = false;
    exit_code = 1;

    char rbuf[32], bbuf[32], lbuf[8], qtbuf[32], qsbuf[24], qlbuf[32], qcbuf[24];
    flag_value_t fv[] = {
        {"config.file", config_file}, {"storage.tsdb.path", tsdb_path}, {"storage.tsdb.retention.time", rbuf},
        {"storage.tsdb.block-duration", bbuf}, {"web.listen-address", listen}, {"web.enable-lifecycle", lbuf},
        {"log.level", log_level}, {"query.timeout", qtbuf}, {"query.max-samples", qsbuf},
        {"query.lookback-delta", qlbuf}, {"query.max-concurrency", qcbuf},
    };
    st_fmt_prom_duration(qtbuf, q_timeout);
    st_fmt_prom_duration(qlbuf, q_lookback);
    snprintf(qsbuf, sizeof qsbuf, "%lld", (long long)q_max_samples);
    snprintf(qcbuf, sizeof qcbuf, "%lld", (long long)q_concurrency);
    s.flags = fv;
    s.n_flags = sizeof fv / sizeof fv[0];

    /* signals go to sigwait below, never to the worker threads */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    st_log(ST_LOG_INFO, "Starting strata scraper", "version", ST_VERSION, NULL);
    if ((rc = config_load(&s.cfg, config_file))) {
        exit_code = fail(rc, "Error loading config");
        goto out;
    }
    st_db_opts_t opts;
    st_db_opts_default(&opts, tsdb_path);
    if (block_ms) opts.block_duration_ms = block_ms;
    if (retention_ms >= 0) opts.retention_ms = retention_ms;
    st_fmt_prom_duration(rbuf, opts.retention_ms);
    st_fmt_prom_duration(bbuf, opts.block_duration_ms);
    snprintf(lbuf, sizeof lbuf, "%s", lifecycle ? "true" : "false");
    comp.every_ms = opts.block_duration_ms / 12;
    if (comp.every_ms > 60000) comp.every_ms = 60000;
    if (comp.every_ms < 1000) comp.every_ms = 1000;
    int64_t t0 = mono_ns();
    if ((rc = st_db_open(&s.db, &opts))) {
        exit_code = fail(rc, "Opening storage failed");
        goto out;
    }
    char took[32];
    snprintf(took, sizeof took, "%.3fs", (double)(mono_ns() - t0) / 1e9);
    st_log(ST_LOG_INFO, "TSDB started", "path", tsdb_path, "duration", took, NULL);
    if ((rc = scrape_loop_start(&s.loop, s.db))) {
        exit_code = fail(rc, "Starting the scrape loop failed");
        goto out;
    }
    if ((rc = discovery_start(&s.disc, scrape_loop_publish, s.loop))) {
        exit_code = fail(rc, "Starting discovery failed");
        goto out;
    }
    discovery_set_config(s.disc, s.cfg);
    atomic_store(&s.last_reload_ok, true);
    atomic_store(&s.last_reload_ok_ms, now_ms());
    comp.db = s.db;
    pthread_mutex_init(&comp.mu, NULL);
    pthread_cond_init(&comp.cv, NULL);
    if (pthread_create(&comp.thread, NULL, compactor_main, &comp) != 0) {
        exit_code = fail(st_errorf(ST_EIO, "cannot start the compaction thread"), "Starting failed");
        goto out;
    }
    comp_started = true;
    if ((rc = st_http_server_new(&srv, NULL)) || (rc = api_register(&s, srv)) ||
        (rc = st_http_server_start(srv, listen))) {
        exit_code = fail(rc, "Starting the web server failed");
        goto out;
    }
    atomic_store(&s.ready, true);
    st_log(ST_LOG_INFO, "Server is ready to receive web requests.", "address", listen, NULL);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            (void)scraper_reload(&s);
            continue;
        }
        st_log(ST_LOG_WARN, "Received termination request, exiting gracefully", "signal",
               sig == SIGINT ? "interrupt" : "terminated", NULL);
        break;
    }
    exit_code = 0;
out:
    atomic_store(&s.ready, false);
    st_http_server_free(srv);
    discovery_stop(s.disc);
    scrape_loop_stop(s.loop);
    if (comp_started) {
        pthread_mutex_lock(&comp.mu);
        comp.stop = true;
        pthread_cond_broadcast(&comp.cv);
        pthread_mutex_unlock(&comp.mu);
        pthread_join(comp.thread, NULL);
        pthread_mutex_destroy(&comp.mu);
        pthread_cond_destroy(&comp.cv);
    }
    st_db_close(s.db);
    config_unref(s.cfg);
    pthread_mutex_destroy(&s.cfg_mu);
    pthread_mutex_destroy(&s.reload_mu);
    sem_destroy(&s.query_sem);
    curl_global_cleanup();
    if (exit_code == 0) st_log(ST_LOG_INFO, "See you next time!", NULL);
    return exit_code;
}
