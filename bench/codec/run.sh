#!/usr/bin/env bash
# bench/codec: XOR codec speed and size, Strata beside Prometheus on the
# same generated data, in one run.
#   Strata: decode/encode ns/sample over every chunk (codec_bench).
#   Prometheus: bytes/sample of promtool's own backfill of the same input,
#   and end-to-end `promtool tsdb dump` vs `strata tools tsdb dump` time
#   (both decode every chunk and print every sample), median of 5.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gen=$build/tests/integration/gen_openmetrics
series=${BENCH_SERIES:-2000}
hours=${BENCH_HOURS:-6}

"$gen" --series "$series" --hours "$hours" > "$work/in.om"
promtool tsdb create-blocks-from openmetrics "$work/in.om" "$work/prom" >/dev/null
"$build/cmd/strata" tools tsdb create-blocks-from openmetrics --quiet "$work/in.om" "$work/strata"
mkdir -p "$work/prom/wal" "$work/strata/wal"

echo "input: $series series, ${hours}h at 15s ($(du -h "$work/in.om" | cut -f1) OpenMetrics)"
echo "--- Strata codec on Strata's blocks"
"$build/bench/codec_bench" "$work/strata"
echo "--- Strata codec on promtool's blocks (re-encoding must reproduce Prometheus's bytes)"
"$build/bench/codec_bench" "$work/prom"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
time_cmd() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN {print e - s}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
cp -r "$work/prom" "$work/prom-scratch"   # promtool dump writes chunks_head/
p=$(for i in 1 2 3 4 5; do time_cmd promtool tsdb dump "$work/prom-scratch"; done | median)
s=$(for i in 1 2 3 4 5; do time_cmd "$build/cmd/strata" tools tsdb dump "$work/prom"; done | median)
samples=$(grep -vc '^#' "$work/in.om" || true)
pb=$(du -cb "$work"/prom/*/chunks/* | tail -1 | cut -f1)
sb=$(du -cb "$work"/strata/*/chunks/* | tail -1 | cut -f1)
pi=$(du -cb "$work"/prom/*/index | tail -1 | cut -f1)
si=$(du -cb "$work"/strata/*/index | tail -1 | cut -f1)
echo "--- side by side (same input, $samples samples)"
printf '%-34s %14s %14s %8s\n' "" "Prometheus" "Strata" "ratio"
printf '%-34s %14.3f %14.3f %8.2f\n' "chunk bytes/sample" "$(div "$pb" "$samples")" "$(div "$sb" "$samples")" "$(div "$sb" "$pb")"
printf '%-34s %14.3f %14.3f %8.2f\n' "index bytes/sample" "$(div "$pi" "$samples")" "$(div "$si" "$samples")" "$(div "$si" "$pi")"
printf '%-34s %14.3f %14.3f %8.2f\n' "tsdb dump wall seconds (median 5)" "$p" "$s" "$(div "$s" "$p")"
