#!/usr/bin/env python3
"""Fault-suite submitter: POSTs jobs to the api one after another and records
every answer, so that the checker can tell acknowledged jobs (202) from
refused ones (503) and from requests whose fate is unknown (no answer).

  submit.py URL OUT.jsonl [--count N] [--until-file F] [--body JSON]
            [--timeout S] [--pause-ms MS]

Stops after N requests, or once F exists (whichever comes first).  Each line
of OUT is one request: {"seq", "t" (start, ms since the epoch), "ms" (its
latency), "status" (HTTP status, 0 when no answer), "id" (of a 202), "ctype",
"retry_after", "problem" (the problem's status field), "error" (client-side
error text)}.  A line is flushed as soon as the answer is in, so the file is
complete up to the moment the process is killed."""
import argparse
import http.client
import json
import os
import signal
import sys
import time
import urllib.parse


def main():
    # A test's cleanup stops us with SIGTERM: that is a normal end.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--until-file", default=None)
    ap.add_argument("--body", default='{"type": "echo", "payload": {}}')
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--pause-ms", type=float, default=0.0)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    conn = None
    seq = 0
    with open(a.out, "a", buffering=1) as out:
        while True:
            if a.count and seq >= a.count:
                break
            if a.until_file and os.path.exists(a.until_file):
                break
            seq += 1
            body = a.body.replace("@SEQ@", str(seq))
            rec = {"seq": seq, "t": int(time.time() * 1000), "status": 0, "id": None}
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
                conn.request("POST", "/v1/jobs", body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                rec["status"] = r.status
                rec["ctype"] = r.getheader("Content-Type", "")
                rec["retry_after"] = r.getheader("Retry-After")
                try:
                    doc = json.loads(data)
                except ValueError:
                    doc = None
                if r.status == 202 and isinstance(doc, dict):
                    rec["id"] = doc.get("id")
                elif isinstance(doc, dict):
                    rec["problem"] = doc.get("status")
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                rec["error"] = f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            rec["ms"] = round((time.monotonic() - t0) * 1000, 1)
            out.write(json.dumps(rec) + "\n")
            if rec["status"] != 202:
                time.sleep(0.05)  # refused or unanswered: do not spin
            if a.pause_ms:
                time.sleep(a.pause_ms / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
