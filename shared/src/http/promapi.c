/* Prometheus HTTP API parameters and JSON strings; contract in promapi.h. */
#include "strata/promapi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/flags.h"
#include "strata/textfmt.h"

/* ---- form bodies ---- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Unescape p[0..len) into a fresh string; NULL in *out for a bad escape. */
static int unescape(const char *p, size_t len, char **out) {
    *out = NULL;
    char *s = malloc(len + 1);
    if (!s) return st_errorf(ST_ENOMEM, "form body: decoding %zu bytes", len);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '+') {
            s[n++] = ' ';
        } else if (p[i] == '%') {
            int hi = i + 2 < len ? hexval(p[i + 1]) : -1, lo = i + 2 < len ? hexval(p[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(s);
                return ST_OK;
            }
            s[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            s[n++] = p[i];
        }
    }
    s[n] = 0;
    *out = s;
    return ST_OK;
}

int st_promapi_form_parse(st_promapi_form_t *out, const char *p, size_t len) {
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(p + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - p) : len, plen = end - i;
        const char *pair = p + i;
        i = amp ? end + 1 : len;
        if (plen == 0 || memchr(pair, ';', plen)) continue;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        char *k, *v = NULL;
        int rc = unescape(pair, klen, &k);
        if (!rc && k) rc = eq ? unescape(eq + 1, plen - klen - 1, &v) : unescape("", 0, &v);
        if (rc || !k || !v) {
            free(k);
            free(v);
            if (rc) {
                st_promapi_form_free(out);
                return rc;
            }
            continue;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            st_promapi_kv_t *nv = realloc(out->v, cap * sizeof *nv);
            if (!nv) {
                free(k);
                free(v);
                st_promapi_form_free(out);
                return st_errorf(ST_ENOMEM, "form body: %zu pairs", cap);
            }
            out->v = nv;
        }
        out->v[out->n++] = (st_promapi_kv_t){k, v};
    }
    return ST_OK;
}

const char *st_promapi_form_get(const st_promapi_form_t *f, const char *key) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].key, key) == 0) return f->v[i].value;
    return NULL;
}

void st_promapi_form_free(st_promapi_form_t *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].key);
        free(f->v[i].value);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

/* ---- times ---- */

/* Go's strconv.ParseFloat, as far as Prometheus clients use it: decimal
 * and exponent forms, hex floats with a 'p' exponent; no spaces, no
 * trailing bytes, no overflow. Non-finite values are refused too (Go would
 * take "Inf" and turn it into a meaningless time). */
static bool parse_float(const char *s, double *out) {
    if (!*s || *s == ' ' || (*s >= '\t' && *s <= '\r')) return false;
    const char *d = s + (*s == '+' || *s == '-');
    if ((d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) && !strpbrk(d, "pP")) return false;
    char *end;
    double v = strtod(s, &end); /* overflow gives +-HUGE_VAL, refused as not finite */
    if (end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d) {
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
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_rfc3339(const char *s, int64_t *ms) {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 ||
        sec > 59)
        return false;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if ((*p == '.' || *p == ',') && p[1] >= '0' && p[1] <= '9') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3) frac_ms = frac_ms * 10 + (*p - '0');
        for (; nd < 3; nd++) frac_ms *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) < 6 || !digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 24 || om > 59)
            return false;
        off = (*p == '-' ? -1 : 1) * ((int64_t)oh * 3600 + om * 60);
        p += 6;
    } else {
        return false;
    }
    if (*p) return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + sec - off;
    *ms = secs * 1000 + frac_ms;
    return true;
}

int st_rfc3339_parse(const char *s, int64_t *ms) {
    if (parse_rfc3339(s, ms)) return ST_OK;
    return st_errorf(ST_EINVAL, "%s: not an RFC 3339 time (2006-01-02T15:04:05Z07:00)", s);
}

