#!/usr/bin/env bash
# bench/upload: MB/s shipping one block's files (chunks/000001, index,
# meta.json) to a bucket with st_objstore_upload_file, median of 5:
#   FILESYSTEM bucket (tmp + fsync + rename, like every Strata durable write)
#   S3 through s3rver on loopback (SigV4/libcurl; multipart above part_size)
#   cp -r of the same files (the local limit), and cp -r + sync (durable)
# Usage: run.sh BUILD_DIR   (BENCH_CHUNK_MB, BENCH_INDEX_MB size the block)
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/bench/upload_bench
[[ -x $bench ]] || { echo "FATAL: $bench not built" >&2; exit 1; }
chunk_mb=${BENCH_CHUNK_MB:-256}
index_mb=${BENCH_INDEX_MB:-32}
work=$(mktemp -d "${TMPDIR:-/tmp}/upload_bench.XXXXXX")
s3pid=
cleanup() {
	if [[ -n $s3pid ]]; then kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

blk=$work/src/01BENCHBLOCK000000000000000
mkdir -p "$blk/chunks"
head -c $((chunk_mb << 20)) /dev/urandom >"$blk/chunks/000001"
head -c $((index_mb << 20)) /dev/urandom >"$blk/index"
printf '{"ulid":"01BENCHBLOCK000000000000000","version":1}\n' >"$blk/meta.json"
total_mb=$(du -sb "$work/src" | awk '{printf "%.1f", $1 / 1e6}')

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mbps() { # SECONDS -> MB/s of the block
	awk -v s="$1" -v b="$(du -sb "$work/src" | cut -f1)" 'BEGIN {printf "%.1f", b / 1e6 / s}'
}
time_cmd() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN {print e - s}'; }

cat >"$work/fs.yml" <<YML
type: FILESYSTEM
config:
  directory: $work/fsbucket
YML
fs=$("$bench" "$work/fs.yml" "$work/src" 5)

bash "$here/../../tests/integration/objstore/install_s3rver.sh" "$build/node" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
flags=()
node --openssl-legacy-provider -e 1 >/dev/null 2>&1 && flags=(--openssl-legacy-provider)
mkdir -p "$work/s3data"
node "${flags[@]}" "$build/node/node_modules/s3rver/bin/s3rver.js" -d "$work/s3data" -a 127.0.0.1 -p "$port" \
	--configure-bucket bench --silent >/dev/null 2>&1 &
s3pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
cat >"$work/s3.yml" <<YML
type: S3
config:
  bucket: bench
  endpoint: 127.0.0.1:$port
  access_key: S3RVER
  secret_key: S3RVER
  insecure: true
YML
s3=$("$bench" "$work/s3.yml" "$work/src" 5)

cp_s=$(for i in 1 2 3 4 5; do rm -rf "$work/cp"; time_cmd cp -r "$work/src" "$work/cp"; done | median)
cps_s=$(for i in 1 2 3 4 5; do rm -rf "$work/cp"; time_cmd bash -c "cp -r '$work/src' '$work/cp' && sync -f '$work/cp'"; done | median)

echo "block: $total_mb MB (chunks/000001 ${chunk_mb} MiB, index ${index_mb} MiB, meta.json), median of 5"
printf '%-44s %10s\n' "" "MB/s"
printf '%-44s %10s\n' "strata objstore FILESYSTEM (fsync'd)" "$fs"
printf '%-44s %10s\n' "strata objstore S3 -> s3rver (loopback)" "$s3"
printf '%-44s %10s\n' "cp -r (page cache, local limit)" "$(mbps "$cp_s")"
printf '%-44s %10s\n' "cp -r + sync" "$(mbps "$cps_s")"
