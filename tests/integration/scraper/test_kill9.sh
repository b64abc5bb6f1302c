#!/usr/bin/env bash
# kill -9 in the middle of ingestion, then restart on the same data dir:
# every scrape the scraper had acknowledged (reported UP with its
# timestamp in /api/v1/targets, which happens only after the commit to the
# WAL) must be in the data after the restart, and scraping must go on.
# Four targets of 20k series each keep the single ingest thread busy most
# of each second, so the kill lands mid-ingest (the cardinality guard is
# off: 20k ids per target are the point here).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_scraper.sh"

T=$IT_WORK/targets
mkdir -p "$T"
python3 - "$T/big.prom" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        f.write(f'crash_series{{id="{i}",group="g{i % 100}"}} {i}\n')
EOF
start_targets "$T"
CFG=$IT_WORK/prometheus.yml
{
	printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n'
	for i in 1 2 3 4; do
		printf -- "- job_name: big%s\n  metrics_path: /m/big.prom\n  label_value_limit_per_name: 0\n  static_configs: [{targets: ['%s']}]\n" "$i" "$TGT"
	done
} >"$CFG"
DATA=$IT_WORK/data
start_strata S "$CFG" "$DATA" --storage.tsdb.block-duration=1h

step "record acknowledged scrapes for ~8 s (up to 40 s until 16 are in), then kill -9"
ACK=$IT_WORK/acked.txt
: >"$ACK"
# under ASan on a loaded 2-core machine a 20,000-series scrape can take
# longer than its 1 s interval: wait for enough scrapes, not a fixed time
start=$SECONDS
while ((SECONDS < start + 40)); do
	curl -sf -m 2 "$S_URL/api/v1/targets" |
		jq -r '.data.activeTargets[] | select(.health == "up") | "\(.scrapePool) \(.lastScrape)"' >>"$ACK" || true
	((SECONDS >= start + 8)) && (($(sort -u "$ACK" | wc -l) >= 16)) && break
	sleep 0.1
done
kill -KILL "$S_PID"
wait "$S_PID" 2>/dev/null || true
sort -u "$ACK" -o "$ACK"
note "$(wc -l <"$ACK") acknowledged (job, scrape time) pairs before the kill"
(($(wc -l <"$ACK") >= 16)) || fail_check "too few acknowledged scrapes ($(wc -l <"$ACK")) to make the test meaningful"
ls "$DATA/wal" >/dev/null 2>&1 || fail_check "no wal directory in the data dir"

step "restart on the same data dir"
start_strata S2 "$CFG" "$DATA" --storage.tsdb.block-duration=1h
wait_for 10 "scraping again" bash -c "set -o pipefail; curl -sf '$S2_URL/api/v1/targets' | jq -e '[.data.activeTargets[] | select(.health == \"up\")] | length == 4'" ||
	fail_check "not all targets up after the restart: $(curl -sf "$S2_URL/api/v1/targets" | jq -c '[.data.activeTargets[] | {scrapePool, lastError}]')"
sleep 2
stop_pid "$S2_PID"

step "every acknowledged scrape is stored"
promtool_dump "$DATA" "$IT_WORK/up.txt" --match='up'
promtool_dump "$DATA" "$IT_WORK/one.txt" --match='crash_series{id="19999"}'
python3 - "$ACK" "$IT_WORK/up.txt" "$IT_WORK/one.txt" <<'EOF' || fail_check "acknowledged samples missing after kill -9 and restart"
import datetime, re, sys
acked = set()
for line in open(sys.argv[1]):
    job, ts = line.split()
    t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    acked.add((job, round(t.timestamp() * 1000)))
def stored(path):
    got = set()
    for line in open(path):
        m = re.search(r'job="([^"]+)".* (\S+) (\d+)$', line)
        if m:
            got.add((m.group(1), int(m.group(3)), m.group(2)))
    return got
up = stored(sys.argv[2])
one = stored(sys.argv[3])
up_ok = {(j, t) for j, t, v in up if v == "1"}
one_ok = {(j, t) for j, t, v in one if v == "19999"}
miss_up = sorted(acked - up_ok)
miss_one = sorted(acked - one_ok)
after = max(t for _, t in up_ok) > max(t for _, t in acked)
print(f"   acked {len(acked)}, up=1 samples stored {len(up_ok)}, missing up {len(miss_up)}, missing data {len(miss_one)}, "
      f"samples after the restart: {after}")
for m in (miss_up + miss_one)[:5]:
    print(f"   missing: {m}")
sys.exit(0 if not miss_up and not miss_one and after else 1)
EOF

finish
