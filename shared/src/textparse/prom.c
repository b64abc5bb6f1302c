/*
 * Prometheus text format 0.0.4, as Prometheus 2.42's scraper reads it
 * (format reference §7.1, §7.2). Lines end with LF; the input need not end
 * with one.
 *
 *   line    = blank | comment | help | type | sample
 *   blank   = *WS
 *   comment = *WS "#" rest                     (not HELP/TYPE as below)
 *   help    = *WS "#" 1*WS "HELP" 1*WS name rest
 *   type    = *WS "#" 1*WS "TYPE" 1*WS name rest
 *   sample  = name *WS [ "{" labels "}" ] *WS value [ 1*WS 1*DIGIT ] *WS
 *   labels  = *WS *( lname *WS "=" *WS qvalue *WS [ "," ] *WS )
 *   name    = [a-zA-Z_:][a-zA-Z0-9_:]*     lname = [a-zA-Z_][a-zA-Z0-9_]*
 *   value   = 1*( any byte but "{" SP HTAB LF NUL )   WS = SP / HTAB
 *   qvalue  = DQUOTE *( "\" (any but LF) / any but "\" DQUOTE ) DQUOTE
 *
 * Quirks kept because they decide whether a scrape succeeds:
 *   - `rest` after a HELP/TYPE name: its first byte is dropped, whatever it
 *     is, and a rest of blanks only is empty. So `# TYPE x  counter` names
 *     the type " counter" (an error) and HELP text keeps trailing blanks.
 *   - blanks before a sample's name make the name invalid (Prometheus keeps
 *     them in __name__ and then rejects it); before "#" they are fine;
 *   - label separators are optional ({a="1" b="2"}) and a trailing comma
 *     is fine; a value may follow "}" or a name directly (`x-1` is x = -1);
 *   - label values may contain raw newlines;
 *   - only \\ \" \n are unescaped in label values, only \\ \n in HELP;
 *   - the timestamp is unsigned decimal digits (int64 milliseconds);
 *   - TYPE words: counter gauge histogram summary untyped (-> unknown).
 */
#include <string.h>

#include "strata/err.h"
#include "textparse_int.h"

static const char *line_end(const char *s, const char *e) {
    const char *nl = s < e ? memchr(s, '\n', (size_t)(e - s)) : NULL;
    return nl ? nl : e;
}

/* Finish a line that ends at `le` (LF or end of input). */
static void next_line(st_textparse_t *p, const char *le) {
    p->cur = le < p->end ? le + 1 : p->end;
    p->line++;
}

static int meta(st_textparse_t *p, const char *s, bool help) {
    const char *e = p->end;
    const char *kw = help ? "HELP" : "TYPE";
    if (s == e || !(st_tp_cls[(unsigned char)*s] & TP_NAME0))
        return st_tp_fail(p, s, "expected metric name after %s", kw);
    const char *name = s;
    while (++s < e && (st_tp_cls[(unsigned char)*s] & TP_NAMEC)) {}
    p->fam = name;
    p->fam_len = (size_t)(s - name);
    const char *le = line_end(s, e);
    /* a NUL right after the name is the end of input to Prometheus's
     * lexer, where it then misses the line break */
    if (s < le && *s == 0) return st_tp_fail(p, s, "linebreak expected after metadata");
    const char *text = s;
    if (tp_skip_blanks(s, le) == le) text = le;
    else text++;
    size_t tlen = (size_t)(le - text);
    int rc;
    if (help) {
        if ((rc = st_tp_check_utf8(p, text, text, tlen, "in help text")) ||
            (rc = st_tp_set_text(p, text, tlen, false)))
            return rc;
        next_line(p, le);
        return ST_TP_HELP;
    }
    static const struct { const char *w; st_metric_type_t t; } types[] = {
        {"counter", ST_METRIC_COUNTER}, {"gauge", ST_METRIC_GAUGE},     {"histogram", ST_METRIC_HISTOGRAM},
        {"summary", ST_METRIC_SUMMARY}, {"untyped", ST_METRIC_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i].w) == tlen && memcmp(types[i].w, text, tlen) == 0) {
            p->mtype = types[i].t;
            p->text = text;
            p->text_len = tlen;
            next_line(p, le);
            return ST_TP_TYPE;
        }
    }
    return st_tp_fail(p, text, "invalid metric type \"%.*s\"", tlen > 40 ? 40 : (int)tlen, text);
}

