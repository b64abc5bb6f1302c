/*
 * Text exposition parsers: the public API, Content-Type dispatch and the
 * pieces both formats share (numbers, label storage, unescaping, errors).
 * The grammars live in prom.c (text 0.0.4) and openmetrics.c.
 *
 * What is and is not accepted follows Prometheus 2.42's scrape parsers
 * (format reference §7), including their quirks. Layering: the parser
 * checks syntax, UTF-8 of label values and help text, and the number of
 * labels; duplicate label names and the dropping of empty values are left
 * to st_labels_from_pairs(), where Prometheus has them too (the head
 * appender rejects duplicates, failing the scrape).
 *
 * NUL bytes: Prometheus's lexer treats a NUL at the start of a 0.0.4 line
 * as the end of the input and skips NULs inside label values, help text
 * and comments; we do the same, keeping them as ordinary bytes of those
 * strings. A NUL anywhere else is an error (as in Prometheus, except for
 * a few positions next to quotes where its lexer happens to skip them).
 */
#include "textparse_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strata/err.h"
#include "strata/textfmt.h"

#define NAME (TP_NAME0 | TP_NAMEC | TP_LNAME0 | TP_LNAMEC)
const uint8_t st_tp_cls[256] = {
    ['a' ... 'z'] = NAME,
    ['A' ... 'Z'] = NAME,
    ['_'] = NAME,
    [':'] = TP_NAME0 | TP_NAMEC,
    ['0' ... '9'] = TP_NAMEC | TP_LNAMEC | TP_DIGIT,
    [' '] = TP_BLANK | TP_VSTOP | TP_TSTOP,
    ['\t'] = TP_BLANK | TP_VSTOP,
    ['\n'] = TP_VSTOP | TP_TSTOP,
    [0] = TP_VSTOP | TP_TSTOP,
    ['{'] = TP_VSTOP,
};
#undef NAME

int st_textparse_new(st_textparse_t **out, st_text_format_t fmt, const char *buf, size_t len) {
    *out = NULL;
    if (fmt != ST_TEXT_PROM && fmt != ST_TEXT_OPENMETRICS)
        return st_errorf(ST_EINVAL, "textparse: unknown format %d", (int)fmt);
    st_textparse_t *p = calloc(1, sizeof *p);
    if (!p) return st_errorf(ST_ENOMEM, "textparse: allocating parser");
    p->cur = buf ? buf : "";
    p->end = p->cur + (buf ? len : 0);
    p->line = 1;
    p->fmt = fmt;
    *out = p;
    return ST_OK;
}

void st_textparse_free(st_textparse_t *p) {
    if (!p) return;
    free(p->scratch);
    free(p);
}

int st_textparse_next(st_textparse_t *p) {
    if (p->err) return p->err;
    p->nlabels = 0;
    p->pending = 0;
    p->scratch_len = 0;
    p->has_ts = false;
    return p->fmt == ST_TEXT_PROM ? st_tp_prom_next(p) : st_tp_om_next(p);
}

void st_textparse_labels(const st_textparse_t *p, const st_label_t **labels, size_t *n) {
    *labels = p->labels;
    *n = p->nlabels;
}

double st_textparse_value(const st_textparse_t *p) { return p->value; }

bool st_textparse_timestamp(const st_textparse_t *p, int64_t *ms) {
    if (p->has_ts) *ms = p->ts;
    return p->has_ts;
}

void st_textparse_family(const st_textparse_t *p, const char **name, size_t *len) {
    *name = p->fam;
    *len = p->fam_len;
}

void st_textparse_help(const st_textparse_t *p, const char **text, size_t *len) {
    *text = p->text;
    *len = p->text_len;
}

st_metric_type_t st_textparse_type(const st_textparse_t *p) { return p->mtype; }
size_t st_textparse_line(const st_textparse_t *p) { return p->entry_line; }

int st_tp_fail(st_textparse_t *p, const char *at, const char *fmt, ...) {
    /* label values of 0.0.4 may span lines: count from the entry's start */
    size_t line = p->entry_line;
    const char *bol = p->line_start;
    for (const char *q = p->line_start; q < at; q++)
        if (*q == '\n') {
            line++;
            bol = q + 1;
        }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->err = st_errorf(ST_ECORRUPT, "%zu:%zu: %s", line, (size_t)(at - bol) + 1, msg);
    return p->err;
}

