#!/usr/bin/env bash
# Query limits of `strata query` over HTTP, on lib_query.sh's setup (two
# strata stores with HA replicas behind the querier; real Prometheus 2.42
# on the full data) plus a second Prometheus started with
# --query.max-samples=1000 on a copy of the blocks, the oracle for the
# limits' answers:
#   - timeout=100ms on a slow query: 503, body equal to Prometheus's with
#     the same parameter; a querier with --query.timeout=100ms answers the
#     same without the parameter, and with timeout=1h (capped by the flag);
#   - a querier with --query.max-samples=1000: 422 with Prometheus's body
#     (Prometheus under the same flag), small queries still equal;
#   - a querier with --query.max-concurrent=1: four slow queries at once all
#     answer Prometheus's result, and they queued (finishing one after the
#     other: the last takes several times the first); a query waiting
#     behind a slow one past its timeout gets 503 "timeout", then answers
#     once the slot is free.
# The slow query is a subquery of 1 s steps summed over 5000 or 11000
# steps: seconds of CPU, little memory, no store involved.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../sidecar/lib_sidecar.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CMP=$HERE/compare_promql.py
source "$HERE/lib_query.sh"
MAIN_PROM=$PROM_URL

# fetch NAME BASE PATH [curl args...] — body to NAME, HTTP status to
# NAME.code (000 when nothing answered), seconds taken to NAME.time
fetch() {
	local name=$1 base=$2 path=$3 out
	shift 3
	out=$(curl -gs -m 60 -o "$IT_WORK/$name" -w '%{http_code} %{time_total}' "$@" "$base$path") || out="000 0"
	echo "${out% *}" >"$IT_WORK/$name.code"
	echo "${out#* }" >"$IT_WORK/$name.time"
}
code_is() { # NAME CODE WHAT
	[[ $(cat "$IT_WORK/$1.code") == "$2" ]] && return 0
	fail_check "$3: HTTP $(cat "$IT_WORK/$1.code"), want $2: $(head -c 300 "$IT_WORK/$1")"
	return 1
}
same_body() { # EXPECTED ACTUAL WHAT — same status and bytes
	cmp -s "$IT_WORK/$1.code" "$IT_WORK/$2.code" ||
		fail_check "$3: HTTP $(cat "$IT_WORK/$2.code"), Prometheus $(cat "$IT_WORK/$1.code")"
	compare_text "$IT_WORK/$1" "$IT_WORK/$2" "$3" || true
}
equal_result() { # PROM OURS WHAT
	if python3 "$CMP" "$IT_WORK/$1" "$IT_WORK/$2" >"$IT_WORK/$2.cmp" 2>&1; then
		note "$3: $(cat "$IT_WORK/$2.cmp")"
	else
		fail_check "$3: $(cat "$IT_WORK/$2.cmp")"
	fi
}
SLOW='query=sum_over_time(vector(1)[1d:1s])'
SLOW11K="/api/v1/query_range?$SLOW&start=$T0&end=$((T0 + 660000))&step=60"
SLOW5K="/api/v1/query_range?$SLOW&start=$T0&end=$((T0 + 300000))&step=60"

