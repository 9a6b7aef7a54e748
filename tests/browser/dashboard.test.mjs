// End-to-end test of the dashboard (api/dashboard/) in a real browser:
// Debian's chromium, headless, driven by playwright-core.  Run by
// tests/integration/test_dashboard.sh against a real redis + api + worker:
//
//   [HT_API_KEY=key] node dashboard.test.mjs <api url> <output dir>
//
// With HT_API_KEY (the api runs with --api-keys-file) the page must first
// ask for the key (401), then work with it once entered: every request,
// the SSE streams included, carries it as Bearer.
// Submits jobs through the public API (like any client) and checks what the
// page shows: a progress bar that moves to 100% over the SSE stream, cancel
// of a running job, retry of a failed one, the detail view with the event
// log, a job's input file (its size, and its download with the key), the
// schedules table (next run, last job, pause and resume), the throughput
// chart, the API key kept in sessionStorage and sent as Bearer.  Fails on
// any page error, console error or CSP violation.  Saves
// screenshots into the output dir.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error("usage: node dashboard.test.mjs API_URL OUTPUT_DIR");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const KEY = process.env.HT_API_KEY || "";

async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body ? { "Content-Type": "application/json" } : {}), ...(KEY ? { Authorization: `Bearer ${KEY}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const doc = res.status === 204 ? null : await res.json();
  return { status: res.status, doc };
}

async function submit(body) {
  const { status, doc } = await api("POST", "/v1/jobs", body);
  assert.equal(status, 202, `submit ${JSON.stringify(body)}: ${JSON.stringify(doc)}`);
  return doc.id;
}

async function until(what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(100);
  }
}

const jobStatus = async (id) => (await api("GET", "/v1/jobs/" + id)).doc.status;

const browser = await chromium.launch({
  executablePath: process.env.HT_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const problems = [];
// While the page runs without its key on purpose: from the start when the
// api has keys (the page's first poll may be answered before goto returns).
let expect401 = Boolean(KEY);
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
// The Authorization header of every GET /v1/queues (the page's poll), in the
// order the page sent them (null: none).
const queuesAuth = [];
// Enters (or clears, with "#key-clear") the key and checks the page's polls
// from then on: every one carries `expected` (undefined: no header).  A poll
// the page's timer sent just before, with the previous key, may be the
// first seen (a poll runs alone, so at most one): the key is checked from
// the first poll that has it.
async function switchKey(action, expected) {
  const from = queuesAuth.length;
  const want = expected ?? null;
  await Promise.all([
    page.waitForRequest((r) => r.url().includes("/v1/queues") && (r.headers().authorization ?? null) === want),
    action(),
  ]);
  const sent = queuesAuth.slice(from);
  const first = sent.indexOf(want);
  assert.ok(first === 0 || first === 1, `the polls after the key changed: ${JSON.stringify(sent)}`);
  return () => {
    const later = queuesAuth.slice(from + first);
    assert.ok(later.every((a) => a === want), `a poll without the expected key: ${JSON.stringify(later)}`);
  };
}
try {
  page.on("pageerror", (err) => problems.push("page error: " + err.message));
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    if (expect401 && /status of 401/.test(msg.text())) return;
    problems.push("console error: " + msg.text());
  });
  page.on("request", (r) => {
    if (r.url().includes("/v1/queues")) queuesAuth.push(r.headers().authorization ?? null);
  });

  // ---- the page and its headers --------------------------------------------
  const res = await page.goto(base + "/");
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.match(h["content-type"], /^text\/html/);
  assert.match(h["content-security-policy"], /script-src 'self'/);
  assert.doesNotMatch(h["content-security-policy"], /unsafe-inline/);
  assert.equal(h["x-content-type-options"], "nosniff");
  assert.match(h.etag, /^"[0-9a-f]{16}"$/);
  if (KEY) {
    // No key yet: the API says 401 and the page asks for one.
    await page.waitForSelector("#conn.bad");
    assert.match(await page.textContent("#banner"), /needs an API key/);
    await page.fill("#api-key", KEY);
    const keyKept = await switchKey(() => page.click("#key-form button[type=submit]"), `Bearer ${KEY}`);
    await page.waitForSelector("#conn.ok");
    keyKept();
    expect401 = false;
    assert.equal(await page.evaluate(() => sessionStorage.getItem("hangtight.apiKey")), KEY);
    // Entered once: a reload keeps it (sessionStorage lives as long as the tab).
    await page.reload();
    await page.waitForSelector("#conn.ok");
    log("API key asked for, entered once, sent as Bearer, kept over a reload");
  }
  await page.waitForSelector("#queues tbody tr[data-queue=default]");
  await page.waitForSelector("#conn.ok");
  log("dashboard loaded; queues shown");

  // An operator's pause shows in the queues table (the page itself has a
  // tenant's key: it shows the pause, an operator key makes it).
  if (process.env.HT_OPERATOR_KEY) {
    const operator = async (path) => {
      const res = await fetch(base + path, { method: "POST", headers: { Authorization: `Bearer ${process.env.HT_OPERATOR_KEY}` } });
      assert.equal(res.status, 200, `POST ${path}: ${await res.text()}`);
    };
    await operator("/v1/queues/default/pause");
    await operator("/v1/queues/default/pause?type=echo");
    await page.waitForSelector('#queues tbody tr[data-queue=default][data-paused=true][data-paused-types~="echo"]', { timeout: 15000 });
    assert.match(await page.textContent("#queues tbody tr[data-queue=default] td"), /paused.*paused: echo/);
    await operator("/v1/queues/default/resume");
    await operator("/v1/queues/default/resume?type=echo");
    await page.waitForSelector('#queues tbody tr[data-queue=default][data-paused=false][data-paused-types=""]', { timeout: 15000 });
    log("an operator's pause of the queue and of type echo shown, and their resume");
  }

  // ---- progress bar to 100% over SSE -----------------------------------------
  const sleeper = await submit({ type: "sleep", payload: { ms: 4000, steps: 8 } });
  const bar = `#running li[data-job-id="${sleeper}"] .bar`;
  await page.waitForSelector(bar, { timeout: 15000 });
  const seen = new Set();
  await until("the progress bar of the sleep job reaches 100%", 25000, async () => {
    const v = await page.getAttribute(bar, "aria-valuenow").catch(() => null);
    if (v !== null) seen.add(Number(v));
    return seen.has(100);
  });
  const between = [...seen].filter((v) => v > 0 && v < 100);
  assert.ok(between.length >= 2, `the bar moved through intermediate values: saw ${[...seen].join(",")}`);
  const width = await page.$eval(`${bar} .fill`, (e) => e.style.width);
  assert.equal(width, "100%");
  await page.waitForSelector(`#running li[data-job-id="${sleeper}"][data-status=succeeded]`, { timeout: 10000 });
  log(`progress bar: ${[...seen].sort((a, b) => a - b).join(" → ")}`);

  // ---- cancel a running job --------------------------------------------------
  const victim = await submit({ type: "sleep", payload: { ms: 60000, steps: 60 } });
  const cancelBtn = `#running li[data-job-id="${victim}"] button[data-action=cancel]`;
  await page.waitForSelector(cancelBtn, { timeout: 15000 });
  await until("the job to cancel runs", 15000, async () => (await jobStatus(victim)) === "running");
  const [cancelRes] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/v1/jobs/" + victim) && r.request().method() === "DELETE"),
    page.click(cancelBtn),
  ]);
  assert.equal(cancelRes.status(), 202, "DELETE of a running job");
  await until("the job is canceled", 15000, async () => (await jobStatus(victim)) === "canceled");
  await page.waitForSelector(`#running li[data-job-id="${victim}"][data-status=canceled]`, { timeout: 10000 });
  log("canceled a running job from the dashboard");

  // ---- retry a failed job ----------------------------------------------------
  const failing = await submit({ type: "fail", payload: { message: "boom", retry: false }, max_attempts: 1 });
  await until("the fail job fails", 15000, async () => (await jobStatus(failing)) === "failed");
  const retryBtn = `#failed tr[data-job-id="${failing}"] button[data-action=retry]`;
  await page.waitForSelector(retryBtn, { timeout: 10000 });
  const retriedBefore = (await api("GET", "/v1/queues")).doc.queues[0].totals.retried;
  const [retryRes] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/v1/jobs/${failing}/retry`) && r.request().method() === "POST"),
    page.click(retryBtn),
  ]);
  assert.equal(retryRes.status(), 202, "POST retry of a failed job");
  await page.waitForSelector("#banner[data-kind=info]", { timeout: 5000 });
  assert.match(await page.textContent("#banner"), /retry/);
  const retriedAfter = (await api("GET", "/v1/queues")).doc.queues[0].totals.retried;
  assert.equal(retriedAfter, retriedBefore + 1, "totals.retried counts the retry");
  await until("the retried job fails again", 15000, async () => (await jobStatus(failing)) === "failed");
  log("retried a failed job from the dashboard");

  // ---- detail view with the event log ------------------------------------------
  await page.click(`#recent tr[data-job-id="${sleeper}"] a.job`);
  await page.waitForSelector("#detail:not([hidden])");
  await page.waitForFunction(() => document.querySelectorAll("#detail-events li").length >= 9, null, { timeout: 10000 });
  const events = await page.$$eval("#detail-events li", (lis) => lis.map((l) => l.dataset.event));
  assert.ok(events.filter((e) => e === "progress").length >= 8, `progress events in the log: ${events}`);
  assert.equal(events[events.length - 1], "status");
  assert.match(await page.textContent("#detail-doc"), /"status": "succeeded"/);
  log(`detail view: ${events.length} events in the log`);

  // ---- recurring schedules: listed with their next run, last job, pause state -------
  const sched = async (body) => {
    const { status, doc } = await api("POST", "/v1/schedules", body);
    assert.equal(status, 201, `create schedule ${JSON.stringify(body)}: ${JSON.stringify(doc)}`);
    return doc.id;
  };
  const nightly = await sched({ name: "nightly report", cron: "0 3 * * *", timezone: "Europe/Paris", job: { type: "echo" } });
  const beat = await sched({ name: "heartbeat", every_s: 1, job: { type: "echo", payload: { beat: true } } });
  const nightlyRow = `#schedules tr[data-schedule-id="${nightly}"]`;
  await page.waitForSelector(nightlyRow, { timeout: 10000 });
  assert.equal(await page.textContent(`${nightlyRow} .when`), "0 3 * * * (Europe/Paris)");
  assert.ok((await page.textContent(`${nightlyRow} .next`)).length > 0, "the next run is shown");
  await page.waitForSelector(`#schedules tr[data-schedule-id="${beat}"] .last a.job`, { timeout: 15000 });
  const [pauseRes] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/v1/schedules/${nightly}/pause`)),
    page.click(`${nightlyRow} button[data-action=pause]`),
  ]);
  assert.equal(pauseRes.status(), 200, "pause from the dashboard");
  await page.waitForSelector(`${nightlyRow}[data-paused=true] button[data-action=resume]`, { timeout: 10000 });
  assert.equal(await page.textContent(`${nightlyRow} .next`), "", "no next run while paused");
  await page.click(`${nightlyRow} button[data-action=resume]`);
  await page.waitForSelector(`${nightlyRow}[data-paused=false]`, { timeout: 10000 });
  assert.equal((await api("DELETE", "/v1/schedules/" + beat)).status, 204);
  log("schedules: listed, last job linked, paused and resumed from the dashboard");

  // ---- a job's files in the detail view -------------------------------------------
  const file = randomBytes(3000000);
  const up = await fetch(base + "/v1/jobs?type=echo", {
    method: "POST",
    headers: { "Content-Type": "application/x-test", ...(KEY ? { Authorization: `Bearer ${KEY}` } : {}) },
    body: file,
  });
  const upDoc = await up.json();
  assert.equal(up.status, 202, `file submit: ${JSON.stringify(upDoc)}`);
  await until("the file job ends", 15000, async () => (await jobStatus(upDoc.id)) === "succeeded");
  await page.evaluate((id) => { location.hash = id; }, upDoc.id);
  await page.click(`#recent tr[data-job-id="${upDoc.id}"] a.job`);
  await page.waitForSelector('#detail-files li[data-file="input"]');
  assert.equal(await page.textContent('#detail-files li[data-file="input"] .size'), "2.9 MiB");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click('#detail-files a.download[data-file="input"]'),
  ]);
  const saved = readFileSync(await download.path());
  assert.equal(createHash("sha256").update(saved).digest("hex"), upDoc.input.sha256, "the downloaded input");
  log("detail view: the input's size, and its download");

  // ---- throughput chart ----------------------------------------------------------
  await page.waitForFunction(() => {
    const l = document.querySelector("#chart polyline.done");
    return l && Number(l.dataset.points) >= 3;
  }, null, { timeout: 15000 });
  log("throughput chart drawn");

  // ---- the API key: sessionStorage, sent as Bearer (open api) ---------------------
  if (!KEY) {
    await page.fill("#api-key", "test-key-123");
    const keyKept = await switchKey(() => page.click("#key-form button[type=submit]"), "Bearer test-key-123");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("hangtight.apiKey")), "test-key-123");
    keyKept();
    const noKeyKept = await switchKey(() => page.click("#key-clear"), undefined);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("hangtight.apiKey")), null);
    noKeyKept();
    log("API key kept in sessionStorage and sent as Bearer");
  }

  // ---- screenshot with some work in flight ---------------------------------------
  await page.click("#detail-close");
  for (let i = 0; i < 3; i++) await submit({ type: "sleep", payload: { ms: 8000 + 2000 * i, steps: 20 } });
  await submit({ type: "echo", payload: { hello: "world" }, priority: "high" });
  await submit({ type: "sleep", payload: { ms: 1000 }, delay_s: 600, priority: "low" });
  await page.waitForFunction(() => document.querySelectorAll("#running li:not(.finished)").length >= 3, null, { timeout: 15000 });
  await sleep(3000);
  const shot = join(outDir, "dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  log("screenshot:", shot);

  // The conditional GET of the page itself.
  const again = await page.request.get(base + "/", { headers: { "If-None-Match": h.etag } });
  assert.equal(again.status(), 304);

  if (KEY) {
    // Forgetting the key: the API refuses again, and the page says so.
    expect401 = true;
    const noKeyKept = await switchKey(() => page.click("#key-clear"), undefined);
    await page.waitForSelector("#conn.bad");
    noKeyKept();
    assert.match(await page.textContent("#banner"), /needs an API key/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("hangtight.apiKey")), null);
    log("forgotten key: 401 and the page asks again");
  }

  assert.deepEqual(problems, [], "no page errors, console errors or CSP violations");
  log("PASS");
} catch (err) {
  await page.screenshot({ path: join(outDir, "failure.png"), fullPage: true }).catch(() => {});
  console.error("page problems so far:", problems);
  throw err;
} finally {
  await browser.close();
}
