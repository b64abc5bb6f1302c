#!/usr/bin/env bash
# The sidecar's StoreAPI (--grpc-address), read with `strata tools store`:
#
# A. Real Prometheus 2.42 with backfilled data (gen_openmetrics plus series
#    that stress the order of label sets once the external labels are
#    added: label sets that are prefixes of others, stored labels named
#    like an external one) and external labels region=eu, replica=r1.
#    For selectors of every matcher type, on external labels too (held or
#    contradicted), and several time ranges, `tools store series` must print
#    what `promtool tsdb dump --match` prints for the same data with the
#    external labels added by ext_labels.py (not by Strata's code); also
#    with a series limit and labels only (skip_chunks), and with
#    without_replica_labels=replica (the oracle strips it too, the stored
#    replica="other" included, then sorts). Label names and
#    values must be Prometheus's own /api/v1/labels and
#    /api/v1/label/<n>/values answers plus the external labels (Thanos's
#    rules). Info: component sidecar, the external label set, min_time =
#    the oldest block's minTime (from meta.json via jq), max_time = MaxInt64.
#    Prometheus killed: calls fail with UNAVAILABLE naming its URL, the
#    sidecar stays up; Prometheus back on the same port: the answers are
#    right again.
# B. strata scraper scraping a static target, with 10 s blocks: series up
#    to a past instant T through a second sidecar must equal promtool's dump
#    of the scraper's data dir (blocks + WAL) up to T with the external
#    labels added; label names equal the scraper's /api/v1/labels plus the
#    external names; Info's min_time is its oldest block's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_sidecar.sh"

EXT=region=eu,replica=r1
START=1700000000 # s; blocks of 2h: [..., 1700006400) [1700006400, 1700013600) [1700013600, ...)

step "backfill: generated series and order-stressing series"
gen_input "$IT_WORK/gen.om" --series 150 --hours 3 --step 60 --start "$START" --exotic
python3 - "$IT_WORK/gen.om" "$IT_WORK/all.om" "$START" <<'PY'
import sys
src, dst, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [l for l in open(src, "rb").read().split(b"\n") if l and l != b"# EOF"]
def family(name, series, t0, n):
    lines.append(b"# TYPE %s gauge" % name.encode())
    for k, labels in enumerate(series):
        for i in range(n):
            lines.append(b"%s%s %d %d" % (name.encode(), labels.encode(), k * 1000 + i, t0 + 60 * i))
# prefix cases: {__name__="p_metric"} < {..., a="1"} before the external
# labels, the other way round after
family("p_metric", ['', '{a="1"}', '{a="1",b="2"}', '{a="2"}', '{s="x"}', '{zz="1"}'], start, 30)
# stored labels named like external ones (honor_labels data), in a later block
family("own_region", ['{x="0"}', '{region="us",x="1"}', '{region="eu",x="2"}',
                      '{region="ap",replica="other",x="3"}'], start + 5 * 3600, 30)
lines.append(b"# EOF")
open(dst, "wb").write(b"\n".join(lines) + b"\n")
PY
PDATA=$IT_WORK/prom-data
promtool_backfill "$IT_WORK/all.om" "$PDATA"

step "Prometheus 2.42 (external labels $EXT, no local compaction) and the sidecar"
CFG=$IT_WORK/prometheus.yml
printf 'global:\n  scrape_interval: 1m\n  external_labels:\n    region: eu\n    replica: r1\n' >"$CFG"
PROM_FLAGS=(--storage.tsdb.retention.time=100y --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h)
start_prom_cfg "$CFG" "$PDATA" "${PROM_FLAGS[@]}"
start_sidecar sidecar --tsdb.path="$PDATA" --prometheus.url="$PROM_URL" --log.level=debug
STORE=$SC_GRPC
wait_for 20 "the StoreAPI to know the external labels" "$STRATA" tools store info --store="$STORE" ||
	{ tail -n 20 "$SC_LOG"; die "the sidecar's StoreAPI did not come up"; }

