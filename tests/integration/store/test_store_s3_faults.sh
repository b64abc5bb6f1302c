#!/usr/bin/env bash
# strata store over an S3 bucket (s3rver) that fails under it. Six blocks
# backfilled with strata are uploaded with tools bucket upload-blocks; then,
# in s3rver's data directory, one block's index gets bytes flipped inside its
# symbol table and another's inside its postings offset table.
#  A. corrupt indexes: both blocks are skipped with an error log naming the
#     block and the section, thanos_bucket_store_block_load_failures_total
#     counts them (again at each sync: they are retried), and Series serves
#     exactly the dump of the four good blocks.
#  B. s3rver killed (SIGKILL): a Series call that needs bucket reads (a
#     selector never asked before, chunks are never cached) fails: non-zero
#     exit of tools store series with a message naming the bucket, the
#     object and the transport failure; syncs fail (counted) but keep the
#     loaded set; the store stays up (/-/healthy 200, /-/ready 200).
#  C. s3rver restarted on the same port and data dir: the same call now
#     succeeds and equals the dump; syncs succeed again.
# Then SIGTERM: exit 0 with no sanitizer report.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_store.sh"

LOCAL=$IT_WORK/local
S3DATA=$IT_WORK/s3data
S3_PORT=$(free_port)
OBJ=$IT_WORK/s3.yml
EXT='cluster=s3,replica=a'

