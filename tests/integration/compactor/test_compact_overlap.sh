#!/usr/bin/env bash
# Problems no retry fixes set blocks aside with no-compact marks, and the
# other groups go on (the compactor never halts). Four groups of promtool
# blocks:
#   ds   two blocks over the same 2h, turned into 5m blocks (meta.json's
#        thanos.downsample.resolution = 300000 in the bucket): both get
#        no-compact-mark.json, reason downsample-vertical-compaction;
#   ovr  two overlapping raw blocks and no replica labels: both get
#        reason overlapping-blocks;
#   bad  6 raw blocks of 2h, a chunk byte of the second flipped in the
#        bucket: that block alone gets reason corrupt-block (its details
#        name it), the third and fourth are still compacted together;
#   raw  6 raw blocks of 2h: [0h, 8h) compacted into one block.
# (promtool's blocks end 1 ms after their last sample, not on the 2h
# boundary, so a range is compacted once a block starts past its end.)
# One iteration with --wait and --compact.concurrency=3: exit 0 on
# SIGTERM, thanos_compact_halted 0, the marks counted by reason,
# /api/v1/plan showing the set-aside blocks.
# A second run adds no marks and changes nothing.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000
step "promtool blocks for four groups"
gen_backfill "$IT_WORK/d30" "$START" 4 30 60
gen_backfill "$IT_WORK/d10" "$START" 4 40 60
gen_backfill "$IT_WORK/bad" "$START" 12 30 60
gen_backfill "$IT_WORK/raw" "$START" 12 30 60
mapfile -t A < <(block_ulids "$IT_WORK/d30")
mapfile -t B < <(block_ulids "$IT_WORK/d10")
mapfile -t BAD < <(block_ulids "$IT_WORK/bad")
mapfile -t RAW < <(block_ulids "$IT_WORK/raw")
((${#A[@]} == 2 && ${#B[@]} == 2 && ${#BAD[@]} == 6 && ${#RAW[@]} == 6)) || die "unexpected block counts"
upload "$IT_WORK/d30/${A[0]}" cluster=ds
upload "$IT_WORK/d10/${B[0]}" cluster=ds
upload "$IT_WORK/d30/${A[1]}" cluster=ovr
upload "$IT_WORK/d10/${B[1]}" cluster=ovr
upload "$IT_WORK/bad" cluster=bad
upload "$IT_WORK/raw" cluster=raw
for u in "${A[0]}" "${B[0]}"; do
	python3 - "$BUCKET/$u/meta.json" <<'EOF'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["thanos"]["downsample"]["resolution"] = 300000
open(p, "w").write(json.dumps(m, indent="\t"))
EOF
done
python3 - "$BUCKET/${BAD[1]}/chunks/000001" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[100] ^= 0xff
open(p, "wb").write(b)
EOF
note "ds: ${A[0]} ${B[0]} (5m); ovr: ${A[1]} ${B[1]}; bad: ${BAD[1]} corrupted"

# reason ULID — the reason of a block's no-compact mark ("" without one)
reason() { if [[ -f $BUCKET/$1/no-compact-mark.json ]]; then jq -r .reason "$BUCKET/$1/no-compact-mark.json"; fi; }

step "one iteration"
start_compact first --compact.concurrency=3
wait_iterations 1
[[ $(cmetric thanos_compact_halted) == 0 ]] || fail_check "thanos_compact_halted is not 0"
for r in downsample-vertical-compaction:2 overlapping-blocks:2 corrupt-block:1; do
	v=$(cmetric "thanos_compact_blocks_marked_total{marker=\"no-compact-mark.json\",reason=\"${r%%:*}\"}")
	[[ $v == "${r##*:}" ]] || fail_check "no-compact marks with reason ${r%%:*}: '$v', want ${r##*:}"
done
[[ $(cmetric 'thanos_compact_group_compactions_total{resolution="0"}') == 2 ]] ||
	fail_check "compactions: $(cmetric 'thanos_compact_group_compactions_total{resolution="0"}'), want 2 (raw, bad)"
curl -sf -m 5 "$CP_URL/api/v1/plan" >"$IT_WORK/plan.json" || fail_check "GET /api/v1/plan failed"
stop_compact "first run"

for u in "${A[0]}" "${B[0]}"; do
	[[ $(reason "$u") == downsample-vertical-compaction ]] || fail_check "5m block $u: no-compact reason '$(reason "$u")'"
	jq -r .details "$BUCKET/$u/no-compact-mark.json" | grep -q overlap || fail_check "5m block $u: details without 'overlap'"
done
for u in "${A[1]}" "${B[1]}"; do
	[[ $(reason "$u") == overlapping-blocks ]] || fail_check "raw overlap $u: no-compact reason '$(reason "$u")'"
done
[[ $(reason "${BAD[1]}") == corrupt-block ]] || fail_check "corrupt block: no-compact reason '$(reason "${BAD[1]}")'"
jq -r .details "$BUCKET/${BAD[1]}/no-compact-mark.json" | grep -q "${BAD[1]}" ||
	fail_check "corrupt block: details do not name it: $(jq -r .details "$BUCKET/${BAD[1]}/no-compact-mark.json")"
for u in "${BAD[0]}" "${BAD[2]}" "${BAD[3]}" "${BAD[4]}" "${BAD[5]}"; do
	[[ -z $(reason "$u") ]] || fail_check "healthy block $u of group bad got a no-compact mark"
done
# group bad: blocks 3 and 4 ([4h, 8h)) compacted together, the rest waits
for u in "${BAD[2]}" "${BAD[3]}"; do
	[[ -f $BUCKET/$u/deletion-mark.json ]] || fail_check "group bad: $u was not compacted"
done
for u in "${BAD[0]}" "${BAD[1]}" "${BAD[4]}" "${BAD[5]}"; do
	[[ ! -f $BUCKET/$u/deletion-mark.json ]] || fail_check "group bad: $u was marked for deletion"
done
# group raw: [0h, 8h) compacted
newraw=$(for u in $(live_blocks); do
	if [[ $(meta "$u" '.thanos.labels.cluster') == raw && $(meta "$u" .compaction.level) == 2 ]]; then echo "$u"; fi
done)
[[ $(meta "${newraw:-none}" '.compaction.sources | join(" ")' 2>/dev/null) == "${RAW[*]:0:4}" ]] ||
	fail_check "group raw: compacted block '${newraw}' with sources $(meta "${newraw:-none}" .compaction.sources 2>/dev/null)"
jq -e --arg a "${A[0]}" --arg b "${B[0]}" '[.groups[] | select(.resolution == 300000) | .blocks[]
	| select((.ulid == $a or .ulid == $b) and .no_compact)] | length == 2' "$IT_WORK/plan.json" >/dev/null ||
	fail_check "/api/v1/plan does not show the 5m blocks set aside: $(head -c 400 "$IT_WORK/plan.json")"

step "a second run changes nothing"
snap() { find "$BUCKET" -type f -printf '%P %s\n' | sort; cat "$BUCKET"/*/no-compact-mark.json; }
snap >"$IT_WORK/before.txt"
compact_ok second
snap >"$IT_WORK/after.txt"
cmp -s "$IT_WORK/before.txt" "$IT_WORK/after.txt" ||
	fail_check "the second run changed the bucket: $(diff "$IT_WORK/before.txt" "$IT_WORK/after.txt" | head -n 5 | tr '\n' ' ')"
finish
