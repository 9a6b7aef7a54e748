#!/usr/bin/env python3
"""bench/handlers/http_echo.py: a worker of the bench over the HTTP worker
API: the example client (examples/http_worker/python/worker.py) around the
very function the RQ peer runs (bench/peers/flask-rq/tasks.py: echo).

  http_echo.py URL TYPE THREADS [--no-claim-next]

--no-claim-next makes each job two round trips (claim, then complete)
instead of one (complete carrying the next claim)."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path[:0] = [os.path.join(ROOT, "examples", "http_worker", "python"),
                os.path.join(ROOT, "bench", "peers", "flask-rq")]

from worker import Worker  # noqa: E402
from tasks import echo  # noqa: E402

url, job_type, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
Worker(url, {job_type: lambda job, progress: echo(job["payload"])}, name=f"bench:{os.getpid()}",
       wait_s=5, claim_next="--no-claim-next" not in sys.argv[4:]).run(threads)
