/*
 * textparse.h — pull parsers for the Prometheus text exposition format 0.0.4
 * and OpenMetrics 1.0 text, behaving like Prometheus 2.42's scrape parsers
 * (model/textparse promparse.go / openmetricsparse.go): what they accept we
 * accept, what fails a scrape there fails here, with "line:col" in the error.
 *
 * The parser reads a borrowed buffer and never writes it. Strings it
 * returns are borrowed from the buffer or from the parser's scratch space
 * (unescaped label values) and stay valid until the next call to
 * st_textparse_next().
 */
#ifndef STRATA_TEXTPARSE_H
#define STRATA_TEXTPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"

typedef enum { ST_TEXT_PROM = 0, ST_TEXT_OPENMETRICS = 1 } st_text_format_t;

typedef enum {
    ST_TP_END = 0,
    ST_TP_SAMPLE = 1,
    ST_TP_TYPE = 2,
    ST_TP_HELP = 3,
    ST_TP_UNIT = 4,
    ST_TP_COMMENT = 5
} st_tp_entry_t;

typedef enum {
    ST_METRIC_UNKNOWN = 0, ST_METRIC_COUNTER, ST_METRIC_GAUGE, ST_METRIC_HISTOGRAM,
    ST_METRIC_GAUGEHISTOGRAM, ST_METRIC_SUMMARY, ST_METRIC_INFO, ST_METRIC_STATESET
} st_metric_type_t;

#define ST_TEXTPARSE_MAX_LABELS 256

typedef struct st_textparse st_textparse_t;

/* Pick the format from a Content-Type header value (NULL/unknown -> 0.0.4),
 * as Prometheus does. */
st_text_format_t st_text_format_from_content_type(const char *content_type);

int st_textparse_new(st_textparse_t **out, st_text_format_t fmt, const char *buf, size_t len);
void st_textparse_free(st_textparse_t *p); /* NULL ok */

/* Next entry: > 0 an st_tp_entry_t, 0 at the end, < 0 on a parse error
 * (ST_ECORRUPT, detail "LINE:COL: ..."; ST_ELIMIT for a sample with more
 * than ST_TEXTPARSE_MAX_LABELS labels, __name__ included). After an error
 * the parser stays failed. OpenMetrics requires "# EOF" (its absence is an
 * error at the end). */
int st_textparse_next(st_textparse_t *p);

/* For ST_TP_SAMPLE: the series. labels[0] is __name__; the rest in input
 * order (NOT sorted, empty values NOT dropped: st_labels_from_pairs does
 * both). Borrowed. */
void st_textparse_labels(const st_textparse_t *p, const st_label_t **labels, size_t *n);
double st_textparse_value(const st_textparse_t *p);
/* Timestamp in ms when the sample had one (OpenMetrics seconds converted
 * as int64(s * 1000.0), truncating, like Prometheus). */
bool st_textparse_timestamp(const st_textparse_t *p, int64_t *ms);
/* For TYPE/HELP/UNIT: metric family name and the text / type. The text is
 * the unescaped help for HELP, the unit for UNIT, the type word for TYPE,
 * and for COMMENT the whole line from its "#". */
void st_textparse_family(const st_textparse_t *p, const char **name, size_t *len);
void st_textparse_help(const st_textparse_t *p, const char **text, size_t *len);
st_metric_type_t st_textparse_type(const st_textparse_t *p);
/* 1-based line of the current entry. */
size_t st_textparse_line(const st_textparse_t *p);

#endif
