#!/usr/bin/env bash
# The PromQL parser against a live Prometheus 2.42 (empty data dir, free
# port on 127.0.0.1):
#  1. every query of tests/unit/promql/cases.jsonl is asked again at
#     /api/v1/format_query (ParseExpr: canonical text or parse error); the
#     answers must equal the committed table, so the unit test's expectations
#     can never drift from the oracle;
#  2. promql_driver (st_promql_parse + st_promql_format) must give the same
#     answers as that live Prometheus, apart from the divergences the unit
#     test lists (regex error wording).
source "$(dirname "$0")/../lib.sh"
: "${DRIVER:?}" "${CASES:?}" "${ORACLE:?}"

step "start prometheus"
start_prometheus "$IT_WORK/data"

step "the committed table still matches Prometheus"
if run table 240 python3 "$ORACLE" --url "$PROM_URL" --check "$CASES"; then
	note "$(tail -n 1 "$IT_WORK/table.out")"
else
	cat "$IT_WORK/table.out" "$IT_WORK/table.err" | head -n 40
	fail_check "cases.jsonl differs from what Prometheus answers now"
fi

step "promql_driver against Prometheus, query by query"
run driver 240 python3 "$(dirname "$0")/compare_driver.py" "$DRIVER" "$CASES" --url "$PROM_URL" --oracle "$ORACLE" || true
summary=$(tail -n 1 "$IT_WORK/driver.out")
note "$summary"
# the regex-wording divergences of tests/unit/promql/test_promql.c are the only ones allowed
diffs=$(grep -c '^DIFF' "$IT_WORK/driver.out" || true)
unexplained=$(grep -A2 '^DIFF' "$IT_WORK/driver.out" | grep -c "want error .*error parsing regexp" || true)
if [[ ! $summary =~ passed ]]; then
	cat "$IT_WORK/driver.err" | head -n 20
	fail_check "compare_driver.py did not finish"
elif ((diffs != unexplained)); then
	grep -A2 '^DIFF' "$IT_WORK/driver.out" | head -n 60
	fail_check "$((diffs - unexplained)) queries answered differently from Prometheus"
fi

finish
