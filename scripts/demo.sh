#!/usr/bin/env bash
# `make run` for now: what exists end to end is the TSDB block format. This
# generates 6 hours of metrics, writes them as Prometheus blocks with Strata,
# has real promtool check them, and shows Strata's own analysis.
set -euo pipefail
build=${1:?usage: demo.sh BUILD_DIR}
strata=$build/cmd/strata
gen=$build/tests/integration/gen_openmetrics
data=${STRATA_DEMO_DIR:-$PWD/build/demo}

rm -rf "$data"
mkdir -p "$data"
echo "== generating 6h of OpenMetrics samples (1000 series) into $data/input.om"
"$gen" > "$data/input.om"
echo "== strata tools tsdb create-blocks-from openmetrics"
"$strata" tools tsdb create-blocks-from openmetrics "$data/input.om" "$data/tsdb"
echo "== strata tools tsdb list"
"$strata" tools tsdb list "$data/tsdb"
echo "== promtool tsdb list (the real Prometheus tool reading Strata's blocks)"
promtool tsdb list "$data/tsdb"
echo "== strata tools tsdb analyze"
"$strata" tools tsdb analyze --limit 5 "$data/tsdb"
echo "== first samples: strata tools tsdb dump --match 'strata_gen_requests_total'"
"$strata" tools tsdb dump --match 'strata_gen_requests_total' "$data/tsdb" | head -5 || true
echo
echo "Blocks are in $data/tsdb: point Prometheus at them with"
echo "  prometheus --storage.tsdb.path=$data/tsdb --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:9090"
