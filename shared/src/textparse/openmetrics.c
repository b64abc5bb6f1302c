/*
 * OpenMetrics 1.0 text, as Prometheus 2.42's OpenMetrics parser reads it
 * (format reference §7.3). Every token is separated by exactly one space,
 * every line ends with LF, and the input ends with "# EOF" (plus an
 * optional LF) and nothing else:
 *
 *   exposition = *( meta / sample ) "# EOF" [ LF ]
 *   meta       = "# " ( "HELP" / "TYPE" / "UNIT" ) " " name " " text LF
 *   sample     = name [ "{" [ label *( "," label ) ] "}" ] " " value
 *                [ " " timestamp ] [ " # {" [ elabel *( "," elabel ) ] "}"
 *                " " value [ " " timestamp ] ] LF
 *   label      = lname "=" DQUOTE *( "\" (any but LF) / any but "\" DQUOTE LF ) DQUOTE
 *   value, timestamp = 1*( any byte but SP LF NUL ), parsed as a Go float
 *
 * Details that decide acceptance:
 *   - no blank lines, no other comments, no trailing comma in labels;
 *   - HELP text is unescaped like label values (\\ \" \n);
 *   - TYPE words: counter gauge histogram gaugehistogram summary info
 *     stateset unknown;
 *   - a non-empty UNIT must be a "_"-preceded suffix of the family name;
 *   - timestamps are float seconds; NaN/Inf are errors; milliseconds are
 *     Go's int64(s * 1000.0), truncating (on amd64 an out-of-range product
 *     gives INT64_MIN, which we reproduce);
 *   - an exemplar is only allowed on names ending in _total or _bucket; it
 *     is checked (label syntax, UTF-8, numbers) and dropped. Its label
 *     values are not unescaped and may not contain NUL.
 */
#include <math.h>
#include <string.h>

#include "strata/err.h"
#include "textparse_int.h"

