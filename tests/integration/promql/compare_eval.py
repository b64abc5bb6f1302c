#!/usr/bin/env python3
"""Runs every query of a corpus as an instant and as a range query against a
live Prometheus (/api/v1/query, /api/v1/query_range) and against strata —
`strata tools promql query --batch` over the same data dir, or (with
--strata-url) a running `strata query` over its HTTP API, asked exactly as
Prometheus is (POST form, the same parameters) — and compares the two
answers:

  - the same status; for errors the same errorType and message;
  - the same resultType; scalars and strings equal;
  - vectors and matrices: the same set of label sets; per series the same
    timestamps, values equal within 1e-9 relative (NaN equals NaN,
    infinities by sign); for sort()/sort_desc() at the top the same order of
    values as well (the order of ties is not specified);
  - over HTTP also the same status code, and no "warnings" from strata
    (one would mean a store failed and the answer is partial).

A query may be listed in the known-differences file (query<TAB>reason);
its mismatches are reported but not counted as failures. Prints each
difference, counts of byte-identical answers, and a summary line
"N passed, M failed, K known"; exit 1 when M > 0.

  compare_eval.py --url URL (--strata BIN --data-dir DIR | --strata-url URL)
                  --corpus FILE --time T [--time T2 ...]
                  --range START,END,STEP [--range ...] [--known FILE]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def load_corpus(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            out.append(line)
    return out


def load_known(path):
    known = {}
    if not path:
        return known
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            q, _, why = line.partition("\t")
            known[q] = why
    return known


def ask_http(url, params, path):
    """POSTs the form to url+path: (HTTP status, body)."""
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url + path, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def ask_strata(binary, datadir, queries, args):
    """One `strata tools promql query --batch` run for all queries: one
    response line per query line."""
    cmd = [binary, "tools", "promql", "query", "--batch", "--data-dir=" + datadir] + args
    inp = "".join(q + "\n" for q in queries).encode()
    p = subprocess.run(cmd, input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=150)
    out = p.stdout.decode("utf-8", "replace").split("\n")
    if p.returncode not in (0, 1) or len(out) != len(queries) + 1:
        sys.exit("strata failed (exit %d, %d answers for %d queries): %s" % (
            p.returncode, len(out) - 1, len(queries), p.stderr.decode("utf-8", "replace")[:800]))
    return out[:-1]


def fval(s):
    return float(s.replace("Inf", "inf").replace("NaN", "nan"))


def vals_equal(a, b):
    x, y = fval(a), fval(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    if x == y:
        return True
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))


def key(metric):
    return json.dumps(metric, sort_keys=True)


def compare(q, want, got):
    """None if equal, else a description of the first difference."""
    if want.get("status") != got.get("status"):
        return "status %s (%s) vs %s (%s)" % (want.get("status"), want.get("error"), got.get("status"),
                                               got.get("error"))
    if want["status"] == "error":
        if want.get("errorType") != got.get("errorType") or want.get("error") != got.get("error"):
            return "error %s: %r vs %s: %r" % (want.get("errorType"), want.get("error"), got.get("errorType"),
                                              got.get("error"))
        return None
    wd, gd = want["data"], got["data"]
    if wd["resultType"] != gd["resultType"]:
        return "resultType %s vs %s" % (wd["resultType"], gd["resultType"])
    rt = wd["resultType"]
    if rt in ("scalar", "string"):
        if wd["result"][0] != gd["result"][0]:
            return "time %s vs %s" % (wd["result"][0], gd["result"][0])
        if rt == "string":
            return None if wd["result"][1] == gd["result"][1] else "string %r vs %r" % (wd["result"][1],
                                                                                        gd["result"][1])
        return None if vals_equal(wd["result"][1], gd["result"][1]) else "scalar %s vs %s" % (wd["result"][1],
                                                                                              gd["result"][1])
    ws = {key(s["metric"]): s for s in wd["result"]}
    gs = {key(s["metric"]): s for s in gd["result"]}
    if len(ws) != len(wd["result"]) or len(gs) != len(gd["result"]):
        return "duplicate label sets in a result"
    missing = sorted(set(ws) - set(gs))
    extra = sorted(set(gs) - set(ws))
    if missing or extra:
        return "series: %d missing (e.g. %s), %d extra (e.g. %s)" % (len(missing), missing[:1], len(extra),
                                                                    extra[:1])
    for k, s in ws.items():
        pw = [s["value"]] if rt == "vector" else s.get("values", [])
        g = gs[k]
        pg = [g["value"]] if rt == "vector" else g.get("values", [])
        if [p[0] for p in pw] != [p[0] for p in pg]:
            return "series %s: timestamps differ (%d vs %d points, first %s vs %s)" % (
                k, len(pw), len(pg), pw[:1], pg[:1])
        for a, b in zip(pw, pg):
            if not vals_equal(a[1], b[1]):
                return "series %s at %s: %s vs %s" % (k, a[0], a[1], b[1])
    top = q.strip()
    if rt == "vector" and (top.startswith("sort(") or top.startswith("sort_desc(")):
        if not all(vals_equal(a["value"][1], b["value"][1]) for a, b in zip(wd["result"], gd["result"])):
            return "order of values differs"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--strata")
    ap.add_argument("--data-dir")
    ap.add_argument("--strata-url", help="a running strata query instead of --strata/--data-dir")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--known")
    ap.add_argument("--time", action="append", required=True)
    ap.add_argument("--range", action="append", required=True, help="START,END,STEP")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--strata-arg", action="append", default=[], help="extra flag for strata")
    args = ap.parse_args()
    if bool(args.strata_url) == bool(args.strata and args.data_dir):
        ap.error("give either --strata-url or both --strata and --data-dir")
    queries = load_corpus(args.corpus)
    known = load_known(args.known)

    runs = [("instant@" + t, {"time": t}, "/api/v1/query", ["--time=" + t]) for t in args.time]
    for r in args.range:
        start, end, step = r.split(",")
        runs.append(("range@" + r, {"start": start, "end": end, "step": step}, "/api/v1/query_range",
                     ["--start=" + start, "--end=" + end, "--step=" + step]))
    cases = []
    for kind, params, path, sargs in runs:
        if args.strata_url:
            answers = [None] * len(queries)
        else:
            answers = ask_strata(args.strata, args.data_dir, queries, sargs + args.strata_arg)
        for q, got in zip(queries, answers):
            cases.append((q, kind, dict(params, query=q), path, got))

    def run(case):
        """(case, Prometheus's body, strata's body, a difference seen before parsing or None)"""
        q, kind, params, path, got = case
        want_code, want = ask_http(args.url, params, path)
        if not args.strata_url:
            return case, want, got, None
        try:
            got_code, got = ask_http(args.strata_url, params, path)
        except OSError as e:
            return case, want, "", "no answer: %s" % e
        if got_code != want_code:
            return case, want, got, "HTTP status %d vs %d: %r" % (want_code, got_code, got[:300])
        return case, want, got, None

    passed = failed = known_n = identical = errors = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as ex:
        for case, want_raw, got_raw, err in ex.map(run, cases):
            q, kind = case[0], case[1]
            try:
                want = json.loads(want_raw)
            except ValueError:
                print("DIFF %s %s\n  prometheus answered no JSON: %r" % (kind, q, want_raw[:300]))
                failed += 1
                continue
            if err:
                diff = "strata: " + err
            else:
                try:
                    got = json.loads(got_raw)
                    diff = compare(q, want, got)
                    if diff is None and "warnings" in got and "warnings" not in want:
                        diff = "strata warns: %s" % got["warnings"][:3]
                except (ValueError, KeyError, TypeError, IndexError) as e:
                    diff = "unreadable strata answer (%s): %r" % (e, got_raw[:300])
            if diff is None:
                passed += 1
                errors += want.get("status") == "error"
                if got_raw.strip() == want_raw.strip():
                    identical += 1
                continue
            if q in known:
                known_n += 1
                print("KNOWN %s %s\n  %s\n  reason: %s" % (kind, q, diff, known[q]))
                continue
            failed += 1
            print("DIFF %s %s\n  %s" % (kind, q, diff))
    print("%d queries, %d evaluations; %d answers byte-identical to Prometheus's; %d equal errors" % (
        len(queries), len(cases), identical, errors))
    print("%d passed, %d failed, %d known" % (passed, failed, known_n))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
