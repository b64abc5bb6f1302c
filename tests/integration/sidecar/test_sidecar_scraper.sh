#!/usr/bin/env bash
# strata sidecar next to a `strata scraper` (the other half of the sidecar's
# end-to-end test; test_sidecar_prometheus.sh is the Prometheus half): the
# scraper scrapes itself every second with external labels and 20 s blocks,
# the sidecar reads the labels from the scraper's /api/v1/status/config and
# ships its blocks to a FILESYSTEM bucket. The bucket must hold exactly the
# scraper's blocks with samples, each meta.json with the thanos section,
# byte-equal files, and `strata tools tsdb dump` of each downloaded block
# equal to the local one.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_sidecar.sh"

BUCKET=$IT_WORK/bucket
OBJ=$IT_WORK/objstore.yml
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$BUCKET" >"$OBJ"
mkdir -p "$BUCKET"
LABELS_JSON='{"cluster":"it","replica":"s1"}'

step "strata scraper with external labels and 20 s blocks; sidecar shipping every second"
SPORT=$(free_port)
SURL=http://127.0.0.1:$SPORT
SDATA=$IT_WORK/scraper-data
prom_config "$IT_WORK/scraper.yml" 'cluster: it\n    replica: s1'
sed -i "s/@PORT@/$SPORT/g" "$IT_WORK/scraper.yml"
start_bg "$IT_WORK/scraper.log" "$STRATA" scraper --config.file="$IT_WORK/scraper.yml" \
	--storage.tsdb.path="$SDATA" --web.listen-address="127.0.0.1:$SPORT" --storage.tsdb.block-duration=20s
SCRAPER_PID=$BG_PID
wait_for 60 "strata scraper ready on $SURL" curl -sf -m 2 "$SURL/-/ready" ||
	{ tail -n 20 "$IT_WORK/scraper.log"; die "strata scraper did not start"; }
start_sidecar sidecar --tsdb.path="$SDATA" --prometheus.url="$SURL" --objstore.config-file="$OBJ" \
	--shipper.sync-interval=1s
two_blocks_shipped() {
	local u
	mapfile -t u < <(sample_blocks "$SDATA")
	((${#u[@]} >= 2)) && shipped "${u[@]}"
}
SHIPPER_STATE=$SDATA/thanos.shipper.json
wait_for 150 "the scraper to cut two blocks and the sidecar to ship them" two_blocks_shipped || finish
term_code "$SCRAPER_PID"
all_shipped() {
	local u
	mapfile -t u < <(sample_blocks "$SDATA")
	shipped "${u[@]}"
}
wait_for 20 "the sidecar to ship the last blocks" all_shipped
term_code "$SC_PID"

step "the bucket holds exactly those blocks, each complete and with the thanos section"
check_shipped "$SDATA" "$BUCKET" "$OBJ" "$LABELS_JSON"
finish
