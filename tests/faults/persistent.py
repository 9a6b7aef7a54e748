#!/usr/bin/env python3
"""Persistent handler of the persistent-handler tests: speaks the line
protocol (docs/handlers.md) and misbehaves on request, by payload["do"]:
  echo     answers {"payload", "pid", "served", "line" (the job line as
           received)}
("served": how many job lines this process has read, this one included.)
  crash    writes a last word to stderr and exits 3 (on attempt 1 only
           unless "always")
  garbage  writes a line that is not an answer
  huge     answers a result of "bytes" bytes
  sleep    sleeps "s" seconds, reporting progress, then answers
  gate     waits until the file "file" exists (the test creates it), then
           answers {"pid", "served"}
  env      answers its environment
  extra    answers, then writes another line
  stderr   writes "n" lines to stderr, then answers
Standard library only."""
import json
import os
import sys
import time

out = sys.stdout
served = 0
for line in sys.stdin:
    served += 1
    job = json.loads(line)
    p = job["payload"]
    do = p.get("do", "echo") if isinstance(p, dict) else "echo"

    def send(**a):
        out.write(json.dumps({"id": job["id"], **a}) + "\n")
        out.flush()

    if do == "crash" and (job["attempt"] == 1 or p.get("always")):
        sys.stderr.write("about to crash on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    elif do == "garbage":
        out.write("Traceback? no, just a stray print\n")
        out.flush()
    elif do == "huge":
        send(result="x" * int(p["bytes"]))
    elif do == "sleep":
        for i in range(int(p["s"] * 10)):
            time.sleep(0.1)
            if i % 5 == 0:
                send(progress=i * 10 // p["s"], message=f"pid {os.getpid()} slept {i / 10:.1f} s")
        send(result={"slept": p["s"], "pid": os.getpid()})
    elif do == "gate":
        while not os.path.exists(p["file"]):
            time.sleep(0.05)
        send(result={"pid": os.getpid(), "served": served})
    elif do == "env":
        send(result=dict(os.environ))
    elif do == "extra":
        send(result={"pid": os.getpid()})
        out.write('{"one": "line too many"}\n')
        out.flush()
    elif do == "stderr":
        for i in range(int(p["n"])):
            sys.stderr.write(f"log line {i}\n")
        sys.stderr.flush()
        send(result={"pid": os.getpid()})
    else:
        send(result={"payload": p, "pid": os.getpid(), "served": served,
                     "attempt": job["attempt"], "line": line.rstrip("\n")})
