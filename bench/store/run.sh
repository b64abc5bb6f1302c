#!/usr/bin/env bash
# bench/store: strata store over a FILESYSTEM bucket of 30 days of 2h blocks
# (360 blocks by default), side by side with real Prometheus 2.42 opening
# the same blocks from its data directory, in one run:
#   start-up     strata store: process start -> every block loaded
#                (thanos_bucket_store_blocks_loaded); Prometheus: -> /-/ready
#   memory       RSS once loaded; per block and per million series (series
#                counted once per block, as the store holds them) after
#                subtracting each program's RSS over an empty bucket / dir
#   local disk   index-headers vs the blocks' size (Thanos/Mimir: ~0.1 %)
#   Series       a dashboard selector (one job's request counter) over the
#                30 days: median latency of RUNS calls, chunk bytes received,
#                and for the store the bytes fetched from the bucket per
#                call; Prometheus answers the same selection as a remote
#                read (streamed XOR chunks)
# Usage: run.sh BUILD_DIR   (BENCH_SERIES, BENCH_DAYS, BENCH_STEP_S, BENCH_RUNS)
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
bench=$build/bench/store_bench
strata=$build/cmd/strata
for b in "$bench" "$strata"; do [[ -x $b ]] || { echo "FATAL: $b not built" >&2; exit 1; }; done
series=${BENCH_SERIES:-1200}
days=${BENCH_DAYS:-30}
step_s=${BENCH_STEP_S:-120}
runs=${BENCH_RUNS:-7}
source "$(dirname "$0")/../common/lib.sh"
bench_init store_bench
now() { date +%s.%N; }
# bytes a query fetched from the bucket: postings, series and chunks
fetched() {
	curl -s "$1/metrics" | awk '/^strata_store_bucket_fetched_bytes_total\{/ && !/index_header/ {s += $2} END {printf "%.0f", s}'
}

