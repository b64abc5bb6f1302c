#!/usr/bin/env bash
# strata scraper and a real prometheus 2.42 scrape the same targets (python
# server on loopback) with the same prometheus.yml: static, file_sd (JSON
# and YAML) targets, relabel_configs (replace, hashmod, labelmap, labeldrop,
# drop), metric_relabel_configs, honor_labels, text 0.0.4, OpenMetrics and
# gzip bodies, and a mid-run change of the exposed metrics (new values, a
# vanished series -> staleness marker). Checks:
#   - /api/v1/targets: the same active targets (labels and discovered
#     labels) and the same dropped targets;
#   - /api/v1/labels and /api/v1/label/<name>/values (GET and POST, with
#     match[], start and end, bad parameters) answer byte for byte as
#     Prometheus does;
#   - /api/v1/query and /api/v1/query_range (GET and POST): the same
#     series, steps and values for queries whose answers do not depend on
#     the exact scrape times, and the same errors (status, type, text);
#   - once both have cut a block (1m blocks), `promtool tsdb dump` of both
#     data dirs gives the same series with the same values (timestamps
#     differ; scrape_duration_seconds is left out: durations differ).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_scraper.sh"

T=$IT_WORK/targets
mkdir -p "$T" "$IT_WORK/sd"

step "metric files"
write_basic() {
	local v=$1 extra=$2
	cat >"$T/basic.prom" <<EOF
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} $((v * 10))
http_requests_total{method="post",code="500",tmp="x"} $v
# TYPE temperature gauge
temperature{room="a \"quoted\" \\\\ back\\nslash"} -$v.5
temperature{room="ü€ 日本"} 1e-7
special{kind="nan"} NaN
special{kind="inf"} +Inf
special{kind="ninf"} -Inf
# TYPE latency histogram
latency_bucket{le="0.1"} $v
latency_bucket{le="1"} $((v * 2))
latency_bucket{le="+Inf"} $((v * 3))
latency_sum $v.25
latency_count $((v * 3))
# TYPE rpc summary
rpc{quantile="0.5"} 0.$v
rpc_sum 12
rpc_count 7
conflict{job="exposed",instance="inst"} $v
drop_me_total 5
$extra
EOF
}
write_basic 1 'vanishing{a="b"} 1'
cat >"$T/om.om" <<'EOF'
# TYPE build info
build_info{version="1.2.3"} 1
# TYPE jobs counter
# UNIT jobs_seconds seconds
jobs_total{type="a"} 17
jobs_created{type="a"} 1.6e9
# TYPE lag gauge
lag 0.125
# EOF
EOF
python3 - "$T/gz_big.prom" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# TYPE big_series gauge\n")
    for i in range(2000):
        f.write(f'big_series{{shard="{i % 16}",id="{i // 16}"}} {i * 0.5}\n')
EOF
start_targets "$T"

cat >"$IT_WORK/sd/one.json" <<EOF
[{"targets": ["$TGT"], "labels": {"env": "json", "__meta_zone": "z1"}}]
EOF
cat >"$IT_WORK/sd/two.yml" <<EOF
- targets: ['localhost:$TGT_PORT']
  labels:
    env: yaml
EOF

CFG=$IT_WORK/prometheus.yml
cat >"$CFG" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    replica: r1
scrape_configs:
- job_name: basic
  metrics_path: /m/basic.prom
  static_configs:
  - targets: ['$TGT']
    labels:
      team: core
      __meta_rack: r7
  relabel_configs:
  - source_labels: [__address__]
    regex: '([^:]+):.*'
    target_label: host
    replacement: 'h-\${1}'
  - source_labels: [host, team]
    modulus: 8
    target_label: shard
    action: hashmod
  - regex: '__meta_(.+)'
    replacement: 'meta_\$1'
    action: labelmap
  - regex: team
    action: labeldrop
  metric_relabel_configs:
  - source_labels: [__name__]
    regex: 'drop_me.*'
    action: drop
  - regex: tmp
    action: labeldrop
  - source_labels: [code]
    regex: '5..'
    target_label: error_class
    replacement: server
