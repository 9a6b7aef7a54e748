#!/usr/bin/env python3
"""Submit a job with requests, poll it (honouring Retry-After) until it
finishes, and receive and verify its webhook.

    HANGTIGHT_URL=http://127.0.0.1:8080 HANGTIGHT_WEBHOOK_SECRET=whsec_... python3 examples/python/poll_requests.py

HANGTIGHT_API_KEY, when set, is sent as "Authorization: Bearer".  A
loopback callback_url needs HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 on the api and
worker (development); HANGTIGHT_CALLBACK_HOST changes the host it names.
Exits 0 when the job succeeded and its webhook verified.
"""
import os
import sys
import time

import requests

from webhook_receiver import Receiver

BASE = os.environ.get("HANGTIGHT_URL", "http://127.0.0.1:8080")
SECRET = os.environ["HANGTIGHT_WEBHOOK_SECRET"]
session = requests.Session()
if os.environ.get("HANGTIGHT_API_KEY"):
    session.headers["Authorization"] = "Bearer " + os.environ["HANGTIGHT_API_KEY"]

with Receiver(SECRET, callback_host=os.environ.get("HANGTIGHT_CALLBACK_HOST")) as rx:
    r = session.post(f"{BASE}/v1/jobs", json={"type": "sleep", "payload": {"ms": 1500, "steps": 3},
                                               "callback_url": rx.url}, timeout=10)
    if r.status_code != 202:
        sys.exit(f"submit: {r.status_code} {r.text}")  # application/problem+json
    location = r.headers["Location"]
    print("submitted", location, file=sys.stderr)

    while True:
        time.sleep(int(r.headers.get("Retry-After", "1")))
        r = session.get(BASE + location, timeout=10)
        r.raise_for_status()
        job = r.json()
        print(job["status"], job["progress"]["percent"], job["progress"]["message"], file=sys.stderr)
        if job["status"] in ("succeeded", "failed", "canceled"):
            break
    print(r.text)

    msg_id, event = rx.wait(30)
    print("webhook verified:", msg_id, event["type"], file=sys.stderr)
    sys.exit(0 if job["status"] == "succeeded" and event["type"] == "job.succeeded" else 1)