int st_promapi_parse_time(const char *s, int64_t *ms) {
    double t;
    if (parse_float(s, &t)) {
        /* s, ns := math.Modf(t); ns = math.Round(ns*1000) / 1000;
         * time.Unix(int64(s), int64(ns*1e9)), then timestamp.FromTime */
        double whole, frac = modf(t, &whole);
        frac = round(frac * 1000) / 1000;
        if (whole >= 9.2e15 || whole <= -9.2e15) { /* ms out of int64: Go wraps, we saturate */
            *ms = whole > 0 ? INT64_MAX : INT64_MIN;
            return ST_OK;
        }
        int64_t sec = (int64_t)whole, nsec = (int64_t)(frac * 1e9);
        if (nsec < 0 || nsec >= 1000000000) {
            int64_t n = nsec / 1000000000;
            sec += n;
            nsec -= n * 1000000000;
            if (nsec < 0) {
                nsec += 1000000000;
                sec--;
            }
        }
        *ms = sec * 1000 + nsec / 1000000;
        return ST_OK;
    }
    if (parse_rfc3339(s, ms)) return ST_OK;
    /* Go's time.Parse takes 4-digit years only; Prometheus special-cases
     * its own default bounds, as formatted by time.RFC3339Nano. */
    if (strcmp(s, "-292273086-05-16T16:47:06Z") == 0) {
        *ms = ST_PROMAPI_MIN_TIME_MS;
        return ST_OK;
    }
    if (strcmp(s, "292277025-08-18T07:12:54.999999999Z") == 0) {
        *ms = ST_PROMAPI_MAX_TIME_MS;
        return ST_OK;
    }
    st_encbuf_t b;
    st_encbuf_init(&b, 4096);
    st_put_go_quote(&b, s, strnlen(s, 1024));
    int rc = st_errorf(ST_EINVAL, "cannot parse %.*s to a valid timestamp", (int)(b.err ? 0 : b.len),
                       b.p ? (const char *)b.p : "");
    st_encbuf_free(&b);
    return rc;
}

/* ---- JSON ---- */

void st_promapi_put_json_string(st_encbuf_t *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    st_put_u8(b, '"');
    for (size_t i = 0; i < len;) {
        uint8_t c = p[i];
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = st_utf8_decode(p + i, len - i, &cp);
            if (n == 0) {
                st_put_cstr(b, "\\ufffd");
                i++;
            } else if (cp == 0x2028 || cp == 0x2029) {
                st_put_cstr(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
                i += n;
            } else {
                st_put_bytes(b, p + i, n);
                i += n;
            }
            continue;
        }
        i++;
        if (c == '"' || c == '\\') {
            st_put_u8(b, '\\');
            st_put_u8(b, c);
        } else if (c == '\n') {
            st_put_cstr(b, "\\n");
        } else if (c == '\r') {
            st_put_cstr(b, "\\r");
        } else if (c == '\t') {
            st_put_cstr(b, "\\t");
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            st_put_bytes(b, e, 6);
        } else {
            st_put_u8(b, c);
        }
    }
    st_put_u8(b, '"');
}

void st_promapi_put_labels_json(st_encbuf_t *b, const st_labels_t *l) {
    st_put_u8(b, '{');
    for (size_t i = 0; i < l->n; i++) {
        if (i) st_put_u8(b, ',');
        st_promapi_put_json_string(b, l->v[i].name, l->v[i].name_len);
        st_put_u8(b, ':');
        st_promapi_put_json_string(b, l->v[i].value, l->v[i].value_len);
    }
    st_put_u8(b, '}');
}

int st_promapi_parse_duration(const char *s, int64_t *ms) {
    char *end;
    double v = strtod(s, &end);
    if (*s && !*end && !isnan(v)) {
        if (fabs(v * 1e9) >= 9.223372036854775807e18)
            return st_errorf(ST_EINVAL, "cannot parse \"%s\" to a valid duration. It overflows int64", s);
        *ms = (int64_t)(v * 1e9) / 1000000;
        return ST_OK;
    }
    if (*s && st_duration_parse(s, ms) == ST_OK) return ST_OK;
    return st_errorf(ST_EINVAL, "cannot parse \"%s\" to a valid duration", s);
}
