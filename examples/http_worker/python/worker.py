#!/usr/bin/env python3
"""A remote worker of hangtight's HTTP worker API, standard library only.

  HANGTIGHT_URL=http://127.0.0.1:8080 HANGTIGHT_WORKER_KEY=<a worker key> \\
      python3 examples/http_worker/python/worker.py --types py.echo --threads 4

Replace handle() with your job code, or import Worker and JobError from here
and pass your own functions.  The API is docs/handlers.md ("HTTP worker
API"): claim (a long poll), progress (renews the lease), complete or fail.
A thread renews the lease of a job that runs longer than a third of it;
progress() raises Canceled once the job's cancel was requested; SIGTERM
ends the claims, lets the jobs in hand finish, and exits.  A job with an
input file (docs/files.md): progress.fetch_input(path) streams it to a local
file (SHA-256 checked); progress.put_output(path, content_type) streams a
local file up as the job's output, kept when the job completes.
"""
import argparse, hashlib, http.client, json, os, signal, socket, sys, threading, time, urllib.parse


class JobError(Exception):
    """Fails the job with this message; retry=False spends no more attempts."""

    def __init__(self, message, retry=True, code="handler_error"):
        super().__init__(message)
        self.retry, self.code = retry, code


class Canceled(Exception):
    """The job was canceled (or its lease lost): stop working on it."""


