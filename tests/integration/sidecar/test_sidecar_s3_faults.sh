#!/usr/bin/env bash
# strata sidecar against an S3 server (s3rver) that fails under it. Blocks
# are backfilled with strata (4 blocks); a real Prometheus only answers the
# config API (external labels). The sidecar talks to s3rver through
# s3_gate.py, a proxy that can hold one chosen request, so "mid-upload" is
# exact: chunks of a block are in, its index is not.
#  A. s3rver killed (SIGKILL) while block 2's index upload is held: the
#     upload fails, block 2 stays partial (chunks, no meta.json) and out of
#     thanos.shipper.json, the sidecar keeps running and retrying; s3rver
#     restarted: block 2 goes up, and nothing shipped before goes up again.
#  B. the sidecar killed (SIGKILL) while block 3's index upload is held:
#     `tools bucket ls` lists block 3 as a partial upload, never as a block;
#     a new sidecar uploads block 3 whole (chunks again) and block 4.
#  C. bad credentials: clear InvalidAccessKeyId error every pass, no crash,
#     secret never logged, exit 0 on SIGTERM.
# At the end the bucket holds exactly the 4 blocks, verify is clean, and
# every downloaded block dumps like the local one.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_sidecar.sh"

LOCAL=$IT_WORK/tsdb
S3DATA=$IT_WORK/s3data
CTL=$IT_WORK/gate
S3_PORT=$(free_port)
GATE_PORT=$(free_port)
SHIPPER_STATE=$LOCAL/thanos.shipper.json
LABELS_JSON='{"cluster":"s3","replica":"a"}'

