/* Prometheus API parameters and JSON strings (promapi.h). The
 * expected values are what Prometheus 2.42's parseTime and Go's
 * url.ParseQuery / encoding/json give for the same input (worked out from
 * their definitions: math.Modf, math.Round to ms, time.Unix, FromTime). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/promapi.h"
#include "strata/relabel.h"
#include "strata/err.h"

static int64_t t(const char *s) {
    int64_t ms = 0;
    int rc = st_promapi_parse_time(s, &ms);
    if (rc) fail_msg("%s: %s", s, st_errdetail(rc));
    return ms;
}

static void test_times(void **state) {
    (void)state;
    assert_int_equal(t("0"), 0);
    assert_int_equal(t("1700000000"), 1700000000000);
    assert_int_equal(t("1700000000.123"), 1700000000123);
    assert_int_equal(t("1.5"), 1500);
    assert_int_equal(t("-1.5"), -1500);
    assert_int_equal(t("0.0005"), 1);  /* math.Round: half away from zero */
    assert_int_equal(t("0.0004"), 0);
    assert_int_equal(t("-0.0005"), -1);
    assert_int_equal(t("1.9999"), 2000);
    assert_int_equal(t("2e9"), 2000000000000);
    assert_int_equal(t(".5"), 500);
    assert_int_equal(t("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(t("2020-01-01T00:00:00Z"), 1577836800000);
    assert_int_equal(t("2020-01-01T00:00:00.5+01:00"), 1577836800000 - 3600000 + 500);
    assert_int_equal(t("2020-02-29T23:59:59.999999999-00:30"), 1583020799999 + 1800000);
    assert_int_equal(t("1969-12-31T23:59:59.5Z"), -500);
    assert_int_equal(t("-292273086-05-16T16:47:06Z"), ST_PROMAPI_MIN_TIME_MS);
    assert_int_equal(t("292277025-08-18T07:12:54.999999999Z"), ST_PROMAPI_MAX_TIME_MS);
    static const char *const bad[] = {"",          "abc",  " 1",  "1 ",   "NaN", "+Inf", "0x10",
                                      "2020-13-01T00:00:00Z", "2021-02-29T00:00:00Z", "2020-01-01 00:00:00Z",
                                      "2020-01-01T00:00:00",  "2020-01-01T24:00:00Z", "1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        int rc = st_promapi_parse_time(bad[i], &ms);
        if (rc != ST_EINVAL) fail_msg("%s parsed as %lld", bad[i], (long long)ms);
    }
    int64_t ms;
    int rc = st_promapi_parse_time("ab\"c", &ms);
    assert_string_equal(st_errdetail(rc), "cannot parse \"ab\\\"c\" to a valid timestamp");
}

static void test_form(void **state) {
    (void)state;
    st_promapi_form_t f;
    const char body[] = "match%5B%5D=up%7Bjob%3D%22a+b%22%7D&start=1&&bad=%zz&semi=a;b&flag&match[]=x&end=";
    assert_int_equal(st_promapi_form_parse(&f, body, strlen(body)), 0);
    assert_int_equal(f.n, 5);
    assert_string_equal(f.v[0].key, "match[]");
    assert_string_equal(f.v[0].value, "up{job=\"a b\"}");
    assert_string_equal(st_promapi_form_get(&f, "start"), "1");
    assert_string_equal(st_promapi_form_get(&f, "flag"), "");
    assert_string_equal(f.v[3].value, "x");
    assert_string_equal(st_promapi_form_get(&f, "end"), "");
    assert_null(st_promapi_form_get(&f, "bad"));
    assert_null(st_promapi_form_get(&f, "semi"));
    st_promapi_form_free(&f);
    assert_int_equal(st_promapi_form_parse(&f, "", 0), 0);
    assert_int_equal(f.n, 0);
    st_promapi_form_free(&f);
}

static void test_json_and_names(void **state) {
    (void)state;
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 20);
    const char s[] = "a\"b\\c\n\r\t\x01<>&\x7f\xc3\xbc\xe2\x80\xa8\xff\xe2\x82";
    st_promapi_put_json_string(&b, s, sizeof s - 1);
    st_put_u8(&b, 0);
    assert_string_equal((char *)b.p,
                        "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u003c\\u003e\\u0026\x7f\xc3\xbc\\u2028\\ufffd\\ufffd\\ufffd\"");
    st_encbuf_free(&b);
    assert_true(st_label_name_valid("__name__", strlen("__name__")));
    assert_true(st_label_name_valid("A9_", strlen("A9_")));
    assert_false(st_label_name_valid("", strlen("")));
    assert_false(st_label_name_valid("1a", strlen("1a")));
    assert_false(st_label_name_valid("a-b", strlen("a-b")));
    assert_false(st_label_name_valid("ü", strlen("ü")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_json_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
