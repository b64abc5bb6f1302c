#!/usr/bin/env bash
# strata store: clients that go away mid-stream, and the per-call limits.
#  cancellation  300 series over 4 h, uploaded 20 times under new ULIDs and
#                external labels copy=0..19: the whole selection is ~10 MB on
#                the wire, far above what gRPC's flow control lets the store
#                send ahead of a client that stopped reading.
#                `tools store series | head -n 5` five times (the client stops
#                after its first 1 MiB of output and closes the stream while
#                the store still has series to send); then five clients
#                killed by `timeout 0.5` (longer on a slow machine: twice
#                the time the head runs took) while blocked writing into a
#                pipe nobody reads. The store must count the 10 calls that
#                ended early as failed, keep its open file descriptors flat,
#                still answer a copy's whole result exactly (against `tools
#                tsdb dump`), and on SIGTERM exit 0 with an empty sanitizer
#                report. This test runs in the
#                ASan+UBSan build: LeakSanitizer checks at exit that every
#                allocation a cancelled call made (series entries, chunk
#                buffers, the sink, gRPC call state) was freed, so a clean
#                stderr is what proves the resources were released.
#  limits        a store with --store.limits.request-series, one with
#                --store.limits.request-samples and one with
#                --store.grpc.downloaded-bytes-limit: each fails a large
#                selection with Thanos's text ("exceeded series limit" ...)
#                and answers a small selection exactly.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_store.sh"

BUCKET=$IT_WORK/bucket
OBJ=$IT_WORK/objstore.yml
LOCAL=$IT_WORK/local
COPIES=20
EXT='cluster=big,copy=0,replica=a'
SMALL='{copy="0",__name__="strata_gen_special"}'
fs_bucket "$BUCKET" "$OBJ"

step "blocks of 300 series over 4 h, uploaded $COPIES times (new ULIDs, external label copy=0..$((COPIES - 1)))"
gen_input "$IT_WORK/in.om" --series 300 --hours 4 --step 30
run_ok backfill 120 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/in.om" "$LOCAL" || finish
rm -f "$IT_WORK/in.om"
# copy_blocks SRC DST — SRC's blocks under fresh ULIDs (data hard-linked,
# meta.json rewritten with the new ULID)
copy_blocks() {
	python3 - "$1" "$2" <<'PY'
import json, os, random, sys, time
src, dst = sys.argv[1], sys.argv[2]
B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
def ulid():
    t = int(time.time() * 1000)
    head = ''.join(B32[(t >> (5 * i)) & 31] for i in reversed(range(10)))
    return head + ''.join(random.choice(B32) for _ in range(16))
os.makedirs(dst)
for u in sorted(os.listdir(src)):
    if len(u) != 26:
        continue
    n = ulid()
    os.makedirs(os.path.join(dst, n, 'chunks'))
    for f in os.listdir(os.path.join(src, u, 'chunks')):
        os.link(os.path.join(src, u, 'chunks', f), os.path.join(dst, n, 'chunks', f))
    os.link(os.path.join(src, u, 'index'), os.path.join(dst, n, 'index'))
    meta = json.load(open(os.path.join(src, u, 'meta.json')))
    meta['ulid'] = n
    json.dump(meta, open(os.path.join(dst, n, 'meta.json'), 'w'))
PY
}
for ((k = 0; k < COPIES; k++)); do
	dir=$LOCAL
	if ((k > 0)); then
		dir=$IT_WORK/copy$k
		copy_blocks "$LOCAL" "$dir"
	fi
	run upload 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$OBJ" \
		--label=cluster=big --label=copy=$k --label=replica=a "$dir" || die "upload of copy $k failed: $(cat "$IT_WORK/upload.err")"
