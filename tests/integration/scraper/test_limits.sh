#!/usr/bin/env bash
# Scrape failures and limits, each its own job on one strata scraper:
#   sample_limit exceeded     -> OVERLIMIT, up 0, none of its samples stored
#   cardinality guard         -> values past label_value_limit_per_name become
#                                reassigned_high_cardinality, counted in
#                                strata_scrape_reassigned_label_values_total
#   hanging target            -> TIMEOUT after scrape_timeout; the loop is not
#                                held: other targets keep their 1 s cadence and
#                                the slow one is tried again every interval
#   malformed payload         -> PARSE_ERROR naming line:col, nothing stored
#   HTTP 500, refused port    -> DOWN with Prometheus-style errors
#   body_size_limit           -> OVERLIMIT
# then the data dir is read with promtool tsdb dump.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_scraper.sh"

T=$IT_WORK/targets
mkdir -p "$T"
python3 - "$T" <<'EOF'
import sys
d = sys.argv[1]
with open(f"{d}/limit.prom", "w") as f:
    for i in range(10):
        f.write(f'limit_metric{{i="{i}"}} {i}\n')
with open(f"{d}/card.prom", "w") as f:
    for i in range(30):
        f.write(f'card_metric{{id="{i}",kind="k{i % 2}"}} {i}\n')
with open(f"{d}/ok.prom", "w") as f:
    f.write("ok_metric 1\n")
with open(f"{d}/bad.prom", "w") as f:
    f.write("bad_metric{a=\"1\"} 1\nbad_metric{a=\"2\"} 2\nbad_metric{a=\"3\" 3\n")
with open(f"{d}/huge.prom", "w") as f:
    for i in range(2000):
        f.write(f'huge_metric{{i="{i}"}} {i}\n')
EOF
start_targets "$T"

CFG=$IT_WORK/prometheus.yml
cat >"$CFG" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
- job_name: limit
  sample_limit: 5
  metrics_path: /m/limit.prom
  static_configs: [{targets: ['$TGT']}]
- job_name: card
  label_value_limit_per_name: 10
  metrics_path: /m/card.prom
  static_configs: [{targets: ['$TGT']}]
- job_name: slow
  scrape_timeout: 400ms
  metrics_path: /slow/3/ok.prom
  static_configs: [{targets: ['$TGT']}]
- job_name: ok
  metrics_path: /m/ok.prom
  static_configs: [{targets: ['$TGT']}]
- job_name: bad
  metrics_path: /m/bad.prom
  static_configs: [{targets: ['$TGT']}]
- job_name: e500
  metrics_path: /status/500
  static_configs: [{targets: ['$TGT']}]
- job_name: refused
  static_configs: [{targets: ['127.0.0.1:1']}]
- job_name: huge
  body_size_limit: 1KB
  metrics_path: /m/huge.prom
  static_configs: [{targets: ['$TGT']}]
EOF
DATA=$IT_WORK/data
start_strata S "$CFG" "$DATA" --storage.tsdb.block-duration=1m

step "target states"
wait_for 15 "every target scraped" bash -c "set -o pipefail; curl -sf '$S_URL/api/v1/targets' | jq -e '[.data.activeTargets[] | select(.lastScrape | startswith(\"0001\"))] | length == 0'" ||
	fail_check "some targets never scraped"
sleep 1.5
targets_json "$S_URL" "$IT_WORK/targets.json"
check_target() {
	local job=$1 state=$2 health=$3 err=$4 got
	got=$(jq -r --arg j "$job" '.data.activeTargets[] | select(.scrapePool == $j) | "\(.state)|\(.health)|\(.lastError)"' "$IT_WORK/targets.json")
	if [[ $got != "$state|$health|"*"$err"* ]]; then
		fail_check "job $job: want $state/$health with error containing '$err', got '$got'"
	else
		note "OK $job: $got"
	fi
}
check_target limit OVERLIMIT down "sample limit exceeded"
check_target card UP up ""
check_target slow TIMEOUT down "context deadline exceeded"
check_target ok UP up ""
check_target bad PARSE_ERROR down "3:"
check_target e500 DOWN down "server returned HTTP status 500 Internal Server Error"
check_target refused DOWN down 'Get "http://127.0.0.1:1/metrics"'
check_target huge OVERLIMIT down "body size limit exceeded"

