/* Private helpers shared by the gRPC server and client (shared/src/grpc/). */
#ifndef STRATA_GRPC_INT_H
#define STRATA_GRPC_INT_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

/* grpc_init (refcounted by gRPC; grpc_shutdown undoes it), with gRPC's
 * log lines sent through st_log. */
void st_grpc_lib_init(void);

/* A completion queue event loop keyed by bit tags: each outstanding batch
 * of a call is one bit of `pending`; its completion clears the bit and
 * records success. One call, one queue, one consumer thread. */
typedef struct {
    grpc_completion_queue *cq;
    unsigned pending;
    unsigned ok; /* bit set = that batch succeeded */
} st_grpc_cq_t;

#define ST_GRPC_TAG(bit) ((void *)(uintptr_t)(bit))

/* Wait until `bit` is no longer pending or the deadline passes (gpr
 * timespec in any clock). Returns 1 = done, 0 = timed out, -1 = the queue
 * was shut down (cannot happen while batches are pending). */
int st_grpc_cq_wait(st_grpc_cq_t *q, unsigned bit, gpr_timespec deadline);
/* Record every completion already queued; never blocks. */
void st_grpc_cq_poll(st_grpc_cq_t *q);
/* Shut the queue down, drain it, destroy it. Nothing may be pending. */
void st_grpc_cq_destroy(grpc_completion_queue *cq);

/* Copy a received message out: *out malloc'd (NULL when empty). ST_ELIMIT
 * above max (the transport enforces it too; a size is never trusted). */
int st_grpc_bb_read(grpc_byte_buffer *bb, size_t max, const char *what, uint8_t **out, size_t *len);

/* "RESOURCE_EXHAUSTED", ...; NULL for codes outside the gRPC table. */
const char *st_grpc_status_name(int status);

/* Milliseconds since the Unix epoch of a gpr timespec of any clock;
 * INT64_MAX for the infinite future. */
int64_t st_grpc_realtime_ms(gpr_timespec t);
int64_t st_grpc_now_ms(void);
/* timeout_ms <= 0 = infinite. */
gpr_timespec st_grpc_deadline_after(int64_t timeout_ms);

/* Size limits go to gRPC as int channel args. */
int st_grpc_int_arg(size_t v);

/* TLS material: the PEM text of a file, checked with OpenSSL so a wrong or
 * missing file is ST_EINVAL naming it (gRPC would only fail the handshake).
 * kind: "cert" (one or more certificates) or "key" (a private key).
 * *out malloc'd, NUL-terminated. */
int st_grpc_read_pem(const char *path, const char *flag, const char *kind, char **out);
/* ST_EINVAL when the key does not belong to the first certificate. */
int st_grpc_check_key_pair(const char *cert_pem, const char *key_pem, const char *cert_path,
                           const char *key_path);

#endif
