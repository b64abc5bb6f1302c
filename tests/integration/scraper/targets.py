#!/usr/bin/env python3
"""Metric targets for the scraper tests: serves DIR/<name> at /m/<name>.

  *.prom  -> text/plain; version=0.0.4      *.om -> application/openmetrics-text; version=1.0.0
  *.json  -> application/json (http_sd documents)
  a name starting with gz_ is sent gzip-encoded when the client accepts gzip
  /slow/<seconds>/<name>  sleeps first (scrape timeouts)
  /status/<code>          answers with that status

usage: targets.py DIR PORTFILE   (binds 127.0.0.1:0 and writes the port to PORTFILE)
"""
import gzip
import http.server
import os
import sys
import time

ROOT = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, code, body, ctype, encoding=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        try:
            if parts[0] == "status":
                self.send_body(int(parts[1]), b"nope\n", "text/plain")
                return
            if parts[0] == "slow":
                time.sleep(float(parts[1]))
                parts = ["m"] + parts[2:]
            if parts[0] != "m" or len(parts) != 2 or "/" in parts[1]:
                self.send_body(404, b"not found\n", "text/plain")
                return
            name = parts[1]
            with open(os.path.join(ROOT, name), "rb") as f:
                body = f.read()
        except (OSError, ValueError, IndexError):
            self.send_body(404, b"not found\n", "text/plain")
            return
        except BrokenPipeError:
            return
        ctype = ("application/openmetrics-text; version=1.0.0; charset=utf-8" if name.endswith(".om")
                 else "application/json" if name.endswith(".json")
                 else "text/plain; version=0.0.4; charset=utf-8")
        enc = None
        if name.startswith("gz_") and "gzip" in self.headers.get("Accept-Encoding", ""):
            body, enc = gzip.compress(body), "gzip"
        try:
            self.send_body(200, body, ctype, enc)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


srv = Server(("127.0.0.1", 0), Handler)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, sys.argv[2])
srv.serve_forever()
