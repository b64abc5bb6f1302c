/*
 * gRPC server on the C core API; contract in grpc.h.
 *
 * Each worker thread owns two completion queues: a notification queue
 * (registered with the server) where grpc_server_request_call reports a
 * new call, and a call queue bound to that call, on which the worker runs
 * the call's batches one after the other:
 *
 *   RECV_CLOSE_ON_SERVER                  started first, completes when the call
 *                                         ends; cancelled=1 = client gone/deadline
 *   SEND_INITIAL_METADATA + RECV_MESSAGE  the request
 *   handler: SEND_MESSAGE per st_grpc_call_send (one in flight)
 *   [SEND_MESSAGE +] SEND_STATUS_FROM_SERVER
 *
 * The worker waits for every batch it started before it drops the call,
 * so nothing of a call outlives serve(). Calls arriving while every worker
 * is busy wait inside gRPC's queue of unmatched calls.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "grpc_int.h"
#include "strata/err.h"
#include "strata/grpc.h"
#include "strata/log.h"

#define HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define MAX_METHOD_LEN 1024
/* A worker waits this long for the request message of a call before it
 * gives up on it, so idle calls cannot pin the pool. */
#define REQUEST_WAIT_MS 60000
/* Thanos clients ping every 10 s without data: accept twice that often. */
#define MIN_RECV_PING_INTERVAL_MS 5000

enum { TAG_RECV = 1, TAG_CLOSE = 2, TAG_SEND = 4, TAG_STATUS = 8 };

typedef struct {
    char *path;
    size_t svc_len; /* "/svc/Method": length of "svc" */
    st_grpc_unary_fn unary;
    st_grpc_stream_fn stream;
    void *ctx;
} method_t;

typedef struct {
    st_grpc_server_t *s;
    pthread_t th;
    grpc_completion_queue *notify_cq, *call_cq;
} worker_t;

struct st_grpc_server {
    int threads;
    size_t max_recv, max_send;
    char *tls_cert, *tls_key, *tls_ca;
    method_t *methods;
    size_t nmethods;
    grpc_server *server;
    grpc_completion_queue *shutdown_cq;
    worker_t *workers;
    int nstarted;
    atomic_bool serving, stopping;
    struct on_free {
        void (*fn)(void *);
        void *ctx;
    } *on_free;
    size_t non_free;
};

struct st_grpc_call {
    st_grpc_server_t *s;
    grpc_call *call;
    st_grpc_cq_t q;
    const method_t *m;
    char *method;
    char *peer; /* gpr_malloc'd */
    int64_t deadline_ms;
    int close_cancelled; /* written by RECV_CLOSE_ON_SERVER */
    bool cancelled;
    bool sent_initial_md;
};

static const uint8_t empty_msg[1];

/* ---- calls ---- */

static void note_close(st_grpc_call_t *c) {
    if (!(c->q.pending & TAG_CLOSE) && c->close_cancelled) c->cancelled = true;
}

/* The server's deadline is the client's timeout counted from the moment the
 * call arrived, so it falls after the client's own by the request's transit
 * time; the client cancels at its deadline, which reaches us a little before
 * ours. A cancel this close to the deadline is the deadline. */
#define DEADLINE_SLACK_MS 1000

static int cancel_err(const st_grpc_call_t *c) {
    if (atomic_load(&c->s->stopping)) return st_errorf(ST_ECANCELED, "%s: server shutting down", c->method);
    if (c->deadline_ms != INT64_MAX && st_grpc_now_ms() >= c->deadline_ms - DEADLINE_SLACK_MS)
        return st_errorf(ST_ETIMEDOUT, "%s: deadline of the call exceeded", c->method);
    return st_errorf(ST_ECANCELED, "%s: cancelled by the client %s", c->method, c->peer ? c->peer : "");
}

bool st_grpc_call_cancelled(st_grpc_call_t *c) {
    if (!c->cancelled) {
        st_grpc_cq_poll(&c->q);
        note_close(c);
    }
    if (!c->cancelled && c->deadline_ms != INT64_MAX && st_grpc_now_ms() >= c->deadline_ms) c->cancelled = true;
    return c->cancelled;
}

