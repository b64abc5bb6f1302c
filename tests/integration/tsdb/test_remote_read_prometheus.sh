#!/usr/bin/env bash
# A real Prometheus 2.42 reads st_db through remote read: tsdb_driver serves
# POST /api/v1/read with st_remoteread_handle (libmicrohttpd) over a data
# directory; Prometheus has remote_read pointed at it (read_recent: true)
# and an empty TSDB of its own, so every query answer comes from Strata.
source "$(dirname "$0")/../lib.sh"
: "${DRIVER:?DRIVER must name tsdb_driver}"

SERIES=20
ROUNDS=100
STEP=15000
now_ms=$(($(date +%s) * 1000))
START=$((now_ms - ROUNDS * STEP - 60000))
data=$IT_WORK/data

step "write $SERIES series x $ROUNDS samples ending a minute ago"
run_ok append 60 "$DRIVER" append "$data" --series=$SERIES --rounds=$ROUNDS --step=$STEP --start=$START ||
	die "append failed"

step "serve remote read"
rr_port=$(free_port)
"$DRIVER" serve "$data" --listen="127.0.0.1:$rr_port" >"$IT_WORK/serve.out" 2>"$IT_WORK/serve.err" &
IT_PIDS+=("$!")
for _ in $(seq 1 50); do grep -q listening "$IT_WORK/serve.out" && break; sleep 0.1; done
grep -q listening "$IT_WORK/serve.out" || die "tsdb_driver serve did not start: $(cat "$IT_WORK/serve.err")"

step "start prometheus with remote_read"
PROM_PORT=$(free_port)
PROM_URL=http://127.0.0.1:$PROM_PORT
cat >"$IT_WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1m
remote_read:
  - url: http://127.0.0.1:$rr_port/api/v1/read
    read_recent: true
YML
"$PROMETHEUS" --config.file="$IT_WORK/prometheus.yml" --storage.tsdb.path="$IT_WORK/promdata" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$IT_WORK/prometheus.log" 2>&1 &
IT_PIDS+=("$!")
for _ in $(seq 1 300); do curl -sf -m 2 "$PROM_URL/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf -m 2 "$PROM_URL/-/ready" >/dev/null || die "prometheus not ready: $(tail -n 20 "$IT_WORK/prometheus.log")"

last_round=$((ROUNDS - 1))
t_last_s=$(((START + last_round * STEP) / 1000))

step "instant queries"
q() { curl -sf -m 20 -G "$PROM_URL/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$2"; }
for s in 0 7 19; do
	got=$(q "drv{series=\"$s\"}" "$t_last_s" | jq -r '.data.result[0].value[1]')
	want=$((s * 1000 + last_round))
	[[ $got == "$want" ]] && note "OK drv{series=\"$s\"} = $got" || fail_check "drv{series=\"$s\"}: got '$got', want $want"
done
got=$(q 'count(drv{job="driver"})' "$t_last_s" | jq -r '.data.result[0].value[1]')
[[ $got == "$SERIES" ]] && note "OK count = $got" || fail_check "count(drv): got '$got', want $SERIES"
got=$(q 'sum(drv)' "$((t_last_s - 10 * STEP / 1000))" | jq -r '.data.result[0].value[1]')
want=$(awk -v n=$SERIES -v r=$((last_round - 10)) 'BEGIN {s = 0; for (i = 0; i < n; i++) s += i * 1000 + r; print s}')
[[ $got == "$want" ]] && note "OK sum(drv) ten steps earlier = $got" || fail_check "sum(drv): got '$got', want $want"

step "range query returns every sample of a series"
resp=$(curl -sf -m 20 -G "$PROM_URL/api/v1/query_range" --data-urlencode 'query=drv{series="3"}' \
	--data-urlencode "start=$((START / 1000))" --data-urlencode "end=$t_last_s" --data-urlencode "step=$((STEP / 1000))")
n=$(jq -r '.data.result[0].values | length' <<<"$resp")
first=$(jq -r '.data.result[0].values[0][1]' <<<"$resp")
last=$(jq -r '.data.result[0].values[-1][1]' <<<"$resp")
[[ $n == "$ROUNDS" && $first == 3000 && $last == $((3000 + last_round)) ]] &&
	note "OK $n points from $first to $last" || fail_check "range query: $n points, first $first, last $last"

grep -q 'POST /api/v1/read -> 200' "$IT_WORK/serve.err" || fail_check "no successful remote read request was served"
note "remote read requests served: $(grep -c 'POST /api/v1/read' "$IT_WORK/serve.err")"
if grep -qi 'remote.*err' "$IT_WORK/prometheus.log"; then fail_check "prometheus logged: $(grep -i 'remote.*err' "$IT_WORK/prometheus.log" | head -1)"; fi
finish
