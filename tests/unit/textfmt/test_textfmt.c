/* Go-compatible printing. Every expected string below was printed by
 * promtool 2.42 (`tsdb dump`, which formats values with %g and labels with
 * labels.Labels.String()) for the same input, except the invalid-UTF-8 and
 * 'f'-format rows, which follow Go's documented strconv behaviour. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/labels.h"
#include "strata/textfmt.h"

static void test_go_g_promtool_table(void **state) {
    (void)state;
    static const struct { double v; const char *want; } cases[] = {
        {1234567.0, "1.234567e+06"},
        {123456.0, "123456"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1e21, "1e+21"},
        {1e+300, "1e+300"},
        {5e-324, "5e-324"},
        {0.1, "0.1"},
        {100.0, "100"},
        {1e6, "1e+06"},
        {12345678.9, "1.23456789e+07"},
        {-0.0, "-0"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {0.5, "0.5"},
        {1027.0, "1027"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {123456.7, "123456.7"},
        {999999.0, "999999"},
        {999999.5, "999999.5"},
        {0.00012345, "0.00012345"},
        {1.5e-7, "1.5e-07"},
        {9007199254740993.0, "9.007199254740992e+15"},
        {100000.0, "100000"},
        {1e15, "1e+15"},
        {1e16, "1e+16"},
        {1e17, "1e+17"},
        {4.35, "4.35"},
        {2.5e-5, "2.5e-05"},
        {-1234567.0, "-1.234567e+06"},
        {3.141592653589793, "3.141592653589793"},
        {0.3333333333333333, "0.3333333333333333"},
        {1e23, "1e+23"},
        {9.999999999999999e22, "1e+23"},
        {5e-310, "5e-310"},
        {1e-4, "0.0001"},
        {0.000123, "0.000123"},
        {1e20, "1e+20"},
        {123456789012345680000.0, "1.2345678901234568e+20"},
        {0.0, "0"},
        {-0.0001, "-0.0001"},
        {-1e-5, "-1e-05"},
        {7e-5, "7e-05"},
        {8.98846567431158e307, "8.98846567431158e+307"},
        {4.940656458412465e-324, "5e-324"},
        {1.0000000000000002, "1.0000000000000002"},
        {0.30000000000000004, "0.30000000000000004"},
        {2e-7, "2e-07"},
        {1e-7, "1e-07"},
        {12e5, "1.2e+06"},
        {1e5, "100000"},
        {99999.99, "99999.99"},
        {1e100, "1e+100"},
        {1.2345e-300, "1.2345e-300"},
        {0x1p-1017, "7.120236347223045e-307"},
        {0x1p-1007, "7.291122019556398e-304"},
        {0x1p-957, "8.209073602596753e-289"},
        {0x1p54, "1.8014398509481984e+16"},
        {0x1p60, "1.152921504606847e+18"},
        {0x1p100, "1.2676506002282294e+30"},
        {0x1p-1000, "9.332636185032189e-302"},
        {0x1p1023, "8.98846567431158e+307"},
        {0x1p-1074, "5e-324"},
        {0x1p-1022, "2.2250738585072014e-308"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[ST_FLOAT_BUF];
        size_t n = st_fmt_go_g(out, cases[i].v);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
}

/* %g output must read back as the same double (shortest round trip). */
static void test_go_g_round_trips(void **state) {
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) continue;
        char out[ST_FLOAT_BUF];
        st_fmt_go_g(out, v);
        assert_true(strtod(out, NULL) == v);
        assert_int_equal(signbit(strtod(out, NULL)), signbit(v));
    }
}

static void test_prom_value(void **state) {
    (void)state;
    static const struct { double v; const char *want; } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {1.0, "1"},
        {0.1, "0.1"},
        {1234567.0, "1234567"},
        {1e21, "1000000000000000000000"},
        {1.5e-7, "0.00000015"},
        {-2.5, "-2.5"},
        {123456789012345680000.0, "123456789012345680000"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_encbuf_t b;
        st_encbuf_init(&b, 0);
        st_put_prom_value(&b, cases[i].v);
        assert_int_equal(b.err, 0);
        assert_int_equal(b.len, strlen(cases[i].want));
        assert_memory_equal(b.p, cases[i].want, b.len);
        st_encbuf_free(&b);
    }
}

