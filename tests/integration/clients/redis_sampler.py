#!/usr/bin/env python3
"""Samples figures in Redis continuously, for the cap tests (test_caps.sh).

    redis_sampler.py PORT OUT SCRIPT [KEY...]

Runs the Lua SCRIPT (EVAL with the KEYs) about every millisecond on one
connection until SIGTERM, and writes to OUT one line per sample whose
answer differs from the one before: "<ms since the epoch> <answer>", the
answer being the script's return value (a string or an integer; a table of
them is joined with spaces).  On SIGTERM it writes "samples <n>" (how many
it took, changed or not) and exits 0.  Each EVAL is atomic in Redis, so
the figures of one sample are of one moment.

A raw RESP client on a socket, nothing else: no client library to install.
"""
import signal
import socket
import sys
import time

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    def __init__(self, sock):
        self.f = sock.makefile("rb")

    def reply(self):
        line = self.f.readline()
        if not line:
            raise EOFError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b":"):
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return ""
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return " ".join(self.reply() for _ in range(max(n, 0)))
        raise RuntimeError("unexpected reply " + repr(line))


def main():
    port, out_path, script = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    keys = sys.argv[4:]
    signal.signal(signal.SIGTERM, on_term)
    sock = socket.create_connection(("127.0.0.1", port))
    reader = Reader(sock)
    req = command("EVAL", script, len(keys), *keys)
    last, n = None, 0
    with open(out_path, "w") as out:
        while not stop:
            sock.sendall(req)
            answer = reader.reply()
            n += 1
            if answer != last:
                out.write("%d %s\n" % (int(time.time() * 1000), answer))
                out.flush()
                last = answer
            time.sleep(0.001)
        out.write("samples %d\n" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
