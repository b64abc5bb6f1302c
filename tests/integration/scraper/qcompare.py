#!/usr/bin/env python3
"""Compare two /api/v1/query(_range) answers: PROM (expected) and STRATA.

Each FILE has a FILE.code with the HTTP status. The statuses, status,
errorType, error and resultType must be equal; results are matched by label
set, with equal timestamps and values within 1e-9 relative (NaN = NaN).
Prints a one-line summary; exits 1 with the first difference."""
import json
import math
import sys


def load(path):
    with open(path + ".code") as f:
        code = f.read().strip()
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return code, json.loads(raw)
    except ValueError:
        sys.exit(f"{path}: HTTP {code}, not JSON: {raw[:200]!r}")


def close(a, b):
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return x == y or abs(x - y) <= 1e-9 * max(abs(x), abs(y))


def points(entry):
    return entry["values"] if "values" in entry else [entry["value"]]


def main():
    (pc, p), (sc, s) = load(sys.argv[1]), load(sys.argv[2])
    if pc != sc:
        sys.exit(f"HTTP {sc}, prometheus {pc}; strata: {json.dumps(s)[:300]}")
    for k in ("status", "errorType", "error"):
        if p.get(k) != s.get(k):
            sys.exit(f"{k}: strata {s.get(k)!r}, prometheus {p.get(k)!r}")
    if p["status"] != "success":
        return print(f"HTTP {pc} {p['errorType']}: {p['error']}")
    pd, sd = p["data"], s["data"]
    if pd["resultType"] != sd["resultType"]:
        sys.exit(f"resultType: strata {sd['resultType']}, prometheus {pd['resultType']}")
    if pd["resultType"] in ("scalar", "string"):
        pr, sr = [{"metric": {}, "value": pd["result"]}], [{"metric": {}, "value": sd["result"]}]
    else:
        pr, sr = pd["result"], sd["result"]
    key = lambda e: json.dumps(e["metric"], sort_keys=True)
    pm, sm = {key(e): e for e in pr}, {key(e): e for e in sr}
    if pm.keys() != sm.keys():
        sys.exit(f"series only in prometheus: {sorted(pm.keys() - sm.keys())[:5]}, "
                 f"only in strata: {sorted(sm.keys() - pm.keys())[:5]}")
    npts = 0
    for k, pe in pm.items():
        pp, sp = points(pe), points(sm[k])
        if [t for t, _ in pp] != [t for t, _ in sp]:
            sys.exit(f"{k}: timestamps: strata {[t for t, _ in sp][:8]}, prometheus {[t for t, _ in pp][:8]}")
        for (t, pv), (_, sv) in zip(pp, sp):
            if not close(pv, sv):
                sys.exit(f"{k} at {t}: strata {sv}, prometheus {pv}")
        npts += len(pp)
    print(f"{pd['resultType']}, {len(pm)} series, {npts} points equal")


main()