int st_grpc_call_send(st_grpc_call_t *c, const uint8_t *msg, size_t len) {
    if (!c->m || !c->m->stream) return st_errorf(ST_EINVAL, "%s: st_grpc_call_send on a unary call", c->method);
    if (st_grpc_call_cancelled(c)) return cancel_err(c);
    if (len > c->s->max_send)
        return st_errorf(ST_ELIMIT, "%s: message of %zu bytes above the send limit of %zu bytes", c->method, len,
                         c->s->max_send);
    grpc_slice sl = grpc_slice_from_copied_buffer(len ? (const char *)msg : "", len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    grpc_call_error e = grpc_call_start_batch(c->call, &op, 1, ST_GRPC_TAG(TAG_SEND), NULL);
    if (e != GRPC_CALL_OK) {
        grpc_byte_buffer_destroy(bb);
        return st_errorf(ST_EIO, "%s: starting a send: %s", c->method, grpc_call_error_to_string(e));
    }
    c->q.pending |= TAG_SEND;
    st_grpc_cq_wait(&c->q, TAG_SEND, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    grpc_byte_buffer_destroy(bb);
    note_close(c);
    if (!(c->q.ok & TAG_SEND)) c->cancelled = true;
    return c->cancelled ? cancel_err(c) : ST_OK;
}

int64_t st_grpc_call_deadline_ms(const st_grpc_call_t *c) { return c->deadline_ms; }
const char *st_grpc_call_method(const st_grpc_call_t *c) { return c->method; }
const char *st_grpc_call_peer(const st_grpc_call_t *c) { return c->peer ? c->peer : ""; }

static const method_t *find_method(const st_grpc_server_t *s, const char *path) {
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i].path, path) == 0) return &s->methods[i];
    return NULL;
}

/* Sends the status (and for a unary OK, the response, whose ownership
 * passes to gRPC). */
static void send_status(st_grpc_call_t *c, int status, const char *detail, uint8_t *resp, size_t resp_len) {
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    grpc_byte_buffer *bb = NULL;
    /* gRPC 1.51 never delivered a status sent without initial metadata
     * (the unknown-method reply timed out on the client) */
    if (!c->sent_initial_md) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (status == ST_GRPC_OK && c->m && !c->m->stream) {
        grpc_slice sl = resp_len ? grpc_slice_new(resp, resp_len, free) : grpc_empty_slice();
        if (!resp_len) free(resp);
        bb = grpc_raw_byte_buffer_create(&sl, 1);
        grpc_slice_unref(sl);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    } else {
        free(resp);
    }
    grpc_slice details = grpc_slice_from_copied_string(detail);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)status;
    ops[n++].data.send_status_from_server.status_details = detail[0] ? &details : NULL;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, ST_GRPC_TAG(TAG_STATUS), NULL);
    grpc_slice_unref(details);
    if (e == GRPC_CALL_OK) {
        c->q.pending |= TAG_STATUS;
        st_grpc_cq_wait(&c->q, TAG_STATUS, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    } else {
        st_log(ST_LOG_WARN, "grpc: cannot send status", "method", c->method, "err", grpc_call_error_to_string(e),
               NULL);
    }
    if (bb) grpc_byte_buffer_destroy(bb);
}

