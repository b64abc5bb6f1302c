#!/usr/bin/env bash
# st_compact_merge over blocks that real promtool wrote (create-blocks-from
# openmetrics), judged by promtool:
#   1. 14 h of data = 7+ consecutive 2h blocks merged into one: `promtool
#      tsdb dump` of the merged block equals the sorted concatenation of the
#      dumps of the source blocks (each dumped alone); `promtool tsdb
#      analyze` accepts it and counts as many series as the sources hold;
#      the meta says level 2 and lists every source.
#   2. the same input backfilled twice (two sets of blocks, same data,
#      other ULIDs) merged together, with the penalty dedup and with the
#      time merge: the dump equals one copy's.
source "$(dirname "$0")/../lib.sh"
: "${DRIVER:?DRIVER must name compact_driver}"

HOURS=14

# dump_blocks OUT BLOCK_DIR... — promtool's dump of a data dir holding just
# these blocks.
dump_blocks() {
	local out=$1 d
	shift
	d=$(mktemp -d "$IT_WORK/only.XXXXXX")
	for b in "$@"; do cp -r "$b" "$d/"; done
	promtool_dump "$d" "$out"
	local rc=$?
	rm -rf "$d"
	return $rc
}

# merge NAME OUT_PARENT [flags] BLOCK_DIR... — sets MERGED to the new block.
merge() {
	local name=$1
	shift
	MERGED=
	run_ok "$name" 120 "$DRIVER" merge "$@" || return 1
	MERGED=$(head -n1 "$IT_WORK/$name.out")
	[[ -n $MERGED && -f $MERGED/meta.json ]] || { fail_check "$name: no block written"; return 1; }
	note "$name: $(tr '\n' ' ' <"$IT_WORK/$name.err")"
}

