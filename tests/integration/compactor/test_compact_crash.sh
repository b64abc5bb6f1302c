#!/usr/bin/env bash
# A compactor killed at any point leaves a bucket the next run repairs.
# 12 promtool blocks of 2h ({cluster="cr"}); each scenario starts from the
# same freshly uploaded bucket:
#   merge    dies (test hook STRATA_COMPACT_TEST_CRASH_AFTER, _exit(137))
#            after the local merge: the bucket is untouched, the scratch
#            dir holds the leftovers, which the next run removes;
#   upload   dies after the compacted block's upload, before any source is
#            marked: the bucket holds the new block overlapping its four
#            unmarked sources (tools bucket verify reports it); the next
#            run marks the four as redundant;
#   mark     dies after marking the first source;
#   partial  an aborted upload (chunks and index, no meta.json) of a block
#            nobody else has;
#   kill -9  real SIGKILLs at random moments of three runs in a row.
# After each, one normal run with --delete-delay=0s must converge: exactly
# the two 8h blocks (sources = the first 8 blocks in fours) and the 4
# newest 2h blocks are left, nothing partial or marked, tools bucket verify
# is clean, the scratch dir is empty, and promtool's dump of the bucket's
# blocks equals its dump of the 12 local blocks.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000
LOCAL=$IT_WORK/local
step "12 blocks of 2h, uploaded once and kept as a pristine copy"
gen_backfill "$LOCAL" "$START" 24 30 60
mapfile -t SRC < <(block_ulids "$LOCAL")
((${#SRC[@]} == 12)) || die "promtool wrote ${#SRC[@]} blocks, want 12"
upload "$LOCAL" cluster=cr
cp -r "$BUCKET" "$IT_WORK/pristine"
promtool_dump "$LOCAL" "$IT_WORK/local.dump"
gen_backfill "$IT_WORK/other" $((START + 48 * 3600)) 2 30 60
OTHER=$(block_ulids "$IT_WORK/other")
WANT_L2="$((START * 1000)):$(IFS=,; echo "${SRC[*]:0:4}") $((START * 1000 + 8 * 3600000)):$(IFS=,; echo "${SRC[*]:4:4}") "

reset_bucket() {
	rm -rf "$BUCKET" "$IT_WORK/data"
	cp -r "$IT_WORK/pristine" "$BUCKET"
}

# crash NAME STEP — one run with the test hook at STEP; it must die with 137.
crash() {
	local rc=0
	STRATA_COMPACT_TEST_CRASH_AFTER=$2 compact "$1" || rc=$?
	((rc == 137)) || fail_check "$1: exit code $rc, want 137 from the test hook at $2"
	grep -q "test hook: dying here" "$IT_WORK/$1.log" || fail_check "$1: the hook did not fire"
}

# converge NAME — the repair run and the checks of the converged bucket.
converge() {
	local name=$1 u want
	compact_ok "$name" --delete-delay=0s || return
	want=$(printf '%s\n' "${SRC[@]:8:4}" | sort | tr '\n' ' ')
	mapfile -t LIVE < <(live_blocks)
	[[ $(all_blocks | tr '\n' ' ') == "$(printf '%s\n' "${LIVE[@]}" | tr '\n' ' ')" ]] ||
		fail_check "$name: partial or marked blocks left: $(comm -23 <(all_blocks) <(live_blocks) | tr '\n' ' ')"
	local l2=() rest=()
	for u in "${LIVE[@]}"; do
		if [[ $(meta "$u" .compaction.level) == 2 ]]; then l2+=("$(meta "$u" .minTime):$(meta "$u" '.compaction.sources | join(",")')"); else rest+=("$u"); fi
	done
	[[ $(printf '%s\n' "${l2[@]}" | sort -n | tr '\n' ' ') == "$WANT_L2" ]] ||
		fail_check "$name: level-2 blocks (minTime:sources) ${l2[*]}, want $WANT_L2"
	[[ $(printf '%s\n' "${rest[@]}" | sort | tr '\n' ' ') == "$want" ]] ||
		fail_check "$name: other live blocks ${rest[*]}, want $want"
	verify_bucket "$name"
	[[ -z $(find "$IT_WORK/data" -mindepth 2 2>/dev/null) ]] ||
		fail_check "$name: scratch dir not empty: $(find "$IT_WORK/data" -mindepth 2 | head -n 3 | tr '\n' ' ')"
	dump_bucket_blocks "$IT_WORK/$name.dump" "${LIVE[@]}"
	compare_text "$IT_WORK/local.dump" "$IT_WORK/$name.dump" "$name: dump of the converged bucket against the 12 local blocks"
}

step "dies after the merge, before the upload"
reset_bucket
crash merge merge
[[ $(all_blocks | wc -l) == 12 && -z $(marked_blocks deletion-mark.json) ]] || fail_check "merge: the bucket changed"
[[ -n $(find "$IT_WORK/data/compact" -name meta.json 2>/dev/null) ]] || fail_check "merge: no leftovers in the scratch dir"
converge merge_repair

step "dies after the upload, before marking the sources"
reset_bucket
crash upload upload
[[ $(all_blocks | wc -l) == 13 && -z $(marked_blocks deletion-mark.json) ]] ||
	fail_check "upload: want 13 unmarked blocks, got $(all_blocks | wc -l) ($(marked_blocks deletion-mark.json | wc -l) marked)"
run verify_crash 120 "$STRATA" tools bucket verify --objstore.config-file="$OBJ" --no-index &&
	fail_check "upload: tools bucket verify sees no overlap after the crash"
grep -q overlap "$IT_WORK/verify_crash.out" || fail_check "upload: verify reports no overlap"
converge upload_repair
n=$(grep -c 'msg="marked redundant block for deletion"' "$IT_WORK/upload_repair.log" || true)
((n == 4)) || fail_check "upload_repair: $n redundant blocks marked, want 4"

step "dies after marking the first source"
reset_bucket
crash mark mark
[[ $(marked_blocks deletion-mark.json | wc -l) == 1 ]] || fail_check "mark: $(marked_blocks deletion-mark.json | wc -l) marks, want 1"
converge mark_repair

step "an aborted upload: chunks and index, no meta.json"
reset_bucket
mkdir -p "$BUCKET/$OTHER/chunks"
cp "$IT_WORK/other/$OTHER/index" "$BUCKET/$OTHER/"
cp "$IT_WORK/other/$OTHER/chunks/"* "$BUCKET/$OTHER/chunks/"
converge partial_repair
[[ ! -e $BUCKET/$OTHER ]] || fail_check "partial_repair: the aborted upload is still there"

step "kill -9 at random moments"
reset_bucket
seed=${STRATA_IT_SEED:-$RANDOM}
RANDOM=$seed
note "seed $seed (STRATA_IT_SEED reproduces it)"
for round in 1 2 3; do
	ms=$((50 + RANDOM % 900))
	start_bg "$IT_WORK/kill$round.log" "$STRATA" compact --objstore.config-file="$OBJ" --data-dir="$IT_WORK/data" \
		--http-address=127.0.0.1:0 --consistency-delay=0s --delete-delay=0s
	pid=$BG_PID
	sleep "$(printf '0.%03d' "$ms")"
	if kill -0 "$pid" 2>/dev/null; then
		kill_now "$pid"
		note "round $round: killed after ${ms} ms: $(grep -o 'msg="[^"]*"' "$IT_WORK/kill$round.log" | tail -n 1)"
	else
		wait "$pid" 2>/dev/null || true
		forget_pid "$pid"
		note "round $round: finished within ${ms} ms"
	fi
done
note "bucket after the kills: $(all_blocks | wc -l) block dirs, $(live_blocks | wc -l) live"
converge kill_repair
finish
