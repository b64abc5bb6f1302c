/*
 * grpc.h — gRPC server and client on the gRPC C core API (grpc/grpc.h).
 *
 * Messages cross this interface as serialized protobuf bytes; callers pack
 * and unpack them with protobuf-c. Method paths are full gRPC paths
 * ("/thanos.Store/Series"): protoc-c generates no service code.
 *
 * Server. A fixed pool of worker threads (opts.threads) each waits for one
 * call, runs its handler to the end, and waits again: the pool size is the
 * number of calls served at once; further calls queue inside gRPC. A
 * handler runs on its worker thread and may block. Unary handlers return
 * one response; streaming handlers call st_grpc_call_send() per message,
 * which returns only once the message was handed to the transport (one
 * message in flight per call, as the C core requires; that is the flow
 * control). A client that cancels, goes away or passes its deadline makes
 * st_grpc_call_send() fail with ST_ECANCELED / ST_ETIMEDOUT and
 * st_grpc_call_cancelled() return true; the handler then returns and its
 * state is freed. /grpc.health.v1.Health/Check is always served (SERVING
 * for "" and every registered service name, SERVICE_UNKNOWN otherwise;
 * NOT_SERVING after st_grpc_server_set_serving(s, false)).
 *
 * Error mapping, both directions (handler return code -> status sent;
 * status received -> return code of the client call), the message being
 * st_errdetail() / the status details:
 *   ST_EINVAL, ST_ECORRUPT  INVALID_ARGUMENT (3)
 *   ST_ENOTFOUND            NOT_FOUND (5)
 *   ST_ELIMIT               RESOURCE_EXHAUSTED (8)
 *   ST_EUNSUPPORTED         UNIMPLEMENTED (12)
 *   ST_ECANCELED            CANCELLED (1)
 *   ST_ETIMEDOUT            DEADLINE_EXCEEDED (4)
 *   ST_EIO                  UNAVAILABLE (14)
 *   anything else           INTERNAL (13)  (client side: ST_EIO)
 * A message larger than the receive limit fails the call with
 * RESOURCE_EXHAUSTED (ST_ELIMIT), never a crash or unbounded allocation.
 *
 * Keepalive: the server accepts client pings as often as every 10 s
 * without data (Thanos clients ping that often) and tolerates ping
 * strikes; clients ping every opts.keepalive_ms (default 10 s) so dead
 * peers are noticed.
 *
 * TLS: with cert and key files the server serves TLS (OpenSSL-backed gRPC
 * credentials); with a client CA it also requires client certificates.
 * Flags follow Thanos: --grpc-server-tls-cert/-key/-client-ca and
 * --grpc-client-tls-secure/-cert/-key/-ca/-server-name.
 */
#ifndef STRATA_GRPC_H
#define STRATA_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_GRPC_DEFAULT_MAX_MSG ((size_t)64 << 20) /* both directions */
#define ST_GRPC_DEFAULT_THREADS 16
#define ST_GRPC_DEFAULT_KEEPALIVE_MS 10000

/* gRPC status codes (grpc_status_code values). */
enum {
    ST_GRPC_OK = 0,
    ST_GRPC_CANCELLED = 1,
    ST_GRPC_UNKNOWN = 2,
    ST_GRPC_INVALID_ARGUMENT = 3,
    ST_GRPC_DEADLINE_EXCEEDED = 4,
    ST_GRPC_NOT_FOUND = 5,
    ST_GRPC_RESOURCE_EXHAUSTED = 8,
    ST_GRPC_UNIMPLEMENTED = 12,
    ST_GRPC_INTERNAL = 13,
    ST_GRPC_UNAVAILABLE = 14
};

/* ST_E* code -> gRPC status and back, as in the table above. */
int st_grpc_status_from_err(int st_err);
int st_grpc_err_from_status(int status);

/* ---- server ---- */

typedef struct st_grpc_server st_grpc_server_t;
typedef struct st_grpc_call st_grpc_call_t; /* one incoming call; owned by the server */

typedef struct {
    int threads;             /* calls served at once; 0 = ST_GRPC_DEFAULT_THREADS */
    size_t max_recv_msg;     /* 0 = ST_GRPC_DEFAULT_MAX_MSG */
    size_t max_send_msg;     /* 0 = ST_GRPC_DEFAULT_MAX_MSG */
    const char *tls_cert_file; /* NULL = plaintext */
    const char *tls_key_file;
    const char *tls_client_ca_file; /* NULL = no client certificates asked */
} st_grpc_server_opts_t;

/* Unary: req[0..len) is valid during the call. On success set *resp to a
 * malloc'd serialized response (the server frees it; NULL with *resp_len 0
 * is an empty message) and return 0; otherwise return an ST_E* code with a
 * detail recorded (st_errorf), which becomes the status. */
typedef int (*st_grpc_unary_fn)(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp,
                                size_t *resp_len);
/* Server streaming: send with st_grpc_call_send(), return 0 for status OK
 * or an ST_E* code (with detail) for an error status. */
