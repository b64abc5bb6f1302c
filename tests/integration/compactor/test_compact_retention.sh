#!/usr/bin/env bash
# Retention: 8 promtool blocks of 2h (16 h of 2023), each uploaded as a
# stream of its own ({cluster="rt", shard="<i>"}) so nothing compacts, plus
# the first block's data again as a 5m block ({cluster="rt5"}, its meta's
# resolution set to 300000 in the bucket).
# --retention.resolution-raw is chosen so that the boundary (now minus the
# retention) lies 11 h into the data: the raw blocks whose max time (in
# whole seconds, as Thanos) is before it — the first five, computed here
# from promtool's meta.json files — are marked and, with --delete-delay=0s,
# deleted in the same run; the other three and the old 5m block (raw
# retention does not apply to it) stay without marks. Before that, a run
# whose --selector.relabel-config keeps shards 5-7 only must see 3 blocks
# and mark nothing. The retention flag's validation (>= 40h unless
# downsampling is off) is checked too.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_compactor.sh"

START=1699488000
step "8 blocks of 2h, one stream each, and a 5m block"
gen_backfill "$IT_WORK/local" "$START" 16 30 60
mapfile -t B < <(block_ulids "$IT_WORK/local")
((${#B[@]} == 8)) || die "promtool wrote ${#B[@]} blocks, want 8"
for i in "${!B[@]}"; do upload "$IT_WORK/local/${B[$i]}" cluster=rt shard="$i"; done
gen_backfill "$IT_WORK/five" "$START" 2 30 60
FIVE=$(block_ulids "$IT_WORK/five")
upload "$IT_WORK/five/$FIVE" cluster=rt5
python3 - "$BUCKET/$FIVE/meta.json" <<'EOF'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["thanos"]["downsample"]["resolution"] = 300000
open(p, "w").write(json.dumps(m, indent="\t"))
EOF

step "validation"
rc=0
compact badflag --retention.resolution-raw=39h || rc=$?
((rc == 2)) && grep -q '40 hours' "$IT_WORK/badflag.log" ||
	fail_check "--retention.resolution-raw=39h: exit $rc, $(head -c 300 "$IT_WORK/badflag.log")"
[[ $(all_blocks | wc -l) == 9 ]] || fail_check "a refused start touched the bucket"

step "retention with the boundary 11 h into the data"
now=$(date +%s)
boundary=$((START + 11 * 3600))
ret=$((now - boundary))
# expected: raw blocks with floor(maxTime / 1000) * 1000 + retention < now
mapfile -t EXPIRED < <(for u in "${B[@]}"; do
	mt=$(jq .maxTime "$IT_WORK/local/$u/meta.json")
	if ((mt / 1000 < boundary)); then echo "$u"; fi
done)
((${#EXPIRED[@]} == 5)) || die "the data should put 5 blocks before the boundary, got ${#EXPIRED[@]}"
# sharded by --selector.relabel-config: a compactor owning shards 5-7 only
# touches nothing (the expired blocks are not its own)
compact_ok selector --retention.resolution-raw="${ret}s" --delete-delay=0s \
	--selector.relabel-config=$'- action: keep\n  source_labels: [shard]\n  regex: "[5-7]"'
[[ $(all_blocks | wc -l) == 9 && -z $(marked_blocks deletion-mark.json) ]] ||
	fail_check "a compactor whose selector drops the expired blocks touched them"
grep -q 'usable=3 ' "$IT_WORK/selector.log" || fail_check "selector: $(grep -m1 'synced bucket' "$IT_WORK/selector.log")"
compact_ok retention --retention.resolution-raw="${ret}s" --delete-delay=0s
want=$(printf '%s\n' "${B[@]:5}" "$FIVE" | sort | tr '\n' ' ')
[[ $(all_blocks | tr '\n' ' ') == "$want" ]] ||
	fail_check "blocks left: $(all_blocks | tr '\n' ' '), want $want"
[[ -z $(marked_blocks deletion-mark.json) ]] || fail_check "blocks left with deletion marks: $(marked_blocks deletion-mark.json)"
n=$(grep -c 'msg="applying retention: marked block for deletion"' "$IT_WORK/retention.log" || true)
((n == 5)) || fail_check "$n retention marks logged, want 5"
verify_bucket "after retention"
finish
