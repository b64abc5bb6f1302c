/*
 * gRPC client on the C core API; contract in grpc.h.
 *
 * One channel per client (gRPC multiplexes calls over it and reconnects
 * on its own); one completion queue per call, so calls from different
 * threads never share a queue. A unary call is one batch of six ops. A
 * server-streaming call starts two batches at once:
 *
 *   S_OPEN    SEND_INITIAL_METADATA + SEND_MESSAGE + SEND_CLOSE_FROM_CLIENT
 *             + RECV_INITIAL_METADATA
 *   S_STATUS  RECV_STATUS_ON_CLIENT (completes when the call is over)
 *
 * and each recv is a RECV_MESSAGE batch (S_RECV); a NULL message means
 * the server is done and the status decides the outcome.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpc_int.h"
#include "strata/err.h"
#include "strata/grpc.h"

#define MAX_DETAIL_SHOWN 512

enum { S_OPEN = 1, S_STATUS = 2, S_RECV = 4 };

struct st_grpc_client {
    grpc_channel *ch;
    char *target;
    size_t max_recv;
};

struct st_grpc_stream {
    st_grpc_client_t *c;
    grpc_call *call;
    st_grpc_cq_t q;
    char *method;
    grpc_byte_buffer *send_bb, *recv_bb;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    const char *errstr; /* gpr_malloc'd by gRPC */
    bool done;
    int result;
    char *detail; /* of a failed result, replayed by later recv calls */
};

/* The outcome of a finished call as grpc.h's table says. */
static int status_result(const char *method, grpc_status_code status, grpc_slice details) {
    if (status == GRPC_STATUS_OK) return ST_OK;
    const char *name = st_grpc_status_name(status);
    char other[32];
    if (!name) {
        snprintf(other, sizeof other, "status %d", (int)status);
        name = other;
    }
    size_t n = GRPC_SLICE_LENGTH(details);
    return st_errorf(st_grpc_err_from_status(status), "%s: %s: %.*s", method, name,
                     (int)(n > MAX_DETAIL_SHOWN ? MAX_DETAIL_SHOWN : n), (const char *)GRPC_SLICE_START_PTR(details));
}

static grpc_call *new_call(st_grpc_client_t *c, grpc_completion_queue *cq, const char *method, int64_t timeout_ms) {
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                               st_grpc_deadline_after(timeout_ms), NULL);
    grpc_slice_unref(m);
    return call;
}

