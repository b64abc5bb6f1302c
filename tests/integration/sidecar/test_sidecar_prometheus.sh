#!/usr/bin/env bash
# strata sidecar next to a real Prometheus 2.42 (20 s blocks, scraping
# itself every second), FILESYSTEM bucket:
#  - without external labels the sidecar refuses to start (exit 1);
#  - the blocks Prometheus cuts are shipped: the bucket holds exactly the
#    local blocks with samples, each meta.json is the local one plus the
#    thanos section (external labels from /api/v1/status/config,
#    resolution 0, source sidecar, files with sizes), data files are
#    byte-equal, tombstones are not shipped, and `strata tools tsdb dump`
#    of each downloaded block equals the dump of the local one;
#  - /metrics, /-/ready, clean exit 0 on SIGTERM;
#  - a restarted sidecar uploads nothing again (with the state file, and
#    without it: then it finds the blocks in the bucket);
#  - `strata tools bucket ls|inspect|verify|cleanup` on the result plus a
#    stale and a fresh partial upload, an overlapping copy and a deletion mark;
#  - compacted (level 2) blocks: skipped unless --shipper.upload-compacted,
#    and then refused when they overlap a bucket block of the same labels.
# The same check against `strata scraper`: test_sidecar_scraper.sh.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_sidecar.sh"

BUCKET=$IT_WORK/bucket
OBJ=$IT_WORK/objstore.yml
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$BUCKET" >"$OBJ"
mkdir -p "$BUCKET"
LABELS_JSON='{"cluster":"it","replica":"r1"}'

step "refuse to start without external labels"
prom_config "$IT_WORK/noext.yml" ""
start_prom_cfg "$IT_WORK/noext.yml" "$IT_WORK/noext-data"
rc=0
run sidecar_noext 30 "$STRATA" sidecar --tsdb.path="$IT_WORK/noext-data" --prometheus.url="$PROM_URL" \
	--objstore.config-file="$OBJ" --http-address="127.0.0.1:$(free_port)" || rc=$?
if ((rc != 1)); then
	fail_check "sidecar without external labels: want exit 1, got $(describe_rc sidecar_noext "$rc")"
elif ! grep -q 'no external labels configured' "$IT_WORK/sidecar_noext.err"; then
	fail_check "sidecar without external labels: no clear error: $(head -c 400 "$IT_WORK/sidecar_noext.err")"