step "a hanging target does not hold the loop"
# sample lastScrape of ok and slow over ~4 s: both must advance every interval
first_ok=$(target_field "$S_URL" ok lastScrape)
first_slow=$(target_field "$S_URL" slow lastScrape)
sleep 4.2
last_ok=$(target_field "$S_URL" ok lastScrape)
last_slow=$(target_field "$S_URL" slow lastScrape)
adv() { python3 -c 'import sys, datetime as d
p = lambda s: d.datetime.fromisoformat(s.replace("Z", "+00:00"))
print(round((p(sys.argv[2]) - p(sys.argv[1])).total_seconds()))' "$1" "$2"; }
a_ok=$(adv "$first_ok" "$last_ok")
a_slow=$(adv "$first_slow" "$last_slow")
note "in ~4 s: ok advanced ${a_ok} s, slow advanced ${a_slow} s"
((a_ok >= 3 && a_ok <= 5)) || fail_check "ok target's lastScrape advanced ${a_ok} s in ~4 s (expected ~4: one scrape per second)"
((a_slow >= 3 && a_slow <= 5)) || fail_check "slow target's lastScrape advanced ${a_slow} s (the timed-out scrape must free its slot)"
dur=$(target_field "$S_URL" slow lastScrapeDuration)
python3 -c "import sys; d = float(sys.argv[1]); sys.exit(0 if 0.35 < d < 0.9 else 1)" "$dur" ||
	fail_check "slow target's scrape lasted $dur s, expected about the 0.4 s timeout"

step "self-metrics: cardinality guard counter"
curl -sf "$S_URL/metrics" >"$IT_WORK/metrics.txt" || fail_check "GET /metrics failed"
grep -q '^strata_scrape_reassigned_label_values_total{job="card",instance="'"$TGT"'",label="id"} 20$' "$IT_WORK/metrics.txt" ||
	fail_check "reassigned counter: $(grep reassigned_label_values_total "$IT_WORK/metrics.txt" | grep -v '^#' | head -3)"
grep -q '^strata_scrape_targets{state="TIMEOUT"} 1$' "$IT_WORK/metrics.txt" || fail_check "strata_scrape_targets{state=TIMEOUT} != 1"
grep -q '^process_resident_memory_bytes ' "$IT_WORK/metrics.txt" || fail_check "no process_resident_memory_bytes"

step "stored data (promtool tsdb dump after a clean stop)"
stop_pid "$S_PID"
promtool_dump "$DATA" "$IT_WORK/dump.txt"
count() { grep -c "$1" "$IT_WORK/dump.txt" || true; }
n=$(count '^{__name__="limit_metric"')
((n == 0)) || fail_check "$n samples of the over-limit target were stored"
n=$(count '^{__name__="bad_metric"')
((n == 0)) || fail_check "$n samples of the malformed target were stored (its first lines are valid)"
n=$(count '^{__name__="huge_metric"')
((n == 0)) || fail_check "$n samples of the over-size target were stored"
n=$(count '^{__name__="up", instance="[^"]*", job="limit"} 0 ')
((n > 0)) || fail_check "no up=0 samples for the over-limit target"
n=$(count '^{__name__="up", instance="[^"]*", job="limit"} 1 ')
((n == 0)) || fail_check "up=1 for the over-limit target"
n=$(count '^{__name__="scrape_samples_scraped", instance="[^"]*", job="limit"} 10 ')
((n > 0)) || fail_check "scrape_samples_scraped of the over-limit target is not 10"
series=$(grep '^{__name__="card_metric"' "$IT_WORK/dump.txt" | sed -E 's/ [^ ]+ [0-9]+$//' | sort -u)
n_real=$(grep -vc reassigned_high_cardinality <<<"$series" || true)
n_re=$(grep -c 'id="reassigned_high_cardinality"' <<<"$series" || true)
note "card_metric: $n_real series with their own id, $n_re reassigned"
((n_real == 10)) || fail_check "card_metric: $n_real series kept their id (limit 10)"
((n_re == 2)) || fail_check "card_metric: $n_re reassigned series (want 2: kind=k0 and kind=k1)"
n=$(count '^{__name__="ok_metric"')
((n >= 5)) || fail_check "only $n samples of ok_metric"

finish