static grpc_byte_buffer *request_bb(const uint8_t *req, size_t len) {
    grpc_slice sl = grpc_slice_from_copied_buffer(len ? (const char *)req : "", len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

int st_grpc_client_unary(st_grpc_client_t *c, const char *method, const uint8_t *req, size_t len,
                         int64_t timeout_ms, uint8_t **resp, size_t *resp_len, int *status) {
    *resp = NULL;
    *resp_len = 0;
    if (status) *status = ST_GRPC_UNKNOWN;
    int rc = ST_OK;
    st_grpc_cq_t q = {.cq = grpc_completion_queue_create_for_next(NULL)};
    grpc_call *call = new_call(c, q.cq, method, timeout_ms);
    grpc_byte_buffer *send_bb = request_bb(req, len), *recv_bb = NULL;
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *errstr = NULL;

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &st;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &errstr;
    grpc_call_error e = grpc_call_start_batch(call, ops, 6, ST_GRPC_TAG(S_OPEN), NULL);
    if (e != GRPC_CALL_OK) {
        rc = st_errorf(ST_EIO, "%s: starting the call: %s", method, grpc_call_error_to_string(e));
        goto out;
    }
    q.pending = S_OPEN;
    st_grpc_cq_wait(&q, S_OPEN, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    if (status) *status = st;
    if ((rc = status_result(method, st, details)) < 0) goto out;
    if (!recv_bb) {
        rc = st_errorf(ST_EIO, "%s: status OK without a response message", method);
        goto out;
    }
    if ((rc = st_grpc_bb_read(recv_bb, c->max_recv, method, resp, resp_len)) < 0 && status)
        *status = st_grpc_status_from_err(rc);
out:
    grpc_call_unref(call);
    st_grpc_cq_destroy(q.cq);
    grpc_byte_buffer_destroy(send_bb);
    if (recv_bb) grpc_byte_buffer_destroy(recv_bb);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_slice_unref(details);
    gpr_free((void *)errstr);
    return rc;
}

/* ---- streams ---- */

int st_grpc_stream_open(st_grpc_stream_t **out, st_grpc_client_t *c, const char *method, const uint8_t *req,
                        size_t len, int64_t timeout_ms) {
    *out = NULL;
    st_grpc_stream_t *st = calloc(1, sizeof *st);
    if (!st) return st_errorf(ST_ENOMEM, "%s: stream", method);
    if (!(st->method = strdup(method))) {
        free(st);
        return st_errorf(ST_ENOMEM, "%s: stream", method);
    }
    st->c = c;
    st->q.cq = grpc_completion_queue_create_for_next(NULL);
    st->call = new_call(c, st->q.cq, method, timeout_ms);
    st->send_bb = request_bb(req, len);
    grpc_metadata_array_init(&st->init_md);
    grpc_metadata_array_init(&st->trail_md);
    st->status = GRPC_STATUS_UNKNOWN;
    st->details = grpc_empty_slice();

    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = st->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &st->init_md;
    grpc_call_error e = grpc_call_start_batch(st->call, ops, 4, ST_GRPC_TAG(S_OPEN), NULL);
    if (e == GRPC_CALL_OK) {
        st->q.pending |= S_OPEN;
        memset(ops, 0, sizeof ops);
        ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[0].data.recv_status_on_client.trailing_metadata = &st->trail_md;
        ops[0].data.recv_status_on_client.status = &st->status;
        ops[0].data.recv_status_on_client.status_details = &st->details;
        ops[0].data.recv_status_on_client.error_string = &st->errstr;
        e = grpc_call_start_batch(st->call, ops, 1, ST_GRPC_TAG(S_STATUS), NULL);
        if (e == GRPC_CALL_OK) st->q.pending |= S_STATUS;
    }
    if (e != GRPC_CALL_OK) {
        int rc = st_errorf(ST_EIO, "%s: starting the call: %s", method, grpc_call_error_to_string(e));
        st_grpc_stream_free(st);
        return rc;
    }
    *out = st;
    return ST_OK;
}

/* Ends the stream with rc (< 0) or, when rc is 0, with the call's status. */
static int finish(st_grpc_stream_t *st, int rc) {
    if (rc < 0) grpc_call_cancel(st->call, NULL);
    st_grpc_cq_wait(&st->q, ~0u, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    if (rc < 0) st->status = (grpc_status_code)st_grpc_status_from_err(rc);
    else rc = status_result(st->method, st->status, st->details);
    st->done = true;
    st->result = rc;
    if (rc < 0) st->detail = strdup(st_errdetail(rc));
    return rc;
}

int st_grpc_stream_recv(st_grpc_stream_t *st, uint8_t **msg, size_t *len) {
    *msg = NULL;
    *len = 0;
    if (st->done) {
        if (st->result < 0) st_errorf(st->result, "%s", st->detail ? st->detail : st_strerror(st->result));
        return st->result;
    }
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &st->recv_bb;
    grpc_call_error e = grpc_call_start_batch(st->call, &op, 1, ST_GRPC_TAG(S_RECV), NULL);
    if (e != GRPC_CALL_OK)
        return finish(st, st_errorf(ST_EIO, "%s: receiving: %s", st->method, grpc_call_error_to_string(e)));
    st->q.pending |= S_RECV;
    st_grpc_cq_wait(&st->q, S_RECV, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    if (!st->recv_bb) return finish(st, ST_OK);
    int rc = st_grpc_bb_read(st->recv_bb, st->c->max_recv, st->method, msg, len);
    grpc_byte_buffer_destroy(st->recv_bb);
    st->recv_bb = NULL;
    return rc < 0 ? finish(st, rc) : 1;
}

int st_grpc_stream_status(const st_grpc_stream_t *st) { return (int)st->status; }

void st_grpc_stream_cancel(st_grpc_stream_t *st) { grpc_call_cancel(st->call, NULL); }

void st_grpc_stream_free(st_grpc_stream_t *st) {
    if (!st) return;
    if (st->q.pending) {
        grpc_call_cancel(st->call, NULL);
        st_grpc_cq_wait(&st->q, ~0u, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    }
    grpc_call_unref(st->call);
    st_grpc_cq_destroy(st->q.cq);
    grpc_byte_buffer_destroy(st->send_bb);
    if (st->recv_bb) grpc_byte_buffer_destroy(st->recv_bb);
    grpc_metadata_array_destroy(&st->init_md);
    grpc_metadata_array_destroy(&st->trail_md);
    grpc_slice_unref(st->details);
    gpr_free((void *)st->errstr);
    free(st->method);
    free(st->detail);
    free(st);
}

/* ---- channel ---- */

static int tls_creds(const st_grpc_client_opts_t *o, grpc_channel_credentials **out) {
    *out = NULL;
    char *ca = NULL, *cert = NULL, *key = NULL;
    int rc = ST_OK;
    if (!o->tls_cert_file != !o->tls_key_file)
        return st_errorf(ST_EINVAL, "--grpc-client-tls-cert and --grpc-client-tls-key must be given together");
    if (o->tls_ca_file && (rc = st_grpc_read_pem(o->tls_ca_file, "--grpc-client-tls-ca", "cert", &ca))) goto out;
    if (o->tls_cert_file &&
        ((rc = st_grpc_read_pem(o->tls_cert_file, "--grpc-client-tls-cert", "cert", &cert)) ||
         (rc = st_grpc_read_pem(o->tls_key_file, "--grpc-client-tls-key", "key", &key)) ||
         (rc = st_grpc_check_key_pair(cert, key, o->tls_cert_file, o->tls_key_file))))
        goto out;
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    /* gRPC copies the PEM strings */
    *out = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
    if (!*out) rc = st_errorf(ST_EINVAL, "grpc client TLS credentials rejected by gRPC");
out:
    free(ca);
    free(cert);
    free(key);
    return rc;
}

int st_grpc_client_new(st_grpc_client_t **out, const char *target, const st_grpc_client_opts_t *opts) {
    *out = NULL;
    st_grpc_client_opts_t o = opts ? *opts : (st_grpc_client_opts_t){0};
    if (!target || !*target) return st_errorf(ST_EINVAL, "grpc client: empty target");
    st_grpc_client_t *c = calloc(1, sizeof *c);
    if (!c || !(c->target = strdup(target))) {
        free(c);
        return st_errorf(ST_ENOMEM, "grpc client %s", target);
    }
    c->max_recv = o.max_recv_msg ? o.max_recv_msg : ST_GRPC_DEFAULT_MAX_MSG;
    int64_t keepalive = o.keepalive_ms ? o.keepalive_ms : ST_GRPC_DEFAULT_KEEPALIVE_MS;
    grpc_channel_credentials *creds = NULL;
    st_grpc_lib_init();
    int rc = o.tls ? tls_creds(&o, &creds) : ST_OK;
    if (rc < 0) {
        grpc_shutdown();
        free(c->target);
        free(c);
        return st_errwrap(rc, "grpc client %s", target);
    }
    if (!o.tls) creds = grpc_insecure_credentials_create();

    grpc_arg args[6];
    size_t n = 0;
    args[n++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                           {.integer = st_grpc_int_arg(c->max_recv)}};
    if (keepalive > 0) {
        args[n++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS,
                               {.integer = st_grpc_int_arg((size_t)keepalive)}};
        args[n++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}};
        /* by default core stops pinging after 2 pings without data frames */
        args[n++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}};
    }
    if (o.tls && o.tls_server_name)
        args[n++] = (grpc_arg){GRPC_ARG_STRING, GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
                               {.string = (char *)o.tls_server_name}};
    grpc_channel_args cargs = {n, args};
    /* never NULL: a bad target yields a channel whose calls fail */
    c->ch = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    *out = c;
    return ST_OK;
}

const char *st_grpc_client_target(const st_grpc_client_t *c) { return c->target; }

void st_grpc_client_free(st_grpc_client_t *c) {
    if (!c) return;
    grpc_channel_destroy(c->ch);
    free(c->target);
    free(c);
    grpc_shutdown();
}
