/*
 * matcher.h — label matchers (=, !=, =~, !~) and series selectors.
 *
 * Regex matchers are fully anchored like Prometheus (the pattern must match
 * the whole value) and compiled with PCRE2 (JIT when available). Dot does
 * not match newline unless the pattern says (?s), as in Go's RE2.
 */
#ifndef STRATA_MATCHER_H
#define STRATA_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ST_MATCH_EQ = 0, /* values as in prompb/storepb LabelMatcher.Type */
    ST_MATCH_NEQ = 1,
    ST_MATCH_RE = 2,
    ST_MATCH_NRE = 3
} st_match_type_t;

typedef struct st_matcher st_matcher_t;

/* Copies name and value. A bad regex is ST_EINVAL with PCRE2's message and
 * offset in the detail. */
int st_matcher_new(st_matcher_t **out, st_match_type_t type, const char *name, const char *value);
void st_matcher_free(st_matcher_t *m); /* NULL ok */
bool st_matcher_matches(const st_matcher_t *m, const char *value, size_t len);
st_match_type_t st_matcher_type(const st_matcher_t *m);
const char *st_matcher_name(const st_matcher_t *m);
const char *st_matcher_value(const st_matcher_t *m);
/* Does the matcher match the empty string (i.e. series lacking the label)? */
bool st_matcher_matches_empty(const st_matcher_t *m);

typedef struct {
    st_matcher_t **v; /* owned matchers */
    size_t n;
} st_matchers_t;
void st_matchers_free(st_matchers_t *ms); /* frees all, zeroes; NULL ok */

/* Parse a PromQL series selector: `name`, `name{...}`, `{...}` with
 * matchers `l="v"`, `l!="v"`, `l=~"re"`, `l!~"re"`, strings in double,
 * single or back quotes with PromQL escapes, optional trailing comma.
 * `name` becomes __name__="name". Errors are ST_EINVAL with
 * "1:COL: parse error: ..." in the detail, COL 1-based like Prometheus.
 * A selector must have at least one matcher that does not match "". */
int st_selector_parse(st_matchers_t *out, const char *s);

#endif
