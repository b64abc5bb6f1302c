#!/usr/bin/env bash
# strata query over two strata stores holding HA replicas of the same data:
#   full.om   gen_openmetrics output (job labels added), backfilled by
#             promtool and served by real Prometheus 2.42: the oracle;
#   a.om      full.om without [+1h, +1.5h), bucket A, external {replica="a"};
#   b.om      full.om without [+2.5h, +3h), bucket B, external {replica="b"}
#             (the gaps cut out with awk before backfilling).
# `strata query --store=A --store=B --query.replica-label=replica` must answer
# /api/v1/series (GET, POST form, several match[], time ranges, one inside
# a's gap), /api/v1/labels and /api/v1/label/<name>/values byte for byte as
# Prometheus does on full.om (label names: plus "replica", the external
# label, as Thanos lists it); with dedup=false (or replicaLabels[] naming
# another label) each series twice, once per replica label value; its own
# StoreAPI (`tools store series`) the two replicas' series as tools tsdb
# dump prints the local blocks, relabelled; /api/v1/stores both stores.
# Then store B is killed: answers keep coming with a warning; with
# partial_response=false they fail. Deduplicated samples (gap-free) are
# proven through PromQL in test_query_promql.sh.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../sidecar/lib_sidecar.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
EXPECT=$HERE/../store/expect_series.py
source "$HERE/lib_query.sh"
# fetch BASE NAME SUFFIX PATH [curl args...] — body to NAME.SUFFIX, HTTP
# status to NAME.SUFFIX.code (000 when nothing answered)
fetch() {
	local base=$1 name=$2 sfx=$3 path=$4
	shift 4
	curl -s -m 30 -o "$IT_WORK/$name.$sfx" -w '%{http_code}' "$@" "$base$path" >"$IT_WORK/$name.$sfx.code" ||
		echo 000 >"$IT_WORK/$name.$sfx.code"
}
both() { # NAME PATH [curl args...] — the querier's (.q) and Prometheus's (.p) answers
	local name=$1 path=$2
	shift 2
	fetch "$Q" "$name" q "$path" "$@"
	fetch "$PROM_URL" "$name" p "$path" "$@"
}
same() { # NAME WHAT — byte-equal bodies and equal status codes
	if ! cmp -s "$IT_WORK/$1.p.code" "$IT_WORK/$1.q.code"; then
		fail_check "$2: HTTP $(cat "$IT_WORK/$1.q.code"), Prometheus $(cat "$IT_WORK/$1.p.code")"
		return 0
	fi
	compare_text "$IT_WORK/$1.p" "$IT_WORK/$1.q" "$2" || true
}
nonempty() { # NAME MIN — Prometheus answered at least MIN items
	local n
	n=$(jq '.data | length' "$IT_WORK/$1.p")
	((n >= $2)) || fail_check "$1: Prometheus answered only $n items; the check tests nothing"
}

step "/api/v1/series (deduplicated) = Prometheus on the full data"
enc() { jq -rn --arg v "$1" '$v | @uri'; }
both series_all "/api/v1/series?match%5B%5D=$(enc '{__name__=~".+"}')"
same series_all "series, every series"
nonempty series_all 90
both series_req "/api/v1/series?match%5B%5D=strata_gen_requests_total&start=$((T0 + 600))&end=$((T0 + 7200))"
same series_req "series strata_gen_requests_total, a range"
both series_gap "/api/v1/series?match%5B%5D=$(enc '{job=~"api|sensors"}')&start=$((a0 + 300))&end=$((a1 - 300))"
same series_gap "series inside replica a's gap"
nonempty series_gap 10
both series_two "/api/v1/series" --data-urlencode 'match[]=strata_gen_queue_length{jitter="yes"}' \
	--data-urlencode 'match[]={__name__=~"strata_gen_(constant|queue_length)"}' --data-urlencode "end=$((T0 + 9000))"
same series_two "series POST, two overlapping match[]"
both series_awk "/api/v1/series?match%5B%5D=strata_gen_awkward&match%5B%5D=$(enc '{__name__=~"strata:gen:.+"}')"
same series_awk "series GET, two match[], awkward label values"
both series_none "/api/v1/series?match%5B%5D=does_not_exist"
same series_none "series matching nothing"
both series_nomatch "/api/v1/series"
same series_nomatch "series without match[] (error)"
both series_badtime "/api/v1/series?match%5B%5D=up&start=yesterday"
same series_badtime "series with a bad start (error)"
both series_badsel "/api/v1/series?match%5B%5D=$(enc '{x=""}')"
same series_badsel "series with an empty-matching selector (error)"
both series_syntax "/api/v1/series?match%5B%5D=$(enc 'up{a=')"
same series_syntax "series with a selector syntax error (error)"

