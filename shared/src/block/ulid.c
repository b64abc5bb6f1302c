/*
 * ULIDs (oklog/ulid compatible).
 *
 *   binary, 16 bytes:  [0..5]  ms since the Unix epoch, 48-bit big-endian
 *                      [6..15] 80 random bits
 *   text, 26 chars:    the 128-bit big-endian number with two zero bits
 *                      prepended (130 bits), as 26 Crockford base32 digits,
 *                      most significant first: so text[0] is always '0'..'7'.
 */
#include "strata/ulid.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "strata/err.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#define ULID_MAX_MS ((UINT64_C(1) << 48) - 1)

int st_ulid_new(st_ulid_t *out, uint64_t ms) {
    if (ms > ULID_MAX_MS) return st_errorf(ST_EINVAL, "ulid: time %llu ms does not fit in 48 bits",
                                           (unsigned long long)ms);
    for (int i = 0; i < 6; i++) out->b[i] = (uint8_t)(ms >> (8 * (5 - i)));
    size_t got = 0;
    while (got < 10) {
        ssize_t n = getrandom(out->b + 6 + got, 10 - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return st_errorf(ST_EIO, "ulid: getrandom: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    return ST_OK;
}

void st_ulid_format(const st_ulid_t *id, char out[ST_ULID_TEXT_LEN + 1]) {
    unsigned __int128 v = 0;
    for (int i = 0; i < 16; i++) v = (v << 8) | id->b[i];
    for (int i = ST_ULID_TEXT_LEN - 1; i >= 0; i--) {
        out[i] = crockford[(unsigned)(v & 31)];
        v >>= 5;
    }
    out[ST_ULID_TEXT_LEN] = 0;
}

/* Value of one base32 digit, either case; -1 for I, L, O, U and non-digits. */
static int digit_value(char c) {
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    const char *p = c ? strchr(crockford, c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

int st_ulid_parse(st_ulid_t *out, const char *s) {
    size_t n = strnlen(s, ST_ULID_TEXT_LEN + 1);
    if (n != ST_ULID_TEXT_LEN)
        return st_errorf(ST_EINVAL, "ulid \"%.40s\": length is not %d", s, ST_ULID_TEXT_LEN);
    /* The first digit carries the two padding bits, which must be zero. */
    if (s[0] > '7')
        return st_errorf(ST_EINVAL, "ulid \"%s\": first character overflows 128 bits", s);
    unsigned __int128 v = 0;
    for (size_t i = 0; i < ST_ULID_TEXT_LEN; i++) {
        int d = digit_value(s[i]);
        if (d < 0) return st_errorf(ST_EINVAL, "ulid \"%s\": invalid character at %zu", s, i);
        v = (v << 5) | (unsigned)d;
    }
    for (int i = 15; i >= 0; i--) {
        out->b[i] = (uint8_t)v;
        v >>= 8;
    }
    return ST_OK;
}

uint64_t st_ulid_time(const st_ulid_t *id) {
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++) ms = (ms << 8) | id->b[i];
    return ms;
}

int st_ulid_cmp(const st_ulid_t *a, const st_ulid_t *b) {
    int c = memcmp(a->b, b->b, sizeof a->b);
    return (c > 0) - (c < 0);
}
