/*
 * The PromQL lexer of Prometheus 2.42 (promql/parser/lex.go) as a C state
 * machine, plus the helpers its messages need.
 *
 * Modes: statements (the default), inside braces (only identifiers,
 * strings, matching operators, commas), and the duration that must follow
 * '['. Inside brackets any letter or ':' is a COLON token (so `[5m x]` is a
 * subquery in Prometheus too), a second one is an error. Keywords are
 * recognised case-insensitively, "inf" and "nan" are numbers. Strings are
 * checked with Go's escape rules here and decoded by pql_unquote.
 * Positions are byte offsets; runes are decoded as Go does (an invalid byte
 * is U+FFFD of width 1).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "promql_int.h"
#include "strata/err.h"
#include "strata/textfmt.h"

enum { S_STATEMENTS, S_BRACES, S_DURATION, S_DONE };

#define EOF_R 0xffffffffu
#define RUNE_ERROR 0xfffdu

static bool is_space(uint32_t r) { return r == ' ' || r == '\t' || r == '\n' || r == '\r'; }
static bool is_alpha(uint32_t r) { return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'); }
static bool is_digit(uint32_t r) { return r >= '0' && r <= '9'; }
static bool is_alnum(uint32_t r) { return is_alpha(r) || is_digit(r); }

static uint32_t next(pql_lexer_t *lx, size_t *width) {
    if (lx->pos >= lx->len) {
        *width = 0;
        return EOF_R;
    }
    uint32_t cp;
    size_t w = st_utf8_decode((const uint8_t *)lx->in + lx->pos, lx->len - lx->pos, &cp);
    if (w == 0) {
        w = 1;
        cp = RUNE_ERROR;
    }
    *width = w;
    lx->pos += w;
    return cp;
}

static uint32_t peek(pql_lexer_t *lx) {
    size_t w;
    uint32_t r = next(lx, &w);
    lx->pos -= w;
    return r;
}

static bool accept(pql_lexer_t *lx, const char *valid) {
    size_t w;
    uint32_t r = next(lx, &w);
    if (r != EOF_R && r != 0 && r < 0x80 && strchr(valid, (int)r)) return true;
    lx->pos -= w;
    return false;
}

static void accept_run(pql_lexer_t *lx, const char *valid) {
    while (accept(lx, valid)) {
    }
}

static void emit(pql_lexer_t *lx, pql_item_t *it, pql_tok_t t) {
    it->t = t;
    it->pos = lx->start;
    it->len = lx->pos - lx->start;
    lx->start = lx->pos;
}

static void errorf(pql_lexer_t *lx, pql_item_t *it, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errorf(pql_lexer_t *lx, pql_item_t *it, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->err, sizeof lx->err, fmt, ap);
    va_end(ap);
    it->t = PT_ERROR;
    it->pos = lx->start;
    it->len = 0;
    lx->state = S_DONE;
}

/* Go's %q of a string, bounded for a message. */
static void quote_text(char *out, size_t cap, const char *s, size_t n) {
    st_encbuf_t b;
    st_encbuf_init(&b, 4096);
    st_put_go_quote(&b, s, n > 100 ? 100 : n);
    snprintf(out, cap, "%.*s", b.err ? 0 : (int)b.len, b.p ? (const char *)b.p : "");
    st_encbuf_free(&b);
}

