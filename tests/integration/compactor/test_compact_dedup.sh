#!/usr/bin/env bash
# Vertical compaction of HA replicas: one generated 24 h data set (30
# series, a sample a minute) is the gap-free original; replica a misses
# [4h, 5h30m) of it, replica b misses [13h, 15h). promtool backfills each;
# the blocks go up as {cluster="hd",replica="a"} and {...,replica="b"}.
# `strata compact --deduplication.replica-label=replica` must leave one
# stream {cluster="hd"}: no live block with a replica label, every replica
# block marked for deletion, `tools bucket verify` clean (no overlaps), and
# `promtool tsdb dump` of the live blocks equal to promtool's dump of the
# gap-free original backfilled on its own (the oracle), in both modes:
#   penalty (the default with replica labels): each replica's gaps are
#     filled from the other, every sample once (the replicas share their
#     timestamps, so no sample of the other replica is too close to keep);
#   --deduplication.func="" (one-to-one merge): identical samples are kept
#     once.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000
S=$START
"$GEN_OPENMETRICS" --series 30 --hours 24 --step 60 --start "$START" >"$IT_WORK/full.om" || die "gen_openmetrics failed"
# drop samples whose timestamp (last field) lies in [from, to) seconds after START
cut_gap() {
	awk -v a=$((S + $1)) -v b=$((S + $2)) '/^#/ { print; next } { if ($NF >= a && $NF < b) next; print }' \
		"$IT_WORK/full.om" >"$3"
}
cut_gap 14400 19800 "$IT_WORK/a.om"
cut_gap 46800 54000 "$IT_WORK/b.om"
[[ $(wc -l <"$IT_WORK/a.om") -lt $(wc -l <"$IT_WORK/full.om") && $(wc -l <"$IT_WORK/b.om") -lt $(wc -l <"$IT_WORK/full.om") ]] ||
	die "the gaps removed nothing"

step "promtool backfills: original, replica a, replica b"
backfill "$IT_WORK/orig" "$IT_WORK/full.om"
backfill "$IT_WORK/ra" "$IT_WORK/a.om"
backfill "$IT_WORK/rb" "$IT_WORK/b.om"
note "blocks: original $(block_ulids "$IT_WORK/orig" | wc -l), a $(block_ulids "$IT_WORK/ra" | wc -l), b $(block_ulids "$IT_WORK/rb" | wc -l)"
promtool_dump "$IT_WORK/orig" "$IT_WORK/orig.dump"
promtool_dump "$IT_WORK/ra" "$IT_WORK/ra.dump"
cmp -s "$IT_WORK/orig.dump" "$IT_WORK/ra.dump" && die "replica a's dump equals the original: no gap"
promtool_dump "$IT_WORK/rb" "$IT_WORK/rb.dump"
cmp -s "$IT_WORK/orig.dump" "$IT_WORK/rb.dump" && die "replica b's dump equals the original: no gap"

# check_dedup NAME — the bucket holds one gap-free stream: its dump equals
# the original's.
check_dedup() {
	local name=$1 u
	mapfile -t LIVE < <(live_blocks)
	((${#LIVE[@]} > 0)) || { fail_check "$name: no live blocks"; return; }
	for u in "${LIVE[@]}"; do
		[[ $(meta "$u" '.thanos.labels | tojson') == '{"cluster":"hd"}' ]] ||
			fail_check "$name: live block $u has labels $(meta "$u" '.thanos.labels | tojson')"
	done
	for u in $(block_ulids "$IT_WORK/ra") $(block_ulids "$IT_WORK/rb"); do
		[[ ! -f $BUCKET/$u/meta.json || -f $BUCKET/$u/deletion-mark.json ]] || fail_check "$name: replica block $u is still live"
	done
	verify_bucket "$name"
	dump_bucket_blocks "$IT_WORK/$name.dump" "${LIVE[@]}"
	compare_text "$IT_WORK/orig.dump" "$IT_WORK/$name.dump" "$name: dump of the deduplicated blocks against the gap-free original"
}

step "penalty dedup (the default with replica labels)"
upload "$IT_WORK/ra" cluster=hd replica=a
upload "$IT_WORK/rb" cluster=hd replica=b
start_compact penalty --deduplication.replica-label=replica --delete-delay=0s
wait_iterations 1
v=$(cmetric 'thanos_compact_group_vertical_compactions_total{resolution="0"}')
[[ -n $v && $v -ge 1 ]] || fail_check "vertical compactions: '$v'"
grep -q 'dedup=penalty' "$CP_LOG" || fail_check "the compactor did not pick penalty dedup"
stop_compact penalty
check_dedup penalty
note "$(live_blocks | wc -l) live blocks, $v vertical compactions"

step "one-to-one merge (--deduplication.func=\"\") on a fresh bucket"
rm -rf "$BUCKET" "$IT_WORK/data"
mkdir -p "$BUCKET"
upload "$IT_WORK/ra" cluster=hd replica=a
upload "$IT_WORK/rb" cluster=hd replica=b
compact_ok onetoone --deduplication.replica-label=replica --deduplication.func= --delete-delay=0s
grep -q 'dedup=one-to-one' "$IT_WORK/onetoone.log" || fail_check "the compactor did not pick one-to-one"
check_dedup onetoone
finish