step "six blocks in s3rver, two of them with a corrupt index"
backfill_runs "$LOCAL" 1699999200 1 12
mapfile -t BLOCKS < <(block_ulids "$LOCAL")
((${#BLOCKS[@]} == 6)) || die "backfill wrote ${#BLOCKS[@]} blocks, want 6"
start_s3rver "$S3DATA" "$S3_PORT"
s3_yml S3RVER S3RVER "$S3_PORT" >"$OBJ"
run_ok upload 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$OBJ" \
	--label=cluster=s3 --label=replica=a "$LOCAL" || finish
BAD_SYM=${BLOCKS[1]}
BAD_POT=${BLOCKS[4]}
# flip_index FILE SECTION — invert 4 bytes in the middle of the symbol
# table (it starts at offset 5) or of the postings offset table (at the
# offset the TOC, the last 52 bytes, gives in its 6th field).
flip_index() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
path, section = sys.argv[1], sys.argv[2]
data = bytearray(open(path, 'rb').read())
toc = data[-52:]
sym, series, _, _, _, pot = struct.unpack('>6Q', toc[:48])
start, end = (sym, series) if section == 'symbols' else (pot, len(data) - 52)
at = start + 8 + (end - start - 12) // 2  # past len and count, before the crc
for i in range(at, at + 4):
    data[i] ^= 0xff
open(path, 'wb').write(bytes(data))
PY
}
for f in "$S3DATA/strata/$BAD_SYM/index._S3rver_object" "$S3DATA/strata/$BAD_POT/index._S3rver_object"; do
	[[ -f $f ]] || die "no $f in s3rver's data dir"
done
flip_index "$S3DATA/strata/$BAD_SYM/index._S3rver_object" symbols
flip_index "$S3DATA/strata/$BAD_POT/index._S3rver_object" pot
GOOD=$IT_WORK/good
mkdir -p "$GOOD"
for u in "${BLOCKS[@]}"; do
	[[ $u == "$BAD_SYM" || $u == "$BAD_POT" ]] || cp -al "$LOCAL/$u" "$GOOD/"
done
note "symbol table flipped in $BAD_SYM, postings offset table in $BAD_POT"

step "A: the corrupt blocks are skipped, logged and counted; the others served"
start_store store "$OBJ" --sync-block-duration=2s --log.level=debug
wait_store_ready 60
[[ $(store_metric thanos_bucket_store_blocks_loaded) == 4 ]] ||
	fail_check "blocks loaded: $(store_metric thanos_bucket_store_blocks_loaded), want 4"
fails=$(store_metric thanos_bucket_store_block_load_failures_total)
((${fails:-0} >= 2)) || fail_check "load failures: ${fails:-none}, want >= 2"
grep -q "level=error.*block=$BAD_SYM.*symbol table" "$STORE_LOG" ||
	fail_check "no error log naming block $BAD_SYM and its symbol table"
grep -q "level=error.*block=$BAD_POT.*postings offset table" "$STORE_LOG" ||
	fail_check "no error log naming block $BAD_POT and its postings offset table"
grep -m 1 "level=error.*block=$BAD_SYM" "$STORE_LOG" | cut -c1-260 | sed 's/^/   /'
grep -m 1 "level=error.*block=$BAD_POT" "$STORE_LOG" | cut -c1-260 | sed 's/^/   /'
retried() { (($(store_metric thanos_bucket_store_block_load_failures_total) >= fails + 2)); }
wait_for 20 "the corrupt blocks retried at the next sync" retried
expect_dump "$GOOD" "$EXT" "$IT_WORK/good.exp"
SEL1='{__name__=~"strata_gen_(request_duration_seconds_count|special)"}'
strata_dump "$GOOD" "$IT_WORK/sel1.dump" --match="$SEL1"
python3 "$(dirname "$0")/expect_series.py" -9223372036854775808 9223372036854775807 "$IT_WORK/sel1.dump" "$EXT" \
	>"$IT_WORK/sel1.exp"
[[ -s $IT_WORK/sel1.exp ]] || fail_check "$SEL1 selects nothing in the good blocks"
if run_ok sel1 60 "$STRATA" tools store series --store="$STORE" --match="$SEL1"; then
	compare_text "$IT_WORK/sel1.exp" "$IT_WORK/sel1.out" "series $SEL1 from the 4 good blocks"
fi

step "B: s3rver killed: Series fails clearly, the store stays up"
kill_now "$S3_PID"
gets=$(store_metric strata_store_bucket_get_range_total)
run series_down 60 "$STRATA" tools store series --store="$STORE" && rc=0 || rc=$?
if ((rc == 0)); then
	fail_check "Series succeeded with s3rver down (served $(wc -l <"$IT_WORK/series_down.out") lines)"
else
	msg=$(head -c 600 "$IT_WORK/series_down.err")
	note "exit $rc: $msg"
	# the bucket and object read, and the transport failure (curl's words)
	grep -qE 'strata/[0-9A-HJKMNP-TV-Z]{26}/(index|chunks/[0-9]+)' <<<"$msg" ||
		fail_check "the error does not name the bucket and object read: $msg"
	[[ $msg == *"port $S3_PORT"* || $msg == *"127.0.0.1:$S3_PORT"* || $msg == *onnect* ]] ||
		fail_check "the error does not say the bucket could not be reached: $msg"
fi
sync_failed() { (($(store_metric thanos_blocks_meta_sync_failures_total) >= 1)); }
wait_for 20 "a sync against the dead server to fail" sync_failed
kill -0 "$STORE_PID" 2>/dev/null || die "the store died with s3rver down: $(tail -n 5 "$STORE_LOG")"
[[ $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$STORE_URL/-/healthy") == 200 ]] || fail_check "/-/healthy not 200"
[[ $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$STORE_URL/-/ready") == 200 ]] || fail_check "/-/ready not 200"
[[ $(store_metric thanos_bucket_store_blocks_loaded) == 4 ]] ||
	fail_check "a failed sync changed the set: $(store_metric thanos_bucket_store_blocks_loaded) blocks loaded"
grep -m 1 'sync failed' "$STORE_LOG" | cut -c1-260 | sed 's/^/   /'

step "C: s3rver back on the same port and data: the same call succeeds"
start_s3rver "$S3DATA" "$S3_PORT"
if run_ok series_up 60 "$STRATA" tools store series --store="$STORE"; then
	compare_text "$IT_WORK/good.exp" "$IT_WORK/series_up.out" "series, every block, after s3rver came back"
fi
# syncs_total counts every attempt, failures_total the failed ones
sync_successes() {
	echo $(($(store_metric thanos_blocks_meta_syncs_total) - $(store_metric thanos_blocks_meta_sync_failures_total)))
}
ok0=$(sync_successes)
sync_ok() { (($(sync_successes) > ok0)); }
wait_for 20 "a successful sync after s3rver came back" sync_ok
[[ $(store_metric thanos_bucket_store_blocks_loaded) == 4 ]] ||
	fail_check "blocks loaded after recovery: $(store_metric thanos_bucket_store_blocks_loaded), want 4"

step "SIGTERM: exit 0, no sanitizer report"
stop_store store
finish
