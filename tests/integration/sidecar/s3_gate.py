#!/usr/bin/env python3
"""HTTP proxy in front of s3rver that can hold one chosen request.

usage: s3_gate.py LISTEN_PORT UPSTREAM_PORT CONTROL_DIR PARENT_PID

Every request is forwarded to 127.0.0.1:UPSTREAM_PORT on a fresh upstream
connection (with Connection: close) and its request line is appended to
CONTROL_DIR/requests.log. When CONTROL_DIR/gate exists, it holds a regex;
the first request whose "METHOD PATH" matches it is held: the gate file is
removed, CONTROL_DIR/held is written, and the request waits (at most 120 s)
until CONTROL_DIR/release appears, which the proxy then removes along with
held. If the upstream is down, the client connection is closed without an
answer: what a killed S3 server looks like. The proxy exits when
PARENT_PID does.
"""
import os
import re
import socket
import socketserver
import sys
import threading
import time

LISTEN, UPSTREAM, CTL, PARENT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
lock = threading.Lock()


def read_head(f):
    lines = []
    while True:
        line = f.readline(65536)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            return lines
        lines.append(line.rstrip(b"\r\n"))


def read_body(f, headers):
    te = headers.get(b"transfer-encoding", b"").lower()
    if te == b"chunked":
        body = b""
        while True:
            size = int(f.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += f.read(size)
            f.readline()
    n = int(headers.get(b"content-length", b"0"))
    return f.read(n) if n else b""


def gate_hit(reqline):
    path = os.path.join(CTL, "gate")
    with lock:
        try:
            with open(path) as g:
                pattern = g.read().strip()
        except FileNotFoundError:
            return False
        if not re.search(pattern, reqline):
            return False
        os.remove(path)
        with open(os.path.join(CTL, "held"), "w") as h:
            h.write(reqline + "\n")
        return True


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        head = read_head(self.rfile)
        if not head:
            return
        reqline = head[0].decode("latin-1")
        method, target = reqline.split(" ")[:2]
        headers = {}
        for h in head[1:]:
            k, _, v = h.partition(b":")
            headers[k.strip().lower()] = v.strip()
        if headers.get(b"expect", b"").lower() == b"100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        body = read_body(self.rfile, headers)
        with lock, open(os.path.join(CTL, "requests.log"), "a") as log:
            log.write("%s %s\n" % (method, target))
        if gate_hit("%s %s" % (method, target)):
            deadline = time.time() + 120
            release = os.path.join(CTL, "release")
            while not os.path.exists(release) and time.time() < deadline:
                time.sleep(0.05)
            for name in ("release", "held"):
                try:
                    os.remove(os.path.join(CTL, name))
                except FileNotFoundError:
                    pass
        out = [head[0]]
        for h in head[1:]:
            k = h.partition(b":")[0].strip().lower()
            if k in (b"expect", b"connection", b"transfer-encoding", b"content-length"):
                continue
            out.append(h)
        out.append(b"Content-Length: %d" % len(body))
        out.append(b"Connection: close")
        try:
            up = socket.create_connection(("127.0.0.1", UPSTREAM), timeout=30)
            up.sendall(b"\r\n".join(out) + b"\r\n\r\n" + body)
            while True:
                data = up.recv(65536)
                if not data:
                    break
                self.wfile.write(data)
            up.close()
        except OSError:
            # upstream gone: drop the client without an answer
            self.connection.shutdown(socket.SHUT_RDWR)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def watchdog():
    while True:
        try:
            os.kill(PARENT, 0)
        except OSError:
            os._exit(0)
        time.sleep(1)


threading.Thread(target=watchdog, daemon=True).start()
Server(("127.0.0.1", LISTEN), Handler).serve_forever()
