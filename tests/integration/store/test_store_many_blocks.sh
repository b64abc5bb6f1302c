#!/usr/bin/env bash
# strata store over a FILESYSTEM bucket of 210 small 2h blocks (420 h of a
# few dozen series, backfilled with strata in 21 runs):
#   start-up   every block loaded (thanos_bucket_store_blocks_loaded = 210)
#              within 30 s of the process start. The target is 10 s for 200
#              blocks on an idle machine with a release build; the bound is
#              3x that because this runs under ASan+UBSan (2-3x slower) on a
#              shared 2-core machine. The measured time is printed.
#   Series     over the whole range and over a range inside it equals
#              `tools tsdb dump` of the local blocks (expect_series.py adds
#              the external labels and orders by label set).
#   re-sync    20 more blocks uploaded, 5 blocks (among them the oldest)
#              marked for deletion an hour ago and one marked just now, with
#              --ignore-deletion-marks-delay=10m and --sync-block-duration=2s:
#              the set becomes 210 + 20 - 5 (the fresh mark is still within
#              the delay), 5 drops are counted, the dropped blocks'
#              index-headers are gone, Info's min time moves to the oldest
#              block left, and Series equals the dump of exactly that set.
# Then SIGTERM: exit 0 with no sanitizer report.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_store.sh"

BUCKET=$IT_WORK/bucket
OBJ=$IT_WORK/objstore.yml
LOCAL=$IT_WORK/local
NEW=$IT_WORK/new
EXT='cluster=many,replica=a'
START=1699999200 # 2h-aligned
RUNS=21
fs_bucket "$BUCKET" "$OBJ"