void pql_rune_q(char out[24], uint32_t r) {
    if (r == '\'') {
        snprintf(out, 24, "'\\''");
        return;
    }
    if (r == '"') {
        snprintf(out, 24, "'\"'");
        return;
    }
    if (r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) r = RUNE_ERROR;
    char u[4];
    size_t n;
    if (r < 0x80) {
        u[0] = (char)r, n = 1;
    } else if (r < 0x800) {
        u[0] = (char)(0xc0 | (r >> 6)), u[1] = (char)(0x80 | (r & 0x3f)), n = 2;
    } else if (r < 0x10000) {
        u[0] = (char)(0xe0 | (r >> 12)), u[1] = (char)(0x80 | ((r >> 6) & 0x3f)), u[2] = (char)(0x80 | (r & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (r >> 18)), u[1] = (char)(0x80 | ((r >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((r >> 6) & 0x3f)), u[3] = (char)(0x80 | (r & 0x3f));
        n = 4;
    }
    /* strconv.Quote and QuoteRune escape alike except for the quotes */
    char q[24];
    quote_text(q, sizeof q, u, n);
    size_t ql = strlen(q);
    if (ql >= 2) {
        q[0] = '\'';
        q[ql - 1] = '\'';
    }
    snprintf(out, 24, "%s", q);
}

void pql_rune_U(char out[32], uint32_t r) {
    char q[24];
    pql_rune_q(q, r);
    /* Go's %#U adds the rune itself, unescaped, when it is printable:
     * QuoteRune kept it as is (or escaped only because it is a quote) */
    if (q[1] != '\\' || r == '\\' || r == '\'') {
        char u[5] = {0};
        if (r < 0x80) u[0] = (char)r;
        else memcpy(u, q + 1, strlen(q) - 2 < 4 ? strlen(q) - 2 : 4);
        snprintf(out, 32, "U+%04X '%s'", (unsigned)r, u);
    } else {
        snprintf(out, 32, "U+%04X", (unsigned)r);
    }
}

static int digit_val(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return 16;
}

/* After a backslash in a quoted string; false after an error. */
static bool lex_escape(pql_lexer_t *lx, pql_item_t *it) {
    size_t w;
    uint32_t ch = next(lx, &w);
    int n;
    uint32_t base, max;
    char u[32];
    if (ch == lx->string_open || (ch < 0x80 && ch && strchr("abfnrtv\\", (int)ch))) return true;
    if (ch >= '0' && ch <= '7') {
        n = 3, base = 8, max = 255;
    } else if (ch == 'x' || ch == 'u' || ch == 'U') {
        n = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
        base = 16;
        max = ch == 'x' ? 255 : 0x10ffff;
        ch = next(lx, &w);
    } else if (ch == EOF_R) {
        errorf(lx, it, "escape sequence not terminated");
        return false;
    } else {
        pql_rune_U(u, ch);
        errorf(lx, it, "unknown escape sequence %s", u);
        return false;
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = (uint32_t)digit_val(ch);
        if (d >= base) {
            if (ch == EOF_R) {
                errorf(lx, it, "escape sequence not terminated");
            } else {
                pql_rune_U(u, ch);
                errorf(lx, it, "illegal character %s in escape sequence", u);
            }
            return false;
        }
        x = x * base + d;
        if (--n > 0) ch = next(lx, &w);
    }
    if (x > max || (x >= 0xd800 && x < 0xe000)) {
        errorf(lx, it, "escape sequence is an invalid Unicode code point");
        return false;
    }
    return true;
}

static void lex_string(pql_lexer_t *lx, pql_item_t *it) {
    for (;;) {
        size_t w;
        uint32_t r = next(lx, &w);
        if (r == '\\') {
            if (!lex_escape(lx, it)) return;
        } else if (r == RUNE_ERROR) {
            errorf(lx, it, "invalid UTF-8 rune");
            return;
        } else if (r == EOF_R || r == '\n') {
            errorf(lx, it, "unterminated quoted string");
            return;
        } else if (r == lx->string_open) {
            break;
        }
    }
    emit(lx, it, PT_STRING);
}

static void lex_raw_string(pql_lexer_t *lx, pql_item_t *it) {
    for (;;) {
        size_t w;
        uint32_t r = next(lx, &w);
        if (r == RUNE_ERROR) {
            errorf(lx, it, "invalid UTF-8 rune");
            return;
        }
        if (r == EOF_R) {
            errorf(lx, it, "unterminated raw string");
            return;
        }
        if (r == lx->string_open) break;
    }
    emit(lx, it, PT_STRING);
}

/* A number of any of Go's forms the lexer accepts; true when no letter or
 * digit follows it. */
static bool scan_number(pql_lexer_t *lx) {
    const char *digits = "0123456789";
    if (accept(lx, "0") && accept(lx, "xX")) digits = "0123456789abcdefABCDEF";
    accept_run(lx, digits);
    if (accept(lx, ".")) accept_run(lx, digits);
    if (accept(lx, "eE")) {
        accept(lx, "+-");
        accept_run(lx, "0123456789");
    }
    return !is_alnum(peek(lx));
}

/* The unit letters after a number, more number+unit pairs, and then no
 * letter or digit (consumed: the caller backs up). */
static bool accept_remaining_duration(pql_lexer_t *lx, size_t *last_w) {
    if (!accept(lx, "smhdwy")) return false;
    accept(lx, "s");
    while (accept(lx, "0123456789")) {
        while (accept(lx, "0123456789")) {
        }
        if (!accept(lx, "smhdw")) return false;
        accept(lx, "s");
    }
    return !is_alnum(next(lx, last_w));
}

static void lex_number_or_duration(pql_lexer_t *lx, pql_item_t *it) {
    if (scan_number(lx)) {
        emit(lx, it, PT_NUMBER);
        return;
    }
    size_t w;
    if (accept_remaining_duration(lx, &w)) {
        lx->pos -= w;
        emit(lx, it, PT_DURATION);
        return;
    }
    char q[128];
    quote_text(q, sizeof q, lx->in + lx->start, lx->pos - lx->start);
    errorf(lx, it, "bad number or duration syntax: %s", q);
}

static void lex_duration(pql_lexer_t *lx, pql_item_t *it) {
    lx->state = S_STATEMENTS;
    if (scan_number(lx)) {
        errorf(lx, it, "missing unit character in duration");
        return;
    }
    size_t w = 0;
    if (!accept_remaining_duration(lx, &w)) {
        char q[128];
        quote_text(q, sizeof q, lx->in + lx->start, lx->pos - lx->start);
        errorf(lx, it, "bad duration syntax: %s", q);
        return;
    }
    lx->pos -= w;
    emit(lx, it, PT_DURATION);
}

static const struct {
    const char *word;
    pql_tok_t t;
} keywords[] = {
    {"and", PT_LAND}, {"or", PT_LOR}, {"unless", PT_LUNLESS}, {"atan2", PT_ATAN2},
    {"sum", PT_SUM}, {"avg", PT_AVG}, {"count", PT_COUNT}, {"min", PT_MIN}, {"max", PT_MAX},
    {"group", PT_GROUP}, {"stddev", PT_STDDEV}, {"stdvar", PT_STDVAR}, {"topk", PT_TOPK},
    {"bottomk", PT_BOTTOMK}, {"count_values", PT_COUNT_VALUES}, {"quantile", PT_QUANTILE},
    {"offset", PT_OFFSET}, {"by", PT_BY}, {"without", PT_WITHOUT}, {"on", PT_ON}, {"ignoring", PT_IGNORING},
    {"group_left", PT_GROUP_LEFT}, {"group_right", PT_GROUP_RIGHT}, {"bool", PT_BOOL},
    {"start", PT_START}, {"end", PT_END}, {"inf", PT_NUMBER}, {"nan", PT_NUMBER},
};

static void lex_keyword_or_identifier(pql_lexer_t *lx, pql_item_t *it) {
    bool colon = false;
    while (lx->pos < lx->len) {
        unsigned char c = (unsigned char)lx->in[lx->pos];
        if (!is_alnum(c) && c != ':') break;
        colon |= c == ':';
        lx->pos++;
    }
    size_t n = lx->pos - lx->start;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
        if (strlen(keywords[i].word) == n && strncasecmp(keywords[i].word, lx->in + lx->start, n) == 0) {
            emit(lx, it, keywords[i].t);
            return;
        }
    }
    emit(lx, it, colon ? PT_METRIC_IDENT : PT_IDENT);
}

static void lex_line_comment(pql_lexer_t *lx, pql_item_t *it) {
    lx->pos++;
    size_t w;
    uint32_t r;
    do {
        r = next(lx, &w);
    } while (r != '\r' && r != '\n' && r != EOF_R);
    lx->pos -= w;
    emit(lx, it, PT_COMMENT);
}

static void skip_spaces(pql_lexer_t *lx) {
    while (is_space(peek(lx))) lx->pos++;
    lx->start = lx->pos;
}

/* One step of the statements mode; true when an item was produced. */
static bool lex_statements(pql_lexer_t *lx, pql_item_t *it) {
    if (lx->brace_open) {
        lx->state = S_BRACES;
        return false;
    }
    if (lx->pos < lx->len && lx->in[lx->pos] == '#') {
        lex_line_comment(lx, it);
        return true;
    }
    size_t w;
    uint32_t r = next(lx, &w), t;
    char q[24];
    switch (r) {
    case EOF_R:
        if (lx->paren_depth != 0) {
            errorf(lx, it, "unclosed left parenthesis");
        } else if (lx->bracket_open) {
            errorf(lx, it, "unclosed left bracket");
        } else {
            emit(lx, it, PT_EOF);
            lx->state = S_DONE;
        }
        return true;
    case ',': emit(lx, it, PT_COMMA); return true;
    case ' ': case '\t': case '\n': case '\r': skip_spaces(lx); return false;
    case '*': emit(lx, it, PT_MUL); return true;
    case '/': emit(lx, it, PT_DIV); return true;
    case '%': emit(lx, it, PT_MOD); return true;
    case '+': emit(lx, it, PT_ADD); return true;
    case '-': emit(lx, it, PT_SUB); return true;
    case '^': emit(lx, it, PT_POW); return true;
    case '=':
        t = peek(lx);
        if (t == '=') {
            lx->pos++;
            emit(lx, it, PT_EQLC);
        } else if (t == '~') {
            pql_rune_q(q, t);
            errorf(lx, it, "unexpected character after '=': %s", q);
        } else {
            emit(lx, it, PT_EQL);
        }
        return true;
    case '!':
        t = next(lx, &w);
        if (t == '=') {
            emit(lx, it, PT_NEQ);
        } else {
            pql_rune_q(q, t);
            errorf(lx, it, "unexpected character after '!': %s", q);
        }
        return true;
    case '<':
    case '>':
        if (peek(lx) == '=') {
            lx->pos++;
            emit(lx, it, r == '<' ? PT_LTE : PT_GTE);
        } else {
            emit(lx, it, r == '<' ? PT_LSS : PT_GTR);
        }
        return true;
    case '"':
    case '\'':
        lx->string_open = r;
        lex_string(lx, it);
        return true;
    case '`':
        lx->string_open = r;
        lex_raw_string(lx, it);
        return true;
    case '(':
        emit(lx, it, PT_LEFT_PAREN);
        lx->paren_depth++;
        return true;
    case ')':
        emit(lx, it, PT_RIGHT_PAREN);
        if (--lx->paren_depth < 0) errorf(lx, it, "unexpected right parenthesis ')'");
        return true;
    case '{':
        emit(lx, it, PT_LEFT_BRACE);
        lx->brace_open = true;
        lx->state = S_BRACES;
        return true;
    case '[':
        if (lx->bracket_open) {
            errorf(lx, it, "unexpected left bracket '['");
            return true;
        }
        lx->got_colon = false;
        emit(lx, it, PT_LEFT_BRACKET);
        skip_spaces(lx);
        lx->bracket_open = true;
        lx->state = S_DURATION;
        return true;
    case ']':
        if (!lx->bracket_open) {
            errorf(lx, it, "unexpected right bracket ']'");
            return true;
        }
        emit(lx, it, PT_RIGHT_BRACKET);
        lx->bracket_open = false;
        return true;
    case '@': emit(lx, it, PT_AT); return true;
    default: break;
    }
    if (is_digit(r) || (r == '.' && is_digit(peek(lx)))) {
        lx->pos -= w;
        lex_number_or_duration(lx, it);
        return true;
    }
    if (is_alpha(r) || r == ':') {
        if (!lx->bracket_open) {
            lx->pos -= w;
            lex_keyword_or_identifier(lx, it);
            return true;
        }
        if (lx->got_colon) {
            pql_rune_q(q, r);
            errorf(lx, it, "unexpected colon %s", q);
            return true;
        }
        emit(lx, it, PT_COLON);
        lx->got_colon = true;
        return true;
    }
    pql_rune_q(q, r);
    errorf(lx, it, "unexpected character: %s", q);
    return true;
}

static bool lex_inside_braces(pql_lexer_t *lx, pql_item_t *it) {
    if (lx->pos < lx->len && lx->in[lx->pos] == '#') {
        lex_line_comment(lx, it);
        return true;
    }
    size_t w;
    uint32_t r = next(lx, &w);
    char q[24];
    if (r == EOF_R) {
        errorf(lx, it, "unexpected end of input inside braces");
    } else if (is_space(r)) {
        skip_spaces(lx);
        return false;
    } else if (is_alpha(r)) {
        while (is_alnum(peek(lx))) lx->pos++;
        emit(lx, it, PT_IDENT);
    } else if (r == ',') {
        emit(lx, it, PT_COMMA);
    } else if (r == '"' || r == '\'') {
        lx->string_open = r;
        lex_string(lx, it);
    } else if (r == '`') {
        lx->string_open = r;
        lex_raw_string(lx, it);
    } else if (r == '=') {
        if (peek(lx) == '~') {
            lx->pos++;
            emit(lx, it, PT_EQL_REGEX);
        } else {
            emit(lx, it, PT_EQL);
        }
    } else if (r == '!') {
        uint32_t nr = next(lx, &w);
        if (nr == '~') {
            emit(lx, it, PT_NEQ_REGEX);
        } else if (nr == '=') {
            emit(lx, it, PT_NEQ);
        } else {
            pql_rune_q(q, nr);
            errorf(lx, it, "unexpected character after '!' inside braces: %s", q);
        }
    } else if (r == '{') {
        errorf(lx, it, "unexpected left brace '{'");
    } else if (r == '}') {
        emit(lx, it, PT_RIGHT_BRACE);
        lx->brace_open = false;
        lx->state = S_STATEMENTS;
    } else {
        pql_rune_q(q, r);
        errorf(lx, it, "unexpected character inside braces: %s", q);
    }
    return true;
}

void pql_lex_init(pql_lexer_t *lx, const char *in, size_t len) {
    memset(lx, 0, sizeof *lx);
    lx->in = in;
    lx->len = len;
    lx->state = S_STATEMENTS;
}

void pql_lex_next(pql_lexer_t *lx, pql_item_t *it) {
    for (;;) {
        switch (lx->state) {
        case S_DONE:
            it->t = PT_EOF;
            it->pos = lx->start;
            it->len = 0;
            return;
        case S_DURATION:
            lex_duration(lx, it);
            return;
        case S_BRACES:
            if (lex_inside_braces(lx, it)) return;
            break;
        default:
            if (lex_statements(lx, it)) return;
            break;
        }
    }
}

int pql_unquote(const char *tok, size_t toklen, char **out, size_t *outlen) {
    const char *s = tok + 1, *e = tok + toklen - 1;
    char q = tok[0];
    char *o = malloc(toklen);
    if (!o) return st_errorf(ST_ENOMEM, "promql: allocating a string");
    size_t n = 0;
    while (s < e) {
        if (q == '`' || *s != '\\') {
            o[n++] = *s++;
            continue;
        }
        char c = s[1];
        s += 2;
        const char *esc = strchr("a\ab\bf\fn\nr\rt\tv\v", c);
        if (esc && c && (esc - "a\ab\bf\fn\nr\rt\tv\v") % 2 == 0) {
            o[n++] = esc[1];
        } else if (c == '\\' || c == q) {
            o[n++] = c;
        } else {
            bool octal = c >= '0' && c <= '7';
            int digits = octal ? 2 : c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t x = octal ? (uint32_t)(c - '0') : 0;
            uint32_t base = octal ? 8 : 16;
            for (int i = 0; i < digits; i++) x = x * base + (uint32_t)digit_val((unsigned char)*s++);
            if (c != 'u' && c != 'U') {
                o[n++] = (char)x;
            } else if (x < 0x80) {
                o[n++] = (char)x;
            } else if (x < 0x800) {
                o[n++] = (char)(0xc0 | (x >> 6));
                o[n++] = (char)(0x80 | (x & 0x3f));
            } else if (x < 0x10000) {
                o[n++] = (char)(0xe0 | (x >> 12));
                o[n++] = (char)(0x80 | ((x >> 6) & 0x3f));
                o[n++] = (char)(0x80 | (x & 0x3f));
            } else {
                o[n++] = (char)(0xf0 | (x >> 18));
                o[n++] = (char)(0x80 | ((x >> 12) & 0x3f));
                o[n++] = (char)(0x80 | ((x >> 6) & 0x3f));
                o[n++] = (char)(0x80 | (x & 0x3f));
            }
        }
    }
    o[n] = 0;
    *out = o;
    *outlen = n;
    return ST_OK;
}

void pql_item_desc(st_encbuf_t *b, const char *in, const pql_item_t *it) {
    const char *v = in + it->pos;
    int n = (int)it->len;
    switch (it->t) {
    case PT_EOF: st_put_cstr(b, "end of input"); return;
    case PT_IDENT:
    case PT_METRIC_IDENT:
        st_put_cstr(b, it->t == PT_IDENT ? "identifier " : "metric identifier ");
        st_put_go_quote(b, v, it->len);
        return;
    case PT_AT:
        /* not in Prometheus's ItemTypeStr: its generated number shows */
        st_put_cstr(b, "\"<Item 57385>\" <op:@>");
        return;
    case PT_NUMBER:
    case PT_DURATION:
    case PT_STRING:
    case PT_COMMENT:
    case PT_ERROR:
        st_put_cstr(b, it->t == PT_NUMBER ? "number " : it->t == PT_DURATION ? "duration " :
                       it->t == PT_STRING ? "string " : it->t == PT_COMMENT ? "comment " : "error ");
        break;
    default: break;
    }
    if (it->t >= PT_ADD && it->t <= PT_ATAN2) {
        st_put_fmt(b, "<op:%.*s>", n, v);
    } else if (it->t >= PT_AVG && it->t <= PT_TOPK) {
        st_put_fmt(b, "<aggr:%.*s>", n, v);
    } else if (it->t >= PT_BOOL && it->t <= PT_WITHOUT) {
        st_put_fmt(b, "<%.*s>", n, v);
    } else {
        /* Go's %.10q: at most 10 runes of the text, then "..." */
        size_t runes = 0, i = 0;
        while (i < it->len && runes < 10) {
            uint32_t cp;
            size_t w = st_utf8_decode((const uint8_t *)v + i, it->len - i, &cp);
            i += w ? w : 1;
            runes++;
        }
        st_put_go_quote(b, v, i);
        if (i < it->len) st_put_cstr(b, "...");
    }
}

int pql_error_at(const char *in, size_t len, size_t pos, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pos > len) return st_errorf(ST_EINVAL, "invalid position: parse error: %s", msg);
    size_t line = 1, last_nl = (size_t)-1;
    for (size_t i = 0; i < pos; i++)
        if (in[i] == '\n') {
            line++;
            last_nl = i;
        }
    return st_errorf(ST_EINVAL, "%zu:%zu: parse error: %s", line, pos - last_nl, msg);
}
