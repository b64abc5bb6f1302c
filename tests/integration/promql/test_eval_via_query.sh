#!/usr/bin/env bash
# The PromQL corpus through the serving path: eval_corpus.promql answered by
# `strata query` fanning out to `strata store` over a FILESYSTEM bucket,
# against a live Prometheus 2.42 on the same data.
#  1. the data of test_eval_vs_prometheus.sh (lib_eval.sh: gen_openmetrics
#     backfilled by real promtool, plus gen_stale_block's stale markers);
#  2. its blocks go into a FILESYSTEM bucket with `strata tools bucket
#     upload-blocks --label=region=eu`, served by `strata store`, behind
#     `strata query --store=...`; the querier must list the store healthy
#     with the label set {region="eu"} in /api/v1/stores;
#  3. every query runs at the same instants and ranges as in
#     test_eval_vs_prometheus.sh, POSTed with the same form to both HTTP
#     APIs; compare_eval.py --strata-url compares HTTP statuses, series,
#     timestamps, values (1e-9 relative, NaN = NaN), errors, and wants no
#     warnings from the querier (they would mean a partial answer);
#  4. store and querier exit 0 on SIGTERM with clean logs.
#
# The external label: strata's series carry region="eu", as Thanos's do,
# and Prometheus's query API never adds external labels. Rather than strip
# the label from strata's answers (which would hide a querier that loses it,
# adds it where it must not be, or mis-matches on it), the oracle serves a
# second backfill of the same input in which every series has region="eu"
# as an ordinary label: to PromQL an external label is just a label, so the
# two answers must be equal as they stand, the label included (by(),
# without(), on(), aggregations dropping it, functions keeping it).
source "$(dirname "$0")/../lib.sh"
: "${GEN_STALE_BLOCK:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib_eval.sh"
source "$HERE/../store/lib_store.sh"

step "generate and backfill data: for the bucket, and with region=\"eu\" for Prometheus"
eval_input
eval_data "$IT_WORK/data"
eval_data "$IT_WORK/data-prom" region=eu

step "upload the blocks into a FILESYSTEM bucket with region=eu; strata store"
fs_bucket "$IT_WORK/bucket" "$IT_WORK/obj.yml"
run_ok upload 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$IT_WORK/obj.yml" \
	--label=region=eu "$IT_WORK/data" || finish
note "bucket: $(block_ulids "$IT_WORK/bucket" | wc -l) block(s)"
start_store store "$IT_WORK/obj.yml"
start_prometheus "$IT_WORK/data-prom"
wait_store_ready 60

step "strata query --store=STORE"
Q_HTTP=127.0.0.1:$(free_port)
Q=http://$Q_HTTP
start_bg "$IT_WORK/query.log" "$STRATA" query --store="$STORE" --http-address="$Q_HTTP" \
	--grpc-address="127.0.0.1:$(free_port)" --query.timeout=60s
Q_PID=$BG_PID
wait_for 30 "querier ready" curl -sf -m 2 "$Q/-/ready" || die "querier not ready: $(tail -n 20 "$IT_WORK/query.log")"
store_ok() {
	curl -sf -m 5 "$Q/api/v1/stores" |
		jq -e '.data.store | length == 1 and .[0].lastError == null and .[0].labelSets == [{"region": "eu"}]'
}
wait_for 20 "the store healthy with {region=\"eu\"} in /api/v1/stores" store_ok ||
	die "$(curl -s -m 5 "$Q/api/v1/stores")"

step "evaluate the corpus on both"
eval_compare compare 200 "strata query's answers differ from Prometheus's" --url "$PROM_URL" --strata-url "$Q" \
	--corpus "$HERE/eval_corpus.promql" --known "$HERE/eval_known_differences.tsv" "${EVAL_POINTS[@]}" || true

step "SIGTERM: querier and store exit 0"
term_code "$Q_PID"
((TERM_RC == 0)) || fail_check "query exited $TERM_RC on SIGTERM: $(tail -n 5 "$IT_WORK/query.log")"
if grep -qE 'level=error|Sanitizer|runtime error:' "$IT_WORK/query.log"; then
	fail_check "errors in the querier's log: $(grep -E 'level=error|Sanitizer|runtime error:' "$IT_WORK/query.log" | head -3)"
fi
stop_store "strata store"
finish