step "210 blocks: 21 backfill runs of 20 h each"
t0=$SECONDS
backfill_runs "$LOCAL" "$START" "$RUNS" 20
mapfile -t BLOCKS < <(block_ulids "$LOCAL")
NB=${#BLOCKS[@]}
((NB >= 200)) || die "backfill wrote $NB blocks, want >= 200"
note "$NB blocks in $((SECONDS - t0)) s ($(du -sh "$LOCAL" | cut -f1))"
run_ok upload 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$OBJ" \
	--label=cluster=many --label=replica=a "$LOCAL" || finish
[[ $(block_ulids "$BUCKET" | wc -l) -eq $NB ]] || fail_check "bucket holds $(block_ulids "$BUCKET" | wc -l) blocks, want $NB"

step "start-up: every block loaded"
start_store store "$OBJ" --sync-block-duration=2s --ignore-deletion-marks-delay=10m
deadline=$((SECONDS + 60))
loaded=
while ((SECONDS < deadline)); do
	loaded=$(store_metric thanos_bucket_store_blocks_loaded)
	[[ $loaded == "$NB" ]] && break
	kill -0 "$STORE_PID" 2>/dev/null || { tail -n 20 "$STORE_LOG"; die "store exited during start-up"; }
	sleep 0.1
done
took=$(python3 -c "import time; print('%.2f' % (time.time() - $STORE_T0))")
note "$loaded of $NB blocks loaded $took s after the process started"
[[ $loaded == "$NB" ]] || die "only ${loaded:-0} of $NB blocks loaded after 60 s"
python3 -c "import sys; sys.exit(0 if $took <= 30 else 1)" ||
	fail_check "start-up took $took s for $NB blocks (bound 30 s)"
wait_store_ready 30
[[ $(store_metric thanos_bucket_store_block_load_failures_total) == 0 ]] || fail_check "block load failures at start-up"

step "Series over all $NB blocks against tsdb dump"
expect_dump "$LOCAL" "$EXT" "$IT_WORK/all.exp"
if run_ok all 60 "$STRATA" tools store series --store="$STORE"; then
	compare_text "$IT_WORK/all.exp" "$IT_WORK/all.out" "series, whole range, $NB blocks"
fi
# 100 h to 300 h into the data: the blocks at both ends are not touched
mint=$(((START + 100 * 3600) * 1000 + 123))
maxt=$(((START + 300 * 3600) * 1000))
SEL='{__name__=~"strata_gen_.+",code!="200"}'
strata_dump "$LOCAL" "$IT_WORK/mid.dump" --match="$SEL"
python3 "$(dirname "$0")/expect_series.py" "$mint" "$maxt" "$IT_WORK/mid.dump" "$EXT" >"$IT_WORK/mid.exp"
[[ -s $IT_WORK/mid.exp ]] || fail_check "the inner-range expectation is empty"
if run_ok mid 60 "$STRATA" tools store series --store="$STORE" --min-time="$mint" --max-time="$maxt" --match="$SEL"; then
	compare_text "$IT_WORK/mid.exp" "$IT_WORK/mid.out" "series $SEL, 200 h inside"
fi

step "20 more blocks, 5 marked for deletion an hour ago, 1 marked just now"
backfill_runs "$NEW" $((START + RUNS * 20 * 3600)) 2 20
mapfile -t ADDED < <(block_ulids "$NEW")
run_ok upload_new 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$OBJ" \
	--label=cluster=many --label=replica=a "$NEW" || finish
now=$(date +%s)
MARKED=("${BLOCKS[0]}" "${BLOCKS[17]}" "${BLOCKS[90]}" "${BLOCKS[91]}" "${BLOCKS[200]}")
FRESH=${BLOCKS[150]}
for u in "${MARKED[@]}"; do
	printf '{"id":"%s","deletion_time":%d,"version":1}\n' "$u" $((now - 3600)) >"$BUCKET/$u/deletion-mark.json"
done
printf '{"id":"%s","deletion_time":%d,"version":1}\n' "$FRESH" "$now" >"$BUCKET/$FRESH/deletion-mark.json"
WANT=$((NB + ${#ADDED[@]} - ${#MARKED[@]}))
note "added ${#ADDED[@]}, marked ${MARKED[*]}; want $WANT blocks"
if wait_for 30 "$WANT blocks loaded" metric_is thanos_bucket_store_blocks_loaded "$WANT"; then
	note "set updated $(python3 -c "import time; print('%.1f' % (time.time() - $now))") s after the marks"
else
	note "blocks loaded: $(store_metric thanos_bucket_store_blocks_loaded)"
fi
[[ $(store_metric thanos_bucket_store_block_drops_total) == "${#MARKED[@]}" ]] ||
	fail_check "block drops: $(store_metric thanos_bucket_store_block_drops_total), want ${#MARKED[@]}"
for u in "${MARKED[@]}"; do
	[[ ! -e $IT_WORK/store-data/$u ]] || fail_check "dropped block $u still has its index-header directory"
done
for u in "${ADDED[@]}" "$FRESH"; do
	[[ -s $IT_WORK/store-data/$u/index-header ]] || fail_check "served block $u has no index-header"
done

# the expected set: the original blocks minus the marked ones, plus the new
SERVED=$IT_WORK/served
mkdir -p "$SERVED"
for u in "${BLOCKS[@]}"; do
	[[ " ${MARKED[*]} " == *" $u "* ]] || cp -al "$LOCAL/$u" "$SERVED/"
done
for u in "${ADDED[@]}"; do cp -al "$NEW/$u" "$SERVED/"; done
[[ $(block_ulids "$SERVED" | wc -l) -eq $WANT ]] || die "expected set has $(block_ulids "$SERVED" | wc -l) blocks"
expect_dump "$SERVED" "$EXT" "$IT_WORK/after.exp"
if run_ok after 60 "$STRATA" tools store series --store="$STORE"; then
	compare_text "$IT_WORK/after.exp" "$IT_WORK/after.out" "series after the re-sync ($WANT blocks)"
fi
mint_want=$(jq -s 'map(.minTime) | min' "$SERVED"/*/meta.json)
maxt_want=$(jq -s 'map(.maxTime) | max' "$SERVED"/*/meta.json)
if run_ok info 30 "$STRATA" tools store info --store="$STORE"; then
	grep -qx "min_time=$mint_want" "$IT_WORK/info.out" ||
		fail_check "info: $(grep min_time "$IT_WORK/info.out"), want $mint_want (oldest block left)"
	grep -qx "max_time=$maxt_want" "$IT_WORK/info.out" ||
		fail_check "info: $(grep max_time "$IT_WORK/info.out"), want $maxt_want (newest block added)"
fi

step "SIGTERM: exit 0, no sanitizer report"
stop_store store
if grep -q 'level=error' "$STORE_LOG"; then
	fail_check "errors in the store log: $(grep -m 3 'level=error' "$STORE_LOG")"
fi
finish
