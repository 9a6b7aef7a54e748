#!/usr/bin/env python3
"""Fault-suite outage check: what the submitter (submit.py) saw while Redis
was down.

  outage.py SUBMITS.jsonl KILLED_MS RESTARTED_MS MAX_503_MS

Every answer is a 202 or a 503 (no other status, no request without an
answer); at least one 503 was seen; every 503 is application/problem+json
with status 503 and a numeric Retry-After, and came within MAX_503_MS; and
some submit after the restart got a 202 (the api reconnected by itself).
Prints one "faults: outage" line with the figures; exit 1 on a violation."""
import json
import sys


def main():
    path, killed, restarted, max_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(
        sys.argv[4])
    recs = []
    with open(path) as f:
        for line in f:
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass
    r503 = [r for r in recs if r["status"] == 503]
    bad503 = [r for r in r503
              if not (r.get("ctype") or "").startswith("application/problem+json")
              or not (r.get("retry_after") or "").isdigit() or r.get("problem") != 503]
    other = [r for r in recs if r["status"] not in (202, 503)]
    lat = sorted(r["ms"] for r in r503)
    after = [r for r in recs if r["status"] == 202 and r["t"] >= restarted]
    first503 = min((r["t"] + r["ms"] - killed for r in r503), default=-1)
    first202 = min((r["t"] + r["ms"] - restarted for r in after), default=-1)
    fig = {
        "requests": len(recs), "acked": sum(r["status"] == 202 for r in recs),
        "refused_503": len(r503), "p50_503_ms": lat[len(lat) // 2] if lat else 0,
        "max_503_ms": lat[-1] if lat else 0, "first_503_after_kill_ms": round(first503),
        "first_202_after_restart_ms": round(first202), "acked_after_restart": len(after),
    }
    print("faults: outage " + " ".join(f"{k}={v}" for k, v in fig.items()), flush=True)
    problems = []
    if not r503:
        problems.append("no request saw the outage (no 503)")
    if bad503:
        problems.append(f"{len(bad503)} 503s not problem+json with Retry-After: {bad503[:3]}")
    if other:
        problems.append(f"{len(other)} answers neither 202 nor 503: {other[:3]}")
    if lat and lat[-1] >= max_ms:
        problems.append(f"a 503 took {lat[-1]} ms (bound {max_ms} ms)")
    if not after:
        problems.append("no 202 after the restart: the api did not reconnect")
    for p in problems:
        print("faults: FAIL: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