static void serve(worker_t *w, grpc_call *gc, const grpc_call_details *d) {
    st_grpc_server_t *s = w->s;
    st_grpc_call_t c = {.s = s, .call = gc, .q = {.cq = w->call_cq}};
    grpc_byte_buffer *req_bb = NULL;
    uint8_t *req = NULL, *resp = NULL;
    size_t req_len = 0, resp_len = 0;
    int status = ST_GRPC_OK;
    char detail[1024] = "";
    grpc_op ops[2];

    size_t mlen = GRPC_SLICE_LENGTH(d->method);
    c.method = malloc(mlen + 1);
    if (c.method) {
        memcpy(c.method, GRPC_SLICE_START_PTR(d->method), mlen);
        c.method[mlen] = 0;
    }
    c.peer = grpc_call_get_peer(gc);
    c.deadline_ms = st_grpc_realtime_ms(d->deadline);
    /* a NUL inside the path must not match a registered prefix of it */
    c.m = c.method && mlen <= MAX_METHOD_LEN && strlen(c.method) == mlen ? find_method(s, c.method) : NULL;

    /* first, so a cancellation is noticed whatever happens next */
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[0].data.recv_close_on_server.cancelled = &c.close_cancelled;
    grpc_call_error e = grpc_call_start_batch(gc, ops, 1, ST_GRPC_TAG(TAG_CLOSE), NULL);
    if (e != GRPC_CALL_OK) {
        st_log(ST_LOG_WARN, "grpc: cannot start a call", "err", grpc_call_error_to_string(e), NULL);
        grpc_call_cancel(gc, NULL);
        goto out;
    }
    c.q.pending |= TAG_CLOSE;
    if (!c.method) {
        status = ST_GRPC_INTERNAL;
        snprintf(detail, sizeof detail, "out of memory");
        goto reply;
    }
    if (!c.m) {
        status = ST_GRPC_UNIMPLEMENTED;
        snprintf(detail, sizeof detail, "unknown method %.512s", c.method);
        goto reply;
    }

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &req_bb;
    e = grpc_call_start_batch(gc, ops, 2, ST_GRPC_TAG(TAG_RECV), NULL);
    if (e != GRPC_CALL_OK) {
        status = ST_GRPC_INTERNAL;
        snprintf(detail, sizeof detail, "receiving the request: %s", grpc_call_error_to_string(e));
        goto reply;
    }
    c.q.pending |= TAG_RECV;
    c.sent_initial_md = true;
    if (st_grpc_cq_wait(&c.q, TAG_RECV, st_grpc_deadline_after(REQUEST_WAIT_MS)) == 0) {
        grpc_call_cancel_with_status(gc, GRPC_STATUS_DEADLINE_EXCEEDED, "request message not received in time", NULL);
        st_grpc_cq_wait(&c.q, TAG_RECV, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    }
    note_close(&c);
    if (!(c.q.ok & TAG_RECV) || c.cancelled) goto out; /* the call failed: nobody to answer */
    if (!req_bb) {
        status = ST_GRPC_INVALID_ARGUMENT;
        snprintf(detail, sizeof detail, "the client sent no request message");
        goto reply;
    }
    /* the status details go to a client that prefixes the method itself */
    int rc = st_grpc_bb_read(req_bb, s->max_recv, "request", &req, &req_len);
    if (rc == ST_OK) {
        st_errclear();
        if (c.m->stream) rc = c.m->stream(c.m->ctx, &c, req ? req : empty_msg, req_len);
        else rc = c.m->unary(c.m->ctx, &c, req ? req : empty_msg, req_len, &resp, &resp_len);
    }
    if (rc < 0) {
        status = st_grpc_status_from_err(rc);
        snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
        free(resp);
        resp = NULL;
    } else if (!resp) {
        resp_len = 0;
    } else if (resp_len > s->max_send) {
        status = ST_GRPC_RESOURCE_EXHAUSTED;
        snprintf(detail, sizeof detail, "response of %zu bytes above the send limit of %zu bytes", resp_len,
                 s->max_send);
        free(resp);
        resp = NULL;
    }

reply:
    if (!st_grpc_call_cancelled(&c)) {
        send_status(&c, status, detail, resp, resp_len);
        resp = NULL;
    }
out:
    /* every batch started must complete before the call goes */
    st_grpc_cq_wait(&c.q, ~0u, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    if (req_bb) grpc_byte_buffer_destroy(req_bb);
    free(req);
    free(resp);
    grpc_call_unref(gc);
    gpr_free(c.peer);
    free(c.method);
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    st_grpc_server_t *s = w->s;
    for (;;) {
        grpc_call *gc = NULL;
        grpc_call_details d;
        grpc_metadata_array md;
        grpc_call_details_init(&d);
        grpc_metadata_array_init(&md);
        bool ok = false;
        grpc_call_error e = grpc_server_request_call(s->server, &gc, &d, &md, w->call_cq, w->notify_cq, w);
        if (e == GRPC_CALL_OK) {
            grpc_event ev = grpc_completion_queue_next(w->notify_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            ok = ev.type == GRPC_OP_COMPLETE && ev.success && gc;
        } else {
            st_log(ST_LOG_ERROR, "grpc: cannot wait for calls", "err", grpc_call_error_to_string(e), NULL);
        }
        if (ok) serve(w, gc, &d);
        grpc_call_details_destroy(&d);
        grpc_metadata_array_destroy(&md);
        /* request_call fails only once the server shuts down */
        if (!ok) break;
    }
    return NULL;
}

/* ---- health ---- */

static bool service_known(const st_grpc_server_t *s, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < s->nmethods; i++) {
        const method_t *m = &s->methods[i];
        if (m->svc_len == n && memcmp(m->path + 1, name, n) == 0 && strcmp(m->path, HEALTH_CHECK) != 0) return true;
    }
    return false;
}

static int health_check(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp,
                        size_t *resp_len) {
    st_grpc_server_t *s = ctx;
    Grpc__Health__V1__HealthCheckRequest *r = grpc__health__v1__health_check_request__unpack(NULL, len, req);
    if (!r) return st_errorf(ST_EINVAL, "%s: undecodable HealthCheckRequest", st_grpc_call_method(call));
    Grpc__Health__V1__HealthCheckResponse out = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    if (r->service[0] && !service_known(s, r->service))
        out.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    else if (atomic_load(&s->serving))
        out.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    else
        out.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    grpc__health__v1__health_check_request__free_unpacked(r, NULL);
    size_t n = grpc__health__v1__health_check_response__get_packed_size(&out);
    uint8_t *p = malloc(n ? n : 1);
    if (!p) return st_errorf(ST_ENOMEM, "%s: response", st_grpc_call_method(call));
    *resp_len = grpc__health__v1__health_check_response__pack(&out, p);
    *resp = p;
    return ST_OK;
}

void st_grpc_server_set_serving(st_grpc_server_t *s, bool serving) { atomic_store(&s->serving, serving); }

/* ---- setup ---- */

static int add_method(st_grpc_server_t *s, const char *path, st_grpc_unary_fn unary, st_grpc_stream_fn stream,
                      void *ctx) {
    if (s->server) return st_errorf(ST_EINVAL, "grpc method %s: server already started", path);
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (!slash || slash == path + 1 || !slash[1] || strchr(slash + 1, '/') || strlen(path) > MAX_METHOD_LEN)
        return st_errorf(ST_EINVAL, "grpc method \"%s\": not of the form /package.Service/Method", path);
    if (find_method(s, path)) return st_errorf(ST_EEXIST, "grpc method %s: registered twice", path);
    method_t *m = realloc(s->methods, (s->nmethods + 1) * sizeof *m);
    if (!m) return st_errorf(ST_ENOMEM, "grpc method %s", path);
    s->methods = m;
    char *p = strdup(path);
    if (!p) return st_errorf(ST_ENOMEM, "grpc method %s", path);
    s->methods[s->nmethods++] = (method_t){p, (size_t)(slash - path - 1), unary, stream, ctx};
    return ST_OK;
}

int st_grpc_server_add_unary(st_grpc_server_t *s, const char *method, st_grpc_unary_fn fn, void *ctx) {
    return add_method(s, method, fn, NULL, ctx);
}

int st_grpc_server_add_stream(st_grpc_server_t *s, const char *method, st_grpc_stream_fn fn, void *ctx) {
    return add_method(s, method, NULL, fn, ctx);
}

static void free_paths(st_grpc_server_t *s) {
    for (size_t i = 0; i < s->nmethods; i++) free(s->methods[i].path);
    free(s->methods);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->tls_ca);
}

static int dup_opt(const char *v, char **out) {
    *out = NULL;
    if (v && !(*out = strdup(v))) return st_errorf(ST_ENOMEM, "grpc server options");
    return ST_OK;
}

int st_grpc_server_new(st_grpc_server_t **out, const st_grpc_server_opts_t *opts) {
    *out = NULL;
    st_grpc_server_opts_t o = opts ? *opts : (st_grpc_server_opts_t){0};
    if (o.threads < 0) return st_errorf(ST_EINVAL, "grpc server: %d threads", o.threads);
    if (!o.tls_cert_file != !o.tls_key_file)
        return st_errorf(ST_EINVAL, "--grpc-server-tls-cert and --grpc-server-tls-key must be given together");
    if (o.tls_client_ca_file && !o.tls_cert_file)
        return st_errorf(ST_EINVAL, "--grpc-server-tls-client-ca needs --grpc-server-tls-cert and -key");
    st_grpc_server_t *s = calloc(1, sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "grpc server");
    s->threads = o.threads ? o.threads : ST_GRPC_DEFAULT_THREADS;
    s->max_recv = o.max_recv_msg ? o.max_recv_msg : ST_GRPC_DEFAULT_MAX_MSG;
    s->max_send = o.max_send_msg ? o.max_send_msg : ST_GRPC_DEFAULT_MAX_MSG;
    atomic_init(&s->serving, true);
    atomic_init(&s->stopping, false);
    int rc;
    if ((rc = dup_opt(o.tls_cert_file, &s->tls_cert)) || (rc = dup_opt(o.tls_key_file, &s->tls_key)) ||
        (rc = dup_opt(o.tls_client_ca_file, &s->tls_ca)) ||
        (rc = add_method(s, HEALTH_CHECK, health_check, NULL, s))) {
        free_paths(s);
        free(s);
        return rc;
    }
    st_grpc_lib_init();
    *out = s;
    return ST_OK;
}

static int make_creds(const st_grpc_server_t *s, grpc_server_credentials **out) {
    *out = NULL;
    if (!s->tls_cert) {
        *out = grpc_insecure_server_credentials_create();
        return ST_OK;
    }
    char *cert = NULL, *key = NULL, *ca = NULL;
    int rc;
    if ((rc = st_grpc_read_pem(s->tls_cert, "--grpc-server-tls-cert", "cert", &cert)) ||
        (rc = st_grpc_read_pem(s->tls_key, "--grpc-server-tls-key", "key", &key)) ||
        (rc = st_grpc_check_key_pair(cert, key, s->tls_cert, s->tls_key)))
        goto out;
    if (s->tls_ca && (rc = st_grpc_read_pem(s->tls_ca, "--grpc-server-tls-client-ca", "cert", &ca))) goto out;
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    /* gRPC copies the PEM strings */
    grpc_ssl_client_certificate_request_type req =
        ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    *out = grpc_ssl_server_credentials_create_ex(ca, &pair, 1, req, NULL);
    if (!*out) rc = st_errorf(ST_EINVAL, "grpc server TLS: %s, %s rejected by gRPC", s->tls_cert, s->tls_key);
out:
    free(cert);
    free(key);
    free(ca);
    return rc;
}

/* Stops and destroys the gRPC server and everything attached to it;
 * workers [0, nstarted) are running. */
static void stop_server(st_grpc_server_t *s) {
    atomic_store(&s->stopping, true);
    grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, s);
    grpc_server_cancel_all_calls(s->server);
    for (int i = 0; i < s->nstarted; i++) pthread_join(s->workers[i].th, NULL);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->shutdown_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE || ev.tag == s) break;
    }
    grpc_server_destroy(s->server);
    s->server = NULL;
    for (int i = 0; i < s->threads; i++) {
        st_grpc_cq_destroy(s->workers[i].notify_cq);
        st_grpc_cq_destroy(s->workers[i].call_cq);
    }
    st_grpc_cq_destroy(s->shutdown_cq);
    s->shutdown_cq = NULL;
    free(s->workers);
    s->workers = NULL;
    s->nstarted = 0;
}

