#!/usr/bin/env python3
"""The demo's scrape target: a simulated HTTP server's own metrics.

Serves /metrics in the Prometheus text exposition format 0.0.4 on the
given loopback address. A thread simulates traffic ten times a second:
the request rate of each path swings on a slow sine (so rate() moves),
a few requests fail, and each request's latency lands in a classic
histogram. Metrics:

  demo_http_requests_total{method,path,status}         counter
  demo_http_request_duration_seconds{path}             histogram
  demo_http_requests_in_flight                         gauge
  demo_build_info{version}                             gauge, always 1

Usage: demo_target.py --listen 127.0.0.1:PORT [--seed N]
The seed shifts the phases and scales the load, so two regions differ.
SIGTERM or SIGINT stop it.
"""
import argparse
import http.server
import math
import random
import signal
import threading
import time

PATHS = [("GET", "/"), ("GET", "/api/items"), ("POST", "/api/items"), ("GET", "/login")]
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
TICK = 0.1  # seconds between simulation steps
PERIOD = 300.0  # seconds of one load swing


class Traffic:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.scale = 1.0 + 0.5 * (seed % 3)
        self.phase = {p: self.rng.uniform(0, 2 * math.pi) for p in PATHS}
        self.lock = threading.Lock()
        # every series from the start, so none appears mid-demo
        self.requests = {(m, p, s): 0 for m, p in PATHS for s in ("200", "404", "500")}
        self.hist = {path: [0] * (len(BUCKETS) + 1) for _, path in PATHS}  # last = +Inf
        self.hist_sum = {path: 0.0 for _, path in PATHS}
        self.in_flight = 0
        self.start = time.time()

    def step(self, now):
        with self.lock:
            in_flight = 0
            for i, (method, path) in enumerate(PATHS):
                swing = 1 + 0.8 * math.sin(2 * math.pi * (now - self.start) / PERIOD + self.phase[(method, path)])
                per_sec = self.scale * (20 - 4 * i) * swing
                want = per_sec * TICK * self.rng.uniform(0.5, 1.5)
                n = int(want) + (self.rng.random() < want - int(want))
                in_flight += n
                for _ in range(n):
                    r = self.rng.random()
                    status = "500" if r < 0.02 * swing else "404" if r < 0.06 else "200"
                    key = (method, path, status)
                    self.requests[key] += 1
                    latency = self.rng.lognormvariate(math.log(0.03 * (1 + i)), 0.8)
                    b = next((k for k, le in enumerate(BUCKETS) if latency <= le), len(BUCKETS))
                    self.hist[path][b] += 1
                    self.hist_sum[path] += latency
            self.in_flight = in_flight

    def render(self):
        out = []
        with self.lock:
            out.append("# HELP demo_http_requests_total Requests served, by method, path and status.")
            out.append("# TYPE demo_http_requests_total counter")
            for (method, path, status), v in sorted(self.requests.items()):
                out.append(f'demo_http_requests_total{{method="{method}",path="{path}",status="{status}"}} {v}')
            out.append("# HELP demo_http_request_duration_seconds Request latency.")
            out.append("# TYPE demo_http_request_duration_seconds histogram")
            for path in sorted(self.hist):
                cum = 0
                for k, le in enumerate(BUCKETS + [None]):
                    cum += self.hist[path][k]
                    les = "+Inf" if le is None else repr(le)
                    out.append(f'demo_http_request_duration_seconds_bucket{{path="{path}",le="{les}"}} {cum}')
                out.append(f'demo_http_request_duration_seconds_sum{{path="{path}"}} {self.hist_sum[path]:.6f}')
                out.append(f'demo_http_request_duration_seconds_count{{path="{path}"}} {cum}')
            out.append("# HELP demo_http_requests_in_flight Requests being served now.")
            out.append("# TYPE demo_http_requests_in_flight gauge")
            out.append(f"demo_http_requests_in_flight {self.in_flight}")
            out.append("# HELP demo_build_info The demo target's version.")
            out.append("# TYPE demo_build_info gauge")
            out.append('demo_build_info{version="1.0"} 1')
        return ("\n".join(out) + "\n").encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT to serve /metrics on")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    traffic = Traffic(args.seed)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = traffic.render()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):
            pass  # one line per scrape would bury the log

    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    stop = threading.Event()

    def simulate():
        nxt = time.monotonic()
        while not stop.is_set():
            traffic.step(time.time())
            nxt += TICK
            stop.wait(max(0.0, nxt - time.monotonic()))

    threading.Thread(target=simulate, daemon=True).start()

    def on_signal(signum, frame):
        stop.set()
        # shutdown() waits for serve_forever, which runs in this thread
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"demo target serving http://{host}:{port}/metrics", flush=True)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    main()
