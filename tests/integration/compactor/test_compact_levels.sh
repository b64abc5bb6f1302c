#!/usr/bin/env bash
# strata compact over 12 promtool blocks of 2h (24 h from a 14d-aligned
# start, one stream {cluster="lv"}):
#   one iteration  (--wait, then SIGTERM: exit 0, no sanitizer report)
#                  the two complete 8h ranges become two blocks: level 2,
#                  sources = the four 2h ULIDs of each range, min/max time
#                  those of the first and last source; `promtool tsdb dump`
#                  of each (downloaded with tools bucket download) equals
#                  promtool's dump of its four local sources; the eight
#                  sources carry deletion marks (still there, --delete-delay
#                  48h); the newest range's four blocks wait untouched;
#                  /metrics counts 2 compactions and 8 deletion marks,
#                  halted 0, nothing left to do (2 compactions planned
#                  before); /api/v1/plan lists the group with its 6 blocks
#                  and no next compaction.
#   later run      --delete-delay=0s: the 8 sources are deleted, the 6
#                  blocks stay, tools bucket verify is clean; a third run
#                  changes nothing.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000 # a multiple of 14 days: the 8h, 2d and 14d ranges start here
LOCAL=$IT_WORK/local
H=3600000

step "12 blocks of 2h from promtool"
gen_backfill "$LOCAL" "$START" 24 30 60
mapfile -t SRC < <(block_ulids "$LOCAL")
((${#SRC[@]} == 12)) || die "promtool wrote ${#SRC[@]} blocks, want 12"
upload "$LOCAL" cluster=lv
note "uploaded ${#SRC[@]} blocks"

step "one iteration"
start_compact first
wait_iterations 1
mapfile -t NEW < <(for u in $(live_blocks); do
	if [[ $(meta "$u" .thanos.source) == compactor ]]; then echo "$(meta "$u" .minTime) $u"; fi
done | sort -n | cut -d' ' -f2)
((${#NEW[@]} == 2)) || fail_check "want 2 compacted blocks, got ${#NEW[@]}: ${NEW[*]}"
[[ $(cmetric 'thanos_compact_group_compactions_total{resolution="0"}') == 2 ]] ||
	fail_check "compactions metric: $(cmetric 'thanos_compact_group_compactions_total{resolution="0"}')"
[[ $(cmetric 'thanos_compact_blocks_marked_total{marker="deletion-mark.json",reason=""}') == 8 ]] ||
	fail_check "deletion marks metric: $(cmetric 'thanos_compact_blocks_marked_total{marker="deletion-mark.json",reason=""}')"
[[ $(cmetric thanos_compact_halted) == 0 ]] || fail_check "thanos_compact_halted is not 0"
[[ $(cmetric thanos_compact_todo_compactions) == 0 ]] || fail_check "todo compactions: $(cmetric thanos_compact_todo_compactions)"
w=$(cmetric strata_compact_bytes_written_total)
[[ -n $w && $w != 0 ]] || fail_check "strata_compact_bytes_written_total is '$w'"
curl -sf -m 5 "$CP_URL/api/v1/plan" >"$IT_WORK/plan.json" || fail_check "GET /api/v1/plan failed"
# the planner's simulation before the work: 2 compactions of 4 blocks
grep -q 'msg=planned groups=1 todo_compactions=2 ' "$CP_LOG" || fail_check "first plan: $(grep -m1 msg=planned "$CP_LOG")"
stop_compact "first run"

step "the compacted blocks"
for r in 0 1; do
	exp=("${SRC[@]:$((r * 4)):4}")
	u=${NEW[$r]:-}
	[[ -n $u ]] || continue
	[[ $(meta "$u" .compaction.level) == 2 ]] || fail_check "$u: level $(meta "$u" .compaction.level), want 2"
	[[ $(meta "$u" '.compaction.sources | join(" ")') == "${exp[*]}" ]] ||
		fail_check "$u: sources $(meta "$u" '.compaction.sources | join(" ")'), want ${exp[*]}"
	[[ $(meta "$u" .minTime) == $((START * 1000 + r * 8 * H)) ]] || fail_check "$u: minTime $(meta "$u" .minTime)"
	[[ $(meta "$u" .maxTime) == $(jq .maxTime "$LOCAL/${exp[3]}/meta.json") ]] ||
		fail_check "$u: maxTime $(meta "$u" .maxTime), want the last source's $(jq .maxTime "$LOCAL/${exp[3]}/meta.json")"
	[[ $(meta "$u" '.thanos.labels | tojson') == '{"cluster":"lv"}' ]] || fail_check "$u: labels $(meta "$u" .thanos.labels)"
	[[ $(meta "$u" .thanos.downsample.resolution) == 0 ]] || fail_check "$u: resolution"
	dump_bucket_blocks "$IT_WORK/new$r.dump" "$u"
	dump_local_blocks "$IT_WORK/src$r.dump" "$LOCAL" "${exp[@]}"
	compare_text "$IT_WORK/src$r.dump" "$IT_WORK/new$r.dump" "dump of compacted block $r against its 4 sources"
done
[[ $(marked_blocks deletion-mark.json | tr '\n' ' ') == "$(printf '%s\n' "${SRC[@]:0:8}" | sort | tr '\n' ' ')" ]] ||
	fail_check "deletion marks on: $(marked_blocks deletion-mark.json | tr '\n' ' ') (want the 8 sources)"
for u in "${SRC[@]:8:4}"; do
	[[ -f $BUCKET/$u/meta.json && ! -f $BUCKET/$u/deletion-mark.json && ! -f $BUCKET/$u/no-compact-mark.json ]] ||
		fail_check "newest-range block $u was touched"
done
jq -e --arg a "${NEW[0]:-x}" --argjson n 6 '.groups | length == 1 and (.[0].labels == {"cluster":"lv"})
	and .[0].resolution == 0 and (.[0].blocks | length == $n) and (.[0].next_compaction == [])
	and ([.[0].blocks[] | select(.ulid == $a and .level == 2)] | length == 1)' "$IT_WORK/plan.json" >/dev/null ||
	fail_check "/api/v1/plan: $(head -c 600 "$IT_WORK/plan.json")"

step "later runs: --delete-delay=0s deletes the sources"
compact_ok second --delete-delay=0s
[[ $(all_blocks | wc -l) == 6 ]] || fail_check "after deletion the bucket holds $(all_blocks | wc -l) blocks, want 6"
[[ $(live_blocks | tr '\n' ' ') == "$(printf '%s\n' "${NEW[@]}" "${SRC[@]:8:4}" | sort | tr '\n' ' ')" ]] ||
	fail_check "blocks left: $(live_blocks | tr '\n' ' ')"
grep -q 'msg="deleted block marked for deletion"' "$IT_WORK/second.log" || fail_check "second run logged no deletion"
verify_bucket "after deletion"
before=$(all_blocks | tr '\n' ' ')
compact_ok third --delete-delay=0s
[[ $(all_blocks | tr '\n' ' ') == "$before" ]] || fail_check "a third run changed the bucket: $(all_blocks | tr '\n' ' ')"
finish
