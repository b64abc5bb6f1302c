/* Text exposition parsers.
 *
 * The big table: every input's accept/reject outcome was checked against
 * Prometheus 2.42 itself — 0.0.4 rows by scraping them with a real
 * prometheus (target health and lastError), OpenMetrics rows with
 * `promtool tsdb create-blocks-from openmetrics` — and the stored series,
 * values and HELP texts of the accepted 0.0.4 rows against the server's
 * API. Two rows are accepted here but fail there, by layering: duplicate
 * label names (p_dup_label, o_dup) are rejected by st_labels_from_pairs,
 * as by Prometheus's appender (see test_duplicates_left_to_labels). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/labels.h"
#include "strata/textfmt.h"
#include "strata/textparse.h"

#define PROM ST_TEXT_PROM
#define OM ST_TEXT_OPENMETRICS
#define S(lit) lit, sizeof(lit) - 1

/* One line per entry: "LINE: KIND ...", then "END" or "ERR code detail". */
static void render(st_encbuf_t *b, st_text_format_t fmt, const char *in, size_t len) {
    /* an exact-size copy so ASan catches reads past the end */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, in, len);
    st_textparse_t *p;
    assert_int_equal(st_textparse_new(&p, fmt, copy, len), 0);
    int rc;
    while ((rc = st_textparse_next(p)) > 0) {
        st_put_fmt(b, "%zu: ", st_textparse_line(p));
        if (rc == ST_TP_SAMPLE) {
            const st_label_t *l;
            size_t n;
            st_textparse_labels(p, &l, &n);
            st_put_cstr(b, "SAMPLE ");
            for (size_t i = 0; i < n; i++) {
                st_put_bytes(b, l[i].name, l[i].name_len);
                st_put_u8(b, '=');
                st_put_go_quote(b, l[i].value, l[i].value_len);
                st_put_u8(b, ' ');
            }
            char g[ST_FLOAT_BUF];
            st_fmt_go_g(g, st_textparse_value(p));
            st_put_cstr(b, g);
            int64_t ts;
            if (st_textparse_timestamp(p, &ts)) st_put_fmt(b, " @%lld", (long long)ts);
        } else {
            static const char *const kind[] = {"", "", "TYPE", "HELP", "UNIT", "COMMENT"};
            const char *fam, *t;
            size_t fl, tl;
            st_textparse_family(p, &fam, &fl);
            st_textparse_help(p, &t, &tl);
            st_put_fmt(b, "%s ", kind[rc]);
            if (rc != ST_TP_COMMENT) {
                st_put_bytes(b, fam, fl);
                st_put_u8(b, ' ');
            }
            st_put_go_quote(b, t, tl);
            if (rc == ST_TP_TYPE) st_put_fmt(b, " t=%d", (int)st_textparse_type(p));
        }
        st_put_u8(b, '\n');
    }
    if (rc < 0) {
        st_put_fmt(b, "ERR %d %s", rc, st_errdetail(rc));
        /* failed parsers stay failed */
        assert_int_equal(st_textparse_next(p), rc);
    } else {
        st_put_cstr(b, "END");
        assert_int_equal(st_textparse_next(p), 0);
    }
    st_textparse_free(p);
    free(copy);
}