static int64_t go_seconds_to_ms(double s) {
    double ms = s * 1000.0;
    if (!(ms >= -9223372036854775808.0 && ms < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)ms;
}

/* A value or timestamp token after the single space at *sp. */
static int number(st_textparse_t *p, const char **sp, const char *what, double *out) {
    const char *s = *sp, *e = p->end;
    if (s == e || *s != ' ') return st_tp_fail(p, s, "expected %s", what);
    const char *t = ++s;
    while (s < e && !(st_tp_cls[(unsigned char)*s] & TP_TSTOP)) s++;
    if (s == t) return st_tp_fail(p, s, "expected %s", what);
    *sp = s;
    return st_tp_float(p, t, (size_t)(s - t), out);
}

static int timestamp(st_textparse_t *p, const char **sp, int64_t *ms) {
    double v;
    const char *t = *sp + 1;
    int rc = number(p, sp, "timestamp", &v);
    if (rc) return rc;
    if (isnan(v) || isinf(v)) return st_tp_fail(p, t, "invalid timestamp");
    *ms = go_seconds_to_ms(v);
    return ST_OK;
}

/* The end of a line at s: LF required, end of input means "# EOF" is missing. */
static int end_of_line(st_textparse_t *p, const char *s) {
    if (s == p->end) return st_tp_fail(p, s, "data does not end with # EOF");
    if (*s != '\n') return st_tp_fail(p, s, "expected end of line");
    p->cur = s + 1;
    p->line++;
    return ST_OK;
}

/* Labels after "{" up to and including "}". Stored unless exemplar. */
static int labels(st_textparse_t *p, const char **sp, bool exemplar) {
    const char *s = *sp, *e = p->end;
    int rc;
    for (bool first = true;; first = false) {
        if (s < e && *s == '}') {
            *sp = s + 1;
            return ST_OK;
        }
        if (!first) {
            if (s == e || *s != ',') return st_tp_fail(p, s, "expected comma or \"}\" after label");
            s++;
        }
        if (s == e || !(st_tp_cls[(unsigned char)*s] & TP_LNAME0))
            return st_tp_fail(p, s, first ? "expected label name or \"}\"" : "expected label name");
        const char *ln = s;
        while (++s < e && (st_tp_cls[(unsigned char)*s] & TP_LNAMEC)) {}
        size_t lnlen = (size_t)(s - ln);
        if (s == e || *s != '=') return st_tp_fail(p, s, "expected equal after label name");
        if (++s == e || *s != '"') return st_tp_fail(p, s, "expected quoted label value");
        const char *v;
        size_t vlen, nl = 0;
        bool esc;
        if ((rc = st_tp_qvalue(p, &s, false, &v, &vlen, &esc, &nl))) return rc;
        if (exemplar) {
            const char *nul = memchr(v, 0, vlen);
            if (nul) return st_tp_fail(p, nul, "NUL in exemplar label value");
        } else if ((rc = tp_add_label(p, ln, lnlen, v, vlen, esc))) {
            return rc;
        }
    }
}

static bool has_suffix(const char *s, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* s just after " # {" */
static int exemplar(st_textparse_t *p, const char *s) {
    const char *name = p->labels[0].value;
    size_t nlen = p->labels[0].value_len;
    if (!has_suffix(name, nlen, "_total") && !has_suffix(name, nlen, "_bucket"))
        return st_tp_fail(p, s - 4, "metric name %.*s does not support exemplars", (int)nlen, name);
    int rc;
    double v;
    if ((rc = labels(p, &s, true)) || (rc = number(p, &s, "exemplar value", &v))) return rc;
    if (s < p->end && *s == ' ') {
        int64_t ms;
        if ((rc = timestamp(p, &s, &ms))) return rc;
    }
    return end_of_line(p, s);
}

static bool exemplar_start(const char *s, const char *e) {
    return e - s >= 3 && s[0] == ' ' && s[1] == '#' && s[2] == ' ';
}

static int sample(st_textparse_t *p, const char *s) {
    const char *e = p->end;
    const char *name = s;
    while (++s < e && (st_tp_cls[(unsigned char)*s] & TP_NAMEC)) {}
    p->labels[0] = (st_label_t){ST_METRIC_NAME, name, sizeof ST_METRIC_NAME - 1, (size_t)(s - name)};
    p->nlabels = 1;
    int rc;
    if (s < e && *s == '{') {
        s++;
        if ((rc = labels(p, &s, false))) return rc;
    }
    if ((rc = number(p, &s, "value after metric", &p->value))) return rc;
    if (s < e && *s == ' ' && !exemplar_start(s, e)) {
        if ((rc = timestamp(p, &s, &p->ts))) return rc;
        p->has_ts = true;
    }
    if (exemplar_start(s, e)) {
        /* Prometheus's lexer does not back off from " # " to a timestamp */
        if (e - s < 4 || s[3] != '{') return st_tp_fail(p, s + 3, "expected \"{\" to start an exemplar");
        rc = exemplar(p, s + 4);
    } else {
        rc = end_of_line(p, s);
    }
    if (rc) return rc;
    st_tp_settle_labels(p);
    return ST_TP_SAMPLE;
}

static int meta(st_textparse_t *p, const char *s, int kind) {
    static const char *const kw[] = {[ST_TP_HELP] = "HELP", [ST_TP_TYPE] = "TYPE", [ST_TP_UNIT] = "UNIT"};
    const char *e = p->end;
    if (s == e || !(st_tp_cls[(unsigned char)*s] & TP_NAME0))
        return st_tp_fail(p, s, "expected metric name after %s", kw[kind]);
    const char *name = s;
    while (++s < e && (st_tp_cls[(unsigned char)*s] & TP_NAMEC)) {}
    p->fam = name;
    p->fam_len = (size_t)(s - name);
    const char *le = s < e && *s == ' ' ? memchr(s, '\n', (size_t)(e - s)) : NULL;
    if (!le) return st_tp_fail(p, s, "expected text in %s", kw[kind]);
    const char *text = s + 1;
    size_t tlen = (size_t)(le - text);
    int rc;
    if (kind == ST_TP_HELP) {
        if ((rc = st_tp_check_utf8(p, text, text, tlen, "in help text")) ||
            (rc = st_tp_set_text(p, text, tlen, true)))
            return rc;
    } else if (kind == ST_TP_UNIT) {
        if (tlen && (p->fam_len < tlen + 1 || memcmp(name + p->fam_len - tlen, text, tlen) != 0 ||
                     name[p->fam_len - tlen - 1] != '_'))
            return st_tp_fail(p, text, "unit not a suffix of metric \"%.*s\"", (int)p->fam_len, name);
        p->text = text;
        p->text_len = tlen;
    } else {
        static const struct { const char *w; st_metric_type_t t; } types[] = {
            {"counter", ST_METRIC_COUNTER},     {"gauge", ST_METRIC_GAUGE},
            {"histogram", ST_METRIC_HISTOGRAM}, {"gaugehistogram", ST_METRIC_GAUGEHISTOGRAM},
            {"summary", ST_METRIC_SUMMARY},     {"info", ST_METRIC_INFO},
            {"stateset", ST_METRIC_STATESET},   {"unknown", ST_METRIC_UNKNOWN},
        };
        size_t i = 0;
        while (i < sizeof types / sizeof types[0] &&
               !(strlen(types[i].w) == tlen && memcmp(types[i].w, text, tlen) == 0))
            i++;
        if (i == sizeof types / sizeof types[0])
            return st_tp_fail(p, text, "invalid metric type \"%.*s\"", tlen > 40 ? 40 : (int)tlen, text);
        p->mtype = types[i].t;
        p->text = text;
        p->text_len = tlen;
    }
    p->cur = le + 1;
    p->line++;
    return kind;
}

int st_tp_om_next(st_textparse_t *p) {
    if (p->done) return ST_TP_END;
    const char *s = p->cur, *e = p->end;
    p->line_start = s;
    p->entry_line = p->line;
    if (s == e) return st_tp_fail(p, s, "data does not end with # EOF");
    if (st_tp_cls[(unsigned char)*s] & TP_NAME0) return sample(p, s);
    if (*s != '#' || e - s < 2 || s[1] != ' ') return st_tp_fail(p, s, "expected a metric name or \"# \"");
    const char *t = s + 2;
    static const struct { const char *w; int kind; } kws[] = {
        {"HELP ", ST_TP_HELP}, {"TYPE ", ST_TP_TYPE}, {"UNIT ", ST_TP_UNIT}};
    for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
        if (e - t >= 5 && memcmp(t, kws[i].w, 5) == 0) return meta(p, t + 5, kws[i].kind);
    if (e - t >= 3 && memcmp(t, "EOF", 3) == 0) {
        t += 3;
        if (t < e && *t == '\n') t++;
        if (t != e) return st_tp_fail(p, t, "unexpected data after # EOF");
        p->done = true;
        p->cur = e;
        return ST_TP_END;
    }
    return st_tp_fail(p, t, "expected HELP, TYPE, UNIT or EOF after \"# \"");
}
