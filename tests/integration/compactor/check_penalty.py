#!/usr/bin/env python3
"""check_penalty.py ORIGINAL_DUMP DEDUP_DUMP MAX_SKIP

Checks the `promtool tsdb dump` of blocks deduplicated with Thanos's penalty
algorithm against the dump of the gap-free original both replicas were cut
from (same timestamps and values in both replicas):

  - the same series;
  - every output sample is an original sample (timestamp and value);
  - between two consecutive output samples of a series at most MAX_SKIP
    original samples are missing. The penalty algorithm, on switching to
    the replica it had been penalising, seeks past twice the last sample
    interval, so it drops up to two samples there; a replica's gap (an hour
    or more here) must never show.

Prints a summary; exit 1 with the first problems otherwise.
"""
import sys
from collections import defaultdict


def load(path):
    series = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            labels, _, rest = line.rpartition("} ")
            value, ts = rest.split(" ")
            series[labels + "}"].append((int(ts), value))
    return series


def main():
    orig, out, max_skip = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
    problems = []
    if set(orig) != set(out):
        missing = sorted(set(orig) - set(out))[:3]
        extra = sorted(set(out) - set(orig))[:3]
        problems.append(f"series differ: missing {missing} extra {extra}")
    dropped = 0
    for name in sorted(set(orig) & set(out)):
        o = orig[name]
        pos = {t: i for i, (t, _) in enumerate(o)}
        prev, broken = -1, False
        for t, v in out[name]:
            i = pos.get(t)
            if i is None:
                problems.append(f"{name}: sample at {t} is not in the original")
                broken = True
                break
            if o[i][1] != v:
                problems.append(f"{name}: value at {t} is {v}, original {o[i][1]}")
                broken = True
                break
            if i <= prev:
                problems.append(f"{name}: sample at {t} out of order or repeated")
                broken = True
                break
            if i - prev - 1 > max_skip:
                problems.append(f"{name}: {i - prev - 1} original samples missing before {t}")
                broken = True
                break
            dropped += i - prev - 1
            prev = i
        if not broken and len(o) - 1 - prev > max_skip:
            problems.append(f"{name}: the last {len(o) - 1 - prev} original samples are missing")
        dropped += len(o) - 1 - prev
    total = sum(len(v) for v in orig.values())
    print(f"{len(out)} series, {total - dropped} of {total} original samples kept, {dropped} dropped at replica switches")
    if problems:
        for p in problems[:10]:
            print("PROBLEM:", p)
        sys.exit(1)


if __name__ == "__main__":
    main()
