#!/usr/bin/env python3
"""Many submits through the api, fast, for the fairness tests
(test_fair.sh):

    bulk_submit.py BASE-URL KEY COUNT BODY [CONNECTIONS]

POSTs BODY (a job's JSON) COUNT times to BASE-URL/v1/jobs with
Authorization: Bearer KEY ("" for none), over CONNECTIONS keep-alive
connections (default 4), and prints how many were answered 202.  Exits 1
when any answer was something else (the first one is printed on stderr).

Python's http.client, nothing else: a real client that keeps its
connection, so ten thousand submits fit in a test's budget where a curl
process per request would not on 2 loaded cores.
"""
import http.client
import sys
import threading
import urllib.parse


def worker(url, key, count, body, results, errors):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    ok = 0
    for _ in range(count):
        conn.request("POST", "/v1/jobs", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status == 202:
            ok += 1
        elif not errors:
            errors.append("%d %s" % (resp.status, data[:300].decode(errors="replace")))
    conn.close()
    results.append(ok)


def main():
    url, key, count, body = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    results, errors, threads = [], [], []
    for i in range(conns):
        share = count // conns + (1 if i < count % conns else 0)
        t = threading.Thread(target=worker, args=(url, key, share, body, results, errors))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    print(sum(results))
    if errors:
        print(errors[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
