/* Internals shared by the two text parsers (textparse.c, prom.c,
 * openmetrics.c). Not part of the public API. */
#ifndef STRATA_TEXTPARSE_INT_H
#define STRATA_TEXTPARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/textparse.h"

/* Byte classes (st_tp_cls). */
enum {
    TP_NAME0 = 1 << 0,  /* [a-zA-Z_:]  first byte of a metric name */
    TP_NAMEC = 1 << 1,  /* [a-zA-Z0-9_:] */
    TP_LNAME0 = 1 << 2, /* [a-zA-Z_]   first byte of a label name */
    TP_LNAMEC = 1 << 3, /* [a-zA-Z0-9_] */
    TP_BLANK = 1 << 4,  /* space, tab */
    TP_VSTOP = 1 << 5,  /* ends a 0.0.4 value: '{' space tab LF NUL */
    TP_TSTOP = 1 << 6,  /* ends an OpenMetrics value/timestamp: space LF NUL */
    TP_DIGIT = 1 << 7
};
extern const uint8_t st_tp_cls[256];

struct st_textparse {
    const char *cur;   /* start of the next line */
    const char *end;
    size_t line;       /* 1-based line number at cur */
    st_text_format_t fmt;
    int err;           /* sticky error code */
    bool done;         /* OpenMetrics: "# EOF" seen */

    /* the current entry */
    const char *line_start;
    size_t entry_line;
    st_label_t labels[ST_TEXTPARSE_MAX_LABELS];
    size_t nlabels;
    double value;
    int64_t ts;
    bool has_ts;
    const char *fam;
    size_t fam_len;
    const char *text;
    size_t text_len;
    st_metric_type_t mtype;

    /* Unescaped label values and help text of the current entry. Values
     * are placed by offset and pointed to only once the line is complete,
     * because the buffer may move while it grows. */
    char *scratch;
    size_t scratch_len, scratch_cap;
    size_t scratch_off[ST_TEXTPARSE_MAX_LABELS];
    size_t pending; /* labels whose value is still only an offset */
};

static inline const char *tp_skip_blanks(const char *s, const char *e) {
    while (s < e && (st_tp_cls[(unsigned char)*s] & TP_BLANK)) s++;
    return s;
}

/* Fail the parser at byte `at` of the current entry: sets the sticky error
 * (ST_ECORRUPT) with "LINE:COL: ..." and returns it. */
int st_tp_fail(st_textparse_t *p, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parse a sample value as Prometheus does (Go strconv.ParseFloat without
 * hex floats or '_'); NaN becomes Prometheus's normal NaN. Fails p. */
int st_tp_float(st_textparse_t *p, const char *s, size_t n, double *out);
/* Fails p (ST_ELIMIT) at `at`: the label limit is reached. */
int st_tp_too_many_labels(st_textparse_t *p, const char *at);
/* Unescape the raw value of label i into the scratch buffer. */
int st_tp_unescape_label(st_textparse_t *p, size_t i);

/* Append a label; when `escaped` its raw value [v, v+vlen) holds a
 * backslash and is unescaped (\\ \" \n; other escapes stay as written).
 * Fails p (ST_ELIMIT) beyond ST_TEXTPARSE_MAX_LABELS labels. */
static inline int tp_add_label(st_textparse_t *p, const char *name, size_t nlen, const char *v, size_t vlen,
                               bool escaped) {
    if (p->nlabels == ST_TEXTPARSE_MAX_LABELS) return st_tp_too_many_labels(p, name);
    st_label_t *l = &p->labels[p->nlabels++];
    l->name = name;
    l->name_len = nlen;
    l->value = v;
    l->value_len = vlen;
    return escaped ? st_tp_unescape_label(p, p->nlabels - 1) : 0;
}

/* A quoted label value with *sp at its opening quote: DQUOTE *( "\" any
 * byte but LF / any byte but DQUOTE "\" [LF] ) DQUOTE, LF allowed only
 * when `multiline` (text 0.0.4), valid UTF-8. On success *sp is past the
 * closing quote, [*v, *v + *vlen) the raw value, *esc tells whether it
 * holds a backslash and *nl counts its raw newlines. Fails p otherwise. */
int st_tp_qvalue(st_textparse_t *p, const char **sp, bool multiline, const char **v, size_t *vlen, bool *esc,
                 size_t *nl);

/* Point pending labels at their unescaped values; call when the line is done. */
void st_tp_settle_labels(st_textparse_t *p);
/* Set p->text to s with \\ and \n (and \" when quote) unescaped. */
int st_tp_set_text(st_textparse_t *p, const char *s, size_t n, bool quote);
/* Is [s, s+n) valid UTF-8? Fails p at `at` with `what` if not. */
int st_tp_check_utf8(st_textparse_t *p, const char *at, const char *s, size_t n, const char *what);

int st_tp_prom_next(st_textparse_t *p);
int st_tp_om_next(st_textparse_t *p);

#endif