static int scratch_reserve(st_textparse_t *p, size_t n) {
    if (p->scratch_cap - p->scratch_len >= n) return ST_OK;
    size_t ncap = p->scratch_cap ? p->scratch_cap : 256;
    while (ncap - p->scratch_len < n) ncap *= 2;
    char *ns = realloc(p->scratch, ncap);
    if (!ns) {
        p->err = st_errorf(ST_ENOMEM, "textparse: allocating %zu bytes for unescaped strings", ncap);
        return p->err;
    }
    p->scratch = ns;
    p->scratch_cap = ncap;
    return ST_OK;
}

/* Unescape into the scratch buffer; returns the offset of the result. The
 * replacements are Go strings.NewReplacer's: left to right, no overlaps. */
static int unescape(st_textparse_t *p, const char *s, size_t n, bool quote, size_t *off, size_t *len) {
    int rc = scratch_reserve(p, n);
    if (rc) return rc;
    char *o = p->scratch + p->scratch_len;
    const char *e = s + n;
    while (s < e) {
        if (*s == '\\' && s + 1 < e && (s[1] == '\\' || s[1] == 'n' || (quote && s[1] == '"'))) {
            *o++ = s[1] == 'n' ? '\n' : s[1];
            s += 2;
        } else {
            *o++ = *s++;
        }
    }
    *off = p->scratch_len;
    *len = (size_t)(o - (p->scratch + p->scratch_len));
    p->scratch_len += *len;
    return ST_OK;
}

int st_tp_too_many_labels(st_textparse_t *p, const char *at) {
    st_tp_fail(p, at, "more than %d labels", ST_TEXTPARSE_MAX_LABELS);
    p->err = ST_ELIMIT;
    return p->err;
}

int st_tp_unescape_label(st_textparse_t *p, size_t i) {
    st_label_t *l = &p->labels[i];
    int rc = unescape(p, l->value, l->value_len, true, &p->scratch_off[i], &l->value_len);
    if (rc) return rc;
    l->value = NULL;
    p->pending++;
    return ST_OK;
}

/* First '"', '\\' or LF in [s, e), or e; ORs the bytes passed over into *hi
 * (a set 0x80 bit in any lane means non-ASCII). Eight bytes at a time:
 * label values are short but many. */
static const char *scan_qvalue(const char *s, const char *e, uint64_t *hi) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (e - s >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\'), n = w ^ (ones * '\n');
        /* a lane's high bit marks a zero byte; lanes above the first zero
         * may be false positives, so only the lowest set bit is used */
        uint64_t z = ((q - ones) & ~q) | ((b - ones) & ~b) | ((n - ones) & ~n);
        z &= highs;
        if (z) {
            size_t k = (size_t)__builtin_ctzll(z) / 8;
            /* only the bytes before the stop count towards *hi */
            *hi |= k ? w & (~0ull >> (64 - 8 * k)) : 0;
            return s + k;
        }
        *hi |= w;
        s += 8;
    }
#endif
    for (; s < e; s++) {
        char c = *s;
        if (c == '"' || c == '\\' || c == '\n') break;
        *hi |= (unsigned char)c;
    }
    return s;
}

int st_tp_qvalue(st_textparse_t *p, const char **sp, bool multiline, const char **v, size_t *vlen, bool *esc,
                 size_t *nl) {
    const char *q = *sp, *s = q + 1, *e = p->end;
    uint64_t hi = 0;
    *esc = false;
    for (;;) {
        s = scan_qvalue(s, e, &hi);
        if (s == e) return st_tp_fail(p, q, "unterminated label value");
        if (*s == '"') break;
        if (*s == '\n') {
            if (!multiline) return st_tp_fail(p, q, "unterminated label value");
            ++*nl;
        } else {
            *esc = true;
            if (++s == e || *s == '\n') return st_tp_fail(p, s - 1, "backslash at end of line in label value");
            hi |= (unsigned char)*s;
        }
        s++;
    }
    *v = q + 1;
    *vlen = (size_t)(s - q - 1);
    *sp = s + 1;
    if ((hi & 0x8080808080808080ull) && !st_utf8_valid(*v, *vlen))
        return st_tp_fail(p, q, "invalid UTF-8 in label value");
    return ST_OK;
}

void st_tp_settle_labels(st_textparse_t *p) {
    if (!p->pending) return;
    for (size_t i = 0; i < p->nlabels; i++)
        if (!p->labels[i].value) p->labels[i].value = p->scratch + p->scratch_off[i];
    p->pending = 0;
}

int st_tp_set_text(st_textparse_t *p, const char *s, size_t n, bool quote) {
    p->text = s;
    p->text_len = n;
    if (!memchr(s, '\\', n)) return ST_OK;
    size_t off;
    int rc = unescape(p, s, n, quote, &off, &p->text_len);
    if (rc) return rc;
    p->text = p->scratch + off;
    return ST_OK;
}

