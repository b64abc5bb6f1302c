#!/usr/bin/env bash
# PromQL through strata query, over the setup of test_query_api.sh: two
# strata stores holding HA replicas of full.om (replica a without
# [+1h, +1.5h), b without [+2.5h, +3h)) behind
# `strata query --query.replica-label=replica`, and real Prometheus 2.42
# serving full.om, the oracle. compare_promql.py checks answers series by
# series, timestamp by timestamp, values within 1e-9:
#   - query_range of selectors, rate(), increase(), sum by () with dedup on
#     (default): one gap-free series per set, equal to Prometheus's;
#   - instant queries inside each replica's gap, GET and POST form;
#   - dedup=false: both replicas (the replica label kept), each with its gap;
#   - bad parameters: Prometheus's 400 bodies byte for byte;
#   - one store holding both replicas (it strips the replica label and
#     sends each series once with both replicas' chunks): the same answers;
#   - store B killed: warnings with partial response, 422 without.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../sidecar/lib_sidecar.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CMP=$HERE/compare_promql.py
source "$HERE/lib_query.sh"
# fetch NAME SUFFIX BASE PATH [curl args...] — body to NAME.SUFFIX, HTTP
# status to NAME.SUFFIX.code (000 when nothing answered)
fetch() {
	local name=$1 sfx=$2 base=$3 path=$4
	shift 4
	curl -s -m 40 -o "$IT_WORK/$name.$sfx" -w '%{http_code}' "$@" "$base$path" >"$IT_WORK/$name.$sfx.code" ||
		echo 000 >"$IT_WORK/$name.$sfx.code"
}
code_is() { # NAME.SFX CODE WHAT
	[[ $(cat "$IT_WORK/$1.code") == "$2" ]] && return 0
	fail_check "$3: HTTP $(cat "$IT_WORK/$1.code"), want $2: $(head -c 300 "$IT_WORK/$1")"
	return 1
}
# check NAME QUERY PARAMS [compare args...] — the querier's answer to
# /api/v1/query_range (PARAMS with start=) or /api/v1/query equals Prometheus's
check() {
	local name=$1 query=$2 params=$3 path=/api/v1/query
	shift 3
	[[ $params == *start=* ]] && path=/api/v1/query_range
	fetch "$name" p "$PROM_URL" "$path?$params" --data-urlencode "query=$query" -G
	fetch "$name" q "$Q" "$path?$params" --data-urlencode "query=$query" -G
	code_is "$name.p" 200 "$name (Prometheus)" || return 0
	code_is "$name.q" 200 "$name" || return 0
	if ! python3 "$CMP" "$IT_WORK/$name.p" "$IT_WORK/$name.q" "$@" >"$IT_WORK/$name.cmp" 2>&1; then
		fail_check "$name ($query): $(cat "$IT_WORK/$name.cmp")"
	else
		note "$name: $(cat "$IT_WORK/$name.cmp")"
	fi
	jq -e 'has("warnings") | not' "$IT_WORK/$name.q" >/dev/null || fail_check "$name: warnings $(jq -c .warnings "$IT_WORK/$name.q")"
}

RANGE="start=$T0&end=$((T0 + 14400))&step=60"
step "query_range, dedup on: gap-free series equal to Prometheus on the full data"
check sel_counter 'strata_gen_requests_total' "$RANGE" --min-series 5
check sel_gauge '{job=~"sensors|queue"}' "$RANGE&step=30" --min-series 5
check rate 'rate(strata_gen_requests_total[5m])' "$RANGE" --min-series 5
check increase 'increase(strata_gen_requests_total[10m])' "start=$((T0 + 3000))&end=$((T0 + 6000))&step=15" --min-series 5
check sum_rate 'sum by (job) (rate(strata_gen_requests_total[2m]))' "$RANGE" --min-series 1
check sum_gauge 'sum by (job) (strata_gen_temperature_celsius) / count by (job) (strata_gen_temperature_celsius)' \
	"start=$((T0 + 8000))&end=$((T0 + 12000))&step=120" --min-series 1
