#!/usr/bin/env python3
"""Fault-suite checker: counts the way Jepsen's queue checker does.

  check.py --url URL --submits A.jsonl [B.jsonl ...] [--exec-log F]
           [--existing F] [--kills N] [--max-dup N] [--expect STATUS]
           [--wait-s S] [--summary OUT.json]

- acknowledged: ids answered 202 by the api (submit.py's records);
- lost: acknowledged, but gone (404) or not in a terminal state after
  --wait-s seconds;
- duplicated: executions beyond the first of one job, from the exec log
  (one line "<id> <attempt>" appended by the handler per execution);
- recovered: jobs that exist (--existing: one id a line, from Redis) but
  were never acknowledged (the request failed or got no answer);
- retried: acknowledged jobs that ended in an attempt after the first (an
  execution was interrupted, or failed and was retried).

Fails (exit 1) when lost > 0, when duplicated > --max-dup (default
--kills), when an acknowledged job ends in another status than --expect
(default succeeded; "terminal" accepts any final one), or when a succeeded
job has no execution in the exec log.  Prints one "faults:" line with the
counts either way."""
import argparse
import collections
import http.client
import json
import sys
import time
import urllib.parse

TERMINAL = {"succeeded", "failed", "canceled"}


def load_submits(paths):
    acked, refused, unanswered, other = [], 0, 0, collections.Counter()
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill
                if r["status"] == 202 and r.get("id"):
                    acked.append(r["id"])
                elif r["status"] == 503:
                    refused += 1
                elif r["status"] == 0:
                    unanswered += 1
                else:
                    other[r["status"]] += 1
    return acked, refused, unanswered, other


class Api:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def get(self, path):
        for _ in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                return r.status, (json.loads(body) if body else None)
            except (OSError, http.client.HTTPException, ValueError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                time.sleep(0.2)
        return 0, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--submits", nargs="+", required=True)
    ap.add_argument("--exec-log")
    ap.add_argument("--existing")
    ap.add_argument("--kills", type=int, default=0)
    ap.add_argument("--max-dup", type=int, default=None)
    ap.add_argument("--expect", default="succeeded")
    ap.add_argument("--wait-s", type=float, default=60)
    ap.add_argument("--summary")
    a = ap.parse_args()
    max_dup = a.kills if a.max_dup is None else a.max_dup

    acked, refused, unanswered, other = load_submits(a.submits)
    acked_set = set(acked)
    api = Api(a.url)

    # Poll every acknowledged job until it is final (or the time is up).
    final, missing, last = {}, set(), {}
    pending = list(acked_set)
    deadline = time.monotonic() + a.wait_s
    while pending:
        still = []
        for jid in pending:
            st, doc = api.get(f"/v1/jobs/{jid}")
            if st == 404:
                missing.add(jid)
            elif st == 200 and doc.get("status") in TERMINAL:
                final[jid] = doc
            else:
                still.append(jid)
                last[jid] = doc.get("status") if st == 200 and doc else f"HTTP {st}"
        pending = still
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    not_final = set(pending)
    lost = missing | not_final

    executions = collections.Counter()
    if a.exec_log:
        with open(a.exec_log) as f:
            for line in f:
                parts = line.split()
                if parts:
                    executions[parts[0]] += 1
    duplicated = sum(n - 1 for n in executions.values() if n > 1)
    dup_jobs = sum(1 for n in executions.values() if n > 1)

    existing = set()
    if a.existing:
        with open(a.existing) as f:
            existing = {l.strip() for l in f if l.strip()}
    recovered = existing - acked_set
    recovered_final = 0
    for jid in recovered:
        st, doc = api.get(f"/v1/jobs/{jid}")
        if st == 200 and doc.get("status") in TERMINAL:
            recovered_final += 1

    statuses = collections.Counter(d["status"] for d in final.values())
    wrong = {} if a.expect == "terminal" else {
        j: d["status"] for j, d in final.items() if d["status"] != a.expect}
    never_ran = [j for j, d in final.items()
                 if a.exec_log and d["status"] == "succeeded" and executions[j] == 0]
    attempts = collections.Counter(d.get("attempt") for d in final.values())
    retried = sum(1 for d in final.values() if (d.get("attempt") or 0) > 1)

    summary = {
        "submitted": len(acked) + refused + unanswered + sum(other.values()),
        "acknowledged": len(acked_set), "refused_503": refused, "unanswered": unanswered,
        "other_statuses": dict(other), "lost": len(lost), "lost_missing": len(missing),
        "lost_not_final": len(not_final), "duplicated": duplicated,
        "duplicated_jobs": dup_jobs, "executions": sum(executions.values()),
        "recovered": len(recovered), "recovered_final": recovered_final, "retried": retried,
        "kills": a.kills, "final": dict(statuses),
        "attempts": {str(k): v for k, v in sorted(attempts.items(), key=lambda kv: str(kv[0]))},
    }
    print("faults: " + " ".join(
        f"{k}={summary[k]}" for k in ("acknowledged", "lost", "duplicated", "retried",
                                      "recovered", "executions", "kills", "refused_503",
                                      "unanswered")),
          flush=True)
    print("faults: final states " + json.dumps(summary["final"]) +
          " attempts " + json.dumps(summary["attempts"]), flush=True)
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump(summary, f)

    problems = []
    if lost:
        problems.append(f"{len(lost)} acknowledged jobs lost (missing {sorted(missing)[:5]}, "
                        f"not final {[(j, last.get(j)) for j in sorted(not_final)[:5]]})")
    if duplicated > max_dup:
        problems.append(f"{duplicated} duplicated executions, more than {max_dup}")
    if wrong:
        problems.append(f"{len(wrong)} jobs not {a.expect}: {dict(list(wrong.items())[:5])}")
    if never_ran:
        problems.append(f"{len(never_ran)} succeeded jobs never ran: {never_ran[:5]}")
    if len(acked) != len(acked_set):
        problems.append("one id acknowledged twice")
    for p in problems:
        print("faults: FAIL: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
