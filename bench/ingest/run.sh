#!/usr/bin/env bash
# bench/ingest: scrape ingestion, strata scraper beside a real prometheus
# 2.42 in one run.
#   1. exposition parsing alone (ingest_bench parse): MB/s, ns/sample
#   2. parse + cache + append + WAL on one thread (ingest_bench ingest):
#      samples/s per core, RSS per active series
#   3. side by side at each size in BENCH_SIZES (default "100000 1000000"
#      series): ingest_bench serves SERIES/10000 targets of 10,000 series
#      on loopback; strata scraper and prometheus scrape all of them every
#      BENCH_INTERVAL (10s) at the same time. After a warm-up of two
#      intervals, over BENCH_MEASURE seconds: appended samples per CPU
#      second of each process (strata_tsdb_head_samples_appended_total,
#      prometheus_tsdb_head_samples_appended_total, utime+stime from
#      /proc), and at the end RSS per head series.
# usage: run.sh BUILD_DIR   (a release build: cmd/strata, bench/ingest_bench)
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
bench=$build/bench/ingest_bench
strata=$build/cmd/strata
sizes=${BENCH_SIZES:-"100000 1000000"}
interval=${BENCH_INTERVAL:-10}
measure=${BENCH_MEASURE:-60}
source "$(dirname "$0")/../common/lib.sh"
bench_init ingest_bench

echo "--- 1. text 0.0.4 parsing (one thread; Prometheus's Go parser: ~248 MB/s, ~413 ns/sample on an M2 Max)"
"$bench" parse --series 100000
echo "--- 2. parse + series cache + append + WAL commit, one thread, real TSDB"
for s in 100000 1000000; do
	rm -rf "$work/ingest"
	"$bench" ingest --series "$s" "$work/ingest"
done

cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_b() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
# metric URL NAME: the sum over NAME's series (2.42 has prometheus_tsdb_head_samples_appended_total{type="float"})
metric() { curl -sf -m 30 "$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f\n", s}'; }
wait_ready() {
	for _ in $(seq 300); do
		curl -sf -m 2 "$1/-/ready" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "not ready: $1" >&2
	return 1
}

echo "--- 3. side by side: strata scraper and prometheus scrape the same targets every ${interval}s"
printf '%-9s %-10s %14s %14s %12s %14s %12s\n' series process "samples/s/core" "CPU cores" "head series" "RSS MiB" "B/series"
for size in $sizes; do
	targets=$((size / 10000))
	rm -f "$work/port"
	"$bench" serve --targets "$targets" --series 10000 "$work/port" &
	pids+=("$!")
	for _ in $(seq 600); do [[ -s $work/port ]] && break; sleep 0.1; done
	port=$(cat "$work/port")
	{
		printf 'global:\n  scrape_interval: %ss\n  scrape_timeout: %ss\nscrape_configs:\n' "$interval" "$interval"
		for i in $(seq 0 $((targets - 1))); do
			printf -- "- job_name: t%s\n  metrics_path: /t/%s\n  static_configs: [{targets: ['127.0.0.1:%s']}]\n" "$i" "$i" "$port"
		done
	} >"$work/cfg.yml"
	sp=$(port)
	pp=$(port)
	rm -rf "$work/s" "$work/p"
	"$strata" scraper --config.file="$work/cfg.yml" --storage.tsdb.path="$work/s" \
		--web.listen-address="127.0.0.1:$sp" --log.level=warn >"$work/s.log" 2>&1 &
	spid=$!
	pids+=("$spid")
	prometheus --config.file="$work/cfg.yml" --storage.tsdb.path="$work/p" \
		--web.listen-address="127.0.0.1:$pp" --log.level=warn >"$work/p.log" 2>&1 &
	ppid=$!
	pids+=("$ppid")
	wait_ready "http://127.0.0.1:$sp"
	wait_ready "http://127.0.0.1:$pp"
	sleep $((2 * interval + 2))
	s_c0=$(cpu_s "$spid"); p_c0=$(cpu_s "$ppid")
	s_a0=$(metric "http://127.0.0.1:$sp" strata_tsdb_head_samples_appended_total)
	p_a0=$(metric "http://127.0.0.1:$pp" prometheus_tsdb_head_samples_appended_total)
	sleep "$measure"
	s_c1=$(cpu_s "$spid"); p_c1=$(cpu_s "$ppid")
	s_a1=$(metric "http://127.0.0.1:$sp" strata_tsdb_head_samples_appended_total)
	p_a1=$(metric "http://127.0.0.1:$pp" prometheus_tsdb_head_samples_appended_total)
	s_hs=$(metric "http://127.0.0.1:$sp" strata_tsdb_head_series)
	p_hs=$(metric "http://127.0.0.1:$pp" prometheus_tsdb_head_series)
	s_rss=$(rss_b "$spid"); p_rss=$(rss_b "$ppid")
	for who in prometheus strata; do
		if [[ $who == strata ]]; then c0=$s_c0 c1=$s_c1 a0=$s_a0 a1=$s_a1 hs=$s_hs rss=$s_rss
		else c0=$p_c0 c1=$p_c1 a0=$p_a0 a1=$p_a1 hs=$p_hs rss=$p_rss; fi
		awk -v size="$size" -v who="$who" -v c0="$c0" -v c1="$c1" -v a0="$a0" -v a1="$a1" -v hs="$hs" -v rss="$rss" -v m="$measure" \
			'BEGIN {cpu = c1 - c0; printf "%-9s %-10s %14.0f %14.2f %12d %14.0f %12.0f\n", size, who, (a1 - a0) / (cpu > 0 ? cpu : 1), cpu / m, hs, rss / 1048576, rss / (hs > 0 ? hs : 1)}'
	done
	kill "$spid" "$ppid" "${pids[0]}" 2>/dev/null || true
	wait "$spid" "$ppid" "${pids[0]}" 2>/dev/null || true
	pids=()
	grep -E 'level=(error|warn)' "$work/s.log" | grep -v 'termination request' | head -n 3 | sed 's/^/   strata log: /' || true
done
