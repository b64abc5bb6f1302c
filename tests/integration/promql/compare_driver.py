#!/usr/bin/env python3
"""Runs promql_driver over every query of a cases.jsonl table and compares
its answers with the expected ones: those of the table, or (--url) those of
a live Prometheus asked again now. Prints each difference and a summary
("N passed, M failed"); exit 1 on any difference.

  compare_driver.py DRIVER CASES [--url http://127.0.0.1:PORT]
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True


def load_oracle(path):
    spec = importlib.util.spec_from_file_location("collect_oracle", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("cases")
    ap.add_argument("--url")
    ap.add_argument("--oracle", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "../../unit/promql/collect_oracle.py"))
    args = ap.parse_args()
    oracle = load_oracle(args.oracle)
    with open(args.cases) as f:
        cases = [json.loads(line) for line in f if line.strip()]
    queries = [oracle.query_of(c) for c in cases]
    inp = "".join(q.hex() + "\n" for q in queries)
    out = subprocess.run([args.driver], input=inp.encode(), stdout=subprocess.PIPE, check=True,
                         timeout=120).stdout.decode().splitlines()
    if len(out) != len(queries):
        sys.exit("driver answered %d lines for %d queries" % (len(out), len(queries)))
    passed = failed = pos_only = 0
    for c, q, line in zip(cases, queries, out):
        kind, _, hx = line.partition(" ")
        # Prometheus's JSON turns invalid UTF-8 into U+FFFD; so do we
        got = bytes.fromhex(hx).decode("utf-8", "replace")
        if args.url:
            ok, want = oracle.ask(args.url, q)
        else:
            ok, want = c["ok"], c["want"]
        got_ok = kind == "ok"
        if got_ok == ok and (got == want or (ok and "\n" in want)):
            passed += 1
            continue
        failed += 1
        if not ok and not got_ok and got.split(" ", 1)[0] == want.split(" ", 1)[0]:
            pos_only += 1
        print("DIFF %r\n  want %s %r\n  got  %s %r" % (q, "ok" if ok else "error", want, kind, got))
    print("%d passed, %d failed (%d of the failures have the right position)" % (passed, failed, pos_only))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
