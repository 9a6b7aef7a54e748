"""bench/peers/flask-rq/app.py: the peer "a small Flask + RQ service" that
bench/run measures hangtight against.  The same contract as hangtight's api:
POST /v1/jobs {type, payload} -> 202 + Location, GET /v1/jobs/<id> -> the
job's status (and result once done), 404 if unknown.  Served by gunicorn
(4 sync workers, see bench/README.md); RQ from Debian (python3-rq)."""
import os

from flask import Flask, jsonify, request
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

app = Flask(__name__)
redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
queue = Queue("default", connection=redis)

# RQ status names -> hangtight's status words.
STATUS = {"queued": "queued", "deferred": "queued", "scheduled": "scheduled",
          "started": "running", "finished": "succeeded", "failed": "failed",
          "stopped": "failed", "canceled": "canceled"}


@app.post("/v1/jobs")
def submit():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return jsonify(title="type is required"), 422, {"Content-Type": "application/problem+json"}
    job = queue.enqueue("tasks." + body["type"], body.get("payload", {}))
    return (jsonify(id=job.id, type=body["type"], status="queued"), 202,
            {"Location": f"/v1/jobs/{job.id}"})


@app.get("/v1/jobs/<job_id>")
def poll(job_id):
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return jsonify(title="no such job"), 404, {"Content-Type": "application/problem+json"}
    status = job.get_status()
    return jsonify(id=job.id, status=STATUS.get(status, status), result=job.result)
