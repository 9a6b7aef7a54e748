#!/usr/bin/env python3
"""bench/handlers/py_echo.py: the persistent Python handler of the bench:
the example runner (examples/handlers/python/handler.py) around the very
function the RQ peer runs (bench/peers/flask-rq/tasks.py: echo)."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path[:0] = [os.path.join(ROOT, "examples", "handlers", "python"),
                os.path.join(ROOT, "bench", "peers", "flask-rq")]

from handler import serve  # noqa: E402
from tasks import echo  # noqa: E402

serve(lambda job, progress: echo(job["payload"]))