def handle(job, progress):
    """The job code: returns the result (any JSON value), or raises."""
    payload = job["payload"]
    if isinstance(payload, dict):
        for step in range(1, int(payload.get("steps", 0)) + 1):
            time.sleep(float(payload.get("step_s", 0)))
            progress(100 * step // int(payload["steps"]), f"step {step}")
        if "fail" in payload:
            raise JobError(payload["fail"], retry=payload.get("retry", True))
    return {"echo": payload, "attempt": job["attempt"], "pid": os.getpid()}


# ---- the HTTP worker API: nothing to change below ----
class Worker:
    def __init__(self, url, handlers, key=None, name=None, wait_s=20, claim_next=True):
        u = urllib.parse.urlsplit(url)
        self.addr, self.handlers, self.wait_s = (u.hostname, u.port or 80), handlers, wait_s
        self.claim_next = claim_next  # the next job claimed by complete/fail: 1 round trip a job
        self.claim_body = {"types": sorted(handlers), "wait_s": wait_s,
                           "worker": name or f"{socket.gethostname()}:{os.getpid()}"}
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.local, self.stopping, self.lock = threading.local(), threading.Event(), threading.Lock()
        self.held, self.claiming = {}, set()  # job id -> its lease; connections in a claim

    def conn(self):
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection(*self.addr)
        return self.local.conn

    def call(self, path, body, retry=True):
        """POSTs body as JSON on this thread's kept-alive connection: (status, answer)."""
        try:
            self.conn().request("POST", path, json.dumps(body), self.headers)
            res = self.conn().getresponse()
            data = res.read()
            return res.status, json.loads(data) if data else None
        except (OSError, http.client.HTTPException):
            self.local.conn.close()
            self.local.conn = None
            if not retry or self.stopping.is_set():
                raise
            return self.call(path, body, False)  # the server closed an idle connection

    def transfer(self, method, path, token, body=None, headers=()):
        """A file's bytes on a connection of its own: the response, to be read."""
        conn = http.client.HTTPConnection(*self.addr)
        conn.request(method, path, body, {**self.headers, **dict(headers), "Hangtight-Token": token})
        return conn.getresponse()

    def renew(self, job_id, lease, body):
        status, answer = self.call(f"/v1/worker/jobs/{job_id}/progress", body)
        lease["at"] = time.monotonic()
        if status == 409:  # job-canceled: stop; stale-token: another attempt has it
            lease["canceled" if answer["type"].endswith("job-canceled") else "lost"] = True
        return status

    def renewer(self):
        while True:
            time.sleep(0.2)
            with self.lock:
                due = [(i, l) for i, l in self.held.items() if time.monotonic() - l["at"] > l["every"]]
            for job_id, lease in due:
                try:
                    self.renew(job_id, lease, {"token": lease["token"]})
                except (OSError, http.client.HTTPException):
                    pass  # tried again on the next round

    def run_job(self, claim):
        job, token = claim["job"], claim["token"]
        lease = {"token": token, "at": time.monotonic(), "every": claim["lease_ms"] / 3000}
        with self.lock:
            self.held[job["id"]] = lease

        def progress(percent=None, message=None):
            if lease.get("canceled") or self.renew(
                    job["id"], lease, {"token": token, "percent": percent, "message": message}) == 409:
                raise Canceled(job["id"])

        def fetch_input(path):
            res = self.transfer("GET", job["input_url"], token)
            sha = hashlib.sha256()
            with open(path, "wb") as f:
                while block := res.read(1 << 16):
                    sha.update(block)
                    f.write(block)
            if res.status != 200 or sha.hexdigest() != job["input"]["sha256"]:
                raise JobError(f"cannot read the input: {res.status}")
            return path

        def put_output(path, content_type="application/octet-stream"):
            with open(path, "rb") as f:
                res = self.transfer("PUT", f"/v1/worker/jobs/{job['id']}/output", token, f,
                                    {"Content-Type": content_type, "Content-Length": str(os.path.getsize(path))})
                answer = json.loads(res.read() or b"null")
            if res.status != 201:
                raise JobError(f"cannot store the output: {res.status} {answer}")
            lease["output"] = True
            return answer

        progress.fetch_input, progress.put_output = fetch_input, put_output
        try:
            outcome, body = "complete", {"token": token, "result": self.handlers[job["type"]](job, progress)}
            if lease.get("output"):
                body["output"] = True
        except Exception as e:  # a JobError, Canceled, or a bug in the job code (retried)
            message = str(e) if isinstance(e, JobError) else f"{type(e).__name__}: {e}"
            outcome, body = "fail", {"token": token, "retry": getattr(e, "retry", not isinstance(e, Canceled)),
                                     "error": {"code": getattr(e, "code", "handler_error"), "message": message}}
        with self.lock:
            del self.held[job["id"]]
        if lease.get("lost"):
            return None  # its outcome would be refused: drop it
        if self.claim_next and not self.stopping.is_set():
            body["claim_next"] = {"types": self.claim_body["types"], "worker": self.claim_body["worker"]}
        status, answer = self.call(f"/v1/worker/jobs/{job['id']}/{outcome}", body)
        return answer.get("next") if status == 200 else None  # the next job, claimed along

    def loop(self):
        claim = None
        while claim or not self.stopping.is_set():
            if claim:
                claim = self.run_job(claim)
                continue
            conn = self.conn()
            with self.lock:
                self.claiming.add(conn)
            try:
                status, answer = self.call("/v1/worker/claim", self.claim_body)
            except (OSError, http.client.HTTPException) as e:
                status, answer = 0, str(e)
            with self.lock:
                self.claiming.discard(conn)
            if status == 200:
                claim = answer
            elif status != 204 and not self.stopping.is_set():
                print(f"worker: claim: {status} {answer}", file=sys.stderr)
                self.stopping.wait(1)

    def stop(self, *_):
        self.stopping.set()
        with self.lock:  # ends the claims held in a long poll; jobs in hand finish
            for conn in self.claiming:
                if conn.sock:
                    conn.sock.shutdown(socket.SHUT_RDWR)

    def run(self, threads=1):
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        threading.Thread(target=self.renewer, daemon=True).start()
        pool = [threading.Thread(target=self.loop) for _ in range(threads)]
        for t in pool:
            t.start()
        while any(t.is_alive() for t in pool):
            pool[0].join(0.2)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="a remote worker running handle() for these types")
    ap.add_argument("--types", default="py.echo", help="comma-separated job types")
    ap.add_argument("--threads", type=int, default=1, help="jobs run at once")
    ap.add_argument("--name", help="the worker's name (default host:pid)")
    a = ap.parse_args()
    Worker(os.environ.get("HANGTIGHT_URL", "http://127.0.0.1:8080"),
           {t: handle for t in a.types.split(",")}, os.environ.get("HANGTIGHT_WORKER_KEY"),
           a.name).run(a.threads)
