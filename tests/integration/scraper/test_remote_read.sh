#!/usr/bin/env bash
# POST /api/v1/read of strata scraper, read by a real prometheus 2.42
# through its remote_read client (which asks for STREAMED_XOR_CHUNKS, then
# SAMPLES): a range query on prometheus returns exactly the samples strata
# stored (compared with promtool tsdb dump of strata's data dir), with
# strata's external labels added.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_scraper.sh"

T=$IT_WORK/targets
mkdir -p "$T"
printf 'rr_metric{kind="a"} 1.5\nrr_metric{kind="b"} -2\nrr_other 42\n' >"$T/a.prom"
start_targets "$T"

cat >"$IT_WORK/strata.yml" <<EOF
global:
  scrape_interval: 1s
  external_labels:
    site: lab
scrape_configs:
- job_name: rr
  metrics_path: /m/a.prom
  static_configs: [{targets: ['$TGT']}]
EOF
start_strata S "$IT_WORK/strata.yml" "$IT_WORK/data" --storage.tsdb.block-duration=1m
sleep 5
# the samples strata holds now (a scratch copy of the data dir; strata keeps running)
promtool_dump "$IT_WORK/data" "$IT_WORK/dump.txt" --match='{__name__=~"rr_.*"}'
n=$(wc -l <"$IT_WORK/dump.txt")
((n >= 9)) || fail_check "only $n rr_ samples stored after 5 s"
end_ms=$(awk '{print $NF}' "$IT_WORK/dump.txt" | sort -n | tail -1)

cat >"$IT_WORK/prom.yml" <<EOF
global:
  scrape_interval: 1m
remote_read:
- url: $S_URL/api/v1/read
  read_recent: true
EOF
start_prom P "$IT_WORK/prom.yml" "$IT_WORK/prom"

step "prometheus queries strata over remote read"
end_s=$(python3 -c "print(($end_ms + 1) / 1000)")
curl -sf -m 30 -G "$P_URL/api/v1/query" --data-urlencode 'query={__name__=~"rr_.*"}[1m]' \
	--data-urlencode "time=$end_s" -o "$IT_WORK/q.json" || fail_check "query through prometheus failed"
[[ $(jq -r .status "$IT_WORK/q.json") == success ]] || fail_check "query: $(head -c 300 "$IT_WORK/q.json")"
python3 - "$IT_WORK/q.json" "$IT_WORK/dump.txt" "$end_ms" <<'EOF' || fail_check "remote read result differs from strata's data"
import json, re, sys
q = json.load(open(sys.argv[1]))["data"]["result"]
end = int(sys.argv[3])
got = {}
for r in q:
    m = r["metric"]
    if m.get("site") != "lab":
        print(f"   series without the external label: {m}")
        sys.exit(1)
    key = tuple(sorted((k, v) for k, v in m.items() if k != "site"))
    got[key] = [(round(float(t) * 1000), float(v)) for t, v in r["values"]]
want = {}
for line in open(sys.argv[2]):
    m = re.match(r'\{(.*)\} (\S+) (\d+)$', line.strip())
    labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(1))))
    t = int(m.group(3))
    if end - 60000 < t <= end:
        want.setdefault(labels, []).append((t, float(m.group(2))))
if got != want:
    print(f"   prometheus via remote read: {len(got)} series, strata dump: {len(want)} series")
    for k in sorted(set(got) | set(want))[:3]:
        print(f"   {k}: remote read {got.get(k, [])[:3]}..., dump {want.get(k, [])[:3]}...")
    sys.exit(1)
print(f"   OK {len(got)} series, {sum(len(v) for v in got.values())} samples equal")
EOF
grep -iE 'level=(error|warn).*remote' "$P_LOG" | head -n 3 | sed 's/^/   prometheus log: /' || true

finish
