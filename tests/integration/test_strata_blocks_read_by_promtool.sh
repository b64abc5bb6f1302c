#!/usr/bin/env bash
# Blocks written by `strata tools tsdb create-blocks-from openmetrics` must be
# accepted by promtool 2.42 (list, analyze --extended on every block) and
# hold exactly the samples promtool's own backfill of the same input holds
# (promtool dump of both must be equal). Blocks are matched by minTime: their
# time ranges and stats must agree and, since the encoder rules are the same,
# their chunk files must be byte-identical. Index identity is only reported.
source "$(dirname "$0")/lib.sh"

S=$IT_WORK/strata-blocks
P=$IT_WORK/promtool-blocks
step "generate OpenMetrics input; backfill it with strata and with promtool"
gen_input "$IT_WORK/in.om"
if ! run_ok strata_backfill 300 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/in.om" "$S"; then
	finish
fi
promtool_backfill "$IT_WORK/in.om" "$P"
mapfile -t SU < <(block_ulids "$S")
mapfile -t PU < <(block_ulids "$P")
note "strata wrote ${#SU[@]} block(s), promtool wrote ${#PU[@]}"
((${#SU[@]} > 0)) || { fail_check "strata wrote no block directory into $S: $(find "$S" -mindepth 1 -maxdepth 1 -printf '%f ' 2>&1 | head -c 300)"; finish; }
leftovers=$(find "$S" -mindepth 1 -maxdepth 1 -printf '%f\n' | grep -vE '^[0-7][0-9A-HJKMNP-TV-Z]{25}$' | tr '\n' ' ' || true)
[[ -z "$leftovers" ]] || fail_check "strata output dir has non-block entries: $leftovers"

step "promtool tsdb list on strata's blocks"
if run_ok promtool_list 120 "$PROMTOOL" tsdb list "$S"; then
	sed 's/^/     /' "$IT_WORK/promtool_list.out"
	for u in "${SU[@]}"; do
		grep -q "^$u " "$IT_WORK/promtool_list.out" || fail_check "promtool tsdb list does not show block $u"
	done
fi

step "promtool tsdb analyze --extended on every strata block"
for u in "${SU[@]}"; do
	if run_ok "analyze_$u" 300 "$PROMTOOL" tsdb analyze --extended "$S" "$u"; then
		note "OK analyze --extended $u: $(grep -m1 -E '^Series:' "$IT_WORK/analyze_$u.out" || true)"
	fi
done

step "promtool dump: strata's blocks vs promtool's blocks of the same input"
if promtool_dump "$P" "$IT_WORK/dump.promtool-blocks" && promtool_dump "$S" "$IT_WORK/dump.strata-blocks"; then
	compare_text "$IT_WORK/dump.promtool-blocks" "$IT_WORK/dump.strata-blocks" \
		"promtool dump of strata blocks vs of promtool blocks" || true
fi
rm -f "$IT_WORK"/dump.*

step "per-block comparison (matched by minTime): meta.json, chunk bytes, index bytes"
# chunk_layout_diff PROMTOOL_BLOCK STRATA_BLOCK — which series were cut into
# chunks differently: (mint, maxt, #samples) per chunk, read from the index
# series entries and the chunk headers. Diagnostics only.
chunk_layout_diff() {
	python3 - "$@" <<'PY' || true
import struct, sys

def uv(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i

def sv(b, i):
    v, i = uv(b, i)
    return (v >> 1) ^ -(v & 1), i

def layout(blk):
    b = open(blk + "/index", "rb").read()
    segs = {}
    toc = len(b) - 52
    sym, _, _, _, _, pot = struct.unpack(">6Q", b[toc:toc + 48])
    n = struct.unpack(">I", b[sym + 4:sym + 8])[0]
    i, syms = sym + 8, []
    for _ in range(n):
        l, i = uv(b, i)
        syms.append(b[i:i + l].decode("utf-8", "replace"))
        i += l
    i = pot + 8                      # first entry is ("", "") -> all series
    _, i = uv(b, i)
    for _ in range(2):
        l, i = uv(b, i)
        i += l
    off, i = uv(b, i)
    cnt = struct.unpack(">I", b[off + 4:off + 8])[0]
    out = {}
    for r in struct.unpack(">%dI" % cnt, b[off + 8:off + 8 + 4 * cnt]):
        i = r * 16
        _, i = uv(b, i)
        nl, i = uv(b, i)
        labs = []
        for _ in range(nl):
            a, i = uv(b, i)
            c, i = uv(b, i)
            labs.append((syms[a], syms[c]))
        nc, i = uv(b, i)
        chks = []
        for k in range(nc):
            if k == 0:
                mint, i = sv(b, i)
                d, i = uv(b, i)
                maxt = mint + d
                ref, i = uv(b, i)
            else:
                d, i = uv(b, i)
                mint = maxt + d
                d, i = uv(b, i)
                maxt = mint + d
                dr, i = sv(b, i)
                ref += dr
            seg = ref >> 32
            if seg not in segs:
                segs[seg] = open("%s/chunks/%06d" % (blk, seg + 1), "rb").read()
            _, j = uv(segs[seg], ref & 0xFFFFFFFF)
            ns = struct.unpack(">H", segs[seg][j + 1:j + 3])[0]
            chks.append((mint, maxt, ns))
        out[tuple(labs)] = chks
    return out

try:
    p, s = layout(sys.argv[1]), layout(sys.argv[2])
except Exception as e:
    print("     (cannot compare chunk layouts: %r)" % e)
    sys.exit(0)
diff = [k for k in p if p[k] != s.get(k)]
print("     %d of %d series have a different chunk layout; first ones (mint, maxt, samples):" % (len(diff), len(p)))
for k in diff[:3]:
    print("       %s" % "{" + ", ".join('%s="%s"' % kv for kv in k) + "}")
    print("         promtool: %s" % p[k])
    print("         strata:   %s" % s.get(k))
PY
}

declare -A PBYMIN=()
for u in "${PU[@]}"; do
	PBYMIN[$(jq -r .minTime "$P/$u/meta.json")]=$u
done
same_index=0
diff_index=0
for u in "${SU[@]}"; do
	sm=$S/$u/meta.json
	if ! jq -e . "$sm" >/dev/null 2>&1; then
		fail_check "block $u: meta.json is not valid JSON"
		continue
	fi
	[[ "$(jq -r .ulid "$sm")" == "$u" ]] || fail_check "block $u: meta.json ulid $(jq -r .ulid "$sm") != directory name"
	[[ "$(jq -r .version "$sm")" == 1 ]] || fail_check "block $u: meta.json version is not 1"
	[[ "$(jq -cS .compaction "$sm")" == "{\"level\":1,\"sources\":[\"$u\"]}" ]] ||
		fail_check "block $u: compaction is $(jq -c .compaction "$sm"), want level 1, sources [$u]"
	min=$(jq -r .minTime "$sm")
	pu=${PBYMIN[$min]:-}
	if [[ -z "$pu" ]]; then
		fail_check "block $u (minTime $min): promtool wrote no block with that minTime (promtool minTimes: ${!PBYMIN[*]})"
		continue
	fi
	unset "PBYMIN[$min]"
	pm=$P/$pu/meta.json
	for f in maxTime stats; do
		a=$(jq -cS ".$f" "$pm")
		b=$(jq -cS ".$f" "$sm")
		[[ "$a" == "$b" ]] || fail_check "block minTime $min: meta.json $f: promtool $a, strata $b"
	done
	pch=$(find "$P/$pu/chunks" -mindepth 1 -printf '%f\n' 2>/dev/null | sort | tr '\n' ' ' || true)
	sch=$(find "$S/$u/chunks" -mindepth 1 -printf '%f\n' 2>/dev/null | sort | tr '\n' ' ' || true)
	if [[ "$pch" != "$sch" ]]; then
		fail_check "block minTime $min: chunk files: promtool [$pch], strata [$sch]"
	fi
	for f in $pch; do
		[[ -f "$S/$u/chunks/$f" ]] || continue
		if cmp -s "$P/$pu/chunks/$f" "$S/$u/chunks/$f"; then
			note "OK block minTime $min: chunks/$f identical ($(stat -c %s "$S/$u/chunks/$f") bytes)"
		else
			fail_check "block minTime $min: chunks/$f differs: $(cmp "$P/$pu/chunks/$f" "$S/$u/chunks/$f" 2>&1 | head -1 | sed 's/.* differ: //') (sizes $(stat -c %s "$P/$pu/chunks/$f") vs $(stat -c %s "$S/$u/chunks/$f"))"
			off=$(cmp "$P/$pu/chunks/$f" "$S/$u/chunks/$f" 2>/dev/null | awk '{print $5+0}' | tr -d ,) || true
			if [[ -n "$off" && "$off" -gt 0 ]]; then
				start=$((off > 33 ? off - 33 : 0))
				echo "     promtool bytes around offset $((off - 1)):"
				xxd -s "$start" -l 64 "$P/$pu/chunks/$f" | sed 's/^/       /'
				echo "     strata bytes around offset $((off - 1)):"
				xxd -s "$start" -l 64 "$S/$u/chunks/$f" | sed 's/^/       /'
			fi
			chunk_layout_diff "$P/$pu" "$S/$u"
		fi
	done
	if cmp -s "$P/$pu/index" "$S/$u/index"; then
		same_index=$((same_index + 1))
	else
		diff_index=$((diff_index + 1))
		note "(info) block minTime $min: index differs from promtool's: $(cmp "$P/$pu/index" "$S/$u/index" 2>&1 | head -1 | sed 's/.* differ: //'); sizes $(stat -c %s "$P/$pu/index") vs $(stat -c %s "$S/$u/index")"
	fi
	if [[ -f "$S/$u/tombstones" ]]; then
		cmp -s "$P/$pu/tombstones" "$S/$u/tombstones" ||
			note "(info) block minTime $min: tombstones file differs from promtool's"
	else
		note "(info) block minTime $min: no tombstones file (allowed)"
	fi
done
((${#PBYMIN[@]} == 0)) || fail_check "promtool blocks with minTime ${!PBYMIN[*]} have no strata counterpart"
note "(info) index files identical to promtool's: $same_index block(s); different: $diff_index block(s)"

finish
