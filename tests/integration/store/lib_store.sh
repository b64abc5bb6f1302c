# lib_store.sh — helpers of the store gateway tests, sourced after ../lib.sh
# (IT_WORK, IT_PIDS, free_port, fail_check, die ...). Brings in
# ../sidecar/lib_sidecar.sh too (wait_for, term_code, start_s3rver, s3_yml,
# kill_now).
#
# Every process started here is recorded in IT_PIDS (stopped by lib.sh's
# EXIT trap) and watched by a subshell that stops it if the script is
# killed outright; every wait is bounded.

source "$(dirname "${BASH_SOURCE[0]}")/../sidecar/lib_sidecar.sh"

# fs_bucket DIR OUT_YML — a FILESYSTEM objstore.yml for DIR.
fs_bucket() {
	mkdir -p "$1"
	printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$1" >"$2"
}

# start_store NAME OBJSTORE_YML [store flags...] — `strata store` on free
# loopback ports; its output (logs, and sanitizer reports) goes to
# NAME.log. Sets STORE_PID, STORE (gRPC host:port), STORE_URL, STORE_LOG,
# STORE_T0 (start, seconds since the epoch). Does not wait: see
# wait_store_ready.
start_store() {
	local name=$1 obj=$2
	shift 2
	STORE=127.0.0.1:$(free_port)
	local http=127.0.0.1:$(free_port)
	STORE_URL=http://$http
	STORE_LOG=$IT_WORK/$name.log
	STORE_T0=$(date +%s.%N)
	start_bg "$STORE_LOG" "$STRATA" store --objstore.config-file="$obj" --data-dir="$IT_WORK/$name-data" \
		--grpc-address="$STORE" --http-address="$http" "$@"
	STORE_PID=$BG_PID
}

# wait_store_ready SECS — until /-/ready answers 200; fatal otherwise.
wait_store_ready() {
	local deadline=$((SECONDS + $1))
	until curl -sf -m 2 "$STORE_URL/-/ready" >/dev/null 2>&1; do
		if ! kill -0 "$STORE_PID" 2>/dev/null || ((SECONDS > deadline)); then
			tail -n 20 "$STORE_LOG"
			die "strata store not ready on $STORE_URL within $1 s"
		fi
		sleep 0.1
	done
	note "store ready (pid $STORE_PID, grpc $STORE)"
}

# store_metric NAME — a sample value from the store's /metrics (empty when
# absent or unreachable).
store_metric() {
	{ curl -sf -m 5 "$STORE_URL/metrics" || true; } | awk -v n="$1" '$1 == n { print $2 }'
}

# metric_is NAME WANT — true when the store's NAME is WANT (for wait_for).
metric_is() { [[ $(store_metric "$1") == "$2" ]]; }

# stop_store WHAT — SIGTERM (term_code: up to 20 s, then SIGKILL): exit 0
# and no sanitizer report (AddressSanitizer, LeakSanitizer at exit, UBSan's
# "runtime error:") in its output, or a failed check.
stop_store() {
	term_code "$STORE_PID"
	((TERM_RC == 0)) || fail_check "$1: exit code $TERM_RC on SIGTERM: $(tail -n 5 "$STORE_LOG" | tr '\n' ' ')"
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$STORE_LOG"; then
		fail_check "$1: sanitizer report: $(grep -E -m 3 'Sanitizer|runtime error:' "$STORE_LOG" | tr '\n' ' ')"
	fi
}

# expect_dump DATADIR EXTLABELS OUT [MINT MAXT] — what `tools store series`
# must print for every series of DATADIR served with EXTLABELS ("k=v,...").
expect_dump() {
	local dir=$1 ext=$2 out=$3 mint=${4:--9223372036854775808} maxt=${5:-9223372036854775807}
	strata_dump "$dir" "$out.dump" || return 1
	python3 "$(dirname "${BASH_SOURCE[0]}")/expect_series.py" "$mint" "$maxt" "$out.dump" "$ext" >"$out" ||
		die "expect_series.py failed on $dir"
}

# backfill_runs OUT_DIR START_S RUNS HOURS — RUNS runs of gen_openmetrics
# (--series 30, one sample every 15 min, HOURS each, starting 2h-aligned at
# START_S and following one another) backfilled with strata into OUT_DIR:
# HOURS/2 blocks per run. Several short runs instead of one long one: the
# backfiller (like promtool's) reads its whole input once per block.
backfill_runs() {
	local out=$1 start=$2 runs=$3 hours=$4 i
	for ((i = 0; i < runs; i++)); do
		"$GEN_OPENMETRICS" --series 30 --hours "$hours" --step 900 --start $((start + i * hours * 3600)) \
			>"$IT_WORK/run.om" || die "gen_openmetrics failed"
		run backfill 120 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/run.om" "$out" ||
			die "backfill run $i failed: $(head -c 600 "$IT_WORK/backfill.err")"
	done
	rm -f "$IT_WORK/run.om"
}
