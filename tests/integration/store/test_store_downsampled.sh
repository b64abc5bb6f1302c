#!/usr/bin/env bash
# strata store serving downsampled blocks, as Thanos's store gateway does.
# gen_downsampled writes and uploads (FILESYSTEM bucket, {cluster="ds"}):
#   A   raw, 3 series every 60 s over [S, S+48h) (one block)
#   B   raw, the same series over [S+48h, S+50h) (not downsampled yet)
#   5m  A downsampled to 5m;  1h  that 5m block downsampled to 1h
#   C   {cluster="crafted"}, 5m: crafted_broken (AggrChunk cut short, CRC
#       valid) and crafted_partial (count and sum only)
# and the expected aggregates read from the local 5m/1h blocks with the
# mapped block reader. `strata tools store series` must then show:
#   max_resolution_window 0       raw chunks only, equal to `tools tsdb
#                                 dump` of A and B (also with --aggregate)
#   5m / 1h over A's range        exactly the local blocks' aggregates, and
#                                 count/sum/min/max equal to windows
#                                 recomputed from the raw dump of A
#   30m -> 5m, 4m -> raw          the coarsest resolution not above the window
#   1h over A+B                   1h aggregates for A's range, then B's raw
#                                 chunks (getFor fills the gap from raw)
#   1h over B's range             raw only
#   part of A's range at 5m       the aggregates inside it
#   1h, aggregate sum only        only the sum members are sent
#   5m, aggregate raw only        downsampled chunks go out empty (Thanos)
#   C                             the requested aggregates; a missing one or
#                                 an undecodable chunk fails the call with
#                                 the block's ULID and the series named,
#                                 the store keeps serving; C at resolution 0
#                                 is never read (no raw block in its set)
# Also Info's time range over all blocks, /metrics blocks by resolution,
# and a clean exit 0 on SIGTERM (ASan/UBSan report empty).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_store.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK=$HERE/check_downsampled.py

BUCKET=$IT_WORK/bucket
OBJ=$IT_WORK/objstore.yml
S=1699999200000 # 2h-aligned
H=3600000
ALL_AGGR=count,sum,min,max,counter
DS='{cluster="ds",__name__=~"ds_.+"}'
fs_bucket "$BUCKET" "$OBJ"

step "raw blocks A (48h) and B (2h), A downsampled to 5m and 1h, a crafted 5m block; all uploaded"
run_ok gen 120 "$GEN_DOWNSAMPLED" "$IT_WORK" "$OBJ" "$S" || finish
CRAFTED=$(cat "$IT_WORK/gen.out")
meta() { jq -r "$2" "$IT_WORK/$1/$(block_ulids "$IT_WORK/$1")/meta.json"; }
A_MAX=$(meta rawA .maxTime)
B_MIN=$(meta rawB .minTime)
B_MAX=$(meta rawB .maxTime)
[[ $(block_ulids "$BUCKET" | wc -l) -eq 5 ]] || fail_check "bucket holds $(block_ulids "$BUCKET" | wc -l) blocks, want 5"
for d in ds5m:300000 ds1h:3600000 rawA:0; do
	u=$(block_ulids "$IT_WORK/${d%%:*}")
	got=$(jq -r '.thanos.downsample.resolution' "$BUCKET/$u/meta.json")
	[[ $got == "${d#*:}" ]] || fail_check "${d%%:*} uploaded with resolution $got, want ${d#*:}"
done
note "A [$S, $A_MAX), B [$B_MIN, $B_MAX), crafted block $CRAFTED"

step "the oracles: tools tsdb dump of A and B"
strata_dump "$IT_WORK/rawA" "$IT_WORK/rawA.dump" || finish
strata_dump "$IT_WORK/rawB" "$IT_WORK/rawB.dump" || finish
python3 "$HERE/expect_series.py" -9223372036854775808 9223372036854775807 "$IT_WORK/rawA.dump" cluster=ds \
	"$IT_WORK/rawB.dump" cluster=ds >"$IT_WORK/raw_all.exp" || die "expect_series.py failed"
python3 "$HERE/expect_series.py" -9223372036854775808 9223372036854775807 "$IT_WORK/rawA.dump" cluster=ds \
	>"$IT_WORK/rawA.exp" || die "expect_series.py failed"
python3 "$HERE/expect_series.py" -9223372036854775808 9223372036854775807 "$IT_WORK/rawB.dump" cluster=ds \
	>"$IT_WORK/rawB.exp" || die "expect_series.py failed"
for f in raw_all rawA rawB; do python3 "$CHECK" tag "$IT_WORK/$f.exp" >"$IT_WORK/$f.tagged"; done
python3 "$CHECK" merge "$IT_WORK/rawB.tagged" "$IT_WORK/expect_1h.txt" >"$IT_WORK/1h_then_raw.exp"
note "raw: $(wc -l <"$IT_WORK/raw_all.exp") samples; 5m: $(wc -l <"$IT_WORK/expect_5m.txt"), 1h: $(wc -l <"$IT_WORK/expect_1h.txt") aggregate samples"

step "start strata store"
start_store store "$OBJ" --log.level=debug
wait_store_ready 60
[[ $(store_metric thanos_bucket_store_blocks_loaded) == 5 ]] ||
	fail_check "blocks loaded: $(store_metric thanos_bucket_store_blocks_loaded), want 5"
for r in 0:2 300000:2 3600000:1; do
	got=$(store_metric "strata_store_blocks_loaded_by_resolution{resolution=\"${r%%:*}\"}")
	[[ $got == "${r#*:}" ]] || fail_check "blocks loaded at resolution ${r%%:*}: '$got', want ${r#*:}"
