# lib.sh — what the bench/*/run.sh scripts share; source it after `set -euo
# pipefail`.
#
# bench_init NAME: $work, a fresh scratch dir, and $pids, the servers the
# script starts (it appends to it); on exit every one of them is killed and
# reaped and the scratch dir removed.
bench_init() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
}
bench_cleanup() {
	local p
	for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
	for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
# a free TCP port on 127.0.0.1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# metric URL NAME: the value of NAME's unlabelled sample on URL/metrics
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m {print $2; exit}'; }
# cpu_ticks PID...: utime + stime of the processes, in clock ticks
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
# status_kb PID FIELD: a kB field of /proc/PID/status (VmRSS, VmHWM)
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
