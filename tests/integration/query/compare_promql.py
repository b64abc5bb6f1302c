#!/usr/bin/env python3
"""compare_promql.py PROM.json OURS.json [--min-series N] [--relabel K=V]

Compares two /api/v1/query(_range) answers: the same result type, the same
series (label sets), the same timestamps, values equal within 1e-9
(relative for magnitudes above 1; NaN equals NaN). --relabel adds a label
to every series of PROM first (to expect the replica label). Exits 1 with
the first differences on stderr; 2 when PROM holds fewer than N series
(the check would test nothing)."""
import json, math, sys

def load(path):
    with open(path) as f:
        d = json.load(f)
    if d.get("status") != "success":
        sys.exit(f"{path}: not a success: {json.dumps(d)[:300]}")
    return d["data"]

def points(r):
    if "values" in r:
        return r["values"]
    return [r["value"]]

def close(a, b):
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))

def main():
    args = sys.argv[1:]
    min_series, extra = 1, {}
    while len(args) > 2:
        if args[2] == "--min-series":
            min_series = int(args[3])
        elif args[2] == "--relabel":
            k, v = args[3].split("=", 1)
            extra[k] = v
        else:
            sys.exit(f"unknown argument {args[2]}")
        del args[2:4]
    p, q = load(args[0]), load(args[1])
    errs = []
    if p["resultType"] != q["resultType"]:
        errs.append(f"resultType {q['resultType']}, want {p['resultType']}")
    if p["resultType"] in ("scalar", "string"):
        if p["result"][0] != q["result"][0] or not close(p["result"][1], q["result"][1]):
            errs.append(f"{q['result']}, want {p['result']}")
    else:
        key = lambda m: tuple(sorted(m.items()))
        ps = {key({**r["metric"], **extra}): points(r) for r in p["result"]}
        qs = {key(r["metric"]): points(r) for r in q["result"]}
        if len(ps) < min_series:
            print(f"Prometheus answered {len(ps)} series, fewer than {min_series}", file=sys.stderr)
            sys.exit(2)
        for k in sorted(set(ps) - set(qs))[:3]:
            errs.append(f"missing series {dict(k)}")
        for k in sorted(set(qs) - set(ps))[:3]:
            errs.append(f"extra series {dict(k)}")
        for k in sorted(set(ps) & set(qs)):
            pt, qt = [t for t, _ in ps[k]], [t for t, _ in qs[k]]
            if pt != qt:
                missing = sorted(set(pt) - set(qt))[:3]
                extra_t = sorted(set(qt) - set(pt))[:3]
                errs.append(f"{dict(k)}: {len(qt)} timestamps, want {len(pt)}; missing {missing} extra {extra_t}")
                continue
            for (t, a), (_, b) in zip(ps[k], qs[k]):
                if not close(a, b):
                    errs.append(f"{dict(k)} @{t}: {b}, want {a}")
                    break
    if errs:
        print("\n".join(errs[:8]), file=sys.stderr)
        sys.exit(1)
    n = len(p["result"]) if p["resultType"] in ("vector", "matrix") else 1
    print(f"{n} series equal")

main()
