# lib_eval.sh — the data and the comparison run that the PromQL evaluation
# tests (test_eval_vs_prometheus.sh, test_eval_via_query.sh) share. Sourced
# after ../lib.sh; needs GEN_STALE_BLOCK.
#
# The evaluation points: instant queries inside the data, just after its end
# and near its start; a range with a round step and one with an odd step
# from a fractional start.
EVAL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EVAL_POINTS=(--time 1700004321.5 --time 1700010850 --time 1700000100
	--range 1700003000,1700007200,60 --range 1700000000.25,1700011000,97.5)

# eval_input — $IT_WORK/in.om: gen_openmetrics output (counters with
# resets, gauges, jittered timestamps, a classic histogram, NaN/Inf, series
# with gaps and early ends).
eval_input() {
	gen_input "$IT_WORK/in.om" --series 120 --hours 3 --step 15 --start 1700000000
}

# eval_data DIR [NAME=VALUE] — in.om backfilled by real promtool into DIR
# plus gen_stale_block's block (series ending in stale markers). With
# NAME=VALUE every series of both carries that label as well.
eval_data() {
	local dir=$1 extra=${2:-} om=$IT_WORK/in.om
	if [[ -n $extra ]]; then
		# every sample line has a label set; the name never holds a '{'
		om=$IT_WORK/in-${extra%%=*}.om
		sed -E "/^#/! s/\{/{${extra%%=*}=\"${extra#*=}\",/" "$IT_WORK/in.om" >"$om"
	fi
	promtool_backfill "$om" "$dir"
	run_ok stale_block 60 "$GEN_STALE_BLOCK" "$dir" ${extra:+"$extra"} || finish
	note "stale-marker block: $(basename "$(cat "$IT_WORK/stale_block.out")")"
}

# eval_compare NAME SECS WHAT compare_eval.py-args... — runs compare_eval.py
# (output in NAME.out/.err); notes its summary, or prints the differences
# and fails a check naming WHAT.
eval_compare() {
	local name=$1 secs=$2 what=$3 rc=0
	shift 3
	run "$name" "$secs" python3 "$EVAL_HERE/compare_eval.py" "$@" || rc=$?
	if ((rc == 0)); then
		note "$(tail -n 2 "$IT_WORK/$name.out" | head -n 1)"
		note "$(tail -n 1 "$IT_WORK/$name.out")"
		grep -A2 '^KNOWN' "$IT_WORK/$name.out" | head -n 30 || true
		return 0
	fi
	grep -A1 '^DIFF' "$IT_WORK/$name.out" | head -n 80 || true
	tail -n 2 "$IT_WORK/$name.out"
	head -c 2000 "$IT_WORK/$name.err"
	fail_check "$what ($(describe_rc "$name" "$rc"))"
	return 1
}