step "/api/v1/labels and /api/v1/label/<name>/values"
both labels_all "/api/v1/labels"
# Prometheus's names plus the external label, as Thanos lists it
python3 - "$IT_WORK/labels_all.p" >"$IT_WORK/labels_all.exp" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["data"] = sorted(set(d["data"]) | {"replica"}, key=lambda s: s.encode())
sys.stdout.write(json.dumps(d, separators=(",", ":"), ensure_ascii=False))
EOF
compare_text "$IT_WORK/labels_all.exp" "$IT_WORK/labels_all.q" "label names (+ replica)" || true
both labels_q "/api/v1/labels?match%5B%5D=strata_gen_queue_length&start=$T0&end=$((T0 + 3600))" -X POST
python3 - "$IT_WORK/labels_q.p" >"$IT_WORK/labels_q.exp" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["data"] = sorted(set(d["data"]) | {"replica"}, key=lambda s: s.encode())
sys.stdout.write(json.dumps(d, separators=(",", ":"), ensure_ascii=False))
EOF
compare_text "$IT_WORK/labels_q.exp" "$IT_WORK/labels_q.q" "label names of strata_gen_queue_length (POST)" || true
for l in job instance code __name__ path zone; do
	both "values_$l" "/api/v1/label/$l/values"
	same "values_$l" "label values of $l"
done
nonempty values_job 3
both values_job_m "/api/v1/label/job/values?match%5B%5D=$(enc '{job!="api"}')&end=$((T0 + 100))"
same values_job_m "label values of job, match[] and end"
both values_bad "/api/v1/label/0bad/values"
same values_bad "label values of an invalid name (error)"
both labels_badsel "/api/v1/labels?match%5B%5D=$(enc '{x=""}')"
same labels_badsel "label names with an empty-matching selector (error)"
both labels_syntax "/api/v1/label/job/values?match%5B%5D=$(enc 'up{a=')"
same labels_syntax "label values with a selector syntax error (error)"
curl -s -m 10 "$Q/api/v1/label/replica/values" >"$IT_WORK/values_replica.q"
[[ $(cat "$IT_WORK/values_replica.q") == '{"status":"success","data":["a","b"]}' ]] ||
	fail_check "replica values: $(cat "$IT_WORK/values_replica.q")"

step "dedup=false and replicaLabels[]: every series once per replica"
# both sides as sorted lists of label-set strings: Prometheus's series
# doubled with replica="a" / "b" against the querier's
norm='[.data[] | to_entries | sort_by(.key) | map(.key + "=" + .value) | join(",")] | sort'
jq -c "[.data[] | (. + {replica: \"a\"}), (. + {replica: \"b\"})] | {data: .} | $norm" \
	"$IT_WORK/series_req.p" >"$IT_WORK/series_both.exp"
fetch "$Q" series_nodedup q "/api/v1/series?match%5B%5D=strata_gen_requests_total&start=$((T0 + 600))&end=$((T0 + 7200))&dedup=false"
jq -c "$norm" "$IT_WORK/series_nodedup.q" >"$IT_WORK/series_nodedup.norm"
compare_text "$IT_WORK/series_both.exp" "$IT_WORK/series_nodedup.norm" "series dedup=false" || true
fetch "$Q" series_rl q "/api/v1/series?match%5B%5D=strata_gen_requests_total&start=$((T0 + 600))&end=$((T0 + 7200))&replicaLabels%5B%5D=zone"
jq -c "$norm" "$IT_WORK/series_rl.q" >"$IT_WORK/series_rl.norm"
compare_text "$IT_WORK/series_both.exp" "$IT_WORK/series_rl.norm" "series replicaLabels[]=zone (replica kept)" || true
fetch "$Q" series_rl2 q "/api/v1/series" --data-urlencode 'match[]=strata_gen_requests_total' \
	--data-urlencode "start=$((T0 + 600))" --data-urlencode "end=$((T0 + 7200))" \
	--data-urlencode 'replicaLabels[]=zone' --data-urlencode 'replicaLabels[]=replica'
compare_text "$IT_WORK/series_req.p" "$IT_WORK/series_rl2.q" "series replicaLabels[]=zone&replicaLabels[]=replica (POST)" || true
fetch "$Q" series_baddedup q "/api/v1/series?match%5B%5D=up&dedup=maybe"
[[ $(cat "$IT_WORK/series_baddedup.q.code") == 400 ]] &&
	grep -qF "'dedup' parameter: strconv.ParseBool: parsing \\\"maybe\\\": invalid syntax" "$IT_WORK/series_baddedup.q" ||
	fail_check "dedup=maybe: HTTP $(cat "$IT_WORK/series_baddedup.q.code") $(cat "$IT_WORK/series_baddedup.q")"

