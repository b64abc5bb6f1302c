/*
 * Label matchers and PromQL series selectors (see matcher.h).
 *
 * Regexes: Prometheus compiles "^(?:" + re + ")$" with Go's RE2. We compile
 * the same wrapped text with PCRE2 so that odd inputs such as `a)|(b` mean
 * what they mean there, with options that give Go's semantics where the two
 * engines differ in ways that change the result of a match:
 *   DOLLAR_ENDONLY   `$` is end of text, not also "before a final \n";
 *   ALT_CIRCUMFLEX   (?m)^ also matches after a trailing \n;
 *   newline = LF     `.` excludes exactly \n;
 *   MATCH_INVALID_UTF  values need not be valid UTF-8.
 * Known differences left: PCRE2 accepts constructs RE2 rejects (lookaround,
 * backreferences, possessive quantifiers, repeat counts > 1000), its \s also
 * matches \v, and an invalid UTF-8 byte matches nothing (RE2: U+FFFD).
 *
 * A compiled pattern is read-only and safe to share; pcre2_match_data is
 * not, so each thread keeps one (freed at thread exit).
 */
#include "strata/matcher.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "strata/regex.h"

#include "strata/buf.h"
#include "strata/err.h"
#include "strata/textfmt.h"

/* Regexes answered without PCRE2. */
typedef enum {
    RE_PCRE,      /* general case */
    RE_LITERAL,   /* no metacharacters: plain equality */
    RE_LINE,      /* .*  : any value without \n */
    RE_LINE1,     /* .+  : non-empty, without \n */
    RE_ANY,       /* (?s:.*) */
    RE_ANY1       /* (?s:.+) */
} re_kind_t;

struct st_matcher {
    st_match_type_t type;
    re_kind_t kind;
    bool matches_empty;
    pcre2_code *re;
    char *name;
    char *value;
    size_t value_len;
};

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_key;
static _Thread_local pcre2_match_data *md_cache;

static void md_destroy(void *md) { pcre2_match_data_free(md); }
static void md_key_init(void) { (void)pthread_key_create(&md_key, md_destroy); }

static pcre2_match_data *thread_match_data(void) {
    if (!md_cache) {
        pthread_once(&md_once, md_key_init);
        /* one pair is enough: only "matched or not" is needed */
        md_cache = pcre2_match_data_create(1, NULL);
        if (md_cache) pthread_setspecific(md_key, md_cache);
    }
    return md_cache;
}

static re_kind_t classify(const char *v, size_t n) {
    static const struct { const char *re; re_kind_t kind; } special[] = {
        {".*", RE_LINE}, {".+", RE_LINE1}, {"(?s:.*)", RE_ANY}, {"(?s:.+)", RE_ANY1},
        {"(?s).*", RE_ANY}, {"(?s).+", RE_ANY1},
    };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (strlen(special[i].re) == n && memcmp(special[i].re, v, n) == 0) return special[i].kind;
    for (size_t i = 0; i < n; i++)
        if (strchr("\\.+*?()|[]{}^$", v[i])) return RE_PCRE;
    return RE_LITERAL;
}

static int compile_regex(st_matcher_t *m) {
    int rc = st_regex_compile(&m->re, m->value, m->value_len);
    return rc ? st_errwrap(rc, "matcher %s", m->name) : ST_OK;
}

static bool regex_matches(const st_matcher_t *m, const char *s, size_t len) {
    switch (m->kind) {
    case RE_LITERAL: return len == m->value_len && memcmp(s, m->value, len) == 0;
    case RE_LINE: return memchr(s, '\n', len) == NULL;
    case RE_LINE1: return len > 0 && memchr(s, '\n', len) == NULL;
    case RE_ANY: return true;
    case RE_ANY1: return len > 0;
    case RE_PCRE: break;
    }
    pcre2_match_data *md = thread_match_data();
    if (!md) return false;
    /* >= 0: matched; NOMATCH or a resource limit: no match */
    return pcre2_match(m->re, (PCRE2_SPTR)(len ? s : ""), len, 0, 0, md, NULL) >= 0;
}

