#!/usr/bin/env python3
"""Helpers of test_store_downsampled.sh over dump lines.

  check_downsampled.py tag RAW            "{l} v ts" -> "{l} raw v ts" (what
                                          `tools store series --aggregate`
                                          prints for raw chunks)
  check_downsampled.py merge A B          per series (in A's order, then B's
                                          new ones): A's lines, then B's
  check_downsampled.py range MINT MAXT F  F's lines with MINT <= ts <= MAXT
  check_downsampled.py windows RAW RES SERVED
        count/sum/min/max of every RES-wide window of every series of the raw
        dump RAW ("{l} v ts"), computed here from the raw samples, against
        the count/sum/min/max samples of SERVED ("{l} kind v ts"): a window
        is the aggregate samples whose timestamp t has t // RES equal (a
        window split over two chunks adds up). Exit 1 on a difference.
Labels here are simple (no '} ' inside values).
"""
import collections
import math
import sys


def raw_lines(path):
    with open(path, encoding='utf-8') as f:
        for line in f:
            lbls, v, ts = line.rstrip('\n').rsplit(' ', 2)
            yield lbls, float(v), int(ts)


def served_lines(path):
    with open(path, encoding='utf-8') as f:
        for line in f:
            lbls, kind, v, ts = line.rstrip('\n').rsplit(' ', 3)
            yield lbls, kind, float(v), int(ts)


def series_of(path):
    out = collections.OrderedDict()
    with open(path, encoding='utf-8') as f:
        for line in f:
            out.setdefault(line.split('} ', 1)[0], []).append(line)
    return out


def main():
    cmd = sys.argv[1]
    if cmd == 'tag':
        with open(sys.argv[2], encoding='utf-8') as f:
            for line in f:
                lbls, rest = line.split('} ', 1)
                sys.stdout.write(lbls + '} raw ' + rest)
    elif cmd == 'merge':
        a, b = series_of(sys.argv[2]), series_of(sys.argv[3])
        for k, v in b.items():
            a.setdefault(k, []).extend(v)
        for v in a.values():
            sys.stdout.writelines(v)
    elif cmd == 'range':
        lo, hi = int(sys.argv[2]), int(sys.argv[3])
        with open(sys.argv[4], encoding='utf-8') as f:
            for line in f:
                if lo <= int(line.rsplit(' ', 1)[1]) <= hi:
                    sys.stdout.write(line)
    elif cmd == 'windows':
        res = int(sys.argv[3])
        want = {}
        for lbls, v, ts in raw_lines(sys.argv[2]):
            if math.isnan(v):
                continue
            w = want.setdefault((lbls, ts // res), [0, 0.0, math.inf, -math.inf])
            w[0] += 1
            w[1] += v
            w[2] = min(w[2], v)
            w[3] = max(w[3], v)
        got = {}
        for lbls, kind, v, ts in served_lines(sys.argv[4]):
            if kind not in ('count', 'sum', 'min', 'max'):
                continue
            w = got.setdefault((lbls, ts // res), [0, 0.0, math.inf, -math.inf])
            if kind == 'count':
                w[0] += v
            elif kind == 'sum':
                w[1] += v
            elif kind == 'min':
                w[2] = min(w[2], v)
            else:
                w[3] = max(w[3], v)
        bad = [k for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        for k in bad[:10]:
            print('window %s @%d: raw says count,sum,min,max=%s, served %s' % (k[0], k[1] * res, want.get(k),
                                                                                got.get(k)))
        print('%d windows compared, %d differ' % (len(want), len(bad)))
        sys.exit(1 if bad or not want else 0)
    else:
        sys.exit('unknown command ' + cmd)


main()
