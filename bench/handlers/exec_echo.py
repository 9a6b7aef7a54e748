#!/usr/bin/env python3
"""bench/handlers/exec_echo.py: the exec (process per job) Python handler
of the bench: the payload on stdin, the same function as the RQ peer's
(bench/peers/flask-rq/tasks.py: echo), its result on stdout."""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers",
                                "flask-rq"))
from tasks import echo  # noqa: E402

print(json.dumps(echo(json.load(sys.stdin))))
