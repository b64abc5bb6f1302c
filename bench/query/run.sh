#!/usr/bin/env bash
# bench/query: the same PromQL range queries (24 h at a 15 s step, like a
# dashboard) on real Prometheus 2.42 and on Strata over identical blocks, in
# one run:
#   data     query_bench gen: BENCH_SERIES counter series `x` (10 jobs,
#            BENCH_SERIES/10 instances, 10 series each) + one `gauge` per
#            instance, 15 s scrapes, BENCH_HOURS of 2h blocks written by
#            strata's block writer; promtool tsdb analyze checks them once
#   strata   (a) the serving path: `strata query` -> `strata store` over a
#            FILESYSTEM bucket (blocks put there by tools bucket upload-blocks,
#            external label replica=a, which the querier dedups away);
#            (b) the engine alone over the local blocks:
#            `strata tools promql query --data-dir`, one process per query
#   prom     prometheus on a copy of the blocks
# Per query each server's answer is fetched first (the warm-up) and
# compared with Prometheus's (same series, same timestamps, values within
# 1e-9 relative); then the median latency of BENCH_RUNS runs, the CPU
# seconds per run (utime + stime from /proc/PID/stat: steadier than wall
# time on a shared machine), and memory: each server is started afresh for
# each query, so its VmHWM (/proc/PID/status) is the peak of that query,
# and the growth is VmHWM minus its RSS once loaded and idle. For (a) both
# are store + query. (b) runs only with BENCH_ENGINE=1 (it is not what
# users run, and doubles strata's share of the run time): BENCH_RUNS runs,
# the first one's answer checked; its memory is the largest ru_maxrss.
# At the defaults one run takes about 8-10 minutes on 2 cores.
# Usage: run.sh BUILD_DIR   (BENCH_SERIES, BENCH_HOURS, BENCH_RUNS, BENCH_ENGINE)
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
bench=$build/bench/query_bench
strata=$build/cmd/strata
for b in "$bench" "$strata"; do [[ -x $b ]] || { echo "FATAL: $b not built" >&2; exit 1; }; done
series=${BENCH_SERIES:-10000}
hours=${BENCH_HOURS:-24}
runs=${BENCH_RUNS:-1}
engine=${BENCH_ENGINE:-0}
max_samples=500000000 # rate(x[5m]) over 10k series holds 57.6 M points: above both defaults (50 M)
source "$(dirname "$0")/../common/lib.sh"
bench_init query_bench
per_run_s() { awk -v a="$1" -v b="$2" -v n="$runs" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / hz / n}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }
stop() { # PID...: kill and reap, drop from pids
	local p q keep
	for p in "$@"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		keep=()
		for q in "${pids[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
		pids=(${keep[@]+"${keep[@]}"})
	done
}

