#!/usr/bin/env python3
"""Redis cost per job of one function library, on its own: one client, no
api, no workers, so the figures do not depend on the machine's load.

    bench/fcall_cost.py --lib shared/library.lua [--jobs 3000] [--callgrind]
    bench/fcall_cost.py --port 6379 --lib shared/library.lua   # a Redis of yours

Without --port it starts a private redis-server (no persistence) on a free
loopback port, under `valgrind --tool=callgrind` with --callgrind (then use
a few hundred jobs: valgrind is ~50x slower).  With --port it FLUSHALLs
the given Redis (use a private one).  It loads the library, then submits N
jobs with the fields the api sends (ht_submit), and drains them the way
the worker does: ht_complete taking the claim's keys (one call per job;
--one-trip, schema 8 on, the default from schema 14), else ht_claim +
ht_complete (older libraries from git history have only those).
--watched P marks P % of the jobs watched (ht_watch, schema 14 on) as
a sync submit's request would, so that their changes are logged and
published.  --types makes the claims of a worker of schema 13 on (the
call shapes that name the types taken: what hangtight-worker sends today)
instead of the older shapes that take any type.  --caller-counts N (schema
16 on, implies --types) drains as hangtight-worker does from schema 16:
the claims and completions carry "the caller counts", the client sums what
they answer, and sends the sums with one ht_count_add every N jobs (the
worker sends once a second per partition: N models the jobs of that
second); the drain's figures include those calls.  --batch N (schema 18
on, implies --caller-counts, 1000 unless given) drains with
ht_complete_many: each call carries the outcomes of the jobs the client
holds (up to N) and claims up to N more, as one worker's N slots would
hand them to one dispatcher.  --payload-bytes N submits a payload of about N
bytes (a JSON string) instead of '{"n": 1}'.  The submits carry the type
and the payload, as the api sends them from schema 19 (it leaves the
fields at their default out); --fields all submits every field, those at
their default and the queue included, as an api of schema 18 and older.

Prints, per phase (submit, drain): Redis' own µs inside the calls (INFO
commandstats) and its main thread's CPU time with the calls' I/O (INFO
cpu; the client's few INFO calls included), calls and µs per job of each command the functions ran,
callgrind's instructions per job (--callgrind: counts zeroed before and
dumped after each phase, the client's INFO/CONFIG calls included, which are
few), and bytes: used_memory per queued and per finished job, and MEMORY
USAGE of the keys a job owns and of the indexes per entry.
"""
import argparse
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
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


# The client's own calls inside a phase (between CONFIG RESETSTAT and the
# INFO that reads the stats); every other command is the library's, EXISTS
# and LRANGE included.
OWN = ("info", "config|resetstat")


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


def cpu_us(r):
    """The main thread's CPU time, user + system, in µs: the calls and their I/O."""
    info = dict(x.split(":", 1) for x in r.call("INFO", "cpu").splitlines() if ":" in x)
    return (float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])) * 1e6


def report(what, n, cmds, instr, cpu=None):
    calls = sum(c for name, (c, _) in cmds.items() if name not in OWN)
    fc = cmds.get("fcall", (0, 0))
    print("%-7s Redis usec/job %6.1f%s   FCALLs/job %.2f   commands/job %5.2f%s" % (
        what, fc[1] / n, " (CPU with I/O %.1f)" % (cpu / n) if cpu is not None else "",
        fc[0] / n, calls / n,
        "   instructions/job %d" % (instr / n) if instr is not None else ""))
    rows = sorted(((c, u, name) for name, (c, u) in cmds.items()
                   if name not in OWN and name != "fcall"), key=lambda x: (-x[1], -x[0]))
    print("        " + ", ".join("%s %.2f (%.1f us)" % (name, c / n, u / n) for c, u, name in rows))


