#!/usr/bin/env bash
# Service discovery and reloads on a running strata scraper:
#   file_sd: a target added in a new YAML file, relabeled via a changed
#            JSON file, and removed with its file, each picked up within
#            a few seconds (the removed target's series get stale markers);
#   http_sd: targets from a JSON document served over HTTP;
#   reload:  a bad config (SIGHUP, then POST /-/reload) is refused with
#            its line and the running config keeps scraping; a good one
#            adds a job; data from before the reloads is still there;
#   API:     /api/v1/status/config, flags, buildinfo, /-/healthy.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_scraper.sh"

T=$IT_WORK/targets
SD=$IT_WORK/sd
mkdir -p "$T" "$SD"
echo 'sd_metric 1' >"$T/a.prom"
start_targets "$T"
cat >"$T/http_sd.json" <<EOF
[{"targets": ["$TGT"], "labels": {"src": "http"}}]
EOF

cat >"$SD/a.json" <<EOF
[{"targets": ["$TGT"], "labels": {"color": "red"}}]
EOF
CFG=$IT_WORK/prometheus.yml
write_cfg() {
	cat >"$CFG" <<EOF
global:
  scrape_interval: 1s
  external_labels:
    replica: "$1"
scrape_configs:
- job_name: files
  metrics_path: /m/a.prom
  file_sd_configs:
  - files: ['$SD/*.json', '$SD/*.yml']
- job_name: http
  metrics_path: /m/a.prom
  http_sd_configs:
  - url: http://$TGT/m/http_sd.json
    refresh_interval: 2s
$2
EOF
}
write_cfg one ''
DATA=$IT_WORK/data
start_strata S "$CFG" "$DATA" --web.enable-lifecycle --storage.tsdb.block-duration=1m

active() { curl -sf "$S_URL/api/v1/targets" | jq -c '[.data.activeTargets[] | .labels] | sort_by(.job, .instance)'; }
has_active() { [[ $(active) == "$1" ]]; }

step "file_sd and http_sd targets"
want='[{"color":"red","instance":"'$TGT'","job":"files"},{"instance":"'$TGT'","job":"http","src":"http"}]'
wait_for 10 "initial targets" has_active "$want" || fail_check "initial targets: $(active)"

step "file_sd: a new YAML file adds a target"
printf -- "- targets: ['localhost:%s']\n  labels: {color: blue}\n" "$TGT_PORT" >"$SD/b.yml"
want='[{"color":"red","instance":"'$TGT'","job":"files"},{"color":"blue","instance":"localhost:'$TGT_PORT'","job":"files"},{"instance":"'$TGT'","job":"http","src":"http"}]'
wait_for 6 "target from b.yml" has_active "$want" || fail_check "after adding b.yml: $(active)"

step "file_sd: a changed JSON file relabels its target"
sleep 1.2
cat >"$SD/a.json" <<EOF
[{"targets": ["$TGT"], "labels": {"color": "green"}}]
EOF
want='[{"color":"green","instance":"'$TGT'","job":"files"},{"color":"blue","instance":"localhost:'$TGT_PORT'","job":"files"},{"instance":"'$TGT'","job":"http","src":"http"}]'
wait_for 6 "relabeled target" has_active "$want" || fail_check "after changing a.json: $(active)"

step "file_sd: a broken file keeps its previous targets"
echo '[{"targets": [' >"$SD/a.json"
sleep 2.5
has_active "$want" || fail_check "after breaking a.json: $(active)"
grep -q 'msg="Error reading file".*a.json' "$S_LOG" || fail_check "no error logged for the broken a.json"

step "file_sd: removing the file removes the target"
rm "$SD/b.yml"
want='[{"color":"green","instance":"'$TGT'","job":"files"},{"instance":"'$TGT'","job":"http","src":"http"}]'
wait_for 6 "target of b.yml gone" has_active "$want" || fail_check "after removing b.yml: $(active)"

