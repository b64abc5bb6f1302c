# lib_sidecar.sh — helpers of the sidecar integration tests, sourced after
# ../lib.sh (whose IT_WORK, IT_PIDS, stop_pid, free_port, fail_check ...
# they use). Extra environment: S3RVER_PREFIX (where install_s3rver.sh put
# node_modules), for the S3 tests only.
#
# Every process started here is recorded in IT_PIDS (stopped by lib.sh's
# EXIT trap) and watched by a subshell that stops it if this script is
# killed outright; every wait is bounded.

SIDECAR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# forget_pid PID — drop a PID we already stopped from IT_PIDS, so the exit
# trap never signals a recycled PID.
forget_pid() {
	local p keep=()
	for p in ${IT_PIDS[@]+"${IT_PIDS[@]}"}; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	IT_PIDS=(${keep[@]+"${keep[@]}"})
}

# start_bg LOG CMD... — run CMD in the background (stdout+stderr to LOG);
# sets BG_PID.
start_bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	IT_PIDS+=("$BG_PID")
	local target=$BG_PID
	(
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		kill -TERM "$target" 2>/dev/null
	) >/dev/null 2>&1 &
	IT_PIDS+=("$!")
}

# kill_now PID — SIGKILL (a crash) and reap.
kill_now() {
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

# term_code PID — SIGTERM, wait up to 20 s; sets TERM_RC to the exit code
# (124 when it did not exit and had to be killed). Not for $(...): wait
# only works in the shell that started the process.
term_code() {
	local pid=$1 i rc=0
	TERM_RC=0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		TERM_RC=124
	fi
	wait "$pid" 2>/dev/null || rc=$?
	((TERM_RC == 124)) || TERM_RC=$rc
	forget_pid "$pid"
}

# wait_for SECS WHAT CMD... — poll CMD every 0.2 s; a failed check on timeout.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	fail_check "timed out after ${secs}s waiting for: $what"
	return 1
}

# start_prom_cfg CFG DATADIR [prometheus flags...] — like lib.sh's
# start_prometheus with a given config; sets PROM_PID, PROM_URL, PROM_LOG.
start_prom_cfg() {
	local cfg=$1 datadir=$2
	shift 2
	PROM_PORT=$(free_port)
	PROM_URL=http://127.0.0.1:$PROM_PORT
	PROM_LOG=$IT_WORK/prometheus-$PROM_PORT.log
	sed -i "s/@PORT@/$PROM_PORT/g" "$cfg"
	start_bg "$PROM_LOG" "$PROMETHEUS" --config.file="$cfg" --storage.tsdb.path="$datadir" \
		--web.listen-address="127.0.0.1:$PROM_PORT" "$@"
	PROM_PID=$BG_PID
	wait_for 60 "prometheus ready on $PROM_URL" curl -sf -m 2 "$PROM_URL/-/ready" ||
		{ tail -n 20 "$PROM_LOG"; die "prometheus did not start"; }
	note "prometheus on $PROM_URL (pid $PROM_PID)"
}

# prom_config FILE LABELS_YAML — self-scraping config every second; @PORT@
# is filled in by start_prom_cfg. LABELS_YAML is the external_labels body
# ("" for none), e.g. "cluster: it\n    replica: r1".
prom_config() {
	{
		printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n'
		[[ -n $2 ]] && printf '  external_labels:\n    %b\n' "$2"
		printf 'scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ["127.0.0.1:@PORT@"]\n'
	} >"$1"
}

