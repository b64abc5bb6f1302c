#!/usr/bin/env bash
# The querier's QueryService (strata.QueryService over gRPC), through
# `strata tools query instant|range`, which prints the answer as
# Prometheus's API JSON. Setup of lib_query.sh: two strata stores holding
# HA replicas of full.om (a without [+1h, +1.5h), b without [+2.5h, +3h))
# behind `strata query --query.replica-label=replica`; real Prometheus 2.42
# serving full.om is the oracle (compare_promql.py: same series, same
# timestamps, values within 1e-9):
#   - instant and range queries, dedup on: equal to Prometheus's answers;
#     scalar and string results byte for byte;
#   - dedup off: the two replicas, each equal to Prometheus's answer outside
#     its gap and empty inside it; replica_labels naming another label;
#   - errors: a parse error, an empty query, bad ranges, a range query of a
#     range vector, a many-to-one match: INVALID_ARGUMENT with Prometheus's
#     error text; a negative max_source_resolution: INVALID_ARGUMENT (-1,
#     auto, is served); a tiny timeout on an expensive query:
#     DEADLINE_EXCEEDED; a response above 64 MiB: RESOURCE_EXHAUSTED; a
#     querier with --query.max-samples=1000: RESOURCE_EXHAUSTED; one with
#     --query.timeout=1s: a client timeout of 1h is cut to it
#     (DEADLINE_EXCEEDED on a query that takes seconds);
#   - store B killed: warnings under partial response, UNAVAILABLE without.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../sidecar/lib_sidecar.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CMP=$HERE/compare_promql.py
source "$HERE/lib_query.sh"

