/*
 * err.h — Strata's single error space.
 *
 * Every fallible function returns int: 0 (ST_OK) or a negative ST_E* code.
 * The code says what kind of failure it was; the human-readable detail
 * ("index /d/01H.../index: postings offset table: CRC mismatch") is kept in a
 * per-thread buffer, set with st_errorf() at the place that detected the
 * problem and read with st_errdetail(). Like errno, the detail is only
 * meaningful right after a call returned an error.
 */
#ifndef STRATA_ERR_H
#define STRATA_ERR_H

enum {
    ST_OK = 0,
    ST_ENOMEM = -1,    /* allocation failed */
    ST_EIO = -2,       /* read/write/open/fsync failed (errno in the detail) */
    ST_ECORRUPT = -3,  /* bytes from disk or network violate the format */
    ST_EINVAL = -4,    /* caller passed something invalid (bad flag, bad selector) */
    ST_ENOTFOUND = -5, /* the thing asked for does not exist */
    ST_ELIMIT = -6,    /* a size cap or resource limit was hit */
    ST_EEXIST = -7,    /* already exists */
    ST_EUNSUPPORTED = -8, /* valid input we do not handle (e.g. histogram chunks) */
    ST_ECANCELED = -9,    /* the caller (or the peer of a call) gave up */
    ST_ETIMEDOUT = -10    /* a deadline passed */
};

/* Static name of a code: "corrupt data", "I/O error", ... */
const char *st_strerror(int code);

/* Record a formatted detail for this thread and return `code` unchanged, so a
 * detecting site reads: return st_errorf(ST_ECORRUPT, "%s: bad magic", path); */
int st_errorf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current detail with "context: " (used by callers that know the
 * file or section the callee did not). Returns `code`. */
int st_errwrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last detail recorded on this thread, or the code's st_strerror() text
 * when none was recorded. Never NULL; owned by the thread. */
const char *st_errdetail(int code);

void st_errclear(void);

#endif
