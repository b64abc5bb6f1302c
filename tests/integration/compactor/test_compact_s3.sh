#!/usr/bin/env bash
# strata compact over S3 (s3rver, path-style) instead of the FILESYSTEM
# bucket: two HA replicas (replica=a, replica=b) of the same 12 promtool
# blocks of 2h, --deduplication.replica-label=replica.
#   one run     each overlapping pair is merged vertically (12 blocks of 2h,
#               two sources each), then the two complete 8h ranges become
#               8h blocks (eight sources each: four per replica); the
#               newest range's four merged blocks wait. Every one of the 24
#               uploads and the 12 intermediate blocks carries a deletion
#               mark; the 8h blocks' promtool dump equals the dump of their
#               four local sources (the replicas hold the same samples, so
#               dedup must give exactly one copy); tools bucket verify is
#               clean.
#   later runs  --delete-delay=0s deletes every marked block and leaves the
#               six live ones; a third run changes nothing.
# s3rver keeps object <key> as <data>/strata/<key>._S3rver_object, which
# the checks read directly.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000 # 14-day aligned: the 8h ranges start here
LOCAL=$IT_WORK/local
LOCAL_B=$IT_WORK/local_b
S3DATA=$IT_WORK/s3data
S3_PORT=$(free_port)
OBJ=$IT_WORK/s3.yml
H=3600000
OBJS=$S3DATA/strata

obj() { echo "$OBJS/$1._S3rver_object"; }
# Blocks with a meta.json, and those of them without a deletion mark.
s3_blocks() {
	local d
	for d in "$OBJS"/*/; do
		d=${d%/}
		if [[ -f $d/meta.json._S3rver_object ]]; then basename "$d"; fi
	done | sort
}
s3_live() {
	local u
	for u in $(s3_blocks); do
		if [[ ! -f $(obj "$u/deletion-mark.json") ]]; then echo "$u"; fi
	done
}
s3_meta() { jq -r "$2" "$(obj "$1/meta.json")"; }

step "12 blocks of 2h from promtool, uploaded to s3rver as two replicas"
gen_backfill "$LOCAL" "$START" 24 30 60
backfill "$LOCAL_B" "$IT_WORK/gen.om" # the other replica: same samples, its own ULIDs
mapfile -t SRC < <(block_ulids "$LOCAL")
((${#SRC[@]} == 12)) || die "promtool wrote ${#SRC[@]} blocks, want 12"
start_s3rver "$S3DATA" "$S3_PORT"
s3_yml S3RVER S3RVER "$S3_PORT" >"$OBJ"
upload "$LOCAL" cluster=s3 replica=a
upload "$LOCAL_B" cluster=s3 replica=b
mapfile -t UPLOADED < <(s3_blocks)
((${#UPLOADED[@]} == 24)) || die "s3rver holds ${#UPLOADED[@]} blocks, want 24"

step "one run: vertical merges, then two 8h blocks"
compact_ok first --deduplication.replica-label=replica
mapfile -t LIVE < <(s3_live)
((${#LIVE[@]} == 6)) || fail_check "live blocks: ${#LIVE[@]} (${LIVE[*]}), want 6"
n8=0
n2=0
for u in "${LIVE[@]}"; do
	[[ $(s3_meta "$u" .thanos.source) == compactor ]] || fail_check "$u: source $(s3_meta "$u" .thanos.source)"
	[[ $(s3_meta "$u" '.thanos.labels | tojson') == '{"cluster":"s3"}' ]] ||
		fail_check "$u: labels $(s3_meta "$u" '.thanos.labels | tojson'), want the replica label gone"
	span=$(($(s3_meta "$u" .maxTime) - $(s3_meta "$u" .minTime)))
	nsrc=$(s3_meta "$u" '.compaction.sources | length')
	if ((span > 2 * H)); then
		n8=$((n8 + 1))
		((nsrc == 8)) || fail_check "8h block $u has $nsrc sources, want 8"
		r=$((($(s3_meta "$u" .minTime) - START * 1000) / (8 * H)))
		exp=("${SRC[@]:$((r * 4)):4}")
		dump_bucket_blocks "$IT_WORK/new$r.dump" "$u"
		dump_local_blocks "$IT_WORK/src$r.dump" "$LOCAL" "${exp[@]}"
		compare_text "$IT_WORK/src$r.dump" "$IT_WORK/new$r.dump" "dump of 8h block $r against its sources (one copy)"
	else
		n2=$((n2 + 1))
		((nsrc == 2)) || fail_check "2h block $u has $nsrc sources, want the two replicas'"
	fi
done
((n8 == 2 && n2 == 4)) || fail_check "$n8 blocks of 8h and $n2 of 2h, want 2 and 4"
for u in "${UPLOADED[@]}"; do
	[[ -f $(obj "$u/deletion-mark.json") ]] || fail_check "uploaded block $u has no deletion mark"
done
verify_bucket "after the first run"

step "later runs: --delete-delay=0s deletes the marked blocks"
compact_ok second --deduplication.replica-label=replica --delete-delay=0s
[[ $(s3_blocks | tr '\n' ' ') == "$(printf '%s\n' "${LIVE[@]}" | sort | tr '\n' ' ')" ]] ||
	fail_check "blocks left: $(s3_blocks | tr '\n' ' '), want ${LIVE[*]}"
verify_bucket "after deletion"
compact_ok third --deduplication.replica-label=replica --delete-delay=0s
[[ $(s3_blocks | tr '\n' ' ') == "$(printf '%s\n' "${LIVE[@]}" | sort | tr '\n' ' ')" ]] ||
	fail_check "a third run changed the bucket: $(s3_blocks | tr '\n' ' ')"
finish
