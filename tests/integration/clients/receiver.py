#!/usr/bin/env python3
"""A webhook receiver for the tests: records every request and answers as
scripted.

    receiver.py PORT_FILE LOG_FILE SCRIPT_FILE

Listens on a free loopback port (written to PORT_FILE once listening).
Every request is appended to LOG_FILE as one JSON line: {"method", "path",
"headers" (names lower-case), "body", "at" (ms)}.  SCRIPT_FILE is JSON, read
on every request (so a test may change it): {"<path>": [action, ...]}; the
Nth request to a path gets the Nth action, the last one repeating.  An
action is a status ("503"), a status with a Retry-After ("429 retry-after=1"),
or "hang <seconds>" (answers 200 only after that long).  Unknown paths get
404.  SIGTERM stops it with status 0.
"""
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT_FILE, LOG_FILE, SCRIPT_FILE = sys.argv[1:4]
counts = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body, "at": int(time.time() * 1000)}
        with lock:
            with open(LOG_FILE, "a") as f:
                f.write(json.dumps(entry) + "\n")
            n = counts.get(self.path, 0)
            counts[self.path] = n + 1
        with open(SCRIPT_FILE) as f:
            script = json.load(f)
        actions = script.get(self.path)
        if not actions:
            return self.answer(404)
        action = actions[min(n, len(actions) - 1)].split()
        if action[0] == "hang":
            time.sleep(float(action[1]))
            return self.answer(200)
        extra = {}
        for opt in action[1:]:
            name, _, value = opt.partition("=")
            if name == "retry-after":
                extra["Retry-After"] = value
        self.answer(int(action[0]), extra)

    do_GET = do_POST

    def answer(self, status, extra=None):
        try:
            self.send_response(status)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the client gave up (a timeout under test)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
