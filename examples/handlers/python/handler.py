#!/usr/bin/env python3
"""A persistent hangtight handler in Python, standard library only.

Handler config (HANGTIGHT_HANDLERS):
  {"handlers": {"py.echo": {"command": ["python3", "examples/handlers/python/handler.py"],
                            "mode": "persistent"}}}

Replace handle() with your job code, or import serve() and JobError from
here and pass your own function.  The protocol is docs/handlers.md: one
JSON job per line on stdin, JSON answers on stdout.
"""
import json
import os
import sys


class JobError(Exception):
    """Fails the job with this message; retry=False spends no more attempts."""

    def __init__(self, message, retry=True):
        super().__init__(message)
        self.retry = retry


def handle(job, progress):
    """The job code: returns the result (any JSON value), or raises."""
    payload = job["payload"]
    if isinstance(payload, dict):
        for step in range(1, int(payload.get("steps", 0)) + 1):
            progress(100 * step // int(payload["steps"]), f"step {step}")
        if "fail" in payload:
            raise JobError(payload["fail"], retry=payload.get("retry", True))
    return {"echo": payload, "attempt": job["attempt"], "pid": os.getpid()}


# ---- the line protocol: nothing to change below ----
def serve(handle):
    """Runs handle(job, progress) for each job line on stdin, one at a time."""
    out = sys.stdout
    sys.stdout = sys.stderr  # print() in job code goes to the worker's log
    for line in sys.stdin:
        job = json.loads(line)

        def send(**answer):
            out.write(json.dumps({"id": job["id"], **answer}) + "\n")
            out.flush()

        try:
            result = handle(job, lambda pct, msg=None: send(progress=pct, message=msg))
        except JobError as e:
            send(error=str(e), retry=e.retry)
        except Exception as e:  # a bug in the job code: retried
            send(error=f"{type(e).__name__}: {e}", retry=True)
        else:
            send(result=result)


if __name__ == "__main__":
    serve(handle)
