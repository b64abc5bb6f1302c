#!/usr/bin/env bash
# What st_db writes is what promtool reads: `promtool tsdb dump` of the data
# directory equals the appended samples, first from the WAL alone, then
# after block cuts (blocks + checkpoint + WAL); promtool list/analyze accept
# the blocks; reading back through st_db gives the same text.
source "$(dirname "$0")/../lib.sh"
: "${DRIVER:?DRIVER must name tsdb_driver}"

SERIES=30

step "WAL only: $SERIES series x 200 rounds, compressed records, no block"
data=$IT_WORK/wal_only
run_ok append 120 "$DRIVER" append "$data" --series=$SERIES --rounds=200 || die "append failed"
[[ -z $(block_ulids "$data") ]] || fail_check "no block expected yet"
"$DRIVER" expect --series=$SERIES --rounds=200 >"$IT_WORK/expect_wal"
promtool_dump "$data" "$IT_WORK/prom_wal" && compare_text "$IT_WORK/expect_wal" "$IT_WORK/prom_wal" "promtool dump of the WAL"
run_ok dump 120 "$DRIVER" dump "$data" && compare_text "$IT_WORK/expect_wal" "$IT_WORK/dump.out" "st_db replay of the WAL"

step "block cuts: 1-minute blocks, 1 s steps for 8 minutes, compaction every 20 rounds"
data=$IT_WORK/blocks
run_ok append 120 "$DRIVER" append "$data" --series=$SERIES --rounds=480 --step=1000 --block=60000 \
	--compact-every=20 || die "append failed"
nblocks=$(block_ulids "$data" | wc -l)
note "$nblocks blocks, WAL: $(ls "$data/wal" | tr '\n' ' ')"
((nblocks >= 5)) || fail_check "expected at least 5 blocks, got $nblocks"
ls "$data/wal" | grep -q '^checkpoint\.' || fail_check "no WAL checkpoint after block cuts"
"$DRIVER" expect --series=$SERIES --rounds=480 --step=1000 >"$IT_WORK/expect_blocks"
promtool_dump "$data" "$IT_WORK/prom_blocks" && compare_text "$IT_WORK/expect_blocks" "$IT_WORK/prom_blocks" \
	"promtool dump of blocks + checkpoint + WAL"
run_ok dump2 120 "$DRIVER" dump "$data" --block=60000 &&
	compare_text "$IT_WORK/expect_blocks" "$IT_WORK/dump2.out" "st_db over blocks + head after reopen"
run_ok list 60 "$PROMTOOL" tsdb list "$data" && note "promtool tsdb list: $(($(wc -l <"$IT_WORK/list.out") - 1)) blocks"
while read -r ulid; do
	run_ok "analyze_$ulid" 60 "$PROMTOOL" tsdb analyze --extended "$data" "$ulid"
done < <(block_ulids "$data")
finish
