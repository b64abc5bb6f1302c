#!/usr/bin/env bash
# A real prometheus 2.42 server started on a data dir holding only blocks
# written by `strata tools tsdb create-blocks-from openmetrics` must serve
# exactly the samples `strata tools tsdb dump` prints: for each selector the
# raw samples of `SELECTOR[8h]` (an instant query at the end of the data)
# must equal `strata tools tsdb dump --match SELECTOR` (labels, timestamps,
# values incl. NaN/±Inf/-0), and so must all series at once.
source "$(dirname "$0")/lib.sh"

S=$IT_WORK/strata-blocks
DATA=$IT_WORK/data
step "generate OpenMetrics input and backfill it with strata"
gen_input "$IT_WORK/in.om" --series 300 --hours 6
run_ok strata_backfill 300 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/in.om" "$S" || finish
mapfile -t SU < <(block_ulids "$S")
((${#SU[@]} > 0)) || { fail_check "strata wrote no block into $S"; finish; }
mkdir -p "$DATA"
for u in "${SU[@]}"; do cp -r "$S/$u" "$DATA/"; done
note "copied ${#SU[@]} block(s) into an empty data dir"

maxt=0
for u in "${SU[@]}"; do
	t=$(jq -r .maxTime "$S/$u/meta.json")
	if ((t > maxt)); then maxt=$t; fi
done
# evaluation time: the first whole second at or after the last block's end
EVAL=$(((maxt + 999) / 1000))

step "start prometheus on the strata blocks"
start_prometheus "$DATA"
curl -sf -m 10 "$PROM_URL/api/v1/status/tsdb" >/dev/null || fail_check "GET /api/v1/status/tsdb failed"

# prom_query NAME EXPR — instant query at $EVAL, JSON to $IT_WORK/NAME.json.
prom_query() {
	local name=$1 expr=$2
	if ! curl -sS -m 60 -G "$PROM_URL/api/v1/query" --data-urlencode "query=$expr" \
		--data-urlencode "time=$EVAL" -o "$IT_WORK/$name.json" 2>"$IT_WORK/$name.curl.err"; then
		fail_check "query $expr: HTTP request failed: $(cat "$IT_WORK/$name.curl.err")"
		return 1
	fi
	if [[ "$(jq -r .status "$IT_WORK/$name.json" 2>/dev/null)" != success ]]; then
		fail_check "query $expr: $(head -c 400 "$IT_WORK/$name.json")"
		return 1
	fi
}

# compare_prom_dump JSON DUMP WHAT — matrix result vs dump lines (Go-quoted labels).
compare_prom_dump() {
	python3 - "$@" <<'PY'
import json, sys

SIMPLE = {'n': '\n', 't': '\t', 'r': '\r', 'a': '\a', 'b': '\b', 'f': '\f',
          'v': '\v', '\\': '\\', '"': '"', "'": "'"}

def go_unquote(s, i):
    """Decode the Go-quoted string starting at s[i] == '"'; return (str, next i)."""
    assert s[i] == '"', f"expected quote at {i}"
    i += 1
    out = bytearray()
    while s[i] != '"':
        c = s[i]
        if c != '\\':
            out += c.encode('utf-8', 'surrogateescape')
            i += 1
            continue
        e = s[i + 1]
        if e in SIMPLE:
            out += SIMPLE[e].encode()
            i += 2
        elif e == 'x':
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif e == 'u':
            out += chr(int(s[i + 2:i + 6], 16)).encode()
            i += 6
        elif e == 'U':
            out += chr(int(s[i + 2:i + 10], 16)).encode()
            i += 10
        elif e in '01234567':
            out.append(int(s[i + 1:i + 4], 8))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e}")
    return out.decode('utf-8', 'surrogateescape'), i + 1

def parse_dump_line(line):
    assert line[0] == '{', "line does not start with {"
    i, labels = 1, []
    while line[i] != '}':
        eq = line.index('=', i)
        name = line[i:eq]
        value, i = go_unquote(line, eq + 1)
        labels.append((name, value))
        if line.startswith(', ', i):
            i += 2
    value, ts = line[i + 2:].split(' ')
    return tuple(sorted(labels)), int(ts), repr(float(value))

def main():
    jpath, dpath, what = sys.argv[1:4]
    prom = {}
    for r in json.load(open(jpath))['data']['result']:
        key = tuple(sorted(r['metric'].items()))
        prom[key] = [(round(float(t) * 1000), repr(float(v))) for t, v in r['values']]
    dump = {}
    with open(dpath, encoding='utf-8', errors='surrogateescape') as f:
        for n, line in enumerate(f, 1):
            try:
                key, ts, v = parse_dump_line(line.rstrip('\n'))
            except Exception as e:
                print(f"   {what}: cannot parse strata dump line {n}: {line[:200]!r}: {e}")
                return 1
            dump.setdefault(key, []).append((ts, v))
    bad = 0
    for key in sorted(set(prom) | set(dump)):
        p, d = prom.get(key), dump.get(key)
        if p == d:
            continue
        bad += 1
        if bad > 5:
            continue
        if p is None or d is None:
            print(f"   series {dict(key)} only in {'strata dump' if p is None else 'prometheus'}")
            continue
        print(f"   series {dict(key)}: prometheus {len(p)} samples, strata dump {len(d)}")
        for k, (a, b) in enumerate(zip(p, d)):
            if a != b:
                print(f"     first difference at sample {k}: prometheus {a}, strata dump {b}")
                break
    n = sum(len(v) for v in dump.values())
    if bad:
        print(f"   {what}: {bad} of {len(set(prom) | set(dump))} series differ")
        return 1
    if not prom:
        print(f"   {what}: no series returned (selector matches nothing?)")
        return 1
    print(f"   OK {what}: {len(prom)} series, {n} samples equal")
    return 0

sys.exit(main())
PY
}

step "raw samples via /api/v1/query SELECTOR[8h] vs strata tools tsdb dump --match SELECTOR"
SELECTORS=(
	'strata_gen_awkward'
	'{__name__="strata_gen_awkward",path="new\nline"}'
	'{__name__="strata_gen_awkward",path=~"[^\n]*\\\\[^\n]*"}'
	'{__name__="strata_gen_awkward",path="ü€ unicode 日本"}'
	'strata_gen_special'
	'strata_gen_request_duration_seconds_bucket{handler="/api/v1/query"}'
	'{__name__="strata:gen:many_labels"}'
	'strata_gen_partial{shape=~"gap|single|late|early_end"}'
	'strata_gen_queue_length{jitter="yes"}'
)
i=0
for sel in "${SELECTORS[@]}"; do
	i=$((i + 1))
	prom_query "q$i" "${sel}[8h]" || continue
	strata_dump "$S" "$IT_WORK/q$i.dump" --match "$sel" || continue
	compare_prom_dump "$IT_WORK/q$i.json" "$IT_WORK/q$i.dump" "$sel" || fail_check "selector $sel: prometheus and strata dump disagree"
done

step "everything: {__name__=~\".+\"}[8h] vs the full strata dump"
if prom_query all '{__name__=~".+"}[8h]' && strata_dump "$S" "$IT_WORK/all.dump" --match '{__name__=~".+"}'; then
	compare_prom_dump "$IT_WORK/all.json" "$IT_WORK/all.dump" "all series" ||
		fail_check "full data: prometheus and strata dump disagree"
	want=$(grep -vc '^#' "$IT_WORK/in.om")
	got=$(wc -l <"$IT_WORK/all.dump")
	((want == got)) || fail_check "strata dump has $got samples, the input has $want"
fi
grep -iE 'level=(error|warn)' "$PROM_LOG" | head -n 5 | sed 's/^/   prometheus log: /' || true

finish
