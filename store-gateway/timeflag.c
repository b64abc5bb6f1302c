/* --min-time / --max-time as Thanos's TimeOrDurationValue: an RFC 3339
 * time, or a duration relative to now ("-2w" = two weeks ago), plus plain
 * milliseconds since the epoch as Strata's tools print them. */
#include <ctype.h>
#include <string.h>

#include "store.h"
#include "strata/err.h"
#include "strata/flags.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (any year 0..9999),
 * without timegm's dependence on time_t range and TZ. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int store_rfc3339_parse(const char *s, int64_t *ms) {
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, m, sec, frac_ms = 0;
    size_t n = strlen(s);
    if (n < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' || !digits(s + 8, 2, &D) ||
        s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return st_errorf(ST_EINVAL, "%s: not an RFC 3339 time (2006-01-02T15:04:05Z07:00)", s);
    const char *p = s + 19;
    if (*p == '.' || *p == ',') {
        int nd = 0;
        for (p++; isdigit((unsigned char)*p); p++, nd++)
            if (nd < 3) frac_ms = frac_ms * 10 + (*p - '0');
        if (nd == 0) return st_errorf(ST_EINVAL, "%s: empty fraction of a second", s);
        for (; nd < 3; nd++) frac_ms *= 10;
    }
    int64_t off_s = 0;
    if (*p == 'Z' && p[1] == 0) {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return st_errorf(ST_EINVAL, "%s: bad time zone offset", s);
        off_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return st_errorf(ST_EINVAL, "%s: not an RFC 3339 time (2006-01-02T15:04:05Z07:00)", s);
    }
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap(Y)) || h > 23 || m > 59 || sec > 59)
        return st_errorf(ST_EINVAL, "%s: date or time out of range", s);
    int64_t t = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off_s;
    *ms = t * 1000 + frac_ms;
    return ST_OK;
}

int store_time_parse(const char *s, store_time_t *out) {
    memset(out, 0, sizeof *out);
    if (!s || !*s) return st_errorf(ST_EINVAL, "empty time");
    if (store_rfc3339_parse(s, &out->ms) == ST_OK) return ST_OK;
    const char *d = s[0] == '-' ? s + 1 : s;
    bool all_digits = *d != 0;
    for (const char *c = d; *c; c++)
        if (!isdigit((unsigned char)*c)) all_digits = false;
    if (all_digits) {
        int rc = st_int64_parse(s, &out->ms);
        return rc ? st_errorf(rc, "%s: milliseconds out of range", s) : ST_OK;
    }
    int64_t dur;
    if (st_duration_parse(d, &dur) != ST_OK)
        return st_errorf(ST_EINVAL,
                         "%s: want an RFC 3339 time (2006-01-02T15:04:05Z), a duration relative to now (-2w, -72h) "
                         "or milliseconds since the epoch",
                         s);
    out->relative = true;
    out->ms = s[0] == '-' ? -dur : dur;
    return ST_OK;
}

int64_t store_time_resolve(const store_time_t *t, int64_t now_ms) { return t->relative ? now_ms + t->ms : t->ms; }