# gq NAME instant|range ADDR [tool flags...] — stdout to NAME.g, stderr to
# NAME.g.err, exit code to NAME.g.rc
gq() {
	local name=$1 kind=$2 addr=$3 rc=0
	shift 3
	timeout -k 5 90 "$STRATA" tools query "$kind" --grpc-address="$addr" "$@" >"$IT_WORK/$name.g" \
		2>"$IT_WORK/$name.g.err" || rc=$?
	echo "$rc" >"$IT_WORK/$name.g.rc"
}
# prom NAME PATH PARAMS QUERY — Prometheus's answer to NAME.p
prom() {
	curl -s -m 60 -G -o "$IT_WORK/$1.p" "$PROM_URL$2?$3" --data-urlencode "query=$4" || echo '{}' >"$IT_WORK/$1.p"
}
ok_call() { # NAME — the call succeeded
	[[ $(cat "$IT_WORK/$1.g.rc") == 0 ]] && return 0
	fail_check "$1: exit $(cat "$IT_WORK/$1.g.rc"): $(head -c 400 "$IT_WORK/$1.g.err")"
	return 1
}
compare() { # NAME [compare args...]
	local name=$1
	shift
	ok_call "$name" || return 0
	if python3 "$CMP" "$IT_WORK/$name.p" "$IT_WORK/$name.g" "$@" >"$IT_WORK/$name.cmp" 2>&1; then
		note "$name: $(cat "$IT_WORK/$name.cmp")"
	else
		fail_check "$name: $(cat "$IT_WORK/$name.cmp")"
	fi
}
# check_i NAME QUERY TIME [compare args...] / check_r NAME QUERY START END STEP [...]
check_i() {
	local name=$1 query=$2 t=$3
	shift 3
	prom "$name" /api/v1/query "time=$t" "$query"
	gq "$name" instant "$Q_GRPC" --query="$query" --time="$t"
	compare "$name" "$@"
	if [[ $(cat "$IT_WORK/$name.g.rc") == 0 ]]; then
		jq -e 'has("warnings") | not' "$IT_WORK/$name.g" >/dev/null ||
			fail_check "$name: warnings $(jq -c .warnings "$IT_WORK/$name.g")"
	fi
}
check_r() {
	local name=$1 query=$2 s=$3 e=$4 st=$5
	shift 5
	prom "$name" /api/v1/query_range "start=$s&end=$e&step=$st" "$query"
	gq "$name" range "$Q_GRPC" --query="$query" --start="$s" --end="$e" --step="$st"
	compare "$name" "$@"
}
# same_bytes NAME — our JSON is Prometheus's body byte for byte
same_bytes() {
	ok_call "$1" || return 0
	compare_text "$IT_WORK/$1.p" <(tr -d '\n' <"$IT_WORK/$1.g") "$1" || true
}
# status_is NAME STATUS [PROM] — the call failed with STATUS; with PROM (a
# Prometheus answer NAME.p) the message is Prometheus's error text
status_is() {
	local name=$1 status=$2 err
	err=$(cat "$IT_WORK/$name.g.err")
	if [[ $(cat "$IT_WORK/$name.g.rc") != 1 || $err != *": $status: "* ]]; then
		fail_check "$name: want $status, got exit $(cat "$IT_WORK/$name.g.rc"): ${err:0:300} $(head -c 200 "$IT_WORK/$name.g")"
		return 0
	fi
	if [[ ${3:-} == prom ]]; then
		local want
		want=$(jq -r .error "$IT_WORK/$name.p")
		[[ ${err#*": $status: "} == "$want" ]] || fail_check "$name: message '${err#*": $status: "}', Prometheus '$want'"
	fi
	note "$name: $status: ${err#*": $status: "}"
}

E=$((T0 + 14400))
step "range queries, dedup on: equal to Prometheus on the full data"
check_r r_counter 'strata_gen_requests_total' "$T0" "$E" 60 --min-series 5
check_r r_gauge '{job=~"sensors|queue"}' "$T0" "$E" 30 --min-series 5
check_r r_rate 'rate(strata_gen_requests_total[5m])' "$T0" "$E" 60 --min-series 5
check_r r_sum 'sum by (job) (rate(strata_gen_requests_total[2m]))' "$((T0 + 3000))" "$((T0 + 11000))" 15
check_r r_scalar 'scalar(sum(strata_gen_queue_length))' "$T0" "$E" 300

step "instant queries inside each replica's gap"
check_i i_a 'strata_gen_requests_total' "$((T0 + 4500))" --min-series 5
check_i i_b 'rate(strata_gen_requests_total[5m])' "$((T0 + 9999)).5" --min-series 5
check_i i_matrix 'strata_gen_temperature_celsius[3m]' "$((T0 + 9500))" --min-series 5
check_i i_topk 'topk(3, strata_gen_requests_total)' "$((T0 + 3700))" --min-series 3
check_i i_scalar 'scalar(sum(strata_gen_queue_length))' "$((T0 + 4000))"
same_bytes i_scalar
prom i_string /api/v1/query "time=$((T0 + 1)).25" '"replica \"a\" or b"'
gq i_string instant "$Q_GRPC" --query='"replica \"a\" or b"' --time="$((T0 + 1)).25"
same_bytes i_string

step "dedup off: both replicas, each with its gap"
read -r a0 a1 <<<"$GAP_A"
prom nd_i /api/v1/query "time=$((T0 + 4500))" 'strata_gen_requests_total'
gq nd_i instant "$Q_GRPC" --query='strata_gen_requests_total' --time="$((T0 + 4500))" --dedup=false
if ok_call nd_i; then
	# replica b is Prometheus's answer plus replica="b"; a is inside its gap
	jq -c '.data.result |= map(select(.metric.replica == "b"))' "$IT_WORK/nd_i.g" >"$IT_WORK/nd_ib.g"
	echo 0 >"$IT_WORK/nd_ib.g.rc"
	cp "$IT_WORK/nd_i.p" "$IT_WORK/nd_ib.p"
	compare nd_ib --relabel replica=b --min-series 5
	n=$(jq '[.data.result[] | select(.metric.replica != "b")] | length' "$IT_WORK/nd_i.g")
	[[ $n == 0 ]] || fail_check "dedup off: $n series not of replica b inside a's gap"
fi
S=$((T0 + 3000)) EE=$((T0 + 6000))
prom nd_r /api/v1/query_range "start=$S&end=$EE&step=60" 'strata_gen_requests_total'
gq nd_r range "$Q_GRPC" --query='strata_gen_requests_total' --start="$S" --end="$EE" --step=60 --dedup=false
if ok_call nd_r; then
	for r in a b; do
		jq -c --arg r "$r" '.data.result |= map(select(.metric.replica == $r))' "$IT_WORK/nd_r.g" >"$IT_WORK/nd_r$r.g"
		echo 0 >"$IT_WORK/nd_r$r.g.rc"
	done
	cp "$IT_WORK/nd_r.p" "$IT_WORK/nd_rb.p"
	compare nd_rb --relabel replica=b --min-series 5
	# replica a: Prometheus's points outside its gap [a0, a1); inside, the
	# last sample before it for the 5m lookback, then nothing
	keep='.data.result |= map(.values |= map(select(.[0] < $g0 or .[0] >= $g1)))'
	jq -c --argjson g0 "$a0" --argjson g1 "$a1" "$keep" "$IT_WORK/nd_r.p" >"$IT_WORK/nd_ra.p"
	jq -c --argjson g0 "$a0" --argjson g1 "$((a0 + 300))" "$keep" "$IT_WORK/nd_ra.g" >"$IT_WORK/nd_ra.g.tmp"
	mv "$IT_WORK/nd_ra.g.tmp" "$IT_WORK/nd_ra.g"
	compare nd_ra --relabel replica=a --min-series 5
fi
prom rl /api/v1/query "time=$((T0 + 600))" 'count(strata_gen_requests_total)'
gq rl instant "$Q_GRPC" --query='count(strata_gen_requests_total)' --time="$((T0 + 600))" --replica-label=zone
if ok_call rl; then
	[[ $(jq -r '.data.result[0].value[1] | tonumber / 2' "$IT_WORK/rl.g") == $(jq -r '.data.result[0].value[1]' "$IT_WORK/rl.p") ]] ||
		fail_check "replica_labels=[zone]: count $(cat "$IT_WORK/rl.g"), want twice $(cat "$IT_WORK/rl.p")"
fi
gq msr_auto instant "$Q_GRPC" --query='count(strata_gen_requests_total)' --time="$((T0 + 600))" \
	--max-source-resolution=auto
cp "$IT_WORK/rl.p" "$IT_WORK/msr_auto.p"
compare msr_auto

step "errors: status codes and Prometheus's messages"
RG="start=$T0&end=$E&step=60"
prom bad_parse /api/v1/query "time=$T0" 'sum(rate(x[5m])'
gq bad_parse instant "$Q_GRPC" --query='sum(rate(x[5m])' --time="$T0"
status_is bad_parse INVALID_ARGUMENT prom
prom bad_rparse /api/v1/query_range "$RG" 'x +'
gq bad_rparse range "$Q_GRPC" --query='x +' --start="$T0" --end="$E" --step=60
status_is bad_rparse INVALID_ARGUMENT prom
prom empty /api/v1/query "time=$T0" ''
gq empty instant "$Q_GRPC" --query= --time="$T0"
status_is empty INVALID_ARGUMENT prom
prom end_before /api/v1/query_range "start=10&end=2&step=1" up
gq end_before range "$Q_GRPC" --query=up --start=10 --end=2 --step=1
status_is end_before INVALID_ARGUMENT prom
prom step0 /api/v1/query_range "start=1&end=2&step=0" up
gq step0 range "$Q_GRPC" --query=up --start=1 --end=2 --step=0
status_is step0 INVALID_ARGUMENT prom
prom too_many /api/v1/query_range "start=0&end=100000&step=1" up
gq too_many range "$Q_GRPC" --query=up --start=0 --end=100000 --step=1
status_is too_many INVALID_ARGUMENT prom
prom range_type /api/v1/query_range "$RG" 'strata_gen_requests_total[5m]'
gq range_type range "$Q_GRPC" --query='strata_gen_requests_total[5m]' --start="$T0" --end="$E" --step=60
status_is range_type INVALID_ARGUMENT prom
prom many_to_one /api/v1/query "time=$((T0 + 600))" 'strata_gen_requests_total + on(job) strata_gen_requests_total'
gq many_to_one instant "$Q_GRPC" --query='strata_gen_requests_total + on(job) strata_gen_requests_total' \
	--time="$((T0 + 600))"
status_is many_to_one INVALID_ARGUMENT prom
gq msr_neg instant "$Q_GRPC" --query=up --time="$T0" --max-source-resolution=-2
status_is msr_neg INVALID_ARGUMENT

step "timeouts"
# ~2.6M subquery points: far longer than 10 ms
gq tmo instant "$Q_GRPC" --query='count_over_time(vector(1)[30d:1s])' --time="$T0" --timeout=10ms
status_is tmo DEADLINE_EXCEEDED
[[ $(cat "$IT_WORK/tmo.g.err") == *"query timed out in expression evaluation"* ]] ||
	fail_check "tmo: not Prometheus's timeout text: $(cat "$IT_WORK/tmo.g.err")"

# an instant subquery of 60 days at 1 s: 5.2M points, some 90 MB of
# protobuf, above the 64 MiB response cap
gq big instant "$Q_GRPC" --query='vector(1)[60d:1s]' --time="$T0"
status_is big RESOURCE_EXHAUSTED
[[ $(cat "$IT_WORK/big.g.err") == *"above the limit of 67108864"* ]] ||
	fail_check "big: $(cat "$IT_WORK/big.g.err")"

step "queriers with --query.max-samples=1000, with --query.timeout=1s"
start_q() { # LOG ADDR [flags...] — another querier over both stores
	local log=$1 addr=$2
	shift 2
	start_bg "$IT_WORK/$log" "$STRATA" query --store="$STORE_A" --store="$STORE_B" --query.replica-label=replica \
		--http-address="127.0.0.1:$(free_port)" --grpc-address="$addr" "$@"
}
q_ready() { # ADDR
	"$STRATA" tools query instant --grpc-address="$1" --query='count(strata_gen_requests_total)' \
		--time="$((T0 + 600))" --timeout=900ms | jq -e '.data.result[0].value[1] | tonumber > 0'
}
QS_GRPC=127.0.0.1:$(free_port)
QT_GRPC=127.0.0.1:$(free_port)
start_q query_s.log "$QS_GRPC" --query.max-samples=1000
QS_PID=$BG_PID
start_q query_t.log "$QT_GRPC" --query.timeout=1s
QT_PID=$BG_PID
wait_for 30 "the max-samples querier answering" q_ready "$QS_GRPC"
wait_for 30 "the timeout querier answering" q_ready "$QT_GRPC"
gq samples range "$QS_GRPC" --query='strata_gen_requests_total' --start="$T0" --end="$E" --step=60
status_is samples RESOURCE_EXHAUSTED
[[ $(cat "$IT_WORK/samples.g.err") == *": query processing would load too many samples into memory in query execution" ]] ||
	fail_check "samples: not Prometheus's text: $(cat "$IT_WORK/samples.g.err")"
# a lean slow query: a 1 s subquery summed over 11000 steps (seconds of
# work, little memory); the client's 1h is cut to the querier's 1s
gq capped range "$QT_GRPC" --query='sum_over_time(vector(1)[1d:1s])' --start="$T0" --end="$((T0 + 660000))" \
	--step=60 --timeout=1h
status_is capped DEADLINE_EXCEEDED
for pid in "$QS_PID" "$QT_PID"; do
	term_code "$pid"
	((TERM_RC == 0)) || fail_check "an extra querier exited $TERM_RC on SIGTERM"
done
if grep -qE 'Sanitizer|runtime error:' "$IT_WORK/query_s.log" "$IT_WORK/query_t.log"; then
	fail_check "sanitizer reports in the extra queriers' logs"
fi

step "store B killed: partial response"
kill_now "$PID_B"
gq partial range "$Q_GRPC" --query='rate(strata_gen_requests_total[5m])' --start="$T0" --end="$E" --step=60
if ok_call partial; then
	jq -e '.status == "success" and (.data.result | length > 0) and (.warnings | length >= 1)' "$IT_WORK/partial.g" \
		>/dev/null || fail_check "partial response: $(head -c 300 "$IT_WORK/partial.g")"
	note "warning: $(jq -r '.warnings[0]' "$IT_WORK/partial.g" | head -c 200)"
fi
gq partial_off instant "$Q_GRPC" --query=up --time="$((T0 + 600))" --partial-response=false
status_is partial_off UNAVAILABLE
stop_querier
