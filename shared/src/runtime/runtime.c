/* A component process's stop/ready state and signal thread; see runtime.h. */
#include "strata/runtime.h"

#include <signal.h>
#include <time.h>

#include "strata/err.h"
#include "strata/log.h"

static void *signal_thread(void *arg) {
    st_runtime_t *r = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    if (sigwait(&set, &sig) == 0 && !atomic_load(&r->stop)) {
        atomic_store(&r->caught, true);
        st_log(ST_LOG_INFO, "caught signal, exiting", "signal", sig == SIGINT ? "interrupt" : "terminated", NULL);
    }
    st_runtime_stop(r);
    return NULL;
}

int st_runtime_init(st_runtime_t *r) {
    atomic_init(&r->stop, false);
    atomic_init(&r->ready, false);
    atomic_init(&r->caught, false);
    r->sig_started = false;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_create(&r->sig_th, NULL, signal_thread, r) != 0)
        return st_errorf(ST_ENOMEM, "starting the signal thread");
    r->sig_started = true;
    return ST_OK;
}

void st_runtime_stop(st_runtime_t *r) {
    pthread_mutex_lock(&r->mu);
    atomic_store(&r->stop, true);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

bool st_runtime_stopping(st_runtime_t *r) { return atomic_load(&r->stop); }

bool st_runtime_signalled(st_runtime_t *r) { return atomic_load(&r->caught); }

bool st_runtime_sleep(st_runtime_t *r, int64_t ms) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&r->mu);
    while (!atomic_load(&r->stop))
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) != 0) break;
    pthread_mutex_unlock(&r->mu);
    return atomic_load(&r->stop);
}

void st_runtime_set_ready(st_runtime_t *r, bool ready) { atomic_store(&r->ready, ready); }

static int h_healthy(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    (void)ctx, (void)req;
    return st_http_respond(resp, 200, ST_HTTP_CT_TEXT, "OK");
}

static int h_ready(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    st_runtime_t *r = ctx;
    (void)req;
    bool ok = atomic_load(&r->ready);
    return st_http_respond(resp, ok ? 200 : 503, ST_HTTP_CT_TEXT, ok ? "OK" : "NOT OK");
}

int st_runtime_add_probes(st_runtime_t *r, st_http_server_t *s) {
    int rc = st_http_server_route(s, "/-/healthy", false, h_healthy, r);
    return rc ? rc : st_http_server_route(s, "/-/ready", false, h_ready, r);
}

void st_runtime_destroy(st_runtime_t *r) {
    st_runtime_stop(r);
    if (r->sig_started) {
        pthread_kill(r->sig_th, SIGTERM); /* wakes its sigwait if no signal came */
        pthread_join(r->sig_th, NULL);
        r->sig_started = false;
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}
