/* --min-time / --max-time as Thanos's TimeOrDurationValue: an RFC 3339
 * time, or a duration relative to now ("-2w" = two weeks ago), plus plain
 * milliseconds since the epoch as Strata's tools print them. */
#include <ctype.h>
#include <string.h>

#include "store.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/promapi.h"

int store_time_parse(const char *s, store_time_t *out) {
    memset(out, 0, sizeof *out);
    if (!s || !*s) return st_errorf(ST_EINVAL, "empty time");
    if (st_rfc3339_parse(s, &out->ms) == ST_OK) return ST_OK;
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
