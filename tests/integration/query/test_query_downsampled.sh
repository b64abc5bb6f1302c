#!/usr/bin/env bash
# The querier over downsampled data, as Thanos's reads it. gen_downsampled
# (tests/integration/store) writes a raw block of 48 h (ds_counter with
# resets, ds_gauge, ds_sparse; one sample a minute), its 5m and 1h
# downsamplings and a raw block of the 2 h after; that bucket is copied
# twice with external labels replica="a" / "b" (b without the 1h block, so
# at 1h it serves 5m aggregates) behind two `strata store`s and
# `strata query --query.replica-label=replica --query.auto-downsampling`.
# Real Prometheus 2.42 serving the two raw blocks is the oracle:
#   - max_source_resolution=0: answers equal to Prometheus's;
#   - 5m and 1h: max_over_time, min_over_time, sum_over_time and
#     avg_over_time over windows aligned to the resolution equal
#     Prometheus's (ranges of 59m59.999s / 4m59.999s ending 1 ms before
#     a boundary hold exactly one window's samples or aggregates);
#     count_over_time counts the windows, as Thanos's does (Prometheus's
#     count / 5 at 5m); increase(ds_counter[6h]) within 1 % point by
#     point; rate(ds_counter[1h]) within 1 % on average over 45 h (a point
#     only within 5 %: an hour holds 11 of its 12 windows' increments and
#     this counter's increments cycle every 10 minutes);
#   - a series whose range spans the 5m/1h block and the later raw block
#     reads both (equal to Prometheus's), a range with raw data only falls
#     back to it;
#   - which blocks were read, from store A's strata_store_chunks_served_total:
#     1h < 5m < raw; auto with a 6 h step reads what 1h reads, with a 1 h
#     step what 5m reads, with a 1 m step and for instant queries what raw
#     reads; rate[1h] at 1h reads the 5m blocks (capped at range / 2);
#   - the QueryService (tools query --max-source-resolution) gives the
#     HTTP answers; bad max_source_resolution values: Thanos's 400 texts,
#     checked in Thanos's parameter order;
#   - both replicas, deduplicated: one series; at 5m (identical chunks)
#     equal to Prometheus's, at 1h (a's 1h against b's 5m aggregates, the
#     penalty dedup over aggregate samples) max_over_time equal to
#     Prometheus's and increase[6h] within 1 %; dedup=false: two series,
#     each equal to Prometheus's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../store/lib_store.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CMP=$HERE/compare_promql.py
[[ -x ${GEN_DOWNSAMPLED:-} ]] || die "GEN_DOWNSAMPLED (${GEN_DOWNSAMPLED:-unset}) is not an executable"

S=1699999200 # 2h-aligned start of the data (seconds)
H=3600

step "bucket: gen_downsampled (48h raw, its 5m and 1h, 2h raw after), copied as replicas a and b"
fs_bucket "$IT_WORK/bucket-gen" "$IT_WORK/obj-gen.yml"
run_ok gen 120 "$GEN_DOWNSAMPLED" "$IT_WORK/gen" "$IT_WORK/obj-gen.yml" "$((S * 1000))" || finish
crafted=$(tail -n 1 "$IT_WORK/gen.out")
for r in a b; do
	cp -r "$IT_WORK/bucket-gen" "$IT_WORK/bucket-$r"
	# the corrupt blocks are the store tests' business
	[[ -n $crafted ]] && rm -rf "${IT_WORK:?}/bucket-$r/$crafted"
	python3 - "$IT_WORK/bucket-$r" "$r" <<'EOF' || die "labelling bucket $r"
import json, os, sys
root, rep = sys.argv[1], sys.argv[2]
for d in sorted(os.listdir(root)):
    p = os.path.join(root, d, "meta.json")
    if not os.path.exists(p):
        continue
    m = json.load(open(p))
    m["thanos"]["labels"]["replica"] = rep
    json.dump(m, open(p, "w"), indent="\t")
EOF
	printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$IT_WORK/bucket-$r" >"$IT_WORK/obj-$r.yml"