check irate_max 'max(irate(strata_gen_requests_total[3m]))' "start=$((T0 + 8700))&end=$((T0 + 11100))&step=10"

step "instant queries inside each replica's gap (GET and POST)"
check inst_a 'strata_gen_requests_total' "time=$((T0 + 4500))" --min-series 5
check inst_b 'rate(strata_gen_requests_total[5m])' "time=$((T0 + 9999)).5" --min-series 5
check inst_scalar 'scalar(sum(strata_gen_queue_length))' "time=$((T0 + 4000))"
fetch post p "$PROM_URL" /api/v1/query_range --data-urlencode 'query=sum(rate(strata_gen_requests_total[5m]))' \
	--data-urlencode "start=$T0" --data-urlencode "end=$((T0 + 14400))" --data-urlencode step=5m
fetch post q "$Q" /api/v1/query_range --data-urlencode 'query=sum(rate(strata_gen_requests_total[5m]))' \
	--data-urlencode "start=$T0" --data-urlencode "end=$((T0 + 14400))" --data-urlencode step=5m --data-urlencode dedup=true
if code_is post.q 200 "POST query_range"; then
	python3 "$CMP" "$IT_WORK/post.p" "$IT_WORK/post.q" >"$IT_WORK/post.cmp" 2>&1 || fail_check "POST: $(cat "$IT_WORK/post.cmp")"
	note "POST: $(cat "$IT_WORK/post.cmp")"
fi

step "dedup=false: both replicas, each with its gap"
fetch nodedup q "$Q" "/api/v1/query_range?$RANGE&dedup=false" --data-urlencode 'query=strata_gen_requests_total' -G
fetch nodedup p "$PROM_URL" "/api/v1/query_range?$RANGE" --data-urlencode 'query=strata_gen_requests_total' -G
if code_is nodedup.q 200 "dedup=false"; then
	read -r a0 a1 <<<"$GAP_A"
	read -r b0 b1 <<<"$GAP_B"
	# each replica's series: Prometheus's values outside its gap, nothing
	# past the 5m lookback inside it
	python3 - "$IT_WORK/nodedup.p" "$IT_WORK/nodedup.q" "$a0" "$a1" "$b0" "$b1" >"$IT_WORK/nodedup.cmp" 2>&1 <<'PY' ||
import json, math, sys
p = json.load(open(sys.argv[1]))["data"]["result"]
q = json.load(open(sys.argv[2]))["data"]["result"]
gap = {"a": tuple(map(int, sys.argv[3:5])), "b": tuple(map(int, sys.argv[5:7]))}
key = lambda m: tuple(sorted(m.items()))
want = {key(r["metric"]): {t: v for t, v in r["values"]} for r in p}
seen, errs = set(), []
for r in q:
    m = dict(r["metric"])
    rep = m.pop("replica", None)
    k = key(m)
    if rep not in gap or k not in want:
        errs.append(f"unexpected series {r['metric']}")
        continue
    seen.add((k, rep))
    g0, g1 = gap[rep]
    got = {t: v for t, v in r["values"]}
    outside = lambda ts: {t for t in ts if not g0 <= t < g1}
    if outside(got) != outside(want[k]):
        errs.append(f"{r['metric']}: timestamps outside the gap differ")
    for t in outside(got) & outside(want[k]):
        a, b = float(want[k][t]), float(got[t])
        if abs(a - b) > 1e-9 * max(1, abs(a), abs(b)):
            errs.append(f"{r['metric']} @{t}: {b}, want {a}")
            break
    if any(g0 + 300 <= t < g1 for t in got):
        errs.append(f"{r['metric']}: points inside its gap")
if len(seen) != 2 * len(want) or len(want) < 5:
    errs.append(f"{len(seen)} replica series for {len(want)} Prometheus series")
