#!/usr/bin/env bash
# The whole downsampling path, end to end: 7 days of promtool blocks (84 x
# 2h, 120 series, a sample every 5 min) -> `strata compact` (2h -> 8h -> 2d,
# each 2d block downsampled to 5m, two at a time with
# --downsample.concurrency=2) -> `strata store` over the bucket ->
# `strata query`:
#   - the compactor leaves three 2d raw blocks with a 5m block each, and the
#     last day as 8h / 2h raw blocks;
#   - rate(strata_gen_requests_total[7d]) at the end of the week with
#     max_source_resolution=5m (5m aggregates for six days, the last day
#     filled from raw by the store) agrees with the raw answer
#     (max_source_resolution=0s) within 1 % for every series, and so do
#     max_over_time / min_over_time over the week (exactly: extremes of
#     windows are extremes of samples);
#   - the 5m answer really read aggregates: the store served fewer chunks for
#     it than for the raw one.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000 # 14-day aligned
END=$((START + 7 * 86400))

step "7 days of 2h blocks from promtool"
gen_backfill "$IT_WORK/local" "$START" 168 120 300
mapfile -t SRC < <(block_ulids "$IT_WORK/local")
((${#SRC[@]} == 84)) || die "promtool wrote ${#SRC[@]} blocks, want 84"
upload "$IT_WORK/local" cluster=wk

step "strata compact: compaction and downsampling, two blocks at a time"
compact_ok compact --delete-delay=0s --downsample.concurrency=2
# with two workers the second 2d block starts before the first is uploaded
started=$(awk '/msg="uploaded downsampled block"/ {exit} /msg="downsampling block"/ {n++} END {print n + 0}' \
	"$IT_WORK/compact.log")
((started >= 2)) && note "OK $started blocks being downsampled before the first upload" ||
	fail_check "--downsample.concurrency=2: $started block(s) started before the first upload, want 2"
res_count() {
	local u n=0
	for u in $(live_blocks); do
		if [[ $(meta "$u" .thanos.downsample.resolution) == "$1" ]]; then n=$((n + 1)); fi
	done
	echo "$n"
}
n5=$(res_count 300000)
((n5 == 3)) || fail_check "5m blocks: $n5, want 3 (one per 2d block)"
verify_bucket "after compaction"

step "strata store and strata query over the bucket"
start_store store "$OBJ"
wait_store_ready 60
QPORT=$(free_port)
QURL=http://127.0.0.1:$QPORT
start_bg "$IT_WORK/query.log" "$STRATA" query --store="$STORE" --http-address="127.0.0.1:$QPORT" \
	--grpc-address="127.0.0.1:$(free_port)"
QPID=$BG_PID
# pipefail: while the querier is not up yet, curl fails and jq -e, given
# no input, would still exit 0
wait_for 30 "the querier sees the store" bash -c \
	"set -o pipefail; curl -sf -m 2 '$QURL/api/v1/stores' | jq -e '[.data[][] | select(.lastError == null)] | length == 1' >/dev/null" ||
	die "the querier never saw the store: $(tail -n 5 "$IT_WORK/query.log")"

chunks() { curl -sf -m 5 "$STORE_URL/metrics" | awk '$1 == "strata_store_chunks_served_total" { print $2 }'; }
# ask NAME QUERY RES — instant query at END; answer in NAME.json; chunks the store served in NAME_CHUNKS
ask() {
	local before after
	before=$(chunks)
	curl -sf -m 60 "$QURL/api/v1/query" --data-urlencode "query=$2" --data-urlencode "time=$END" \
		--data-urlencode "max_source_resolution=$3" >"$IT_WORK/$1.json" || fail_check "$1: query failed"
	after=$(chunks)
	printf -v "${1}_CHUNKS" '%s' "$((${after:-0} - ${before:-0}))"
}
# within NAME_A NAME_B TOL — same series, values within TOL (relative)
within() {
	python3 - "$IT_WORK/$1.json" "$IT_WORK/$2.json" "$3" <<'PY' || fail_check "$1 vs $2: $(cat "$IT_WORK/within.err" 2>/dev/null)"
import json, sys
a, b, tol = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), float(sys.argv[3])
def series(d):
    assert d["status"] == "success", d
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in d["data"]["result"]}
sa, sb = series(a), series(b)
bad = []
if not sa or set(sa) != set(sb):
    bad.append(f"series differ: {len(sa)} vs {len(sb)}")
for k in sorted(set(sa) & set(sb)):
    x, y = sa[k], sb[k]
    if abs(x - y) > tol * max(abs(x), abs(y), 1e-12):
        bad.append(f"{k}: {x} vs {y}")
if bad:
    open(sys.argv[1].rsplit("/", 1)[0] + "/within.err", "w").write("; ".join(bad[:5]))
    sys.exit(1)
print(f"{len(sa)} series agree")
PY
}

step "rate over 7 days: 5m aggregates against raw"
ask rate_raw 'rate(strata_gen_requests_total[7d])' 0s
ask rate_5m 'rate(strata_gen_requests_total[7d])' 5m
note "$(within rate_raw rate_5m 0.01)"
((rate_5m_CHUNKS > 0 && rate_5m_CHUNKS < rate_raw_CHUNKS)) ||
	fail_check "chunks served: $rate_5m_CHUNKS at 5m, $rate_raw_CHUNKS raw (5m must read fewer, aggregated ones)"
note "chunks served: raw $rate_raw_CHUNKS, 5m $rate_5m_CHUNKS"
ask max_raw 'max_over_time(strata_gen_temperature_celsius[7d])' 0s
ask max_5m 'max_over_time(strata_gen_temperature_celsius[7d])' 5m
note "$(within max_raw max_5m 0)"
ask min_raw 'min_over_time(strata_gen_temperature_celsius[7d])' 0s
ask min_5m 'min_over_time(strata_gen_temperature_celsius[7d])' 5m
note "$(within min_raw min_5m 0)"

term_code "$QPID"
((TERM_RC == 0)) || fail_check "strata query exited $TERM_RC on SIGTERM"
stop_store "strata store"
sanitizer_clean "$IT_WORK/query.log" "strata query"
finish
