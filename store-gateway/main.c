/*
 * `strata store`: flags and wiring. Threads:
 *   main      syncs the block set (first sync before the StoreAPI opens,
 *             then every --sync-block-duration);
 *   loaders   per sync, up to --block-sync-concurrency threads building
 *             index-headers;
 *   grpc      --store.grpc.series-max-concurrency workers answering calls;
 *   signals   sigwait()s SIGINT/SIGTERM (blocked everywhere else) and sets
 *             the stop flag, which cuts the main thread's sleep short;
 *   http      libmicrohttpd's pool serving /metrics, /-/healthy, /-/ready.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "strata/buf.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/grpc.h"
#include "strata/httpserver.h"
#include "strata/log.h"
#include "strata/runtime.h"
#include "strata/textfmt.h"

#define INITIAL_SYNC_RETRY_MS 2000

typedef struct {
    st_runtime_t rt;
    store_t st;
} app_t;

#define LD(x) ((double)atomic_load(&(x)))

static int h_metrics(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    app_t *a = ctx;
    (void)req;
    store_t *st = &a->st;
    const store_metrics_t *m = &st->m;
    /* loaded blocks by resolution: raw, 5m, 1h (sync admits no other) */
    size_t by_res[3] = {0};
    pthread_mutex_lock(&st->mu);
    size_t nblocks = st->nblocks;
    for (size_t i = 0; i < nblocks; i++)
        by_res[st->blocks[i]->resolution == ST_RES_RAW ? 0 : st->blocks[i]->resolution == ST_RES_5M ? 1 : 2]++;
    pthread_mutex_unlock(&st->mu);
    st_cache_stats_t cs;
    st_cache_stats(st->cache, &cs);
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 20);
    /* Thanos's names where Thanos has the same metric */
    st_put_metric(&b, "thanos_bucket_store_blocks_loaded", "gauge", "Number of currently loaded blocks.", NULL,
                  (double)nblocks);
    st_put_metric_head(&b, "strata_store_blocks_loaded_by_resolution", "gauge",
                       "Loaded blocks by downsampling resolution (ms; 0 = raw).");
    st_put_metric(&b, "strata_store_blocks_loaded_by_resolution", NULL, NULL, "{resolution=\"0\"}",
                  (double)by_res[0]);
    st_put_metric(&b, "strata_store_blocks_loaded_by_resolution", NULL, NULL, "{resolution=\"300000\"}",
                  (double)by_res[1]);
    st_put_metric(&b, "strata_store_blocks_loaded_by_resolution", NULL, NULL, "{resolution=\"3600000\"}",
                  (double)by_res[2]);
    st_put_metric(&b, "thanos_bucket_store_block_loads_total", "counter",
                  "Total number of remote block loading attempts.", NULL,
                  LD(m->block_loads) + LD(m->block_load_failures));
    st_put_metric(&b, "thanos_bucket_store_block_load_failures_total", "counter",
                  "Total number of failed remote block loading attempts.", NULL, LD(m->block_load_failures));
    st_put_metric(&b, "thanos_bucket_store_block_drops_total", "counter",
                  "Total number of local blocks that were dropped.", NULL, LD(m->block_drops));
    st_put_metric(&b, "thanos_blocks_meta_syncs_total", "counter", "Total blocks metadata synchronization attempts.",
                  NULL, LD(m->syncs));
    st_put_metric(&b, "thanos_blocks_meta_sync_failures_total", "counter",
                  "Total blocks metadata synchronization failures.", NULL, LD(m->sync_failures));
    st_put_metric_head(&b, "thanos_blocks_meta_sync_duration_seconds", "summary",
                       "Duration of the blocks metadata synchronization in seconds.");
    st_put_metric(&b, "thanos_blocks_meta_sync_duration_seconds_sum", NULL, NULL, NULL,
                  LD(m->sync_duration_us_sum) / 1e6);
    st_put_metric(&b, "thanos_blocks_meta_sync_duration_seconds_count", NULL, NULL, NULL, LD(m->syncs));
    st_put_metric_head(&b, "thanos_store_index_cache_requests_total", "counter",
                       "Total number of items requests to the cache.");
    st_put_metric(&b, "thanos_store_index_cache_requests_total", NULL, NULL, "{item_type=\"Postings\"}",
                  LD(m->postings_requests));
    st_put_metric(&b, "thanos_store_index_cache_requests_total", NULL, NULL, "{item_type=\"Series\"}",
                  LD(m->series_requests));
    st_put_metric_head(&b, "thanos_store_index_cache_hits_total", "counter",
                       "Total number of items requests to the cache that were a hit.");
    st_put_metric(&b, "thanos_store_index_cache_hits_total", NULL, NULL, "{item_type=\"Postings\"}",
                  LD(m->postings_hits));
    st_put_metric(&b, "thanos_store_index_cache_hits_total", NULL, NULL, "{item_type=\"Series\"}", LD(m->series_hits));
    st_put_metric(&b, "strata_store_index_cache_misses_total", "counter", "Index cache lookups that missed.", NULL,
                  LD(m->postings_requests) + LD(m->series_requests) - LD(m->postings_hits) - LD(m->series_hits));
    st_put_metric(&b, "thanos_store_index_cache_items", "gauge", "Current number of items in the index cache.", NULL,
                  (double)cs.items);
    st_put_metric(&b, "thanos_store_index_cache_total_size_bytes", "gauge",
                  "Current byte size of items (keys, values, overhead) in the index cache.", NULL, (double)cs.bytes);
    st_put_metric(&b, "thanos_store_index_cache_items_evicted_total", "counter",
                  "Total number of items that were evicted from the index cache.", NULL, (double)cs.evictions);
    st_put_metric_head(&b, "strata_store_bucket_fetched_bytes_total", "counter",
                       "Bytes read from the bucket by ranged reads, by what they held.");
    st_put_metric(&b, "strata_store_bucket_fetched_bytes_total", NULL, NULL, "{data_type=\"postings\"}",
                  LD(m->fetched_postings));
    st_put_metric(&b, "strata_store_bucket_fetched_bytes_total", NULL, NULL, "{data_type=\"series\"}",
                  LD(m->fetched_series));
    st_put_metric(&b, "strata_store_bucket_fetched_bytes_total", NULL, NULL, "{data_type=\"chunks\"}",
                  LD(m->fetched_chunks));
    st_put_metric(&b, "strata_store_bucket_fetched_bytes_total", NULL, NULL, "{data_type=\"index_header\"}",
                  LD(m->fetched_index_header));
    st_put_metric(&b, "strata_store_bucket_get_range_total", "counter", "Ranged reads (GETs) sent to the bucket.", NULL,
                  LD(m->gets));
    st_put_metric(&b, "strata_store_series_served_total", "counter", "Series sent in Series responses.", NULL,
                  LD(m->series_served));
    st_put_metric(&b, "strata_store_chunks_served_total", "counter", "Chunks sent in Series responses.", NULL,
                  LD(m->chunks_served));
    st_put_metric(&b, "strata_store_series_requests_total", "counter", "Series calls served.", NULL,
                  LD(m->series_calls));
    st_put_metric(&b, "strata_store_series_request_failures_total", "counter", "Series calls that ended in an error.",
                  NULL, LD(m->series_call_failures));
    st_put_metric(&b, "strata_store_label_requests_total", "counter", "LabelNames and LabelValues calls served.", NULL,
                  LD(m->label_calls));
    st_put_metric(&b, "thanos_bucket_store_queries_dropped_total", "counter",
                  "Number of queries that were dropped due to a limit.", NULL, LD(m->queries_dropped));
    st_put_metric(&b, "strata_store_index_header_bytes", "gauge", "Bytes of the index-header files of loaded blocks.",
                  NULL, LD(st->ih_file_bytes));
    st_put_metric(&b, "strata_store_index_header_memory_bytes", "gauge",
                  "Bytes of memory the index-header readers of loaded blocks hold (beside the mapped files).", NULL,
                  LD(st->ih_mem_bytes));
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "formatting metrics");
    }
    *resp = (st_http_response_t){200, ST_HTTP_CT_METRICS, (char *)b.p, b.len, NULL};
    return ST_OK;
}

