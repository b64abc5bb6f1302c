/*
 * satmath.h — saturating int64 arithmetic for timestamps and durations
 * that come from untrusted input (queries, stores): an overflow clamps to
 * INT64_MIN / INT64_MAX instead of wrapping.
 */
#ifndef STRATA_SATMATH_H
#define STRATA_SATMATH_H

#include <stdint.h>

static inline int64_t st_sat_add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t st_sat_sub(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

#endif