static void test_table(void **state) {
    (void)state;
    static const struct {
        st_text_format_t fmt;
        const char *name;
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
    {PROM, "p_basic", S("a 1\n"),
     "1: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_nolf", S("a 1"),
     "1: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_empty", S(""),
     "END"},
    {PROM, "p_blank_lines", S("\n"
       "\n"
       "  \n"
       "\t\n"
       "a 1\n"
       "\n"),
     "5: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_trailing_comma", S("a{b=\"c\",} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"c\" 1\n"
     "END"},
    {PROM, "p_ws_everywhere", S("a \t{ \tb \t= \t\"c\" \t, \td=\"e\" \t} \t1 \t2 \t\n"),
     "1: SAMPLE __name__=\"a\" b=\"c\" d=\"e\" 1 @2\n"
     "END"},
    {PROM, "p_leading_ws", S(" a 1\n"),
     "ERR -3 1:1: blanks before the metric name (they would be part of it)"},
    {PROM, "p_leading_tab", S("\ta 1\n"),
     "ERR -3 1:1: blanks before the metric name (they would be part of it)"},
    {PROM, "p_leading_ws_comment", S("  # HELP a text\n"
       "  # junk\n"
       "a 1\n"),
     "1: HELP a \"text\"\n"
     "2: COMMENT \"# junk\"\n"
     "3: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_empty_value", S("a{b=\"\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"\" 1\n"
     "END"},
    {PROM, "p_dup_label", S("a{b=\"1\",b=\"2\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"1\" b=\"2\" 1\n"
     "END"},
    {PROM, "p_type_after", S("a 1\n"
       "# TYPE a counter\n"),
     "1: SAMPLE __name__=\"a\" 1\n"
     "2: TYPE a \"counter\" t=1\n"
     "END"},
    {PROM, "p_help_spaces", S("#  HELP  a  y  \n"
       "a 1\n"),
     "1: HELP a \" y  \"\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_type_2sp", S("# TYPE a  counter\n"
       "a 1\n"),
     "ERR -3 1:10: invalid metric type \" counter\""},
    {PROM, "p_type_trailing", S("# TYPE a counter \n"
       "a 1\n"),
     "ERR -3 1:10: invalid metric type \"counter \""},
    {PROM, "p_type_unknown", S("# TYPE a unknown\n"
       "a 1\n"),
     "ERR -3 1:10: invalid metric type \"unknown\""},
    {PROM, "p_type_untyped", S("# TYPE a untyped\n"
       "a 1\n"),
     "1: TYPE a \"untyped\" t=0\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_type_empty", S("# TYPE a\n"
       "a 1\n"),
     "ERR -3 1:9: invalid metric type \"\""},
    {PROM, "p_help_nospace", S("#HELP a y\n"
       "a 1\n"),
     "1: COMMENT \"#HELP a y\"\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_help_noname", S("# HELP \n"
       "a 1\n"),
     "ERR -3 1:8: expected metric name after HELP"},
    {PROM, "p_help_noblank", S("# HELP\n"
       "a 1\n"),
     "1: COMMENT \"# HELP\"\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_help_badname", S("# HELP 1a x\n"
       "a 1\n"),
     "ERR -3 1:8: expected metric name after HELP"},
    {PROM, "p_help_dash", S("# HELP a-b x\n"
       "a 1\n"),
     "1: HELP a \"b x\"\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_comment_any", S("# arbitrary text \xff\xfe\n"
       "a 1\n"),
     "1: COMMENT \"# arbitrary text \\xff\\xfe\"\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_help_badutf8", S("# HELP a \xff\n"
       "a 1\n"),
     "ERR -3 1:10: invalid UTF-8 in help text"},
    {PROM, "p_unknown_escape", S("a{b=\"x\\ty\\q\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"x\\\\ty\\\\q\" 1\n"
     "END"},
    {PROM, "p_bs_eol", S("a{b=\"x\\\n"
       "y\"} 1\n"),
     "ERR -3 1:7: backslash at end of line in label value"},
    {PROM, "p_raw_newline", S("a{b=\"x\n"
       "y\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"x\\ny\" 1\n"
     "END"},
    {PROM, "p_badutf8_value", S("a{b=\"\xff\"} 1\n"),
     "ERR -3 1:5: invalid UTF-8 in label value"},
    {PROM, "p_nan_cases", S("a{i=\"1\"} nan\n"
       "a{i=\"2\"} NaN\n"
       "a{i=\"3\"} nAn\n"
       "a{i=\"4\"} Inf\n"
       "a{i=\"5\"} -inf\n"
       "a{i=\"6\"} +Infinity\n"
       "a{i=\"7\"} INFINITY\n"),
     "1: SAMPLE __name__=\"a\" i=\"1\" NaN\n"
     "2: SAMPLE __name__=\"a\" i=\"2\" NaN\n"
     "3: SAMPLE __name__=\"a\" i=\"3\" NaN\n"
     "4: SAMPLE __name__=\"a\" i=\"4\" +Inf\n"
     "5: SAMPLE __name__=\"a\" i=\"5\" -Inf\n"
     "6: SAMPLE __name__=\"a\" i=\"6\" +Inf\n"
     "7: SAMPLE __name__=\"a\" i=\"7\" +Inf\n"
     "END"},
    {PROM, "p_signed_nan", S("a -nan\n"),
     "ERR -3 1:3: invalid number \"-nan\""},
    {PROM, "p_plus_nan", S("a +NaN\n"),
     "ERR -3 1:3: invalid number \"+NaN\""},
    {PROM, "p_infin", S("a infin\n"),
     "ERR -3 1:3: invalid number \"infin\""},
    {PROM, "p_hex", S("a 0x1p3\n"),
     "ERR -3 1:3: invalid number \"0x1p3\""},
    {PROM, "p_hex2", S("a 0x10\n"),
     "ERR -3 1:3: invalid number \"0x10\""},
    {PROM, "p_underscore", S("a 1_000\n"),
     "ERR -3 1:3: invalid number \"1_000\""},
    {PROM, "p_floats", S("a{i=\"1\"} 1e3\n"
       "a{i=\"2\"} .5\n"
       "a{i=\"3\"} 1.\n"
       "a{i=\"4\"} -0\n"
       "a{i=\"5\"} +1.5E-3\n"
       "a{i=\"6\"} 007\n"),
     "1: SAMPLE __name__=\"a\" i=\"1\" 1000\n"
     "2: SAMPLE __name__=\"a\" i=\"2\" 0.5\n"
     "3: SAMPLE __name__=\"a\" i=\"3\" 1\n"
     "4: SAMPLE __name__=\"a\" i=\"4\" -0\n"
     "5: SAMPLE __name__=\"a\" i=\"5\" 0.0015\n"
     "6: SAMPLE __name__=\"a\" i=\"6\" 7\n"
     "END"},
    {PROM, "p_dot", S("a .\n"),
     "ERR -3 1:3: invalid number \".\""},
    {PROM, "p_e", S("a 1e\n"),
     "ERR -3 1:3: invalid number \"1e\""},
    {PROM, "p_range", S("a 1e400\n"),
     "ERR -3 1:3: number \"1e400\" out of range"},
    {PROM, "p_underflow", S("a 1e-400\n"),
     "1: SAMPLE __name__=\"a\" 0\n"
     "END"},
    {PROM, "p_neg_ts", S("a 1 -3982045\n"),
     "ERR -3 1:5: expected timestamp or new record"},
    {PROM, "p_float_ts", S("a 1 1.5e3\n"),
     "ERR -3 1:6: expected next entry after timestamp"},
    {PROM, "p_ts_big", S("a 1 9223372036854775807\n"),
     "1: SAMPLE __name__=\"a\" 1 @9223372036854775807\n"
     "END"},
    {PROM, "p_ts_overflow", S("a 1 9223372036854775808\n"),
     "ERR -3 1:5: timestamp out of range"},
    {PROM, "p_two_ts", S("a 1 2 3\n"),
     "ERR -3 1:7: expected next entry after timestamp"},
    {PROM, "p_no_value", S("a\n"),
     "ERR -3 1:2: expected value after metric"},
    {PROM, "p_no_value_labels", S("a{b=\"c\"}\n"),
     "ERR -3 1:9: expected value after metric"},
    {PROM, "p_value_glued", S("a{b=\"c\"}1\n"),
     "1: SAMPLE __name__=\"a\" b=\"c\" 1\n"
     "END"},
    {PROM, "p_name_value_glued", S("a-1 2\n"),
     "1: SAMPLE __name__=\"a\" -1 @2\n"
     "END"},
    {PROM, "p_no_comma", S("a{b=\"c\" d=\"e\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"c\" d=\"e\" 1\n"
     "END"},
    {PROM, "p_no_comma2", S("a{b=\"c\"d=\"e\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"c\" d=\"e\" 1\n"
     "END"},
    {PROM, "p_double_comma", S("a{b=\"c\",,d=\"e\"} 1\n"),
     "ERR -3 1:9: expected label name"},
    {PROM, "p_leading_comma", S("a{,b=\"c\"} 1\n"),
     "ERR -3 1:3: expected label name"},
    {PROM, "p_brace_start", S("{a=\"b\"} 1\n"),
     "ERR -3 1:1: expected a metric name or \"#\" at start of line"},
    {PROM, "p_crlf", S("a 1\r\n"),
     "ERR -3 1:3: invalid number \"1\r\""},
    {PROM, "p_crlf_ts", S("a 1 2\r\n"),
     "ERR -3 1:6: expected next entry after timestamp"},
    {PROM, "p_label_colon", S("a{b:c=\"d\"} 1\n"),
     "ERR -3 1:4: expected equal after label name"},
    {PROM, "p_label_digit", S("a{1b=\"d\"} 1\n"),
     "ERR -3 1:3: expected label name"},
    {PROM, "p_unterminated", S("a{b=\"c} 1\n"),
     "ERR -3 1:5: unterminated label value"},
    {PROM, "p_unterminated_eof", S("a{b=\"c"),
     "ERR -3 1:5: unterminated label value"},
    {PROM, "p_name_colon", S("a:b:c 1\n"),
     "1: SAMPLE __name__=\"a:b:c\" 1\n"
     "END"},
    {PROM, "p_brace_twice", S("a{}{} 1\n"),
     "ERR -3 1:4: expected value after metric"},
    {PROM, "p_value_brace", S("a 1{\n"),
     "ERR -3 1:4: expected timestamp or new record"},
    {PROM, "p_nul_line", S("a 1\n"
       "\x00" "b 2\n"),
     "1: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_nul_after_ws", S("a 1\n"
       "  \x00junk\n"),
     "1: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_nul_in_value", S("a{b=\"x\x00y\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"x\\x00y\" 1\n"
     "END"},
    {PROM, "p_nul_after_number", S("a 1\x00\n"),
     "ERR -3 1:4: expected timestamp or new record"},
    {PROM, "p_nul_in_help", S("# HELP a x\x00y\n"
       "a 1\n"),
     "1: HELP a \"x\\x00y\"\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_help_escapes", S("# HELP a x\\\\n\\\"\\n\\\n"),
     "1: HELP a \"x\\\\n\\\\\\\"\\n\\\\\"\n"
     "END"},
    {PROM, "p_eq_twice", S("a{b=\"c\"=\"d\"} 1\n"),
     "ERR -3 1:8: expected label name"},
    {PROM, "p_start_digit", S("1a 1\n"),
     "ERR -3 1:1: expected a metric name or \"#\" at start of line"},
    {PROM, "p_start_dash", S("-a 1\n"),
     "ERR -3 1:1: expected a metric name or \"#\" at start of line"},
    {PROM, "p_ts_then_ws", S("a 1 2 \t\n"),
     "1: SAMPLE __name__=\"a\" 1 @2\n"
     "END"},
    {PROM, "p_ts_glued", S("a 1 2a\n"),
     "ERR -3 1:6: expected next entry after timestamp"},
    {PROM, "p_value_dash_name", S("a{b=\"c\"}-1\n"),
     "1: SAMPLE __name__=\"a\" b=\"c\" -1\n"
     "END"},
    {PROM, "p_eof_no_lf_labels", S("a{b=\"c\"} 1 5"),
     "1: SAMPLE __name__=\"a\" b=\"c\" 1 @5\n"
     "END"},
    {PROM, "p_name_ws_brace", S("a {b=\"c\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"c\" 1\n"
     "END"},
    {PROM, "p_hash_only", S("#\n"
       "#\t\n"
       "# \n"
       "a 1\n"),
     "1: COMMENT \"#\"\n"
     "2: COMMENT \"#\\t\"\n"
     "3: COMMENT \"# \"\n"
     "4: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_type_tab", S("#\tTYPE\ta\tgauge\n"
       "a 1\n"),
     "1: TYPE a \"gauge\" t=2\n"
     "2: SAMPLE __name__=\"a\" 1\n"
     "END"},
    {PROM, "p_utf8_value", S("a{b=\"\xc3\xa9\xe2\x82\xac\"} 1\n"),
     "1: SAMPLE __name__=\"a\" b=\"\xc3\xa9\xe2\x82\xac\" 1\n"
     "END"},
    {PROM, "p_surrogate", S("a{b=\"\xed\xa0\x80\"} 1\n"),
     "ERR -3 1:5: invalid UTF-8 in label value"},
    {PROM, "p_long_number", S("a 0.000000000000000000000000000000000000000000000000000000000000000000000123456789\n"),
     "1: SAMPLE __name__=\"a\" 1.23456789e-70\n"
     "END"},
    {PROM, "p_many_digits", S("a 123456789012345678901234567890\n"),
     "1: SAMPLE __name__=\"a\" 1.2345678901234568e+29\n"
     "END"},
    {OM, "o_basic", S("a 1 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "END"},
    {OM, "o_eof_nolf", S("a 1 1\n"
       "# EOF"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "END"},
    {OM, "o_no_eof", S("a 1 1\n"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "ERR -3 2:1: data does not end with # EOF"},
    {OM, "o_after_eof", S("a 1 1\n"
       "# EOF\n"
       "b 1 1\n"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "ERR -3 3:1: unexpected data after # EOF"},
    {OM, "o_after_eof_lf", S("a 1 1\n"
       "# EOF\n"
       "\n"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "ERR -3 3:1: unexpected data after # EOF"},
    {OM, "o_eof_space", S("a 1 1\n"
       "# EOF \n"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "ERR -3 2:6: unexpected data after # EOF"},
    {OM, "o_blank_line", S("a 1 1\n"
       "\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "ERR -3 2:1: expected a metric name or \"# \""},
    {OM, "o_double_space", S("a  1 1\n"
       "# EOF\n"),
     "ERR -3 1:3: expected value after metric"},
    {OM, "o_trailing_space", S("a 1 1 \n"
       "# EOF\n"),
     "ERR -3 1:6: expected end of line"},
    {OM, "o_leading_space", S(" a 1 1\n"
       "# EOF\n"),
     "ERR -3 1:1: expected a metric name or \"# \""},
    {OM, "o_comment", S("# hello\n"
       "a 1 1\n"
       "# EOF\n"),
     "ERR -3 1:3: expected HELP, TYPE, UNIT or EOF after \"# \""},
    {OM, "o_ts_frac", S("a{i=\"1\"} 1 1.001\n"
       "a{i=\"2\"} 1 1.003\n"
       "a{i=\"3\"} 1 1520879607.789\n"
       "a{i=\"4\"} 1 1e3\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" i=\"1\" 1 @1000\n"
     "2: SAMPLE __name__=\"a\" i=\"2\" 1 @1002\n"
     "3: SAMPLE __name__=\"a\" i=\"3\" 1 @1520879607789\n"
     "4: SAMPLE __name__=\"a\" i=\"4\" 1 @1000000\n"
     "END"},
    {OM, "o_ts_nan", S("a 1 NaN\n"
       "# EOF\n"),
     "ERR -3 1:5: invalid timestamp"},
    {OM, "o_ts_inf", S("a 1 +Inf\n"
       "# EOF\n"),
     "ERR -3 1:5: invalid timestamp"},
    {OM, "o_ts_neg", S("a 1 -5\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" 1 @-5000\n"
     "END"},
    {OM, "o_exemplar", S("a_total 1 1 # {t=\"x\"} 2 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a_total\" 1 @1000\n"
     "END"},
    {OM, "o_exemplar_nots", S("a_total 1 1 # {t=\"x\"} 2\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a_total\" 1 @1000\n"
     "END"},
    {OM, "o_exemplar_bucket", S("a_bucket{le=\"1\"} 1 1 # {} 2 1.5\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a_bucket\" le=\"1\" 1 @1000\n"
     "END"},
    {OM, "o_exemplar_badname", S("a 1 1 # {t=\"x\"} 2\n"
       "# EOF\n"),
     "ERR -3 1:6: metric name a does not support exemplars"},
    {OM, "o_exemplar_novalue", S("a_total 1 1 # {t=\"x\"}\n"
       "# EOF\n"),
     "ERR -3 1:22: expected exemplar value"},
    {OM, "o_exemplar_badval", S("a_total 1 1 # {t=\"x\"} x\n"
       "# EOF\n"),
     "ERR -3 1:23: invalid number \"x\""},
    {OM, "o_exemplar_ts_nan", S("a_total 1 1 # {t=\"x\"} 1 NaN\n"
       "# EOF\n"),
     "ERR -3 1:25: invalid timestamp"},
    {OM, "o_exemplar_nobrace", S("a_total 1 1 # t\n"
       "# EOF\n"),
     "ERR -3 1:15: expected \"{\" to start an exemplar"},
    {OM, "o_exemplar_no_ts_sample", S("a_total 1 # {t=\"x\"} 2 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a_total\" 1\n"
     "END"},
    {OM, "o_exemplar_extra", S("a_total 1 1 # {t=\"x\"} 2 1 3\n"
       "# EOF\n"),
     "ERR -3 1:26: expected end of line"},
    {OM, "o_exemplar_trailing_comma", S("a_total 1 1 # {t=\"x\",} 2\n"
       "# EOF\n"),
     "ERR -3 1:22: expected label name"},
    {OM, "o_exemplar_badutf8", S("a_total 1 1 # {t=\"\xff\"} 2\n"
       "# EOF\n"),
     "ERR -3 1:18: invalid UTF-8 in label value"},
    {OM, "o_unit_ok", S("# UNIT a_seconds seconds\n"
       "a_seconds 1 1\n"
       "# EOF\n"),
     "1: UNIT a_seconds \"seconds\"\n"
     "2: SAMPLE __name__=\"a_seconds\" 1 @1000\n"
     "END"},
    {OM, "o_unit_bad", S("# UNIT a_seconds bytes\n"
       "# EOF\n"),
     "ERR -3 1:18: unit not a suffix of metric \"a_seconds\""},
    {OM, "o_unit_nounderscore", S("# UNIT aseconds seconds\n"
       "# EOF\n"),
     "ERR -3 1:17: unit not a suffix of metric \"aseconds\""},
    {OM, "o_unit_whole", S("# UNIT seconds seconds\n"
       "# EOF\n"),
     "ERR -3 1:16: unit not a suffix of metric \"seconds\""},
    {OM, "o_unit_empty", S("# UNIT a \n"
       "# EOF\n"),
     "1: UNIT a \"\"\n"
     "END"},
    {OM, "o_help_escapes", S("# HELP a x\\\\y\\\"z\\n\\t\n"
       "a 1 1\n"
       "# EOF\n"),
     "1: HELP a \"x\\\\y\\\"z\\n\\\\t\"\n"
     "2: SAMPLE __name__=\"a\" 1 @1000\n"
     "END"},
    {OM, "o_help_empty", S("# HELP a \n"
       "# EOF\n"),
     "1: HELP a \"\"\n"
     "END"},
    {OM, "o_help_notext", S("# HELP a\n"
       "# EOF\n"),
     "ERR -3 1:9: expected text in HELP"},
    {OM, "o_help_badutf8", S("# HELP a \xff\n"
       "# EOF\n"),
     "ERR -3 1:10: invalid UTF-8 in help text"},
    {OM, "o_type_all", S("# TYPE a counter\n"
       "# TYPE b gauge\n"
       "# TYPE c histogram\n"
       "# TYPE d gaugehistogram\n"
       "# TYPE e summary\n"
       "# TYPE f info\n"
       "# TYPE g stateset\n"
       "# TYPE h unknown\n"
       "# EOF\n"),
     "1: TYPE a \"counter\" t=1\n"
     "2: TYPE b \"gauge\" t=2\n"
     "3: TYPE c \"histogram\" t=3\n"
     "4: TYPE d \"gaugehistogram\" t=4\n"
     "5: TYPE e \"summary\" t=5\n"
     "6: TYPE f \"info\" t=6\n"
     "7: TYPE g \"stateset\" t=7\n"
     "8: TYPE h \"unknown\" t=0\n"
     "END"},
    {OM, "o_type_untyped", S("# TYPE a untyped\n"
       "# EOF\n"),
     "ERR -3 1:10: invalid metric type \"untyped\""},
    {OM, "o_type_2sp", S("# TYPE a  counter\n"
       "# EOF\n"),
     "ERR -3 1:10: invalid metric type \" counter\""},
    {OM, "o_counter_no_total", S("# TYPE foo counter\n"
       "foo 1 1\n"
       "# EOF\n"),
     "1: TYPE foo \"counter\" t=1\n"
     "2: SAMPLE __name__=\"foo\" 1 @1000\n"
     "END"},
    {OM, "o_trailing_comma", S("a{b=\"c\",} 1 1\n"
       "# EOF\n"),
     "ERR -3 1:9: expected label name"},
    {OM, "o_label_space", S("a{b=\"c\", d=\"e\"} 1 1\n"
       "# EOF\n"),
     "ERR -3 1:9: expected label name"},
    {OM, "o_no_comma", S("a{b=\"c\"d=\"e\"} 1 1\n"
       "# EOF\n"),
     "ERR -3 1:8: expected comma or \"}\" after label"},
    {OM, "o_empty_labels", S("a{} 1 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" 1 @1000\n"
     "END"},
    {OM, "o_unknown_escape", S("a{b=\"x\\ty\"} 1 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" b=\"x\\\\ty\" 1 @1000\n"
     "END"},
    {OM, "o_raw_newline", S("a{b=\"x\n"
       "y\"} 1 1\n"
       "# EOF\n"),
     "ERR -3 1:5: unterminated label value"},
    {OM, "o_badutf8", S("a{b=\"\xff\"} 1 1\n"
       "# EOF\n"),
     "ERR -3 1:5: invalid UTF-8 in label value"},
    {OM, "o_dup", S("a{b=\"1\",b=\"2\"} 1 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" b=\"1\" b=\"2\" 1 @1000\n"
     "END"},
    {OM, "o_hex", S("a 0x1p3 1\n"
       "# EOF\n"),
     "ERR -3 1:3: invalid number \"0x1p3\""},
    {OM, "o_tab_sep", S("a\t1 1\n"
       "# EOF\n"),
     "ERR -3 1:2: expected value after metric"},
    {OM, "o_crlf", S("a 1 1\r\n"
       "# EOF\n"),
     "ERR -3 1:5: invalid number \"1\r\""},
    {OM, "o_hash_nospace", S("#HELP a x\n"
       "# EOF\n"),
     "ERR -3 1:1: expected a metric name or \"# \""},
    {OM, "o_eof_only", S("# EOF\n"),
     "END"},
    {OM, "o_empty", S(""),
     "ERR -3 1:1: data does not end with # EOF"},
    {OM, "o_name_space_brace", S("a {b=\"c\"} 1 1\n"
       "# EOF\n"),
     "ERR -3 1:3: invalid number \"{b=\"c\"}\""},
    {OM, "o_nul_in_value", S("a{b=\"x\x00y\"} 1 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" b=\"x\\x00y\" 1 @1000\n"
     "END"},
    {OM, "o_nul_in_help", S("# HELP a x\x00y\n"
       "# EOF\n"),
     "1: HELP a \"x\\x00y\"\n"
     "END"},
    {OM, "o_hash_ts", S("a 1 #\n"
       "# EOF\n"),
     "ERR -3 1:5: invalid number \"#\""},
    {OM, "o_hash_space_x", S("a 1 # x\n"
       "# EOF\n"),
     "ERR -3 1:7: expected \"{\" to start an exemplar"},
    {OM, "o_ts_big", S("a 1 1e300\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" 1 @-9223372036854775808\n"
     "END"},
    {OM, "o_nan_value", S("a{i=\"1\"} NaN 1\n"
       "a{i=\"2\"} -Inf 1\n"
       "# EOF\n"),
     "1: SAMPLE __name__=\"a\" i=\"1\" NaN @1000\n"
     "2: SAMPLE __name__=\"a\" i=\"2\" -Inf @1000\n"
     "END"},
    {OM, "o_help_meta_nolf", S("# HELP a x"),
     "ERR -3 1:9: expected text in HELP"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_encbuf_t b;
        st_encbuf_init(&b, 0);
        render(&b, cases[i].fmt, cases[i].in, cases[i].len);
        if (b.len != strlen(cases[i].want) || memcmp(b.p, cases[i].want, b.len) != 0) {
            fprintf(stderr, "%s:\n got: %.*s\nwant: %s\n", cases[i].name, (int)b.len, (const char *)b.p, cases[i].want);
            fail();
        }
        st_encbuf_free(&b);
    }
}

static int parse_one(st_text_format_t fmt, const char *in, st_textparse_t **pp) {
    assert_int_equal(st_textparse_new(pp, fmt, in, strlen(in)), 0);
    return st_textparse_next(*pp);
}

/* The parser reports every label in input order, empty values and repeats
 * included; st_labels_from_pairs drops the empty ones and refuses repeats,
 * which is where Prometheus fails such a scrape too. */
static void test_duplicates_left_to_labels(void **state) {
    (void)state;
    st_textparse_t *p;
    assert_int_equal(parse_one(PROM, "m{z=\"1\",a=\"\",z=\"2\"} 1\n", &p), ST_TP_SAMPLE);
    const st_label_t *l;
    size_t n;
    st_textparse_labels(p, &l, &n);
    assert_int_equal(n, 4);
    assert_string_equal(l[0].name, "__name__");
    assert_int_equal(l[0].name_len, 8);
    assert_memory_equal(l[1].name, "z", 1);
    assert_int_equal(l[2].value_len, 0);
    assert_memory_equal(l[3].value, "2", 1);
    st_labels_t ls;
    int rc = st_labels_from_pairs(&ls, l, n);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "not unique"));
    st_textparse_free(p);

    assert_int_equal(parse_one(OM, "m{b=\"x\",a=\"\"} 1\n# EOF\n", &p), ST_TP_SAMPLE);
    st_textparse_labels(p, &l, &n);
    assert_int_equal(st_labels_from_pairs(&ls, l, n), 0);
    assert_int_equal(ls.n, 2); /* __name__, b: the empty a is gone */
    assert_string_equal(ls.v[1].name, "b");
    st_labels_free(&ls);
    st_textparse_free(p);
}

/* ST_TEXTPARSE_MAX_LABELS counts __name__; one more is ST_ELIMIT. Every
 * value is escaped so the scratch buffer must grow (and move) mid-line. */
static void test_label_limit_and_scratch_growth(void **state) {
    (void)state;
    for (int extra = 0; extra <= 1; extra++) {
        st_encbuf_t b;
        st_encbuf_init(&b, 0);
        int nl = ST_TEXTPARSE_MAX_LABELS - 1 + extra;
        st_put_cstr(&b, "m{");
        for (int i = 0; i < nl; i++) {
            st_put_fmt(&b, "l%d=\"", i);
            for (int k = 0; k < 40; k++) st_put_cstr(&b, "a\\\"b");
            st_put_fmt(&b, "%d\",", i);
        }
        st_put_cstr(&b, "} 7\n");
        st_textparse_t *p;
        assert_int_equal(st_textparse_new(&p, PROM, (const char *)b.p, b.len), 0);
        int rc = st_textparse_next(p);
        if (extra) {
            assert_int_equal(rc, ST_ELIMIT);
            assert_non_null(strstr(st_errdetail(rc), "more than 256 labels"));
        } else {
            assert_int_equal(rc, ST_TP_SAMPLE);
            const st_label_t *l;
            size_t n;
            st_textparse_labels(p, &l, &n);
            assert_int_equal(n, ST_TEXTPARSE_MAX_LABELS);
            for (size_t i = 1; i < n; i++) {
                char want[256] = "";
                for (int k = 0; k < 40; k++) strcat(want, "a\"b");
                sprintf(want + strlen(want), "%zu", i - 1);
                assert_int_equal(l[i].value_len, strlen(want));
                assert_memory_equal(l[i].value, want, l[i].value_len);
            }
            assert_true(st_textparse_value(p) == 7);
            assert_int_equal(st_textparse_next(p), 0);
        }
        st_textparse_free(p);
        st_encbuf_free(&b);
    }
}

static void test_nan_is_normalised(void **state) {
    (void)state;
    for (int f = 0; f < 2; f++) {
        st_textparse_t *p;
        assert_int_equal(parse_one(f ? OM : PROM, f ? "a NaN 1\n# EOF\n" : "a nan\n", &p), ST_TP_SAMPLE);
        double v = st_textparse_value(p);
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        assert_int_equal(bits, 0x7ff8000000000001ull);
        st_textparse_free(p);
    }
}

/* Numbers must come out exactly as strtod (= Go ParseFloat) reads them,
 * on the fast path and off it. */
static void test_numbers_match_strtod(void **state) {
    (void)state;
    uint64_t x = 88172645463325252ull;
    char line[128];
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char num[64];
        switch (i % 4) {
        case 0: {
            double d;
            memcpy(&d, &x, sizeof d);
            if (!isfinite(d)) continue;
            snprintf(num, sizeof num, "%.*g", (int)(x % 17) + 1, d);
            break;
        }
        case 1: snprintf(num, sizeof num, "%llu.%llue%d", (unsigned long long)(x % 100000000000ull),
                         (unsigned long long)(x >> 40), (int)(x % 61) - 30); break;
        case 2: snprintf(num, sizeof num, "-%llu", (unsigned long long)(x >> (x % 64))); break;
        default: snprintf(num, sizeof num, "0.%0*llu", (int)(x % 30) + 1, (unsigned long long)(x % 1000)); break;
        }
        snprintf(line, sizeof line, "m %s\n", num);
        st_textparse_t *p;
        assert_int_equal(parse_one(PROM, line, &p), ST_TP_SAMPLE);
        double want = strtod(num, NULL), got = st_textparse_value(p);
        if (memcmp(&want, &got, sizeof got) != 0) {
            fprintf(stderr, "%s: got %.17g want %.17g\n", num, got, want);
            fail();
        }
        st_textparse_free(p);
    }
}

static void test_openmetrics_timestamps_truncate(void **state) {
    (void)state;
    static const struct { const char *ts; int64_t ms; } cases[] = {
        {"1.001", 1000}, /* 1.001 * 1000.0 = 1000.9999999999999 */
        {"1.003", 1002},
        {"1520879607.789", 1520879607789},
        {"-1.5", -1500},
        {"0", 0},
        {"1e300", INT64_MIN}, /* out of int64 range: Go on amd64 gives INT64_MIN */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char in[64];
        snprintf(in, sizeof in, "a 1 %s\n# EOF\n", cases[i].ts);
        st_textparse_t *p;
        assert_int_equal(parse_one(OM, in, &p), ST_TP_SAMPLE);
        int64_t ms;
        assert_true(st_textparse_timestamp(p, &ms));
        assert_int_equal(ms, cases[i].ms);
        st_textparse_free(p);
    }
}

static void test_error_positions(void **state) {
    (void)state;
    static const struct { st_text_format_t fmt; const char *in, *err; } cases[] = {
        {PROM, "a 1\nb{c=\"x\ny\",d=} 2\n", "3:6: expected quoted label value"},
        {PROM, "# ok\n\nb{c:d=\"e\"} 1\n", "3:4: expected equal after label name"},
        {PROM, "# ok\n\n  b 1\n", "3:1: blanks before the metric name (they would be part of it)"},
        {OM, "a 1 1\nb{c=\"d\"}  2 1\n", "2:10: expected value after metric"},
        {OM, "a 1 1\n", "2:1: data does not end with # EOF"},
        {OM, "# TYPE a counter\n# EOF\nx", "3:1: unexpected data after # EOF"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_textparse_t *p;
        assert_int_equal(st_textparse_new(&p, cases[i].fmt, cases[i].in, strlen(cases[i].in)), 0);
        int rc;
        while ((rc = st_textparse_next(p)) > 0) {}
        assert_int_equal(rc, ST_ECORRUPT);
        assert_string_equal(st_errdetail(rc), cases[i].err);
        st_textparse_free(p);
    }
}

/* Entries of a realistic exposition, with the metadata accessors. */
static void test_entries_and_accessors(void **state) {
    (void)state;
    const char *in = "# HELP http_requests_total Requests.\n"
                     "# TYPE http_requests_total counter\n"
                     "# UNIT http_requests_total total\n"
                     "http_requests_total{code=\"200\"} 1027 1395066363.5\n"
                     "http_requests_total{code=\"400\"} 3 # {trace=\"abc\"} 1 1395066363\n"
                     "# EOF\n";
    st_textparse_t *p;
    assert_int_equal(st_textparse_new(&p, OM, in, strlen(in)), 0);
    const char *s;
    size_t n;
    assert_int_equal(st_textparse_next(p), ST_TP_HELP);
    st_textparse_family(p, &s, &n);
    assert_int_equal(n, 19);
    assert_memory_equal(s, "http_requests_total", n);
    st_textparse_help(p, &s, &n);
    assert_int_equal(n, 9);
    assert_memory_equal(s, "Requests.", n);
    assert_int_equal(st_textparse_next(p), ST_TP_TYPE);
    assert_int_equal(st_textparse_type(p), ST_METRIC_COUNTER);
    assert_int_equal(st_textparse_line(p), 2);
    assert_int_equal(st_textparse_next(p), ST_TP_UNIT);
    st_textparse_help(p, &s, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(s, "total", n);
    assert_int_equal(st_textparse_next(p), ST_TP_SAMPLE);
    int64_t ts;
    assert_true(st_textparse_timestamp(p, &ts));
    assert_int_equal(ts, 1395066363500);
    assert_true(st_textparse_value(p) == 1027);
    assert_int_equal(st_textparse_next(p), ST_TP_SAMPLE);
    assert_false(st_textparse_timestamp(p, &ts));
    assert_true(st_textparse_value(p) == 3);
    assert_int_equal(st_textparse_line(p), 5);
    assert_int_equal(st_textparse_next(p), ST_TP_END);
    assert_int_equal(st_textparse_next(p), ST_TP_END);
    st_textparse_free(p);
    st_textparse_free(NULL);

    assert_int_equal(st_textparse_new(&p, (st_text_format_t)9, "", 0), ST_EINVAL);
    assert_null(p);
    assert_int_equal(st_textparse_new(&p, PROM, NULL, 0), 0);
    assert_int_equal(st_textparse_next(p), ST_TP_END);
    st_textparse_free(p);
}

static void test_content_type(void **state) {
    (void)state;
    static const struct { const char *ct; st_text_format_t want; } cases[] = {
        {NULL, PROM},
        {"", PROM},
        {"text/plain; version=0.0.4; charset=utf-8", PROM},
        {"application/openmetrics-text; version=1.0.0; charset=utf-8", OM},
        {"application/openmetrics-text", OM},
        {"Application/OpenMetrics-Text;Version=0.0.1", OM},
        {"  application/openmetrics-text  ;version=1.0.0", OM},
        {"application/openmetrics-text;", OM},                      /* one trailing ";" is ignored */
        {"application/openmetrics-text; version=1.0.0;", OM},
        {"application/openmetrics-text; version=\"1.0.0\"", OM},
        {"application/openmetrics-text; a=\"x\\\"y\"; a=\"x\\\"y\"", OM}, /* repeat with equal value */
        {"\xc2\xa0" "application/openmetrics-text", OM},           /* Go trims Unicode spaces */
        {"application/openmetrics-text; ;", PROM},                 /* mime parse errors: 0.0.4 */
        {"application/openmetrics-text; version", PROM},
        {"application/openmetrics-text; version=", PROM},
        {"application/openmetrics-text; version=1.0.0 charset=utf-8", PROM},
        {"application/openmetrics-text; a=1; A=2", PROM},
        {"application/openmetrics-text; a=\"unterminated", PROM},
        {"application/openmetrics-text; a=b/c", PROM},
        {"application/openmetrics-textx", PROM},
        {"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", PROM},
        {"text/html", PROM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (st_text_format_from_content_type(cases[i].ct) != cases[i].want) {
            fprintf(stderr, "content type \"%s\"\n", cases[i].ct ? cases[i].ct : "(null)");
            fail();
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_duplicates_left_to_labels),
        cmocka_unit_test(test_label_limit_and_scratch_growth),
        cmocka_unit_test(test_nan_is_normalised),
        cmocka_unit_test(test_numbers_match_strtod),
        cmocka_unit_test(test_openmetrics_timestamps_truncate),
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_entries_and_accessors),
        cmocka_unit_test(test_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
