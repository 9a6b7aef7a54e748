#!/usr/bin/env python3
"""Sync mode with the standard library's http.client: one request that is
held until the job finishes (Prefer: wait=N), then its webhook, verified.

Python's http.client takes a "102 Processing" interim answer for the final
one (it only skips 100 Continue), so ask for no heartbeats: heartbeat=0.
Behind a proxy with an idle timeout shorter than the job, use polling
instead (poll_requests.py).

    HANGTIGHT_URL=http://127.0.0.1:8080 HANGTIGHT_WEBHOOK_SECRET=whsec_... python3 examples/python/sync_http_client.py

Exits 0 when the job succeeded and its webhook verified.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

from webhook_receiver import Receiver

BASE = urllib.parse.urlsplit(os.environ.get("HANGTIGHT_URL", "http://127.0.0.1:8080"))
SECRET = os.environ["HANGTIGHT_WEBHOOK_SECRET"]
WAIT_S = 30

with Receiver(SECRET, callback_host=os.environ.get("HANGTIGHT_CALLBACK_HOST")) as rx:
    body = json.dumps({"type": "sleep", "payload": {"ms": 1500, "steps": 3}, "callback_url": rx.url})
    headers = {"Content-Type": "application/json", "Prefer": f"wait={WAIT_S}, heartbeat=0"}
    if os.environ.get("HANGTIGHT_API_KEY"):
        headers["Authorization"] = "Bearer " + os.environ["HANGTIGHT_API_KEY"]
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port or 80, timeout=WAIT_S + 10)
    started = time.monotonic()
    conn.request("POST", "/v1/jobs", body, headers)
    res = conn.getresponse()
    doc = json.loads(res.read())
    print(f"{res.status} after {time.monotonic() - started:.1f} s, Preference-Applied: "
          f"{res.getheader('Preference-Applied')}", file=sys.stderr)
    if res.status == 202:
        # Not finished within WAIT_S: the job goes on; poll doc["links"]["self"].
        sys.exit(f"still {doc['status']}: poll {res.getheader('Location')}")
    if res.status != 200:
        sys.exit(f"submit: {res.status} {doc}")  # application/problem+json
    print(json.dumps(doc))

    msg_id, event = rx.wait(30)
    print("webhook verified:", msg_id, event["type"], file=sys.stderr)
    sys.exit(0 if doc["status"] == "succeeded" and event["type"] == "job.succeeded" else 1)