step "Info"
run_ok info 30 "$STRATA" tools store info --store="$STORE" || true
want_min=$(jq -s 'map(.minTime) | min' "$PDATA"/*/meta.json)
for want in "component=sidecar" 'label_set={region="eu", replica="r1"}' "min_time=$want_min" \
	"max_time=9223372036854775807"; do
	grep -qxF "$want" "$IT_WORK/info.out" || fail_check "Info: no line '$want' in: $(tr '\n' ' ' <"$IT_WORK/info.out")"
done

step "--grpc-address already taken: a second sidecar exits at once, naming it"
if run sidecar_taken 30 "$STRATA" sidecar --tsdb.path="$PDATA" --prometheus.url="$PROM_URL" \
	--http-address=127.0.0.1:0 --grpc-address="$STORE"; then
	fail_check "a sidecar on a taken gRPC address did not fail"
elif ! grep -q "starting the gRPC server failed.*$STORE" "$IT_WORK/sidecar_taken.err"; then
	fail_check "taken gRPC address: no clear error: $(head -c 400 "$IT_WORK/sidecar_taken.err")"
fi

# oracle NAME PROMTOOL_SELECTOR|none MINT MAXT — the expected dump in $IT_WORK/NAME.want
SNAP=$IT_WORK/prom-snapshot
cp -r "$PDATA" "$SNAP" # Prometheus does not compact (min = max block duration), blocks stay as they are
oracle() {
	local name=$1 sel=$2 mint=$3 maxt=$4
	if [[ $sel == none ]]; then
		: >"$IT_WORK/$name.want"
		return 0
	fi
	promtool_dump "$SNAP" "$IT_WORK/$name.raw" --match="$sel" --min-time="$mint" --max-time="$maxt" || return 1
	python3 "$SIDECAR_DIR/ext_labels.py" "$IT_WORK/$name.raw" "$EXT" >"$IT_WORK/$name.want"
}

# check_series NAME STORE_SELECTOR PROMTOOL_SELECTOR|none [MINT MAXT] — failures
# are recorded (fail_check), never fatal
check_series() {
	local name=$1 sel=$2 psel=$3 mint=${4:--9223372036854775808} maxt=${5:-9223372036854775807}
	oracle "$name" "$psel" "$mint" "$maxt" || return 0
	run_ok "$name" 60 "$STRATA" tools store series --store="$STORE" --match="$sel" --min-time="$mint" \
		--max-time="$maxt" || return 0
	compare_text "$IT_WORK/$name.want" "$IT_WORK/$name.out" "series $sel [$mint, $maxt]" || true
}

step "Series: every matcher type, external labels, time ranges"
S=$((START * 1000))
check_series all '{__name__=~".+"}' '{__name__=~".+"}'
check_series all_mid '{__name__=~".+"}' '{__name__=~".+"}' $((S + 1800000)) $((S + 6000000))
check_series all_edge '{__name__=~".+"}' '{__name__=~".+"}' $((S + 6360000)) $((S + 6420000))
check_series all_before '{__name__=~".+"}' '{__name__=~".+"}' 0 1000
check_series eq '{__name__="strata_gen_requests_total", code="200"}' '{__name__="strata_gen_requests_total", code="200"}'
check_series neq '{__name__="strata_gen_requests_total", method!="GET"}' \
	'{__name__="strata_gen_requests_total", method!="GET"}' $((S + 3600000)) $((S + 7200000))
check_series re '{__name__=~"strata_gen_(temperature_celsius|queue_length)", zone=~"zone-1.*|"}' \
	'{__name__=~"strata_gen_(temperature_celsius|queue_length)", zone=~"zone-1.*|"}'
check_series nre '{__name__=~"strata_gen_.+", __name__!~"strata_gen_request.*|strata_gen_special"}' \
	'{__name__=~"strata_gen_.+", __name__!~"strata_gen_request.*|strata_gen_special"}'
check_series ext_eq '{region="eu", __name__="p_metric"}' '{__name__="p_metric"}'
check_series ext_re '{region=~"e.|us", replica!="r2", __name__="own_region"}' '{__name__="own_region"}'
check_series ext_contradicted '{region="us", __name__=~".+"}' none
check_series ext_contradicted_neq '{replica!="r1", __name__=~".+"}' none
check_series order_mixed '{__name__=~"p_metric|own_region"}' '{__name__=~"p_metric|own_region"}'
check_series order_exact '{__name__=~"p_metric|own_region"}' '{__name__=~"p_metric|own_region"}' "$S" $((S + 3600000))
# the request decides the ordering mode: stored "region" labels exist only in the last block
grep -q 'msg="Series: remote read done".*ordering=exact' "$SC_LOG" ||
	fail_check "no Series call used the exact ordering mode"
grep -q 'msg="Series: remote read done".*ordering=conservative' "$SC_LOG" ||
	fail_check "no Series call used the conservative ordering mode"

step "Series with without_replica_labels (a deduplicating querier): replica taken off, sorted without it"
# check_without NAME SELECTOR [MINT MAXT] — the oracle takes the label off
# every series, the stored replica="other" too, as Thanos strips it
check_without() {
	local name=$1 sel=$2 mint=${3:--9223372036854775808} maxt=${4:-9223372036854775807}
	promtool_dump "$SNAP" "$IT_WORK/$name.raw" --match="$sel" --min-time="$mint" --max-time="$maxt" || return 0
	python3 "$SIDECAR_DIR/ext_labels.py" "$IT_WORK/$name.raw" "$EXT" replica >"$IT_WORK/$name.want"
	run_ok "$name" 60 "$STRATA" tools store series --store="$STORE" --match="$sel" --min-time="$mint" \
		--max-time="$maxt" --without-replica-label=replica || return 0
	compare_text "$IT_WORK/$name.want" "$IT_WORK/$name.out" "series $sel [$mint, $maxt] without replica" || true
	grep -q 'replica=' "$IT_WORK/$name.out" && fail_check "$name: a replica label left in the answer"
	return 0
}
check_without wo_all '{__name__=~".+"}'
check_without wo_order '{__name__=~"p_metric|own_region"}'
check_without wo_early '{__name__=~".+"}' "$S" $((S + 3600000))
# a stored replica label in the range: every series held and sorted at the end
grep -q 'msg="Series: remote read done".*ordering=hold-all' "$SC_LOG" ||
	fail_check "no Series call held every series (stored replica label in the range)"
run_ok info_strip 30 "$STRATA" tools store info --store="$STORE" &&
	{ grep -qx 'supports_without_replica_labels=true' "$IT_WORK/info_strip.out" ||
		fail_check "Info does not advertise supports_without_replica_labels: $(cat "$IT_WORK/info_strip.out")"; }

step "Series: a limit, and labels only (skip_chunks)"
run_ok limit 60 "$STRATA" tools store series --store="$STORE" --match='{__name__=~"p_metric|own_region"}' \
	--format=labels --limit=5 || true
cut -d'}' -f1 "$IT_WORK/order_mixed.want" | uniq | sed 's/$/}/' >"$IT_WORK/order_mixed.labels"
head -n 5 "$IT_WORK/order_mixed.labels" >"$IT_WORK/limit.want"
compare_text "$IT_WORK/limit.want" "$IT_WORK/limit.out" "series with --limit=5 (first five label sets)" || true
run_ok skip 60 "$STRATA" tools store series --store="$STORE" --match='{__name__=~"p_metric|own_region"}' \
	--format=labels --skip-chunks || true
compare_text "$IT_WORK/order_mixed.labels" "$IT_WORK/skip.out" "series with skip_chunks (label sets)" || true

# prom_strings NAME PATH [curl -G args...] — Prometheus's answer, one per line
prom_strings() {
	local name=$1 path=$2
	shift 2
	curl -sf -m 10 -G "$PROM_URL$path" "$@" | jq -r '.data[]' >"$IT_WORK/$name.prom" ||
		fail_check "GET $path from Prometheus failed"
}

# check_labels NAME WANT_FILE [tools store flags...] — failures recorded, never fatal
check_labels() {
	local name=$1 want=$2 cmd=label-names
	shift 2
	[[ " $* " == *" --label="* ]] && cmd=label-values
	run_ok "$name" 60 "$STRATA" tools store "$cmd" --store="$STORE" "$@" || return 0
	compare_text "$want" "$IT_WORK/$name.out" "$cmd $*" || true
}

step "LabelNames and LabelValues: Prometheus's answers plus the external labels"
# with_ext FILE — FILE's names plus the external ones (Thanos adds them to non-empty answers only)
with_ext() {
	if [[ -s $1 ]]; then
		{ cat "$1"; printf 'region\nreplica\n'; } | LC_ALL=C sort -u
	fi
}
prom_strings names_all /api/v1/labels
with_ext "$IT_WORK/names_all.prom" >"$IT_WORK/names_all.want"
check_labels names_all "$IT_WORK/names_all.want"
prom_strings names_p /api/v1/labels --data-urlencode 'match[]={__name__="p_metric"}'
with_ext "$IT_WORK/names_p.prom" >"$IT_WORK/names_p.want"
check_labels names_p "$IT_WORK/names_p.want" --match='{__name__="p_metric", region="eu"}'
prom_strings names_range /api/v1/labels --data-urlencode "start=$((START + 5 * 3600))" \
	--data-urlencode "end=$((START + 6 * 3600))"
with_ext "$IT_WORK/names_range.prom" >"$IT_WORK/names_range.want"
check_labels names_range "$IT_WORK/names_range.want" --min-time=$(((START + 5 * 3600) * 1000)) \
	--max-time=$(((START + 6 * 3600) * 1000))
: >"$IT_WORK/empty.want"
check_labels names_contradicted "$IT_WORK/empty.want" --match='{region="us", __name__=~".+"}'
prom_strings values_code /api/v1/label/code/values
check_labels values_code "$IT_WORK/values_code.prom" --label=code
prom_strings values_name /api/v1/label/__name__/values --data-urlencode 'match[]={__name__=~"strata_gen_.*", zone!=""}'
check_labels values_name "$IT_WORK/values_name.prom" --label=__name__ --match='{__name__=~"strata_gen_.*", zone!=""}'
prom_strings values_a /api/v1/label/a/values --data-urlencode 'match[]={__name__="p_metric"}' \
	--data-urlencode "start=$START" --data-urlencode "end=$((START + 600))"
check_labels values_a "$IT_WORK/values_a.prom" --label=a --match='{__name__="p_metric"}' --min-time="$S" \
	--max-time=$((S + 600000))
# an external label has its one value (stored values such as "us" are overridden)
printf 'eu\n' >"$IT_WORK/eu.want"
check_labels values_region "$IT_WORK/eu.want" --label=region
check_labels values_region_match "$IT_WORK/eu.want" --label=region --match='{__name__="own_region"}'
check_labels values_region_nothing "$IT_WORK/empty.want" --label=region --match='{__name__="nope"}'

step "Prometheus killed: clear UNAVAILABLE errors, the sidecar keeps running"
kill_now "$PROM_PID"
if run series_down 60 "$STRATA" tools store series --store="$STORE" --match='{__name__="p_metric"}'; then
	fail_check "Series with Prometheus down succeeded"
elif ! grep -q "UNAVAILABLE.*$PROM_URL" "$IT_WORK/series_down.err"; then
	fail_check "Series with Prometheus down: no UNAVAILABLE error naming $PROM_URL: $(head -c 400 "$IT_WORK/series_down.err")"
else
	note "OK $(head -c 200 "$IT_WORK/series_down.err")"
fi
if run names_down 60 "$STRATA" tools store label-names --store="$STORE"; then
	fail_check "LabelNames with Prometheus down succeeded"
elif ! grep -q "UNAVAILABLE.*$PROM_URL" "$IT_WORK/names_down.err"; then
	fail_check "LabelNames with Prometheus down: $(head -c 400 "$IT_WORK/names_down.err")"
fi
kill -0 "$SC_PID" 2>/dev/null || fail_check "the sidecar died while Prometheus was down"
run_ok info_down 30 "$STRATA" tools store info --store="$STORE" || true

step "Prometheus back on the same port: the answers are right again"
start_bg "$IT_WORK/prometheus-again.log" "$PROMETHEUS" --config.file="$CFG" --storage.tsdb.path="$PDATA" \
	--web.listen-address="127.0.0.1:$PROM_PORT" "${PROM_FLAGS[@]}"
PROM_PID=$BG_PID
wait_for 60 "prometheus ready again on $PROM_URL" curl -sf -m 2 "$PROM_URL/-/ready" || die "prometheus did not restart"
check_series again_p '{__name__=~"p_metric|own_region"}' '{__name__=~"p_metric|own_region"}'
check_series again_all '{__name__=~".+"}' '{__name__=~".+"}' $((S + 1800000)) $((S + 6000000))

step "B: strata scraper scraping a static target, a second sidecar next to it"
T=$IT_WORK/targets
mkdir -p "$T"
printf '# TYPE temp gauge\ntemp{room="a b",region="us"} 21.5\ntemp{room="c"} -3\nplain 1\n' >"$T/static.prom"
rm -f "$IT_WORK/targets.port"
start_bg "$IT_WORK/targets.log" python3 "$SIDECAR_DIR/../scraper/targets.py" "$T" "$IT_WORK/targets.port"
wait_for 20 "target server" test -s "$IT_WORK/targets.port" || die "target server did not start"
TGT=127.0.0.1:$(cat "$IT_WORK/targets.port")
SPORT=$(free_port)
SURL=http://127.0.0.1:$SPORT
SDATA=$IT_WORK/scraper-data
cat >"$IT_WORK/scraper.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    region: eu
    replica: r1
scrape_configs:
- job_name: static
  honor_labels: true
  metrics_path: /m/static.prom
  static_configs:
  - targets: ['$TGT']
EOF
start_bg "$IT_WORK/scraper.log" "$STRATA" scraper --config.file="$IT_WORK/scraper.yml" \
	--storage.tsdb.path="$SDATA" --web.listen-address="127.0.0.1:$SPORT" --storage.tsdb.block-duration=10s
SCRAPER_PID=$BG_PID
wait_for 60 "strata scraper ready on $SURL" curl -sf -m 2 "$SURL/-/ready" ||
	{ tail -n 20 "$IT_WORK/scraper.log"; die "strata scraper did not start"; }
start_sidecar sidecar-scraper --tsdb.path="$SDATA" --prometheus.url="$SURL"
STORE=$SC_GRPC
has_block() { [[ -n $(block_ulids "$SDATA") ]]; }
wait_for 60 "the scraper to cut a block" has_block || fail_check "the scraper cut no block"
sleep 3
wait_for 40 "Info's min_time to be the oldest block's" bash -c \
	"[[ \$('$STRATA' tools store info --store='$STORE' | grep '^min_time=') == min_time=\$(jq -s 'map(.minTime) | min' '$SDATA'/*/meta.json) ]]" ||
	fail_check "Info min_time $("$STRATA" tools store info --store="$STORE" | grep '^min_time=') is not the oldest block's"