step "four blocks backfilled with strata; Prometheus for the external labels; s3rver behind the gate"
gen_input "$IT_WORK/in.om" --series 40 --hours 7
run_ok backfill 300 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/in.om" "$LOCAL" || finish
mapfile -t B < <(block_ulids "$LOCAL") # ULIDs sort by creation, which is minTime order here
sorted=$(for u in "${B[@]}"; do echo "$(jq .minTime "$LOCAL/$u/meta.json") $u"; done | sort -n | awk '{print $2}')
mapfile -t B <<<"$sorted"
((${#B[@]} == 4)) || { fail_check "want 4 backfilled blocks, got ${#B[@]}"; finish; }
note "blocks: ${B[*]}"
prom_config "$IT_WORK/prom.yml" 'cluster: s3\n    replica: a'
start_prom_cfg "$IT_WORK/prom.yml" "$IT_WORK/prom-data"
start_s3rver "$S3DATA" "$S3_PORT"
start_gate "$GATE_PORT" "$S3_PORT" "$CTL"
s3_yml S3RVER S3RVER "$GATE_PORT" >"$IT_WORK/via-gate.yml"
s3_yml S3RVER S3RVER "$S3_PORT" >"$IT_WORK/direct.yml"

step "A: s3rver killed while block 2 is half uploaded"
echo "^PUT /strata/${B[1]}/index" >"$CTL/gate"
start_sidecar sidecar1 --tsdb.path="$LOCAL" --prometheus.url="$PROM_URL" --objstore.config-file="$IT_WORK/via-gate.yml" \
	--shipper.sync-interval=1s
wait_for 60 "the index upload of block 2 to be held" test -f "$CTL/held" || finish
[[ -f $S3DATA/strata/${B[1]}/chunks/000001._S3rver_object ]] || fail_check "block 2's chunks are not in s3rver yet"
[[ -f $S3DATA/strata/${B[0]}/meta.json._S3rver_object ]] || fail_check "block 1 is not complete in s3rver"
kill_now "$S3_PID"
touch "$CTL/release"
wait_for 60 "the sidecar to report block 2's upload as failed" grep -q "msg=\"shipping failed\" block=${B[1]}" "$SC_LOG"
[[ ! -e $S3DATA/strata/${B[1]}/meta.json._S3rver_object ]] || fail_check "block 2 has a meta.json after a failed upload"
shipped "${B[0]}" || fail_check "block 1 is not recorded as shipped"
! shipped "${B[1]}" || fail_check "half-uploaded block 2 is recorded as shipped"
sleep 2 # a couple more passes against the dead server
kill -0 "$SC_PID" 2>/dev/null || fail_check "the sidecar died while s3rver was down"
metric_ge "$SC_URL" thanos_shipper_upload_failures_total 2 || fail_check "upload failures not counted across passes"
grep "shipping failed" "$SC_LOG" | head -n 1 | cut -c1-230 | sed 's/^/   /'
# B waits at block 3's index once s3rver is back
echo "^PUT /strata/${B[2]}/index" >"$CTL/gate"
start_s3rver "$S3DATA" "$S3_PORT"
wait_for 60 "block 2 shipped after s3rver came back" shipped "${B[1]}"
n=$(grep -c "^PUT /strata/${B[0]}/meta.json" "$CTL/requests.log" || true)
((n == 1)) || fail_check "block 1's meta.json was uploaded $n times, want once"
note "OK: block 2 retried and shipped; block 1 not uploaded again"

step "B: the sidecar killed while block 3 is half uploaded"
wait_for 60 "the index upload of block 3 to be held" test -f "$CTL/held" || finish
kill_now "$SC_PID"
touch "$CTL/release"
wait_for 20 "the gate to let go" test ! -f "$CTL/held"
run_ok ls_partial 60 "$STRATA" tools bucket ls --objstore.config-file="$IT_WORK/direct.yml"
grep -qF "${B[2]}  partial upload (no meta.json)" "$IT_WORK/ls_partial.out" ||
	fail_check "ls does not show block 3 as a partial upload: $(cat "$IT_WORK/ls_partial.out")"
! grep -q "^${B[2]}.*resolution=" "$IT_WORK/ls_partial.out" || fail_check "ls lists half-uploaded block 3 as a block"
! grep -q "^${B[3]}" "$IT_WORK/ls_partial.out" || fail_check "block 4 is in the bucket before it was uploaded"
before=$(grep -c "^PUT /strata/${B[2]}/chunks/000001" "$CTL/requests.log" || true)
start_sidecar sidecar2 --tsdb.path="$LOCAL" --prometheus.url="$PROM_URL" --objstore.config-file="$IT_WORK/via-gate.yml" \
	--shipper.sync-interval=1s
wait_for 60 "blocks 3 and 4 shipped by the restarted sidecar" shipped "${B[@]}"
after=$(grep -c "^PUT /strata/${B[2]}/chunks/000001" "$CTL/requests.log" || true)
((after == before + 1)) || fail_check "block 3's chunks went up $before then $after times, want a whole re-upload"
for u in "${B[0]}" "${B[1]}"; do
	n=$(grep -c "^PUT /strata/$u/meta.json" "$CTL/requests.log" || true)
	((n == 1)) || fail_check "block $u: meta.json uploaded $n times, want once"
done
v=$(metric "$SC_URL" thanos_shipper_uploads_total)
[[ $v == 2 ]] || fail_check "restarted sidecar uploaded $v blocks, want 2"
term_code "$SC_PID"
((TERM_RC == 0)) || fail_check "sidecar2 exit code on SIGTERM: $TERM_RC"
note "OK: block 3 re-uploaded whole, blocks 1 and 2 untouched"

step "the bucket holds exactly the four blocks, complete"
run_ok ls_final 60 "$STRATA" tools bucket ls --objstore.config-file="$IT_WORK/direct.yml"
mapfile -t REMOTE < <(awk '{print $1}' "$IT_WORK/ls_final.out")
[[ "${REMOTE[*]}" == "$(printf '%s\n' "${B[@]}" | sort | xargs)" ]] ||
	fail_check "bucket lists ${REMOTE[*]}, want ${B[*]}"
grep -q partial "$IT_WORK/ls_final.out" && fail_check "a partial upload is left: $(cat "$IT_WORK/ls_final.out")"
run_ok verify 120 "$STRATA" tools bucket verify --objstore.config-file="$IT_WORK/direct.yml" &&
	note "OK verify: $(tail -n 1 "$IT_WORK/verify.out")"
for u in "${B[@]}"; do
	run_ok dl_$u 60 "$STRATA" tools bucket download --objstore.config-file="$IT_WORK/direct.yml" "$u" "$IT_WORK/dl" ||
		continue
	check_bucket_meta "$LOCAL/$u" "$IT_WORK/dl/$u/meta.json" "$LABELS_JSON"
	dump_equal "$LOCAL/$u" "$IT_WORK/dl/$u"
done

step "C: bad credentials"
SECRET=TopSecretValue42
s3_yml WRONGKEY "$SECRET" "$S3_PORT" >"$IT_WORK/bad.yml"
mkdir -p "$IT_WORK/tsdb2"
cp -r "$LOCAL/${B[0]}" "$IT_WORK/tsdb2/"
start_sidecar sidecar3 --tsdb.path="$IT_WORK/tsdb2" --prometheus.url="$PROM_URL" --objstore.config-file="$IT_WORK/bad.yml" \
	--shipper.sync-interval=1s
two_failures() { (($(grep -c 'msg="shipping failed".*InvalidAccessKeyId' "$SC_LOG") >= 2)); }
wait_for 30 "two passes failing with InvalidAccessKeyId" two_failures
grep -m 1 InvalidAccessKeyId "$SC_LOG" | cut -c1-250 | sed 's/^/   /'
kill -0 "$SC_PID" 2>/dev/null || fail_check "sidecar with bad credentials died"
[[ $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$SC_URL/-/healthy") == 200 ]] || fail_check "/-/healthy not 200"
SHIPPER_STATE=$IT_WORK/tsdb2/thanos.shipper.json
! shipped "${B[0]}" || fail_check "block recorded as shipped with bad credentials"
term_code "$SC_PID"
((TERM_RC == 0)) || fail_check "sidecar3 exit code on SIGTERM: $TERM_RC"
grep -q "$SECRET" "$SC_LOG" "$IT_WORK"/sidecar*.log && fail_check "the secret key appears in a log"
note "OK: clear error each pass, still running, exit 0"

finish
