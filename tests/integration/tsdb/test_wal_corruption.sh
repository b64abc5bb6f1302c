#!/usr/bin/env bash
# A corrupted WAL: replay keeps everything before the first bad record,
# logs the segment and offset, and cuts the WAL there; promtool then reads
# the repaired directory to the same samples.
source "$(dirname "$0")/../lib.sh"
: "${DRIVER:?DRIVER must name tsdb_driver}"

SERIES=10
ROUNDS=40

# rounds_in FILE — number of complete rounds in a dump (every series equal)
rounds_in() {
	awk '{n[$1 $2 $3]++} END {m = -1; for (k in n) { if (m < 0 || n[k] < m) m = n[k] } print (m < 0 ? 0 : m)}' "$1"
}

step "torn tail: the last record loses its end (as a crash during write(2))"
data=$IT_WORK/torn
run_ok append 60 "$DRIVER" append "$data" --series=$SERIES --rounds=$ROUNDS --crash || die "append failed"
seg=$data/wal/00000000
size=$(stat -c %s "$seg")
truncate -s $((size - 3)) "$seg"
run_ok replay 60 "$DRIVER" dump "$data"
if grep -q 'msg="WAL corruption' "$IT_WORK/replay.err"; then
	line=$(grep 'msg="WAL corruption' "$IT_WORK/replay.err")
	note "log: ${line:0:300}"
	grep -q 'segment=00000000' <<<"$line" || fail_check "log line does not name segment 00000000"
	off=$(grep -o 'offset=[0-9]*' <<<"$line" | head -1 | cut -d= -f2)
	grep -q 'torn' <<<"$line" || fail_check "log line does not say the record is torn"
	[[ $(stat -c %s "$seg") == "$off" ]] || fail_check "segment not cut at offset $off (size $(stat -c %s "$seg"))"
else
	fail_check "no 'WAL corruption' log line: $(head -c 400 "$IT_WORK/replay.err")"
fi
"$DRIVER" expect --series=$SERIES --rounds=$((ROUNDS - 1)) >"$IT_WORK/expect_torn"
compare_text "$IT_WORK/expect_torn" "$IT_WORK/replay.out" "st_db replay up to the torn record"
promtool_dump "$data" "$IT_WORK/prom_torn" && compare_text "$IT_WORK/expect_torn" "$IT_WORK/prom_torn" \
	"promtool dump of the repaired WAL"

step "bad CRC in the middle of a segment"
data=$IT_WORK/flip
run_ok append2 60 "$DRIVER" append "$data" --series=$SERIES --rounds=$ROUNDS --crash || die "append failed"
seg=$data/wal/00000000
size=$(stat -c %s "$seg")
pos=$((size / 2))
byte=$(od -An -tu1 -j $pos -N1 "$seg" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 0x5a)))" | dd of="$seg" bs=1 seek=$pos conv=notrunc status=none
run_ok replay2 60 "$DRIVER" dump "$data"
line=$(grep 'msg="WAL corruption' "$IT_WORK/replay2.err" || true)
[[ -n $line ]] || fail_check "no 'WAL corruption' log line after a flipped byte"
note "log: ${line:0:300}"
grep -q 'CRC mismatch' <<<"$line" || fail_check "log line does not report the CRC mismatch"
kept=$(rounds_in "$IT_WORK/replay2.out")
note "flipped byte $pos of $size: $kept of $ROUNDS rounds kept"
((kept > 0 && kept < ROUNDS)) || fail_check "expected a proper prefix of the rounds, got $kept"
"$DRIVER" expect --series=$SERIES --rounds="$kept" >"$IT_WORK/expect_flip"
compare_text "$IT_WORK/expect_flip" "$IT_WORK/replay2.out" "st_db replay up to the corrupt record"
promtool_dump "$data" "$IT_WORK/prom_flip" && compare_text "$IT_WORK/expect_flip" "$IT_WORK/prom_flip" \
	"promtool dump after the repair"

step "after the repair st_db appends again and replays cleanly"
run_ok more 60 "$DRIVER" append "$data" --series=$SERIES --rounds=1 --start=1800000000000 || fail_check "append after repair"
run_ok replay3 60 "$DRIVER" dump "$data"
grep -q 'WAL corruption' "$IT_WORK/replay3.err" && fail_check "the repaired WAL still reports corruption"
[[ $(wc -l <"$IT_WORK/replay3.out") == $((kept * SERIES + SERIES)) ]] || fail_check "unexpected sample count after repair"
finish