bool st_matcher_matches(const st_matcher_t *m, const char *value, size_t len) {
    switch (m->type) {
    case ST_MATCH_EQ: return len == m->value_len && memcmp(value, m->value, len) == 0;
    case ST_MATCH_NEQ: return !(len == m->value_len && memcmp(value, m->value, len) == 0);
    case ST_MATCH_RE: return regex_matches(m, value, len);
    case ST_MATCH_NRE: return !regex_matches(m, value, len);
    }
    return false;
}

static int matcher_new(st_matcher_t **out, st_match_type_t type, const char *name, size_t nlen,
                       const char *value, size_t vlen) {
    *out = NULL;
    if (type != ST_MATCH_EQ && type != ST_MATCH_NEQ && type != ST_MATCH_RE && type != ST_MATCH_NRE)
        return st_errorf(ST_EINVAL, "matcher %.*s: unknown match type %d", (int)nlen, name, (int)type);
    st_matcher_t *m = calloc(1, sizeof *m);
    if (m) m->name = malloc(nlen + 1);
    if (m && m->name) m->value = malloc(vlen + 1);
    if (!m || !m->name || !m->value) {
        st_matcher_free(m);
        return st_errorf(ST_ENOMEM, "matcher %.*s: allocating", (int)nlen, name);
    }
    m->type = type;
    memcpy(m->name, name, nlen);
    m->name[nlen] = 0;
    memcpy(m->value, value, vlen);
    m->value[vlen] = 0;
    m->value_len = vlen;
    if (type == ST_MATCH_RE || type == ST_MATCH_NRE) {
        /* compile even when a fast path will answer: a bad pattern must fail here */
        int rc = compile_regex(m);
        if (rc) {
            st_matcher_free(m);
            return rc;
        }
        m->kind = classify(value, vlen);
        if (m->kind != RE_PCRE) {
            pcre2_code_free(m->re);
            m->re = NULL;
        }
    }
    m->matches_empty = st_matcher_matches(m, "", 0);
    *out = m;
    return ST_OK;
}

int st_matcher_new(st_matcher_t **out, st_match_type_t type, const char *name, const char *value) {
    return matcher_new(out, type, name, strlen(name), value, strlen(value));
}

void st_matcher_free(st_matcher_t *m) {
    if (!m) return;
    pcre2_code_free(m->re);
    free(m->name);
    free(m->value);
    free(m);
}

st_match_type_t st_matcher_type(const st_matcher_t *m) { return m->type; }
const char *st_matcher_name(const st_matcher_t *m) { return m->name; }
const char *st_matcher_value(const st_matcher_t *m) { return m->value; }
bool st_matcher_matches_empty(const st_matcher_t *m) { return m->matches_empty; }

void st_matchers_free(st_matchers_t *ms) {
    if (!ms) return;
    for (size_t i = 0; i < ms->n; i++) st_matcher_free(ms->v[i]);
    free(ms->v);
    ms->v = NULL;
    ms->n = 0;
}

/* ---- series selector ------------------------------------------------------
 *
 * The subset of PromQL's lexer and grammar (2.42) that parser.
 * ParseMetricSelector goes through:
 *
 *   selector  = metric [ matchers ] | matchers
 *   metric    = [a-zA-Z_:][a-zA-Z0-9_:]*   (keywords: only those the grammar
 *               allows as metric_identifier, e.g. "sum", "by", "offset")
 *   matchers  = "{" [ matcher *( "," matcher ) [ "," ] ] "}"
 *   matcher   = [a-zA-Z_][a-zA-Z0-9_]* ( "=" | "!=" | "=~" | "!~" ) string
 *   string    = "..." | '...' (Go escapes) | `...` (raw)
 *
 * Blanks (space, tab, CR, LF) and "#" comments between tokens. The name
 * matcher is appended after the braced ones, as Prometheus does. Errors
 * read "LINE:COL: parse error: ..." with Prometheus's positions and, where
 * practical, its wording.
 */

typedef enum {
    T_EOF, T_IDENT, T_METRIC_IDENT, T_KEYWORD, T_LBRACE, T_RBRACE, T_COMMA, T_EQL, T_NEQ, T_EQL_RE, T_NEQ_RE,
    T_STRING, T_NUMBER, T_PUNCT
} tok_t;

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    bool in_braces;
    tok_t t;
    size_t start, end; /* current token */
    bool kw_metric;    /* T_KEYWORD usable as a metric name */
    const char *kw_kind; /* "aggr:", "op:" or "" for the error text */
} lexer_t;

