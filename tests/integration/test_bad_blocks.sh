#!/usr/bin/env bash
# Corrupted copies of a good strata-written block: `strata tools tsdb dump`
# and `strata tools tsdb analyze` must fail cleanly — exit code 1 (not a
# signal, not a hang: each run is bounded by `timeout 60`) with an error on
# stderr that names the damaged file (index / meta.json / chunks).
source "$(dirname "$0")/lib.sh"

S=$IT_WORK/strata-blocks
# every series; explicit because the default selector is covered elsewhere
ALL_SEL='{__name__=~".+"}'
step "build a good block with strata"
gen_input "$IT_WORK/in.om" --series 60 --hours 3
run_ok strata_backfill 300 "$STRATA" tools tsdb create-blocks-from openmetrics "$IT_WORK/in.om" "$S" || finish
GOOD=
best=-1
for u in $(block_ulids "$S"); do
	n=$(jq -r '.stats.numSamples // 0' "$S/$u/meta.json" 2>/dev/null || echo 0)
	if ((n > best)); then best=$n GOOD=$u; fi
done
[[ -n "$GOOD" ]] || { fail_check "strata wrote no block into $S"; finish; }
note "using block $GOOD ($best samples)"

# corrupt MODE BLOCKDIR — damage one file of the block in place.
corrupt() {
	python3 - "$@" <<'PY'
import json, os, struct, sys

def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def uvarint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i

def put_uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)

mode, blk = sys.argv[1], sys.argv[2]
index, chunk1, meta = (os.path.join(blk, f) for f in ("index", "chunks/000001", "meta.json"))

def rd(p):
    with open(p, "rb") as f:
        return bytearray(f.read())

def wr(p, b):
    with open(p, "wb") as f:
        f.write(b)

