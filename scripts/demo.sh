#!/usr/bin/env bash
# `make run`: the whole Strata stack on loopback, with the embedded
# FILESYSTEM bucket (no server needed):
#
#   region eu                              region us
#   demo target (demo_target.py)           demo target
#   scraper eu/a  scraper eu/b  (HA pair)  scraper us/a  scraper us/b
#   sidecar eu/a  sidecar eu/b             sidecar us/a  sidecar us/b
#            \___________ one bucket ____________/
#                  strata store (the bucket's blocks)
#   strata query --store=<4 sidecars> --store=<store> --query.replica-label=replica
#
# Each scraper has the external labels region=<eu|us>, replica=<a|b> and
# scrapes itself, its sidecar and its region's demo target (both replicas
# scrape the same target, so the querier's dedup has something to do).
# Short blocks (2m) reach the bucket within minutes; the store syncs often.
#
# Usage: demo.sh BUILD_DIR          (runs BUILD_DIR/cmd/strata)
#        STRATA_BIN=PATH demo.sh    (runs that binary)
# Environment:
#   STRATA_DEMO_DIR              data and logs (default build/demo; cleared at
#                                start if it holds an earlier demo or nothing)
#   STRATA_DEMO_SCRAPE_INTERVAL  scrape interval (default 5s)
#   STRATA_DEMO_BLOCK_DURATION   scraper block duration (default 2m)
#   STRATA_DEMO_SYNC_INTERVAL    sidecar upload and store sync interval (default 10s)
#   STRATA_DEMO_STATUS_INTERVAL  seconds between status lines (default 60)
# The child PIDs go to $STRATA_DEMO_DIR/pids ("PID NAME" lines) as they
# start. SIGINT (Ctrl-C) or SIGTERM stops them all (exit 0); if one dies,
# its log tail is shown, the rest are stopped and the exit code is 1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [[ -n ${STRATA_BIN:-} ]]; then
	strata=$STRATA_BIN
else
	strata=${1:?usage: demo.sh BUILD_DIR (or set STRATA_BIN)}/cmd/strata
fi
[[ -x $strata ]] || { echo "demo.sh: $strata is not an executable (build first, or set STRATA_BIN)" >&2; exit 2; }
demo=${STRATA_DEMO_DIR:-$PWD/build/demo}
scrape_interval=${STRATA_DEMO_SCRAPE_INTERVAL:-5s}
block_duration=${STRATA_DEMO_BLOCK_DURATION:-2m}
sync_interval=${STRATA_DEMO_SYNC_INTERVAL:-10s}
status_interval=${STRATA_DEMO_STATUS_INTERVAL:-60}
for tool in python3 curl jq; do
	command -v "$tool" >/dev/null || { echo "demo.sh: $tool is not installed" >&2; exit 2; }
done

# A STRATA_DEMO_DIR is cleared only if an earlier demo made it (marker
# file) or it is empty: pointing it at real data must not lose that data.
if [[ -n ${STRATA_DEMO_DIR:-} && -e $demo && ! -e $demo/.strata-demo && -n $(ls -A "$demo" 2>/dev/null) ]]; then
	echo "demo.sh: $demo exists and is not a demo directory; choose another STRATA_DEMO_DIR" >&2
	exit 2
fi
rm -rf "$demo"
mkdir -p "$demo/bucket" "$demo/logs"
demo=$(cd "$demo" && pwd)
touch "$demo/.strata-demo"
: >"$demo/pids"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

names=() pids=() sleeper=
stopped=false