static int sel_error(const lexer_t *lx, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sel_error(const lexer_t *lx, size_t pos, const char *fmt, ...) {
    size_t line = 1, last_nl = (size_t)-1;
    for (size_t i = 0; i < pos && i < lx->len; i++)
        if (lx->s[i] == '\n') {
            line++;
            last_nl = i;
        }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return st_errorf(ST_EINVAL, "%zu:%zu: parse error: %s", line, pos - last_nl, msg);
}

static bool is_alpha(int c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Go's %q of a rune, as the lexer's messages print it. */
static void rune_q(char out[16], uint32_t r) {
    if (r == '\'' || r == '\\') snprintf(out, 16, "'\\%c'", (char)r);
    else if (r >= 0x20 && r < 0x7f) snprintf(out, 16, "'%c'", (char)r);
    else if (r < 0x80) snprintf(out, 16, "'\\x%02x'", (unsigned)r);
    else snprintf(out, 16, r < 0x10000 ? "'\\u%04x'" : "'\\U%08x'", (unsigned)r);
}

/* Go's %#U: U+0071 'q' (the character only when printable ASCII here). */
static void rune_U(char out[24], uint32_t r) {
    if (r >= 0x20 && r < 0x7f) snprintf(out, 24, "U+%04X '%c'", (unsigned)r, (char)r);
    else snprintf(out, 24, "U+%04X", (unsigned)r);
}

/* Decode the rune at pos (0 past the end, U+FFFD for invalid bytes, as Go's
 * lexer sees them); *w gets its width. */
static uint32_t rune_at(const lexer_t *lx, size_t pos, size_t *w) {
    if (pos >= lx->len) {
        *w = 0;
        return 0;
    }
    uint32_t cp;
    size_t k = st_utf8_decode((const uint8_t *)lx->s + pos, lx->len - pos, &cp);
    *w = k ? k : 1;
    return k ? cp : 0xfffd;
}

static int hexval(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return 16;
}

/* Check a quoted string starting at lx->pos (the quote) the way the PromQL
 * lexer does; leaves lx->pos after the closing quote. */
static int lex_string(lexer_t *lx) {
    size_t start = lx->pos;
    char q = lx->s[lx->pos++];
    for (;;) {
        size_t w;
        if (lx->pos >= lx->len)
            return sel_error(lx, start, q == '`' ? "unterminated raw string" : "unterminated quoted string");
        uint32_t r = rune_at(lx, lx->pos, &w);
        lx->pos += w;
        /* Go's lexer cannot tell a bad byte from a literal U+FFFD: both fail */
        if (r == 0xfffd) return sel_error(lx, start, "invalid UTF-8 rune");
        if (r == (uint32_t)(unsigned char)q) return ST_OK;
        if (q == '`') continue;
        if (r == '\n') return sel_error(lx, start, "unterminated quoted string");
        if (r != '\\') continue;
        uint32_t ch = rune_at(lx, lx->pos, &w);
        if (w == 0) return sel_error(lx, start, "escape sequence not terminated");
        lx->pos += w;
        int n;
        uint32_t base, max;
        if (ch == (uint32_t)(unsigned char)q || (ch && ch < 0x80 && strchr("abfnrtv\\", (int)ch))) continue;
        if (ch >= '0' && ch <= '7') {
            n = 3, base = 8, max = 255;
        } else if (ch == 'x' || ch == 'u' || ch == 'U') {
            n = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
            base = 16;
            max = ch == 'x' ? 255 : 0x10ffff;
            ch = rune_at(lx, lx->pos, &w);
            lx->pos += w;
        } else {
            char u[24];
            rune_U(u, ch);
            return sel_error(lx, start, "unknown escape sequence %s", u);
        }
        uint32_t x = 0;
        for (;;) {
            uint32_t d = (uint32_t)hexval(ch);
            if (d >= base) {
                if (w == 0) return sel_error(lx, start, "escape sequence not terminated");
                char u[24];
                rune_U(u, ch);
                return sel_error(lx, start, "illegal character %s in escape sequence", u);
            }
            x = x * base + d;
            if (--n == 0) break;
            ch = rune_at(lx, lx->pos, &w);
            lx->pos += w;
        }
        if (x > max || (x >= 0xd800 && x < 0xe000))
            return sel_error(lx, start, "escape sequence is an invalid Unicode code point");
    }
}

static const struct { const char *word; bool metric; const char *kind; } keywords[] = {
    {"and", true, "op:"},     {"or", true, "op:"},        {"unless", true, "op:"},   {"atan2", false, "op:"},
    {"sum", true, "aggr:"},   {"avg", true, "aggr:"},     {"count", true, "aggr:"},  {"min", true, "aggr:"},
    {"max", true, "aggr:"},   {"group", true, "aggr:"},   {"stddev", true, "aggr:"}, {"stdvar", true, "aggr:"},
    {"topk", true, "aggr:"},  {"bottomk", true, "aggr:"}, {"count_values", true, "aggr:"},
    {"quantile", true, "aggr:"}, {"offset", true, ""},    {"by", true, ""},          {"without", true, ""},
    {"on", false, ""},        {"ignoring", false, ""},    {"group_left", false, ""}, {"group_right", false, ""},
    {"bool", false, ""},      {"start", true, ""},        {"end", true, ""},
};

/* Next token into lx->t/start/end, or a lexer error. */
static int lex_next(lexer_t *lx) {
    for (;;) {
        while (lx->pos < lx->len && is_space((unsigned char)lx->s[lx->pos])) lx->pos++;
        if (lx->pos < lx->len && lx->s[lx->pos] == '#') {
            while (lx->pos < lx->len && lx->s[lx->pos] != '\n' && lx->s[lx->pos] != '\r') lx->pos++;
            continue;
        }
        break;
    }
    lx->start = lx->pos;
    if (lx->pos >= lx->len) {
        if (lx->in_braces) return sel_error(lx, lx->pos, "unexpected end of input inside braces");
        lx->t = T_EOF;
        lx->end = lx->pos;
        return ST_OK;
    }
    unsigned char c = (unsigned char)lx->s[lx->pos];
    int rc = ST_OK;
    if (c == '"' || c == '\'' || c == '`') {
        rc = lex_string(lx);
        lx->t = T_STRING;
    } else if (c == ',') {
        lx->pos++;
        lx->t = T_COMMA;
    } else if (lx->in_braces) {
        char nxt = lx->pos + 1 < lx->len ? lx->s[lx->pos + 1] : 0;
        if (is_alpha(c)) {
            while (lx->pos < lx->len && (is_alpha((unsigned char)lx->s[lx->pos]) ||
                                         is_digit((unsigned char)lx->s[lx->pos])))
                lx->pos++;
            lx->t = T_IDENT;
        } else if (c == '=') {
            lx->pos += nxt == '~' ? 2 : 1;
            lx->t = nxt == '~' ? T_EQL_RE : T_EQL;
        } else if (c == '!' && (nxt == '~' || nxt == '=')) {
            lx->pos += 2;
            lx->t = nxt == '~' ? T_NEQ_RE : T_NEQ;
        } else if (c == '}') {
            lx->pos++;
            lx->t = T_RBRACE;
            lx->in_braces = false;
        } else {
            size_t w;
            char q[16];
            if (c == '!') {
                rune_q(q, rune_at(lx, lx->pos + 1, &w));
                return sel_error(lx, lx->start, "unexpected character after '!' inside braces: %s", q);
            }
            if (c == '{') return sel_error(lx, lx->start, "unexpected left brace '{'");
            rune_q(q, rune_at(lx, lx->pos, &w));
            return sel_error(lx, lx->start, "unexpected character inside braces: %s", q);
        }
    } else if (is_alpha(c) || c == ':') {
        bool colon = false;
        while (lx->pos < lx->len) {
            unsigned char d = (unsigned char)lx->s[lx->pos];
            if (!is_alpha(d) && !is_digit(d) && d != ':') break;
            colon |= d == ':';
            lx->pos++;
        }
        lx->t = colon ? T_METRIC_IDENT : T_IDENT;
        size_t n = lx->pos - lx->start;
        for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
            if (strlen(keywords[i].word) == n && strncasecmp(keywords[i].word, lx->s + lx->start, n) == 0) {
                lx->t = T_KEYWORD;
                lx->kw_metric = keywords[i].metric;
                lx->kw_kind = keywords[i].kind;
                break;
            }
        }
    } else if (c == '{') {
        lx->pos++;
        lx->t = T_LBRACE;
        lx->in_braces = true;
    } else if (is_digit(c) ||
               (c == '.' && lx->pos + 1 < lx->len && is_digit((unsigned char)lx->s[lx->pos + 1]))) {
        /* a number or duration: only ever "unexpected" in a selector */
        while (lx->pos < lx->len && (is_alpha((unsigned char)lx->s[lx->pos]) ||
                                     is_digit((unsigned char)lx->s[lx->pos]) || lx->s[lx->pos] == '.'))
            lx->pos++;
        lx->t = T_NUMBER;
    } else if (c == '!' || (c == '=' && lx->pos + 1 < lx->len && lx->s[lx->pos + 1] == '~')) {
        size_t w;
        char q[16];
        if (c == '!' && lx->pos + 1 < lx->len && lx->s[lx->pos + 1] == '=') {
            lx->pos += 2;
            lx->t = T_PUNCT;
        } else {
            rune_q(q, rune_at(lx, lx->pos + 1, &w));
            return sel_error(lx, lx->start, "unexpected character after '%c': %s", c, q);
        }
    } else if (strchr("()[]*/%+-^<>=@", c)) {
        lx->pos++;
        lx->t = T_PUNCT;
    } else {
        size_t w;
        char q[16];
        rune_q(q, rune_at(lx, lx->pos, &w));
        return sel_error(lx, lx->start, "unexpected character: %s", q);
    }
    lx->end = lx->pos;
    return rc;
}

/* The grammar's "unexpected <token>[ in CONTEXT][, expected WHAT]". */
static int unexpected(const lexer_t *lx, const char *context, const char *expected) {
    st_encbuf_t d;
    st_encbuf_init(&d, 4096);
    const char *tok = lx->s + lx->start;
    int n = (int)(lx->end - lx->start);
    switch (lx->t) {
    case T_EOF: st_put_cstr(&d, "end of input"); break;
    case T_IDENT: st_put_fmt(&d, "identifier \"%.*s\"", n, tok); break;
    case T_METRIC_IDENT: st_put_fmt(&d, "metric identifier \"%.*s\"", n, tok); break;
    case T_KEYWORD: st_put_fmt(&d, "<%s%.*s>", lx->kw_kind, n, tok); break;
    case T_NUMBER: st_put_fmt(&d, "number \"%.*s\"", n, tok); break;
    case T_STRING:
        st_put_cstr(&d, "string ");
        st_put_go_quote(&d, tok, lx->end - lx->start);
        break;
    default: st_put_fmt(&d, "\"%.*s\"", n, tok); break;
    }
    int rc = sel_error(lx, lx->start, "unexpected %.*s%s%s%s%s", d.err ? 0 : (int)d.len,
                       d.p ? (const char *)d.p : "", *context ? " in " : "", context,
                       *expected ? ", expected " : "", expected);
    st_encbuf_free(&d);
    return rc;
}

/* Decode a string token checked by lex_string (escapes only shrink). */
static int unquote(const lexer_t *lx, char **out, size_t *outlen) {
    const char *s = lx->s + lx->start + 1, *e = lx->s + lx->end - 1;
    char q = s[-1];
    char *o = malloc((size_t)(e - s) + 1);
    if (!o) return st_errorf(ST_ENOMEM, "selector: allocating a string");
    size_t n = 0;
    while (s < e) {
        if (q == '`' || *s != '\\') {
            o[n++] = *s++;
            continue;
        }
        char c = s[1];
        s += 2;
        const char *esc = strchr("a\ab\bf\fn\nr\rt\tv\v", c);
        if (esc && c) {
            o[n++] = esc[1];
        } else if (c == '\\' || c == q) {
            o[n++] = c;
        } else {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 2;
            uint32_t x = c >= '0' && c <= '7' ? (uint32_t)(c - '0') : 0;
            int base = c >= '0' && c <= '7' ? 8 : 16;
            for (int i = 0; i < digits; i++) x = x * (uint32_t)base + (uint32_t)hexval((unsigned char)*s++);
            if (c == 'u' || c == 'U') {
                /* UTF-8 encode */
                if (x < 0x80) {
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
            } else {
                o[n++] = (char)x;
            }
        }
    }
    o[n] = 0;
    if (memchr(o, 0, n)) {
        free(o);
        return sel_error(lx, lx->start, "NUL bytes in strings are not supported");
    }
    *out = o;
    *outlen = n;
    return ST_OK;
}

static int push(st_matchers_t *ms, size_t *cap, st_matcher_t *m) {
    if (ms->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        st_matcher_t **nv = realloc(ms->v, ncap * sizeof *nv);
        if (!nv) {
            st_matcher_free(m);
            return st_errorf(ST_ENOMEM, "selector: allocating matchers");
        }
        ms->v = nv;
        *cap = ncap;
    }
    ms->v[ms->n++] = m;
    return ST_OK;
}

/* After "{": matchers up to and including "}". */
static int parse_matchers(lexer_t *lx, st_matchers_t *ms, size_t *cap) {
    int rc = lex_next(lx);
    if (rc) return rc;
    if (lx->t == T_RBRACE) return ST_OK;
    for (;;) {
        if (lx->t != T_IDENT) return unexpected(lx, "label matching", "identifier or \"}\"");
        size_t name_at = lx->start, name_len = lx->end - lx->start;
        if ((rc = lex_next(lx))) return rc;
        st_match_type_t type;
        switch (lx->t) {
        case T_EQL: type = ST_MATCH_EQ; break;
        case T_NEQ: type = ST_MATCH_NEQ; break;
        case T_EQL_RE: type = ST_MATCH_RE; break;
        case T_NEQ_RE: type = ST_MATCH_NRE; break;
        default: return unexpected(lx, "label matching", "label matching operator");
        }
        if ((rc = lex_next(lx))) return rc;
        if (lx->t != T_STRING) return unexpected(lx, "label matching", "string");
        char *val = NULL;
        size_t vlen = 0;
        if ((rc = unquote(lx, &val, &vlen))) return rc;
        st_matcher_t *m;
        rc = matcher_new(&m, type, lx->s + name_at, name_len, val, vlen);
        free(val);
        if (rc == ST_EINVAL) {
            char detail[512];
            snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
            return sel_error(lx, name_at, "%s", detail);
        }
        if (rc || (rc = push(ms, cap, m))) return rc;
        if ((rc = lex_next(lx))) return rc;
        if (lx->t == T_RBRACE) return ST_OK;
        if (lx->t != T_COMMA) return unexpected(lx, "label matching", "\",\" or \"}\"");
        if ((rc = lex_next(lx))) return rc;
        if (lx->t == T_RBRACE) return ST_OK;
    }
}

int st_selector_parse(st_matchers_t *out, const char *s) {
    out->v = NULL;
    out->n = 0;
    size_t cap = 0;
    lexer_t lx = {.s = s, .len = strlen(s)};
    size_t name_at = 0, name_len = 0;
    int rc = lex_next(&lx);
    if (rc) goto out;
    size_t sel_at = lx.start;
    if (lx.t == T_IDENT || lx.t == T_METRIC_IDENT || (lx.t == T_KEYWORD && lx.kw_metric)) {
        name_at = lx.start;
        name_len = lx.end - lx.start;
        if ((rc = lex_next(&lx))) goto out;
        if (lx.t == T_LBRACE && ((rc = parse_matchers(&lx, out, &cap)) || (rc = lex_next(&lx)))) goto out;
    } else if (lx.t == T_LBRACE) {
        if ((rc = parse_matchers(&lx, out, &cap)) || (rc = lex_next(&lx))) goto out;
    } else {
        rc = unexpected(&lx, "", "");
        goto out;
    }
    if (lx.t != T_EOF) {
        rc = unexpected(&lx, "", "");
        goto out;
    }
    if (name_len) {
        st_matcher_t *m;
        if ((rc = matcher_new(&m, ST_MATCH_EQ, "__name__", 8, s + name_at, name_len)) ||
            (rc = push(out, &cap, m)))
            goto out;
    }
    bool selective = false;
    for (size_t i = 0; i < out->n; i++) selective |= !out->v[i]->matches_empty;
    if (!selective) rc = sel_error(&lx, sel_at, "vector selector must contain at least one non-empty matcher");
out:
    if (rc) st_matchers_free(out);
    return rc;
}
