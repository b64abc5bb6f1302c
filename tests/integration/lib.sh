# lib.sh — helpers sourced by tests/integration/test_*.sh.
#
# Environment (set by ctest, see CMakeLists.txt):
#   STRATA           path of the strata binary
#   GEN_OPENMETRICS  path of the gen_openmetrics generator
#   TMPDIR           scratch root; each script works in its own mktemp dir
#   STRATA_IT_KEEP   if non-empty, keep the scratch dir of a failing run
#
# Every wait is bounded; everything started here is stopped by PID on exit.

set -euo pipefail

IT_NAME=$(basename "$0" .sh)
IT_FAILS=()
IT_PIDS=()

PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}

for _bin in STRATA GEN_OPENMETRICS PROMTOOL PROMETHEUS; do
	if [[ -z "${!_bin:-}" || ! -x "${!_bin}" ]]; then
		echo "FATAL: $_bin (${!_bin:-unset}) is not an executable" >&2
		exit 1
	fi
done
unset _bin
for _tool in python3 curl jq cmp diff timeout; do
	command -v "$_tool" >/dev/null || { echo "FATAL: $_tool not installed" >&2; exit 1; }
done
unset _tool

mkdir -p "${TMPDIR:-/tmp}"
IT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/${IT_NAME}.XXXXXX")

# Stop a process started by this script: TERM, up to 20 s grace, then KILL.
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "   pid $pid ignored SIGTERM for 20 s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

it_cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in ${IT_PIDS[@]+"${IT_PIDS[@]}"}; do
		stop_pid "$pid"
	done
	if [[ $rc -ne 0 && -n "${STRATA_IT_KEEP:-}" ]]; then
		echo "scratch dir kept: $IT_WORK"
	else
		rm -rf "$IT_WORK"
	fi
	exit "$rc"
}
trap it_cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# Messages show paths relative to the scratch dir, to stay readable.
step() { printf '\n== %s\n' "$*"; }
note() {
	local m="$*"
	printf '   %s\n' "${m//$IT_WORK\//}"
}
die() { printf 'FATAL: %s\n' "$*" >&2; exit 1; }

