/*
 * What the gRPC server and client share: the status <-> ST_E* table of
 * grpc.h, completion-queue waiting by tag bits, copying received messages
 * out of byte buffers, clocks, and reading TLS PEM files.
 */
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "grpc_int.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/grpc.h"
#include "strata/log.h"

#define MAX_PEM_FILE ((size_t)4 << 20)

/* gRPC's own messages (handshake failures, bind errors) as logfmt lines */
static void log_line(gpr_log_func_args *a) {
    const char *file = strrchr(a->file, '/');
    char caller[128];
    snprintf(caller, sizeof caller, "%s:%d", file ? file + 1 : a->file, a->line);
    st_log_level_t level = a->severity == GPR_LOG_SEVERITY_ERROR  ? ST_LOG_WARN
                           : a->severity == GPR_LOG_SEVERITY_INFO ? ST_LOG_INFO
                                                                  : ST_LOG_DEBUG;
    st_log(level, a->message, "component", "grpc", "caller", caller, NULL);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void set_log_function(void) { gpr_set_log_function(log_line); }

void st_grpc_lib_init(void) {
    pthread_once(&log_once, set_log_function);
    grpc_init();
}

int st_grpc_status_from_err(int st_err) {
    switch (st_err) {
    case ST_OK: return ST_GRPC_OK;
    case ST_EINVAL:
    case ST_ECORRUPT: return ST_GRPC_INVALID_ARGUMENT;
    case ST_ENOTFOUND: return ST_GRPC_NOT_FOUND;
    case ST_ELIMIT: return ST_GRPC_RESOURCE_EXHAUSTED;
    case ST_EUNSUPPORTED: return ST_GRPC_UNIMPLEMENTED;
    case ST_ECANCELED: return ST_GRPC_CANCELLED;
    case ST_ETIMEDOUT: return ST_GRPC_DEADLINE_EXCEEDED;
    case ST_EIO: return ST_GRPC_UNAVAILABLE;
    default: return ST_GRPC_INTERNAL;
    }
}

int st_grpc_err_from_status(int status) {
    switch (status) {
    case ST_GRPC_OK: return ST_OK;
    case ST_GRPC_INVALID_ARGUMENT: return ST_EINVAL;
    case ST_GRPC_NOT_FOUND: return ST_ENOTFOUND;
    case ST_GRPC_RESOURCE_EXHAUSTED: return ST_ELIMIT;
    case ST_GRPC_UNIMPLEMENTED: return ST_EUNSUPPORTED;
    case ST_GRPC_CANCELLED: return ST_ECANCELED;
    case ST_GRPC_DEADLINE_EXCEEDED: return ST_ETIMEDOUT;
    default: return ST_EIO;
    }
}

const char *st_grpc_status_name(int status) {
    static const char *const names[] = {
        "OK",           "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND",    "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED",     "OUT_OF_RANGE",      "UNIMPLEMENTED",    "INTERNAL",
        "UNAVAILABLE",  "DATA_LOSS",          "UNAUTHENTICATED"};
    if (status < 0 || (size_t)status >= sizeof names / sizeof names[0]) return NULL;
    return names[status];
}

static void record(st_grpc_cq_t *q, grpc_event ev) {
    unsigned bit = (unsigned)(uintptr_t)ev.tag;
    q->pending &= ~bit;
    if (ev.success) q->ok |= bit;
    else q->ok &= ~bit;
}

int st_grpc_cq_wait(st_grpc_cq_t *q, unsigned bit, gpr_timespec deadline) {
    while (q->pending & bit) {
        grpc_event ev = grpc_completion_queue_next(q->cq, deadline, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) return 0;
        if (ev.type == GRPC_QUEUE_SHUTDOWN) return -1;
        record(q, ev);
    }
    return 1;
}

void st_grpc_cq_poll(st_grpc_cq_t *q) {
    while (q->pending) {
        grpc_event ev = grpc_completion_queue_next(q->cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE) return;
        record(q, ev);
    }
}

void st_grpc_cq_destroy(grpc_completion_queue *cq) {
    if (!cq) return;
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

int st_grpc_bb_read(grpc_byte_buffer *bb, size_t max, const char *what, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    grpc_byte_buffer_reader r;
    /* the reader decompresses a compressed buffer into buffer_out */
    if (!grpc_byte_buffer_reader_init(&r, bb)) return st_errorf(ST_ECORRUPT, "%s: undecodable message", what);
    int rc = ST_OK;
    size_t n = grpc_byte_buffer_length(r.buffer_out);
    if (n > max) {
        rc = st_errorf(ST_ELIMIT, "%s: message of %zu bytes above the limit of %zu", what, n, max);
        goto out;
    }
    if (n == 0) goto out;
    uint8_t *p = malloc(n);
    if (!p) {
        rc = st_errorf(ST_ENOMEM, "%s: message of %zu bytes", what, n);
        goto out;
    }
    size_t off = 0;
    grpc_slice *s;
    while (grpc_byte_buffer_reader_peek(&r, &s)) {
        size_t sl = GRPC_SLICE_LENGTH(*s);
        if (sl > n - off) {
            free(p);
            rc = st_errorf(ST_ECORRUPT, "%s: message longer than its length %zu", what, n);
            goto out;
        }
        memcpy(p + off, GRPC_SLICE_START_PTR(*s), sl);
        off += sl;
    }
    *out = p;
    *len = off;
out:
    grpc_byte_buffer_reader_destroy(&r);
    return rc;
}

int64_t st_grpc_realtime_ms(gpr_timespec t) {
    if (gpr_time_cmp(t, gpr_inf_future(t.clock_type)) == 0) return INT64_MAX;
    gpr_timespec rt = gpr_convert_clock_type(t, GPR_CLOCK_REALTIME);
    return rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
}

int64_t st_grpc_now_ms(void) { return st_grpc_realtime_ms(gpr_now(GPR_CLOCK_REALTIME)); }

gpr_timespec st_grpc_deadline_after(int64_t timeout_ms) {
    if (timeout_ms <= 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

int st_grpc_int_arg(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

/* OpenSSL's default would prompt on the terminal for an encrypted key */
static int no_password(char *buf, int size, int rwflag, void *u) {
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

int st_grpc_read_pem(const char *path, const char *flag, const char *kind, char **out) {
    *out = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = st_file_read_all(path, MAX_PEM_FILE, &data, &len);
    if (rc < 0) return st_errwrap(ST_EINVAL, "%s", flag);
    BIO *bio = BIO_new_mem_buf(data, len > INT_MAX ? INT_MAX : (int)len);
    if (!bio) {
        free(data);
        return st_errorf(ST_ENOMEM, "%s %s", flag, path);
    }
    bool found;
    if (strcmp(kind, "key") == 0) {
        EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
        found = k != NULL;
        EVP_PKEY_free(k);
    } else {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        found = x != NULL;
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!found) {
        free(data);
        return st_errorf(ST_EINVAL, "%s %s: no PEM %s found", flag, path,
                         strcmp(kind, "key") == 0 ? "unencrypted private key" : "certificate");
    }
    *out = (char *)data; /* st_file_read_all NUL-terminates */
    return ST_OK;
}

int st_grpc_check_key_pair(const char *cert_pem, const char *key_pem, const char *cert_path,
                           const char *key_path) {
    int rc = ST_OK;
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_password, NULL) : NULL;
    if (!x || !k) rc = st_errorf(ST_ENOMEM, "TLS key pair %s, %s", cert_path, key_path);
    else if (X509_check_private_key(x, k) != 1)
        rc = st_errorf(ST_EINVAL, "TLS key %s does not match the certificate %s", key_path, cert_path);
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    ERR_clear_error();
    return rc;
}
