#!/usr/bin/env python3
"""The test oracle for the sidecar's StoreAPI: what Thanos's sidecar serves
for a `promtool tsdb dump`, computed independently of Strata's code.

    ext_labels.py DUMP 'name=value,...' [WITHOUT,...] > OUT

DUMP holds `{labels} value timestamp` lines as promtool prints them. Every
series gets the external labels (an external label replaces a stored label
of the same name, as Thanos's labelpb.ExtendSortedLabels does); series are
then ordered by their new label sets (Prometheus's labels.Compare: names
and values byte-wise, pair by pair, a prefix first), samples kept in their
order. WITHOUT names labels then taken off every series, stored or
external (a querier's without_replica_labels), before the ordering.
Label values are re-used exactly as promtool quoted them; only the sort
key needs them decoded (Go's strconv.Quote escapes).
"""
import re
import sys

ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}


def go_unquote(q):
    """Bytes of a Go double-quoted string literal (without the quotes)."""
    out, i = bytearray(), 0
    while i < len(q):
        c = q[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = q[i + 1]
        if e in ESC:
            out.append(ESC[e])
            i += 2
        elif e == "x":
            out.append(int(q[i + 2:i + 4], 16))
            i += 4
        elif e == "u":
            out += chr(int(q[i + 2:i + 6], 16)).encode("utf-8")
            i += 6
        elif e == "U":
            out += chr(int(q[i + 2:i + 10], 16)).encode("utf-8")
            i += 10
        elif e in "01234567":
            out.append(int(q[i + 1:i + 4], 8))
            i += 4
        else:
            raise ValueError("bad escape in %r" % q)
    return bytes(out)


def split_line(line):
    """(labels text inside the braces, rest of the line)."""
    assert line[0] == "{", line
    i, inq = 1, False
    while True:
        c = line[i]
        if inq:
            if c == "\\":
                i += 1
            elif c == '"':
                inq = False
        elif c == '"':
            inq = True
        elif c == "}":
            return line[1:i], line[i + 1:]
        i += 1


LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"(?:, |$)')


def parse_labels(text):
    pairs, pos = [], 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise ValueError("cannot parse labels at %r" % text[pos:])
        pairs.append((m.group(1), m.group(2)))
        pos = m.end()
    return pairs


def main():
    dump, ext_arg = sys.argv[1], sys.argv[2]
    ext = dict(kv.split("=", 1) for kv in ext_arg.split(",") if kv)
    without = set(n for n in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if n)
    series, order = {}, []
    with open(dump, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            lt, rest = split_line(line)
            if lt not in series:
                series[lt] = []
                order.append(lt)
            series[lt].append(rest)
    out = []
    for n, lt in enumerate(order):
        pairs = {k: v for k, v in parse_labels(lt)}
        for k, v in ext.items():
            pairs[k] = v  # simple ASCII values: their quoted form is themselves
        for k in without:
            pairs.pop(k, None)
        names = sorted(pairs, key=lambda k: k.encode())
        key = [(k.encode(), go_unquote(pairs[k])) for k in names]
        text = "{" + ", ".join('%s="%s"' % (k, pairs[k]) for k in names) + "}"
        out.append((key, n, text, series[lt]))
    out.sort(key=lambda t: (t[0], t[1]))
    w = sys.stdout.buffer
    for _, _, text, rests in out:
        for r in rests:
            w.write((text + r + "\n").encode("utf-8", errors="surrogateescape"))


if __name__ == "__main__":
    main()