/* The extremes: 1e300 is "1" and 300 zeros, 5e-324 is "0." 323 zeros "5". */
static void test_prom_value_extremes(void **state) {
    (void)state;
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_prom_value(&b, 1e300);
    assert_int_equal(b.len, 301);
    assert_int_equal(b.p[0], '1');
    for (size_t i = 1; i < b.len; i++) assert_int_equal(b.p[i], '0');
    st_encbuf_reset(&b);
    st_put_prom_value(&b, -5e-324);
    assert_int_equal(b.len, 1 + 2 + 323 + 1);
    assert_memory_equal(b.p, "-0.000", 6);
    assert_int_equal(b.p[b.len - 1], '5');
    assert_int_equal(b.p[b.len - 2], '0');
    st_encbuf_reset(&b);
    st_put_prom_value(&b, 1.7976931348623157e308);
    assert_int_equal(b.len, 309);
    assert_memory_equal(b.p, "17976931348623157000", 20);
    st_encbuf_free(&b);
}

/* ---- the previous formatter, kept as the oracle of the current one ----
 * It asks the C library: the fewest significant digits p for which the
 * correctly rounded p-digit decimal (or, at a power of two where the
 * rounding interval is lopsided, its neighbour on the other side of v)
 * reads back through strtod as v; ~3 us a value. */

/* digs[0..p) x 10^*xp plus one unit in the last digit. */
static void old_digits_up(char *digs, int p, int *xp) {
    int i = p - 1;
    while (i >= 0 && digs[i] == '9') digs[i--] = '0';
    if (i >= 0) {
        digs[i]++;
    } else {
        digs[0] = '1';
        ++*xp;
    }
}

/* The p-digit decimal nearest to v, rounded from ex (the first 41
 * significant digits of v correctly rounded, exponent x); at an apparent
 * exact half, printf decides. */
static void old_round_to(double v, const char ex[41], int x, int p, char digs[18], int *xp) {
    bool up = ex[p] > '5';
    if (ex[p] == '5') {
        int i = p + 1;
        while (i < 41 && ex[i] == '0') i++;
        if (i == 41) {
            char buf[40];
            snprintf(buf, sizeof buf, "%.*e", p - 1, v);
            int n = 0;
            for (char *q = buf; *q != 'e'; q++)
                if (*q != '.') digs[n++] = *q;
            *xp = atoi(strchr(buf, 'e') + 1);
            return;
        }
        up = true;
    }
    memcpy(digs, ex, (size_t)p);
    *xp = x;
    if (!up) return;
    old_digits_up(digs, p, xp);
}

static double old_read_back(const char *digs, int nd, int x) {
    char buf[40];
    snprintf(buf, sizeof buf, "%c.%.*se%d", digs[0], nd - 1, digs + 1, x);
    return strtod(buf, NULL);
}

static bool old_fits(double v, const char ex[41], int x, int p, char digs[18], int *xp) {
    old_round_to(v, ex, x, p, digs, xp);
    double back = old_read_back(digs, p, *xp);
    if (back == v) return true;
    int i = p - 1;
    if (back < v) {
        old_digits_up(digs, p, xp);
    } else {
        while (i >= 0 && digs[i] == '0') digs[i--] = '9';
        if (i == 0 && digs[0] == '1') {
            memset(digs, '9', (size_t)p);
            --*xp;
        } else {
            digs[i]--;
        }
    }
    return old_read_back(digs, p, *xp) == v;
}

static int old_shortest_digits(double v, char digs[18], int *exp10) {
    char buf[64], ex[41];
    snprintf(buf, sizeof buf, "%.40e", v);
    ex[0] = buf[0];
    memcpy(ex + 1, buf + 2, 40);
    int x = atoi(buf + 43);
    int lo = 1, hi = 17, nd = 0;
    char cand[18];
    int cx;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (old_fits(v, ex, x, mid, cand, &cx)) {
            hi = mid;
            memcpy(digs, cand, (size_t)mid);
            nd = mid;
            *exp10 = cx;
        } else {
            lo = mid + 1;
        }
    }
    if (nd != lo) {
        (void)old_fits(v, ex, x, lo, digs, exp10);
        nd = lo;
    }
    while (nd > 1 && digs[nd - 1] == '0') nd--;
    return nd;
}

