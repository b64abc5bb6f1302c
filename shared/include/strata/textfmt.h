/*
 * textfmt.h — printing numbers, strings and label sets exactly as
 * Prometheus's Go code prints them, so Strata's output can be diffed
 * against promtool's and Prometheus's byte for byte.
 */
#ifndef STRATA_TEXTFMT_H
#define STRATA_TEXTFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/buf.h"
#include "strata/labels.h"

#define ST_FLOAT_BUF 40

/* Go fmt "%g" of a float64, as promtool tsdb dump prints values: shortest
 * round-trip digits; exponent form when the decimal exponent is < -4 or
 * >= 6 (Go's rule for shortest %g), at least two exponent digits:
 * "NaN", "+Inf", "-Inf", "1e+300", "0.5", "123456", "1.234567e+06". */
size_t st_fmt_go_g(char out[ST_FLOAT_BUF], double v);
/* A sample value as Prometheus's HTTP API writes it in JSON:
 * strconv.FormatFloat(v, 'f', -1, 64) (shortest digits, never an exponent),
 * and "NaN", "+Inf", "-Inf" (1e300 is 301 digits, hence a buffer).
 * st_fmt_prom_value writes it NUL-terminated into out, returns its length. */
void st_put_prom_value(st_encbuf_t *b, double v);
/* a sign, 309 integer digits, or "0." + 323 zeros + 17 digits; and a NUL */
#define ST_PROM_VALUE_BUF 350
size_t st_fmt_prom_value(char out[ST_PROM_VALUE_BUF], double v);
/* Append Go strconv.Quote(s): "..." with \" \\ \n \t \r \a \b \f \v, \xNN for
 * other bytes < 0x20, 0x7f and invalid UTF-8, \u/\U for non-printable runes. */
void st_put_go_quote(st_encbuf_t *b, const char *s, size_t len);
/* Append labels.Labels.String(): {a="b", c="d"} (names bare, values quoted). */
void st_put_labels_go(st_encbuf_t *b, const st_labels_t *l);

/* UTF-8 as Go's unicode/utf8 sees it (shared by the text parser, the
 * selector lexer and the quoting above): the length (1..4) of the valid
 * encoding at the start of s[0..n) with the code point in *cp, or 0 when
 * s starts with an invalid, overlong, surrogate or truncated sequence.
 * n must be > 0. */
size_t st_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
bool st_utf8_valid(const char *s, size_t n);

/* Prometheus text exposition (0.0.4) for /metrics pages:
 * "# HELP name help\n# TYPE name type\n", then "name{labels} value\n".
 * labels is preformatted ("{a=\"b\"}") or NULL; st_put_metric writes the
 * HELP/TYPE lines first unless help is NULL (later samples of a family). */
void st_put_metric_head(st_encbuf_t *b, const char *name, const char *type, const char *help);
void st_put_metric(st_encbuf_t *b, const char *name, const char *type, const char *help, const char *labels,
                   double v);

#endif
