#!/usr/bin/env bash
# `make run`: the local stack that exists so far, on loopback, with the
# embedded FILESYSTEM bucket (no server needed):
#   strata scraper  scrapes itself every 5 s into build/demo/scraper
#                   (2-minute blocks so the bucket fills within minutes)
#   strata sidecar  ships each finished block to build/demo/bucket
# It prints the URLs, lists the bucket every minute, and stops both
# processes on Ctrl-C. STRATA_DEMO_DIR moves the data elsewhere.
set -euo pipefail
build=${1:?usage: demo.sh BUILD_DIR}
strata=$build/cmd/strata
demo=${STRATA_DEMO_DIR:-$PWD/build/demo}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
scraper_port=$(free_port)
sidecar_port=$(free_port)
sidecar_grpc_port=$(free_port)

rm -rf "$demo"
mkdir -p "$demo/bucket"
cat >"$demo/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  external_labels:
    cluster: demo
    replica: r1
scrape_configs:
  - job_name: strata-scraper
    static_configs:
      - targets: ["127.0.0.1:$scraper_port"]
  - job_name: strata-sidecar
    static_configs:
      - targets: ["127.0.0.1:$sidecar_port"]
YAML
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$demo/bucket" >"$demo/objstore.yml"

pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping (pids ${pids[*]})"
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

"$strata" scraper --config.file="$demo/prometheus.yml" --storage.tsdb.path="$demo/scraper" \
	--web.listen-address="127.0.0.1:$scraper_port" --storage.tsdb.block-duration=2m \
	--web.enable-lifecycle >"$demo/scraper.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf -m 1 "http://127.0.0.1:$scraper_port/-/ready" >/dev/null && break; sleep 0.2; done
"$strata" sidecar --tsdb.path="$demo/scraper" --prometheus.url="http://127.0.0.1:$scraper_port" \
	--objstore.config-file="$demo/objstore.yml" --http-address="127.0.0.1:$sidecar_port" \
	--grpc-address="127.0.0.1:$sidecar_grpc_port" \
	>"$demo/sidecar.log" 2>&1 &
pids+=($!)

cat <<TXT

Strata is running on loopback (data in $demo):
  scraper targets   http://127.0.0.1:$scraper_port/api/v1/targets
  scraper metrics   http://127.0.0.1:$scraper_port/metrics
  sidecar metrics   http://127.0.0.1:$sidecar_port/metrics
  sidecar StoreAPI  127.0.0.1:$sidecar_grpc_port  (strata tools store series --store=127.0.0.1:$sidecar_grpc_port)
  bucket            $demo/bucket  (strata tools bucket ls --objstore.config-file=$demo/objstore.yml)
  logs              $demo/scraper.log, $demo/sidecar.log
The first block is cut after about 3 minutes and shipped within seconds.
Press Ctrl-C to stop.

TXT
while sleep 60; do
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a process exited; see the logs in $demo"; exit 1; }; done
	echo "--- $(date +%T) bucket:"
	"$strata" tools bucket ls --objstore.config-file="$demo/objstore.yml" || true
done