- job_name: honor
  honor_labels: true
  metrics_path: /m/basic.prom
  static_configs:
  - targets: ['$TGT']
- job_name: om
  metrics_path: /m/om.om
  static_configs:
  - targets: ['$TGT']
- job_name: big
  metrics_path: /m/gz_big.prom
  static_configs:
  - targets: ['$TGT']
- job_name: sd
  metrics_path: /m/om.om
  file_sd_configs:
  - files: ['$IT_WORK/sd/*.json', '$IT_WORK/sd/*.yml']
    refresh_interval: 10s
  relabel_configs:
  - source_labels: [__meta_filepath]
    regex: '.*/([a-z]+)\.(json|yml)'
    target_label: sdfile
- job_name: gone
  static_configs:
  - targets: ['$TGT', 'example.invalid:1']
  relabel_configs:
  - source_labels: [__address__]
    regex: '.*'
    action: drop
EOF

step "start prometheus and strata scraper on the same config"
start_prom P "$CFG" "$IT_WORK/prom" --storage.tsdb.min-block-duration=1m --storage.tsdb.max-block-duration=1m \
	--storage.tsdb.retention.time=100y
start_strata S "$CFG" "$IT_WORK/strata" --storage.tsdb.block-duration=1m --storage.tsdb.retention.time=100y

step "targets API: same labels and discovered labels"
n_active() { [[ $(curl -sf "$1/api/v1/targets" | jq '.data.activeTargets | length') == "$2" ]]; }
# basic, honor, om, big, two from file_sd; both of "gone" are dropped
wait_for 20 "strata: 6 active targets" n_active "$S_URL" 6 || fail_check "strata does not show 6 active targets"
wait_for 20 "prometheus: 6 active targets" n_active "$P_URL" 6 || fail_check "prometheus does not show 6 active targets"
norm_targets() {
	jq -S '[.data.activeTargets[] | {scrapePool, scrapeUrl, labels, discoveredLabels, scrapeInterval, scrapeTimeout}] | sort_by(.scrapePool, .scrapeUrl, .labels.instance)' "$1"
}
norm_dropped() {
	jq -S '[.data.droppedTargets[] | .discoveredLabels] | sort_by(.job, .__address__)' "$1"
}
targets_json "$P_URL" "$IT_WORK/p_targets.json" || fail_check "GET prometheus targets"
targets_json "$S_URL" "$IT_WORK/s_targets.json" || fail_check "GET strata targets"
norm_targets "$IT_WORK/p_targets.json" >"$IT_WORK/p_active"
norm_targets "$IT_WORK/s_targets.json" >"$IT_WORK/s_active"
compare_text "$IT_WORK/p_active" "$IT_WORK/s_active" "active targets (prometheus = expected)"
norm_dropped "$IT_WORK/p_targets.json" >"$IT_WORK/p_dropped"
norm_dropped "$IT_WORK/s_targets.json" >"$IT_WORK/s_dropped"
compare_text "$IT_WORK/p_dropped" "$IT_WORK/s_dropped" "dropped targets (prometheus = expected)"
jq -e '[.data.activeTargets[] | select(.health != "up")] | length == 0' "$IT_WORK/s_targets.json" >/dev/null ||
	wait_for 5 "all strata targets up" bash -c "set -o pipefail; curl -sf '$S_URL/api/v1/targets' | jq -e '[.data.activeTargets[] | select(.health != \"up\")] | length == 0'" ||
	fail_check "strata targets not all up: $(curl -sf "$S_URL/api/v1/targets" | jq -c '[.data.activeTargets[] | select(.health != "up") | {scrapePool, lastError}]')"