TMAX=$(($(date +%s%3N) - 5000)) # every scrape at or before this has been committed
run_ok scraper_series 60 "$STRATA" tools store series --store="$STORE" --max-time="$TMAX" || true
curl -sf -m 10 "$SURL/api/v1/labels" | jq -r '.data[]' >"$IT_WORK/scraper_names.api"
with_ext "$IT_WORK/scraper_names.api" >"$IT_WORK/scraper_names.want"
check_labels scraper_names "$IT_WORK/scraper_names.want"
term_code "$SCRAPER_PID"
((TERM_RC == 0)) || fail_check "scraper exit code $TERM_RC"
promtool_dump "$SDATA" "$IT_WORK/scraper.raw" --max-time="$TMAX" &&
	python3 "$SIDECAR_DIR/ext_labels.py" "$IT_WORK/scraper.raw" "$EXT" >"$IT_WORK/scraper_series.want" &&
	compare_text "$IT_WORK/scraper_series.want" "$IT_WORK/scraper_series.out" \
		"scraper series up to T (promtool dump + labels)" || true
grep -q 'region="eu".*room="a b"' "$IT_WORK/scraper_series.out" ||
	fail_check "the stored region=\"us\" of temp{room=\"a b\"} was not overridden by the external label"
kill -0 "$SC_PID" 2>/dev/null || fail_check "the second sidecar died"
finish
