#!/usr/bin/env bash
# bench/compact: compaction and downsampling throughput and peak RSS, side by
# side with real Prometheus 2.42 compacting the same blocks, in one run:
#   data         BENCH_BLOCKS (12) consecutive 2h blocks of BENCH_SERIES
#                (100000) series at 15 s (counters, gauges, constants; see
#                compact_bench.c), written by bench/common's generator; one
#                is checked with promtool tsdb analyze
#   strata       st_compact_merge of all blocks into one, in one call, in a
#                fresh process: wall and CPU time, samples/s, peak RSS
#                (VmHWM, mapped source pages included) and RSS with the
#                sources open; the output is checked with promtool too.
#                st_downsample_block of a BENCH_DS_HOURS (48) block of
#                BENCH_DS_SERIES (20000) series (2h blocks merged into one)
#                to 5m: samples/s, peak RSS
#   prometheus   the same blocks (hard links) as its data dir, default block
#                ranges (2h, 6h, 18h, ...; retention 100y): it compacts on
#                its own, the first time a minute after start; prom_watch.py
#                sums the durations of its "compact blocks" log lines, counts
#                the samples of their sources, polls its RSS and CPU, and
#                waits (at most BENCH_PROM_WAIT_S, 300) for the number of
#                compactions its planner yields for these blocks
# Usage: run.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/bench/compact_bench
[[ -x $bench ]] || { echo "FATAL: $bench not built" >&2; exit 1; }
for p in prometheus promtool python3; do command -v "$p" >/dev/null || { echo "FATAL: $p not found" >&2; exit 1; }; done
series=${BENCH_SERIES:-100000}
nblocks=${BENCH_BLOCKS:-12}
ds_series=${BENCH_DS_SERIES:-20000}
ds_hours=${BENCH_DS_HOURS:-48}
wait_s=${BENCH_PROM_WAIT_S:-300}
(( ds_hours >= 40 && ds_hours % 2 == 0 )) || { echo "FATAL: BENCH_DS_HOURS must be even and >= 40" >&2; exit 1; }
source "$here/../common/lib.sh"
bench_init compact_bench
kv() { sed -n "s/.*\<$2=\([^ ]*\).*/\1/p" <<<"$1"; } # LINE KEY -> value
now() { date +%s.%N; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.1f", (s > 0 ? n / s / 1e6 : 0)}'; } # samples, s -> M/s
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
analyze_series() { promtool tsdb analyze "$1" "$2" 2>&1 | awk '/^Series:/ {print $2}'; }

# Aligned to 54h (Prometheus's fourth range) so its ranges split the blocks
# the same way on every run; in the past, so nothing is beyond retention.
range54=$((54 * 3600 * 1000))
start=$(( ($(date +%s) * 1000 - nblocks * 7200000) / range54 * range54 ))

# ---- data ----
t0=$(now)
samples=$("$bench" gen "$work/blocks" "$series" "$nblocks" "$start")
gen_s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}')
blocks_bytes=$(du -sb "$work/blocks" | cut -f1)
first=$(ls "$work/blocks" | head -1)
got=$(analyze_series "$work/blocks" "$first")
[[ $got == "$series" ]] || { echo "FATAL: promtool tsdb analyze of $first: series '$got', want $series" >&2; exit 1; }