step "config API carries the external labels (what strata sidecar reads)"
y=$(curl -sf "$S_URL/api/v1/status/config" | jq -r .data.yaml)
grep -q '^  external_labels:$' <<<"$y" && grep -q '^    replica: r1$' <<<"$y" ||
	fail_check "strata /api/v1/status/config lacks external_labels: $(head -c 300 <<<"$y")"

step "change the exposed metrics after 15 s (values, one series vanishes)"
sleep 15
write_basic 2 ''
note "basic.prom rewritten"

step "wait until both have cut a block (1m blocks: ~90 s of data)"
both_cut() { [[ -n $(block_ulids "$IT_WORK/prom") && -n $(block_ulids "$IT_WORK/strata") ]]; }
wait_for 200 "a block in both data dirs" both_cut ||
	fail_check "blocks: prometheus $(block_ulids "$IT_WORK/prom" | wc -l), strata $(block_ulids "$IT_WORK/strata" | wc -l)"
sleep 3
note "prometheus blocks: $(block_ulids "$IT_WORK/prom" | tr '\n' ' ')"
note "strata blocks: $(block_ulids "$IT_WORK/strata" | tr '\n' ' ')"

step "label names and values: strata's answers byte-equal to Prometheus's"
# Both hold the same series (blocks + head over the whole range), so the
# answers must match byte for byte, status code included; a range before
# any data is empty in both.
label_api() { # NAME PATH [curl args...]
	local name=$1 path=$2 a b
	shift 2
	a=$(curl -s -m 10 -w ' HTTP %{http_code}' "$@" "$P_URL$path")
	b=$(curl -s -m 10 -w ' HTTP %{http_code}' "$@" "$S_URL$path")
	printf '%s\n' "$a" >"$IT_WORK/labels_$name.prom"
	printf '%s\n' "$b" >"$IT_WORK/labels_$name.strata"
	compare_text "$IT_WORK/labels_$name.prom" "$IT_WORK/labels_$name.strata" "$path $* (prometheus = expected)"
}
label_api names /api/v1/labels
label_api names_match /api/v1/labels -G --data-urlencode 'match[]={job="basic", code!="200"}'
label_api names_post /api/v1/labels --data-urlencode 'match[]=temperature' --data-urlencode 'match[]={__name__=~"lat.*"}'
label_api names_before /api/v1/labels -G --data-urlencode 'start=0' --data-urlencode 'end=1000'
label_api names_rfc3339 /api/v1/labels -G --data-urlencode 'start=2000-01-01T00:00:00Z' \
	--data-urlencode 'match[]={__name__=~"jobs.*", job!~"o."}'
label_api values_name /api/v1/label/__name__/values
label_api values_room /api/v1/label/room/values
label_api values_le /api/v1/label/le/values -G --data-urlencode 'match[]=latency_bucket{job="honor"}'
label_api values_none /api/v1/label/nosuchlabel/values
label_api values_before /api/v1/label/job/values -G --data-urlencode 'end=1'
label_api bad_name /api/v1/label/1x/values
label_api bad_time /api/v1/labels -G --data-urlencode 'start=yesterday'
label_api bad_match /api/v1/labels -G --data-urlencode 'match[]={x=""}'

