#!/usr/bin/env bash
# strata store over a FILESYSTEM bucket holding two sets of blocks:
#   prom    written by real promtool 2.42 (create-blocks-from openmetrics),
#           uploaded with external labels {cluster="prom", replica="a"};
#   strata  written by `strata tools tsdb create-blocks-from` from other
#           data, uploaded with {cluster="strata", replica="a"}.
# For selectors covering every matcher type (regex alternations, negative
# matchers, matchers matching "", matchers on external labels, selectors
# matching nothing) and several time ranges (whole, inside one block,
# straddling blocks, outside), `strata tools store series` must print
# exactly what `strata tools tsdb dump` prints for the local blocks, with
# the external labels added (expect_series.py: relabel, filter by time,
# order by label set), also with without_replica_labels (the oracle strips
# the labels too). Also label names / values against the dumps' label
# sets, Info against the blocks' meta.json, /metrics, /-/ready, and a clean
# exit 0 on SIGTERM.
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
EXPECT=$HERE/expect_series.py

BUCKET=$IT_WORK/bucket
OBJ=$IT_WORK/objstore.yml
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$BUCKET" >"$OBJ"
mkdir -p "$BUCKET"
PROM=$IT_WORK/prom
STR=$IT_WORK/strata
PROM_EXT='cluster=prom,replica=a'
STR_EXT='cluster=strata,replica=a'

step "two sets of blocks: promtool's and strata's, from different data"
gen_input "$IT_WORK/prom.om" --series 100 --hours 6 --step 30
gen_input "$IT_WORK/strata.om" --series 120 --hours 5 --step 30 --start 1700003600
promtool_backfill "$IT_WORK/prom.om" "$PROM"
run_ok strata_backfill 120 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/strata.om" "$STR" || finish
note "strata wrote $(block_ulids "$STR" | wc -l) block(s) into $STR"

step "upload both sets with tools bucket upload-blocks"
# the prom set as a data directory, the strata set as block directories
run_ok upload_prom 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$OBJ" \
	--label=cluster=prom --label='replica="a"' "$PROM" || finish
mapfile -t str_blocks < <(block_ulids "$STR" | sed "s|^|$STR/|")
run_ok upload_strata 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$OBJ" \
	--label=cluster=strata --label=replica=a "${str_blocks[@]}" || finish