else
	note "OK exit 1: $(grep -o 'msg="no external labels[^"]*' "$IT_WORK/sidecar_noext.err" | head -c 90)..."
fi
term_code "$PROM_PID"

step "Prometheus with external labels and 20 s blocks; sidecar shipping every second"
PDATA=$IT_WORK/prom-data
prom_config "$IT_WORK/prom.yml" 'cluster: it\n    replica: r1'
start_prom_cfg "$IT_WORK/prom.yml" "$PDATA" --storage.tsdb.min-block-duration=20s \
	--storage.tsdb.max-block-duration=20s --storage.tsdb.retention.time=1d
start_sidecar sidecar1 --tsdb.path="$PDATA" --prometheus.url="$PROM_URL" --objstore.config-file="$OBJ" \
	--shipper.sync-interval=1s --log.level=debug
curl -s -m 5 -o /dev/null -w '%{http_code}' "$SC_URL/-/ready" >"$IT_WORK/ready.code" || true
SHIPPER_STATE=$PDATA/thanos.shipper.json
two_blocks_shipped() {
	local u
	mapfile -t u < <(sample_blocks "$PDATA")
	((${#u[@]} >= 2)) && shipped "${u[@]}"
}
wait_for 150 "Prometheus to cut two blocks and the sidecar to ship them" two_blocks_shipped || finish
note "Prometheus cut $(sample_blocks "$PDATA" | wc -l) block(s) so far; stopping it"
term_code "$PROM_PID"
all_shipped() {
	local u
	mapfile -t u < <(sample_blocks "$PDATA")
	shipped "${u[@]}"
}
wait_for 20 "the sidecar to ship the last blocks" all_shipped
step "the bucket holds exactly those blocks, each complete and with the thanos section"
check_shipped "$PDATA" "$BUCKET" "$OBJ" "$LABELS_JSON"

step "metrics, readiness, clean shutdown"
[[ $(cat "$IT_WORK/ready.code") == 200 ]] || fail_check "/-/ready answered $(cat "$IT_WORK/ready.code"), want 200"
v=$(metric "$SC_URL" thanos_shipper_uploads_total)
[[ $v == "${#LOCAL[@]}" ]] || fail_check "thanos_shipper_uploads_total = '$v', want ${#LOCAL[@]}"
v=$(metric "$SC_URL" thanos_shipper_upload_failures_total)
[[ $v == 0 ]] || fail_check "thanos_shipper_upload_failures_total = '$v', want 0"
metric_ge "$SC_URL" thanos_shipper_last_successful_upload_time 1e9 ||
	fail_check "thanos_shipper_last_successful_upload_time not set"
ct=$(curl -s -m 5 -o /dev/null -w '%{content_type}' "$SC_URL/metrics")
[[ $ct == "text/plain; version=0.0.4; charset=utf-8" ]] || fail_check "/metrics content type '$ct'"
n=$(grep -c 'msg="upload new block"' "$SC_LOG" || true)
((n == ${#LOCAL[@]})) || fail_check "sidecar logged $n uploads, want ${#LOCAL[@]}"
term_code "$SC_PID"
((TERM_RC == 0)) || fail_check "sidecar exit code on SIGTERM: $TERM_RC, want 0"
grep -q 'caught signal' "$SC_LOG" || fail_check "sidecar did not log the signal"
note "OK: ${#LOCAL[@]} uploads counted, exit 0 on SIGTERM"

step "a restarted sidecar uploads nothing again"
# Prometheus is stopped (it would cut new blocks); a second one with the
# same labels answers the config API.
prom_config "$IT_WORK/prom2.yml" 'cluster: it\n    replica: r1'
start_prom_cfg "$IT_WORK/prom2.yml" "$IT_WORK/prom2-data"
for round in with-state without-state; do
	[[ $round == without-state ]] && rm -f "$SHIPPER_STATE"
	start_sidecar "sidecar-$round" --tsdb.path="$PDATA" --prometheus.url="$PROM_URL" --objstore.config-file="$OBJ" \
		--shipper.sync-interval=1s
	wait_for 20 "a shipper pass of sidecar-$round" metric_ge "$SC_URL" thanos_shipper_dir_syncs_total 1
	v=$(metric "$SC_URL" thanos_shipper_uploads_total)
	[[ $v == 0 ]] || fail_check "$round: restarted sidecar uploaded $v block(s)"
	if [[ $round == without-state ]]; then
		n=$(grep -c 'block already in the bucket' "$SC_LOG" || true)
		((n == ${#LOCAL[@]})) || fail_check "$round: $n block(s) found in the bucket, want ${#LOCAL[@]}"
		shipped "${LOCAL[@]}" || fail_check "$round: state file not rebuilt with every block"
	fi
	term_code "$SC_PID"
	note "OK $round: nothing uploaded again"
done
term_code "$PROM_PID"

step "bucket tools on the shipped blocks"
run_ok bucket_ls 60 "$STRATA" tools bucket ls --objstore.config-file="$OBJ"
n=$(grep -c '{cluster="it", replica="r1"}  resolution=0s  size=' "$IT_WORK/bucket_ls.out" || true)
((n == ${#LOCAL[@]})) || fail_check "bucket ls: $n complete block lines, want ${#LOCAL[@]}: $(head -c 300 "$IT_WORK/bucket_ls.out")"
run_ok bucket_inspect 60 "$STRATA" tools bucket inspect --objstore.config-file="$OBJ"
n=$(grep -c '| sidecar |' "$IT_WORK/bucket_inspect.out" || true)
((n == ${#LOCAL[@]})) || fail_check "bucket inspect: $n rows, want ${#LOCAL[@]}"
head -n 3 "$IT_WORK/bucket_inspect.out" | cut -c1-150 | sed 's/^/   /'
run_ok bucket_verify 120 "$STRATA" tools bucket verify --objstore.config-file="$OBJ" &&
	note "OK verify: $(tail -n 1 "$IT_WORK/bucket_verify.out")"

step "verify and cleanup: partial uploads, an overlap, a deletion mark"
FIRST=${LOCAL[0]}
STALE=01ARZ3NDEKTSV4RRFFQ69G5FAV FRESH=01BX5ZZKBKACTAV9WEVGEMMVRZ DUP=01CX5ZZKBKACTAV9WEVGEMMVRZ
mkdir -p "$BUCKET/$STALE/chunks" "$BUCKET/$FRESH"
cp "$PDATA/$FIRST/chunks/000001" "$BUCKET/$STALE/chunks/"
touch -d '3 hours ago' "$BUCKET/$STALE/chunks/000001"
cp "$PDATA/$FIRST/index" "$BUCKET/$FRESH/"
cp -r "$BUCKET/$FIRST" "$BUCKET/$DUP"
jq --arg u "$DUP" '.ulid = $u' "$BUCKET/$FIRST/meta.json" >"$BUCKET/$DUP/meta.json"
rc=0
run bucket_verify2 120 "$STRATA" tools bucket verify --objstore.config-file="$OBJ" || rc=$?
((rc == 1)) || fail_check "verify with problems: exit $rc, want 1"
for want in "^$STALE  partial upload" "^$FRESH  partial upload" "3 issue\(s\)"; do
	grep -qE "$want" "$IT_WORK/bucket_verify2.out" || fail_check "verify output lacks /$want/: $(cat "$IT_WORK/bucket_verify2.out")"
done
grep overlap "$IT_WORK/bucket_verify2.out" | grep "$DUP" | grep -q "$FIRST" ||
	fail_check "verify does not report $DUP overlapping $FIRST: $(cat "$IT_WORK/bucket_verify2.out")"
run_ok cleanup_dry 60 "$STRATA" tools bucket cleanup --objstore.config-file="$OBJ" --delete-delay=1h --dry-run
grep -qF "$STALE  would delete partial upload" "$IT_WORK/cleanup_dry.out" ||
	fail_check "dry run does not plan to delete the stale partial upload: $(cat "$IT_WORK/cleanup_dry.out")"
[[ -d $BUCKET/$STALE ]] || fail_check "--dry-run deleted something"
printf '{"id":"%s","version":1,"details":"test","deletion_time":%d}' "$DUP" $(($(date +%s) - 7200)) \
	>"$BUCKET/$DUP/deletion-mark.json"
run_ok cleanup 60 "$STRATA" tools bucket cleanup --objstore.config-file="$OBJ" --delete-delay=1h
[[ ! -e $BUCKET/$STALE && ! -e $BUCKET/$DUP ]] ||
	fail_check "cleanup kept the stale partial upload or the marked block: $(ls "$BUCKET")"
[[ -d $BUCKET/$FRESH ]] || fail_check "cleanup deleted the fresh partial upload (younger than --delete-delay)"
grep -qF "$FRESH  keeping partial upload" "$IT_WORK/cleanup.out" || fail_check "cleanup does not report keeping $FRESH"
run_ok cleanup0 60 "$STRATA" tools bucket cleanup --objstore.config-file="$OBJ" --delete-delay=0s
mapfile -t REMOTE < <(block_ulids "$BUCKET")
[[ "${LOCAL[*]}" == "${REMOTE[*]}" ]] || fail_check "after cleanup the bucket holds ${REMOTE[*]}, want ${LOCAL[*]}"
run_ok bucket_verify3 120 "$STRATA" tools bucket verify --objstore.config-file="$OBJ" &&
	note "OK cleanup: only the shipped blocks are left and verify is clean"

step "compacted blocks: skipped by default, shipped with --shipper.upload-compacted unless they overlap"
T3=$IT_WORK/tsdb-compacted
OVER=01DX5ZZKBKACTAV9WEVGEMMVRZ
mkdir -p "$T3/$OVER"
cp -r "$PDATA/$FIRST/chunks" "$PDATA/$FIRST/index" "$T3/$OVER/"
jq --arg u "$OVER" '.ulid = $u | .compaction.level = 2' "$PDATA/$FIRST/meta.json" >"$T3/$OVER/meta.json"
gen_input "$IT_WORK/old.om" --series 30 --hours 1
run_ok backfill_old 120 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/old.om" "$IT_WORK/old" || finish
OLD=$(block_ulids "$IT_WORK/old" | head -n 1)
mkdir -p "$T3/$OLD"
cp -r "$IT_WORK/old/$OLD/chunks" "$IT_WORK/old/$OLD/index" "$T3/$OLD/"
jq '.compaction.level = 2' "$IT_WORK/old/$OLD/meta.json" >"$T3/$OLD/meta.json"
start_prom_cfg "$IT_WORK/prom2.yml" "$IT_WORK/prom2-data"
start_sidecar sidecar-compacted-off --tsdb.path="$T3" --prometheus.url="$PROM_URL" --objstore.config-file="$OBJ" \
	--shipper.sync-interval=1s
wait_for 20 "a shipper pass" metric_ge "$SC_URL" thanos_shipper_dir_syncs_total 1
[[ $(metric "$SC_URL" thanos_shipper_uploads_total) == 0 ]] || fail_check "compacted blocks uploaded without the flag"
term_code "$SC_PID"
start_sidecar sidecar-compacted-on --tsdb.path="$T3" --prometheus.url="$PROM_URL" --objstore.config-file="$OBJ" \
	--shipper.sync-interval=1s --shipper.upload-compacted
SHIPPER_STATE=$T3/thanos.shipper.json
wait_for 20 "the non-overlapping compacted block shipped" shipped "$OLD"
wait_for 20 "the overlapping one refused" grep -q "block=$OVER .*overlaps bucket block $FIRST" "$SC_LOG"
! shipped "$OVER" || fail_check "the overlapping compacted block was recorded as shipped"
[[ ! -e $BUCKET/$OVER ]] || fail_check "the overlapping compacted block went to the bucket"
check_bucket_meta "$T3/$OLD" "$BUCKET/$OLD/meta.json" "$LABELS_JSON"
term_code "$SC_PID"
term_code "$PROM_PID"
note "OK: level-2 block $OLD shipped only with the flag; $OVER refused (overlaps $FIRST)"

finish
