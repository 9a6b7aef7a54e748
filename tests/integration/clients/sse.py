#!/usr/bin/env python3
"""Reads a Server-Sent Events stream for the integration tests.

    sse.py URL [--last-event-id ID] [--max-events K] [--timeout S]

Prints one JSON object per line: {"event", "id", "data", "t"} for each
event (fields absent from the event are null; t is seconds since the
request), {"comment": text, "t"} for each comment line, and a last line
{"end": "eof" | "max-events" | "timeout", "status", "content_type", "t"}.
With --max-events it hangs up after K events (comments do not count).
Exits 0 unless the request failed.
"""
import argparse
import http.client
import json
import socket
import sys
import time
import urllib.parse


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--last-event-id")
    ap.add_argument("--max-events", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.url)
    start = time.monotonic()
    deadline = start + args.timeout
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
    headers = {"Accept": "text/event-stream"}
    if args.last_event_id is not None:
        headers["Last-Event-ID"] = args.last_event_id
    conn.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers)
    resp = conn.getresponse()
    end = {"status": resp.status, "content_type": resp.getheader("Content-Type")}
    if resp.status != 200:
        end.update(end="eof", body=resp.read().decode("utf-8", "replace"))
        end["t"] = round(time.monotonic() - start, 4)
        emit(end)
        return 0

    count = 0
    event = {"event": None, "id": None, "data": None}
    reason = "eof"
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                reason = "timeout"
                break
            conn.sock.settimeout(left)
            raw = resp.readline()
            if not raw:
                break
            line = raw.decode("utf-8").rstrip("\r\n")
            t = round(time.monotonic() - start, 4)
            if line == "":
                if any(v is not None for v in event.values()):
                    event["t"] = t
                    emit(event)
                    count += 1
                    event = {"event": None, "id": None, "data": None}
                    if args.max_events and count >= args.max_events:
                        reason = "max-events"
                        break
                continue
            if line.startswith(":"):
                emit({"comment": line[1:].lstrip(" "), "t": t})
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                event["data"] = value if event["data"] is None else event["data"] + "\n" + value
            elif name in ("event", "id"):
                event[name] = value
    except (socket.timeout, TimeoutError):
        reason = "timeout"
    except (http.client.IncompleteRead, ConnectionError) as e:
        reason = "eof"
        end["error"] = str(e)
    end.update(end=reason, t=round(time.monotonic() - start, 4))
    emit(end)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
