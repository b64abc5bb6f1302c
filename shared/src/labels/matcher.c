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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../promql/promql_int.h"
#include "strata/err.h"
#include "strata/regex.h"

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
    int rc = st_regex_check_bare(m->value, m->value_len);
    if (!rc) rc = st_regex_compile(&m->re, m->value, m->value_len);
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
 * Prometheus's parser.ParseMetricSelector: the PromQL lexer and the vector
 * selector rule of the PromQL parser (promql/), so selectors and queries
 * share one grammar, one string decoder and one set of error messages.
 * Added here: a selector must have a matcher that does not match "".
 */

int st_selector_parse(st_matchers_t *out, const char *s) {
    size_t len = strlen(s), sel_at = 0;
    int rc = pql_parse_metric_selector(s, len, out, &sel_at);
    if (rc) return rc;
    bool selective = false;
    for (size_t i = 0; i < out->n; i++) selective |= !out->v[i]->matches_empty;
    if (!selective) {
        st_matchers_free(out);
        return pql_error_at(s, len, sel_at, "vector selector must contain at least one non-empty matcher");
    }
    return ST_OK;
}
