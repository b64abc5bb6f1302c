#!/usr/bin/env bash
# Compaction up to 2d and downsampling: 52 h of promtool blocks (26 x 2h,
# 30 series, a sample every 5 min) uploaded twice, as {cluster="ds"} and
# {cluster="nd"}.
#   run 1  --downsampling.disable: each stream's [0h, 48h) ends as one
#          level-3 block (via six 8h blocks) whose sources are the 24 2h
#          blocks; the 2 newest 2h blocks wait; nothing downsampled.
#   then   a no-downsample-mark.json (Thanos's layout, written here) on
#          nd's 2d block.
#   run 2  downsampling on: ds's 2d block (span >= 40h) gets a 5m block —
#          resolution 300000, source "compactor", its labels, time range and
#          the same 24 sources — and nd's marked block none; tools bucket
#          verify is clean.
#   run 3  nothing new: the 5m block's sources cover the 2d block's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000
step "26 blocks of 2h, uploaded as two streams"
gen_backfill "$IT_WORK/local" "$START" 52 30 300
mapfile -t SRC < <(block_ulids "$IT_WORK/local")
((${#SRC[@]} == 26)) || die "promtool wrote ${#SRC[@]} blocks, want 26"
upload "$IT_WORK/local" cluster=ds
# the second stream needs ULIDs of its own: promtool once more
backfill "$IT_WORK/local2" "$IT_WORK/gen.om"
mapfile -t SRC2 < <(block_ulids "$IT_WORK/local2")
upload "$IT_WORK/local2" cluster=nd

# l3 CLUSTER — the stream's level-3 block
l3() {
	local u
	for u in $(live_blocks); do
		if [[ $(meta "$u" .thanos.labels.cluster) == "$1" && $(meta "$u" .compaction.level) == 3 ]]; then echo "$u"; fi
	done
}

step "run 1: compaction only"
compact_ok first --downsampling.disable --delete-delay=0s
DS=$(l3 ds)
ND=$(l3 nd)
[[ -n $DS && -n $ND ]] || fail_check "no level-3 blocks: ds '$DS' nd '$ND'"
[[ $(meta "${DS:-x}" '.compaction.sources | join(" ")' 2>/dev/null) == "${SRC[*]:0:24}" ]] ||
	fail_check "ds 2d block sources: $(meta "${DS:-x}" '.compaction.sources | join(" ")' 2>/dev/null)"
[[ $(meta "${ND:-x}" '.compaction.sources | join(" ")' 2>/dev/null) == "${SRC2[*]:0:24}" ]] ||
	fail_check "nd 2d block sources: $(meta "${ND:-x}" '.compaction.sources | join(" ")' 2>/dev/null)"
[[ $(live_blocks | wc -l) == 6 ]] || fail_check "live blocks after run 1: $(live_blocks | wc -l), want 6"
grep -q 'msg="downsampling block"' "$IT_WORK/first.log" && fail_check "run 1 downsampled with --downsampling.disable"
printf '{"id":"%s","version":1,"details":"test","no_downsample_time":%s,"reason":"manual"}' "$ND" "$(date +%s)" \
	>"$BUCKET/$ND/no-downsample-mark.json"

step "run 2: downsampling"
compact_ok second --delete-delay=0s
mapfile -t FIVE < <(for u in $(live_blocks); do
	if [[ $(meta "$u" .thanos.downsample.resolution) == 300000 ]]; then echo "$u"; fi
done)
((${#FIVE[@]} == 1)) || fail_check "5m blocks: ${FIVE[*]} (want exactly one, of ds)"
f=${FIVE[0]:-x}
[[ $(meta "$f" '.thanos.labels | tojson' 2>/dev/null) == '{"cluster":"ds"}' ]] || fail_check "5m block labels: $(meta "$f" .thanos.labels 2>/dev/null)"
[[ $(meta "$f" .thanos.source 2>/dev/null) == compactor ]] || fail_check "5m block source: $(meta "$f" .thanos.source 2>/dev/null)"
for k in .minTime .maxTime '.compaction.sources | join(" ")'; do
	[[ $(meta "$f" "$k" 2>/dev/null) == $(meta "${DS:-x}" "$k" 2>/dev/null) ]] || fail_check "5m block $k differs from the 2d block's"
done
[[ -f $BUCKET/${DS:-x}/meta.json && ! -f $BUCKET/${DS:-x}/deletion-mark.json ]] || fail_check "the downsampled 2d block is gone or marked"
verify_bucket "after downsampling"

step "run 3: nothing new"
before=$(all_blocks | tr '\n' ' ')
compact_ok third --delete-delay=0s
[[ $(all_blocks | tr '\n' ' ') == "$before" ]] || fail_check "run 3 changed the bucket"
grep -q 'msg="downsampling block"' "$IT_WORK/third.log" && fail_check "run 3 downsampled again"
finish
