#!/usr/bin/env python3
"""Redis cost per job of one function library, on its own: one client, no
api, no workers, so the figures do not depend on the machine's load.

    bench/fcall_cost.py --port 6379 --lib shared/library.lua [--jobs 3000]

FLUSHALLs the given Redis (use a private one), loads the library, then:
submits N jobs with the fields the api sends (ht_submit), and drains them
the way the worker does: with ht_complete taking the claim's keys (one
call per job; --one-trip, schema 8 on), else ht_claim + ht_complete (an
older library from git history has only those).  Prints, from INFO
commandstats (Redis' own time inside the calls) and INFO memory: Redis usec
and commands per submit and per drained job, bytes per queued job and per
finished job.
"""
import argparse
import socket
import uuid


class Redis:
    """The least RESP2 client that works: one socket, one call at a time."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def stats(r):
    """{command: (calls, usec)} and used_memory."""
    cmds = {}
    for line in r.call("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            kv = dict(x.split("=") for x in rest.split(","))
            cmds[name] = (int(kv["calls"]), int(kv["usec"]))
    mem = r.call("INFO", "memory")
    used = int([x for x in mem.splitlines() if x.startswith("used_memory:")][0].split(":")[1])
    return cmds, used


def report(what, n, cmds):
    calls = sum(c for name, (c, _) in cmds.items() if name not in ("info", "config|resetstat"))
    fc = cmds.get("fcall", (0, 0))
    busiest = sorted(((c, name) for name, (c, _) in cmds.items()
                      if name not in ("info", "config|resetstat")), reverse=True)[:8]
    print("%-12s Redis usec/job %6.1f   FCALLs/job %.2f   commands/job %5.2f   (%s)" % (
        what, fc[1] / n, fc[0] / n, calls / n,
        ", ".join("%s %.2f" % (name, c / n) for c, name in busiest)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--one-trip", action="store_true",
                    help="drain with ht_complete's claim (schema 8 on) instead of "
                         "ht_claim + ht_complete")
    a = ap.parse_args()
    r = Redis(a.port)
    r.call("FLUSHALL")
    r.call("FUNCTION", "LOAD", "REPLACE", open(a.lib).read())
    b = "ht:{default}:"
    waits = [b + "wait:high", b + "wait:default", b + "wait:low"]
    _, m0 = stats(r)
    r.call("CONFIG", "RESETSTAT")
    for _ in range(a.jobs):
        i = str(uuid.uuid4())
        r.call("FCALL", "ht_submit", 3, b + "job:" + i, b + "wait:default", b + "signal", i,
               b + "events", "0", "", "", "type", "echo", "queue", "default", "tenant",
               "default", "priority", "default", "payload", '{"n": 1}', "max_attempts", "3",
               "timeout_s", "300", "ttl_s", "86400", "failed_ttl_s", "604800")
    cmds, m1 = stats(r)
    report("submit", a.jobs, cmds)
    r.call("CONFIG", "RESETSTAT")
    claim = ["FCALL", "ht_claim", 5] + waits + [b + "active", b + "fence", b + "job:", "w1",
                                              b + "events"]

    def as_job(flat):
        return dict(zip(flat[::2], flat[1::2])) if flat else None

    job = as_job(r.call(*claim))
    done = 0
    while job:
        i = job["id"]
        keys = [b + "job:" + i, b + "active", b + "wait:default", b + "signal"]
        argv = [i, job["token"], "succeeded", '{"n": 1}', "0", b + "events", "0"]
        if a.one_trip:
            out = r.call("FCALL", "ht_complete", 8, *(keys + waits + [b + "fence"] + argv +
                                                       [b + "job:", "w1"]))
            assert out[0] == "succeeded", out
            job = as_job(out[1])
        else:
            assert r.call("FCALL", "ht_complete", 4, *(keys + argv)) == "succeeded"
            job = as_job(r.call(*claim))
        done += 1
    cmds, m2 = stats(r)
    assert done == a.jobs, done
    report("drain", a.jobs, cmds)
    print("bytes per queued job %d, per finished job %d" % ((m1 - m0) / a.jobs,
                                                            (m2 - m0) / a.jobs))


if __name__ == "__main__":
    main()