print("\n".join(errs[:8]) if errs else f"{len(seen)} replica series as expected")
sys.exit(1 if errs else 0)
PY
		fail_check "dedup=false: $(cat "$IT_WORK/nodedup.cmp")"
	note "dedup=false: $(cat "$IT_WORK/nodedup.cmp")"
fi
# replicaLabels[] naming another label: nothing is deduplicated either
fetch rl q "$Q" "/api/v1/query?time=$((T0 + 600))&replicaLabels%5B%5D=zone" --data-urlencode 'query=count(strata_gen_requests_total)' -G
fetch rl p "$PROM_URL" "/api/v1/query?time=$((T0 + 600))" --data-urlencode 'query=count(strata_gen_requests_total)' -G
[[ $(jq -r '.data.result[0].value[1] | tonumber / 2' "$IT_WORK/rl.q" 2>/dev/null) == $(jq -r '.data.result[0].value[1]' "$IT_WORK/rl.p") ]] ||
	fail_check "replicaLabels[]=zone: count $(head -c 200 "$IT_WORK/rl.q"), want twice $(head -c 200 "$IT_WORK/rl.p")"

step "bad parameters: Prometheus's answers"
same_as_prom() { # NAME PATH [curl args...]
	local name=$1 path=$2
	shift 2
	fetch "$name" p "$PROM_URL" "$path" "$@"
	fetch "$name" q "$Q" "$path" "$@"
	cmp -s "$IT_WORK/$name.p.code" "$IT_WORK/$name.q.code" ||
		fail_check "$name: HTTP $(cat "$IT_WORK/$name.q.code"), Prometheus $(cat "$IT_WORK/$name.p.code")"
	compare_text "$IT_WORK/$name.p" "$IT_WORK/$name.q" "$name" || true
}
same_as_prom bad_time "/api/v1/query?query=up&time=yesterday"
same_as_prom bad_parse "/api/v1/query?time=$T0" --data-urlencode 'query=sum(rate(x[5m])' -G
same_as_prom bad_range_parse "/api/v1/query_range?$RANGE" --data-urlencode 'query=x +' -G
same_as_prom bad_start "/api/v1/query_range?query=up&start=x&end=1&step=1"
same_as_prom bad_step "/api/v1/query_range?query=up&start=1&end=2&step=0"
same_as_prom bad_step2 "/api/v1/query_range?query=up&start=1&end=2&step=abc"
same_as_prom end_before "/api/v1/query_range?query=up&start=10&end=2&step=1"
same_as_prom too_many "/api/v1/query_range?query=up&start=0&end=100000&step=1"
same_as_prom bad_timeout "/api/v1/query?query=up&timeout=soon"
same_as_prom range_type "/api/v1/query_range?$RANGE" --data-urlencode 'query=strata_gen_requests_total[5m]' -G
same_as_prom exec_err "/api/v1/query?time=$((T0 + 600))" \
	--data-urlencode 'query=strata_gen_requests_total + on(job) strata_gen_requests_total' -G
fetch bad_dedup q "$Q" "/api/v1/query?query=up&dedup=maybe"
code_is bad_dedup.q 400 "dedup=maybe" && jq -e '.errorType == "bad_data"' "$IT_WORK/bad_dedup.q" >/dev/null ||
	fail_check "dedup=maybe: $(cat "$IT_WORK/bad_dedup.q")"

step "one store holding both replicas: it strips the replica label itself and merges them"
# Both replicas' blocks in one bucket: the store, asked for
# without_replica_labels, sends each series once with both replicas'
# chunks, sorted without the label; a second querier streams that and
# deduplicates the overlapping chunks (Thanos's overlap split + penalty).
mkdir -p "$IT_WORK/bucket-ab"
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$IT_WORK/bucket-ab" >"$IT_WORK/obj-ab.yml"
for r in a b; do
	run_ok "upload_ab_$r" 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$IT_WORK/obj-ab.yml" \
		--label=replica="$r" "$IT_WORK/$r" || finish