int st_tp_check_utf8(st_textparse_t *p, const char *at, const char *s, size_t n, const char *what) {
    return st_utf8_valid(s, n) ? ST_OK : st_tp_fail(p, at, "invalid UTF-8 %s", what);
}

/* ---- numbers ---------------------------------------------------------- */

static bool ci_eq(const char *s, const char *lower, size_t n) { return strncasecmp(s, lower, n) == 0; }

/*
 * Go strconv.ParseFloat(s, 64) syntax minus hex floats and '_' (Prometheus
 * refuses 'p', 'P', '_' first): [+-] digits [. digits] [e [+-] digits] with
 * at least one mantissa digit, or [+-]inf / [+-]infinity / nan in any case.
 * Returns 0, -1 (syntax) or -2 (rounds to infinity: Go's ErrRange).
 *
 * Short mantissas with small exponents are converted exactly with one
 * multiplication or division (both operands exact doubles, so the result
 * is correctly rounded); the rest goes to strtod on a NUL-terminated copy.
 */
static int go_parse_float(const char *s, size_t n, double *out) {
    static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *q = s, *e = s + n;
    bool neg = false;
    if (q < e && (*q == '+' || *q == '-')) neg = *q++ == '-';
    if (q < e && ((*q | 0x20) == 'i' || (*q | 0x20) == 'n')) {
        size_t m = (size_t)(e - q);
        if ((m == 3 && ci_eq(q, "inf", 3)) || (m == 8 && ci_eq(q, "infinity", 8))) {
            *out = neg ? -INFINITY : INFINITY;
            return 0;
        }
        if (m == 3 && q == s && ci_eq(q, "nan", 3)) {
            *out = NAN;
            return 0;
        }
        return -1;
    }
    uint64_t mant = 0;
    int ndig = 0, exp10 = 0;
    bool any = false, exact = true;
    for (; q < e && (st_tp_cls[(unsigned char)*q] & TP_DIGIT); q++) {
        any = true;
        if (mant == 0 && *q == '0') continue;
        if (ndig == 19) {
            exact = false;
            continue;
        }
        mant = mant * 10 + (uint64_t)(*q - '0');
        ndig++;
    }
    if (q < e && *q == '.') {
        for (q++; q < e && (st_tp_cls[(unsigned char)*q] & TP_DIGIT); q++) {
            any = true;
            if (ndig == 19) {
                exact = false;
                continue;
            }
            if (mant != 0 || *q != '0') {
                mant = mant * 10 + (uint64_t)(*q - '0');
                ndig++;
            }
            exp10--;
        }
    }
    if (!any) return -1;
    if (q < e && (*q | 0x20) == 'e') {
        q++;
        bool eneg = false;
        if (q < e && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q == e || !(st_tp_cls[(unsigned char)*q] & TP_DIGIT)) return -1;
        int x = 0;
        for (; q < e && (st_tp_cls[(unsigned char)*q] & TP_DIGIT); q++)
            if (x < 100000) x = x * 10 + (*q - '0');
        exp10 += eneg ? -x : x;
    }
    if (q != e) return -1;
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (exact && mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / exact_pow10[-exp10] : d * exact_pow10[exp10];
        *out = neg ? -d : d;
        return 0;
    }
    char small[64];
    char *copy = n < sizeof small ? small : malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, s, n);
    copy[n] = 0;
    double d = strtod(copy, NULL);
    if (copy != small) free(copy);
    if (isinf(d)) return -2;
    *out = d;
    return 0;
}

int st_tp_float(st_textparse_t *p, const char *s, size_t n, double *out) {
    int rc = go_parse_float(s, n, out);
    int shown = n > 40 ? 40 : (int)n;
    if (rc == -1) return st_tp_fail(p, s, "invalid number \"%.*s%s\"", shown, s, n > 40 ? "..." : "");
    if (rc == -2) return st_tp_fail(p, s, "number \"%.*s%s\" out of range", shown, s, n > 40 ? "..." : "");
    if (isnan(*out)) {
        /* Prometheus's value.NormalNaN; keeps the stale marker distinct */
        uint64_t bits = 0x7ff8000000000001ull;
        memcpy(out, &bits, sizeof bits);
    }
    return ST_OK;
}

/* ---- Content-Type ------------------------------------------------------
 *
 * Prometheus picks the OpenMetrics parser only when Go's
 * mime.ParseMediaType succeeds and the media type is
 * application/openmetrics-text; any parse error means text 0.0.4. So the
 * parameters are checked with ParseMediaType's rules: "; key=value" pairs,
 * keys are tokens, values tokens or quoted strings, a repeated key with a
 * different value is an error, one trailing ";" is fine. Content types
 * with more than 32 parameters are taken as 0.0.4.
 */