step "backfill $HOURS h of generated OpenMetrics with promtool"
gen_input "$IT_WORK/input.om" --series 40 --hours $HOURS --step 30 --start 1700006400
promtool_backfill "$IT_WORK/input.om" "$IT_WORK/src"
mapfile -t ULIDS < <(block_ulids "$IT_WORK/src")
((${#ULIDS[@]} >= 6)) || die "expected at least 6 blocks from promtool, got ${#ULIDS[@]}"
SRC=()
for u in "${ULIDS[@]}"; do SRC+=("$IT_WORK/src/$u"); done

step "merge ${#SRC[@]} consecutive blocks"
: >"$IT_WORK/concat"
for b in "${SRC[@]}"; do
	dump_blocks "$IT_WORK/one" "$b" && cat "$IT_WORK/one" >>"$IT_WORK/concat"
done
LC_ALL=C sort "$IT_WORK/concat" >"$IT_WORK/expect"
note "sources hold $(wc -l <"$IT_WORK/expect") samples"
if merge merge_all "$IT_WORK/out" --thanos='{"labels":{"cluster":"it"},"downsample":{"resolution":0},"source":"sidecar"}' "${SRC[@]}"; then
	dump_blocks "$IT_WORK/merged_raw" "$MERGED" &&
		LC_ALL=C sort "$IT_WORK/merged_raw" >"$IT_WORK/merged" &&
		compare_text "$IT_WORK/expect" "$IT_WORK/merged" "dump of the merged block vs the sources' dumps"
	grep -q 'chunks_reencoded=0 ' "$IT_WORK/merge_all.err" || fail_check "consecutive blocks: some chunk was re-encoded"
	meta=$MERGED/meta.json
	[[ $(jq '.compaction.level' "$meta") == 2 ]] || fail_check "level: $(jq -c '.compaction.level' "$meta"), want 2"
	[[ $(jq -r '.compaction.sources | join(" ")' "$meta") == "${ULIDS[*]}" ]] ||
		fail_check "sources: $(jq -c '.compaction.sources' "$meta"), want ${ULIDS[*]}"
	[[ $(jq '.compaction.parents | length' "$meta") == "${#ULIDS[@]}" ]] || fail_check "parents: $(jq -c '.compaction.parents' "$meta")"
	[[ $(jq -r '.thanos.source' "$meta") == compactor ]] || fail_check "thanos.source: $(jq -c '.thanos' "$meta")"
	want_min=$(jq -s 'map(.minTime) | min' "${SRC[@]/%//meta.json}")
	want_max=$(jq -s 'map(.maxTime) | max' "${SRC[@]/%//meta.json}")
	[[ $(jq '.minTime' "$meta") == "$want_min" && $(jq '.maxTime' "$meta") == "$want_max" ]] ||
		fail_check "range [$(jq '.minTime' "$meta"), $(jq '.maxTime' "$meta")), want [$want_min, $want_max)"

	scratch=$(mktemp -d "$IT_WORK/analyze.XXXXXX")
	cp -r "$MERGED" "$scratch/" && mkdir -p "$scratch/wal"
	if run_ok analyze 120 "$PROMTOOL" tsdb analyze "$scratch" "$(basename "$MERGED")"; then
		series=$(sed -n 's/^Series: //p' "$IT_WORK/analyze.out")
		want=$(sed 's/ [^ ]* [^ ]*$//' "$IT_WORK/expect" | sort -u | wc -l)
		[[ $series == "$want" ]] || fail_check "promtool analyze counts '$series' series, the sources hold $want"
		note "promtool tsdb analyze: $series series"
	fi
	rm -rf "$scratch"
fi

step "the same input backfilled twice: overlapping blocks merge to one copy"
promtool_backfill "$IT_WORK/input.om" "$IT_WORK/src2"
SRC2=()
while read -r u; do SRC2+=("$IT_WORK/src2/$u"); done < <(block_ulids "$IT_WORK/src2")
dump_blocks "$IT_WORK/copy_raw" "${SRC[@]}" && LC_ALL=C sort "$IT_WORK/copy_raw" >"$IT_WORK/copy"
cmp -s "$IT_WORK/copy" "$IT_WORK/expect" || fail_check "promtool's dump of all source blocks differs from their concatenation"
for mode in penalty time; do
	flags=()
	[[ $mode == time ]] && flags=(--no-penalty)
	if merge "merge_twice_$mode" "$IT_WORK/out_$mode" ${flags[@]+"${flags[@]}"} "${SRC[@]}" "${SRC2[@]}"; then
		dump_blocks "$IT_WORK/twice_raw" "$MERGED" && LC_ALL=C sort "$IT_WORK/twice_raw" >"$IT_WORK/twice_$mode" &&
			compare_text "$IT_WORK/copy" "$IT_WORK/twice_$mode" "dump of the merged twice-backfilled blocks ($mode) vs one copy"
		[[ $(jq '.compaction.sources | length' "$MERGED/meta.json") == $((${#SRC[@]} + ${#SRC2[@]})) ]] ||
			fail_check "$mode: sources $(jq -c '.compaction.sources' "$MERGED/meta.json")"
	fi
done

step "overlapping halves: blocks of hours 0-8 and of hours 6-14, time merge"
# the second half starts 90 s after 6 h: its chunks are cut elsewhere
python3 - "$IT_WORK/input.om" "$IT_WORK/a.om" "$IT_WORK/b.om" <<'PY'
import sys
src, a, b = sys.argv[1:]
t0 = 1700006400
with open(src) as f, open(a, "w") as fa, open(b, "w") as fb:
    for line in f:
        ts = None if line.startswith("#") else int(line.rsplit(" ", 1)[1])
        if ts is None or ts < t0 + 8 * 3600:
            fa.write(line)
        if ts is None or ts >= t0 + 6 * 3600 + 90:
            fb.write(line)
PY
promtool_backfill "$IT_WORK/a.om" "$IT_WORK/srca"
promtool_backfill "$IT_WORK/b.om" "$IT_WORK/srcb"
HALVES=()
for d in srca srcb; do
	while read -r u; do HALVES+=("$IT_WORK/$d/$u"); done < <(block_ulids "$IT_WORK/$d")
done
if merge merge_halves "$IT_WORK/out_halves" --no-penalty "${HALVES[@]}"; then
	dump_blocks "$IT_WORK/halves_raw" "$MERGED" && LC_ALL=C sort "$IT_WORK/halves_raw" >"$IT_WORK/halves" &&
		compare_text "$IT_WORK/expect" "$IT_WORK/halves" "dump of the merged overlapping halves vs the whole input"
	grep -q 'chunks_reencoded=0 ' "$IT_WORK/merge_halves.err" && fail_check "overlapping halves: nothing was re-encoded"
fi
finish
