/*
 * regex.h — regular expressions as Prometheus uses them (label matchers,
 * relabeling): fully anchored, compiled as Go does, "^(?:RE)$", with PCRE2
 * options chosen to behave like Go's RE2 (UTF-8, '$' only at the very end,
 * '\n' as the only newline, no \C). Callers keep the compiled code and match
 * with their own match data (match data is per thread, never shared).
 */
#ifndef STRATA_REGEX_H
#define STRATA_REGEX_H

#include <stddef.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

/* Compile re[0..len) anchored; JIT-compiled when the CPU allows (without
 * JIT matching is only slower). A bad pattern is ST_EINVAL with
 * `invalid regex "RE" at offset N: reason` in the detail, N counted in the
 * caller's pattern. *out is owned: pcre2_code_free(). */
int st_regex_compile(pcre2_code **out, const char *re, size_t len);

/* Label matchers (not relabel rules) also require the bare pattern to be a
 * regex, as Prometheus's FastRegexMatcher parses it unanchored too:
 * "a)|(b" compiles as ^(?:a)|(b)$ but is refused. ST_EINVAL as above. */
int st_regex_check_bare(const char *re, size_t len);

#endif
