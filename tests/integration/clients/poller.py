#!/usr/bin/env python3
"""Polls one job until SIGTERM: poller.py URL KEY JOB OUT.

One GET /v1/jobs/JOB every 50 ms, each on a new connection, with
Authorization: Bearer KEY; appends "status seconds" to OUT per poll (status
"error:<kind>" when the connection failed).  Exits 0 on SIGTERM.
"""
import http.client
import signal
import sys
import time
import urllib.parse

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
url, key, job, out = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with open(out, "w") as f:
    while True:
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
            c.request("GET", "/v1/jobs/" + job, headers={"Authorization": "Bearer " + key})
            r = c.getresponse()
            r.read()
            status = r.status
            c.close()
        except OSError as e:
            status = "error:" + type(e).__name__
        f.write(f"{status} {time.monotonic() - t0:.3f}\n")
        f.flush()
        time.sleep(0.05)
