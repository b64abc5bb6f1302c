/*
 * `strata sidecar`: flags and wiring. Threads:
 *   main      waits for Prometheus's external labels, then every
 *             --shipper.sync-interval (first pass at once) refreshes them
 *             and the StoreAPI's min time, and runs the shipper;
 *   signals   sigwait()s SIGINT/SIGTERM (blocked everywhere else) and
 *             sets the stop flag, which the shipper checks between files;
 *   http      libmicrohttpd's pool serving /metrics, /-/healthy, /-/ready;
 *   grpc      the gRPC server's workers serving the StoreAPI (storeapi.c)
 *             on --grpc-address, one call each; they read the external
 *             labels the main thread publishes (under the store's mutex).
 * Shared state is atomics, plus a mutex/condvar so the stop flag also
 * cuts the main thread's sleep short.
 */
#include "sidecar.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promclient.h"
#include "shipper.h"
#include "storeapi.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/grpc.h"
#include "strata/httpserver.h"
#include "strata/log.h"
#include "strata/runtime.h"
#include "strata/objstore.h"
#include "strata/textfmt.h"

#define PROM_TIMEOUT_MS 10000
#define LABELS_RETRY_MS 2000

typedef struct {
    st_runtime_t rt;
    atomic_bool prom_up;
    shipper_metrics_t metrics;
} sidecar_t;

static int h_metrics(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    sidecar_t *sc = ctx;
    (void)req;
    const shipper_metrics_t *m = &sc->metrics;
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 20);
    /* names as Thanos's, so existing dashboards and alerts keep working */
    st_put_metric(&b, "thanos_shipper_uploads_total", "counter", "Total number of uploaded blocks.", NULL,
                  (double)atomic_load(&m->uploads));
    st_put_metric(&b, "thanos_shipper_upload_failures_total", "counter", "Total number of block upload failures.", NULL,
                  (double)atomic_load(&m->upload_failures));
    st_put_metric(&b, "thanos_shipper_dir_syncs_total", "counter", "Total number of dir syncs.", NULL,
                  (double)atomic_load(&m->syncs));
    st_put_metric(&b, "thanos_shipper_dir_sync_failures_total", "counter", "Total number of failed dir syncs.", NULL,
                  (double)atomic_load(&m->sync_failures));
    st_put_metric(&b, "thanos_shipper_last_successful_upload_time", "gauge",
                  "Unix timestamp (in seconds) of the last successful TSDB block uploaded to the bucket.", NULL,
                  (double)atomic_load(&m->last_upload_ms) / 1000.0);
    st_put_metric(&b, "thanos_sidecar_prometheus_up", "gauge",
                  "Boolean indicator whether the sidecar can reach its Prometheus peer.", NULL,
                  atomic_load(&sc->prom_up) ? 1 : 0);
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "formatting metrics");
    }
    *resp = (st_http_response_t){200, ST_HTTP_CT_METRICS, (char *)b.p, b.len, NULL};
    return ST_OK;
}

/* ---- main ---- */

static void labels_text(const st_labels_t *l, char *out, size_t cap) {
    st_encbuf_t b;
    st_encbuf_init(&b, 64 * 1024);
    st_put_labels_go(&b, l);
    snprintf(out, cap, "%.*s", (int)(b.err ? 0 : b.len), b.p ? (const char *)b.p : "");
    st_encbuf_free(&b);
}

/* Refresh the external labels; keeps *cur on failure. */
static void refresh_labels(sidecar_t *sc, const char *url, st_labels_t *cur, sidecar_store_t *store) {
    st_labels_t nl;
    int rc = prom_external_labels(url, PROM_TIMEOUT_MS, &nl);
    atomic_store(&sc->prom_up, rc == ST_OK);
    if (rc) {
        st_log(ST_LOG_WARN, "failed to refresh external labels from Prometheus; keeping the previous ones", "err",
               st_errdetail(rc), NULL);
        return;
    }
    if (!nl.n) {
        st_log(ST_LOG_ERROR, "Prometheus now reports no external labels; keeping the previous ones", NULL);
        st_labels_free(&nl);
        return;
    }
    if (!st_labels_equal(&nl, cur)) {
        char text[1024];
        labels_text(&nl, text, sizeof text);
        st_log(ST_LOG_INFO, "external labels changed", "labels", text, NULL);
    }
    st_labels_free(cur);
    *cur = nl;
    int rc2 = sidecar_store_set_labels(store, cur);
    if (rc2) st_log(ST_LOG_WARN, "StoreAPI keeps the previous external labels", "err", st_errdetail(rc2), NULL);
}

