#!/usr/bin/env python3
"""Expected `strata tools store series` output from `tools tsdb dump` files.

usage: expect_series.py [--without=NAME,...] MINT MAXT [DUMP EXTLABELS]...

Each DUMP is the dump of one set of local blocks; EXTLABELS ("k=v,k=v") are
the external labels that set was uploaded with. A store gateway serves each
series with its external labels added (an external label replaces a series
label of the same name) and streams series in Prometheus label order, so
the lines are re-labelled, kept when MINT <= ts <= MAXT, and ordered by the
unescaped label set (samples of a series stay in time order). --without
names labels then taken off every series, stored or external (a querier's
without_replica_labels), before the ordering.
"""
import re
import sys

NAME = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)="')
SIMPLE = {'\\': b'\\', '"': b'"', 'n': b'\n', 't': b'\t', 'r': b'\r', 'a': b'\a', 'b': b'\b', 'f': b'\f',
          'v': b'\v'}


def go_unquote(raw):
    """The bytes of a Go strconv.Quote body."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c != '\\':
            out += c.encode()
            i += 1
            continue
        e = raw[i + 1]
        if e in SIMPLE:
            out += SIMPLE[e]
            i += 2
        elif e == 'x':
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        elif e == 'u':
            out += chr(int(raw[i + 2:i + 6], 16)).encode()
            i += 6
        elif e == 'U':
            out += chr(int(raw[i + 2:i + 10], 16)).encode()
            i += 10
        else:
            raise ValueError('unknown escape in %r' % raw)
    return bytes(out)


def parse(line):
    """'{a="b", c="d"} value ts' -> ([(name, raw value)], value, ts)."""
    assert line.startswith('{'), line
    i = 1
    pairs = []
    while line[i] != '}':
        m = NAME.match(line, i)
        assert m, line
        j = m.end()
        k = j
        while line[k] != '"':
            k += 2 if line[k] == '\\' else 1
        pairs.append((m.group(1), line[j:k]))
        i = k + 1
        if line.startswith(', ', i):
            i += 2
    value, ts = line[i + 2:].split(' ')
    return pairs, value, int(ts)


def main():
    argv = sys.argv[1:]
    without = set()
    if argv and argv[0].startswith('--without='):
        without = set(n for n in argv.pop(0)[len('--without='):].split(',') if n)
    mint, maxt = int(argv[0]), int(argv[1])
    rows = []
    args = argv[2:]
    for f, ext in zip(args[0::2], args[1::2]):
        extpairs = dict(kv.split('=', 1) for kv in ext.split(',') if kv)
        with open(f, encoding='utf-8') as fh:
            for line in fh:
                pairs, value, ts = parse(line.rstrip('\n'))
                if ts < mint or ts > maxt:
                    continue
                d = dict(pairs)
                d.update(extpairs)  # values here need no quoting
                for n in without:
                    d.pop(n, None)
                names = sorted(d, key=lambda n: n.encode())
                key = [(n.encode(), go_unquote(d[n])) for n in names]
                text = '{' + ', '.join('%s="%s"' % (n, d[n]) for n in names) + '}'
                rows.append((key, text, value, ts))
    rows.sort(key=lambda r: r[0])  # stable: a series' samples keep their order
    out = sys.stdout
    for _, text, value, ts in rows:
        out.write('%s %s %d\n' % (text, value, ts))


main()
