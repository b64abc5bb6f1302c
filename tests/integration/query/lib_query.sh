# lib_query.sh — the setup test_query_api.sh and test_query_promql.sh share:
# full.om (gen_openmetrics, job labels added) backfilled by promtool and
# served by real Prometheus 2.42 (the oracle); replicas a and b of it, each
# missing a different half hour, in two FILESYSTEM buckets behind two strata
# stores; `strata query --store=A --store=B --query.replica-label=replica`
# at $Q (HTTP) / $Q_GRPC, both stores healthy. Sourced after lib.sh and
# lib_sidecar.sh; sets T0, GAP_A, GAP_B, STORE_A/B, PID_A/B, Q, Q_PID.

T0=1700000000
GAP_A="$((T0 + 3600)) $((T0 + 5400))"
GAP_B="$((T0 + 9000)) $((T0 + 10800))"

step "data: full, and two replicas each missing a different half hour"
gen_input "$IT_WORK/gen.om" --series 100 --hours 4 --step 60
# a job label for three families (OpenMetrics label order is free)
sed -e 's/^strata_gen_requests_total{/strata_gen_requests_total{job="api",/' \
	-e 's/^strata_gen_temperature_celsius{/strata_gen_temperature_celsius{job="sensors",/' \
	-e 's/^strata_gen_queue_length{/strata_gen_queue_length{job="queue",/' "$IT_WORK/gen.om" >"$IT_WORK/full.om"
cut_gap() { # IN OUT FROM TO — drop samples with FROM <= ts < TO
	awk -v g0="$3" -v g1="$4" '/^#/ { print; next } { if ($NF >= g0 && $NF < g1) next; print }' "$1" >"$2"
}
read -r a0 a1 <<<"$GAP_A"
read -r b0 b1 <<<"$GAP_B"
cut_gap "$IT_WORK/full.om" "$IT_WORK/a.om" "$a0" "$a1"
cut_gap "$IT_WORK/full.om" "$IT_WORK/b.om" "$b0" "$b1"
note "full $(grep -vc '^#' "$IT_WORK/full.om") samples, a $(grep -vc '^#' "$IT_WORK/a.om"), b $(grep -vc '^#' "$IT_WORK/b.om")"
promtool_backfill "$IT_WORK/full.om" "$IT_WORK/full"
promtool_backfill "$IT_WORK/a.om" "$IT_WORK/a"
promtool_backfill "$IT_WORK/b.om" "$IT_WORK/b"

step "two FILESYSTEM buckets, two strata stores"
for r in a b; do
	mkdir -p "$IT_WORK/bucket-$r"
	printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$IT_WORK/bucket-$r" >"$IT_WORK/obj-$r.yml"
	run_ok "upload_$r" 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$IT_WORK/obj-$r.yml" \
		--label=replica="$r" "$IT_WORK/$r" || finish
done
STORE_A=127.0.0.1:$(free_port)
STORE_B=127.0.0.1:$(free_port)
for r in a b; do
	grpc=$STORE_A
	[[ $r == b ]] && grpc=$STORE_B
	start_bg "$IT_WORK/store-$r.log" "$STRATA" store --objstore.config-file="$IT_WORK/obj-$r.yml" \
		--data-dir="$IT_WORK/store-$r-data" --grpc-address="$grpc" --http-address="127.0.0.1:$(free_port)"
	[[ $r == a ]] && PID_A=$BG_PID || PID_B=$BG_PID
done

step "real Prometheus 2.42 on the full data"
start_prometheus "$IT_WORK/full"

step "strata query --store=A --store=B --query.replica-label=replica"
Q_HTTP=127.0.0.1:$(free_port)
Q_GRPC=127.0.0.1:$(free_port)
Q=http://$Q_HTTP
# the stores listen once their first sync is done; the querier marks them
# healthy at its next Info round (5 s)
wait_for 60 "store A gRPC" "$STRATA" tools store info --store="$STORE_A" --timeout=2s
wait_for 60 "store B gRPC" "$STRATA" tools store info --store="$STORE_B" --timeout=2s
start_bg "$IT_WORK/query.log" "$STRATA" query --store="$STORE_A" --endpoint="$STORE_B" \
	--query.replica-label=replica --http-address="$Q_HTTP" --grpc-address="$Q_GRPC" --query.timeout=30s
Q_PID=$BG_PID
wait_for 30 "querier ready" curl -sf -m 2 "$Q/-/ready" || die "querier not ready: $(tail -n 20 "$IT_WORK/query.log")"
stores_ok() {
	curl -sf -m 5 "$Q/api/v1/stores" | jq -e '.data.store | length == 2 and all(.[]; .lastError == null)'
}
wait_for 20 "both stores healthy in /api/v1/stores" stores_ok || die "$(curl -s "$Q/api/v1/stores")"
curl -sf -m 5 "$Q/api/v1/stores" >"$IT_WORK/stores.json"
got=$(jq -c '[.data.store[] | [.name, .labelSets, (.minTime > 0), (.maxTime > .minTime)]] | sort' "$IT_WORK/stores.json")
want=$(jq -nc --arg a "$STORE_A" --arg b "$STORE_B" \
	'[[$a, [{"replica":"a"}], true, true], [$b, [{"replica":"b"}], true, true]] | sort')
[[ $got == "$want" ]] || fail_check "/api/v1/stores: $got, want $want"
jq -e '.status == "success" and (.data.store[0].lastCheck | test("^20[0-9-]+T[0-9:.]+Z$"))' \
	"$IT_WORK/stores.json" >/dev/null || fail_check "/api/v1/stores shape: $(cat "$IT_WORK/stores.json")"

# stop_querier — SIGTERM: exit 0 and a clean log; then the test's verdict.
stop_querier() {
	step "SIGTERM: the querier exits 0"
	term_code "$Q_PID"
	((TERM_RC == 0)) || fail_check "query exited $TERM_RC on SIGTERM: $(tail -n 5 "$IT_WORK/query.log")"
	if grep -qE 'level=error|Sanitizer|runtime error:' "$IT_WORK/query.log"; then
		fail_check "errors in the querier's log: $(grep -E 'level=error|Sanitizer|runtime error:' "$IT_WORK/query.log" | head -3)"
	fi
	finish
}