done
got=$(for f in "$IT_WORK"/bucket-a/*/meta.json; do jq -r '.thanos.downsample.resolution' "$f"; done | sort -n | tr '\n' ' ')
[[ $got == "0 0 300000 3600000 " ]] || die "bucket resolutions: $got"
for f in "$IT_WORK"/bucket-b/*/meta.json; do
	if [[ $(jq -r '.thanos.downsample.resolution' "$f") == 3600000 ]]; then rm -rf "$(dirname "$f")"; fi
done

step "real Prometheus 2.42 on the two raw blocks"
mkdir -p "$IT_WORK/prom"
cp -r "$IT_WORK"/gen/rawA/* "$IT_WORK"/gen/rawB/* "$IT_WORK/prom/"
start_prometheus "$IT_WORK/prom"

step "two stores (replica a, b) behind strata query --query.auto-downsampling"
start_store store-a "$IT_WORK/obj-a.yml"
wait_store_ready 60
SA=$STORE SA_URL=$STORE_URL SA_PID=$STORE_PID SA_LOG=$STORE_LOG
start_store store-b "$IT_WORK/obj-b.yml"
wait_store_ready 60
SB=$STORE SB_URL=$STORE_URL SB_PID=$STORE_PID SB_LOG=$STORE_LOG
Q_HTTP=127.0.0.1:$(free_port)
Q_GRPC=127.0.0.1:$(free_port)
Q=http://$Q_HTTP
start_bg "$IT_WORK/query.log" "$STRATA" query --store="$SA" --store="$SB" --query.replica-label=replica \
	--query.auto-downsampling --http-address="$Q_HTTP" --grpc-address="$Q_GRPC" --query.timeout=60s
Q_PID=$BG_PID
wait_for 30 "querier ready" curl -sf -m 2 "$Q/-/ready" || die "querier not ready: $(tail -n 20 "$IT_WORK/query.log")"
stores_ok() {
	curl -sf -m 5 "$Q/api/v1/stores" | jq -e '.data.store | length == 2 and all(.[]; .lastError == null)'
}
wait_for 20 "both stores healthy" stores_ok || die "$(curl -s "$Q/api/v1/stores")"

# ---- helpers ----

# chunks URL — a store's strata_store_chunks_served_total
chunks() { curl -sf -m 5 "$1/metrics" | awk '$1 == "strata_store_chunks_served_total" { print $2 }'; }
# ask NAME BASE PATH QUERY [k=v ...] — GET, body to NAME, status to NAME.code
ask() {
	local name=$1 base=$2 path=$3 query=$4 a args=()
	shift 4
	for a in "$@"; do args+=(--data-urlencode "$a"); done
	curl -s -m 60 -G -o "$IT_WORK/$name" -w '%{http_code}' "$base$path" --data-urlencode "query=$query" \
		${args[@]+"${args[@]}"} >"$IT_WORK/$name.code" || echo 000 >"$IT_WORK/$name.code"
}
ok200() { # NAME WHAT
	[[ $(cat "$IT_WORK/$1.code") == 200 ]] && jq -e '.status == "success"' "$IT_WORK/$1" >/dev/null && return 0
	fail_check "$2: HTTP $(cat "$IT_WORK/$1.code"): $(head -c 300 "$IT_WORK/$1")"
	return 1
}
# range NAME RES QUERY START END STEP — the querier's query_range at
# max_source_resolution RES ("-" = none); store A's chunk delta in NAME.chunks
range() {
	local name=$1 res=$2 query=$3 c0 extra=()
	[[ $res != - ]] && extra=("max_source_resolution=$res")
	c0=$(chunks "$SA_URL")
	ask "$name.q" "$Q" /api/v1/query_range "$query" "start=$4" "end=$5" "step=$6" ${extra[@]+"${extra[@]}"}
	echo $(($(chunks "$SA_URL") - c0)) >"$IT_WORK/$name.chunks"
	ok200 "$name.q" "$name ($query @ $res)"
}
# prom_range NAME QUERY START END STEP — Prometheus's answer in NAME.p
prom_range() { ask "$1.p" "$PROM_URL" /api/v1/query_range "$2" "start=$3" "end=$4" "step=$5" && ok200 "$1.p" "$1 (Prometheus)"; }
# same NAME EXPECTED.json ACTUAL.json [compare args] — equal answers (1e-9)
same() {
	local name=$1
	shift
	if python3 "$CMP" "$@" >"$IT_WORK/$name.cmp" 2>&1; then
		note "$name: $(cat "$IT_WORK/$name.cmp")"
	else
		fail_check "$name: $(cat "$IT_WORK/$name.cmp")"
	fi
}
# near NAME PROM.json OURS.json POINT_TOL MEAN_TOL — one series each, the
# same timestamps, every point within POINT_TOL and the mean within
# MEAN_TOL (relative)
near() {
	if python3 - "$2" "$3" "$4" "$5" >"$IT_WORK/$1.near" 2>&1 <<'EOF'; then
import json, sys
a, b = (json.load(open(p))["data"]["result"] for p in sys.argv[1:3])
pt, mt = float(sys.argv[3]), float(sys.argv[4])
if len(a) != 1 or len(b) != 1:
    sys.exit(f"series: Prometheus {len(a)}, ours {len(b)}")
pa = {t: float(v) for t, v in a[0]["values"]}
pb = {t: float(v) for t, v in b[0]["values"]}
if sorted(pa) != sorted(pb):
    sys.exit(f"timestamps differ: {len(pa)} vs {len(pb)}, e.g. {sorted(set(pa) ^ set(pb))[:3]}")
worst = max(abs(pb[t] - pa[t]) / abs(pa[t]) for t in pa)
ma, mb = sum(pa.values()) / len(pa), sum(pb.values()) / len(pb)
mean = abs(mb - ma) / abs(ma)
print(f"{len(pa)} points, worst {worst:.4%}, mean {mean:.4%}")
if worst > pt or mean > mt:
    sys.exit(f"{len(pa)} points: worst {worst:.4%} (max {pt:.2%}), mean {mean:.4%} (max {mt:.2%})")
EOF
		note "$1: $(cat "$IT_WORK/$1.near")"
	else
		fail_check "$1: $(cat "$IT_WORK/$1.near")"
	fi
}
nchunks() { cat "$IT_WORK/$1.chunks"; }

# Times: T1 = S + 1h - 1 ms .. S + 47h - 1 ms (whole hours of the
# downsampled block, each point 1 ms before a boundary).
T1=$((S + H - 1)).999
T47=$((S + 47 * H - 1)).999
HOUR='[59m59s999ms]'
A='{replica="a"}'

step "max_source_resolution=0: equal to Prometheus"
for f in max_over_time sum_over_time; do
	prom_range raw_$f "$f(ds_gauge$HOUR)" "$T1" "$T47" 3600
	range raw_$f 0 "$f(ds_gauge$A$HOUR)" "$T1" "$T47" 3600 && same raw_$f "$IT_WORK/raw_$f.p" "$IT_WORK/raw_$f.q" --relabel cluster=ds
done
prom_range raw_rate 'rate(ds_counter[1h])' $((S + 2 * H)) $((S + 47 * H)) 1800
range raw_rate 0 "rate(ds_counter$A[1h])" $((S + 2 * H)) $((S + 47 * H)) 1800 &&
	same raw_rate "$IT_WORK/raw_rate.p" "$IT_WORK/raw_rate.q" --relabel cluster=ds

step "aligned windows at 5m and 1h: max, min, sum, avg equal Prometheus's; count counts windows"
for res in 5m 1h; do
	for f in max_over_time min_over_time sum_over_time avg_over_time; do
		[[ $res == 5m ]] && prom_range $f "$f(ds_gauge$HOUR)" "$T1" "$T47" 3600
		range ${f}_$res $res "$f(ds_gauge$A$HOUR)" "$T1" "$T47" 3600 &&
			same ${f}_$res "$IT_WORK/$f.p" "$IT_WORK/${f}_$res.q" --relabel cluster=ds
	done
done
# 5-minute windows at 5m
prom_range max5 'max_over_time(ds_gauge[4m59s999ms])' "$((S + 300 - 1)).999" "$T47" 300
range max5 5m "max_over_time(ds_gauge$A[4m59s999ms])" "$((S + 300 - 1)).999" "$T47" 300 &&
	same max5 "$IT_WORK/max5.p" "$IT_WORK/max5.q" --relabel cluster=ds
prom_range sparse_sum 'sum_over_time(ds_sparse[59m59s999ms])' "$T1" "$T47" 3600
range sparse_sum 1h "sum_over_time(ds_sparse$A[59m59s999ms])" "$T1" "$T47" 3600 &&
	same sparse_sum "$IT_WORK/sparse_sum.p" "$IT_WORK/sparse_sum.q" --relabel cluster=ds
# Thanos reads count_over_time from the count aggregate: one sample a window
prom_range count5 "count_over_time(ds_gauge$HOUR) / 5" "$T1" "$T47" 3600
range count5 5m "count_over_time(ds_gauge$A$HOUR)" "$T1" "$T47" 3600 &&
	same count5 "$IT_WORK/count5.p" "$IT_WORK/count5.q" --relabel cluster=ds
prom_range count1 "count_over_time(ds_gauge$HOUR) / 60" "$T1" "$T47" 3600
range count1 1h "count_over_time(ds_gauge$A$HOUR)" "$T1" "$T47" 3600 &&
	same count1 "$IT_WORK/count1.p" "$IT_WORK/count1.q" --relabel cluster=ds

step "counters at 5m and 1h: increase[6h] within 1 % per point, rate[1h] within 1 % over 45 h"
prom_range inc 'increase(ds_counter[6h])' $((S + 7 * H)) $((S + 47 * H)) 1800
for res in 5m 1h; do
	range rate_$res $res "rate(ds_counter$A[1h])" $((S + 2 * H)) $((S + 47 * H)) 1800 &&
		near rate_$res "$IT_WORK/raw_rate.p" "$IT_WORK/rate_$res.q" 0.05 0.01
	range inc_$res $res "increase(ds_counter$A[6h])" $((S + 7 * H)) $((S + 47 * H)) 1800 &&
		near inc_$res "$IT_WORK/inc.p" "$IT_WORK/inc_$res.q" 0.01 0.01
done

step "one series over the 5m/1h block and the later raw block; raw only: fallback"
END=$((S + 50 * H - 1)).999
prom_range mixed "max_over_time(ds_gauge$HOUR)" "$((S + 44 * H - 1)).999" "$END" 3600
for res in 5m 1h; do
	range mixed_$res $res "max_over_time(ds_gauge$A$HOUR)" "$((S + 44 * H - 1)).999" "$END" 3600 &&
		same mixed_$res "$IT_WORK/mixed.p" "$IT_WORK/mixed_$res.q" --relabel cluster=ds
done
prom_range tail "max_over_time(ds_gauge$HOUR)" "$((S + 49 * H - 1)).999" "$END" 3600
for res in 0 1h; do
	range tail_$res $res "max_over_time(ds_gauge$A$HOUR)" "$((S + 49 * H - 1)).999" "$END" 3600 &&
		same tail_$res "$IT_WORK/tail.p" "$IT_WORK/tail_$res.q" --relabel cluster=ds
done
(($(nchunks tail_1h) == $(nchunks tail_0) && $(nchunks tail_0) > 0)) ||
	fail_check "raw-only range at 1h: $(nchunks tail_1h) chunks served, at 0: $(nchunks tail_0)"

step "which blocks were read (store A's chunks served)"
d0=$(nchunks raw_max_over_time) d5=$(nchunks max_over_time_5m) d1=$(nchunks max_over_time_1h)
note "max_over_time over 46 h: raw $d0 chunks, 5m $d5, 1h $d1"
((d1 > 0 && d1 < d5 && d5 < d0)) || fail_check "chunks served: raw $d0, 5m $d5, 1h $d1: want 1h < 5m < raw"
# no parameter (--query.auto-downsampling) and "auto": step / 5
range auto6h - "max_over_time(ds_gauge$A$HOUR)" "$T1" "$T47" 21600
range auto1h auto "max_over_time(ds_gauge$A$HOUR)" "$T1" "$T47" 3600
range auto1m - "max_over_time(ds_gauge$A$HOUR)" "$T1" "$T47" 60
[[ $(nchunks auto6h) == "$d1" ]] || fail_check "auto, step 6h: $(nchunks auto6h) chunks, want the 1h blocks' $d1"
[[ $(nchunks auto1h) == "$d5" ]] || fail_check "auto, step 1h: $(nchunks auto1h) chunks, want the 5m blocks' $d5"
[[ $(nchunks auto1m) == "$d0" ]] || fail_check "auto, step 1m: $(nchunks auto1m) chunks, want raw's $d0"
same auto1h "$IT_WORK/max_over_time_5m.q" "$IT_WORK/auto1h.q"
# instant queries: auto is raw
for res in 0 auto 1h; do
	c0=$(chunks "$SA_URL")
	ask inst_$res.q "$Q" /api/v1/query "max_over_time(ds_gauge$A[10h])" "time=$((S + 30 * H - 1)).999" \
		"max_source_resolution=$res"
	echo $(($(chunks "$SA_URL") - c0)) >"$IT_WORK/inst_$res.chunks"
	ok200 inst_$res.q "instant @ $res"
done
ask inst.p "$PROM_URL" /api/v1/query "max_over_time(ds_gauge[10h])" "time=$((S + 30 * H - 1)).999"
same inst_auto "$IT_WORK/inst.p" "$IT_WORK/inst_auto.q" --relabel cluster=ds
[[ $(nchunks inst_auto) == "$(nchunks inst_0)" ]] ||
	fail_check "instant auto: $(nchunks inst_auto) chunks, want raw's $(nchunks inst_0)"
(($(nchunks inst_1h) < $(nchunks inst_0))) ||
	fail_check "instant 1h: $(nchunks inst_1h) chunks, raw $(nchunks inst_0)"
# rate[1h] at 1h asks for 30m: the 5m blocks
[[ $(nchunks rate_1h) == "$(nchunks rate_5m)" ]] ||
	fail_check "rate[1h] at 1h read $(nchunks rate_1h) chunks, at 5m $(nchunks rate_5m): want the same (range / 2 cap)"
same rate_cap "$IT_WORK/rate_5m.q" "$IT_WORK/rate_1h.q"
(($(nchunks inc_1h) < $(nchunks inc_5m))) ||
	fail_check "increase[6h]: 1h read $(nchunks inc_1h) chunks, 5m $(nchunks inc_5m)"

step "the QueryService: max_source_resolution_ms 1h, -1 (auto)"
for g in "1h 3600 max_over_time_1h" "auto 21600 auto6h"; do
	read -r res st http <<<"$g"
	rc=0
	timeout -k 5 60 "$STRATA" tools query range --grpc-address="$Q_GRPC" --query="max_over_time(ds_gauge$A$HOUR)" \
		--start="$T1" --end="$T47" --step="$st" --max-source-resolution="$res" >"$IT_WORK/grpc_$res.g" \
		2>"$IT_WORK/grpc_$res.err" || rc=$?
	if ((rc != 0)); then
		fail_check "tools query range --max-source-resolution=$res: exit $rc: $(head -c 300 "$IT_WORK/grpc_$res.err")"
	else
		same grpc_$res "$IT_WORK/$http.q" "$IT_WORK/grpc_$res.g"
	fi
done

step "bad max_source_resolution: Thanos's 400s, in its parameter order"
bad() { # NAME PATH EXPECTED-ERROR k=v...
	local name=$1 path=$2 want=$3
	shift 3
	ask "$name" "$Q" "$path" 'ds_gauge' "$@"
	local got
	got=$(jq -c . "$IT_WORK/$name" 2>/dev/null || head -c 300 "$IT_WORK/$name")
	local exp
	exp=$(jq -cn --arg e "$want" '{status: "error", errorType: "bad_data", error: $e}')
	[[ $(cat "$IT_WORK/$name.code") == 400 && $got == "$exp" ]] ||
		fail_check "$name: HTTP $(cat "$IT_WORK/$name.code") $got, want 400 $exp"
}
RP=("start=$S" "end=$((S + H))" "step=60")
bad bad_text /api/v1/query_range "'max_source_resolution' parameter: cannot parse \"abc\" to a valid duration" \
	"${RP[@]}" max_source_resolution=abc
bad bad_neg /api/v1/query "negative 'max_source_resolution' is not accepted. Try a positive integer" \
	"time=$S" max_source_resolution=-1
bad bad_sign /api/v1/query "'max_source_resolution' parameter: cannot parse \"-5m\" to a valid duration" \
	"time=$S" max_source_resolution=-5m
# range: max_source_resolution before partial_response; instant: after
bad order_range /api/v1/query_range "negative 'max_source_resolution' is not accepted. Try a positive integer" \
	"${RP[@]}" max_source_resolution=-1 partial_response=maybe
bad order_inst /api/v1/query "'partial_response' parameter: strconv.ParseBool: parsing \"maybe\": invalid syntax" \
	"time=$S" max_source_resolution=-1 partial_response=maybe

step "replicas a and b of downsampled data: deduplicated to one series"
cb=$(chunks "$SB_URL")
range dedup_max 5m "max_over_time(ds_gauge$HOUR)" "$T1" "$T47" 3600 &&
	same dedup_max "$IT_WORK/max_over_time.p" "$IT_WORK/dedup_max.q" --relabel cluster=ds
(($(chunks "$SB_URL") > cb)) || fail_check "dedup: store B served no chunks"
range dedup_rate 5m "rate(ds_counter[1h])" $((S + 2 * H)) $((S + 47 * H)) 1800 &&
	same dedup_rate "$IT_WORK/rate_5m.q" "$IT_WORK/dedup_rate.q"
cb=$(chunks "$SB_URL")
range dedup_max1h 1h "max_over_time(ds_gauge$HOUR)" "$T1" "$T47" 3600 &&
	same dedup_max1h "$IT_WORK/max_over_time.p" "$IT_WORK/dedup_max1h.q" --relabel cluster=ds
# b answers at 1h with its 5m blocks
(($(chunks "$SB_URL") - cb == d5)) || fail_check "dedup at 1h: store B served $(($(chunks "$SB_URL") - cb)) chunks, want 5m's $d5"
range dedup_inc1h 1h "increase(ds_counter[6h])" $((S + 7 * H)) $((S + 47 * H)) 1800 &&
	near dedup_inc1h "$IT_WORK/inc.p" "$IT_WORK/dedup_inc1h.q" 0.01 0.01
ask nodedup.q "$Q" /api/v1/query_range "max_over_time(ds_gauge$HOUR)" "start=$T1" "end=$T47" step=3600 \
	max_source_resolution=5m dedup=false
if ok200 nodedup.q "dedup=false"; then
	got=$(jq -c '[.data.result[].metric.replica] | sort' "$IT_WORK/nodedup.q")
	[[ $got == '["a","b"]' ]] || fail_check "dedup=false: replicas $got, want [\"a\",\"b\"]"
	for r in a b; do
		jq --arg r "$r" '.data.result |= map(select(.metric.replica == $r) | .metric |= del(.replica))' \
			"$IT_WORK/nodedup.q" >"$IT_WORK/nodedup_$r.q"
		same nodedup_$r "$IT_WORK/max_over_time.p" "$IT_WORK/nodedup_$r.q" --relabel cluster=ds
	done
fi
ask series.q "$Q" /api/v1/series '' 'match[]=ds_gauge' "start=$S" "end=$((S + 50 * H))"
got=$(jq -c '.data' "$IT_WORK/series.q" 2>/dev/null || cat "$IT_WORK/series.q")
[[ $got == '[{"__name__":"ds_gauge","cluster":"ds","job":"gen"}]' ]] || fail_check "/api/v1/series: $got"

step "SIGTERM: querier and stores exit 0, no sanitizer report"
term_code "$Q_PID"
((TERM_RC == 0)) || fail_check "query exited $TERM_RC on SIGTERM: $(tail -n 5 "$IT_WORK/query.log")"
if grep -qE 'level=error|Sanitizer|runtime error:' "$IT_WORK/query.log"; then
	fail_check "querier log: $(grep -E -m 3 'level=error|Sanitizer|runtime error:' "$IT_WORK/query.log")"
fi
STORE_PID=$SA_PID STORE_LOG=$SA_LOG stop_store "store A"
STORE_PID=$SB_PID STORE_LOG=$SB_LOG stop_store "store B"
finish