int sidecar_main(int argc, char **argv) {
    const char *tsdb = "./data", *prom_url = "http://localhost:9090", *obj_file = NULL, *obj_yaml = NULL;
    const char *http_addr = "127.0.0.1:10902", *grpc_addr = "0.0.0.0:10901", *log_level = "info";
    const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
    bool upload_compacted = false;
    int64_t interval_ms = 30000;
    const st_flag_t flags[] = {
        {"tsdb.path", ST_FLAG_STRING, &tsdb, "Data directory of TSDB (default ./data)."},
        {"prometheus.url", ST_FLAG_STRING, &prom_url,
         "URL at which to reach Prometheus's API; its external labels come from /api/v1/status/config "
         "(default http://localhost:9090)."},
        {"objstore.config-file", ST_FLAG_STRING, &obj_file,
         "Path to a YAML file with the object store configuration. Without one, uploads are disabled."},
        {"objstore.config", ST_FLAG_STRING, &obj_yaml, "Object store configuration as YAML text (instead of a file)."},
        {"http-address", ST_FLAG_STRING, &http_addr,
         "Listen host:port for HTTP endpoints /metrics, /-/healthy, /-/ready (default 127.0.0.1:10902)."},
        {"grpc-address", ST_FLAG_STRING, &grpc_addr,
         "Listen host:port for the StoreAPI over gRPC (default 0.0.0.0:10901; \"\" = do not serve it)."},
        {"grpc-server-tls-cert", ST_FLAG_STRING, &tls_cert,
         "TLS certificate for the gRPC server (PEM); none = plaintext."},
        {"grpc-server-tls-key", ST_FLAG_STRING, &tls_key, "TLS key for the gRPC server (PEM)."},
        {"grpc-server-tls-client-ca", ST_FLAG_STRING, &tls_ca,
         "TLS CA (PEM) to verify gRPC clients against; none = no client certificates asked."},
        {"shipper.upload-compacted", ST_FLAG_BOOL, &upload_compacted,
         "Also upload compacted blocks (level > 1), refusing any that overlap bucket blocks."},
        {"log.level", ST_FLAG_STRING, &log_level, "Log filtering level: debug, info, warn, error (default info)."},
        /* hidden (last, left out of the usage): tests need a fast loop */
        {"shipper.sync-interval", ST_FLAG_DURATION, &interval_ms, "Time between shipper passes (default 30s)."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int exit_code;
    int rc = st_flags_parse_command(
        flags, nflags, nflags - 1, argc, argv, "strata sidecar [flags]",
        "Ship the blocks of a Prometheus (or strata scraper) TSDB directory to object storage.", &exit_code);
    if (rc == 1) return exit_code;
    st_log_level_t level;
    if (!rc && obj_file && obj_yaml)
        rc = st_errorf(ST_EINVAL, "--objstore.config-file and --objstore.config are mutually exclusive");
    if (!rc && interval_ms <= 0) rc = st_errorf(ST_EINVAL, "--shipper.sync-interval must be positive");
    if (!rc && (!tls_cert != !tls_key))
        rc = st_errorf(ST_EINVAL, "--grpc-server-tls-cert and --grpc-server-tls-key go together");
    if (!rc && tls_ca && !tls_cert)
        rc = st_errorf(ST_EINVAL, "--grpc-server-tls-client-ca needs --grpc-server-tls-cert and -key");
    if (!rc) rc = st_log_parse_level(log_level, &level);
    if (rc) {
        fprintf(stderr, "strata sidecar: %s\n", st_errdetail(rc));
        return 2;
    }
    st_log_set_level(level);

    sidecar_t sc;
    memset(&sc, 0, sizeof sc);
    /* before any thread exists, so all inherit the signal mask */
    if ((rc = st_runtime_init(&sc.rt))) {
        st_log(ST_LOG_ERROR, "starting failed", "err", st_errdetail(rc), NULL);
        return 1;
    }

    exit_code = 1;
    st_objstore_t *bkt = NULL;
    st_http_server_t *http = NULL;
    st_grpc_server_t *grpc = NULL;
    sidecar_store_t *store = NULL;
    st_labels_t ext = {0};
    char text[1024];

    if (obj_file || obj_yaml) {
        rc = obj_file ? st_objstore_open_file(&bkt, obj_file) : st_objstore_open(&bkt, obj_yaml, strlen(obj_yaml));
        if (rc) {
            st_log(ST_LOG_ERROR, "opening the object store failed", "err", st_errdetail(rc), NULL);
            goto out;
        }
    }
    if ((rc = st_http_server_new(&http, NULL)) || (rc = st_http_server_route(http, "/metrics", false, h_metrics, &sc)) ||
        (rc = st_runtime_add_probes(&sc.rt, http)) ||
        (rc = st_http_server_start(http, http_addr))) {
        st_log(ST_LOG_ERROR, "starting the HTTP server failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    /* The StoreAPI listens from the start, so a taken port fails at once;
     * until Prometheus gave its external labels, health says NOT_SERVING
     * and calls are UNAVAILABLE. */
    if ((rc = sidecar_store_new(&store, prom_url, tsdb))) {
        st_log(ST_LOG_ERROR, "creating the StoreAPI failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    if (*grpc_addr) {
        st_grpc_server_opts_t go = {.tls_cert_file = tls_cert, .tls_key_file = tls_key, .tls_client_ca_file = tls_ca};
        if ((rc = st_grpc_server_new(&grpc, &go)) ||
            (rc = st_storeapi_register(grpc, &sidecar_store_ops, store, NULL)) ||
            (rc = st_grpc_server_start(grpc, grpc_addr, NULL))) {
            st_log(ST_LOG_ERROR, "starting the gRPC server failed", "address", grpc_addr, "err", st_errdetail(rc),
                   NULL);
            goto out;
        }
        st_grpc_server_set_serving(grpc, false);
    }
    st_log(ST_LOG_INFO, "starting sidecar", "tsdb", tsdb, "prometheus", prom_url, "bucket",
           bkt ? st_objstore_describe(bkt) : "none", "http", http_addr, "grpc", *grpc_addr ? grpc_addr : "off",
           NULL);
    if (!bkt) st_log(ST_LOG_WARN, "no object store configured (--objstore.config-file); uploads are disabled", NULL);

    /* Like Thanos: no uploads until Prometheus tells us who it is. */
    for (;;) {
        rc = prom_external_labels(prom_url, PROM_TIMEOUT_MS, &ext);
        if (!rc) break;
        st_log(ST_LOG_WARN, "failed to fetch initial external labels; is Prometheus running? retrying", "err",
               st_errdetail(rc), NULL);
        if (st_runtime_sleep(&sc.rt, LABELS_RETRY_MS)) goto out;
    }
    atomic_store(&sc.prom_up, true);
    if (!ext.n) {
        st_log(ST_LOG_ERROR,
               "no external labels configured on Prometheus server, uniquely identifying external labels must be "
               "configured; see https://thanos.io/tip/thanos/storage.md#external-labels",
               NULL);
        goto out;
    }
    labels_text(&ext, text, sizeof text);
    st_log(ST_LOG_INFO, "got external labels from Prometheus", "labels", text, NULL);
    if ((rc = sidecar_store_set_labels(store, &ext))) {
        st_log(ST_LOG_ERROR, "publishing the external labels to the StoreAPI failed", "err", st_errdetail(rc),
               NULL);
        goto out;
    }
    sidecar_store_refresh_min_time(store);
    if (grpc) st_grpc_server_set_serving(grpc, true);
    bool equal = true;
    char lo[64], hi[64];
    if (prom_block_durations_equal(prom_url, PROM_TIMEOUT_MS, &equal, lo, hi, sizeof lo) == ST_OK && !equal)
        st_log(ST_LOG_WARN,
               "storage.tsdb.min-block-duration differs from max-block-duration: Prometheus compacts locally and "
               "compacted blocks are not uploaded (set both to 2h)",
               "min", lo, "max", hi, NULL);
    st_runtime_set_ready(&sc.rt, true);

    shipper_t sh = {.tsdb_dir = tsdb, .bucket = bkt, .upload_compacted = upload_compacted, .stop = &sc.rt.stop,
                    .metrics = &sc.metrics};
    for (bool first = true; !st_runtime_stopping(&sc.rt); first = false) {
        if (!first) {
            refresh_labels(&sc, prom_url, &ext, store);
            sidecar_store_refresh_min_time(store);
        }
        if (bkt) {
            size_t n = 0;
            rc = shipper_sync(&sh, &ext, &n);
            if (rc && !st_runtime_stopping(&sc.rt))
                st_log(ST_LOG_WARN, "shipper pass failed; retrying next pass", "err", st_errdetail(rc), NULL);
        }
        if (st_runtime_sleep(&sc.rt, interval_ms)) break;
    }
out:
    if (st_runtime_stopping(&sc.rt)) exit_code = 0;
    st_runtime_stop(&sc.rt);
    st_grpc_server_free(grpc); /* cancels calls in flight; before the store they use */
    sidecar_store_free(store);
    st_http_server_free(http);
    st_objstore_close(bkt);
    st_labels_free(&ext);
    st_runtime_destroy(&sc.rt);
    st_log(ST_LOG_INFO, "exiting", "code", exit_code ? "1" : "0", NULL);
    return exit_code;
}