typedef int (*st_grpc_stream_fn)(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len);

int st_grpc_server_new(st_grpc_server_t **out, const st_grpc_server_opts_t *opts /* NULL = defaults */);
/* Register before start. Registering a path twice is ST_EEXIST. */
int st_grpc_server_add_unary(st_grpc_server_t *s, const char *method, st_grpc_unary_fn fn, void *ctx);
int st_grpc_server_add_stream(st_grpc_server_t *s, const char *method, st_grpc_stream_fn fn, void *ctx);
/* Listen on addr ("127.0.0.1:10901", "0.0.0.0:0", "[::]:10901") and start
 * the workers. *bound_port (may be NULL) receives the port (useful with
 * port 0). A port in use or bad TLS files are ST_EIO/ST_EINVAL with the
 * address or file in the detail. */
int st_grpc_server_start(st_grpc_server_t *s, const char *addr, int *bound_port);
void st_grpc_server_set_serving(st_grpc_server_t *s, bool serving);
/* Run fn(ctx) in st_grpc_server_free once no handler runs any more (in
 * reverse order of registration): how a layer registering handlers with
 * its own state (storeapi) frees that state with the server. */
int st_grpc_server_on_free(st_grpc_server_t *s, void (*fn)(void *ctx), void *ctx);
/* Stop accepting, cancel calls in flight (their handlers see cancellation),
 * join the workers, free. NULL ok. */
void st_grpc_server_free(st_grpc_server_t *s);

/* Send one message of a streaming call; blocks until it is written.
 * ST_ECANCELED when the client cancelled or went away, ST_ETIMEDOUT past
 * the deadline, ST_ELIMIT above max_send_msg. */
int st_grpc_call_send(st_grpc_call_t *call, const uint8_t *msg, size_t len);
/* Non-blocking check, for handlers doing long work between sends. */
bool st_grpc_call_cancelled(st_grpc_call_t *call);
/* The client's deadline, ms since the Unix epoch; INT64_MAX when none. */
int64_t st_grpc_call_deadline_ms(const st_grpc_call_t *call);
const char *st_grpc_call_method(const st_grpc_call_t *call);
const char *st_grpc_call_peer(const st_grpc_call_t *call); /* "ipv4:127.0.0.1:5555" */

/* ---- client ---- */

typedef struct st_grpc_client st_grpc_client_t;

typedef struct {
    size_t max_recv_msg;     /* 0 = ST_GRPC_DEFAULT_MAX_MSG */
    int64_t keepalive_ms;    /* 0 = ST_GRPC_DEFAULT_KEEPALIVE_MS; < 0 = off */
    bool tls;                /* --grpc-client-tls-secure */
    const char *tls_ca_file; /* NULL = system roots */
    const char *tls_cert_file, *tls_key_file; /* client certificate, both or neither */
    const char *tls_server_name;              /* override the name checked in the cert */
} st_grpc_client_opts_t;

/* A channel to target ("127.0.0.1:10901", "dns:///host:port"). Connects
 * lazily; a dead target shows up as ST_EIO on calls. Safe for concurrent
 * calls from several threads. With opts->tls the PEM files are read and
 * checked here: a missing or wrong file is ST_EINVAL naming it (without
 * opts->tls they are ignored, as Thanos ignores its TLS client flags). */
int st_grpc_client_new(st_grpc_client_t **out, const char *target, const st_grpc_client_opts_t *opts);
void st_grpc_client_free(st_grpc_client_t *c); /* NULL ok; calls must be finished */
const char *st_grpc_client_target(const st_grpc_client_t *c);

/* One unary call with a timeout (ms; <= 0 = none). *resp malloc'd (free()),
 * may be NULL for an empty message. On a non-OK status the return code
 * follows the table and the detail reads "<method>: <status name>: <msg>".
 * *status (may be NULL) receives the gRPC status code. */
int st_grpc_client_unary(st_grpc_client_t *c, const char *method, const uint8_t *req, size_t len,
                         int64_t timeout_ms, uint8_t **resp, size_t *resp_len, int *status);

typedef struct st_grpc_stream st_grpc_stream_t;

/* Start a server-streaming call (timeout as above). */
int st_grpc_stream_open(st_grpc_stream_t **out, st_grpc_client_t *c, const char *method, const uint8_t *req,
                        size_t len, int64_t timeout_ms);
/* Next message: 1 = *msg (malloc'd; free()) and *len set, 0 = the stream
 * ended with status OK, < 0 = it ended with an error status (mapped as in
 * the table) or a transport failure. */
int st_grpc_stream_recv(st_grpc_stream_t *st, uint8_t **msg, size_t *len);
int st_grpc_stream_status(const st_grpc_stream_t *st); /* valid once recv returned <= 0 */
/* Cancel from any thread: a blocked recv returns ST_ECANCELED. */
void st_grpc_stream_cancel(st_grpc_stream_t *st);
/* Cancels if still running, waits for the call to end, frees. NULL ok. */
void st_grpc_stream_free(st_grpc_stream_t *st);

#endif