t0=$(date +%s)
read -r mint maxt < <("$bench" gen "$work/blocks" "$series" "$hours")
nblocks=$(find "$work/blocks" -mindepth 1 -maxdepth 1 -type d | wc -l)
blocks_bytes=$(du -sb "$work/blocks" | cut -f1)
# promtool reads the newest block: every series, valid index and chunks
analyze=$(promtool tsdb analyze "$work/blocks" 2>&1) || { echo "FATAL: promtool tsdb analyze: $analyze" >&2; exit 1; }
want=$((series + series / 10))
got=$(awk '/^Series:/ {print $2; exit}' <<<"$analyze")
[[ $got == "$want" ]] || { echo "FATAL: promtool sees $got series in the newest block, want $want" >&2; exit 1; }
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$work/bucket" >"$work/obj.yml"
"$strata" tools bucket upload-blocks --objstore.config-file="$work/obj.yml" --label=replica=a \
	"$work/blocks"/* >/dev/null
mkdir -p "$work/prom"
cp -r "$work/blocks"/* "$work/prom/"
printf 'global:\n  scrape_interval: 1m\n' >"$work/prom.yml"
echo "data: $nblocks blocks, $want series ($series x, $((series / 10)) gauge), 15 s scrapes, $hours h:" \
	"$((want * hours * 240)) samples, $(mib $((blocks_bytes / 1024))) MiB (generated in $(($(date +%s) - t0)) s)"

start_prom() {
	pport=$(port)
	purl=http://127.0.0.1:$pport
	prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/prom" --web.listen-address=127.0.0.1:$pport \
		--storage.tsdb.retention.time=100y --storage.tsdb.min-block-duration=2h \
		--storage.tsdb.max-block-duration=2h --query.max-samples=$max_samples --query.timeout=20m \
		--log.level=warn 2>>"$work/prom.log" &
	ppid=$!
	pids+=("$ppid")
	for _ in $(seq 1 600); do curl -sf "$purl/-/ready" >/dev/null && return; sleep 0.05; done
	echo "FATAL: prometheus not ready" >&2
	cat "$work/prom.log" >&2
	exit 1
}

start_strata() {
	local gport hport loaded=0
	gport=$(port)
	hport=$(port)
	"$strata" store --objstore.config-file="$work/obj.yml" --data-dir="$work/store-data" \
		--grpc-address=127.0.0.1:$gport --http-address=127.0.0.1:$hport --log.level=warn 2>>"$work/store.log" &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 1 600); do
		loaded=$(metric "http://127.0.0.1:$hport" thanos_bucket_store_blocks_loaded || true)
		[[ ${loaded:-0} == "$nblocks" ]] && break
		sleep 0.05
	done
	[[ ${loaded:-0} == "$nblocks" ]] || { echo "FATAL: store loaded ${loaded:-0}/$nblocks blocks" >&2; exit 1; }
	qport=$(port)
	qurl=http://127.0.0.1:$qport
	"$strata" query --store=127.0.0.1:$gport --query.replica-label=replica --http-address=127.0.0.1:$qport \
		--grpc-address=127.0.0.1:$(port) --query.max-samples=$max_samples --query.timeout=20m \
		--log.level=warn 2>>"$work/query.log" &
	qpid=$!
	pids+=("$qpid")
	for _ in $(seq 1 600); do curl -sf "$qurl/-/ready" >/dev/null && return; sleep 0.05; done
	echo "FATAL: strata query not ready" >&2
	cat "$work/query.log" >&2
	exit 1
}

start_s=$(((maxt / 1000) - hours * 3600))
end_s=$((maxt / 1000))
fetch() { # URL QUERY FILE
	curl -sf -G "$1/api/v1/query_range" --data-urlencode "query=$2" -d start=$start_s -d end=$end_s -d step=15 \
		-o "$3" || { echo "FATAL: $1: $2 failed" >&2; exit 1; }
}

queries=('sum by (job) (rate(x[5m]))' 'rate(x{job="job-3"}[5m])' 'max_over_time(gauge[1h])' 'count(x)')
rows=()
for q in "${queries[@]}"; do
	start_prom
	start_strata
	sleep 1
	p_idle=$(status_kb "$ppid" VmRSS)
	s_idle=$(($(status_kb "$spid" VmRSS) + $(status_kb "$qpid" VmRSS)))
	fetch "$purl" "$q" "$work/p.json"
	fetch "$qurl" "$q" "$work/s.json"
	read -r n_series n_points rel_a < <("$bench" check "$work/p.json" "$work/s.json") ||
		{ echo "FATAL: $q: strata query and Prometheus disagree" >&2; exit 1; }
	c0=$(cpu_ticks "$ppid")
	read -r p_ms p_bytes < <("$bench" time "$purl" "$q" $start_s $end_s 15 "$runs")
	p_cpu=$(per_run_s "$c0" "$(cpu_ticks "$ppid")")
	p_hwm=$(status_kb "$ppid" VmHWM)
	stop "$ppid"
	c0=$(cpu_ticks "$spid" "$qpid")
	s0=$(cpu_ticks "$spid")
	read -r s_ms _ < <("$bench" time "$qurl" "$q" $start_s $end_s 15 "$runs")
	s_cpu=$(per_run_s "$c0" "$(cpu_ticks "$spid" "$qpid")")
	st_cpu=$(per_run_s "$s0" "$(cpu_ticks "$spid")")
	s_hwm=$(($(status_kb "$spid" VmHWM) + $(status_kb "$qpid" VmHWM)))
	st_hwm=$(status_kb "$spid" VmHWM)
	stop "$qpid" "$spid"
	t_ms=- t_kib=- t_cpu=- rel_b=-
	if [[ $engine == 1 ]]; then
		read -r t_ms t_kib t_cpu < <("$bench" exec "$runs" "$work/t.json" "$strata" tools promql query \
			--data-dir="$work/blocks" --start=$start_s --end=$end_s --step=15 --query.max-samples=$max_samples \
			--query.timeout=20m "$q")
		read -r _ _ rel_b < <("$bench" check "$work/p.json" "$work/t.json") ||
			{ echo "FATAL: $q: strata tools promql query and Prometheus disagree" >&2; exit 1; }
	fi
	rm -f "$work"/[pst].json
	rows+=("$q|$n_series|$n_points|$rel_a|$rel_b|$p_ms|$s_ms|$t_ms|$p_cpu|$s_cpu|$st_cpu|$t_cpu|$p_hwm|$p_idle|$s_hwm|$s_idle|$st_hwm|$t_kib|$p_bytes")
	echo "done: $q ($(($(date +%s) - t0)) s)" >&2
done

ratio() { [[ $1 == - ]] && echo - || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mibs() { [[ $1 == - ]] && echo - || mib "$1"; }
echo "range: [$start_s, $end_s] step 15 s; wall ms = median of $runs run(s) after a warm-up; CPU s per run; memory MiB"
printf '%-28s %6s | %8s %8s %8s %5s %5s | %6s %6s %6s | %12s %13s %6s\n' query series "prom ms" "(a) ms" "(b) ms" \
	"a/p" "b/p" "prom" "(a)" "(b)" "prom peak" "(a) peak" "(b)"
for r in "${rows[@]}"; do
	IFS='|' read -r q n_series n_points rel_a rel_b p_ms s_ms t_ms p_cpu s_cpu st_cpu t_cpu p_hwm p_idle s_hwm s_idle \
		st_hwm t_kib p_bytes <<<"$r"
	printf '%-28s %6s | %8s %8s %8s %5s %5s | %6s %6s %6s | %5s (+%4s) %5s (+%5s) %6s\n' "$q" "$n_series" "$p_ms" \
		"$s_ms" "$t_ms" "$(ratio "$s_ms" "$p_ms")" "$(ratio "$t_ms" "$p_ms")" "$p_cpu" "$s_cpu" "$t_cpu" \
		"$(mib "$p_hwm")" "$(mib $((p_hwm - p_idle)))" "$(mib "$s_hwm")" "$(mib $((s_hwm - s_idle)))" "$(mibs "$t_kib")"
	echo "    points $n_points, answer $(mib $((p_bytes / 1024))) MiB, max rel diff (a) $rel_a (b) $rel_b;" \
		"(a): store CPU $st_cpu s, store peak $(mib "$st_hwm") MiB"
done
echo "peak = VmHWM of a server started for that query (+ growth over its idle RSS once loaded);" \
	"(a) = strata query + strata store; (b) = strata tools promql query (ru_maxrss)"
echo "total $(($(date +%s) - t0)) s"
