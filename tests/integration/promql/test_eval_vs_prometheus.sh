#!/usr/bin/env bash
# The PromQL engine against a live Prometheus 2.42 on the same data:
#  1. gen_openmetrics output (counters with resets, gauges, jittered
#     timestamps, a classic histogram, NaN/Inf, series with gaps and early
#     ends) backfilled by real promtool, plus one block from gen_stale_block
#     with series that end in stale markers (lib_eval.sh);
#  2. Prometheus serves that data dir (retention 100y, 127.0.0.1, free port);
#  3. every query of eval_corpus.promql runs as an instant query at three
#     times (inside the data, just after its end, near its start) and as two
#     range queries (a round step, and an odd step from a fractional start),
#     on Prometheus's HTTP API and on `strata tools promql query --batch`;
#     compare_eval.py compares series, timestamps, values (1e-9 relative,
#     NaN = NaN) and errors. Only the entries of eval_known_differences.tsv
#     may differ;
#  4. a second Prometheus on a copy of the data with --query.max-samples=3000
#     and strata with the same limit answer eval_corpus_limits.promql the
#     same way (the same queries fail with "too many samples").
source "$(dirname "$0")/../lib.sh"
: "${GEN_STALE_BLOCK:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib_eval.sh"

step "generate and backfill data"
eval_input
eval_data "$IT_WORK/data"
cp -r "$IT_WORK/data" "$IT_WORK/data2"

step "start prometheus"
start_prometheus "$IT_WORK/data"

step "evaluate the corpus on both"
eval_compare compare 170 "strata's answers differ from Prometheus's" --url "$PROM_URL" --strata "$STRATA" \
	--data-dir "$IT_WORK/data" --corpus "$HERE/eval_corpus.promql" --known "$HERE/eval_known_differences.tsv" \
	"${EVAL_POINTS[@]}" || true

step "the sample limit: a second prometheus with --query.max-samples=3000"
PROM2_PORT=$(free_port)
"$PROMETHEUS" --config.file="$IT_WORK/prometheus.yml" --storage.tsdb.path="$IT_WORK/data2" \
	--web.listen-address="127.0.0.1:$PROM2_PORT" --storage.tsdb.retention.time=100y --query.max-samples=3000 \
	>"$IT_WORK/prometheus2.log" 2>&1 &
IT_PIDS+=("$!")
for ((i = 0; i < 300; i++)); do
	curl -sf -m 2 "http://127.0.0.1:$PROM2_PORT/-/ready" >/dev/null 2>&1 && break
	sleep 0.2
done
eval_compare limits 120 "with a sample limit, strata's answers differ from Prometheus's" \
	--url "http://127.0.0.1:$PROM2_PORT" --strata "$STRATA" --strata-arg=--query.max-samples=3000 \
	--data-dir "$IT_WORK/data" --corpus "$HERE/eval_corpus_limits.promql" \
	--time 1700004321.5 --range 1700003000,1700007200,60 || true

finish
