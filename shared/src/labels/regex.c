/* Anchored PCRE2 compilation shared by matchers and relabeling; see regex.h. */
#include "strata/regex.h"

#include <stdlib.h>
#include <string.h>

#include "strata/err.h"

int st_regex_compile(pcre2_code **out, const char *re, size_t len) {
    *out = NULL;
    char *pat = malloc(len + 7);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    int rc = ST_OK;
    if (!pat || !cc) {
        rc = st_errorf(ST_ENOMEM, "compiling regex: out of memory");
        goto out;
    }
    memcpy(pat, "^(?:", 4);
    memcpy(pat + 4, re, len);
    memcpy(pat + 4 + len, ")$", 2);
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, len + 6,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
                                         PCRE2_ALT_CIRCUMFLEX | PCRE2_NEVER_BACKSLASH_C,
                                     &errcode, &erroff, cc);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        /* the offset within the user's pattern, not our wrapper */
        size_t off = erroff < 4 ? 0 : erroff - 4 > len ? len : erroff - 4;
        rc = st_errorf(ST_EINVAL, "invalid regex \"%.*s\" at offset %zu: %s", (int)len, re, off, (const char *)msg);
        goto out;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    *out = code;
out:
    pcre2_compile_context_free(cc);
    free(pat);
    return rc;
}

int st_regex_check_bare(const char *re, size_t len) {
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &errcode, &erroff, NULL);
    if (code) {
        pcre2_code_free(code);
        return ST_OK;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(errcode, msg, sizeof msg);
    return st_errorf(ST_EINVAL, "invalid regex \"%.*s\" at offset %zu: %s", (int)len, re,
                     (size_t)(erroff > len ? len : erroff), (const char *)msg);
}
