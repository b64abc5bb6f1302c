#!/usr/bin/env python3
"""prom_watch — the Prometheus half of bench/compact.

  prom_watch.py plan DATA_DIR
      how many compactions Prometheus 2.42 will run over the blocks in
      DATA_DIR with default block ranges (2h x 3^k up to 31 d, which is what
      --storage.tsdb.retention.time=100y gives): its LeveledCompactor plan
      for blocks that do not overlap, replayed until nothing is due
  prom_watch.py watch PID LOG DATA_DIR EXPECTED TIMEOUT_S
      poll the Prometheus process PID every 100 ms until its log LOG has
      EXPECTED "compact blocks" lines and no <ULID>.tmp-for-creation is left
      in DATA_DIR (or TIMEOUT_S passed), then print key=value: done (0/1),
      compactions, the sum of their logged durations, the samples they
      compacted (each output counted as the sum of its sources' samples,
      the originals read from their meta.json before Prometheus touches
      them), the process's RSS just before the first compaction started
      (first tmp dir seen), the largest RSS polled after that, VmHWM, and
      the CPU seconds it used from that moment to the end.
"""
import glob
import json
import os
import re
import sys
import time

H = 3600 * 1000


def metas(data):
    out = {}
    for m in glob.glob(os.path.join(data, "*", "meta.json")):
        with open(m) as f:
            j = json.load(f)
        out[j["ulid"]] = j
    return out


def plan_count(data):
    ranges = []
    r = 2 * H
    while len(ranges) < 10 and r <= 31 * 24 * H:
        ranges.append(r)
        r *= 3
    blocks = sorted((m["minTime"], m["maxTime"]) for m in metas(data).values())
    n = 0
    while True:
        dirs = blocks[:-1]  # the newest block is left out
        chosen = None
        if dirs:
            high = dirs[-1][0]
            for iv in ranges[1:]:
                i = 0
                while i < len(dirs) and chosen is None:
                    t0 = iv * (dirs[i][0] // iv)
                    if dirs[i][1] > t0 + iv:
                        i += 1
                        continue
                    j = i
                    while j < len(dirs) and dirs[j][0] >= t0 and dirs[j][1] <= t0 + iv:
                        j += 1
                    p = dirs[i:j]
                    i = j
                    if len(p) > 1 and (p[-1][1] - p[0][0] == iv or p[-1][1] <= high):
                        chosen = p
                if chosen:
                    break
        if not chosen:
            return n
        n += 1
        rest = [b for b in blocks if b not in chosen]
        blocks = sorted(rest + [(chosen[0][0], max(b[1] for b in chosen))])


UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(s):
    return sum(float(v) * UNITS[u] for v, u in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", s))


def compactions(log):
    out = []
    try:
        with open(log, errors="replace") as f:
            for line in f:
                if 'msg="compact blocks"' not in line:
                    continue
                d = re.search(r"\bduration=(\S+)", line)
                u = re.search(r"\bulid=(\S+)", line)
                s = re.search(r'\bsources="\[([^\]]*)\]"', line)
                out.append((go_duration(d.group(1)) if d else 0.0, u.group(1) if u else "",
                            s.group(1).split() if s else []))
    except FileNotFoundError:
        pass
    return out


def proc(pid):
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                st[k] = int(v.split()[0])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    st["cpu"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return st


def watch(pid, log, data, expected, timeout):
    samples = {u: m["stats"]["numSamples"] for u, m in metas(data).items()}
    t0 = time.time()
    prev = before = None
    peak = 0
    last = None
    done = False
    while time.time() - t0 < timeout:
        try:
            cur = proc(pid)
        except OSError:
            break
        tmp = glob.glob(os.path.join(data, "*.tmp-for-creation"))
        n = len(compactions(log))
        if before is None and (tmp or n):
            before = prev or cur
        if before is not None:
            peak = max(peak, cur["VmRSS"])
        last = cur
        if n >= expected and not tmp:
            done = True
            break
        prev = cur
        time.sleep(0.1)
    cs = compactions(log)
    total = 0
    for _, ulid, sources in cs:
        n = sum(samples.get(s, 0) for s in sources)
        samples[ulid] = n
        total += n
    before = before or last or {"VmRSS": 0, "cpu": 0.0}
    last = last or before
    print(f"done={int(done)} compactions={len(cs)} expected={expected} "
          f"duration_s={sum(c[0] for c in cs):.3f} samples={total} "
          f"rss_before_kib={before['VmRSS']} rss_peak_kib={max(peak, before['VmRSS'])} "
          f"hwm_kib={last.get('VmHWM', 0)} cpu_s={last['cpu'] - before['cpu']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "plan":
        print(plan_count(sys.argv[2]))
    elif len(sys.argv) == 7 and sys.argv[1] == "watch":
        watch(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
    else:
        sys.exit(__doc__)
