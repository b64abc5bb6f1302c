# lib_compactor.sh — helpers of the compactor tests, sourced after ../lib.sh.
# Brings in ../store/lib_store.sh (fs_bucket, and through it
# ../sidecar/lib_sidecar.sh: start_bg, term_code, wait_for, metric, kill_now).
#
# Blocks come from real promtool backfills; the bucket is a FILESYSTEM one
# whose directory the checks read directly (meta.json, markers).

source "$(dirname "${BASH_SOURCE[0]}")/../store/lib_store.sh"

BUCKET=$IT_WORK/bucket
OBJ=$IT_WORK/objstore.yml
fs_bucket "$BUCKET" "$OBJ"

# backfill OUT OM_FILE — promtool's 2h blocks of OM_FILE into OUT.
backfill() {
	run backfill 300 "$PROMTOOL" tsdb create-blocks-from openmetrics "$2" "$1" ||
		die "promtool create-blocks-from openmetrics $2 failed: $(head -c 600 "$IT_WORK/backfill.err")"
}

# gen_backfill OUT START_S HOURS SERIES STEP_S — generated data backfilled
# by promtool: HOURS/2 blocks of 2h when START_S is 2h-aligned.
gen_backfill() {
	"$GEN_OPENMETRICS" --series "$4" --hours "$3" --step "$5" --start "$2" >"$IT_WORK/gen.om" ||
		die "gen_openmetrics failed"
	backfill "$1" "$IT_WORK/gen.om"
}

# upload DIR LABEL... — `tools bucket upload-blocks` of every block in DIR.
upload() {
	local dir=$1 l args=()
	shift
	for l in "$@"; do args+=(--label="$l"); done
	run_ok upload 120 "$STRATA" tools bucket upload-blocks --objstore.config-file="$OBJ" "${args[@]}" "$dir" ||
		die "upload-blocks of $dir failed"
}

# sanitizer_clean LOG WHAT — a failed check when LOG holds a sanitizer report.
sanitizer_clean() {
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$1"; then
		fail_check "$2: sanitizer report: $(grep -E -m 3 'Sanitizer|runtime error:' "$1" | tr '\n' ' ')"
	fi
}

# compact NAME [flags...] — one-shot `strata compact` (output in NAME.log);
# returns its exit code. Blocks are fresh, so --consistency-delay=0s.
compact() {
	local name=$1 rc=0
	shift
	timeout -k 5 120 "$STRATA" compact --objstore.config-file="$OBJ" --data-dir="$IT_WORK/data" \
		--http-address=127.0.0.1:0 --consistency-delay=0s "$@" >"$IT_WORK/$name.log" 2>&1 || rc=$?
	sanitizer_clean "$IT_WORK/$name.log" "$name"
	return "$rc"
}

# compact_ok NAME [flags...] — compact, exit 0 or a failed check.
compact_ok() {
	local rc=0
	compact "$@" || rc=$?
	((rc == 0)) || fail_check "$1: strata compact exited $rc: $(grep -E 'level=error' "$IT_WORK/$1.log" | head -n 3 | tr '\n' ' ')"
	return "$rc"
}

# start_compact NAME [flags...] — `strata compact --wait` in the background
# on a free port; sets CP_PID, CP_URL, CP_LOG. Waits for /-/ready.
start_compact() {
	local name=$1 port
	shift
	port=$(free_port)
	CP_URL=http://127.0.0.1:$port
	CP_LOG=$IT_WORK/$name.log
	start_bg "$CP_LOG" "$STRATA" compact --objstore.config-file="$OBJ" --data-dir="$IT_WORK/data" \
		--http-address="127.0.0.1:$port" --consistency-delay=0s --wait "$@"
	CP_PID=$BG_PID
	wait_for 30 "$name ready on $CP_URL" curl -sf -m 2 "$CP_URL/-/ready" || { tail -n 20 "$CP_LOG"; die "$name did not start"; }
}

# wait_iterations N — until the running compactor finished N iterations.
wait_iterations() {
	wait_for 120 "$1 compactor iteration(s)" bash -c "[[ \$(curl -sf -m 5 '$CP_URL/metrics' | awk '\$1 == \"thanos_compact_iterations_total\" { print \$2 }') -ge $1 ]]"
}

# stop_compact WHAT — SIGTERM: exit 0 and a clean sanitizer log.
stop_compact() {
	term_code "$CP_PID"
	((TERM_RC == 0)) || fail_check "$1: exit code $TERM_RC on SIGTERM: $(tail -n 5 "$CP_LOG" | tr '\n' ' ')"
	sanitizer_clean "$CP_LOG" "$1"
}

# cmetric NAME — a sample of the running compactor's /metrics (NAME with labels).
cmetric() { metric "$CP_URL" "$1"; }

# Bucket blocks by state, ULIDs sorted: complete and unmarked (live),
# with a deletion mark, with a no-compact mark; every block directory.
live_blocks() {
	local d
	for d in "$BUCKET"/*/; do
		d=${d%/}
		if [[ -f $d/meta.json && ! -f $d/deletion-mark.json ]]; then basename "$d"; fi
	done | sort
}
marked_blocks() {
	local d
	for d in "$BUCKET"/*/; do
		d=${d%/}
		if [[ -f $d/$1 ]]; then basename "$d"; fi
	done | sort
}
all_blocks() { block_ulids "$BUCKET"; }

# meta ULID JQ — a field of a bucket block's meta.json.
meta() { jq -r "$2" "$BUCKET/$1/meta.json"; }

# dump_bucket_blocks OUT ULID... — download the blocks with `tools bucket
# download` and `promtool tsdb dump` them together.
dump_bucket_blocks() {
	local out=$1 dir u
	shift
	dir=$(mktemp -d "$IT_WORK/dl.XXXXXX")
	for u in "$@"; do
		run_ok download 60 "$STRATA" tools bucket download --objstore.config-file="$OBJ" "$u" "$dir" || return 1
	done
	promtool_dump "$dir" "$out"
	rm -rf "$dir"
}

# dump_local_blocks OUT DIR ULID... — promtool dump of local blocks of DIR.
dump_local_blocks() {
	local out=$1 src=$2 dir u
	shift 2
	dir=$(mktemp -d "$IT_WORK/loc.XXXXXX")
	for u in "$@"; do cp -r "$src/$u" "$dir/"; done
	promtool_dump "$dir" "$out"
	rm -rf "$dir"
}

# verify_bucket WHAT — `tools bucket verify` finds nothing.
verify_bucket() {
	run verify 120 "$STRATA" tools bucket verify --objstore.config-file="$OBJ" ||
		fail_check "$1: tools bucket verify: $(grep -v '^verified' "$IT_WORK/verify.out" | head -n 5 | tr '\n' ' ') $(head -c 300 "$IT_WORK/verify.err")"
}
