#!/usr/bin/env python3
"""Redis cost per submitted job of the three ways to store many jobs, on
their own: one client, no api, so the figures do not depend on the
machine's load.

    bench/batch/fcall.py --port 6379 --lib shared/library.lua [--jobs 10000] [--batch 100]

FLUSHALLs the given Redis (use a private one), loads the library, then
stores --jobs jobs with the fields the api sends, three times:

  single     one FCALL ht_submit per job, each answered before the next
             (what POST /v1/jobs does, one request at a time);
  pipelined  --batch FCALL ht_submit sent back to back, then their
             replies (one round trip per batch);
  many       one FCALL ht_submit_many per --batch jobs (one round trip
             and one function call per batch: what POST /v1/jobs/batch
             sends per partition).

Prints Redis usec per job (INFO commandstats: Redis' own time inside the
calls), the commands the calls ran per job (a count, whatever the load)
and jobs per second as this client saw them (round trips
included).  On a busy machine Redis is preempted inside calls too: run
--reps rounds and compare the least time of each way.
"""
import argparse
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from fcall_cost import Redis, stats  # noqa: E402

B = "ht:{default}:"
FIELDS = ["type", "echo", "queue", "default", "tenant", "default", "priority", "default",
          "payload", '{"n": 1}', "max_attempts", "3", "timeout_s", "300", "ttl_s", "86400",
          "failed_ttl_s", "604800"]


def submit_args():
    i = str(uuid.uuid4())
    return ["FCALL", "ht_submit", 3, B + "job:" + i, B + "wait:default", B + "signal", i,
            B + "events", "0", "", ""] + FIELDS


def pipeline(r, cmds):
    out = []
    for args in cmds:
        out.append(b"*%d\r\n" % len(args))
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    r.s.sendall(b"".join(out))
    return [r.read() for _ in cmds]


def many_args(n):
    keys, argv = [B + "signal"], [B + "events"]
    for _ in range(n):
        i = str(uuid.uuid4())
        keys += [B + "job:" + i, B + "wait:default"]
        argv += [i, "0", "", "", len(FIELDS) // 2] + FIELDS
    return ["FCALL", "ht_submit_many", len(keys)] + keys + argv


def run(r, what, jobs, batch):
    r.call("FLUSHALL")
    r.call("CONFIG", "RESETSTAT")
    t0 = time.perf_counter()
    done = 0
    while done < jobs:
        n = min(batch, jobs - done)
        if what == "single":
            r.call(*submit_args())
            n = 1
        elif what == "pipelined":
            for rep in pipeline(r, [submit_args() for _ in range(n)]):
                assert rep[2] == "queued", rep
        else:
            reps = r.call(*many_args(n))
            assert len(reps) == n and all(x[2] == "queued" for x in reps), reps[:2]
        done += n
    dt = time.perf_counter() - t0
    cmds, _ = stats(r)
    fc = cmds.get("fcall", (0, 0))
    inner = sum(c for name, (c, _) in cmds.items()
                if name not in ("fcall", "info", "config|resetstat", "flushall"))
    assert r.call("LLEN", B + "wait:default") == jobs
    print("%-10s Redis usec/job %5.1f   FCALLs/job %.3f   commands/job %5.2f   "
          "jobs/s from one client %8.0f" % (what, fc[1] / jobs, fc[0] / jobs, inner / jobs,
                                            jobs / dt))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--reps", type=int, default=1,
                    help="rounds of the three, printed each; the least time is the one to compare")
    a = ap.parse_args()
    r = Redis(a.port)
    r.call("FUNCTION", "LOAD", "REPLACE", open(a.lib).read())
    print("%d jobs, batches of %d" % (a.jobs, a.batch))
    for _ in range(a.reps):
        for what in ("single", "pipelined", "many"):
            run(r, what, a.jobs, a.batch)


if __name__ == "__main__":
    main()