int st_grpc_server_start(st_grpc_server_t *s, const char *addr, int *bound_port) {
    if (s->server) return st_errorf(ST_EINVAL, "grpc server %s: already started", addr);
    grpc_server_credentials *creds = NULL;
    int rc = make_creds(s, &creds);
    if (rc < 0) return rc;
    s->workers = calloc((size_t)s->threads, sizeof *s->workers);
    if (!s->workers) {
        grpc_server_credentials_release(creds);
        return st_errorf(ST_ENOMEM, "grpc server %s: %d workers", addr, s->threads);
    }
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = st_grpc_int_arg(s->max_recv)}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = st_grpc_int_arg(s->max_send)}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
         {.integer = MIN_RECV_PING_INTERVAL_MS}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PING_STRIKES, {.integer = 0}}, /* 0 = unlimited */
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
        /* gRPC sets SO_REUSEPORT by default: two servers would share a port silently */
        {GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}},
    };
    grpc_channel_args cargs = {sizeof args / sizeof args[0], args};
    s->server = grpc_server_create(&cargs, NULL);
    s->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->shutdown_cq, NULL);
    for (int i = 0; i < s->threads; i++) {
        worker_t *w = &s->workers[i];
        w->s = s;
        w->notify_cq = grpc_completion_queue_create_for_next(NULL);
        w->call_cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, w->notify_cq, NULL);
    }
    int port = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) rc = st_errorf(ST_EIO, "grpc server: cannot listen on %s (address in use or invalid)", addr);
    grpc_server_start(s->server);
    for (int i = 0; rc == ST_OK && i < s->threads; i++) {
        if (pthread_create(&s->workers[i].th, NULL, worker_main, &s->workers[i]) != 0)
            rc = st_errorf(ST_ENOMEM, "grpc server %s: starting worker %d", addr, i);
        else s->nstarted++;
    }
    if (rc < 0) {
        stop_server(s);
        atomic_store(&s->stopping, false);
        return rc;
    }
    if (bound_port) *bound_port = port;
    return ST_OK;
}

int st_grpc_server_on_free(st_grpc_server_t *s, void (*fn)(void *ctx), void *ctx) {
    struct on_free *v = realloc(s->on_free, (s->non_free + 1) * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "gRPC server: registering a cleanup");
    v[s->non_free++] = (struct on_free){fn, ctx};
    s->on_free = v;
    return ST_OK;
}

void st_grpc_server_free(st_grpc_server_t *s) {
    if (!s) return;
    if (s->server) stop_server(s);
    while (s->non_free) {
        struct on_free *f = &s->on_free[--s->non_free];
        f->fn(f->ctx);
    }
    free(s->on_free);
    free_paths(s);
    free(s);
    grpc_shutdown();
}