done
NBLOCKS=$(block_ulids "$BUCKET" | wc -l)
((NBLOCKS == COPIES * $(block_ulids "$LOCAL" | wc -l))) || die "bucket holds $NBLOCKS blocks"
expect_dump "$LOCAL" "$EXT" "$IT_WORK/all.exp"
strata_dump "$LOCAL" "$IT_WORK/small.dump" --match='{__name__="strata_gen_special"}'
python3 "$(dirname "$0")/expect_series.py" -9223372036854775808 9223372036854775807 "$IT_WORK/small.dump" "$EXT" \
	>"$IT_WORK/small.exp"
NSER=$(sed 's/} [^ ]* [^ ]*$/}/' "$IT_WORK/all.exp" | uniq | wc -l)
NSER_SMALL=$(sed 's/} [^ ]* [^ ]*$/}/' "$IT_WORK/small.exp" | uniq | wc -l)
NSAMPLES=$(wc -l <"$IT_WORK/all.exp")
NSAMPLES_SMALL=$(wc -l <"$IT_WORK/small.exp")
note "$NBLOCKS blocks; per copy $NSER series, $NSAMPLES samples ($(du -h "$IT_WORK/all.exp" | cut -f1) of dump); small: $NSER_SMALL series, $NSAMPLES_SMALL samples"
((NSER_SMALL > 0 && NSER > 10 * NSER_SMALL)) || die "the selections are not small and large"

step "a store; what each selection fetches from the bucket"
start_store store "$OBJ"
wait_store_ready 60
fetched() {
	{ curl -sf -m 5 "$STORE_URL/metrics" || true; } |
		awk '/^strata_store_bucket_fetched_bytes_total\{/ && !/index_header/ {s += $2} END {printf "%.0f\n", s}'
}
f0=$(fetched)
if run_ok small 60 "$STRATA" tools store series --store="$STORE" --match="$SMALL"; then
	compare_text "$IT_WORK/small.exp" "$IT_WORK/small.out" "series $SMALL"
fi
f1=$(fetched)
if run_ok all 120 "$STRATA" tools store series --store="$STORE" --match='{copy="0"}'; then
	compare_text "$IT_WORK/all.exp" "$IT_WORK/all.out" "series {copy=\"0\"}"
fi
f2=$(fetched)
FETCH_SMALL=$((f1 - f0))
FETCH_ALL=$((f2 - f1))
note "fetched: $FETCH_SMALL bytes for the small selection, $FETCH_ALL for one copy"