step "reload: a bad config is refused, the old one keeps running"
cp "$CFG" "$IT_WORK/good.yml"
write_cfg two "- job_name: broken
  scrape_interval: 1s
  scrape_timeout: 5s"
kill -HUP "$S_PID"
wait_for 5 "reload error in the log" grep -q 'msg="Error reloading config; keeping the running one"' "$S_LOG" ||
	fail_check "no reload error logged after SIGHUP"
grep -q 'prometheus.yml:15: .*scrape timeout greater than scrape interval' "$S_LOG" ||
	fail_check "reload error lacks file:line: $(grep 'Error reloading' "$S_LOG" | tail -1)"
code=$(curl -s -o "$IT_WORK/reload.out" -w '%{http_code}' -X POST "$S_URL/-/reload")
[[ $code == 500 ]] || fail_check "POST /-/reload with a bad config answered $code"
grep -q 'failed to reload config: .*prometheus.yml:15:' "$IT_WORK/reload.out" || fail_check "reload answer: $(cat "$IT_WORK/reload.out")"
curl -sf "$S_URL/api/v1/status/config" | jq -r .data.yaml | grep -q 'replica: one' ||
	fail_check "config API no longer shows the running config"
before=$(target_field "$S_URL" files lastScrape)
sleep 2
[[ $(target_field "$S_URL" files lastScrape) != "$before" ]] || fail_check "scraping stopped after a failed reload"

step "reload: a good config adds a job"
write_cfg two "- job_name: added
  metrics_path: /m/a.prom
  static_configs: [{targets: ['$TGT']}]"
code=$(curl -s -o "$IT_WORK/reload.out" -w '%{http_code}' -X POST "$S_URL/-/reload")
[[ $code == 200 ]] || fail_check "POST /-/reload answered $code: $(cat "$IT_WORK/reload.out")"
wait_for 5 "job added" bash -c "set -o pipefail; curl -sf '$S_URL/api/v1/targets' | jq -e '[.data.activeTargets[] | select(.scrapePool == \"added\" and .health == \"up\")] | length == 1'" ||
	fail_check "job 'added' not scraped after reload: $(active)"
curl -sf "$S_URL/api/v1/status/config" | jq -r .data.yaml | grep -q 'replica: two' || fail_check "config API does not show the new config"

step "other endpoints"
curl -sf "$S_URL/-/healthy" >/dev/null || fail_check "/-/healthy"
[[ $(curl -sf "$S_URL/api/v1/status/flags" | jq -r '.data["storage.tsdb.block-duration"]') == 1m ]] ||
	fail_check "flags API: $(curl -s "$S_URL/api/v1/status/flags")"
[[ $(curl -sf "$S_URL/api/v1/status/buildinfo" | jq -r .status) == success ]] || fail_check "buildinfo API"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$S_URL/-/reload" --max-time 5)
[[ $code == 200 ]] || fail_check "second POST /-/reload answered $code"
grep -q 'strata_config_last_reload_successful 1' <(curl -sf "$S_URL/metrics") || fail_check "last reload not successful in /metrics"

step "stored data spans the reloads; the removed target was marked stale"
sleep 1
stop_pid "$S_PID"
promtool_dump "$DATA" "$IT_WORK/dump.txt"
grep -q "^{__name__=\"sd_metric\", color=\"blue\", instance=\"localhost:$TGT_PORT\", job=\"files\"} NaN " "$IT_WORK/dump.txt" ||
	fail_check "no stale marker for the target removed from file_sd"
grep -q '^{__name__="sd_metric", color="red", ' "$IT_WORK/dump.txt" || fail_check "samples from before the reloads are gone"
grep -q '^{__name__="sd_metric", instance="[^"]*", job="added"} 1 ' "$IT_WORK/dump.txt" || fail_check "no samples of the added job"
grep -q '^{__name__="sd_metric", instance="[^"]*", job="http", src="http"} 1 ' "$IT_WORK/dump.txt" || fail_check "no samples of the http_sd target"

finish