/* The old st_fmt_go_g and st_put_prom_value of a finite v. */
static void old_format(double v, char g[ST_FLOAT_BUF], char *f) {
    char digs[18];
    int x = 0, nd = 1;
    digs[0] = '0';
    if (v != 0) nd = old_shortest_digits(fabs(v), digs, &x);
    char *o = g;
    if (signbit(v)) *o++ = '-';
    if (x < -4 || x >= 6) {
        *o++ = digs[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digs + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    } else {
        *o = 0;
    }
    o = f;
    if (signbit(v)) *o++ = '-';
    if (x < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > x; i--) *o++ = '0';
        memcpy(o, digs, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i <= x || i < nd; i++) {
            if (i == x + 1) *o++ = '.';
            *o++ = i < nd ? digs[i] : '0';
        }
    }
    *o = 0;
    if (!(x < -4 || x >= 6)) strcpy(g, f);
}

static uint64_t xorshift(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static double from_bits(uint64_t u) {
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static uint64_t n_checked;

static void check_against_old(double v) {
    if (!isfinite(v)) return;
    char want_g[ST_FLOAT_BUF], want_f[400], got_g[ST_FLOAT_BUF];
    old_format(v, want_g, want_f);
    st_fmt_go_g(got_g, v);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_prom_value(&b, v);
    bool ok = !b.err && strcmp(got_g, want_g) == 0 && b.len == strlen(want_f) && memcmp(b.p, want_f, b.len) == 0;
    if (!ok) {
        uint64_t u;
        memcpy(&u, &v, sizeof u);
        fprintf(stderr, "0x%016llx: %%g got %s want %s; 'f' got %.*s want %s\n", (unsigned long long)u, got_g,
                want_g, (int)b.len, (const char *)b.p, want_f);
    }
    st_encbuf_free(&b);
    assert_true(ok);
    n_checked++;
}

/* The shortest-digits formatter gives the old one's bytes on: every power
 * of two and its neighbours (the lopsided intervals), powers of ten and
 * theirs, the smallest subnormals, integers around 2^53, and random
 * doubles of every kind — all bit patterns, integers of every size, short
 * decimals as scraped, quotients as rates give. ST_TEXTFMT_ROUNDS scales
 * the random part (1 = ~0.5 M values, a few seconds; the change was
 * checked once with 64, ~30 M values). */
static void test_shortest_matches_old(void **state) {
    (void)state;
    const char *env = getenv("ST_TEXTFMT_ROUNDS");
    long rounds = env ? atol(env) : 1;
    n_checked = 0;
    for (int e = -1074; e <= 1023; e++) {
        double p = ldexp(1, e);
        check_against_old(p);
        check_against_old(nextafter(p, 0));
        check_against_old(nextafter(p, INFINITY));
        check_against_old(-p);
    }
    for (int e = -323; e <= 308; e++) {
        char buf[16];
        snprintf(buf, sizeof buf, "1e%d", e);
        double p = strtod(buf, NULL);
        check_against_old(p);
        check_against_old(nextafter(p, 0));
        check_against_old(nextafter(p, INFINITY));
    }
    for (uint64_t c = 1; c < 20000; c++) check_against_old(from_bits(c));
    for (uint64_t c = 0; c < 20000; c++) {
        check_against_old((double)((1ULL << 53) - c));
        check_against_old((double)((1ULL << 53) + 2 * c));
        check_against_old((double)c);
    }
    uint64_t x = 0x2545f4914f6cdd1dULL;
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < 100000; i++) check_against_old(from_bits(xorshift(&x)));
        for (int i = 0; i < 100000; i++) {
            uint64_t u = xorshift(&x);
            check_against_old((double)(u >> (u % 64)));
        }
        for (int i = 0; i < 100000; i++) {
            uint64_t u = xorshift(&x);
            char buf[40];
            snprintf(buf, sizeof buf, "%llue%d", (unsigned long long)(u % 1000000 >> (u >> 60)),
                     (int)((u >> 20) % 61) - 30);
            check_against_old(strtod(buf, NULL));
        }
        for (int i = 0; i < 100000; i++) {
            uint64_t u = xorshift(&x), w = xorshift(&x);
            check_against_old((double)(u % 100000000) / (double)(w % 3600 + 1));
        }
        for (int i = 0; i < 100000; i++) {
            uint64_t u = xorshift(&x);
            double d = (double)(u >> 11) / 9007199254740992.0; /* [0, 1) */
            check_against_old(d * pow(10, (double)((int)(u % 41) - 20)));
        }
    }
    fprintf(stderr, "checked %llu values\n", (unsigned long long)n_checked);
}