step "PromQL: /api/v1/query and /api/v1/query_range agree with Prometheus"
# Both scrape every second with the same config, so at a time T a few
# seconds back both have fresh samples of every series. Scrape timestamps
# differ, so only answers that do not depend on them are compared: up,
# counts, label sets, sums of values that have been constant for over a
# minute, rate() over a window where the counters did not move (0), a
# vanished (stale) series, and errors (status, errorType, error text).
# Series, timestamps (the evaluation steps) and values (1e-9 relative) must
# match; see qcompare.py.
T=$(($(date +%s) - 5))
query_api() { # NAME PATH [curl args...]
	local name=$1 path=$2 out
	shift 2
	curl -s -m 30 -o "$IT_WORK/q_$name.prom" -w '%{http_code}' "$@" "$P_URL$path" >"$IT_WORK/q_$name.prom.code"
	curl -s -m 30 -o "$IT_WORK/q_$name.strata" -w '%{http_code}' "$@" "$S_URL$path" >"$IT_WORK/q_$name.strata.code"
	if out=$(python3 "$(dirname "$0")/qcompare.py" "$IT_WORK/q_$name.prom" "$IT_WORK/q_$name.strata" 2>&1); then
		note "query $name: $out"
	else
		fail_check "query $name ($path $*): $out"
	fi
}
qi() { # NAME QUERY [more curl args]: instant query at T, GET
	local name=$1 q=$2
	shift 2
	query_api "$name" /api/v1/query -G --data-urlencode "query=$q" --data-urlencode "time=$T" "$@"
}
qr() { # NAME QUERY: range query over the 40 s before T every 5 s, POST form
	query_api "$1" /api/v1/query_range --data-urlencode "query=$2" --data-urlencode "start=$((T - 40))" \
		--data-urlencode "end=$T" --data-urlencode "step=5s"
}
qi up up
qi count_by_job 'count by (job) (up)'
qi sum_requests 'sum by (job, method) (http_requests_total)'
qi rate_requests 'rate(http_requests_total[30s])'
qi big 'count(big_series) + sum(big_series)'
qi big_shard 'sum by (shard) (big_series)'
qi temperature 'temperature'
qi stale 'vanishing'
qi scalar 'scalar(count(up))'
qi om_jobs '{__name__=~"jobs_.*|build_info|lag"}'
query_api post_instant /api/v1/query --data-urlencode 'query=max by (job) (latency_bucket)' --data-urlencode "time=$T"
qr range_up 'count by (job) (up)'
qr range_big 'sum by (shard) (big_series)'
qr range_rate 'sum by (job) (rate(http_requests_total[20s]))'
qi bad_parse 'sum(up'
qi bad_type 'rate(up)'
query_api bad_time /api/v1/query -G --data-urlencode 'query=up' --data-urlencode 'time=yesterday'
query_api bad_step /api/v1/query_range -G --data-urlencode 'query=up' --data-urlencode "start=$T" \
	--data-urlencode "end=$T" --data-urlencode 'step=0'
query_api bad_range_type /api/v1/query_range -G --data-urlencode 'query=up[1m]' --data-urlencode "start=$((T - 10))" \
	--data-urlencode "end=$T" --data-urlencode 'step=1s'
query_api too_many_points /api/v1/query_range -G --data-urlencode 'query=up' --data-urlencode 'start=0' \
	--data-urlencode "end=$T" --data-urlencode 'step=1s'
qi exec_error 'http_requests_total + on(job) group_left sum by (job, method) (http_requests_total)'

step "stop both and compare promtool tsdb dump (series and values)"
stop_pid "$P_PID"
stop_pid "$S_PID"
for name in prom strata; do
	dump_values "$IT_WORK/$name" "$IT_WORK/$name.values" || continue
	grep -v '__name__="scrape_duration_seconds"' "$IT_WORK/$name.values" >"$IT_WORK/$name.cmp"
	note "$name: $(cut -d'}' -f1 "$IT_WORK/$name.cmp" | sort -u | wc -l) series, $(wc -l <"$IT_WORK/$name.cmp") distinct (series, value) pairs"
done
compare_text "$IT_WORK/prom.cmp" "$IT_WORK/strata.cmp" "promtool dump: series and values (prometheus = expected)"
grep -q '^{__name__="vanishing".* NaN$' "$IT_WORK/strata.cmp" ||
	fail_check "no staleness marker for the vanished series in strata's data"
grep -q 'exported_job="exposed"' "$IT_WORK/strata.cmp" || fail_check "no exported_job label in strata's data"
n_strata_blocks=$(block_ulids "$IT_WORK/strata" | wc -l)
((n_strata_blocks > 0)) && run_ok strata_blocks_ok 120 "$PROMTOOL" tsdb list "$IT_WORK/strata"

finish
