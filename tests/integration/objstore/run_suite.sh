#!/usr/bin/env bash
# Runs objstore_suite against one backend:
#   run_suite.sh filesystem   a FILESYSTEM bucket in a scratch directory
#   run_suite.sh s3           s3rver on a free loopback port, SigV4 (libcurl)
#   run_suite.sh s3v2         s3rver --allow-mismatched-signatures, SigV2 (libs3)
# The S3 modes also run the fault checks: bad credentials and a server that
# is down. Environment (from ctest): SUITE (the objstore_suite binary),
# S3RVER_PREFIX (where install_s3rver.sh put node_modules), TMPDIR.
# Every wait is bounded; s3rver is stopped by PID on exit.
set -euo pipefail
MODE=${1:?usage: run_suite.sh filesystem|s3|s3v2}
: "${SUITE:?SUITE must name the objstore_suite binary}"
mkdir -p "${TMPDIR:-/tmp}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/objstore_$MODE.XXXXXX")
S3RVER_PID=

cleanup() {
	local rc=$?
	if [[ -n $S3RVER_PID ]]; then
		kill -TERM "$S3RVER_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$S3RVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$S3RVER_PID" 2>/dev/null || true
		wait "$S3RVER_PID" 2>/dev/null || true
	fi
	if [[ $rc -ne 0 && -f $WORK/s3rver.log ]]; then
		echo "--- s3rver log (last 40 lines)"; tail -n 40 "$WORK/s3rver.log"
	fi
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT

export SCRATCH=$WORK/scratch
mkdir -p "$SCRATCH"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

if [[ $MODE == filesystem ]]; then
	cat >"$WORK/objstore.yml" <<YML
type: FILESYSTEM
config:
  directory: $WORK/bucket
YML
	"$SUITE" "$WORK/objstore.yml"
	exit 0
fi

: "${S3RVER_PREFIX:?S3RVER_PREFIX must name the s3rver install prefix}"
S3RVER_JS=$S3RVER_PREFIX/node_modules/s3rver/bin/s3rver.js
[[ -f $S3RVER_JS ]] || { echo "FATAL: $S3RVER_JS missing (install_s3rver.sh)" >&2; exit 1; }
SIGV2=false
EXTRA=()
if [[ $MODE == s3v2 ]]; then
	SIGV2=true
	# libs3 signs bucket-level calls for "/bucket/" where s3rver expects "/bucket"
	EXTRA=(--allow-mismatched-signatures)
	export SUITE_NO_SPACES=1
fi

# s3rver's continuation tokens use DES, which OpenSSL 3 only has in its
# legacy provider: without it, every truncated listing is a 500.
NODE_FLAGS=()
if node --openssl-legacy-provider -e 'require("crypto").createCipheriv("des", Buffer.alloc(8), Buffer.alloc(8))' \
	>/dev/null 2>&1; then
	NODE_FLAGS=(--openssl-legacy-provider)
fi

PORT=
for attempt in 1 2 3; do
	PORT=$(free_port)
	mkdir -p "$WORK/s3data"
	node "${NODE_FLAGS[@]}" "$S3RVER_JS" -d "$WORK/s3data" -a 127.0.0.1 -p "$PORT" --configure-bucket strata \
		"${EXTRA[@]}" >"$WORK/s3rver.log" 2>&1 &
	S3RVER_PID=$!
	up=
	for _ in $(seq 1 200); do
		kill -0 "$S3RVER_PID" 2>/dev/null || break
		if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then up=1; break; fi
		sleep 0.1
	done
	[[ -n $up ]] && break
	echo "s3rver did not come up on port $PORT (attempt $attempt)"
	kill -KILL "$S3RVER_PID" 2>/dev/null || true
	wait "$S3RVER_PID" 2>/dev/null || true
	S3RVER_PID=
done
[[ -n $S3RVER_PID ]] || { echo "FATAL: s3rver did not start" >&2; exit 1; }

s3_config() { # KEY SECRET PORT MAX_RETRIES
	cat <<YML
type: S3
config:
  bucket: strata
  endpoint: 127.0.0.1:$3
  access_key: $1
  secret_key: $2
  insecure: true
  region: us-east-1
  signature_version2: $SIGV2
  part_size: 5242880
  max_retries: $4
YML
}

# s3rver's file store races with itself (a DELETE prunes the directory a
# concurrent PUT writes into: 500 InternalError): the retries absorb that.
s3_config S3RVER S3RVER "$PORT" 5 >"$WORK/objstore.yml"
"$SUITE" "$WORK/objstore.yml"

# Bad credentials: s3rver knows only the key S3RVER.
s3_config WRONGKEY TopSecretValue42 "$PORT" 2 >"$WORK/bad.yml"
SUITE_SECRET=TopSecretValue42 "$SUITE" --bad-credentials "$WORK/bad.yml"

# Server down: a port nobody listens on.
s3_config S3RVER S3RVER "$(free_port)" 2 >"$WORK/down.yml"
"$SUITE" --server-down "$WORK/down.yml"