/* s at "#" */
static int comment(st_textparse_t *p, const char *s) {
    const char *e = p->end;
    const char *t = s + 1;
    if (t < e && (st_tp_cls[(unsigned char)*t] & TP_BLANK)) {
        t = tp_skip_blanks(t, e);
        if (e - t > 4 && (st_tp_cls[(unsigned char)t[4]] & TP_BLANK)) {
            if (memcmp(t, "HELP", 4) == 0) return meta(p, tp_skip_blanks(t + 4, e), true);
            if (memcmp(t, "TYPE", 4) == 0) return meta(p, tp_skip_blanks(t + 4, e), false);
        }
    }
    const char *le = line_end(s, e);
    p->text = s;
    p->text_len = (size_t)(le - s);
    next_line(p, le);
    return ST_TP_COMMENT;
}

static int sample(st_textparse_t *p, const char *s) {
    const char *e = p->end;
    const char *name = s;
    while (++s < e && (st_tp_cls[(unsigned char)*s] & TP_NAMEC)) {}
    p->labels[0] = (st_label_t){ST_METRIC_NAME, name, sizeof ST_METRIC_NAME - 1, (size_t)(s - name)};
    p->nlabels = 1;
    size_t nl = 0; /* newlines inside label values */
    int rc;
    s = tp_skip_blanks(s, e);
    if (s < e && *s == '{') {
        s++;
        for (;;) {
            s = tp_skip_blanks(s, e);
            if (s < e && *s == '}') {
                s++;
                break;
            }
            if (s == e || !(st_tp_cls[(unsigned char)*s] & TP_LNAME0))
                return st_tp_fail(p, s, "expected label name");
            const char *ln = s;
            while (++s < e && (st_tp_cls[(unsigned char)*s] & TP_LNAMEC)) {}
            size_t lnlen = (size_t)(s - ln);
            s = tp_skip_blanks(s, e);
            if (s == e || *s != '=') return st_tp_fail(p, s, "expected equal after label name");
            s = tp_skip_blanks(s + 1, e);
            if (s == e || *s != '"') return st_tp_fail(p, s, "expected quoted label value");
            const char *v;
            size_t vlen;
            bool esc;
            if ((rc = st_tp_qvalue(p, &s, true, &v, &vlen, &esc, &nl)) ||
                (rc = tp_add_label(p, ln, lnlen, v, vlen, esc)))
                return rc;
            s = tp_skip_blanks(s, e);
            if (s < e && *s == ',') s++;
        }
        s = tp_skip_blanks(s, e);
    }
    const char *num = s;
    while (s < e && !(st_tp_cls[(unsigned char)*s] & TP_VSTOP)) s++;
    if (s == num) return st_tp_fail(p, s, "expected value after metric");
    if ((rc = st_tp_float(p, num, (size_t)(s - num), &p->value))) return rc;
    s = tp_skip_blanks(s, e);
    if (s < e && *s != '\n') {
        if (!(st_tp_cls[(unsigned char)*s] & TP_DIGIT))
            return st_tp_fail(p, s, "expected timestamp or new record");
        const char *t = s;
        uint64_t ts = 0;
        for (; s < e && (st_tp_cls[(unsigned char)*s] & TP_DIGIT); s++) {
            uint64_t d = (uint64_t)(*s - '0');
            if (ts > ((uint64_t)INT64_MAX - d) / 10) return st_tp_fail(p, t, "timestamp out of range");
            ts = ts * 10 + d;
        }
        p->ts = (int64_t)ts;
        p->has_ts = true;
        s = tp_skip_blanks(s, e);
        if (s < e && *s != '\n') return st_tp_fail(p, s, "expected next entry after timestamp");
    }
    st_tp_settle_labels(p);
    next_line(p, s);
    p->line += nl;
    return ST_TP_SAMPLE;
}

int st_tp_prom_next(st_textparse_t *p) {
    const char *s = p->cur, *e = p->end;
    for (;;) {
        if (s == e || *s == 0) {
            /* NUL at the start of a line: Prometheus's lexer stops there */
            p->cur = e;
            return ST_TP_END;
        }
        p->line_start = s;
        p->entry_line = p->line;
        unsigned char c = (unsigned char)*s;
        if (st_tp_cls[c] & TP_NAME0) return sample(p, s);
        if (c == '\n') {
            s++;
            p->line++;
            continue;
        }
        if (c == '#') return comment(p, s);
        if (!(st_tp_cls[c] & TP_BLANK))
            return st_tp_fail(p, s, "expected a metric name or \"#\" at start of line");
        const char *t = tp_skip_blanks(s, e);
        if (t == e || *t == '\n' || *t == 0) {
            s = t;
            continue;
        }
        if (*t == '#') return comment(p, t);
        if (st_tp_cls[(unsigned char)*t] & TP_NAME0)
            return st_tp_fail(p, s, "blanks before the metric name (they would be part of it)");
        return st_tp_fail(p, t, "expected a metric name or \"#\" at start of line");
    }
}