"$bench" gen "$work/blocks" "$series" "$days" "$step_s"
nblocks=$(find "$work/blocks" -mindepth 1 -maxdepth 1 -type d | wc -l)
blocks_bytes=$(du -sb "$work/blocks" | cut -f1)
samples=$((series * days * 86400 / step_s))
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$work/bucket" >"$work/obj.yml"
"$strata" tools bucket upload-blocks --objstore.config-file="$work/obj.yml" --label=region=eu \
	--label=replica=a "$work/blocks"/* >/dev/null

# Each program's RSS with no blocks at all, to count what blocks cost.
baseline_rss() { # CMD... -> KiB after 2 s
	"$@" 2>/dev/null &
	local pid=$!
	sleep 2
	status_kb "$pid" VmRSS
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$work/empty-bucket" >"$work/empty.yml"
mkdir -p "$work/empty-bucket" "$work/empty-prom"
s_base=$(baseline_rss "$strata" store --objstore.config-file="$work/empty.yml" --data-dir="$work/empty-data" \
	--grpc-address=127.0.0.1:$(port) --http-address=127.0.0.1:$(port))
printf 'global:\n  scrape_interval: 1m\n' >"$work/prom.yml"
p_base=$(baseline_rss prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/empty-prom" \
	--web.listen-address=127.0.0.1:$(port))

# ---- strata store ----
gport=$(port)
hport=$(port)
surl=http://127.0.0.1:$hport
t0=$(now)
"$strata" store --objstore.config-file="$work/obj.yml" --data-dir="$work/store-data" \
	--grpc-address=127.0.0.1:$gport --http-address=127.0.0.1:$hport --log.level=warn 2>"$work/store.log" &
spid=$!
pids+=("$spid")
loaded=0
for _ in $(seq 1 1200); do
	loaded=$(metric "$surl" thanos_bucket_store_blocks_loaded || true)
	[[ ${loaded:-0} == "$nblocks" ]] && break
	sleep 0.05
done
s_start=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
[[ ${loaded:-0} == "$nblocks" ]] || { echo "FATAL: store loaded ${loaded:-0}/$nblocks blocks" >&2; cat "$work/store.log" >&2; exit 1; }
sleep 1
s_rss=$(status_kb "$spid" VmRSS)
hdr_bytes=$(du -sb "$work/store-data" | cut -f1)

# ---- Prometheus over the same blocks ----
mkdir -p "$work/prom"
cp -r "$work/blocks"/* "$work/prom/"
pport=$(port)
purl=http://127.0.0.1:$pport
t0=$(now)
prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/prom" --web.listen-address=127.0.0.1:$pport \
	--storage.tsdb.retention.time=100y --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h \
	--log.level=warn 2>"$work/prom.log" &
ppid=$!
pids+=("$ppid")
for _ in $(seq 1 1200); do curl -sf "$purl/-/ready" >/dev/null && break; sleep 0.05; done
p_start=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
sleep 1
p_rss=$(status_kb "$ppid" VmRSS)

# ---- the dashboard query ----
end_ms=$(($(date +%s) * 1000))
start_ms=$((end_ms - days * 86400 * 1000))
sel='http_requests_total{job="api-3"}'
fetched0=$(fetched "$surl")
read -r s_ms s_series s_chunks s_bytes < <("$bench" series "127.0.0.1:$gport" "$sel" "$start_ms" "$end_ms" "$runs")
fetched1=$(fetched "$surl")
read -r p_ms p_series p_chunks p_bytes < <("$bench" rread "$purl" "$sel" "$start_ms" "$end_ms" "$runs")
s_rss2=$(status_kb "$spid" VmRSS)

idx_series=$((series * nblocks))
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
echo "data: $nblocks blocks x $series series, step ${step_s}s, $days days: $samples samples, blocks $(mb "$blocks_bytes") MiB"
printf '%-40s %14s %14s %8s\n' "" "strata store" "prometheus" "ratio"
printf '%-40s %14s %14s %8s\n' "start-up to all blocks served (s)" "$s_start" "$p_start" \
	"$(awk -v a="$s_start" -v b="$p_start" 'BEGIN {printf "%.2f", a / b}')"
printf '%-40s %14s %14s %8s\n' "RSS once loaded (MiB)" "$(mb $((s_rss * 1024)))" "$(mb $((p_rss * 1024)))" \
	"$(awk -v a="$s_rss" -v b="$p_rss" 'BEGIN {printf "%.2f", a / b}')"
printf '%-40s %14s %14s\n' "RSS with no blocks (MiB)" "$(mb $((s_base * 1024)))" "$(mb $((p_base * 1024)))"
printf '%-40s %14s %14s %8s\n' "RSS per block above that (KiB)" "$(((s_rss - s_base) / nblocks))" \
	"$(((p_rss - p_base) / nblocks))" \
	"$(awk -v a="$((s_rss - s_base))" -v b="$((p_rss - p_base))" 'BEGIN {printf "%.2f", a / b}')"
printf '%-40s %14s %14s\n' "  per million block-series (MiB)" \
	"$(awk -v r="$((s_rss - s_base))" -v n="$idx_series" 'BEGIN {printf "%.0f", r / 1024 / n * 1e6}')" \
	"$(awk -v r="$((p_rss - p_base))" -v n="$idx_series" 'BEGIN {printf "%.0f", r / 1024 / n * 1e6}')"
printf '%-40s %14s\n' "RSS after the queries (MiB)" "$(mb $((s_rss2 * 1024)))"
printf '%-40s %14s %14s\n' "index-headers on disk (MiB, % of blocks)" \
	"$(mb "$hdr_bytes") ($(awk -v a="$hdr_bytes" -v b="$blocks_bytes" 'BEGIN {printf "%.2f%%", 100 * a / b}'))" "-"
printf '%-40s %14s %14s %8s\n' "Series $sel ${days}d, median ms" "$s_ms" "$p_ms" \
	"$(awk -v a="$s_ms" -v b="$p_ms" 'BEGIN {printf "%.2f", a / b}')"
printf '%-40s %14s %14s\n' "  series / chunks returned" "$s_series/$s_chunks" "$p_series/$p_chunks"
printf '%-40s %14s %14s\n' "  chunk bytes returned (MiB)" "$(mb "$s_bytes")" "$(mb "$p_bytes")"
printf '%-40s %14s\n' "  fetched from the bucket, all calls (KiB)" \
	"$(awk -v a="$fetched0" -v b="$fetched1" 'BEGIN {printf "%.1f", (b - a) / 1024}')"