done
if run_ok info 30 "$STRATA" tools store info --store="$STORE"; then
	grep -qx "min_time=$S" "$IT_WORK/info.out" || fail_check "info: min_time is not $S: $(tr '\n' ' ' <"$IT_WORK/info.out")"
	grep -qx "max_time=$B_MAX" "$IT_WORK/info.out" ||
		fail_check "info: max_time is not $B_MAX: $(tr '\n' ' ' <"$IT_WORK/info.out")"
	[[ $(grep -c '^label_set=' "$IT_WORK/info.out") == 2 ]] || fail_check "info: want 2 label sets"
fi

# series NAME EXPECTED [tools store series flags...] — the answer equals EXPECTED
series() {
	local name=$1 exp=$2
	shift 2
	if run_ok "$name" 120 "$STRATA" tools store series --store="$STORE" "$@"; then
		compare_text "$exp" "$IT_WORK/$name.out" "$name"
	fi
}
# windows NAME RES — count/sum/min/max of NAME's answer against the raw dump of A
windows() {
	if python3 "$CHECK" windows "$IT_WORK/rawA.exp" "$2" "$IT_WORK/$1.out" >"$IT_WORK/$1.windows"; then
		note "OK $1: $(tail -n 1 "$IT_WORK/$1.windows") from raw"
	else
		fail_check "$1: aggregates differ from windows of the raw samples: $(head -n 3 "$IT_WORK/$1.windows" | tr '\n' ' ')"
	fi
}

step "max_resolution_window 0: raw chunks only"
series raw0 "$IT_WORK/raw_all.exp" --match="$DS"
series raw0_aggr "$IT_WORK/raw_all.tagged" --match="$DS" --aggregate="$ALL_AGGR"
series raw_4m "$IT_WORK/rawA.tagged" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=4m \
	--min-time="$S" --max-time=$((A_MAX - 1))

step "5m and 1h over A's range: the downsampled blocks' aggregates"
series res5m "$IT_WORK/expect_5m.txt" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=5m \
	--min-time="$S" --max-time=$((A_MAX - 1)) && windows res5m 300000
series res30m "$IT_WORK/expect_5m.txt" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=30m \
	--min-time="$S" --max-time=$((A_MAX - 1))
series res1h "$IT_WORK/expect_1h.txt" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=1h \
	--min-time="$S" --max-time=$((A_MAX - 1)) && windows res1h 3600000
series res1d "$IT_WORK/expect_1h.txt" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=24h \
	--min-time="$S" --max-time=$((A_MAX - 1))
P0=$((S + 10 * H + 120000))
P1=$((S + 30 * H))
python3 "$CHECK" range "$P0" "$P1" "$IT_WORK/expect_5m.txt" >"$IT_WORK/part5m.exp"
series part5m "$IT_WORK/part5m.exp" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=5m \
	--min-time="$P0" --max-time="$P1"
grep ' sum ' "$IT_WORK/expect_1h.txt" >"$IT_WORK/sum_only.exp"
series sum_only "$IT_WORK/sum_only.exp" --match="$DS" --aggregate=sum --max-resolution-window=1h \
	--min-time="$S" --max-time=$((A_MAX - 1))
series empty5m /dev/null --match="$DS" --aggregate=raw --max-resolution-window=5m --min-time="$S" \
	--max-time=$((A_MAX - 1))

step "gaps filled from finer resolutions (getFor)"
series res1h_all "$IT_WORK/1h_then_raw.exp" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=1h \
	--min-time="$S" --max-time=$((B_MAX - 1))
series res1h_b "$IT_WORK/rawB.tagged" --match="$DS" --aggregate="$ALL_AGGR" --max-resolution-window=1h \
	--min-time="$B_MIN" --max-time=$((B_MAX - 1))

step "crafted AggrChunks: requested aggregates, missing ones and corrupt ones are errors"
series partial "$IT_WORK/expect_partial.txt" --match='{cluster="crafted",__name__="crafted_partial"}' \
	--aggregate=count,sum --max-resolution-window=5m
# must_fail NAME WANT... [-- flags] — the call fails and stderr holds every WANT
must_fail() {
	local name=$1 rc=0
	shift
	local want=()
	while [[ $1 != -- ]]; do
		want+=("$1")
		shift
	done
	shift
	run "$name" 60 "$STRATA" tools store series --store="$STORE" "$@" || rc=$?
	if ((rc == 0)); then
		fail_check "$name: succeeded, want an error"
		return
	fi
	for w in "${want[@]}"; do
		grep -qF -- "$w" "$IT_WORK/$name.err" || fail_check "$name: error lacks '$w': $(head -c 400 "$IT_WORK/$name.err")"
	done
	note "OK $name: $(head -c 300 "$IT_WORK/$name.err")"
}
must_fail missing_counter "aggregate counter does not exist" "$CRAFTED" crafted_partial -- \
	--match='{cluster="crafted",__name__="crafted_partial"}' --aggregate=count,counter --max-resolution-window=5m
must_fail broken "$CRAFTED" crafted_broken "aggr chunk" -- \
	--match='{cluster="crafted",__name__="crafted_broken"}' --aggregate=count --max-resolution-window=5m
kill -0 "$STORE_PID" 2>/dev/null || die "the store died on a corrupt chunk: $(tail -n 5 "$STORE_LOG")"
series broken_raw /dev/null --match='{cluster="crafted",__name__="crafted_broken"}' --aggregate=count
series raw0_again "$IT_WORK/raw_all.exp" --match="$DS"

step "SIGTERM"
stop_store "store"
finish
