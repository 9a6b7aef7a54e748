#!/usr/bin/env python3
"""A raw-socket HTTP/1.x client for the integration tests.

It sees what high-level clients hide: every interim (1xx) response with the
time it arrived, the exact status lines, and several requests on one
connection, sent one after the other (keep-alive) or all in one write
(pipelined).

    rawhttp.py HOST:PORT SPEC.json

SPEC is a JSON object:
    {"mode": "sequential" | "pipelined",      default sequential
     "timeout": 30,                           seconds for the whole run
     "requests": [{"method": "POST", "path": "/v1/jobs",
                   "version": "HTTP/1.1",     default HTTP/1.1
                   "headers": {"Prefer": "wait=10"},
                   "json": {...} | "body": "text"}, ...]}

Prints one JSON object: {"responses": [...], "closed": bool} where each
response is {"version", "status", "reason", "headers": {lowercase name:
value}, "body": text, "t": seconds from the request's write to the final
status line, "interim": [{"status", "reason", "headers", "t"}]}.  Exits 1
(with what it has so far in the JSON and the reason on stderr) when the
connection closes or times out early.
"""
import json
import socket
import sys
import time


class Closed(Exception):
    pass


class Reader:
    """Buffered reads of lines and byte counts from a socket."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.buf = b""
        self.deadline = deadline

    def _fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed("connection closed by the server")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until_close(self):
        try:
            while True:
                self._fill()
        except Closed:
            pass
        data, self.buf = self.buf, b""
        return data


def read_head(reader):
    """A status line and its headers: (version, status, reason, headers)."""
    status_line = reader.line()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError("not a status line: %r" % status_line)
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = {}
    while True:
        line = reader.line()
        if line == "":
            break
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        # Repeated headers are joined the way RFC 9110 allows.
        headers[name] = headers[name] + ", " + value if name in headers else value
    return version, status, reason, headers


def read_body(reader, method, status, headers):
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int(reader.line().split(";")[0], 16)
            if size == 0:
                while reader.line() != "":  # trailers
                    pass
                return body
            body += reader.exactly(size)
            reader.line()
    if "content-length" in headers:
        return reader.exactly(int(headers["content-length"]))
    return reader.until_close()


def read_response(reader, method, sent_at):
    """One final response with the interim ones before it."""
    interim = []
    while True:
        version, status, reason, headers = read_head(reader)
        t = round(time.monotonic() - sent_at, 4)
        if 100 <= status < 200 and status != 101:
            interim.append({"status": status, "reason": reason, "headers": headers, "t": t})
            continue
        body = read_body(reader, method, status, headers)
        return {"version": version, "status": status, "reason": reason, "headers": headers,
                "body": body.decode("utf-8", "replace"), "t": t, "interim": interim}


def encode(req, host):
    method = req.get("method", "GET")
    version = req.get("version", "HTTP/1.1")
    headers = {"Host": host}
    body = b""
    if "json" in req:
        body = json.dumps(req["json"]).encode()
        headers["Content-Type"] = "application/json"
    elif "body" in req:
        body = req["body"].encode()
    if body or method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(body))
    headers.update(req.get("headers", {}))
    head = "%s %s %s\r\n" % (method, req["path"], version)
    head += "".join("%s: %s\r\n" % kv for kv in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    spec = json.loads(open(sys.argv[2]).read() if sys.argv[2] != "-" else sys.stdin.read())
    deadline = time.monotonic() + spec.get("timeout", 30)
    requests = spec["requests"]
    out = {"responses": [], "closed": False}
    rc = 0
    sock = socket.create_connection((host, int(port)), timeout=10)
    reader = Reader(sock, deadline)
    try:
        if spec.get("mode") == "pipelined":
            sent_at = time.monotonic()
            sock.sendall(b"".join(encode(r, sys.argv[1]) for r in requests))
            for r in requests:
                out["responses"].append(read_response(reader, r.get("method", "GET"), sent_at))
        else:
            for r in requests:
                sent_at = time.monotonic()
                sock.sendall(encode(r, sys.argv[1]))
                out["responses"].append(read_response(reader, r.get("method", "GET"), sent_at))
    except (Closed, TimeoutError, ValueError, OSError) as e:
        out["closed"] = isinstance(e, Closed)
        print("rawhttp: %s after %d responses" % (e, len(out["responses"])), file=sys.stderr)
        rc = 1
    finally:
        sock.close()
    print(json.dumps(out))
    return rc


if __name__ == "__main__":
    sys.exit(main())