step "Prometheus 2.42 with --query.max-samples=1000 on a copy of the blocks"
mkdir -p "$IT_WORK/full2"
for d in "$IT_WORK"/full/*/; do
	[[ -f $d/meta.json ]] && cp -r "$d" "$IT_WORK/full2/"
done
printf 'global:\n  scrape_interval: 1m\n' >"$IT_WORK/prom2.yml"
start_prom_cfg "$IT_WORK/prom2.yml" "$IT_WORK/full2" --storage.tsdb.retention.time=100y --query.max-samples=1000
PROM2=$PROM_URL
PROM_URL=$MAIN_PROM

step "queriers with --query.timeout=100ms, --query.max-samples=1000, --query.max-concurrent=1"
start_q() { # LOG flags... — sets QURL
	local log=$1 addr
	shift
	addr=127.0.0.1:$(free_port)
	start_bg "$IT_WORK/$log" "$STRATA" query --store="$STORE_A" --store="$STORE_B" --query.replica-label=replica \
		--http-address="$addr" --grpc-address="127.0.0.1:$(free_port)" "$@"
	QURL=http://$addr
}
healthy() { # URL — ready, both stores healthy
	curl -sf -m 2 "$1/-/ready" >/dev/null &&
		curl -sf -m 5 "$1/api/v1/stores" | jq -e '.data.store | length == 2 and all(.[]; .lastError == null)'
}
start_q query_t.log --query.timeout=100ms
QT=$QURL QT_PID=$BG_PID
start_q query_s.log --query.max-samples=1000
QS=$QURL QS_PID=$BG_PID
start_q query_c.log --query.max-concurrent=1 --query.timeout=60s
QC=$QURL QC_PID=$BG_PID
for u in "$QT" "$QS" "$QC"; do
	wait_for 30 "$u ready with both stores" healthy "$u" || die "querier $u not ready"
done

step "timeouts: 503 \"timeout\" as Prometheus"
fetch to.p "$PROM_URL" "$SLOW11K&timeout=100ms"
fetch to.q "$Q" "$SLOW11K&timeout=100ms"
code_is to.p 503 "Prometheus with timeout=100ms" || true
same_body to.p to.q "timeout=100ms"
fetch flag.q "$QT" "$SLOW11K"
same_body to.p flag.q "--query.timeout=100ms"
fetch flag_cap.q "$QT" "$SLOW11K&timeout=1h"
same_body to.p flag_cap.q "--query.timeout=100ms with timeout=1h"
fetch fast.p "$PROM_URL" "/api/v1/query?query=vector(1)&time=$T0"
fetch fast.q "$QT" "/api/v1/query?query=vector(1)&time=$T0"
same_body fast.p fast.q "--query.timeout=100ms, a fast query"

step "--query.max-samples=1000: 422 \"execution\" as Prometheus under the same flag"
RANGE="start=$T0&end=$((T0 + 14400))&step=60"
fetch ms.p "$PROM2" "/api/v1/query_range?$RANGE" --data-urlencode 'query=strata_gen_requests_total' -G
fetch ms.q "$QS" "/api/v1/query_range?$RANGE" --data-urlencode 'query=strata_gen_requests_total' -G
code_is ms.p 422 "Prometheus with --query.max-samples=1000" || true
same_body ms.p ms.q "--query.max-samples=1000"
grep -q 'query processing would load too many samples into memory in query execution' "$IT_WORK/ms.q" ||
	fail_check "max samples: $(head -c 300 "$IT_WORK/ms.q")"
fetch ms_small.p "$PROM2" "/api/v1/query?time=$((T0 + 4500))" --data-urlencode 'query=sum by (job) (strata_gen_requests_total)' -G
fetch ms_small.q "$QS" "/api/v1/query?time=$((T0 + 4500))" --data-urlencode 'query=sum by (job) (strata_gen_requests_total)' -G
code_is ms_small.q 200 "--query.max-samples=1000, a small query" && equal_result ms_small.p ms_small.q "a small query"

step "--query.max-concurrent=1: four slow queries at once queue and all answer"
fetch c.p "$PROM_URL" "$SLOW5K"
code_is c.p 200 "Prometheus, the slow query" || true
pids=()
for i in 1 2 3 4; do
	fetch "c$i.q" "$QC" "$SLOW5K" &
	pids+=("$!")
done
for p in "${pids[@]}"; do wait "$p" || true; done
times=()
for i in 1 2 3 4; do
	code_is "c$i.q" 200 "concurrent query $i" && equal_result c.p "c$i.q" "concurrent query $i"
	times+=("$(cat "$IT_WORK/c$i.q.time")")
done
note "times: ${times[*]}"
# queued: they end one after the other (about t, 2t, 3t, 4t); all at once
# on two cores they would end together
python3 -c 'import sys; t = sorted(map(float, sys.argv[1:])); sys.exit(0 if t[-1] >= 2.5 * t[0] else 1)' "${times[@]}" ||
	fail_check "the four queries did not queue: times ${times[*]}"

step "--query.max-concurrent=1: waiting past the timeout is 503 \"timeout\""
fetch occ.q "$QC" "$SLOW11K" &
occ=$!
in_flight() {
	curl -sf -m 2 "$QC/metrics" | grep -qx 'thanos_query_concurrent_gate_queries_in_flight 1'
}
wait_for 10 "the slow query holding the slot" in_flight
fetch wait.q "$QC" "/api/v1/query?query=vector(1)&time=$T0&timeout=500ms"
if code_is wait.q 503 "a query behind the slow one, timeout=500ms"; then
	jq -e '.status == "error" and .errorType == "timeout" and (.error | test("max-concurrent"))' "$IT_WORK/wait.q" \
		>/dev/null || fail_check "waiting query: $(cat "$IT_WORK/wait.q")"
	note "waited $(cat "$IT_WORK/wait.q.time") s: $(jq -r .error "$IT_WORK/wait.q")"
fi
wait "$occ" || true
fetch occ.p "$PROM_URL" "$SLOW11K"
code_is occ.q 200 "the slow query holding the slot" && equal_result occ.p occ.q "the slow query holding the slot"
fetch after.q "$QC" "/api/v1/query?query=vector(1)&time=$T0&timeout=500ms"
same_body fast.p after.q "the same query once the slot is free"

for pid in "$QT_PID" "$QS_PID" "$QC_PID"; do
	term_code "$pid"
	((TERM_RC == 0)) || fail_check "an extra querier exited $TERM_RC on SIGTERM"
done
if grep -qE 'level=error|Sanitizer|runtime error:' "$IT_WORK"/query_[tsc].log; then
	fail_check "errors in the extra queriers' logs: $(grep -hE 'level=error|Sanitizer|runtime error:' "$IT_WORK"/query_[tsc].log | head -3)"
fi
stop_querier
