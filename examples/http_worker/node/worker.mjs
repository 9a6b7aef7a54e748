#!/usr/bin/env node
// A remote worker of hangtight's HTTP worker API: Node 18+, built-in fetch,
// nothing to install.
//
//   HANGTIGHT_URL=http://127.0.0.1:8080 HANGTIGHT_WORKER_KEY=<a worker key> \
//       node examples/http_worker/node/worker.mjs --types js.echo --concurrency 4
//
// Replace handle() with your job code, or import { Worker, JobError } and
// pass your own functions.  The API is docs/handlers.md ("HTTP worker API"):
// claim (a long poll), progress (renews the lease), complete or fail.  A
// timer renews the lease of a job that runs longer than a third of it;
// progress() throws Canceled once the job's cancel was requested; SIGTERM
// ends the claims, lets the jobs in hand finish, and exits.
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export class JobError extends Error {
  // Fails the job with this message; retry: false spends no more attempts.
  constructor(message, { retry = true, code = "handler_error" } = {}) {
    super(message);
    Object.assign(this, { retry, code });
  }
}

export class Canceled extends Error {} // the job was canceled (or its lease lost): stop

// The job code: returns the result (any JSON value), or throws.
async function handle(job, progress) {
  const p = job.payload;
  for (let step = 1; step <= Number(p?.steps ?? 0); step++) {
    await new Promise((r) => setTimeout(r, 1000 * Number(p.step_s ?? 0)));
    await progress(Math.floor((100 * step) / p.steps), `step ${step}`);
  }
  if (p && typeof p === "object" && "fail" in p) throw new JobError(p.fail, { retry: p.retry ?? true });
  return { echo: p, attempt: job.attempt, pid: process.pid };
}

// ---- the HTTP worker API: nothing to change below ----
export class Worker {
  constructor(url, handlers, { key, name, waitS = 20 } = {}) {
    this.url = url.replace(/\/$/, "");
    this.handlers = handlers;
    this.claimBody = { types: Object.keys(handlers).sort(), wait_s: waitS, worker: name ?? `${os.hostname()}:${process.pid}` };
    this.headers = { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };
    this.held = new Map(); // job id -> its lease
    this.stopping = false;
    this.claims = new AbortController(); // ends the claims held in a long poll
  }

  async call(path, body, signal) {
    const res = await fetch(this.url + path, { method: "POST", headers: this.headers, body: JSON.stringify(body), signal });
    const text = await res.text();
    return [res.status, text ? JSON.parse(text) : null];
  }

  async renew(id, lease, body) {
    const [status, answer] = await this.call(`/v1/worker/jobs/${id}/progress`, body);
    lease.at = Date.now();
    if (status === 409) lease[answer.type.endsWith("job-canceled") ? "canceled" : "lost"] = true; // stale-token: lost
    return status;
  }

  renewDue() {
    for (const [id, lease] of this.held)
      if (Date.now() - lease.at > lease.every && !lease.renewing) {
        lease.renewing = true;
        this.renew(id, lease, { token: lease.token }).catch(() => {}).finally(() => (lease.renewing = false));
      }
  }

  async runJob({ job, token, lease_ms }) {
    const lease = { token, at: Date.now(), every: lease_ms / 3 };
    this.held.set(job.id, lease);
    const progress = async (percent = null, message = null) => {
      if (lease.canceled || (await this.renew(job.id, lease, { token, percent, message })) === 409) throw new Canceled(job.id);
    };
    let outcome, body;
    try {
      [outcome, body] = ["complete", { token, result: (await this.handlers[job.type](job, progress)) ?? null }];
    } catch (e) { // a JobError, Canceled, or a bug in the job code (retried)
      const message = e instanceof JobError ? e.message : `${e?.name}: ${e?.message}`;
      [outcome, body] = ["fail", { token, retry: e?.retry ?? !(e instanceof Canceled), error: { code: e?.code ?? "handler_error", message } }];
    }
    this.held.delete(job.id);
    if (lease.lost) return null; // its outcome would be refused: drop it
    if (!this.stopping) body.claim_next = { types: this.claimBody.types, worker: this.claimBody.worker };
    const [status, answer] = await this.call(`/v1/worker/jobs/${job.id}/${outcome}`, body);
    return status === 200 ? answer.next ?? null : null; // the next job, claimed along
  }

  async loop() {
    let claim = null;
    while (claim || !this.stopping) {
      if (claim) {
        claim = await this.runJob(claim).catch((e) => console.error("worker:", e.message) ?? null);
        continue;
      }
      const [status, answer] = await this.call("/v1/worker/claim", this.claimBody, this.claims.signal).catch((e) => [0, e.message]);
      if (status === 200) claim = answer;
      else if (status !== 204 && !this.stopping) {
        console.error("worker: claim:", status, answer);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async run(concurrency = 1) {
    const stop = () => { this.stopping = true; this.claims.abort(); };
    process.on("SIGTERM", stop).on("SIGINT", stop);
    const timer = setInterval(() => this.renewDue(), 200);
    await Promise.all(Array.from({ length: concurrency }, () => this.loop()));
    clearInterval(timer);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: a } = parseArgs({ options: { types: { type: "string", default: "js.echo" }, concurrency: { type: "string", default: "1" }, name: { type: "string" } } });
  const handlers = Object.fromEntries(a.types.split(",").map((t) => [t, handle]));
  await new Worker(process.env.HANGTIGHT_URL ?? "http://127.0.0.1:8080", handlers, { key: process.env.HANGTIGHT_WORKER_KEY, name: a.name }).run(Number(a.concurrency));
  process.exit(0); // without waiting for idle kept-alive connections to time out
}
