#!/usr/bin/env node
// A persistent hangtight handler in Node, no dependencies (Node 18+).
//
// Handler config (HANGTIGHT_HANDLERS):
//   {"handlers": {"js.echo": {"command": ["node", "examples/handlers/node/handler.mjs"],
//                             "mode": "persistent"}}}
//
// Replace handle() with your job code, or import { serve, JobError } from
// here and pass your own function.  The protocol is docs/handlers.md: one
// JSON job per line on stdin, JSON answers on stdout.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

// Fails the job with this message; retry false spends no more attempts.
export class JobError extends Error {
  constructor(message, retry = true) {
    super(message);
    this.retry = retry;
  }
}

// The job code: returns (or resolves to) the result, any JSON value; or throws.
async function handle(job, progress) {
  const p = job.payload;
  if (p && typeof p === "object") {
    for (let step = 1; step <= (p.steps ?? 0); step++)
      progress(Math.floor((100 * step) / p.steps), `step ${step}`);
    if ("fail" in p) throw new JobError(p.fail, p.retry ?? true);
  }
  return { echo: p, attempt: job.attempt, pid: process.pid };
}

// ---- the line protocol: nothing to change below ----
// Runs handle(job, progress) for each job line on stdin, one at a time.
export async function serve(handle) {
  const out = process.stdout;
  console.log = console.error; // console.log in job code goes to the worker's log
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const job = JSON.parse(line);
    const send = (answer) => out.write(JSON.stringify({ id: job.id, ...answer }) + "\n");
    try {
      const result = await handle(job, (progress, message) => send({ progress, message }));
      send({ result: result ?? null });
    } catch (e) {
      send({ error: String(e?.message ?? e), retry: e?.retry ?? true });
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await serve(handle);
