/*
 * `strata query`: flags and wiring. Threads:
 *   main      the endpoint updater: file SD and one Info round every 5 s
 *             (first round before /-/ready says OK);
 *   info      per round, one thread per endpoint for its Info call;
 *   http      libmicrohttpd's pool serving the API (a request fans out
 *             from its handler thread);
 *   grpc      workers serving the querier's own StoreAPI and the
 *             QueryService (a PromQL call evaluates on its worker);
 *   readers   per select, one thread per endpoint reading its Series
 *             stream into a bounded queue (proxy.c);
 *   labels    per label request, one thread per endpoint;
 *   signals   sigwait()s SIGINT/SIGTERM and sets the stop flag.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/grpc.h"
#include "strata/httpserver.h"
#include "strata/log.h"
#include "strata/runtime.h"

#define SHUTDOWN_WAIT_MS 10000

int query_main(int argc, char **argv) {
    st_flag_strings_t stores = {0}, sd_files = {0}, replicas = {0};
    const char *http_addr = "0.0.0.0:10902", *grpc_addr = "0.0.0.0:10901", *log_level = "info";
    const char *srv_cert = NULL, *srv_key = NULL, *srv_ca = NULL;
    const char *cli_cert = NULL, *cli_key = NULL, *cli_ca = NULL, *cli_name = NULL;
    bool cli_tls = false, partial = true, auto_downsampling = false;
    int64_t timeout_ms = 2 * 60 * 1000, max_concurrent = 20, frame_timeout_ms = 0, sd_interval_ms = 5 * 60 * 1000;
    int64_t lookback_ms = 5 * 60 * 1000, max_samples = 50000000;
    const st_flag_t flags[] = {
        {"store", ST_FLAG_STRINGS, &stores,
         "Address (host:port) of a StoreAPI endpoint to query: store, sidecar, querier (repeatable)."},
        {"store.sd-files", ST_FLAG_STRINGS, &sd_files,
         "File SD document (YAML, or JSON when named *.json; a glob) listing endpoints as targets (repeatable)."},
        {"store.sd-interval", ST_FLAG_DURATION, &sd_interval_ms,
         "Re-read the SD files this often even when unchanged; changes are seen within 5 s (default 5m)."},
        {"query.replica-label", ST_FLAG_STRINGS, &replicas,
         "Label whose value tells HA replicas apart; series differing only there are deduplicated (repeatable)."},
        {"query.timeout", ST_FLAG_DURATION, &timeout_ms, "Maximum time to process a request (default 2m)."},
        {"query.lookback-delta", ST_FLAG_DURATION, &lookback_ms,
         "How far back PromQL looks for a sample of an instant selector (default 5m)."},
        {"query.max-samples", ST_FLAG_INT64, &max_samples,
         "Samples one PromQL query may hold in memory at once; more fails the query (default 50000000)."},
        {"query.max-concurrent", ST_FLAG_INT64, &max_concurrent,
         "Requests fanning out to the stores at once; more wait (default 20)."},
        {"query.partial-response", ST_FLAG_BOOL, &partial,
         "Answer with the stores that answered, failures as warnings (default on; --no-query.partial-response "
         "fails the request instead). Overridden per request by partial_response."},
        {"query.auto-downsampling", ST_FLAG_BOOL, &auto_downsampling,
         "Without a max_source_resolution parameter, read downsampled data up to step / 5 (range queries; "
         "instant queries stay raw), as max_source_resolution=auto does (default off)."},
        {"store.response-timeout", ST_FLAG_DURATION, &frame_timeout_ms,
         "A store that sends nothing for this long is given up (a warning under partial response); 0 = wait "
         "until the query timeout (default 0)."},
        {"http-address", ST_FLAG_STRING, &http_addr, "Listen host:port for the HTTP API (default 0.0.0.0:10902)."},
        {"grpc-address", ST_FLAG_STRING, &grpc_addr,
         "Listen host:port for the querier's own StoreAPI and the QueryService (default 0.0.0.0:10901)."},
        {"grpc-server-tls-cert", ST_FLAG_STRING, &srv_cert, "TLS certificate for the gRPC server (enables TLS)."},
        {"grpc-server-tls-key", ST_FLAG_STRING, &srv_key, "TLS key for the gRPC server."},
        {"grpc-server-tls-client-ca", ST_FLAG_STRING, &srv_ca,
         "CA to verify client certificates against (requires them)."},
        {"grpc-client-tls-secure", ST_FLAG_BOOL, &cli_tls, "Use TLS when talking to the endpoints."},
        {"grpc-client-tls-cert", ST_FLAG_STRING, &cli_cert, "Client certificate for the endpoints."},
        {"grpc-client-tls-key", ST_FLAG_STRING, &cli_key, "Client key for the endpoints."},
        {"grpc-client-tls-ca", ST_FLAG_STRING, &cli_ca, "CA to verify the endpoints' certificates (default: system)."},
        {"grpc-client-server-name", ST_FLAG_STRING, &cli_name,
         "Server name to verify in the endpoints' certificates."},
        {"log.level", ST_FLAG_STRING, &log_level, "Log filtering level: debug, info, warn, error (default info)."},
        /* hidden (last, left out of the usage): Thanos's newer name */
        {"endpoint", ST_FLAG_STRINGS, &stores, "Alias of --store."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int exit_code = 2;
    int rc = st_flags_parse_command(
        flags, nflags, nflags - 1, argc, argv, "strata query [flags]",
        "Query StoreAPI endpoints as one: fan-out, merge, HA dedup, the Prometheus HTTP API (as thanos query).",
        &exit_code);
    if (rc == 1) goto early;
    st_log_level_t level;
    if (!rc && timeout_ms <= 0) rc = st_errorf(ST_EINVAL, "--query.timeout must be positive");
    if (!rc && lookback_ms <= 0) rc = st_errorf(ST_EINVAL, "--query.lookback-delta must be positive");
    if (!rc && max_samples <= 0) rc = st_errorf(ST_EINVAL, "--query.max-samples must be positive");
    if (!rc && (max_concurrent <= 0 || max_concurrent > 10000))
        rc = st_errorf(ST_EINVAL, "--query.max-concurrent must be in 1..10000");
    if (!rc && frame_timeout_ms < 0) rc = st_errorf(ST_EINVAL, "--store.response-timeout must not be negative");
    if (!rc && sd_interval_ms <= 0) rc = st_errorf(ST_EINVAL, "--store.sd-interval must be positive");
    if (!rc && (!srv_cert != !srv_key))
        rc = st_errorf(ST_EINVAL, "--grpc-server-tls-cert and --grpc-server-tls-key go together");
    if (!rc && srv_ca && !srv_cert) rc = st_errorf(ST_EINVAL, "--grpc-server-tls-client-ca needs a server certificate");
    if (!rc && cli_tls && (!cli_cert != !cli_key))
        rc = st_errorf(ST_EINVAL, "--grpc-client-tls-cert and --grpc-client-tls-key go together");
    for (size_t i = 0; i < replicas.n && !rc; i++)
        if (!*replicas.v[i]) rc = st_errorf(ST_EINVAL, "--query.replica-label must not be empty");
    if (!rc) rc = st_log_parse_level(log_level, &level);
    query_endpoints_opts_t eo = {
        .client_opts = {.tls = cli_tls,
                        .tls_ca_file = cli_ca,
                        .tls_cert_file = cli_cert,
                        .tls_key_file = cli_key,
                        .tls_server_name = cli_name},
        .static_addrs = stores.v,
        .nstatic = stores.n,
        .sd_files = sd_files.v,
        .nsd_files = sd_files.n,
        .sd_interval_ms = sd_interval_ms,
    };
    query_endpoints_t *es = NULL;
    if (!rc) rc = query_endpoints_new(&es, &eo);
    if (rc) {
        fprintf(stderr, "strata query: %s\n", st_errdetail(rc));
        goto early;
    }
    st_log_set_level(level);

    /* before any thread exists, so all inherit the signal mask */
    st_runtime_t rt;
    if ((rc = st_runtime_init(&rt))) {
        st_log(ST_LOG_ERROR, "starting failed", "err", st_errdetail(rc), NULL);
        query_endpoints_free(es);
        exit_code = 1;
        goto early;
    }

    exit_code = 1;
    query_t q;
    query_init(&q, es, (int)max_concurrent);
    q.replica_labels = replicas.v;
    q.nreplica_labels = replicas.n;
    q.partial_response = partial;
    q.timeout_ms = timeout_ms;
    q.frame_timeout_ms = frame_timeout_ms;
    q.lookback_delta_ms = lookback_ms;
    q.max_samples = (uint64_t)max_samples;
    q.auto_downsampling = auto_downsampling;
    st_http_server_t *http = NULL;
    st_grpc_server_t *grpc = NULL;
    unsigned http_threads = (unsigned)(max_concurrent < 60 ? max_concurrent + 4 : 64);
    st_http_server_opts_t hopts = {.threads = http_threads};
    if ((rc = st_http_server_new(&http, &hopts)) || (rc = query_api_register(&q, http)) || (rc = st_runtime_add_probes(&rt, http)) ||
        (rc = st_http_server_start(http, http_addr))) {
        st_log(ST_LOG_ERROR, "starting the HTTP server failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    st_grpc_server_opts_t gopts = {.tls_cert_file = srv_cert, .tls_key_file = srv_key, .tls_client_ca_file = srv_ca};
    if ((rc = st_grpc_server_new(&grpc, &gopts)) || (rc = st_storeapi_register(grpc, &query_store_ops, &q, NULL)) ||
        (rc = query_grpc_register(&q, grpc)) || (rc = st_grpc_server_start(grpc, grpc_addr, NULL))) {
        st_log(ST_LOG_ERROR, "starting the gRPC server failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    char nst[32];
    snprintf(nst, sizeof nst, "%zu", stores.n);
    st_log(ST_LOG_INFO, "starting query node", "version", ST_VERSION, "http", http_addr, "grpc", grpc_addr,
           "stores", nst, NULL);
    if (stores.n == 0 && sd_files.n == 0)
        st_log(ST_LOG_WARN, "no --store or --store.sd-files given: every answer will be empty", NULL);
    for (bool first = true; !st_runtime_stopping(&rt); first = false) {
        if ((rc = query_endpoints_update(es)))
            st_log(ST_LOG_WARN, "updating the endpoints failed", "err", st_errdetail(rc), NULL);
        if (first) {
            size_t healthy = 0, n = query_endpoints_count(es, &healthy);
            char hs[32], ns[32];
            snprintf(hs, sizeof hs, "%zu", healthy);
            snprintf(ns, sizeof ns, "%zu", n);
            st_log(ST_LOG_INFO, "first endpoint round done; ready", "endpoints", ns, "healthy", hs, NULL);
            st_runtime_set_ready(&rt, true);
        }
        if (st_runtime_sleep(&rt, QUERY_INFO_INTERVAL_MS)) break;
    }
out:
    if (st_runtime_stopping(&rt)) exit_code = 0;
    st_runtime_stop(&rt);
    st_runtime_set_ready(&rt, false);
    st_grpc_server_free(grpc); /* cancels calls in flight: their streams are abandoned */
    st_http_server_free(http); /* waits for running handlers */
    /* reader threads of abandoned streams end at their next frame or deadline */
    int64_t until = query_now_ms() + SHUTDOWN_WAIT_MS;
    while (atomic_load(&q.feeds_live) > 0 && query_now_ms() < until) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&q.feeds_live) == 0) {
        query_endpoints_free(es);
    } else {
        /* their channels must outlive them: leave the set to the exit */
        st_log(ST_LOG_WARN, "store streams still open at exit", NULL);
    }
    query_destroy(&q);
    st_runtime_destroy(&rt);
    st_log(ST_LOG_INFO, "exiting", "code", exit_code ? "1" : "0", NULL);
early:
    free(stores.v);
    free(sd_files.v);
    free(replicas.v);
    return exit_code;
}