# Record a failed check and keep going, so one run reports every problem.
fail_check() {
	local m="$*"
	m=${m//$IT_WORK\//}
	printf 'FAIL: %s\n' "$m"
	IT_FAILS+=("$m")
}

finish() {
	if ((${#IT_FAILS[@]} > 0)); then
		printf '\n%s: %d check(s) failed:\n' "$IT_NAME" "${#IT_FAILS[@]}"
		printf '  - %s\n' "${IT_FAILS[@]}"
		exit 1
	fi
	printf '\n%s: all checks passed\n' "$IT_NAME"
	exit 0
}

# run NAME SECONDS CMD... — stdout to $IT_WORK/NAME.out, stderr to NAME.err.
# Returns the command's exit code (124 = timed out); never aborts the script.
run() {
	local name=$1 secs=$2 rc=0
	shift 2
	timeout -k 5 "$secs" "$@" >"$IT_WORK/$name.out" 2>"$IT_WORK/$name.err" || rc=$?
	return "$rc"
}

# Describe a non-zero exit of `run NAME`: code, signal, stderr excerpt.
describe_rc() {
	local name=$1 rc=$2
	local what="exit code $rc"
	((rc == 124)) && what="timed out (exit 124)"
	((rc > 128 && rc != 124)) && what="killed by signal $((rc - 128)) (exit $rc)"
	printf '%s; stderr: %s' "$what" "$(head -c 600 "$IT_WORK/$name.err" | tr '\n' ' ')"
}

# run_ok NAME SECONDS CMD... — like run, but a non-zero exit is a failed check.
run_ok() {
	local name=$1 rc=0
	run "$@" || rc=$?
	if ((rc != 0)); then
		shift 2
		fail_check "$name: '$*' failed: $(describe_rc "$name" "$rc")"
		return 1
	fi
}

# gen_input OUT [generator flags...]
gen_input() {
	local out=$1
	shift
	"$GEN_OPENMETRICS" "$@" >"$out" || die "gen_openmetrics $* failed"
	note "generated $(wc -l <"$out") lines ($(du -h "$out" | cut -f1)) with: gen_openmetrics $*"
}

promtool_backfill() {
	run promtool_backfill 300 "$PROMTOOL" tsdb create-blocks-from openmetrics "$1" "$2" ||
		die "promtool create-blocks-from openmetrics failed: $(cat "$IT_WORK/promtool_backfill.err")"
	note "promtool wrote $(block_ulids "$2" | wc -l) block(s) into $2"
}

# block_ulids DIR — block directory names (26-char ULIDs) in DIR, sorted.
block_ulids() {
	find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' |
		grep -E '^[0-7][0-9A-HJKMNP-TV-Z]{25}$' | sort || true
}

# promtool_dump DATADIR OUT [dump flags...] — on a scratch copy, because dump
# replays DIR/wal (which must exist) and creates DIR/chunks_head.
promtool_dump() {
	local dir=$1 out=$2 scratch rc=0
	shift 2
	scratch=$(mktemp -d "$IT_WORK/promdump.XXXXXX")
	cp -r "$dir/." "$scratch/"
	mkdir -p "$scratch/wal"
	timeout -k 5 300 "$PROMTOOL" tsdb dump "$@" "$scratch" >"$out" 2>"$out.err" || rc=$?
	rm -rf "$scratch"
	if ((rc != 0)); then
		fail_check "promtool tsdb dump $* failed (exit $rc): $(head -c 600 "$out.err")"
		return 1
	fi
}

# strata_dump DATADIR OUT [dump flags...]
strata_dump() {
	local dir=$1 out=$2 rc=0
	shift 2
	timeout -k 5 300 "$STRATA" tools tsdb dump "$@" "$dir" >"$out" 2>"$out.err" || rc=$?
	if ((rc != 0)); then
		local what="exit $rc"
		((rc == 124)) && what="timed out"
		((rc > 128)) && what="killed by signal $((rc - 128))"
		fail_check "strata tools tsdb dump $* failed ($what): $(head -c 600 "$out.err")"
		return 1
	fi
}

# compare_text EXPECTED ACTUAL WHAT — byte equality, diff excerpt on mismatch.
compare_text() {
	local exp=$1 act=$2 what=$3
	if cmp -s "$exp" "$act"; then
		note "OK $what: identical ($(wc -l <"$exp") lines)"
		return 0
	fi
	fail_check "$what: output differs (expected $(wc -l <"$exp") lines, got $(wc -l <"$act"))"
	echo "   first difference: $(cmp "$exp" "$act" 2>&1 | head -1)"
	echo "   --- diff excerpt (expected = reference, actual = strata) ---"
	{ timeout 60 diff -u --label expected --label actual "$exp" "$act" || true; } | head -n 40 | cut -c1-300
	echo "   ---"
	return 1
}

# free_port — an unused TCP port on 127.0.0.1 (bind to port 0, read it back).
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# start_prometheus DATADIR — sets PROM_PID, PROM_PORT, PROM_URL, PROM_LOG.
start_prometheus() {
	local datadir=$1 cfg
	cfg=$IT_WORK/prometheus.yml
	printf 'global:\n  scrape_interval: 1m\n' >"$cfg"
	PROM_PORT=$(free_port)
	PROM_URL=http://127.0.0.1:$PROM_PORT
	PROM_LOG=$IT_WORK/prometheus.log
	"$PROMETHEUS" --config.file="$cfg" --storage.tsdb.path="$datadir" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --storage.tsdb.retention.time=100y \
		>"$PROM_LOG" 2>&1 &
	PROM_PID=$!
	IT_PIDS+=("$PROM_PID")
	# If this script is SIGKILLed (ctest timeout) the EXIT trap never runs;
	# this watchdog then stops the server instead of leaking it.
	(
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		kill -TERM "$PROM_PID" 2>/dev/null
	) >/dev/null 2>&1 &
	IT_PIDS+=("$!")
	local deadline=$((SECONDS + 60))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$PROM_PID" 2>/dev/null; then
			tail -n 30 "$PROM_LOG"
			die "prometheus exited during startup"
		fi
		if curl -sf -m 2 "$PROM_URL/-/ready" >/dev/null 2>&1; then
			note "prometheus ready on $PROM_URL (pid $PROM_PID)"
			return 0
		fi
		sleep 0.2
	done
	tail -n 30 "$PROM_LOG"
	die "prometheus not ready on $PROM_URL within 60 s"
}