class Callgrind:
    """Zeroes and dumps the counts of a redis-server run under callgrind."""

    def __init__(self, pid, outdir):
        self.pid, self.outdir = pid, outdir

    def zero(self):
        subprocess.run(["callgrind_control", "-z", str(self.pid)], check=True,
                       stdout=subprocess.DEVNULL)

    def dump(self, label):
        before = set(glob.glob(os.path.join(self.outdir, "callgrind.out.*")))
        subprocess.run(["callgrind_control", "-d", label, str(self.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        for _ in range(100):
            new = set(glob.glob(os.path.join(self.outdir, "callgrind.out.*"))) - before
            if new:
                path = new.pop()
                time.sleep(0.2)  # written in one go, but give it a moment
                with open(path) as f:
                    for line in f:
                        if line.startswith("summary:") or line.startswith("totals:"):
                            return int(line.split()[1]), path
            time.sleep(0.1)
        raise RuntimeError("no callgrind dump")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_redis(callgrind, server):
    d = tempfile.mkdtemp(prefix="fcall_cost.")
    port = free_port()
    cmd = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", d]
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + d + "/callgrind.out.%p",
               "--dump-instr=no", "--collect-jumps=no"] + cmd
    p = subprocess.Popen(cmd, stdout=open(d + "/redis.log", "w"), stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            r = Redis(port)
            r.call("PING")
            return p, port, d, r
        except (OSError, RuntimeError):
            time.sleep(0.1)
    p.kill()
    raise RuntimeError("redis-server did not start (%s/redis.log)" % d)


def schema_of(text):
    m = re.search(r"^local SCHEMA = (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


def usage(r, keys):
    """Median MEMORY USAGE of the keys that exist (SAMPLES 0: exact)."""
    got = [r.call("MEMORY", "USAGE", k, "SAMPLES", "0") for k in keys]
    return median([g for g in got if g])


def per_entry(r, key, count):
    if not count:
        return 0
    return (r.call("MEMORY", "USAGE", key, "SAMPLES", "0") or 0) / count


def memory_report(r, what, b, ids):
    """What a job owns and what it costs the indexes, per job."""
    sample = ids[:: max(1, len(ids) // 50)]
    job = usage(r, [b + "job:" + i for i in sample])
    log = usage(r, [b + "job:" + i + ":ev" for i in sample])
    logs = sum(r.call("EXISTS", b + "job:" + i + ":ev") for i in sample)
    parts = ["job hash %d B" % job]
    if logs:
        parts.append("event log %d B (%d of %d sampled jobs have one)" % (log, logs, len(sample)))
    else:
        parts.append("no event log")
    n = len(ids)
    for key in sorted(r.call("KEYS", b + "*")):
        if ":job:" in key:
            continue
        t = r.call("TYPE", key)
        size = {"zset": "ZCARD", "list": "LLEN", "hash": "HLEN", "set": "SCARD",
                "stream": "XLEN"}.get(t)
        count = r.call(size, key) if size else 0
        if count >= n // 2:
            parts.append("%s %d B/entry (%s)" % (key[len(b):], per_entry(r, key, count), t))
    print("        %s: %s" % (what, ", ".join(parts)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, help="a Redis of yours (FLUSHALLed); default: start one")
    ap.add_argument("--lib", required=True)
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--one-trip", action="store_true",
                    help="drain with ht_complete's claim (schema 8 on; the default from 14)")
    ap.add_argument("--watched", type=float, default=0,
                    help="percent of jobs marked watched before they are claimed (schema 14 on)")
    ap.add_argument("--types", action="store_true",
                    help="claim with the types named (the calls of a worker of schema 13 on)")
    ap.add_argument("--caller-counts", type=int, default=0, metavar="N",
                    help="the caller counts (schema 16 on): one ht_count_add per N jobs")
    ap.add_argument("--batch", type=int, default=0, metavar="N",
                    help="drain with ht_complete_many, N outcomes + N claims per call (schema 18 on)")
    ap.add_argument("--payload-bytes", type=int, default=0, metavar="N",
                    help="a payload of about N bytes (a JSON string) instead of {\"n\": 1}")
    ap.add_argument("--fields", choices=("all", "lean"), default="lean",
                    help="submit every field (an api of schema 18 and older) or leave the "
                    "defaults out (lean: the api from schema 19)")
    ap.add_argument("--callgrind", action="store_true",
                    help="run the private redis-server under callgrind: instructions per job")
    ap.add_argument("--keep", action="store_true", help="keep the private Redis' directory")
    ap.add_argument("--redis-server", default="redis-server",
                    help="the private Redis' binary (e.g. one built with -g, for callgrind_annotate)")
    a = ap.parse_args()
    text = open(a.lib).read()
    schema = schema_of(text)
    one_trip = a.one_trip or schema >= 14
    proc = tmp = None
    cg = None
    if a.port:
        if a.callgrind:
            sys.exit("--callgrind starts its own Redis: leave out --port")
        r = Redis(a.port)
    else:
        proc, port, tmp, r = start_redis(a.callgrind, a.redis_server)
        if a.callgrind:
            cg = Callgrind(proc.pid, tmp)
    try:
        run(a, r, cg, text, schema, one_trip)
    finally:
        if proc:
            proc.terminate()
            proc.wait()
            if a.keep:
                print("kept %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)


def run(a, r, cg, text, schema, one_trip):
    r.call("FLUSHALL")
    r.call("FUNCTION", "LOAD", "REPLACE", text)
    b = "ht:{default}:"
    waits = [b + "wait:high", b + "wait:default", b + "wait:low"]
    if a.watched and schema < 14:
        sys.exit("--watched needs schema 14 or later (ht_watch)")
    print("library %s (schema %d), %d jobs, one client, %s fields%s" % (
        a.lib, schema, a.jobs, a.fields, ", %g %% watched" % a.watched if a.watched else ""))
    _, m0 = stats(r)

    cpu0 = [0.0]

    def phase_start():
        r.call("CONFIG", "RESETSTAT")
        cpu0[0] = cpu_us(r)
        if cg:
            cg.zero()

    def phase_end(label):
        instr = None
        if cg:
            instr, _ = cg.dump(label)
        cpu = cpu_us(r) - cpu0[0]
        cmds, mem = stats(r)
        return cmds, mem, instr, cpu

    ids = [str(uuid.uuid4()) for _ in range(a.jobs)]
    payload = '"%s"' % ("x" * max(0, a.payload_bytes - 2)) if a.payload_bytes else '{"n": 1}'
    if a.fields == "all":
        fields = ["type", "echo", "queue", "default", "tenant", "default", "priority", "default",
                  "payload", payload, "max_attempts", "3", "timeout_s", "300", "ttl_s", "86400",
                  "failed_ttl_s", "604800"]
    else:
        fields = ["type", "echo", "payload", payload]
    phase_start()
    for i in ids:
        r.call("FCALL", "ht_submit", 3, b + "job:" + i, b + "wait:default", b + "signal", i,
               b + "events", "0", "", "", *fields)
    cmds, m1, instr, cpu = phase_end("submit")
    report("submit", a.jobs, cmds, instr, cpu)
    memory_report(r, "queued", b, ids)

    watched = 0
    if a.watched:
        step = 100.0 / a.watched
        marks = [ids[int(k * step)] for k in range(int(a.jobs * a.watched / 100))]
        for i in marks:
            r.call("FCALL", "ht_watch", 1, b + "job:" + i, "60000")
        watched = len(marks)

    if a.batch and schema < 18:
        sys.exit("--batch needs schema 18 or later (ht_complete_many)")
    counts = a.caller_counts or (1000 if a.batch else 0)
    typed = a.types or counts > 0
    if typed and schema < 13:
        sys.exit("--types needs schema 13 or later")
    if counts and schema < 16:
        sys.exit("--caller-counts needs schema 16 or later")
    phase_start()
    # The claim's terms of a worker (lease_ms, grace_ms, types).
    terms = ["w1", b + "events", "10000", "30000", "echo"]
    if typed:
        claim = ["FCALL", "ht_claim", 2, b + "active", b + "fence", b] + terms
        if counts:
            claim.append("1")
    else:
        claim = ["FCALL", "ht_claim", 5] + waits + [b + "active", b + "fence", b + "job:", "w1",
                                                  b + "events"]
    sums = {}
    batches = [0]

    def tally(key, field, n=1):
        sums[(key, field)] = sums.get((key, field), 0) + n

    def observed(hist, text):
        if text:
            le, ms = text.split(" ")
            tally(hist, le)
            tally(hist, "sum_ms", int(ms))

    def as_job(flat):
        if flat and flat[0] != "id":
            # ht_complete_many's claim from schema 18 on: {id, token, attempt,
            # type, payload, count_wait, then name, value pairs}
            job = dict(zip(("id", "token", "attempt", "type", "payload", "count_wait"), flat))
            job.update(zip(flat[6::2], flat[7::2]))
        else:
            job = dict(zip(flat[::2], flat[1::2])) if flat else None
        if job and counts:
            tally("metrics", "jobs:started:" + job["type"])
            observed("hist:wait", job.get("count_wait"))
        return job

    def send():
        if sums:
            batches[0] += 1
            args = []
            for (key, field), n in sums.items():
                args += [key, field, str(n)]
            assert r.call("FCALL", "ht_count_add", 1, b + "metrics", b, "w1",
                          str(batches[0]), *args) == 1
            sums.clear()

    done = 0
    if a.batch:
        # One worker's slots through one dispatcher: the outcomes of the
        # jobs held, and as many claims, in each call.
        many = ["FCALL", "ht_complete_many", 3, b + "active", b + "fence", b + "signal", b,
                "w1", b + "events", "10000", "30000", "echo", str(a.batch)]
        held = []
        while True:
            argv = []
            for job in held:
                argv += [job["id"], job["token"], "succeeded", '{"n": 1}', "0", "0", ""]
            out = r.call(*(many + argv))
            statuses, claimed = out
            for k in range(len(held)):
                assert statuses[2 * k] == "succeeded", out
                tally("t:default:stats", "succeeded")
                tally("metrics", "jobs:succeeded:echo")
                observed("hist:run", statuses[2 * k + 1])
                done += 1
                if done % counts == 0:
                    send()
            held = [as_job(flat) for flat in claimed]
            if not held:
                break
    job = None if a.batch else as_job(r.call(*claim))
    while job:
        i = job["id"]
        keys = [b + "job:" + i, b + "active", b + "wait:default", b + "signal"]
        argv = [i, job["token"], "succeeded", '{"n": 1}', "0", b + "events", "0"]
        if typed:
            out = r.call("FCALL", "ht_complete", 5, *(keys + [b + "fence"] + argv + [b] +
                                                       terms[:1] + terms[2:] +
                                                       (["", "1"] if counts else [])))
            assert out[0] == "succeeded", out
            if counts:
                tally("t:default:stats", "succeeded")
                tally("metrics", "jobs:succeeded:echo")
                observed("hist:run", out[2] if len(out) > 2 else None)
            job = as_job(out[1])
            if counts and (done + 1) % counts == 0:
                send()
        elif one_trip:
            out = r.call("FCALL", "ht_complete", 8, *(keys + waits + [b + "fence"] + argv +
                                                       [b + "job:", "w1"]))
            assert out[0] == "succeeded", out
            job = as_job(out[1])
        else:
            assert r.call("FCALL", "ht_complete", 4, *(keys + argv)) == "succeeded"
            job = as_job(r.call(*claim))
        done += 1
    if counts:
        send()
    cmds, m2, instr, cpu = phase_end("drain")
    assert done == a.jobs, done
    report("drain", a.jobs, cmds, instr, cpu)
    if a.batch:
        print("        batches of %d outcomes + %d claims per ht_complete_many" % (a.batch, a.batch))
    if counts:
        print("        %d ht_count_add calls (one per %d jobs)" % (batches[0], counts))
    memory_report(r, "finished", b, ids)
    print("bytes   used_memory per queued job %d, per finished job %d%s" % (
        (m1 - m0) / a.jobs, (m2 - m0) / a.jobs,
        " (%d jobs watched)" % watched if watched else ""))


if __name__ == "__main__":
    main()
