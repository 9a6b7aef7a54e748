#!/usr/bin/env python3
"""Many sync waiters that hang up at once, for the integration tests.

    waiters.py HOST:PORT COUNT JSON-BODY [--hold S]

Opens COUNT connections, sends on each a POST /v1/jobs with
`Prefer: wait=300`, waits until every one has received a 102 (so the
server holds them all) or S seconds (default 20) have passed, then closes
them all at once: half with a reset (SO_LINGER 0), half with a normal
close.  Prints {"connected", "held", "answered", "t"}: how many connected,
how many got a 102 before the hang-up, how many got a final answer instead
(there should be none).
"""
import asyncio
import json
import socket
import struct
import sys
import time


async def waiter(host, port, body, held, answered, stop):
    reader, writer = await asyncio.open_connection(host, port)
    req = ("POST /v1/jobs HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
           "Prefer: wait=300\r\nContent-Length: %d\r\n\r\n" % (host, port, len(body)))
    writer.write(req.encode() + body)
    await writer.drain()
    got_102 = False

    async def read_heads():
        nonlocal got_102
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"HTTP/1.1 102"):
                if not got_102:
                    got_102 = True
                    held.append(1)
            elif line.startswith(b"HTTP/"):
                answered.append(line.decode().strip())
                return

    task = asyncio.ensure_future(read_heads())
    await stop.wait()
    task.cancel()
    return writer


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    count = int(sys.argv[2])
    body = sys.argv[3].encode()
    hold = float(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--hold" else 20.0
    held, answered = [], []
    stop = asyncio.Event()
    start = time.monotonic()
    tasks = [asyncio.ensure_future(waiter(host, port, body, held, answered, stop))
             for _ in range(count)]
    while len(held) + len(answered) < count and time.monotonic() - start < hold:
        await asyncio.sleep(0.05)
    stop.set()
    writers = await asyncio.gather(*tasks, return_exceptions=True)
    connected = 0
    for i, w in enumerate(writers):
        if isinstance(w, Exception):
            continue
        connected += 1
        sock = w.get_extra_info("socket")
        if i % 2 == 0 and sock is not None:
            # A reset rather than a FIN: the harshest way to go away.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.close()
    await asyncio.sleep(0.1)
    print(json.dumps({"connected": connected, "held": len(held), "answered": len(answered),
                      "t": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    asyncio.run(main())