# ---- strata: merge ----
m=$("$bench" merge "$work/merged" "$work/blocks"/*)
m_out=$(kv "$m" out)
[[ $(kv "$m" samples_out) == "$samples" && $(kv "$m" samples_in) == "$samples" ]] ||
	{ echo "FATAL: merge moved $(kv "$m" samples_in) -> $(kv "$m" samples_out) samples, generated $samples" >&2; exit 1; }
got=$(analyze_series "$work/merged" "$(basename "$m_out")")
[[ $got == "$series" ]] || { echo "FATAL: promtool tsdb analyze of the merged block: series '$got', want $series" >&2; exit 1; }
rm -rf "$work/merged"

# ---- strata: downsample ----
"$bench" gen "$work/ds-src" "$ds_series" $((ds_hours / 2)) "$start" >/dev/null
d48=$("$bench" merge "$work/ds-48h" "$work/ds-src"/*)
rm -rf "$work/ds-src"
d=$("$bench" downsample "$work/ds-5m" "$(kv "$d48" out)")
rm -rf "$work/ds-48h" "$work/ds-5m"

# ---- prometheus ----
mkdir -p "$work/prom"
cp -al "$work/blocks"/* "$work/prom/"
expected=$(python3 "$here/prom_watch.py" plan "$work/prom")
printf 'global:\n  scrape_interval: 1m\n' >"$work/prom.yml"
prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/prom" --storage.tsdb.retention.time=100y \
	--web.listen-address=127.0.0.1:$(port) --log.level=info 2>"$work/prom.log" &
ppid=$!
pids+=("$ppid")
p=$(python3 "$here/prom_watch.py" watch "$ppid" "$work/prom.log" "$work/prom" "$expected" $((wait_s + 75)))
kill "$ppid" 2>/dev/null || true
wait "$ppid" 2>/dev/null || true
ppid=
p_done=$(kv "$p" done)

# ---- report ----
m_s=$(kv "$m" wall_s)
p_s=$(kv "$p" duration_s)
p_samples=$(kv "$p" samples)
m_rate=$(rate "$samples" "$m_s")
p_rate=$(rate "$p_samples" "$p_s")
echo "data: $nblocks x 2h blocks x $series series, 15 s: $samples samples, $(mib $((blocks_bytes / 1024))) MiB" \
	"($(awk -v b="$blocks_bytes" -v n="$samples" 'BEGIN {printf "%.2f", b / n}') bytes/sample); generated in ${gen_s} s"
echo "strata: one st_compact_merge call, $nblocks -> 1 block; prometheus: $(kv "$p" compactions) compactions" \
	"(planned $expected) over $p_samples samples$([[ $p_done == 1 ]] || echo ", DID NOT FINISH within ${wait_s}s")"
printf '%-44s %14s %14s %8s\n' "" "strata" "prometheus" "ratio"
printf '%-44s %14s %14s %8s\n' "compaction time, s (sum of calls)" "$m_s" "$p_s" "$(ratio "$m_s" "$p_s")"
printf '%-44s %14s %14s %8s\n' "compaction, M samples/s" "$m_rate" "$p_rate" "$(ratio "$m_rate" "$p_rate")"
printf '%-44s %14s %14s %8s\n' "compaction, M samples per CPU s" "$(rate "$samples" "$(kv "$m" cpu_s)")" \
	"$(rate "$p_samples" "$(kv "$p" cpu_s)")" \
	"$(ratio "$(rate "$samples" "$(kv "$m" cpu_s)")" "$(rate "$p_samples" "$(kv "$p" cpu_s)")")"
printf '%-44s %14s %14s\n' "RSS before compacting, MiB" "$(mib "$(kv "$m" rss_open_kib)")" \
	"$(mib "$(kv "$p" rss_before_kib)")"
printf '%-44s %14s %14s %8s\n' "peak RSS while compacting, MiB" "$(mib "$(kv "$m" hwm_kib)")" \
	"$(mib "$(kv "$p" rss_peak_kib)")" "$(ratio "$(kv "$m" hwm_kib)" "$(kv "$p" rss_peak_kib)")"
printf '%-44s %14s %14s\n' "  peak minus before, MiB" \
	"$(mib $(($(kv "$m" hwm_kib) - $(kv "$m" rss_open_kib))))" \
	"$(mib $(($(kv "$p" rss_peak_kib) - $(kv "$p" rss_before_kib))))"
printf '%-44s %14s %14s\n' "VmHWM of the process, MiB" "$(mib "$(kv "$m" hwm_kib)")" "$(mib "$(kv "$p" hwm_kib)")"
printf '%-44s %14s\n' "downsample ${ds_hours}h x $ds_series series -> 5m, s" "$(kv "$d" wall_s)"
printf '%-44s %14s\n' "  M raw samples/s" "$(rate "$(kv "$d" samples_in)" "$(kv "$d" wall_s)")"
printf '%-44s %14s\n' "  peak RSS (VmHWM), MiB" "$(mib "$(kv "$d" hwm_kib)")"
ok() { [[ $1 == 1 ]] && echo met || echo "NOT met"; }
echo "targets: peak RSS <= 256 MiB: merge $(ok "$(awk -v k="$(kv "$m" hwm_kib)" 'BEGIN {print (k <= 262144)}')")," \
	"downsample $(ok "$(awk -v k="$(kv "$d" hwm_kib)" 'BEGIN {print (k <= 262144)}')");" \
	">= 3x Prometheus's samples/s: $(ok "$(awk -v a="$m_rate" -v b="$p_rate" 'BEGIN {print (b > 0 && a >= 3 * b)}')")"