/* ---- flags ---- */

static int parse_limit(const char *flag, int64_t v, uint64_t *out) {
    if (v < 0) return st_errorf(ST_EINVAL, "--%s must not be negative", flag);
    *out = (uint64_t)v;
    return ST_OK;
}

int store_main(int argc, char **argv) {
    const char *obj_file = NULL, *obj_yaml = NULL, *data_dir = "./data", *grpc_addr = "0.0.0.0:10901";
    const char *http_addr = "0.0.0.0:10902", *min_time = "0000-01-01T00:00:00Z", *max_time = "9999-12-31T23:59:59Z";
    const char *relabel_file = NULL, *relabel_yaml = NULL, *cache_size = "250MB", *bytes_limit = "0";
    const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL, *log_level = "info";
    int64_t sync_ms = 15 * 60 * 1000, sync_alias_ms = 0, max_series = 0, max_samples = 0, concurrency = 20;
    int64_t sync_concurrency = 20, deletion_delay_ms = 24 * 3600 * 1000LL;
    const st_flag_t flags[] = {
        {"objstore.config-file", ST_FLAG_STRING, &obj_file, "Path to a YAML file with the object store configuration."},
        {"objstore.config", ST_FLAG_STRING, &obj_yaml, "Object store configuration as YAML text (instead of a file)."},
        {"data-dir", ST_FLAG_STRING, &data_dir,
         "Local directory for the index-headers of the served blocks (default ./data)."},
        {"grpc-address", ST_FLAG_STRING, &grpc_addr, "Listen host:port for the StoreAPI (default 0.0.0.0:10901)."},
        {"grpc-server-tls-cert", ST_FLAG_STRING, &tls_cert, "TLS certificate for the gRPC server (enables TLS)."},
        {"grpc-server-tls-key", ST_FLAG_STRING, &tls_key, "TLS key for the gRPC server."},
        {"grpc-server-tls-client-ca", ST_FLAG_STRING, &tls_ca,
         "CA to verify client certificates against (requires them)."},
        {"http-address", ST_FLAG_STRING, &http_addr,
         "Listen host:port for /metrics, /-/healthy, /-/ready (default 0.0.0.0:10902)."},
        {"sync-block-duration", ST_FLAG_DURATION, &sync_ms,
         "Repeat interval for syncing the blocks between local and remote view (default 15m)."},
        {"min-time", ST_FLAG_STRING, &min_time,
         "Serve only blocks reaching past this time: RFC 3339, relative to now (-2w, -72h) or ms since the epoch."},
        {"max-time", ST_FLAG_STRING, &max_time,
         "Serve only blocks starting before this time (same forms as --min-time)."},
        {"selector.relabel-config-file", ST_FLAG_STRING, &relabel_file,
         "YAML file with relabel rules over each block's external labels and __block_id; dropped blocks are not "
         "served (keep, drop, hashmod for sharding)."},
        {"selector.relabel-config", ST_FLAG_STRING, &relabel_yaml, "The same rules as YAML text."},
        {"index-cache-size", ST_FLAG_STRING, &cache_size,
         "Size of the in-memory cache of postings and series (default 250MB; 0 = off)."},
        {"store.limits.request-series", ST_FLAG_INT64, &max_series,
         "At most this many series per Series call (0 = no limit)."},
        {"store.limits.request-samples", ST_FLAG_INT64, &max_samples,
         "At most this many samples per Series call, counted exactly from the chunks sent (0 = no limit)."},
        {"store.grpc.downloaded-bytes-limit", ST_FLAG_STRING, &bytes_limit,
         "At most this many bytes fetched from the bucket per Series call (0 = no limit)."},
        {"store.grpc.series-max-concurrency", ST_FLAG_INT64, &concurrency,
         "Calls served at once; more wait (default 20)."},
        {"block-sync-concurrency", ST_FLAG_INT64, &sync_concurrency,
         "Blocks whose index-header is built at once (default 20)."},
        {"ignore-deletion-marks-delay", ST_FLAG_DURATION, &deletion_delay_ms,
         "Keep serving a block this long after its deletion mark, so queries see no gap while the compacted block is picked up (default 24h, as Thanos)."},
        {"log.level", ST_FLAG_STRING, &log_level, "Log filtering level: debug, info, warn, error (default info)."},
        /* hidden (last, left out of the usage): the name the issue used */
        {"sync-interval", ST_FLAG_DURATION, &sync_alias_ms, "Alias of --sync-block-duration."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int exit_code;
    int rc = st_flags_parse_command(flags, nflags, nflags - 1, argc, argv, "strata store [flags]",
                                    "Serve the blocks of an object store bucket over the StoreAPI (as thanos store).",
                                    &exit_code);
    if (rc == 1) return exit_code;
    app_t a;
    memset(&a, 0, sizeof a);
    st_log_level_t level;
    store_time_t tmin, tmax;
    uint64_t cache_bytes = 0;
    st_storeapi_limits_t limits = {0};
    if (sync_alias_ms) sync_ms = sync_alias_ms;
    if (!rc && obj_file && obj_yaml)
        rc = st_errorf(ST_EINVAL, "--objstore.config-file and --objstore.config are mutually exclusive");
    if (!rc && !obj_file && !obj_yaml) rc = st_errorf(ST_EINVAL, "no bucket: give --objstore.config-file");
    if (!rc && sync_ms <= 0) rc = st_errorf(ST_EINVAL, "--sync-block-duration must be positive");
    if (!rc && (concurrency <= 0 || concurrency > 10000))
        rc = st_errorf(ST_EINVAL, "--store.grpc.series-max-concurrency must be in 1..10000");
    if (!rc && (sync_concurrency <= 0 || sync_concurrency > 1000))
        rc = st_errorf(ST_EINVAL, "--block-sync-concurrency must be in 1..1000");
    if (!rc && deletion_delay_ms < 0) rc = st_errorf(ST_EINVAL, "--ignore-deletion-marks-delay must not be negative");
    if (!rc && (rc = store_time_parse(min_time, &tmin))) st_errwrap(rc, "--min-time");
    if (!rc && (rc = store_time_parse(max_time, &tmax))) st_errwrap(rc, "--max-time");
    if (!rc && !tmin.relative && !tmax.relative && tmin.ms > tmax.ms)
        rc = st_errorf(ST_EINVAL, "--min-time is after --max-time");
    if (!rc && (rc = st_bytes_parse(cache_size, &cache_bytes))) st_errwrap(rc, "--index-cache-size");
    if (!rc && (rc = st_bytes_parse(bytes_limit, &limits.max_fetched_bytes)))
        st_errwrap(rc, "--store.grpc.downloaded-bytes-limit");
    if (!rc) rc = parse_limit("store.limits.request-series", max_series, &limits.max_series);
    if (!rc) rc = parse_limit("store.limits.request-samples", max_samples, &limits.max_samples);
    if (!rc && (!tls_cert != !tls_key))
        rc = st_errorf(ST_EINVAL, "--grpc-server-tls-cert and --grpc-server-tls-key go together");
    if (!rc && tls_ca && !tls_cert) rc = st_errorf(ST_EINVAL, "--grpc-server-tls-client-ca needs a server certificate");
    if (!rc) rc = st_log_parse_level(log_level, &level);
    if (rc) {
        fprintf(stderr, "strata store: %s\n", st_errdetail(rc));
        return 2;
    }
    st_log_set_level(level);

    /* before any thread exists, so all inherit the signal mask */
    if ((rc = st_runtime_init(&a.rt))) {
        st_log(ST_LOG_ERROR, "starting failed", "err", st_errdetail(rc), NULL);
        return 1;
    }

    exit_code = 1;
    st_objstore_t *bkt = NULL;
    st_http_server_t *http = NULL;
    st_grpc_server_t *grpc = NULL;
    bool st_ok = false;

    rc = obj_file ? st_objstore_open_file(&bkt, obj_file) : st_objstore_open(&bkt, obj_yaml, strlen(obj_yaml));
    if (rc) {
        st_log(ST_LOG_ERROR, "opening the object store failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    rc = store_init(&a.st, bkt, data_dir, cache_bytes);
    st_ok = true;
    if (!rc) rc = st_promconfig_load_selector_relabel(&a.st.relabel, relabel_file, relabel_yaml);
    if (rc) {
        st_log(ST_LOG_ERROR, "setting up the store failed", "err", st_errdetail(rc), NULL);
        exit_code = 2;
        goto out;
    }
    a.st.min_time = tmin;
    a.st.max_time = tmax;
    a.st.sync_concurrency = (int)sync_concurrency;
    a.st.deletion_delay_ms = deletion_delay_ms;
    a.st.stop = &a.rt.stop;
    if ((rc = st_http_server_new(&http, NULL)) || (rc = st_http_server_route(http, "/metrics", false, h_metrics, &a)) ||
        (rc = st_runtime_add_probes(&a.rt, http)) ||
        (rc = st_http_server_start(http, http_addr))) {
        st_log(ST_LOG_ERROR, "starting the HTTP server failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    st_log(ST_LOG_INFO, "starting store gateway", "bucket", st_objstore_describe(bkt), "data_dir", data_dir, "grpc",
           grpc_addr, "http", http_addr, NULL);

    /* Like Thanos: the StoreAPI opens once the initial sync is done, so
     * the first answers are complete. */
    while ((rc = store_sync(&a.st))) {
        st_log(ST_LOG_WARN, "initial sync failed; retrying", "err", st_errdetail(rc), NULL);
        if (st_runtime_sleep(&a.rt, INITIAL_SYNC_RETRY_MS)) goto out;
    }
    if (st_runtime_stopping(&a.rt)) goto out;
    st_grpc_server_opts_t gopts = {
        .threads = (int)concurrency, .tls_cert_file = tls_cert, .tls_key_file = tls_key, .tls_client_ca_file = tls_ca};
    if ((rc = st_grpc_server_new(&grpc, &gopts)) || (rc = st_storeapi_register(grpc, &store_ops, &a.st, &limits)) ||
        (rc = st_grpc_server_start(grpc, grpc_addr, NULL))) {
        st_log(ST_LOG_ERROR, "starting the gRPC server failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    char nb[32];
    snprintf(nb, sizeof nb, "%zu", a.st.nblocks);
    st_log(ST_LOG_INFO, "initial sync done; serving the StoreAPI", "blocks", nb, "grpc", grpc_addr, NULL);
    st_runtime_set_ready(&a.rt, true);
    while (!st_runtime_sleep(&a.rt, sync_ms))
        if ((rc = store_sync(&a.st)) && !st_runtime_stopping(&a.rt))
            st_log(ST_LOG_WARN, "sync failed; serving the blocks loaded before", "err", st_errdetail(rc), NULL);
out:
    if (st_runtime_stopping(&a.rt)) exit_code = 0;
    st_runtime_stop(&a.rt);
    st_runtime_set_ready(&a.rt, false);
    st_grpc_server_free(grpc); /* cancels calls in flight before the blocks go */
    st_http_server_free(http);
    if (st_ok) store_destroy(&a.st);
    st_objstore_close(bkt);
    st_runtime_destroy(&a.rt);
    st_log(ST_LOG_INFO, "exiting", "code", exit_code ? (exit_code == 2 ? "2" : "1") : "0", NULL);
    return exit_code;
}
