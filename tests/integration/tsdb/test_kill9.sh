#!/usr/bin/env bash
# kill -9 while appending (and cutting 1-minute blocks): after the crash,
# every sample acknowledged by a commit is in the data directory, checked
# independently by `promtool tsdb dump` and by reopening with st_db; at
# most the one commit in flight may additionally be there.
source "$(dirname "$0")/../lib.sh"
: "${DRIVER:?DRIVER must name tsdb_driver}"

SERIES=50
STEP=1000
START=1700000000000
data=$IT_WORK/data

for attempt in 1 2; do
	step "attempt $attempt: append until kill -9"
	rm -rf "$data"
	"$DRIVER" append "$data" --series=$SERIES --rounds=1000000 --step=$STEP --start=$START --block=60000 \
		--compact-every=25 --sleep-us=500 >"$IT_WORK/acks" 2>"$IT_WORK/append.err" &
	pid=$!
	IT_PIDS+=("$pid")
	sleep $((2 + attempt))
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	last=$(grep -E '^ack [0-9]+ [0-9]+$' "$IT_WORK/acks" | tail -n 1 || true)
	[[ -n $last ]] || die "no commit was acknowledged: $(head -c 400 "$IT_WORK/append.err")"
	rounds=$(($(cut -d' ' -f2 <<<"$last") + 1))
	tlast=$(cut -d' ' -f3 <<<"$last")
	note "killed after $rounds acknowledged commits (last t=$tlast), $(block_ulids "$data" | wc -l) blocks," \
		"WAL: $(ls "$data/wal" | tr '\n' ' ')"
	"$DRIVER" expect --series=$SERIES --rounds=$rounds --step=$STEP --start=$START >"$IT_WORK/expect"

	promtool_dump "$data" "$IT_WORK/prom" --max-time="$tlast" &&
		compare_text "$IT_WORK/expect" "$IT_WORK/prom" "promtool: acknowledged samples after kill -9"
	run_ok reopen 120 "$DRIVER" dump "$data" --block=60000 --max-time="$tlast" &&
		compare_text "$IT_WORK/expect" "$IT_WORK/reopen.out" "st_db: acknowledged samples after kill -9"
	run_ok beyond 120 "$DRIVER" dump "$data" --block=60000 --min-time=$((tlast + 1))
	extra=$(awk '{print $NF}' "$IT_WORK/beyond.out" | sort -u | tr '\n' ' ')
	if [[ -n $extra && $extra != "$((tlast + STEP)) " ]]; then
		fail_check "samples beyond the last acknowledged commit other than the one in flight: $extra"
	fi
	grep -q 'WAL corruption' "$IT_WORK/reopen.err" &&
		note "replay reported a torn tail: $(grep -o 'segment=[0-9]* offset=[0-9]*' "$IT_WORK/reopen.err" | head -1)"
done
finish
