#!/usr/bin/env python3
"""A file as a job's input, with Python's standard library only.

    HANGTIGHT_URL=http://127.0.0.1:8080 python3 examples/python/upload_file.py TYPE FILE [output|input]

Uploads FILE as the body of POST /v1/jobs?type=TYPE (http.client sends an
open file in blocks: it is never whole in memory), held until the job
finishes (Prefer: wait=60; heartbeat=0, since http.client takes a 102
Processing for the answer), then downloads the job's output file (or its
input) to FILE.output (FILE.input) in blocks, checking its SHA-256 against
the ETag.  HANGTIGHT_API_KEY, when set, is sent as "Authorization: Bearer".
Prints the job document on stdout; exits 0 when the job succeeded and the
file came back whole.
"""
import hashlib
import http.client
import json
import os
import sys
import urllib.parse


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: upload_file.py TYPE FILE [output|input]")
    job_type, path = sys.argv[1], sys.argv[2]
    which = sys.argv[3] if len(sys.argv) > 3 else "output"
    url = urllib.parse.urlsplit(os.environ.get("HANGTIGHT_URL", "http://127.0.0.1:8080"))
    auth = {}
    if os.environ.get("HANGTIGHT_API_KEY"):
        auth["Authorization"] = "Bearer " + os.environ["HANGTIGHT_API_KEY"]

    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)
    query = urllib.parse.urlencode({"type": job_type})
    with open(path, "rb") as f:
        conn.request("POST", "/v1/jobs?" + query, body=f, headers={
            **auth,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(os.path.getsize(path)),
            "Prefer": "wait=60, heartbeat=0",
        })
        resp = conn.getresponse()
        body = resp.read()
    if resp.status not in (200, 201):
        sys.exit(f"submit: HTTP {resp.status}: {body.decode(errors='replace')}")
    job = json.loads(body)
    print(json.dumps(job, indent=2))
    if job["status"] != "succeeded":
        sys.exit(1)
    if resp.status == 201:
        print("finished with an output:", resp.getheader("Location"), file=sys.stderr)

    ref = job.get(which)
    if not ref:
        print(f"the job has no {which} file", file=sys.stderr)
        return
    conn.request("GET", ref["href"], headers=auth)
    resp = conn.getresponse()
    if resp.status != 200:
        sys.exit(f"download: HTTP {resp.status}: {resp.read().decode(errors='replace')}")
    digest = hashlib.sha256()
    out = f"{path}.{which}"
    with open(out + ".part", "wb") as f:
        while block := resp.read(1 << 16):
            digest.update(block)
            f.write(block)
    if resp.getheader("ETag") != f'"{digest.hexdigest()}"':
        os.unlink(out + ".part")
        sys.exit(f"download: SHA-256 {digest.hexdigest()}, ETag {resp.getheader('ETag')}")
    os.rename(out + ".part", out)
    print(f"saved the {which} file as {out} (sha256 {digest.hexdigest()})", file=sys.stderr)


if __name__ == "__main__":
    main()
