#!/usr/bin/env python3
"""Steady submit load and an audit of what it submitted, for the failover
test (test_cluster_failover.sh).

    submit_load.py submit HOST:PORT OUT.jsonl CLIENTS STOP-FILE
        CLIENTS threads, each on its own keep-alive connection, POST
        {"type": "echo", "payload": {"c": client, "n": seq}} one after the
        other until STOP-FILE exists.  Every answer is one line of OUT:
        {"c", "n", "t0", "t1" (ms since the epoch: sent, answered),
         "status" (0 when the connection failed or timed out), "id" (of a
         202), "err"}.  A failed connection is reopened at once: the client
         does not back off, so the log shows when the api answered again.

    submit_load.py audit HOST:PORT IDS-FILE DEADLINE-S
        GETs every id of IDS-FILE (one a line) until each is terminal
        (succeeded, failed, canceled) or 404, or DEADLINE-S passes; prints
        one JSON object: {"ids", "terminal": {status: n}, "missing": [ids
        answered 404], "stuck": {id: status}, "attempts": {id: attempt > 1},
        "errors": n (non-200/404 answers on the way)}.

Python's http.client, nothing else: a real client that keeps its
connection, so thousands of submits fit in the test's budget where a curl
process per request would not on 2 loaded cores.
"""
import http.client
import json
import os
import sys
import threading
import time

TERMINAL = ("succeeded", "failed", "canceled")


def now_ms():
    return int(time.time() * 1000)


def connect(hostport):
    host, port = hostport.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def submitter(hostport, client, out, lock, stop_file):
    conn = connect(hostport)
    n = 0
    while not os.path.exists(stop_file):
        n += 1
        body = json.dumps({"type": "echo", "payload": {"c": client, "n": n}})
        rec = {"c": client, "n": n, "t0": now_ms(), "status": 0, "id": None, "err": None}
        try:
            conn.request("POST", "/v1/jobs", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            rec["status"] = resp.status
            if resp.status == 202:
                rec["id"] = json.loads(data)["id"]
            else:
                rec["err"] = data[:200].decode(errors="replace")
        except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
            rec["err"] = f"{type(e).__name__}: {e}"
            conn.close()
            conn = connect(hostport)
        rec["t1"] = now_ms()
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()
        if rec["status"] == 0:
            time.sleep(0.05)  # the api itself is gone: do not spin
    conn.close()


def submit(hostport, out_path, clients, stop_file):
    lock = threading.Lock()
    with open(out_path, "a") as out:
        threads = [threading.Thread(target=submitter, args=(hostport, c, out, lock, stop_file))
                   for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def audit(hostport, ids_path, deadline_s):
    with open(ids_path) as f:
        ids = [ln.strip() for ln in f if ln.strip()]
    deadline = time.time() + deadline_s
    pending = list(ids)
    final, missing, attempts, errors = {}, [], {}, 0
    last = {}
    conn = connect(hostport)
    while pending and time.time() < deadline:
        still = []
        for job in pending:
            try:
                conn.request("GET", f"/v1/jobs/{job}")
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                errors += 1
                conn.close()
                conn = connect(hostport)
                still.append(job)
                continue
            if resp.status == 404:
                missing.append(job)
            elif resp.status == 200:
                doc = json.loads(data)
                last[job] = doc.get("status")
                if doc.get("attempt", 1) > 1:
                    attempts[job] = doc.get("attempt")
                if doc.get("status") in TERMINAL:
                    final[job] = doc["status"]
                else:
                    still.append(job)
            else:
                errors += 1
                still.append(job)
        pending = still
        if pending:
            time.sleep(0.5)
    terminal = {}
    for s in final.values():
        terminal[s] = terminal.get(s, 0) + 1
    print(json.dumps({"ids": len(ids), "terminal": terminal, "missing": missing,
                      "stuck": {j: last.get(j, "unknown") for j in pending},
                      "attempts": attempts, "errors": errors}))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "submit":
        submit(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 5 and sys.argv[1] == "audit":
        audit(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