/* Length of the Unicode White_Space character (Go unicode.IsSpace) at s. */
static size_t uspace_len(const unsigned char *s, const unsigned char *e) {
    if (s >= e) return 0;
    if (*s == ' ' || (*s >= '\t' && *s <= '\r')) return 1;
    uint32_t cp;
    size_t k = *s >= 0x80 ? st_utf8_decode(s, (size_t)(e - s), &cp) : 0;
    if (!k) return 0;
    bool sp = cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
              cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
    return sp ? k : 0;
}

static const unsigned char *skip_uspace(const unsigned char *s, const unsigned char *e) {
    size_t k;
    while ((k = uspace_len(s, e))) s += k;
    return s;
}

static bool tspecial(unsigned char c) { return c && strchr("()<>@,;:\\\"/[]?=", c); }
static bool token_char(unsigned char c) { return c > 0x20 && c < 0x7f && !tspecial(c); }

typedef struct {
    const unsigned char *k, *v; /* v: raw value, quotes included when quoted */
    size_t klen, vlen;
} mparam_t;

/* Next byte of a decoded parameter value, or -1 at its end. */
static int pvalue_next(const mparam_t *m, size_t *i) {
    bool quoted = m->v[0] == '"';
    size_t end = quoted ? m->vlen - 1 : m->vlen;
    if (*i == 0 && quoted) *i = 1;
    if (*i >= end) return -1;
    if (quoted && m->v[*i] == '\\' && *i + 1 < end && tspecial(m->v[*i + 1])) (*i)++;
    return m->v[(*i)++];
}

static bool pvalue_eq(const mparam_t *a, const mparam_t *b) {
    size_t i = 0, j = 0;
    for (;;) {
        int x = pvalue_next(a, &i), y = pvalue_next(b, &j);
        if (x != y) return false;
        if (x < 0) return true;
    }
}

static bool media_params_ok(const unsigned char *v, const unsigned char *e) {
    mparam_t seen[32];
    size_t nseen = 0;
    for (;;) {
        v = skip_uspace(v, e);
        if (v == e) return true;
        const unsigned char *r = v;
        mparam_t m = {0};
        if (*r != ';') goto bad;
        r = skip_uspace(r + 1, e);
        m.k = r;
        while (r < e && token_char(*r)) r++;
        m.klen = (size_t)(r - m.k);
        if (!m.klen) goto bad;
        r = skip_uspace(r, e);
        if (r == e || *r != '=') goto bad;
        r = skip_uspace(r + 1, e);
        m.v = r;
        if (r < e && *r == '"') {
            for (r++;; r++) {
                if (r == e || *r == '\r' || *r == '\n') goto bad;
                if (*r == '"') break;
                if (*r == '\\' && r + 1 < e && tspecial(r[1])) r++;
            }
            r++;
        } else {
            while (r < e && token_char(*r)) r++;
            if (r == m.v) goto bad;
        }
        m.vlen = (size_t)(r - m.v);
        for (size_t i = 0; i < nseen; i++) {
            bool same_key =
                seen[i].klen == m.klen && strncasecmp((const char *)seen[i].k, (const char *)m.k, m.klen) == 0;
            if (same_key && !pvalue_eq(&seen[i], &m)) return false;
        }
        if (nseen == sizeof seen / sizeof seen[0]) return false;
        seen[nseen++] = m;
        v = r;
        continue;
    bad:
        /* Go ignores a lone trailing ";" and fails on anything else */
        return *v == ';' && skip_uspace(v + 1, e) == e;
    }
}

st_text_format_t st_text_format_from_content_type(const char *ct) {
    static const char om[] = "application/openmetrics-text";
    if (!ct) return ST_TEXT_PROM;
    const unsigned char *b = (const unsigned char *)ct, *e = b + strlen(ct);
    const unsigned char *semi = memchr(b, ';', (size_t)(e - b));
    const unsigned char *be = semi ? semi : e;
    b = skip_uspace(b, be);
    /* trim trailing white space (1- to 3-byte characters) */
    for (bool again = true; again;) {
        again = false;
        for (size_t k = 1; k <= 3 && (size_t)(be - b) >= k; k++)
            if (uspace_len(be - k, be) == k) {
                be -= k;
                again = true;
                break;
            }
    }
    if ((size_t)(be - b) != sizeof om - 1 || strncasecmp((const char *)b, om, sizeof om - 1) != 0)
        return ST_TEXT_PROM;
    return media_params_ok(be, e) ? ST_TEXT_OPENMETRICS : ST_TEXT_PROM;
}