static void check_quote(const char *in, size_t len, const char *want) {
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_go_quote(&b, in, len);
    assert_int_equal(b.err, 0);
    if (b.len != strlen(want) || memcmp(b.p, want, b.len) != 0) {
        fprintf(stderr, "quote mismatch: got %.*s want %s\n", (int)b.len, (const char *)b.p, want);
        fail();
    }
    st_encbuf_free(&b);
}

static void test_go_quote_promtool_table(void **state) {
    (void)state;
    static const struct { const char *in; const char *want; } cases[] = {
        {"aAb", "\"aAb\""},
        {"a\x09" "b", "\"a\\tb\""},
        {"a\x01" "b", "\"a\\x01b\""},
        {"a\x7f" "b", "\"a\\x7fb\""},
        {"a\xc2\x80" "b", "\"a\\u0080b\""},
        {"a\xc2\x85" "b", "\"a\\u0085b\""},
        {"a\xc2\x9f" "b", "\"a\\u009fb\""},
        {"a\xc2\xa0" "b", "\"a\\u00a0b\""},
        {"a\xc2\xa1" "b", "\"a\xc2\xa1" "b\""},
        {"a\xc2\xad" "b", "\"a\\u00adb\""},
        {"a\xc3\xa9" "b", "\"a\xc3\xa9" "b\""},
        {"a\xcd\xb8" "b", "\"a\\u0378b\""},
        {"a\xd8\x80" "b", "\"a\\u0600b\""},
        {"a\xe1\x9a\x80" "b", "\"a\\u1680b\""},
        {"a\xe1\xa0\x8e" "b", "\"a\\u180eb\""},
        {"a\xe2\x80\x80" "b", "\"a\\u2000b\""},
        {"a\xe2\x80\x8b" "b", "\"a\\u200bb\""},
        {"a\xe2\x80\x8e" "b", "\"a\\u200eb\""},
        {"a\xe2\x80\xa8" "b", "\"a\\u2028b\""},
        {"a\xe2\x80\xaf" "b", "\"a\\u202fb\""},
        {"a\xe2\x81\x9f" "b", "\"a\\u205fb\""},
        {"a\xe2\x81\xa0" "b", "\"a\\u2060b\""},
        {"a\xe2\x81\xa6" "b", "\"a\\u2066b\""},
        {"a\xe3\x80\x80" "b", "\"a\\u3000b\""},
        {"a\xed\x9f\xbf" "b", "\"a\\ud7ffb\""},
        {"a\xee\x80\x80" "b", "\"a\\ue000b\""},
        {"a\xef\xa3\xbf" "b", "\"a\\uf8ffb\""},
        {"a\xef\xbb\xbf" "b", "\"a\\ufeffb\""},
        {"a\xef\xbf\xb9" "b", "\"a\\ufff9b\""},
        {"a\xef\xbf\xbd" "b", "\"a\xef\xbf\xbd" "b\""},
        {"a\xef\xbf\xbe" "b", "\"a\\ufffeb\""},
        {"a\xef\xbf\xbf" "b", "\"a\\uffffb\""},
        {"a\xf0\x9f\x98\x80" "b", "\"a\xf0\x9f\x98\x80" "b\""},
        {"a\xf3\xa0\x80\x81" "b", "\"a\\U000e0001b\""},
        {"a\xf3\xa0\x84\x80" "b", "\"a\xf3\xa0\x84\x80" "b\""},
        {"a\xf3\xb0\x80\x80" "b", "\"a\\U000f0000b\""},
        {"a\xf4\x8f\xbf\xbf" "b", "\"a\\U0010ffffb\""},
        {"a\xf4\x8f\xbf\xbd" "b", "\"a\\U0010fffdb\""},
        {"a\x1b" "b", "\"a\\x1bb\""},
        {"a~b", "\"a~b\""},
        {"a b", "\"a b\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_quote(cases[i].in, strlen(cases[i].in), cases[i].want);
}

static void test_go_quote_escapes_and_invalid_utf8(void **state) {
    (void)state;
    static const struct { const char *in; size_t len; const char *want; } cases[] = {
        {"", 0, "\"\""},
        {"a\\b\"c", 5, "\"a\\\\b\\\"c\""},
        {"l1\nl2", 5, "\"l1\\nl2\""},
        {"\a\b\f\r\t\v", 6, "\"\\a\\b\\f\\r\\t\\v\""},
        {"\0x", 2, "\"\\x00x\""},
        {"\xff", 1, "\"\\xff\""},
        {"\xe2\x82", 2, "\"\\xe2\\x82\""},             /* truncated 3-byte sequence */
        {"\xe2\x82" "a", 3, "\"\\xe2\\x82" "a\""},
        {"\xc0\xaf", 2, "\"\\xc0\\xaf\""},             /* overlong '/' */
        {"\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\""},    /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, "\"\\xf4\\x90\\x80\\x80\""}, /* above U+10FFFF */
        {"\x80", 1, "\"\\x80\""},                      /* lone continuation byte */
        {"\xe6\x97\xa5\xe6\x9c\xac", 6, "\"\xe6\x97\xa5\xe6\x9c\xac\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_quote(cases[i].in, cases[i].len, cases[i].want);
}

/* promtool: {__name__="q", i="900", v="bs\\ q\" nl\n t\\t"} for the
 * OpenMetrics label value "bs\\ q\" nl\n t\t" (the unknown escape \t stays
 * a backslash and a 't'). */
static void test_labels_go(void **state) {
    (void)state;
    st_label_t pairs[] = {st_label("v", "bs\\ q\" nl\n t\\t"), st_label("__name__", "q"), st_label("i", "900")};
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, pairs, 3), 0);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_put_labels_go(&b, &l);
    const char *want = "{__name__=\"q\", i=\"900\", v=\"bs\\\\ q\\\" nl\\n t\\\\t\"}";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.p, want, b.len);
    st_encbuf_reset(&b);
    st_labels_t empty = {NULL, 0};
    st_put_labels_go(&b, &empty);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.p, "{}", 2);
    st_encbuf_free(&b);
    st_labels_free(&l);
}