# alive PID: running (a zombie not yet reaped by bash counts as gone)
alive() {
	local stat
	{ read -r stat </proc/"$1"/stat; } 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

# Stop every child by PID: SIGTERM, up to 15 s, then SIGKILL; reap all.
stop_all() {
	$stopped && return 0
	stopped=true
	[[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null
	((${#pids[@]})) || return 0
	local i p deadline=$((SECONDS + 15))
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for i in "${!pids[@]}"; do
		p=${pids[$i]}
		while alive "$p" && ((SECONDS < deadline)); do sleep 0.1; done
		if alive "$p"; then
			echo "${names[$i]} (pid $p) ignored SIGTERM for 15 s; killing it"
			kill -KILL "$p" 2>/dev/null || true
		fi
		wait "$p" 2>/dev/null || true
	done
	echo "stopped ${#pids[@]} processes"
}
on_signal() {
	trap - INT TERM
	echo
	echo "stopping (pids ${pids[*]})"
	stop_all
	exit 0
}
trap on_signal INT TERM
trap stop_all EXIT

# start NAME CMD...: run CMD in the background, output to logs/NAME.log
start() {
	local name=$1
	shift
	"$@" >"$demo/logs/$name.log" 2>&1 &
	pids+=($!)
	names+=("$name")
	echo "$! $name" >>"$demo/pids"
}

# died INDEX: report the child that exited, with its log tail, and fail
died() {
	local i=$1 rc=0
	wait "${pids[$i]}" 2>/dev/null || rc=$?
	echo
	echo "demo.sh: ${names[$i]} (pid ${pids[$i]}) exited with code $rc; last lines of $demo/logs/${names[$i]}.log:"
	tail -n 20 "$demo/logs/${names[$i]}.log" | sed 's/^/    /'
	unset "pids[$i]" "names[$i]"
	pids=("${pids[@]}") names=("${names[@]}")
	echo "stopping the others"
	stop_all
	exit 1
}

check_children() {
	local i
	for i in "${!pids[@]}"; do alive "${pids[$i]}" || died "$i"; done
}

# wait_ready NAME URL: up to 60 s for URL to answer 2xx while NAME runs
wait_ready() {
	local name=$1 url=$2 deadline=$((SECONDS + 60)) i
	for i in "${!names[@]}"; do [[ ${names[$i]} == "$name" ]] && break; done
	while ! curl -sf -m 2 -o /dev/null "$url"; do
		alive "${pids[$i]}" || died "$i"
		if ((SECONDS >= deadline)); then
			echo "demo.sh: $name not ready at $url within 60 s; see $demo/logs/$name.log" >&2
			exit 1
		fi
		sleep 0.2
	done
}

regions=(eu us)
replicas=(a b)
declare -A port
for r in "${regions[@]}"; do
	port[target-$r]=$(free_port)
	for x in "${replicas[@]}"; do
		port[scraper-$r-$x]=$(free_port)
		port[sidecar-$r-$x]=$(free_port)
		port[sidecar-$r-$x-grpc]=$(free_port)
	done
done
port[store]=$(free_port)
port[store-grpc]=$(free_port)
port[query]=$(free_port)
port[query-grpc]=$(free_port)
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$demo/bucket" >"$demo/objstore.yml"

seed=1
for r in "${regions[@]}"; do
	start "target-$r" python3 "$here/demo_target.py" --listen "127.0.0.1:${port[target-$r]}" --seed "$seed"
	seed=$((seed + 1))
done
for r in "${regions[@]}"; do
	for x in "${replicas[@]}"; do
		n=$r-$x
		cat >"$demo/prometheus-$n.yml" <<-YAML
			global:
			  scrape_interval: $scrape_interval
			  scrape_timeout: $scrape_interval
			  external_labels:
			    region: $r
			    replica: $x
			scrape_configs:
			  - job_name: strata-scraper
			    static_configs:
			      - targets: ["127.0.0.1:${port[scraper-$n]}"]
			  - job_name: strata-sidecar
			    static_configs:
			      - targets: ["127.0.0.1:${port[sidecar-$n]}"]
			  - job_name: demo
			    static_configs:
			      - targets: ["127.0.0.1:${port[target-$r]}"]
		YAML
		start "scraper-$n" "$strata" scraper --config.file="$demo/prometheus-$n.yml" \
			--storage.tsdb.path="$demo/scraper-$n" --web.listen-address="127.0.0.1:${port[scraper-$n]}" \
			--storage.tsdb.block-duration="$block_duration" --web.enable-lifecycle
	done
done
for r in "${regions[@]}"; do wait_ready "target-$r" "http://127.0.0.1:${port[target-$r]}/metrics"; done
stores=()
for r in "${regions[@]}"; do
	for x in "${replicas[@]}"; do
		n=$r-$x
		wait_ready "scraper-$n" "http://127.0.0.1:${port[scraper-$n]}/-/ready"
		start "sidecar-$n" "$strata" sidecar --tsdb.path="$demo/scraper-$n" \
			--prometheus.url="http://127.0.0.1:${port[scraper-$n]}" --objstore.config-file="$demo/objstore.yml" \
			--http-address="127.0.0.1:${port[sidecar-$n]}" --grpc-address="127.0.0.1:${port[sidecar-$n-grpc]}" \
			--shipper.sync-interval="$sync_interval"
		stores+=(--store="127.0.0.1:${port[sidecar-$n-grpc]}")
	done
done
start store "$strata" store --objstore.config-file="$demo/objstore.yml" --data-dir="$demo/store" \
	--grpc-address="127.0.0.1:${port[store-grpc]}" --http-address="127.0.0.1:${port[store]}" \
	--sync-block-duration="$sync_interval"
stores+=(--store="127.0.0.1:${port[store-grpc]}")
start query "$strata" query "${stores[@]}" --query.replica-label=replica \
	--http-address="127.0.0.1:${port[query]}" --grpc-address="127.0.0.1:${port[query-grpc]}"
for r in "${regions[@]}"; do
	for x in "${replicas[@]}"; do wait_ready "sidecar-$r-$x" "http://127.0.0.1:${port[sidecar-$r-$x]}/-/ready"; done
done
wait_ready store "http://127.0.0.1:${port[store]}/-/ready"
wait_ready query "http://127.0.0.1:${port[query]}/-/ready"

q=http://127.0.0.1:${port[query]}
cat <<TXT

Strata is running on loopback: 2 regions (eu, us) x 2 replicas (a, b).
Querier (Prometheus HTTP API; no web UI): $q/api/v1/
  curl -s '$q/api/v1/query' --data-urlencode 'query=sum by (region) (rate(demo_http_requests_total[1m]))' | jq
  curl -s '$q/api/v1/stores' | jq      (the 4 sidecars and the store)
  Grafana: add a Prometheus data source with URL $q
  add dedup=false to a query to see both replicas of each series
Scrapers (targets, metrics, their own /api/v1/query):
$(for r in "${regions[@]}"; do for x in "${replicas[@]}"; do
	printf '  %s/%s  http://127.0.0.1:%s/api/v1/targets\n' "$r" "$x" "${port[scraper-$r-$x]}"; done; done)
Sidecars (StoreAPI gRPC, /metrics):
$(for r in "${regions[@]}"; do for x in "${replicas[@]}"; do
	printf '  %s/%s  127.0.0.1:%s  http://127.0.0.1:%s/metrics\n' "$r" "$x" "${port[sidecar-$r-$x-grpc]}" \
		"${port[sidecar-$r-$x]}"; done; done)
Store gateway: StoreAPI 127.0.0.1:${port[store-grpc]}, http://127.0.0.1:${port[store]}/metrics
Demo targets: eu http://127.0.0.1:${port[target-eu]}/metrics, us http://127.0.0.1:${port[target-us]}/metrics
Bucket: $demo/bucket  (strata tools bucket ls --objstore.config-file=$demo/objstore.yml)
Data: $demo   Logs: $demo/logs/   PIDs: $demo/pids
Blocks are $block_duration long: the first reach the bucket about 1.5 x that after the start.
Status every ${status_interval} s. Press Ctrl-C to stop everything.

TXT

status() {
	local blocks loaded series healthy
	blocks=$(find "$demo/bucket" -mindepth 2 -maxdepth 2 -name meta.json 2>/dev/null | wc -l)
	loaded=$(curl -sf -m 5 "http://127.0.0.1:${port[store]}/metrics" |
		awk '$1 == "thanos_bucket_store_blocks_loaded" { print $2 }') || true
	series=$(curl -sf -m 10 "$q/api/v1/query" --data-urlencode 'query=count({__name__!=""})' |
		jq -r '.data.result[0].value[1] // 0') || true
	healthy=$(curl -sf -m 5 "$q/api/v1/stores" | jq '[.data[][] | select(.lastError == null)] | length') || true
	echo "$(date +%T) bucket: $blocks blocks; store serves ${loaded:-?}; querier: ${series:-?} series" \
		"(deduplicated) from ${healthy:-?} healthy stores"
}

next_status=$((SECONDS + status_interval))
while :; do
	sleep 1 &
	sleeper=$!
	wait "$sleeper" || true
	sleeper=
	check_children
	if ((SECONDS >= next_status)); then
		status
		next_status=$((SECONDS + status_interval))
	fi
done