step "the querier's StoreAPI: merged, not deduplicated"
SEL='{__name__=~"strata_gen_(requests_total|constant)"}'
strata_dump "$IT_WORK/a" "$IT_WORK/a.dump" --match="$SEL"
strata_dump "$IT_WORK/b" "$IT_WORK/b.dump" --match="$SEL"
python3 "$EXPECT" -9223372036854775808 9223372036854775807 "$IT_WORK/a.dump" replica=a "$IT_WORK/b.dump" replica=b \
	>"$IT_WORK/storeapi.exp" || die "expect_series.py failed"
if run_ok storeapi 60 "$STRATA" tools store series --store="$Q_GRPC" --match="$SEL"; then
	compare_text "$IT_WORK/storeapi.exp" "$IT_WORK/storeapi.out" "tools store series via the querier" || true
fi
[[ -s $IT_WORK/storeapi.exp ]] || fail_check "no expected StoreAPI output: the check tests nothing"
if run_ok storeinfo 30 "$STRATA" tools store info --store="$Q_GRPC"; then
	grep -qx 'component=query' "$IT_WORK/storeinfo.out" || fail_check "info: $(cat "$IT_WORK/storeinfo.out")"
	grep -qx 'label_set={replica="a"}' "$IT_WORK/storeinfo.out" &&
		grep -qx 'label_set={replica="b"}' "$IT_WORK/storeinfo.out" ||
		fail_check "info label sets: $(cat "$IT_WORK/storeinfo.out")"
fi

step "the rest of the API surface"
curl -s -m 5 "$Q/api/v1/status/buildinfo" | jq -e '.status == "success" and (.data.version | length > 0)' >/dev/null ||
	fail_check "buildinfo"
[[ $(curl -s -m 5 "$Q/api/v1/metadata") == '{"status":"success","data":{}}' ]] || fail_check "metadata"
curl -s -m 5 "$Q/metrics" | grep -q '^strata_query_endpoints{state="healthy"} 2$' || fail_check "/metrics endpoints"
[[ $(curl -s -m 5 "$Q/-/healthy") == OK ]] || fail_check "/-/healthy"

step "store B killed: partial response"
kill_now "$PID_B"
fetch "$Q" partial q "/api/v1/series?match%5B%5D=strata_gen_requests_total&start=$((T0 + 600))&end=$((T0 + 7200))"
jq -c 'del(.warnings)' "$IT_WORK/partial.q" >"$IT_WORK/partial.data"
jq -c . "$IT_WORK/series_req.p" >"$IT_WORK/series_req.pc"
compare_text "$IT_WORK/series_req.pc" "$IT_WORK/partial.data" "series with B down (replica a has them all)" || true
jq -e '.warnings | length >= 1' "$IT_WORK/partial.q" >/dev/null ||
	fail_check "no warning with store B down: $(head -c 300 "$IT_WORK/partial.q")"
note "warning: $(jq -r '.warnings[0]' "$IT_WORK/partial.q" 2>/dev/null | head -c 200)"
fetch "$Q" partial_off q "/api/v1/series?match%5B%5D=strata_gen_requests_total&partial_response=false"
[[ $(cat "$IT_WORK/partial_off.q.code") == 422 ]] && jq -e '.status == "error" and .errorType == "execution"' \
	"$IT_WORK/partial_off.q" >/dev/null ||
	fail_check "partial_response=false with B down: HTTP $(cat "$IT_WORK/partial_off.q.code") $(head -c 300 "$IT_WORK/partial_off.q")"
fetch "$Q" labels_partial q "/api/v1/label/job/values"
jq -e '.data == ["api","queue","sensors"] and (.warnings | length >= 1)' "$IT_WORK/labels_partial.q" >/dev/null ||
	fail_check "label values with B down: $(head -c 300 "$IT_WORK/labels_partial.q")"
# once the Info round notices, B is skipped as unhealthy (still a warning)
b_unhealthy() { curl -sf -m 5 "$Q/api/v1/stores" | jq -e --arg b "$STORE_B" '.data.store[] | select(.name == $b) | .lastError != null'; }
wait_for 20 "store B unhealthy in /api/v1/stores" b_unhealthy
fetch "$Q" partial2 q "/api/v1/series?match%5B%5D=strata_gen_requests_total&start=$((T0 + 600))&end=$((T0 + 7200))"
jq -e '(.warnings[0] | test("unhealthy")) and (.data | length > 0)' "$IT_WORK/partial2.q" >/dev/null ||
	fail_check "series with B unhealthy: $(head -c 300 "$IT_WORK/partial2.q")"
stop_querier