static void test_utf8(void **state) {
    (void)state;
    static const struct { const char *s; size_t len; bool valid; } cases[] = {
        {"plain ascii, longer than eight bytes", 36, true},
        {"caf\xc3\xa9", 5, true},
        {"\xef\xbf\xbd", 3, true},
        {"\xf0\x9f\x98\x80", 4, true},
        {"\xf4\x8f\xbf\xbf", 4, true},
        {"abcdefgh\xff", 9, false},
        {"\xc1\xbf", 2, false},
        {"\xe0\x9f\xbf", 3, false},
        {"\xed\xbf\xbf", 3, false},
        {"\xf0\x8f\xbf\xbf", 4, false},
        {"\xf5\x80\x80\x80", 4, false},
        {"\xf0\x9f\x98", 3, false},
        {"\xc3", 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(st_utf8_valid(cases[i].s, cases[i].len), cases[i].valid);
    uint32_t cp = 0;
    assert_int_equal(st_utf8_decode((const uint8_t *)"\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20ac);
    assert_int_equal(st_utf8_decode((const uint8_t *)"\xe2\x82\xac", 2, &cp), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_g_promtool_table),
        cmocka_unit_test(test_go_g_round_trips),
        cmocka_unit_test(test_prom_value),
        cmocka_unit_test(test_prom_value_extremes),
        cmocka_unit_test(test_shortest_matches_old),
        cmocka_unit_test(test_go_quote_promtool_table),
        cmocka_unit_test(test_go_quote_escapes_and_invalid_utf8),
        cmocka_unit_test(test_labels_go),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
