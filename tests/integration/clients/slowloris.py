#!/usr/bin/env python3
"""Slowloris against the api (stdlib only): many connections that dribble a
request one byte at a time, while a prober checks that normal requests are
still answered promptly.

    slowloris.py HOST:PORT CONNECTIONS INTERVAL_S DURATION_S

The dribblers, in three kinds taking turns:
  head  - a request head, one byte every INTERVAL_S, never finished;
  body  - a complete head with Content-Length: 100000, then one body byte
          every INTERVAL_S;
  idle  - one complete GET /healthz, its answer read, then nothing (an idle
          keep-alive connection).
The prober opens a fresh connection every 0.2 s and sends GET /healthz.
Runs until every dribbler was cut off by the server or DURATION_S passed.
Prints JSON: per kind how many were cut off and when (seconds after they
opened), how many were still open at the end, what any of them received,
and the probes' latencies and failures.
"""
import json
import selectors
import socket
import sys
import threading
import time


def probe_loop(host, port, stop, out):
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                out["failures"].append(data[:80].decode("latin-1"))
            else:
                out["latencies"].append(time.monotonic() - t0)
        except OSError as e:
            out["failures"].append(repr(e))
        stop.wait(0.2)


def main():
    hostport, n, interval, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    host, port = hostport.rsplit(":", 1)
    port = int(port)
    kinds = ["head", "body", "idle"]
    head_text = b"POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 10000
    body_head = b"POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"

    probes = {"latencies": [], "failures": []}
    stop = threading.Event()
    prober = threading.Thread(target=probe_loop, args=(host, port, stop, probes))

    sel = selectors.DefaultSelector()
    conns = []
    start = time.monotonic()
    for i in range(n):
        kind = kinds[i % 3]
        s = socket.create_connection((host, port), timeout=5)
        c = {"sock": s, "kind": kind, "opened": time.monotonic(), "cut": None, "sent": 0, "got": b""}
        if kind == "body":
            s.sendall(body_head)
        elif kind == "idle":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        else:
            s.sendall(head_text[:1])
            c["sent"] = 1
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, c)
        conns.append(c)
    opened_in = time.monotonic() - start
    prober.start()

    next_drip = time.monotonic() + interval
    deadline = start + duration
    while time.monotonic() < deadline and any(c["cut"] is None for c in conns):
        timeout = max(0.0, min(next_drip, deadline) - time.monotonic())
        for key, _ in sel.select(timeout):
            c = key.data
            try:
                data = c["sock"].recv(65536)
            except (ConnectionResetError, BlockingIOError) as e:
                data = b"" if isinstance(e, ConnectionResetError) else None
            if data is None:
                continue
            if data:
                c["got"] += data
                continue
            c["cut"] = time.monotonic() - c["opened"]
            sel.unregister(c["sock"])
            c["sock"].close()
        if time.monotonic() >= next_drip:
            next_drip += interval
            for c in conns:
                if c["cut"] is not None or c["kind"] == "idle":
                    continue
                byte = head_text[c["sent"]:c["sent"] + 1] if c["kind"] == "head" else b"1"
                try:
                    c["sock"].send(byte)
                    c["sent"] += 1
                except (BrokenPipeError, ConnectionResetError):
                    c["cut"] = time.monotonic() - c["opened"]
                    sel.unregister(c["sock"])
                    c["sock"].close()
    stop.set()
    prober.join()

    out = {"connections": n, "opened_in_s": round(opened_in, 2), "kinds": {}, "probes": {}}
    for kind in kinds:
        mine = [c for c in conns if c["kind"] == kind]
        cuts = sorted(c["cut"] for c in mine if c["cut"] is not None)
        # What a dribbler got besides the idle one's single 200: nothing expected.
        answers = sorted({c["got"][:12].decode("latin-1") for c in mine if c["got"]})
        out["kinds"][kind] = {
            "n": len(mine), "cut_off": len(cuts), "still_open": len(mine) - len(cuts),
            "cut_min_s": round(cuts[0], 2) if cuts else None,
            "cut_median_s": round(cuts[len(cuts) // 2], 2) if cuts else None,
            "cut_max_s": round(cuts[-1], 2) if cuts else None,
            "received": answers,
        }
    lat = sorted(probes["latencies"])
    out["probes"] = {
        "ok": len(lat), "failures": len(probes["failures"]), "failure_samples": probes["failures"][:3],
        "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1) if lat else None,
        "max_ms": round(lat[-1] * 1000, 1) if lat else None,
    }
    for c in conns:
        if c["cut"] is None:
            c["sock"].close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
