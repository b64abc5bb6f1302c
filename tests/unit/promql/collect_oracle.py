#!/usr/bin/env python3
"""Builds tests/unit/promql/cases.jsonl: what real Prometheus 2.42 says about
each query below.

Every query is sent to GET /api/v1/format_query of a Prometheus 2.42 (started
here on a free 127.0.0.1 port with an empty data dir, or the one --url names).
That endpoint runs exactly parser.ParseExpr (syntax and type checks, no
evaluation) and answers either the canonical text (Pretty(0), which is
String() for expressions of at most 100 characters) or the parse error
"L:C: parse error: ..." behind the prefix `invalid parameter "query": `.

Output, one JSON object a line:
  {"query": Q, "ok": true,  "want": CANONICAL}
  {"query": Q, "ok": false, "want": "1:5: parse error: ..."}
A query that is not valid UTF-8 is stored as "query_hex" instead of "query".

  collect_oracle.py [--url http://127.0.0.1:PORT] [--prometheus BIN] OUT

--check TABLE compares a live Prometheus with an existing table instead
(used by tests/integration/promql) and exits 1 on any difference.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

FUNCS_VECTOR = ["abs", "absent", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "cos", "cosh",
                "deg", "exp", "floor", "histogram_count", "histogram_sum", "ln", "log10", "log2", "rad",
                "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt", "tan", "tanh", "timestamp"]
FUNCS_MATRIX = ["absent_over_time", "avg_over_time", "changes", "count_over_time", "delta", "deriv", "idelta",
                "increase", "irate", "last_over_time", "max_over_time", "min_over_time", "present_over_time",
                "rate", "resets", "stddev_over_time", "stdvar_over_time", "sum_over_time"]
FUNCS_DATE = ["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"]
AGGRS = ["sum", "avg", "count", "min", "max", "group", "stddev", "stdvar"]
BINOPS = ["+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless", "atan2"]

QUERIES = [
    # numbers
    "1", "1.5", ".5", "5.", "1e3", "1E-3", "1.5e+3", "0x1F", "0X1f", "0755", "09", "010", "0", "-0",
    "Inf", "inf", "-Inf", "+Inf", "NaN", "nan", "-nan", "iNf", "1e999", "0x", "1e", "1e+",
    "99999999999999999999", "0xFFFFFFFFFFFFFFFFFF", "123456", "1234567", "0.0001", "0.00001", "1e21",
    "100000", "1000000", "-1", "- 1", "+1", "--1", "-+1", "1_000", "1.2.3", "0x1p3", "5m", "1..2", ".e3",
    "0.1 + 0.2", "3.141592653589793", "1e-310", "Infinity", "12abc", "0xg", "1e3e3",
    # strings
    "\"foo\"", "'foo'", "`foo`", "\"a\\nb\"", "\"\\x41\"", "\"\\u00e9\"", "\"\\U0001F600\"", "'\\''",
    "\"\\'\"", "'\\\"'", "`a\\nb`", "\"\\q\"", "\"abc", "\"a\nb\"", "`a\nb`", "\"\\x4", "\"\\400\"",
    "\"\\uD800\"", "\"\\377\"", "\"\\t\\v\\f\\a\\b\\r\\\\\"", "\"\u00e9\"", "\"a\\\"b\"", "\"\\xff\"",
    "`abc", "'abc", "\"\\", "\"\\x\"", "\"\\u12\"", "\"\\U00110000\"", "\"\\x00\"", "\"\u2028\"",
    "foo \"abcdefghijklmnop\"", "foo \"abc\"", "foo 'abcdefghijklmnopq'", "\"a\" \"b\"",
    # vector selectors
    "foo", "foo:bar", ":foo", "foo:bar:baz", "_foo", "foo1", "foo{}", "foo{a=\"b\"}", "{a=\"b\"}",
    "{a=\"\"}", "{a=~\".*\"}", "{a=~\".+\"}", "{a!~\"\"}", "{a!=\"\"}", "{__name__=\"foo\"}",
    "foo{__name__=\"bar\"}", "foo{__name__=\"foo\"}", "{__name__=~\"foo.*\"}", "foo{a=\"b\",}",
    "foo{a=\"b\" c=\"d\"}", "foo{a!=\"b\"}", "foo{a=~\"b|c\"}", "foo{a!~\"b\"}", "foo{b=\"x\",a=\"y\"}",
    "foo{c=\"1\",a!=\"2\",b=~\"3\"}", "foo{a=\"b\"}{c=\"d\"}", "foo{a=b}", "foo{a}", "{}", "foo{1=\"a\"}",
    "foo{a=\"b\",,}", "foo{a:b=\"c\"}", "foo{a=~\"(\"}", "foo{a=~\"[a-\"}", "foo{a=~\"a)|(b\"}", "sum{a=\"b\"}",
    "offset", "by", "start", "end", "and", "or", "unless", "without", "count_values", "quantile",
    "on", "ignoring", "group_left", "bool", "atan2", "foo{by=\"a\", on=\"b\", offset=\"c\"}",
    "foo{a='b'}", "foo{a=`b`}", "foo{a=\"\\n\"}", "{__name__=\"foo\",a=\"b\"}", "foo{__name__=\"foo\",a=\"b\"}",
    "{__name__=\"a\", __name__=\"b\"}", "foo{a=\"b\"", "foo{", "foo{a=\"b\"}}", "foo{a=\"b\"{", "foo{,}",
    "foo{=\"a\"}", "foo{a=~}", "foo{a!}", "foo{a!x\"b\"}", "foo{a=\"x\\qy\"}", "foo{a=\"b\" # c\n}",
    "foo{ a = \"b\" }", "{a=\"b\", a=\"c\"}", "foo{a=\"é\"}", "foo{a=\"\\xff\"}", "foo{A=\"b\"}",
    "foo{_=\"b\"}", "foo{a=\"b\"} bar", "foo bar", "foo:bar{a=\"b\"}", "foo{a=\"b\"}[5m]", "{a=~\"\"}",
    "{a=~\"b?\"}", "{a!~\".+\"}", "{a=\"b\"} and {c=~\".*\"}",
    # range selectors
    "foo[5m]", "foo[1h30m]", "foo[5ms]", "foo[1y2w3d4h5m6s7ms]", "foo[90m]", "foo[0s]", "foo[5]", "foo[]",
    "foo[5m", "foo[5m x]", "foo[5.5m]", "foo[1h1y]", "foo[5m] offset 1m", "foo offset 1m [5m]", "(foo)[5m]",
    "sum(foo)[5m]", "1[5m]", "\"a\"[5m]", "foo[5m][5m]", "foo[ 5m ]", "foo[5m:1m:]", "foo[3d]", "foo[14d]",
    "foo[365d]", "foo[100000000000y]", "foo[1m5m]", "foo[1000ms]", "foo[61s]", "foo[7d]", "foo[48h]",
    "foo[abc]", "foo[5m]]", "foo]", "[5m]", "foo[[5m]]", "foo[5m,]", "foo[-5m]", "foo[5M]", "foo[5mm]",
    "foo[5mh]", "foo[1w1d]", "foo[5m] @ 100 [1m]", "foo @ 100 [5m]", "foo[5m # c\n]", "foo{a=\"b\"}[1h] offset 1d",
    "foo[59999ms]", "foo[1y1d]", "foo[0m]", "foo[00m]", "foo[1s1s]",
    # subqueries
    "foo[5m:1m]", "foo[5m:]", "rate(foo[5m])[30m:1m]", "foo[5m:1m] offset 5m", "foo[5m:1m] @ 100",
    "foo[5m:1m] offset -5m @ end()", "sum(rate(x[1m]))[10m:] offset 1h", "foo[5m:1]", "foo[5m:1m 1m]",
    "(foo[5m])[10m:1m]", "1[5m:1m]", "foo[5m:0s]", "foo[5m:1m] offset 1m offset 2m", "foo[5m : 1m]",
    "foo[5m:1m]]", "foo[5m:1m][10m:]", "foo offset 5m [10m:]", "foo[5m:1m] @ start() @ end()",
    "foo[5m:1m", "foo[5m:", "foo[5m:1m,]", "\"a\"[5m:]", "-foo[5m:]", "foo[1h:5m] @ 100 offset 1m",
    "min_over_time(rate(foo[1m])[5m:])", "foo[5m:1mx]",
    # offset
    "foo offset 5m", "foo offset -5m", "foo OFFSET 1h", "foo offset 5m offset 1m", "foo offset", "foo offset 5",
    "foo offset - 5m", "foo offset -", "1 offset 5m", "sum(foo) offset 5m", "rate(foo[5m] offset 1m)",
    "foo[5m] offset 1m offset 1m", "foo offset 1h30m", "foo offset 0s", "foo offset 90s", "foo offset 5m bar",
    "foo offset +5m", "(foo) offset 5m", "foo offset 1y", "foo offset -1y2w", "-foo offset 5m",
    # @
    "foo @ 1609746000", "foo @ 1609746000.123", "foo @ -100", "foo @ +100", "foo @ start()", "foo @ end()",
    "foo @ start", "foo @ end ( )", "foo @ 1e3", "foo @ Inf", "foo @ NaN", "foo @", "foo @ bar",
    "foo @ 5 @ 6", "foo @ start() @ end()", "foo offset 5m @ 100", "foo @ 100 offset 5m", "foo[5m] @ 100",
    "1 @ 100", "sum(foo) @ 100", "foo @ 0x10", "foo @ 1.0005", "foo @ 0.0004", "foo @ 9.3e18",
    "foo @ -9.3e18", "foo @ start(", "foo @ start)", "foo @ \"1\"", "foo @ - start()", "foo @ 5m",
    "foo @ 100 [5m:1m]", "(foo @ 100)", "foo @ 1.5e9 offset -1h", "foo@100", "foo @ 123456789.999999",
    # binary operators, one by one and with precedence
] + ["foo %s bar" % op for op in BINOPS] + ["1 %s 2" % op for op in BINOPS] + [
    "1 + 2 * 3", "(1 + 2) * 3", "2 ^ 3 ^ 2", "(2 ^ 3) ^ 2", "-2 ^ 2", "-foo", "-(foo)", "1 - -1",
    "a + b * c - d / e % f", "a or b and c unless d", "a == b or c", "a > b + c", "foo + 1", "1 + foo",
    "1 > bool 2", "foo > bool 1", "foo + bool bar", "foo and 1", "1 and foo", "1 or 1", "foo and on(a) bar",
    "foo or ignoring(a) bar", "foo and on(a) group_left bar", "foo * on(a) group_left(b) bar",
    "foo * on(a) group_right(b) bar", "foo * ignoring(a) group_left bar", "foo * on() bar",
    "foo * on(a) group_left(a) bar", "foo * ignoring(a) group_left(a) bar", "foo * on(a,) bar",
    "foo * on(a b) bar", "foo * on a bar", "foo * group_left bar", "foo * on(a) group_left bar",
    "1 atan2 2", "foo[5m] + 1", "\"a\" + 1", "foo + on(a) 1", "1 + on() 1", "foo == bool on(a) bar",
    "foo / ignoring(a, b) group_left(c, d) bar", "foo ^ bar ^ baz", "1 + +1", "+foo", "- - foo",
    "foo * -bar", "foo + bar offset 5m", "a + b @ 5", "a + b [5m]", "1 == 2", "1 != bool 2",
    "foo * ignoring() bar", "foo * on(a) group_right bar", "foo * on(a) group_right() bar",
    "foo and ignoring() bar", "foo unless on(a) group_right(b) bar", "foo == on(a) bool bar",
    "foo * bool bar", "foo * on(a) bool bar", "a - -b ^ c", "-a * b", "-a ^ b", "a ^ -b * c",
    "a * b / c % d atan2 e", "a atan2 b ^ c", "a + b == c - d", "a == b != c", "a and b or c and d",
    "a unless b or c", "foo +", "+", "* foo", "foo + * bar", "foo and", "foo ==", "foo > = bar",
    "foo => bar", "foo =< bar", "foo <> bar", "foo !== bar", "foo === bar", "foo = bar", "foo ! bar",
    "foo =~ bar", "foo !~ bar", "foo * on(a) group_left(b) group_right(c) bar", "foo * on(a) on(b) bar",
    "foo * group_left(a) on(b) bar", "foo * on (a) group_left (b c) bar", "foo * on(a) group_left(b,) bar",
    "foo * on(\"a\") bar", "foo * on(a:b) bar", "foo * on(sum, by, on) bar", "1 + 2 > bool 3 - 4",
    "foo > bool bar * 2", "(foo > bool 1) + 1", "foo + (1 > 2)", "scalar(foo) > 1", "scalar(foo) > bool 1",
    "time() + 1", "-1 ^ 2", "- 1 ^ 2", "-(1) ^ 2", "foo[5m] and bar", "foo and bar[5m]", "foo + \"a\"",
    "foo / on(a) group_left(a) bar", "foo * on(a, b) group_right(b) bar", "foo or on() bar",
    # aggregations
] + ["%s(foo)" % a for a in AGGRS] + ["%s by (a) (foo)" % a for a in AGGRS] + [
    "sum(foo) by (a)", "sum without (a) (foo)", "sum(foo) without (a, b)", "sum by () (foo)",
    "sum by (a,) (foo)", "sum by(a)(foo)", "count_values(\"x\", foo)", "topk(5, foo)", "bottomk(5, foo)",
    "quantile(0.9, foo)", "topk(foo)", "sum()", "sum(foo, bar)", "topk(\"a\", foo)", "count_values(5, foo)",
    "quantile(foo, 0.9)", "sum(1)", "sum(foo[5m])", "sum by (foo:bar) (x)", "sum by (1) (x)", "sum by foo (x)",
    "sum foo", "sum(foo) by", "sum (foo) by (a) (b)", "SUM(foo)", "Sum by (a) (foo)", "sum by (sum) (foo)",
    "sum by (on, by, group_left, bool, offset, start, end, atan2) (foo)", "sum by (a b) (foo)",
    "sum(foo) by (a) offset 5m", "sum(foo bar)", "sum(rate(foo bar))", "topk(5, foo) by (a)",
    "count_values by (a) (\"x\", foo)", "sum without () (foo)", "sum by (a) without (b) (foo)",
    "sum(foo) by (a) by (b)", "sum by (a)", "sum by", "sum(", "sum(foo,)", "sum(,)", "topk(5, foo, bar)",
    "quantile(\"a\", foo)", "count_values(\"x\", 1)", "topk(5, 1)", "sum(\"a\")", "avg(-foo)",
    "sum by (a) (rate(foo[5m])) / on(a) group_left sum by (a) (bar)", "sum by ((a)) (foo)",
    "sum by (a) foo", "sum by (a) (foo) (bar)", "sum by (\"a\") (foo)", "max_over_time(sum(foo)[5m:])",
    "topk(scalar(foo), bar)", "topk(-1, bar)", "sum(foo) + sum(bar)", "sum(foo)[5m:]", "sum(foo) @ start()",
    "sum(foo) by (a)[5m:1m]", "stddev without (a) (foo)", "group(foo) by ()", "count(count(foo) by (a))",
    "sum by (é) (foo)", "sum by (a, b, c) (foo)", "sum by (c, b, a) (foo)", "sum(foo) by (a,)",
    "sum(foo) without ()", "sum without(a)(foo)", "topk by (a) (5, foo)", "quantile without (a) (0.5, foo)",
    # functions
] + ["%s(foo)" % f for f in FUNCS_VECTOR] + ["%s(foo[5m])" % f for f in FUNCS_MATRIX] + \
    ["%s()" % f for f in FUNCS_DATE] + ["%s(foo)" % f for f in FUNCS_DATE] + [
    "rate(foo)", "rate()", "rate(foo[5m], 1)", "label_join(foo, \"a\", \",\")",
    "label_join(foo, \"a\", \",\", \"b\", \"c\")", "label_join(foo, \"a\", \",\", \"b\")",
    "label_join(foo, \"a\", \",\", 1)", "label_replace(foo, \"a\", \"b\", \"c\", \"d\")",
    "label_replace(foo, \"a\", \"b\", \"c\")", "label_replace(foo, \"a\", \"b\", \"c\", 1)",
    "round(foo)", "round(foo, 5)", "round(foo, 5, 6)", "day_of_month(foo, bar)", "hour(foo[5m])", "time()",
    "time(1)", "pi()", "pi(1)", "vector(1)", "vector(foo)", "vector()", "scalar(foo)", "scalar(1)",
    "absent(nonexistent{job=\"x\"})", "histogram_quantile(0.9, rate(x[5m]))", "histogram_quantile(0.9)",
    "histogram_quantile(foo, 0.9)", "histogram_fraction(0, 1, x)", "histogram_fraction(0, 1, x[5m])",
    "holt_winters(foo[5m], 0.5, 0.1)", "holt_winters(foo, 0.5, 0.1)", "holt_winters(foo[5m], 0.5)",
    "predict_linear(foo[5m], 3600)", "predict_linear(foo[5m])", "predict_linear(foo, 3600)",
    "quantile_over_time(0.5, foo[5m])", "quantile_over_time(foo[5m], 0.5)", "clamp(foo, 0, 1)",
    "clamp(foo, 0)", "clamp_max(foo, 1)", "clamp_min(foo, 0)", "clamp_min(foo, \"a\")", "timestamp(foo[5m])",
    "foo(1)", "foo:bar(1)", "rate(foo[5m],)", "rate(,)", "RATE(foo[5m])", "rate (foo[5m])",
    "rate(foo[5m]) by (a)", "abs(1)", "abs(\"a\")", "sort(foo) offset 5m", "rate(foo[5m]) [5m:]",
    "absent_over_time(foo{a=\"b\"}[1h])", "count_over_time(foo[5m:1m])", "rate(sum(foo)[5m:1m])",
    "label_replace(rate(foo[5m]), \"dst\", \"$1\", \"src\", \"(.*)\")", "vector(time())",
    "exp(sum(rate(foo[1m])) by (a))", "ln(foo[5m])", "days_in_month(foo, bar)", "year(vector(1))",
    "round(foo, scalar(bar))", "rate(foo[5m] + 1)", "rate(foo offset 5m)", "rate(foo[5m] @ 100)",
    "time() > 5", "histogram_count(rate(foo[5m]))", "histogram_sum(foo[5m])", "sqrt(-foo)",
    "deriv(foo[5m:])", "irate(foo{a=~\"b\"}[1m])", "sort_desc(sum by (a) (foo))", "rate(foo[5m]", "rate(",
    "rate(foo[5m]))", "rate(foo[5m] bar)", "unknown_func()", "label_join()", "foo()", "rate(\"a\")",
    "scalar(foo[5m])", "clamp(foo, 0, 1, 2)", "minute(foo, bar, baz)",
    # parentheses
    "(foo)", "((foo))", "(1)", "()", "(foo", "(foo bar)", "((1 + 2))", "(foo))", "(((foo)) + 1)",
    "-(1)", "(-1)", "(\"a\")", "(foo)[5m:1m]", "(foo) @ 100", "( foo )", "(foo offset 5m)",
    # comments, whitespace and several lines
    "foo # comment", "# only a comment", "foo{a=\"b\" # c\n}", "sum( # x\n foo)", "", "   ", "\n",
    "foo\n", "\tfoo\t", "foo +\n\n bar baz", "sum(\n  rate(foo[5m]\n) by", "foo{\na=\"b\"\nc}",
    "foo +\nbar[5m]", "foo and\n  1", "\n\n  foo{}", "1 +\n  \"a\"", "rate(\n  foo\n)",
    "foo # c\n + bar", "foo #c", "#", "foo\r\n+ bar", "sum by (a) ( # c\n foo\n)",
    "foo offset 5m # one\n # two\n @ 10",
    # lexer errors and stray characters
    "foo $", "foo !", "foo ;", "foo )", "foo ]", "{", "}", "foo}", ".5m", "é", "foo é", "\"\\xff\"",
    b"foo{a=\"\xff\"}", b"\"a\xffb\"", b"foo \xfe", "foo\x00", "~", "foo ~ bar", "foo = 1", "foo[5m}", "foo(", "(", ")", "[", "]",
    "foo,", ",", "foo:", ":", "::", "foo ? bar", "foo | bar", "foo & bar", "foo . bar", "'", "`",
    "\"", "foo '", "foo\\bar", "foo[5m:1m:1m]", "foo[5m::]", "foo @ start() ()", "foo bool",
    "foo by (a)", "foo without", "foo group_left", "foo on", "foo ignoring (a)",
    "sum(foo) by (a) without (b)", "sum by (a) by (b) (foo)",
    # error contexts, nesting and positions
    "@ 5", "foo + @", "sum(@)", "foo[5m] @ @", "sum(rate(foo[5m] bar))", "sum(foo) + (bar baz)",
    "count(sum(foo bar))", "sum(foo, (bar baz))", "rate(foo[5m] offset bar)", "sum(foo offset bar)",
    "\"\\é\"", "\"\\\u2028\"", "\"\\x4g\"", "\"\\u00zz\"", "'\\é'", "`a\\`", "rate(foo, ]", "rate(foo, group_left)",
    "sum(foo, )", "label_join(foo, \"a\", \",\", \"b\",)", "time() > time()", "(1) > (2)", "1 > 2 > bool 3",
    "-1 > 2", "pi() + bool 1", "foo\n  + bar\n  + baz[5m]", "sum by (a)\n(\n  rate(x[5m] @ 5 [1m])\n)",
    "1 +\n\n\n@", "foo{a=\"b\",\n  c=~\"(\"}", "-\"a\"", "-foo[5m]", "-sum(foo)[5m:]", "sum + 1", "offset + 1",
    "by offset 5m", "start @ end()", "end[5m]", "1 + on(a) group_left(b) 2", "foo + on(a) group_left(b) 1",
    "sum by (a)(foo) and on() group_left sum(bar)", "foo @ 1e400", "foo @ -Inf", "foo @ 0x7fffffffffffffff",
    "0x7fffffffffffffff", "0x8000000000000000", "9223372036854775807", "9223372036854775808",
    "0777777777777777777777", "1e-400", "foo[292y]", "foo[293y]", "foo[106751d]", "foo[106752d]",
    "foo offset 9223372036854775807ms", "foo[99999999999999999999s]", "topk(5, foo) without (a)",
    "quantile(0.5, foo[5m])", "((((((((((1))))))))))", "sum(foo) by (a) [5m:]", "foo @ 1 [5m:]",
    "sum(foo) by (a) @ 5", "sum(1, 2) by (a)", "sum by (a) ()", "sum by (a) () $", "sum() $", "rate(foo $",
    "foo{a=\"b\"} offset 5m [5m]", "foo[5m] @ start() offset 1m", "foo @ start() [5m]", "foo @ end() [5m:]",
    "foo[5m:] @ 1 @ 2", "foo[5m:] offset 1m offset 1m", "(foo[5m:]) offset 1m", "vector(1) offset 1m",
    "foo{a=\"b\"}{", "foo{a=\"b\"}(", "{a=\"b\"}}", "foo * on(a) group_left(b) (bar)", "foo * on(a) group_left(b) ()",
    "foo and on(a) group_left (b) bar", "a / on (b) group_right (c) d + e",
    "foo{__name__=\"bar\",__name__=\"baz\"}", "{__name__=\"\"}", "{__name__!=\"foo\"}", "x{__name__=~\"a\"}",
    "foo # c1\n# c2\n  > # c3\n  1", "sum(foo) by (a) # trailing", "\"\\0\"", "\"\\08\"", "\"\\U0010FFFF\"",
    "'\\u00e9\\t'", "`\\x`", "1 + `raw`", "sum by (a) (foo) by (b)", "group_left", "foo group_right bar",
    "foo offset 5m1s", "foo offset 1s5m", "foo offset 5mm", "foo offset 5", "foo offset -5", "foo offset 5s5",
    "foo @ 6e18", "foo @ 9.3e15 [5m:]", "foo @ 9.2e15", "foo[5m5]", "foo[5s1]", "foo[1.5h]", "foo[0x5m]", "foo[1e3m]", "foo[5m]5", "foo[5m]1m",
    # long canonical forms and misc
    "sum by (job, instance) (rate(http_requests_total{job=~\"api|web\",code!~\"5..\"}[5m] offset 1h))",
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "label_replace(up, \"foo\", \"bar\", \"baz\", \"(.*)\") * on (instance) group_left (version) build_info",
    "sum(rate(a[1m])) / sum(rate(b[1m])) > bool 0.5 or vector(0)",
    "(a + b) * (c - d) / e ^ f ^ g",
    "topk(3, sum by (a) (rate(x[5m] @ end())))",
    "1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19 + 20 + 21 + 22 + 23 + 24 + 25",
    "foo{a=\"b\",c=\"d\",e=\"f\",g=\"h\"}",
    "foo{a=\"line\\nbreak\",b=\"tab\\there\",c=\"quote\\\"s\",d=\"back\\\\slash\"}",
    "{__name__=\"foo\",a=\"b\"} offset 5m",
    "count_values(\"le\", foo) by (a)",
    "max by (a) (foo) unless on(a) min by (a) (bar)",
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Prometheus:
    """A Prometheus on 127.0.0.1 with an empty data dir, stopped by PID."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="promql-oracle.")
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1m\n")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen([binary, "--config.file=" + cfg, "--storage.tsdb.path=" +
                                      os.path.join(self.dir, "data"), "--web.listen-address=127.0.0.1:%d" % self.port],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("prometheus exited during startup, log in " + self.dir)
            try:
                urllib.request.urlopen(self.url + "/-/ready", timeout=2).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.close()
        raise SystemExit("prometheus not ready within 60 s")

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def ask(url, query):
    """(ok, canonical text or parse error) for one query (bytes)."""
    q = urllib.parse.urlencode({"query": query})
    try:
        with urllib.request.urlopen(url + "/api/v1/format_query?" + q, timeout=30) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") == "success":
        return True, body["data"]
    err = body.get("error", "")
    prefix = 'invalid parameter "query": '
    if body.get("errorType") != "bad_data" or not err.startswith(prefix):
        raise SystemExit("unexpected answer for %r: %r" % (query, body))
    return False, err[len(prefix):]