step "cancellation: 5 x | head -n 5, 5 x killed by timeout mid-stream"
fds() { find "/proc/$STORE_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
fd0=$(fds)
fail0=$(store_metric strata_store_series_request_failures_total)
took=()
for i in 1 2 3 4 5; do
	rc=0
	t0=$(date +%s.%N)
	timeout -k 5 60 "$STRATA" tools store series --store="$STORE" 2>"$IT_WORK/head$i.err" | head -n 5 \
		>"$IT_WORK/head$i.out" || rc=$?
	took[i]=$(python3 -c "import time; print('%.2f' % (time.time() - $t0))")
	# head's 5 lines are the first 5 of the answer; the client ends quietly
	head -n 5 "$IT_WORK/all.exp" | cmp -s - "$IT_WORK/head$i.out" ||
		fail_check "| head -n 5, run $i: not the first 5 lines of the answer"
	((rc == 0)) || fail_check "| head -n 5, run $i: pipeline exit $rc: $(head -c 300 "$IT_WORK/head$i.err")"
done
# A client sees output once it has a first MiB of it (its stdout buffer):
# that is what the head runs waited for. The timeout is 0.5 s or, on a
# slower machine, twice the slowest of them, so the client is killed with
# the stream under way.
KILL_AFTER=$(python3 -c "print('%.2f' % max(0.5, 2 * max(${took[*]/%/,} 0)))")
note "head runs took ${took[*]} s; clients killed after $KILL_AFTER s"
streamed=0
for i in 1 2 3 4 5; do
	# the reader takes 1000 bytes, then holds the pipe without reading: the
	# client blocks writing its output, the store blocks sending; timeout
	# kills the client in the middle of that
	timeout -k 5 "$KILL_AFTER" "$STRATA" tools store series --store="$STORE" 2>/dev/null |
		{ head -c 1000 >"$IT_WORK/timeout$i.out"; sleep 1; } || true
	kill -0 "$STORE_PID" 2>/dev/null || die "the store died after a client was killed: $(tail -n 5 "$STORE_LOG")"
	[[ -s $IT_WORK/timeout$i.out ]] && streamed=$((streamed + 1))
done
note "$streamed of 5 clients killed by timeout had printed series"
((streamed > 0)) || fail_check "no client killed by timeout had received series: not mid-stream"
ended_early() { (($(store_metric strata_store_series_request_failures_total) >= fail0 + 10)); }
if wait_for 30 "the store to see all 10 calls end early" ended_early; then
	note "all 10 calls counted as failed (client gone) by the store"
fi
fd1=$(fds)
note "store fds: $fd0 before, $fd1 after"
((fd1 <= fd0 + 4)) || fail_check "the store's open fds grew from $fd0 to $fd1 over 10 cancelled calls"
if run_ok all_again 120 "$STRATA" tools store series --store="$STORE" --match='{copy="0"}'; then
	compare_text "$IT_WORK/all.exp" "$IT_WORK/all_again.out" "series {copy=\"0\"} after the cancellations"
fi
[[ $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$STORE_URL/-/healthy") == 200 ]] || fail_check "/-/healthy not 200"

step "SIGTERM: exit 0 and no AddressSanitizer / LeakSanitizer / UBSan report"
stop_store store
note "store exit code $TERM_RC, $(grep -cE 'Sanitizer|runtime error:' "$STORE_LOG" || true) sanitizer lines in its output"

# limited NAME FLAG WANT_TEXT — a store with FLAG: one copy's selection
# fails with WANT_TEXT, the small one succeeds.
limited() {
	local name=$1 flag=$2 want=$3 rc=0
	step "limit $flag"
	start_store "$name" "$OBJ" "$flag"
	wait_store_ready 60
	run "${name}_all" 60 "$STRATA" tools store series --store="$STORE" --match='{copy="0"}' || rc=$?
	if ((rc == 0)); then
		fail_check "$flag: the whole selection succeeded ($(wc -l <"$IT_WORK/${name}_all.out") lines)"
	elif grep -qF "$want" "$IT_WORK/${name}_all.err"; then
		note "OK fails (exit $rc): $(head -c 200 "$IT_WORK/${name}_all.err")"
	else
		fail_check "$flag: error without '$want': $(head -c 300 "$IT_WORK/${name}_all.err")"
	fi
	if run_ok "${name}_small" 60 "$STRATA" tools store series --store="$STORE" --match="$SMALL"; then
		compare_text "$IT_WORK/small.exp" "$IT_WORK/${name}_small.out" "$flag: series $SMALL"
	fi
	local dropped
	dropped=$(store_metric thanos_bucket_store_queries_dropped_total)
	[[ $dropped == 1 ]] || fail_check "$flag: queries dropped ${dropped:-none}, want 1"
	stop_store "$name"
}
# Each limit is set exactly to what the small selection takes, so "at most
# N" is checked at its boundary: its series; its samples (the store counts
# the samples in the chunks it sends, all of them inside the whole range
# here: the lines of the dump); the bytes its first, uncached call fetched
# on the unlimited store (postings, series and chunk GETs, deterministic
# for the same blocks).
limited series_limit --store.limits.request-series="$NSER_SMALL" "exceeded series limit"
limited samples_limit --store.limits.request-samples="$NSAMPLES_SMALL" "exceeded samples limit"
((FETCH_SMALL > 0 && FETCH_SMALL < FETCH_ALL / 2)) || fail_check "fetched bytes $FETCH_SMALL / $FETCH_ALL: no room for a limit"
limited bytes_limit --store.grpc.downloaded-bytes-limit="$FETCH_SMALL" "exceeded bytes limit"
finish