nblocks=$(($(block_ulids "$PROM" | wc -l) + ${#str_blocks[@]}))
if [[ $(block_ulids "$BUCKET" | wc -l) -ne $nblocks ]]; then
	fail_check "bucket holds $(block_ulids "$BUCKET" | wc -l) blocks, want $nblocks"
fi
for u in $(block_ulids "$BUCKET"); do
	want=prom
	[[ -d $STR/$u ]] && want=strata
	got=$(jq -r '.thanos.labels.cluster + "/" + .thanos.labels.replica' "$BUCKET/$u/meta.json")
	[[ $got == "$want/a" ]] || fail_check "block $u: thanos labels $got, want $want/a"
done
note "uploaded $nblocks blocks"

step "start strata store"
GRPC_PORT=$(free_port)
HTTP_PORT=$(free_port)
STORE=127.0.0.1:$GRPC_PORT
STORE_URL=http://127.0.0.1:$HTTP_PORT
"$STRATA" store --objstore.config-file="$OBJ" --data-dir="$IT_WORK/store-data" \
	--grpc-address="$STORE" --http-address="127.0.0.1:$HTTP_PORT" --log.level=debug \
	>"$IT_WORK/store.log" 2>&1 &
STORE_PID=$!
IT_PIDS+=("$STORE_PID")
(
	while kill -0 $$ 2>/dev/null; do sleep 1; done
	kill -TERM "$STORE_PID" 2>/dev/null
) >/dev/null 2>&1 &
IT_PIDS+=("$!")
deadline=$((SECONDS + 60))
until curl -sf -m 2 "$STORE_URL/-/ready" >/dev/null 2>&1; do
	if ! kill -0 "$STORE_PID" 2>/dev/null || ((SECONDS > deadline)); then
		tail -n 30 "$IT_WORK/store.log"
		die "strata store not ready on $STORE_URL within 60 s"
	fi
	sleep 0.2
done
note "store ready (pid $STORE_PID, grpc $STORE)"
loaded=$(curl -s -m 5 "$STORE_URL/metrics" | awk '$1 == "thanos_bucket_store_blocks_loaded" {print $2}')
[[ $loaded == "$nblocks" ]] || fail_check "blocks loaded: $loaded, want $nblocks"
for u in $(block_ulids "$BUCKET"); do
	[[ -s $IT_WORK/store-data/$u/index-header ]] || fail_check "no index-header for block $u"
done

step "Series: selectors x time ranges against tsdb dump of the local blocks"
# store selector @@ prom set's dump selector @@ strata set's dump selector
# (- = that set serves nothing, ALL = every series: dump without --match)
CASES=$(cat <<'EOF'
{__name__="strata_gen_requests_total"} @@ {__name__="strata_gen_requests_total"} @@ {__name__="strata_gen_requests_total"}
{__name__=~"strata_gen_(queue_length|constant)"} @@ {__name__=~"strata_gen_(queue_length|constant)"} @@ {__name__=~"strata_gen_(queue_length|constant)"}
strata_gen_requests_total{code!="200",method=~"GET|PUT"} @@ strata_gen_requests_total{code!="200",method=~"GET|PUT"} @@ strata_gen_requests_total{code!="200",method=~"GET|PUT"}
strata_gen_queue_length{jitter!="yes"} @@ strata_gen_queue_length{jitter!="yes"} @@ strata_gen_queue_length{jitter!="yes"}
{__name__=~"strata_gen_(temperature_celsius|constant)",zone!~"zone-(1|2).*"} @@ {__name__=~"strata_gen_(temperature_celsius|constant)",zone!~"zone-(1|2).*"} @@ {__name__=~"strata_gen_(temperature_celsius|constant)",zone!~"zone-(1|2).*"}
{__name__=~"strata_gen_(temperature_celsius|constant)",zone=""} @@ {__name__=~"strata_gen_(temperature_celsius|constant)",zone=""} @@ {__name__=~"strata_gen_(temperature_celsius|constant)",zone=""}
strata_gen_awkward{path=~".*a.*"} @@ strata_gen_awkward{path=~".*a.*"} @@ strata_gen_awkward{path=~".*a.*"}
{__name__=~"strata:gen:.+|strata_gen_special"} @@ {__name__=~"strata:gen:.+|strata_gen_special"} @@ {__name__=~"strata:gen:.+|strata_gen_special"}
{cluster="prom"} @@ ALL @@ -
{cluster="strata",jitter!~"no|yes"} @@ - @@ {jitter!~"no|yes",__name__=~".+"}
{cluster=~"prom|strata",__name__="strata_gen_constant"} @@ {__name__="strata_gen_constant"} @@ {__name__="strata_gen_constant"}
{cluster!="prom",replica="a",__name__="strata_gen_constant"} @@ - @@ {__name__="strata_gen_constant"}
{__name__="does_not_exist"} @@ - @@ -
{cluster="nope",__name__=~".+"} @@ - @@ -
{__name__="strata_gen_requests_total",code="999"} @@ - @@ -
EOF
)
# name:min:max (empty = no bound; the data spans 1700000000000..1700021600000
# every 30 s, blocks are aligned to 2 h: ..., 1700006400000, 1700013600000, ...;
# "boundary" holds two samples of each series on either side of one)
RANGES="whole:: inside:1700007000000:1700010000000 straddle:1700005000000:1700015000000 boundary:1700006370000:1700006430000 outside:1600000000000:1600000100000"

dump_set() { # dir selector out
	local dir=$1 sel=$2 out=$3
	if [[ $sel == - ]]; then
		: >"$out"
	elif [[ $sel == ALL ]]; then
		strata_dump "$dir" "$out"
	else
		strata_dump "$dir" "$out" --match="$sel"
	fi
}

ncase=0
nonempty=0
while IFS= read -r -u 3 line; do
	[[ -z $line ]] && continue
	ncase=$((ncase + 1))
	sel=${line%% @@ *}
	rest=${line#* @@ }
	psel=${rest%% @@ *}
	ssel=${rest#* @@ }
	dump_set "$PROM" "$psel" "$IT_WORK/c$ncase.prom.dump" || continue
	dump_set "$STR" "$ssel" "$IT_WORK/c$ncase.strata.dump" || continue
	for r in $RANGES; do
		IFS=: read -r rname rmin rmax <<<"$r"
		flags=()
		[[ -n $rmin ]] && flags+=(--min-time="$rmin" --max-time="$rmax")
		exp=$IT_WORK/c$ncase.$rname.exp
		python3 "$EXPECT" "${rmin:--9223372036854775808}" "${rmax:-9223372036854775807}" \
			"$IT_WORK/c$ncase.prom.dump" "$PROM_EXT" "$IT_WORK/c$ncase.strata.dump" "$STR_EXT" >"$exp" ||
			die "expect_series.py failed on case $ncase"
		[[ -s $exp ]] && nonempty=$((nonempty + 1))
		if run_ok "c$ncase.$rname" 60 "$STRATA" tools store series --store="$STORE" --match="$sel" "${flags[@]}"; then
			compare_text "$exp" "$IT_WORK/c$ncase.$rname.out" "series $sel [$rname]" || true
		fi
	done
done 3<<<"$CASES"
note "$ncase selectors x $(wc -w <<<"$RANGES") ranges compared; $nonempty expected outputs non-empty"
((nonempty >= 40)) || fail_check "only $nonempty non-empty expectations: the test data does not exercise the store"

step "Series with without_replica_labels: the external replica and a stored label taken off, sorted without them"
# replica is external to both sets; jitter is stored on some queue_length
# series (none of which then equals another): the store strips both from
# the whole set, as Thanos does
grep -q 'jitter=' "$IT_WORK/c2.prom.dump" || fail_check "no stored jitter label in the data: the check tests nothing"
python3 "$EXPECT" --without=replica,jitter -9223372036854775808 9223372036854775807 "$IT_WORK/c2.prom.dump" \
	"$PROM_EXT" "$IT_WORK/c2.strata.dump" "$STR_EXT" >"$IT_WORK/without.exp"
if run_ok without 60 "$STRATA" tools store series --store="$STORE" --without-replica-label=replica \
	--without-replica-label=jitter --match='{__name__=~"strata_gen_(queue_length|constant)"}'; then
	compare_text "$IT_WORK/without.exp" "$IT_WORK/without.out" "series without replica and jitter" || true
fi

step "Series with --skip-chunks: the label sets only"
exp=$IT_WORK/c1.whole.exp
sed 's/} [^ ]* [^ ]*$/}/' "$exp" | uniq >"$IT_WORK/labels.exp"
if run_ok labels_only 60 "$STRATA" tools store series --store="$STORE" --format=labels --skip-chunks \
	--match='{__name__="strata_gen_requests_total"}'; then
	compare_text "$IT_WORK/labels.exp" "$IT_WORK/labels_only.out" "series --skip-chunks label sets"
fi

step "LabelNames / LabelValues against the dumps' label sets"
strata_dump "$PROM" "$IT_WORK/all.prom.dump"
strata_dump "$STR" "$IT_WORK/all.strata.dump"
python3 "$EXPECT" -9223372036854775808 9223372036854775807 "$IT_WORK/all.prom.dump" "$PROM_EXT" \
	"$IT_WORK/all.strata.dump" "$STR_EXT" >"$IT_WORK/all.exp"
python3 "$EXPECT" -9223372036854775808 9223372036854775807 "$IT_WORK/all.strata.dump" "$STR_EXT" >"$IT_WORK/strata.exp"
# names and values of the expected label sets (simple values only: the
# awkward ones need unquoting and are covered by the Series comparison)
label_names() { grep -o '[{ ][a-zA-Z_:][a-zA-Z0-9_:]*="' "$1" | tr -d '{ ="' | LC_ALL=C sort -u; }
label_values() { grep -o "[{ ]$2=\"[^\"\\\\]*\"" "$1" | sed "s/^.$2=\"//; s/\"\$//" | LC_ALL=C sort -u; }
label_names "$IT_WORK/all.exp" >"$IT_WORK/names.exp"
if run_ok names 60 "$STRATA" tools store label-names --store="$STORE"; then
	compare_text "$IT_WORK/names.exp" "$IT_WORK/names.out" "label-names"
fi
label_names "$IT_WORK/strata.exp" >"$IT_WORK/names_strata.exp"
if run_ok names_strata 60 "$STRATA" tools store label-names --store="$STORE" --match='{cluster="strata"}'; then
	compare_text "$IT_WORK/names_strata.exp" "$IT_WORK/names_strata.out" "label-names {cluster=\"strata\"}"
fi
grep -F 'strata_gen_queue_length' "$IT_WORK/all.exp" | label_names /dev/stdin >"$IT_WORK/names_q.exp"
if run_ok names_q 60 "$STRATA" tools store label-names --store="$STORE" --match='strata_gen_queue_length'; then
	compare_text "$IT_WORK/names_q.exp" "$IT_WORK/names_q.out" "label-names strata_gen_queue_length"
fi
for lbl in cluster zone code __name__; do
	label_values "$IT_WORK/all.exp" "$lbl" >"$IT_WORK/values_$lbl.exp"
	if run_ok "values_$lbl" 60 "$STRATA" tools store label-values --store="$STORE" --label="$lbl"; then
		compare_text "$IT_WORK/values_$lbl.exp" "$IT_WORK/values_$lbl.out" "label-values $lbl"
	fi
done
label_values "$IT_WORK/strata.exp" __name__ >"$IT_WORK/values_name_strata.exp"
if run_ok values_name_strata 60 "$STRATA" tools store label-values --store="$STORE" --label=__name__ \
	--match='{cluster="strata"}'; then
	compare_text "$IT_WORK/values_name_strata.exp" "$IT_WORK/values_name_strata.out" "label-values __name__ {cluster=\"strata\"}"
fi
grep -F 'strata_gen_requests_total' "$IT_WORK/all.exp" | grep -F 'code="500"' |
	label_values /dev/stdin instance >"$IT_WORK/values_inst.exp"
if run_ok values_inst 60 "$STRATA" tools store label-values --store="$STORE" --label=instance \
	--match='strata_gen_requests_total{code="500"}'; then
	compare_text "$IT_WORK/values_inst.exp" "$IT_WORK/values_inst.out" "label-values instance {code=\"500\"}"
fi

step "Info against the blocks' meta.json"
mint=$(jq -s 'map(.minTime) | min' "$PROM"/*/meta.json "$STR"/*/meta.json)
maxt=$(jq -s 'map(.maxTime) | max' "$PROM"/*/meta.json "$STR"/*/meta.json)
pmin=$(jq -s 'map(.minTime) | min' "$PROM"/*/meta.json)
pmax=$(jq -s 'map(.maxTime) | max' "$PROM"/*/meta.json)
smin=$(jq -s 'map(.minTime) | min' "$STR"/*/meta.json)
smax=$(jq -s 'map(.maxTime) | max' "$STR"/*/meta.json)
cat >"$IT_WORK/info.exp" <<EOF
component=store
min_time=$mint
max_time=$maxt
supports_sharding=false
supports_without_replica_labels=true
label_set={cluster="prom", replica="a"}
label_set={cluster="strata", replica="a"}
tsdb_info={cluster="prom", replica="a"} min_time=$pmin max_time=$pmax
tsdb_info={cluster="strata", replica="a"} min_time=$smin max_time=$smax
EOF
if run_ok info 30 "$STRATA" tools store info --store="$STORE"; then
	compare_text "$IT_WORK/info.exp" "$IT_WORK/info.out" "info"
fi

step "/metrics"
curl -s -m 5 "$STORE_URL/metrics" >"$IT_WORK/metrics.txt" || fail_check "GET /metrics failed"
metric() { awk -v n="$1" '$1 == n {print $2}' "$IT_WORK/metrics.txt"; }
for m in thanos_bucket_store_block_load_failures_total thanos_blocks_meta_syncs_total \
	thanos_blocks_meta_sync_duration_seconds_sum 'thanos_store_index_cache_hits_total{item_type="Postings"}' \
	strata_store_index_cache_misses_total thanos_store_index_cache_total_size_bytes \
	'strata_store_bucket_fetched_bytes_total{data_type="chunks"}' strata_store_series_served_total; do
	[[ -n $(metric "$m") ]] || fail_check "/metrics lacks $m"
done
[[ $(metric thanos_bucket_store_block_load_failures_total) == 0 ]] || fail_check "block load failures"
served=$(metric strata_store_series_served_total)
[[ ${served:-0} -gt 0 ]] || fail_check "series served: ${served:-none}"
hits=$(metric 'thanos_store_index_cache_hits_total{item_type="Series"}')
[[ ${hits:-0} -gt 0 ]] || fail_check "no series cache hits after repeated queries"
note "series served $served, series cache hits $hits"
# ranged reads: far less than the blocks were read for all those queries
total=$(du -cb "$BUCKET"/*/index "$BUCKET"/*/chunks/* | tail -1 | cut -f1)
fetched=$(awk '$1 ~ /^strata_store_bucket_fetched_bytes_total/ {s += $2} END {print s}' "$IT_WORK/metrics.txt")
note "bytes read from the bucket: $fetched (blocks hold $total)"
for kind in postings series chunks index_header; do
	note "  $kind: $(metric "strata_store_bucket_fetched_bytes_total{data_type=\"$kind\"}")"
done
note "ranged reads: $(metric strata_store_bucket_get_range_total)"

step "SIGTERM: clean exit 0"
kill -TERM "$STORE_PID"
rc=0
timeout 20 tail --pid="$STORE_PID" -f /dev/null || true
wait "$STORE_PID" || rc=$?
((rc == 0)) || fail_check "store exited $rc on SIGTERM: $(tail -n 5 "$IT_WORK/store.log")"
if grep -q 'level=error' "$IT_WORK/store.log"; then
	fail_check "errors in the store log: $(grep 'level=error' "$IT_WORK/store.log" | head -3)"
fi
finish