# start_sidecar NAME [sidecar flags...] — sets SC_PID, SC_URL, SC_LOG; waits
# until /-/healthy answers. Without a --grpc-address flag the StoreAPI goes
# to a free loopback port (SC_GRPC), not to the default 0.0.0.0:10901 that
# parallel tests would fight over.
start_sidecar() {
	local name=$1 port a grpc=()
	shift
	port=$(free_port)
	SC_URL=http://127.0.0.1:$port
	SC_LOG=$IT_WORK/$name.log
	SC_GRPC=
	for a in "$@"; do
		[[ $a == --grpc-address=* ]] && SC_GRPC=${a#--grpc-address=}
	done
	if [[ -z $SC_GRPC ]]; then
		SC_GRPC=127.0.0.1:$(free_port)
		grpc=(--grpc-address="$SC_GRPC")
	fi
	start_bg "$SC_LOG" "$STRATA" sidecar --http-address="127.0.0.1:$port" ${grpc[@]+"${grpc[@]}"} "$@"
	SC_PID=$BG_PID
	if ! wait_for 20 "$name healthy on $SC_URL" curl -sf -m 2 "$SC_URL/-/healthy"; then
		tail -n 20 "$SC_LOG"
		die "$name did not start"
	fi
	note "$name on $SC_URL (pid $SC_PID)"
}

# metric URL NAME — a sample value from URL/metrics (empty when absent).
metric() {
	curl -sf -m 5 "$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

# metric_ge URL NAME MIN — true when the metric is >= MIN.
metric_ge() {
	local v
	v=$(metric "$1" "$2")
	[[ -n $v ]] && python3 -c "import sys; sys.exit(0 if float('$v') >= $3 else 1)"
}

# shipped ULID... — true when thanos.shipper.json lists every ULID given
# (SHIPPER_STATE names the file).
shipped() {
	local u
	[[ -f $SHIPPER_STATE ]] || return 1
	for u in "$@"; do
		jq -e --arg u "$u" '.uploaded | index($u) != null' "$SHIPPER_STATE" >/dev/null || return 1
	done
}

# sample_blocks DIR — block ULIDs in DIR whose meta.json has samples.
sample_blocks() {
	local u
	for u in $(block_ulids "$1"); do
		if [[ $(jq -r '.stats.numSamples // 0' "$1/$u/meta.json" 2>/dev/null) -gt 0 ]]; then echo "$u"; fi
	done
}

# check_bucket_meta LOCAL_BLOCK_DIR BUCKET_META_JSON LABELS_JSON — the
# uploaded meta.json is the local one plus the expected thanos section.
check_bucket_meta() {
	local out
	if ! out=$(python3 - "$@" <<'PY'
import json, os, sys
local_dir, remote_path, labels = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
local = json.load(open(os.path.join(local_dir, "meta.json")))
remote = json.load(open(remote_path))
thanos = remote.pop("thanos", None)
problems = []
if remote != local:
    problems.append("Prometheus part differs: local %s, bucket %s" % (local, remote))
segs = sorted(os.listdir(os.path.join(local_dir, "chunks")))
files = [{"rel_path": "chunks/" + s, "size_bytes": os.path.getsize(os.path.join(local_dir, "chunks", s))} for s in segs]
files.append({"rel_path": "index", "size_bytes": os.path.getsize(os.path.join(local_dir, "index"))})
files.append({"rel_path": "meta.json"})
want = {"labels": labels, "downsample": {"resolution": 0}, "source": "sidecar", "segment_files": segs, "files": files}
if thanos != want:
    problems.append("thanos section %s, want %s" % (json.dumps(thanos), json.dumps(want)))
print("; ".join(problems))
sys.exit(1 if problems else 0)
PY
	); then
		fail_check "meta.json of $(basename "$1") in the bucket: $out"
		return 1
	fi
}

# dump_equal LOCAL_BLOCK_DIR DOWNLOADED_BLOCK_DIR — `strata tools tsdb dump`
# of each (alone in a scratch data dir) must be identical.
dump_equal() {
	local u a b
	u=$(basename "$1")
	a=$(mktemp -d "$IT_WORK/dump-local.XXXXXX")
	b=$(mktemp -d "$IT_WORK/dump-bucket.XXXXXX")
	cp -r "$1" "$a/"
	cp -r "$2" "$b/"
	strata_dump "$a" "$a.txt" || return 1
	strata_dump "$b" "$b.txt" || return 1
	compare_text "$a.txt" "$b.txt" "dump of block $u: local vs downloaded from the bucket"
}

# check_shipped DATA_DIR BUCKET_DIR OBJSTORE_YML LABELS_JSON — the bucket
# holds exactly the blocks of DATA_DIR that have samples, each with the
# expected meta.json, byte-equal files, no tombstones, and a dump of the
# downloaded copy equal to the local block's. Sets LOCAL to those ULIDs.
check_shipped() {
	local data=$1 bucket=$2 obj=$3 labels=$4 u f
	local -a remote
	mapfile -t LOCAL < <(sample_blocks "$data")
	mapfile -t remote < <(block_ulids "$bucket")
	if [[ "${LOCAL[*]}" != "${remote[*]}" ]]; then
		fail_check "bucket blocks (${remote[*]}) differ from local blocks with samples (${LOCAL[*]})"
	else
		note "OK bucket = local: ${remote[*]}"
	fi
	for u in "${LOCAL[@]}"; do
		[[ -f $bucket/$u/meta.json ]] || { fail_check "$u: no meta.json in the bucket"; continue; }
		check_bucket_meta "$data/$u" "$bucket/$u/meta.json" "$labels"
		for f in index $(cd "$data/$u" && ls chunks/*); do
			cmp -s "$data/$u/$f" "$bucket/$u/$f" || fail_check "$u/$f: bucket copy differs from the local file"
		done
		[[ ! -e $bucket/$u/tombstones ]] || fail_check "$u: tombstones were shipped"
		run_ok download_$u 60 "$STRATA" tools bucket download --objstore.config-file="$obj" "$u" "$IT_WORK/dl" &&
			dump_equal "$data/$u" "$IT_WORK/dl/$u"
	done
	note "checked meta.json, file bytes and dumps of ${#LOCAL[@]} block(s)"
}

# ---- S3 ----

# start_s3rver DATADIR PORT — sets S3_PID; s3rver knows the key S3RVER/S3RVER
# and the bucket "strata".
start_s3rver() {
	local data=$1 port=$2 js=${S3RVER_PREFIX:-}/node_modules/s3rver/bin/s3rver.js flags=()
	[[ -f $js ]] || die "s3rver not installed at $js (integration/objstore_install_s3rver)"
	# its listing continuation tokens use DES: OpenSSL 3's legacy provider
	if node --openssl-legacy-provider -e 'require("crypto").createCipheriv("des", Buffer.alloc(8), Buffer.alloc(8))' \
		>/dev/null 2>&1; then
		flags=(--openssl-legacy-provider)
	fi
	mkdir -p "$data"
	start_bg "$IT_WORK/s3rver-$port.log" node "${flags[@]}" "$js" -d "$data" -a 127.0.0.1 -p "$port" \
		--configure-bucket strata
	S3_PID=$BG_PID
	wait_for 30 "s3rver on port $port" curl -s -o /dev/null "http://127.0.0.1:$port/" ||
		{ tail -n 20 "$IT_WORK/s3rver-$port.log"; die "s3rver did not start"; }
	note "s3rver on 127.0.0.1:$port (pid $S3_PID)"
}

# s3_yml KEY SECRET PORT — objstore.yml for the s3rver bucket "strata".
s3_yml() {
	printf 'type: S3\nconfig:\n  bucket: strata\n  endpoint: 127.0.0.1:%s\n  access_key: %s\n  secret_key: %s\n' "$3" "$1" "$2"
	printf '  insecure: true\n  region: us-east-1\n  max_retries: 1\n'
}

# start_gate LISTEN UPSTREAM CTLDIR — the holding proxy (s3_gate.py); sets GATE_PID.
start_gate() {
	mkdir -p "$3"
	start_bg "$IT_WORK/gate.log" python3 "$SIDECAR_DIR/s3_gate.py" "$1" "$2" "$3" $$
	GATE_PID=$BG_PID
	wait_for 20 "gate proxy on port $1" python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" ||
		die "gate proxy did not start"
}
