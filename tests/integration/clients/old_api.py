#!/usr/bin/env python3
"""A stand-in for an older hangtight-api without the event stream, for the
CLI's fallback: GET /v1/jobs/<id>/events is a 404 "not-found" route, and
GET /v1/jobs/<id> answers a job that runs for a second, then succeeds.

    old_api.py PORT_FILE  (serves until SIGTERM)

Listens on a free loopback port (the kernel picks it), written to PORT_FILE
once listening.
"""
import http.server
import json
import os
import signal
import sys
import time

START = time.monotonic()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, doc, ctype="application/json"):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["v1", "jobs"]:
            done = time.monotonic() - START > 1.0
            self.reply(200, {"id": parts[2], "status": "succeeded" if done else "running",
                             "progress": {"percent": 100 if done else 50, "message": None},
                             "attempt": 1, "max_attempts": 3, "result": {"old": True}})
        else:
            self.reply(404, {"type": "urn:hangtight:problem:not-found", "title": "Not found",
                             "status": 404}, "application/problem+json")

    def log_message(self, *args):
        pass


# A clean exit on SIGTERM, as the tests expect of every process they stop.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
