/*
 * runtime.h — the life of a long-running component process (sidecar,
 * store, query): a stop flag raised by SIGINT/SIGTERM, caught on a thread
 * of its own so every other thread runs with those signals blocked;
 * sleeps that end early on stop; the ready flag; and the /-/healthy and
 * /-/ready probes Prometheus and Thanos serve.
 *
 *   st_runtime_t rt;
 *   st_runtime_init(&rt);                 // first, before any other thread
 *   st_runtime_add_probes(&rt, http);
 *   st_runtime_set_ready(&rt, true);
 *   while (!st_runtime_sleep(&rt, interval_ms)) work();
 *   ...
 *   st_runtime_destroy(&rt);              // after the other threads are gone
 */
#ifndef STRATA_RUNTIME_H
#define STRATA_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "strata/httpserver.h"

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    atomic_bool stop, ready, caught;
    pthread_t sig_th;
    bool sig_started;
} st_runtime_t;

/* Block SIGINT and SIGTERM (later threads inherit the mask), ignore
 * SIGPIPE (a closed socket is an error return, not death) and start the
 * signal thread. */
int st_runtime_init(st_runtime_t *r);
void st_runtime_stop(st_runtime_t *r);
bool st_runtime_stopping(st_runtime_t *r);
/* True once a SIGINT/SIGTERM arrived: a clean shutdown (exit code 0). */
bool st_runtime_signalled(st_runtime_t *r);
/* Sleep up to ms; true when stopping (at once if already stopping). */
bool st_runtime_sleep(st_runtime_t *r, int64_t ms);
void st_runtime_set_ready(st_runtime_t *r, bool ready);
/* GET /-/healthy: 200 "OK"; /-/ready: 200 "OK" once ready, 503 "NOT OK"
 * before. r must outlive the server. */
int st_runtime_add_probes(st_runtime_t *r, st_http_server_t *s);
/* Stop, wake and join the signal thread, free. */
void st_runtime_destroy(st_runtime_t *r);

#endif
