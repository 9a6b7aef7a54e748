#!/usr/bin/env python3
"""Sync mode through Python's standard clients, written as a Python user
would.  http.client only skips "100 Continue" among interim responses, so
with 102 heartbeats it returns the first 102 as if it were the final answer;
with `heartbeat=0` it gets the real one.  urllib, urllib3 and requests sit
on http.client and inherit that.

    py_clients.py http.client|urllib|requests|urllib3 URL JSON-BODY PREFER

Prints {"client", "status", "body"} or {"client", "error"}; exits 0 either
way (the test judges).
"""
import http.client
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def with_http_client(url, body, prefer):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("POST", u.path + ("?" + u.query if u.query else ""), body=body,
                 headers={"Content-Type": "application/json", "Prefer": prefer})
    resp = conn.getresponse()
    out = {"status": resp.status, "body": resp.read().decode("utf-8", "replace")}
    conn.close()
    return out


def with_urllib(url, body, prefer):
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Prefer": prefer})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return {"status": resp.status, "body": resp.read().decode("utf-8", "replace")}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode("utf-8", "replace"),
                "error": "HTTPError: %s" % e}


def with_requests(url, body, prefer):
    import requests  # optional: Debian's python3-requests

    resp = requests.post(url, data=body, timeout=60,
                         headers={"Content-Type": "application/json", "Prefer": prefer})
    return {"status": resp.status_code, "body": resp.text}


def with_urllib3(url, body, prefer):
    import urllib3  # requests' own transport, also used alone

    resp = urllib3.PoolManager().request(
        "POST", url, body=body, timeout=60,
        headers={"Content-Type": "application/json", "Prefer": prefer})
    return {"status": resp.status, "body": resp.data.decode("utf-8", "replace")}


def main():
    client, url, body, prefer = sys.argv[1:5]
    run = {"http.client": with_http_client, "urllib": with_urllib,
           "requests": with_requests, "urllib3": with_urllib3}[client]
    try:
        out = run(url, body, prefer)
    except Exception as e:  # the test wants to see any failure, not a traceback
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    out["client"] = client
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