done
STORE_AB=127.0.0.1:$(free_port)
start_bg "$IT_WORK/store-ab.log" "$STRATA" store --objstore.config-file="$IT_WORK/obj-ab.yml" \
	--data-dir="$IT_WORK/store-ab-data" --grpc-address="$STORE_AB" --http-address="127.0.0.1:$(free_port)"
wait_for 60 "store AB gRPC" "$STRATA" tools store info --store="$STORE_AB" --timeout=2s
Q2_HTTP=127.0.0.1:$(free_port)
start_bg "$IT_WORK/query2.log" "$STRATA" query --store="$STORE_AB" --query.replica-label=replica \
	--http-address="$Q2_HTTP" --grpc-address="127.0.0.1:$(free_port)" --query.timeout=30s
Q2_PID=$BG_PID
Q_MAIN=$Q
Q=http://$Q2_HTTP
wait_for 30 "second querier ready" curl -sf -m 2 "$Q/-/ready" || die "querier 2: $(tail -n 20 "$IT_WORK/query2.log")"
wait_for 20 "store AB healthy" bash -c "set -o pipefail; curl -sf -m 5 '$Q/api/v1/stores' |
	jq -e '.data.store | length == 1 and all(.[]; .lastError == null)'" || die "$(curl -s "$Q/api/v1/stores")"
check ab_sel 'strata_gen_requests_total' "$RANGE" --min-series 5
check ab_rate 'rate(strata_gen_requests_total[5m])' "$RANGE" --min-series 5
check ab_sum 'sum by (job) (rate(strata_gen_requests_total[2m]))' "$RANGE" --min-series 1
check ab_gauge '{job=~"sensors|queue"}' "$RANGE&step=30" --min-series 5
check ab_inst 'strata_gen_requests_total' "time=$((T0 + 4500))" --min-series 5
# the series API: one series per label set, the replica label gone
fetch ab_series q "$Q" "/api/v1/series?start=$T0&end=$((T0 + 14400))" --data-urlencode 'match[]={__name__=~".+"}' -G
fetch ab_series p "$PROM_URL" "/api/v1/series?start=$T0&end=$((T0 + 14400))" --data-urlencode 'match[]={__name__=~".+"}' -G
compare_text "$IT_WORK/ab_series.p" "$IT_WORK/ab_series.q" "series from the store holding both replicas" || true
(($(jq '.data | length' "$IT_WORK/ab_series.p") >= 90)) || fail_check "ab_series: Prometheus answered too few series"
term_code "$Q2_PID"
((TERM_RC == 0)) || fail_check "querier 2 exited $TERM_RC on SIGTERM: $(tail -n 5 "$IT_WORK/query2.log")"
Q=$Q_MAIN

step "store B killed: partial response"
kill_now "$PID_B"
fetch partial q "$Q" "/api/v1/query_range?$RANGE" --data-urlencode 'query=rate(strata_gen_requests_total[5m])' -G
if code_is partial.q 200 "partial response with B down"; then
	jq -e '.status == "success" and (.data.result | length > 0) and (.warnings | length >= 1)' "$IT_WORK/partial.q" >/dev/null ||
		fail_check "partial response: $(head -c 300 "$IT_WORK/partial.q")"
	note "warning: $(jq -r '.warnings[0]' "$IT_WORK/partial.q" | head -c 200)"
fi
fetch partial_off q "$Q" "/api/v1/query?time=$((T0 + 600))&partial_response=false" --data-urlencode 'query=up' -G
code_is partial_off.q 422 "partial_response=false with B down" &&
	{ jq -e '.status == "error" and .errorType == "execution"' "$IT_WORK/partial_off.q" >/dev/null ||
		fail_check "partial_response=false: $(cat "$IT_WORK/partial_off.q")"; }
stop_querier
