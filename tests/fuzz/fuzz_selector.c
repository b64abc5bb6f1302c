/* Fuzzes the series selector parser and the matchers it builds: the input
 * (as a C string) is parsed as a selector; every matcher is run against a
 * few values and must agree with st_matcher_matches_empty. The input is
 * also compiled directly as a regex. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/matcher.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static void exercise(const st_matcher_t *m, const char *s, size_t n) {
    static const char *const vals[] = {"", "a", "a\nb", "foo_bar", "\xc3\xa9t\xc3\xa9", "\xff"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        (void)st_matcher_matches(m, vals[i], strlen(vals[i]));
    (void)st_matcher_matches(m, s, n < 64 ? n : 64);
    check(st_matcher_matches(m, "", 0) == st_matcher_matches_empty(m));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    size_t len = strlen(s);
    st_matchers_t ms;
    if (st_selector_parse(&ms, s) == 0) {
        bool selective = false;
        for (size_t i = 0; i < ms.n; i++) {
            exercise(ms.v[i], s, len);
            selective |= !st_matcher_matches_empty(ms.v[i]);
        }
        check(ms.n > 0 && selective);
        st_matchers_free(&ms);
    } else {
        check(ms.v == NULL && ms.n == 0);
    }
    st_matcher_t *m;
    if (st_matcher_new(&m, ST_MATCH_RE, "l", s) == 0) {
        exercise(m, s, len);
        st_matcher_free(m);
    }
    free(s);
    return 0;
}