def query_of(case):
    """The query's bytes."""
    if "query_hex" in case:
        return bytes.fromhex(case["query_hex"])
    return case["query"].encode("utf-8")


def encode_case(raw, ok, want):
    try:
        c = {"query": raw.decode("utf-8")}
    except UnicodeDecodeError:
        c = {"query_hex": raw.hex()}
    c["ok"] = ok
    c["want"] = want
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--url")
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--check", help="compare this table with the live Prometheus")
    args = ap.parse_args()
    prom = None
    url = args.url
    if not url:
        prom = Prometheus(args.prometheus)
        url = prom.url
    try:
        if args.check:
            with open(args.check) as f:
                cases = [json.loads(line) for line in f if line.strip()]
            bad = 0
            for c in cases:
                q = query_of(c)
                ok, want = ask(url, q)
                if ok != c["ok"] or want != c["want"]:
                    bad += 1
                    print("DRIFT %r: table %r %r, prometheus %r %r" % (q, c["ok"], c["want"], ok, want))
            print("%d cases, %d differ from the live Prometheus" % (len(cases), bad))
            sys.exit(1 if bad else 0)
        seen = set()
        rows = []
        for q in QUERIES:
            if isinstance(q, str):
                q = q.encode("utf-8")
            if q in seen:
                continue
            seen.add(q)
            ok, want = ask(url, q)
            rows.append(encode_case(q, ok, want))
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=True) + "\n")
        print("%d cases (%d valid, %d errors) written to %s" %
              (len(rows), sum(r["ok"] for r in rows), sum(not r["ok"] for r in rows), args.out))
    finally:
        if prom:
            prom.close()


if __name__ == "__main__":
    main()