if mode == "chunk_flip":            # one byte inside the first chunk's XOR data
    b = rd(chunk1)
    n, i = uvarint(b, 8)            # i -> encoding byte, data follows
    assert n >= 4, "first chunk too small"
    b[i + 1 + n // 2] ^= 0xFF
    wr(chunk1, b)
elif mode == "chunk_truncate":      # segment cut in the middle of its chunks
    b = rd(chunk1)
    n, i = uvarint(b, 8)
    wr(chunk1, b[:i + 1 + n // 2] if len(b) < 64 else b[:8 + (len(b) - 8) // 2 + 1])
elif mode == "index_truncate":
    b = rd(index)
    wr(index, b[:len(b) // 2])
elif mode == "index_symflip":       # one byte inside the symbol table's CRC'd bytes
    b = rd(index)
    sym = struct.unpack(">Q", b[-52:-44])[0]
    ln = struct.unpack(">I", b[sym:sym + 4])[0]
    b[sym + 4 + ln // 2] ^= 0x20
    wr(index, b)
elif mode == "index_badmagic":
    b = rd(index)
    b[0] ^= 0xFF
    wr(index, b)
elif mode == "index_pot_oob":       # postings offsets beyond EOF, with a valid CRC
    b = rd(index)
    toc = len(b) - 52
    pot = struct.unpack(">Q", b[toc + 40:toc + 48])[0]
    ln = struct.unpack(">I", b[pot:pot + 4])[0]
    body = b[pot + 4:pot + 4 + ln]
    count = struct.unpack(">I", body[:4])[0]
    new, i = bytearray(body[:4]), 4
    for k in range(count):
        start = i
        nkeys, i = uvarint(body, i)
        assert nkeys == 2, "postings offset table entry with %d keys" % nkeys
        for _ in range(2):
            l, i = uvarint(body, i)
            i += l
        new += body[start:i]
        _, i = uvarint(body, i)
        new += put_uvarint(len(b) + 1000000 + 16 * k)
    assert i == len(body), "trailing bytes in postings offset table"
    tail = b[pot + 4 + ln + 4:]
    wr(index, b[:pot] + struct.pack(">I", len(new)) + new + struct.pack(">I", crc32c(new)) + tail)
elif mode == "meta_badjson":
    b = rd(meta)
    wr(meta, b[:len(b) // 2])
elif mode == "meta_noulid":
    with open(meta) as f:
        m = json.load(f)
    del m["ulid"]
    wr(meta, json.dumps(m, indent="\t").encode())
elif mode == "meta_version":
    with open(meta) as f:
        m = json.load(f)
    m["version"] = 2
    wr(meta, json.dumps(m, indent="\t").encode())
else:
    sys.exit("unknown corruption " + mode)
PY
}

step "sanity: the good block dumps and analyzes"
mkdir -p "$IT_WORK/good"
cp -r "$S/$GOOD" "$IT_WORK/good/"
run_ok good_dump 60 "$STRATA" tools tsdb dump --match "$ALL_SEL" "$IT_WORK/good" || true
run_ok good_analyze 60 "$STRATA" tools tsdb analyze "$IT_WORK/good" || true
if [[ -s "$IT_WORK/good_dump.out" ]]; then
	note "OK good block: dump printed $(wc -l <"$IT_WORK/good_dump.out") samples"
else
	fail_check "dump of the good block printed nothing"
fi

# check_fails NAME KEYWORD LENIENT CMD... — must exit 1 and name KEYWORD on
# stderr; with LENIENT=1 exit 0 is also accepted (a command that need not read
# the damaged part), but never a signal or a hang.
check_fails() {
	local name=$1 keyword=$2 lenient=$3 rc=0
	shift 3
	run "$name" 60 "$@" || rc=$?
	local err
	err=$(head -c 300 "$IT_WORK/$name.err" | tr '\n' ' ')
	if ((rc == 0 && lenient == 1)); then
		note "ok $name: exit 0 (does not read the damaged part)"
	elif ((rc == 1)) && grep -qF "$keyword" "$IT_WORK/$name.err"; then
		note "OK $name: exit 1: $err"
	elif ((rc == 1)); then
		fail_check "$name: exit 1 but stderr does not mention '$keyword': '$err'"
	else
		fail_check "$name: want exit 1 naming '$keyword', got $(describe_rc "$name" "$rc")"
	fi
}

CASES=(
	"chunk_flip chunks 1"
	"chunk_truncate chunks 1"
	"index_truncate index 0"
	"index_symflip index 0"
	"index_badmagic index 0"
	"index_pot_oob index 0"
	"meta_badjson meta.json 0"
	"meta_noulid meta.json 0"
	"meta_version meta.json 0"
)
for c in "${CASES[@]}"; do
	read -r mode keyword lenient <<<"$c"
	step "corruption: $mode"
	d=$IT_WORK/case_$mode
	mkdir -p "$d"
	cp -r "$S/$GOOD" "$d/"
	corrupt "$mode" "$d/$GOOD" || { fail_check "$mode: could not build the corrupted copy"; continue; }
	# dump must always notice: it reads every chunk; analyze need not read chunks
	check_fails "${mode}_dump" "$keyword" 0 "$STRATA" tools tsdb dump --match "$ALL_SEL" "$d"
	check_fails "${mode}_analyze" "$keyword" "$lenient" "$STRATA" tools tsdb analyze "$d"
	# list may stop at meta.json, so only meta.json damage must fail it
	list_lenient=1
	[[ $keyword == meta.json ]] && list_lenient=0
	check_fails "${mode}_list" "$keyword" "$list_lenient" "$STRATA" tools tsdb list "$d"
	# reference behaviour, for information only
	scratch=$(mktemp -d "$IT_WORK/prom.XXXXXX")
	cp -r "$d/." "$scratch/"
	mkdir -p "$scratch/wal"
	prc=0
	timeout -k 5 60 "$PROMTOOL" tsdb dump "$scratch" >/dev/null 2>"$IT_WORK/${mode}_promtool.err" || prc=$?
	note "(info) promtool tsdb dump: exit $prc $(grep -m1 -oE '(err|msg)=.{0,160}' "$IT_WORK/${mode}_promtool.err" || head -c 160 "$IT_WORK/${mode}_promtool.err" | tr '\n' ' ')"
	rm -rf "$scratch" "$d"
done

finish
