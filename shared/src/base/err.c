/* Per-thread error detail; see err.h for the contract. */
#include "strata/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ST_ERRDETAIL_MAX 1024

static _Thread_local char errdetail[ST_ERRDETAIL_MAX];

const char *st_strerror(int code) {
    switch (code) {
    case ST_OK: return "success";
    case ST_ENOMEM: return "out of memory";
    case ST_EIO: return "I/O error";
    case ST_ECORRUPT: return "corrupt data";
    case ST_EINVAL: return "invalid argument";
    case ST_ENOTFOUND: return "not found";
    case ST_ELIMIT: return "limit exceeded";
    case ST_EEXIST: return "already exists";
    case ST_EUNSUPPORTED: return "unsupported";
    case ST_ECANCELED: return "canceled";
    case ST_ETIMEDOUT: return "deadline exceeded";
    default: return "unknown error";
    }
}

int st_errorf(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errdetail, sizeof errdetail, fmt, ap);
    va_end(ap);
    return code;
}

int st_errwrap(int code, const char *fmt, ...) {
    /* sized so "prefix: old" always fits in the detail buffer */
    char prefix[ST_ERRDETAIL_MAX / 4];
    char old[ST_ERRDETAIL_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    const char *src = errdetail[0] ? errdetail : st_strerror(code);
    size_t n = strnlen(src, sizeof old - 1);
    memcpy(old, src, n);
    old[n] = 0;
    snprintf(errdetail, sizeof errdetail, "%s: %s", prefix, old);
    return code;
}

const char *st_errdetail(int code) {
    return errdetail[0] ? errdetail : st_strerror(code);
}

void st_errclear(void) { errdetail[0] = 0; }
