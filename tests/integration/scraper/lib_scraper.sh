# lib_scraper.sh — helpers for the scraper tests (sourced after ../lib.sh).
#
#   start_targets DIR          python target server over DIR; sets TGT_PORT, TGT
#   start_strata NAME CFG DATA [flags...]   sets <NAME>_PID, <NAME>_URL, <NAME>_LOG
#   start_prom NAME CFG DATA [flags...]     same for a real prometheus 2.42
#   wait_for SECS DESC CMD...  poll CMD every 0.2 s until it succeeds
#   targets_json URL OUT       GET /api/v1/targets into OUT
#   target_field URL JOB FIELD the FIELD of the first active target of JOB

SCRAPER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# watchdog: stop pid if this script is SIGKILLed (the EXIT trap never runs)
_watch() {
	local pid=$1
	(
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		kill -KILL "$pid" 2>/dev/null
	) >/dev/null 2>&1 &
	IT_PIDS+=("$!")
}

start_targets() {
	local dir=$1 pf=$IT_WORK/targets.port
	rm -f "$pf"
	python3 "$SCRAPER_DIR/targets.py" "$dir" "$pf" >"$IT_WORK/targets.log" 2>&1 &
	local pid=$!
	IT_PIDS+=("$pid")
	_watch "$pid"
	wait_for 20 "target server" test -s "$pf" || die "target server did not start: $(cat "$IT_WORK/targets.log")"
	TGT_PORT=$(cat "$pf")
	TGT=127.0.0.1:$TGT_PORT
	note "target server on $TGT (pid $pid)"
}

wait_for() {
	local secs=$1 desc=$2
	shift 2
	local deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	note "timed out after ${secs}s waiting for: $desc"
	return 1
}

# _start KIND NAME CFG DATA [flags...]
_start() {
	local kind=$1 name=$2 cfg=$3 data=$4 port log pid
	shift 4
	port=$(free_port)
	log=$IT_WORK/$name.log
	if [[ $kind == strata ]]; then
		"$STRATA" scraper --config.file="$cfg" --storage.tsdb.path="$data" \
			--web.listen-address="127.0.0.1:$port" "$@" >>"$log" 2>&1 &
	else
		"$PROMETHEUS" --config.file="$cfg" --storage.tsdb.path="$data" \
			--web.listen-address="127.0.0.1:$port" "$@" >>"$log" 2>&1 &
	fi
	pid=$!
	IT_PIDS+=("$pid")
	_watch "$pid"
	printf -v "${name}_PID" %s "$pid"
	printf -v "${name}_URL" %s "http://127.0.0.1:$port"
	printf -v "${name}_LOG" %s "$log"
	if ! wait_for 60 "$name ready" curl -sf -m 2 "http://127.0.0.1:$port/-/ready"; then
		tail -n 20 "$log"
		die "$name not ready"
	fi
	note "$name ready on 127.0.0.1:$port (pid $pid)"
}

start_strata() { _start strata "$@"; }
start_prom() { _start prom "$@"; }

targets_json() {
	curl -sf -m 10 "$1/api/v1/targets" -o "$2"
}

# target_field URL JOB FIELD — e.g. target_field "$S_URL" limit health
target_field() {
	curl -sf -m 10 "$1/api/v1/targets" |
		jq -r --arg j "$2" --arg f "$3" '[.data.activeTargets[] | select(.scrapePool == $j)][0][$f] // empty'
}

# dump_series DATADIR OUT — promtool dump as "labels value" lines (timestamps
# dropped), sorted and unique: the series and the values they took.
dump_values() {
	local dir=$1 out=$2
	promtool_dump "$dir" "$out.raw" || return 1
	sed -E 's/ [-0-9]+$//' "$out.raw" | LC_ALL=C sort -u >"$out"
}
