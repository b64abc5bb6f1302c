/*
 * promql_int.h — the PromQL lexer and the pieces of the parser that the
 * series-selector parser (labels/matcher.c, st_selector_parse) shares.
 *
 * The lexer is Prometheus 2.42's promql/parser/lex.go state machine
 * rewritten in C: same tokens, same modes (statements, inside braces,
 * duration right after '['), same error texts, same positions.
 */
#ifndef STRATA_PROMQL_INT_H
#define STRATA_PROMQL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/buf.h"
#include "strata/matcher.h"
#include "strata/promql.h"

typedef enum {
    PT_ERROR, PT_EOF, PT_COMMENT, PT_IDENT, PT_METRIC_IDENT, PT_NUMBER, PT_DURATION, PT_STRING,
    PT_LEFT_PAREN, PT_RIGHT_PAREN, PT_LEFT_BRACE, PT_RIGHT_BRACE, PT_LEFT_BRACKET, PT_RIGHT_BRACKET,
    PT_COMMA, PT_EQL, PT_COLON,
    /* operators */
    PT_ADD, PT_SUB, PT_MUL, PT_DIV, PT_MOD, PT_POW, PT_EQLC, PT_NEQ, PT_GTE, PT_GTR, PT_LTE, PT_LSS,
    PT_EQL_REGEX, PT_NEQ_REGEX, PT_LAND, PT_LOR, PT_LUNLESS, PT_AT, PT_ATAN2,
    /* aggregators */
    PT_AVG, PT_BOTTOMK, PT_COUNT, PT_COUNT_VALUES, PT_GROUP, PT_MAX, PT_MIN, PT_QUANTILE, PT_STDDEV,
    PT_STDVAR, PT_SUM, PT_TOPK,
    /* keywords */
    PT_BOOL, PT_BY, PT_GROUP_LEFT, PT_GROUP_RIGHT, PT_IGNORING, PT_OFFSET, PT_ON, PT_WITHOUT,
    /* preprocessors */
    PT_START, PT_END
} pql_tok_t;

typedef struct {
    pql_tok_t t;
    size_t pos, len; /* bytes of the token in the input */
} pql_item_t;

typedef struct {
    const char *in;
    size_t len;
    size_t pos, start;
    int state; /* lexer.c's states */
    int paren_depth;
    bool brace_open, bracket_open, got_colon;
    uint32_t string_open; /* quote of the string being read */
    char err[160];        /* message of a PT_ERROR item */
} pql_lexer_t;

void pql_lex_init(pql_lexer_t *lx, const char *in, size_t len);
/* The next item, comments included. After PT_ERROR or PT_EOF every call
 * gives PT_EOF. */
void pql_lex_next(pql_lexer_t *lx, pql_item_t *it);

/* Decode a PT_STRING token (quotes included, already checked by the lexer)
 * into a malloc'd buffer with a NUL after *outlen bytes. */
int pql_unquote(const char *tok, size_t toklen, char **out, size_t *outlen);

/* Go's %q of a rune ('x', '\n', 'é', '\ufffd' for bad bytes) and %#U
 * (U+0071 'q'); out holds 24 and 32 bytes. */
void pql_rune_q(char out[24], uint32_t r);
void pql_rune_U(char out[32], uint32_t r);

/* The parser's description of an item in "unexpected ..." messages:
 * `identifier "foo"`, `<op:+>`, `"("`, `end of input`, ... */
void pql_item_desc(st_encbuf_t *b, const char *in, const pql_item_t *it);

/* Prometheus's "LINE:COL: parse error: MSG" for byte offset pos of in,
 * recorded as an ST_EINVAL detail. */
int pql_error_at(const char *in, size_t len, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ParseMetricSelector's grammar (a vector selector, nothing else): the
 * matchers as Prometheus orders them, ST_EINVAL with its message otherwise.
 * *sel_pos gets the selector's start. Used by st_selector_parse. */
int pql_parse_metric_selector(const char *in, size_t len, st_matchers_t *out, size_t *sel_pos);

#endif
