// The hangtight dashboard (index.html): plain JavaScript over the public
// JSON API, nothing else.  It polls GET /v1/queues, GET /v1/jobs and GET
// /v1/schedules every POLL_MS, follows running jobs' progress over their
// SSE streams, and offers cancel and retry of jobs, pause and resume of
// schedules.  The API key (when the api has them) is entered
// once and kept in sessionStorage, and sent as "Authorization: Bearer".
//
// Why fetch() and not EventSource for the streams: EventSource cannot send
// an Authorization header.  So streams are read with fetch() and a
// ReadableStream and parsed here (parseSse), resuming with Last-Event-ID.
//
// Browsers open at most 6 HTTP/1.1 connections per origin and a stream
// holds one for as long as its job runs, so at most MAX_STREAMS jobs are
// followed live; the others show the progress of the last poll.
"use strict";

const POLL_MS = 2000;
const MAX_STREAMS = 3;
const LINGER_MS = 15000; // a finished job stays in "Running" this long, at 100%
const CHART_S = 300;
const KEY_STORE = "hangtight.apiKey";
const FINAL = new Set(["succeeded", "failed", "canceled"]);
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const $ = (sel) => document.querySelector(sel);

// ---- the API ---------------------------------------------------------------

function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

function authHeaders(extra) {
  const h = Object.assign({}, extra);
  const key = apiKey();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && (problem.detail || problem.title) ? `${status} ${problem.title || ""}: ${problem.detail || ""}` : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// One JSON request; throws ApiError with the problem+json on 4xx/5xx.
async function api(method, path, body) {
  const init = { method, headers: authHeaders({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
  if (!res.ok) throw new ApiError(res.status, doc);
  return { status: res.status, doc };
}

// Server-Sent Events over fetch(): calls onEvent({id, event, data}) per
// event until the stream ends or `signal` aborts.  Returns the last id.
async function readSse(path, lastId, signal, onEvent) {
  const headers = authHeaders({ Accept: "text/event-stream" });
  if (lastId) headers["Last-Event-ID"] = lastId;
  const res = await fetch(path, { headers, signal, cache: "no-store" });
  if (!res.ok) {
    let doc = null;
    try { doc = await res.json(); } catch (e) { doc = null; }
    throw new ApiError(res.status, doc);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = parseSse(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value);
  }
  return parser.lastId();
}

// The SSE wire format (HTML Living Standard, "event stream interpretation"):
// lines ending in CR, LF or CRLF; "field: value"; a blank line dispatches;
// lines starting with ":" are comments (our keep-alives).
function parseSse(onEvent) {
  let buf = "", data = [], event = "", id = "", last = "";
  function line(l) {
    if (l === "") {
      if (data.length) {
        if (id) last = id;
        onEvent({ id: last, event: event || "message", data: data.join("\n") });
      }
      data = []; event = ""; id = "";
      return;
    }
    if (l[0] === ":") return;
    const i = l.indexOf(":");
    const field = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? "" : l.slice(i + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id") id = value;
  }
  return {
    push(chunk) {
      buf += chunk;
      // Keep a trailing CR: it may be the first half of a CRLF.
      const re = /\r\n|\r(?!$)|\n/g;
      let start = 0, m;
      while ((m = re.exec(buf)) !== null) {
        line(buf.slice(start, m.index));
        start = m.index + m[0].length;
      }
      buf = buf.slice(start);
    },
    lastId: () => last,
  };
}

// ---- small DOM helpers ------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function shortTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function jobLink(id) {
  return el("a", { class: "job", href: "#" + id, title: id, text: id.slice(0, 8), "data-job-id": id,
                   onclick: (ev) => { ev.preventDefault(); showDetail(id); } });
}

function statusCell(status) {
  return el("span", { class: "status status-" + status, text: status });
}

let bannerTimer = null;
function banner(text, kind) {
  const b = $("#banner");
  b.textContent = text;
  b.hidden = !text;
  b.dataset.kind = kind || "error";
  clearTimeout(bannerTimer);
  if (text && kind === "info") bannerTimer = setTimeout(() => banner(""), 4000);
}

function connState(ok, text) {
  const c = $("#conn");
  c.textContent = text;
  c.className = "pill " + (ok ? "ok" : "bad");
}

function reportError(err) {
  if (err instanceof ApiError && err.status === 401) {
    banner("This api needs an API key: enter it above (it is kept in this tab only).");
    $("#api-key").focus();
  } else {
    banner(String(err.message || err));
  }
}

// ---- actions ----------------------------------------------------------------

async function act(what, method, path) {
  try {
    const { status, doc } = await api(method, path);
    banner(`${what} ${doc.id.slice(0, 8)}: ${status} (${doc.status})`, "info");
  } catch (err) {
    reportError(err);
  }
  poll();
}

function cancelButton(id) {
  return el("button", { type: "button", class: "danger", "data-action": "cancel", "data-job-id": id, text: "Cancel",
                        onclick: () => act("cancel", "DELETE", "/v1/jobs/" + id) });
}

function retryButton(id) {
  return el("button", { type: "button", "data-action": "retry", "data-job-id": id, text: "Retry",
                        onclick: () => act("retry", "POST", "/v1/jobs/" + id + "/retry") });
}

// ---- queues and the throughput chart ----------------------------------------

const samples = []; // {t (ms), done, submitted}: the totals at each poll

function renderQueues(doc) {
  const body = $("#queues tbody");
  body.replaceChildren(...doc.queues.map((q) => el("tr", { "data-queue": q.name, "data-paused": String(!!q.paused),
                                                         "data-paused-types": (q.paused_types || []).join(" ") },
    // An operator's pause (docs/fairness.md): nothing new starts, submits go on.
    el("td", {}, q.name,
       q.paused ? el("span", { class: "status status-canceled paused", title: "paused by an operator: nothing new starts", text: " paused" }) : null,
       (q.paused_types || []).length ? el("span", { class: "paused-types", title: "job types paused by an operator",
                                                    text: " paused: " + q.paused_types.join(", ") }) : null),
    ...[q.queued.high, q.queued.default, q.queued.low, q.scheduled, q.running, q.failed, q.canceled, q.succeeded]
      .map((n, i) => el("td", { class: "num", "data-col": ["high", "default", "low", "scheduled", "running", "failed", "canceled", "succeeded"][i], text: String(n) })))));
  const t = Date.now();
  let done = 0, submitted = 0;
  for (const q of doc.queues) {
    done += q.totals.succeeded + q.totals.failed + q.totals.canceled;
    submitted += q.totals.submitted;
  }
  samples.push({ t, done, submitted });
  while (samples.length && samples[0].t < t - CHART_S * 1000) samples.shift();
  renderChart();
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// Rates between consecutive samples, drawn over the time the page has
// watched (at least a minute, at most CHART_S seconds).
function renderChart() {
  const chart = $("#chart");
  const W = 600, H = 120, now = Date.now();
  const span = Math.min(CHART_S, Math.max(60, samples.length ? (now - samples[0].t) / 1000 : 0)) * 1000;
  const rates = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i], dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    rates.push({ t: b.t, done: Math.max(0, b.done - a.done) / dt, sub: Math.max(0, b.submitted - a.submitted) / dt });
  }
  const max = Math.max(1, ...rates.map((r) => Math.max(r.done, r.sub)));
  const x = (t) => ((t - (now - span)) / span) * W;
  const y = (v) => H - 4 - (v / max) * (H - 16);
  const line = (key) => rates.map((r) => `${x(r.t).toFixed(1)},${y(r[key]).toFixed(1)}`).join(" ");
  const kids = [svg("line", { class: "grid", x1: 0, y1: y(0), x2: W, y2: y(0) }),
                svg("line", { class: "grid", x1: 0, y1: y(max), x2: W, y2: y(max) })];
  const label = svg("text", { x: 4, y: 10 });
  label.textContent = `${max.toFixed(max < 10 ? 1 : 0)}/s`;
  const left = svg("text", { x: 4, y: H - 6 });
  left.textContent = `−${Math.round(span / 1000)} s`;
  kids.push(label, left);
  if (rates.length) {
    kids.push(svg("polyline", { class: "sub", points: line("sub") }));
    kids.push(svg("polyline", { class: "done", points: line("done"), "data-points": String(rates.length) }));
  }
  chart.replaceChildren(...kids);
  const lastRate = rates.length ? rates[rates.length - 1].done : 0;
  $("#rate").textContent = rates.length ? ` — now ${lastRate.toFixed(1)}/s` : "";
}

// ---- running jobs: cards with progress bars ----------------------------------

const cards = new Map(); // id -> {li, job, stream (AbortController|null), lastId, finishedAt}

function cardFor(job) {
  let c = cards.get(job.id);
  if (!c) {
    const fill = el("div", { class: "fill" });
    const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, fill);
    const title = el("div", {}, jobLink(job.id), " ", el("span", { class: "type" }), " ", el("span", { class: "st" }));
    const li = el("li", { "data-job-id": job.id }, title, cancelButton(job.id), bar, el("div", { class: "meta" }));
    c = { li, job, stream: null, lastId: "", finishedAt: 0 };
    cards.set(job.id, c);
    $("#running").append(li);
  }
  return c;
}

function updateCard(job) {
  const c = cardFor(job);
  c.job = job;
  const pct = job.status === "succeeded" ? 100 : (job.progress && job.progress.percent) || 0;
  const li = c.li;
  li.className = "status-" + job.status + (FINAL.has(job.status) ? " finished" : "");
  li.dataset.status = job.status;
  li.querySelector(".type").textContent = job.type;
  li.querySelector(".st").replaceChildren(statusCell(job.status));
  const bar = li.querySelector(".bar");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.querySelector(".fill").style.width = pct + "%";
  const msg = job.progress && job.progress.message ? job.progress.message : "";
  li.querySelector(".meta").textContent = `${pct}%${msg ? " · " + msg : ""} · attempt ${job.attempt}/${job.max_attempts}` +
    (job.cancel_requested ? " · cancel requested" : "");
  li.querySelector("button[data-action=cancel]").hidden = FINAL.has(job.status);
  if (FINAL.has(job.status) && !c.finishedAt) c.finishedAt = Date.now();
}

// Follows one job's stream until it ends; resumes from the last id seen.
function follow(id) {
  const c = cards.get(id);
  if (!c || c.stream) return;
  const ctl = new AbortController();
  c.stream = ctl;
  readSse(`/v1/jobs/${id}/events`, c.lastId, ctl.signal, (ev) => {
    c.lastId = ev.id || c.lastId;
    try { updateCard(JSON.parse(ev.data)); } catch (e) { /* not a document: skip */ }
  }).catch((err) => {
    if (err.name !== "AbortError" && !(err instanceof ApiError && err.status === 404)) console.warn("stream", id, err);
  }).finally(() => {
    c.stream = null;
  });
}

function renderRunning(jobs) {
  const seen = new Set();
  for (const job of jobs) {
    seen.add(job.id);
    const c = cards.get(job.id);
    // A streamed card is newer than the poll; an unstreamed one takes it.
    if (!c || !c.stream) updateCard(job);
  }
  let streams = [...cards.values()].filter((c) => c.stream).length;
  const detailOpen = detailStream !== null;
  for (const [id, c] of cards) {
    if (!seen.has(id) && !FINAL.has(c.job.status) && !c.stream) {
      // Left "running" between polls: its final state comes from a GET.
      api("GET", "/v1/jobs/" + id).then(({ doc }) => updateCard(doc)).catch(() => { c.finishedAt = 1; });
    }
    if (c.finishedAt && Date.now() - c.finishedAt > LINGER_MS) {
      if (c.stream) c.stream.abort();
      c.li.remove();
      cards.delete(id);
      continue;
    }
    if (!FINAL.has(c.job.status) && !c.stream && streams < MAX_STREAMS - (detailOpen ? 1 : 0)) {
      follow(id);
      streams++;
    }
  }
  $("#running-empty").hidden = cards.size > 0;
}

// ---- tables -----------------------------------------------------------------

function renderFailed(jobs) {
  $("#failed tbody").replaceChildren(...jobs.map((j) => el("tr", { "data-job-id": j.id },
    el("td", {}, jobLink(j.id)), el("td", { text: j.type }), el("td", { class: "num", text: `${j.attempt}/${j.max_attempts}` }),
    el("td", { class: "err", text: j.error ? `${j.error.code}: ${j.error.message}` : "", title: j.error ? j.error.message : "" }),
    el("td", { text: shortTime(j.finished_at) }), el("td", {}, retryButton(j.id)))));
}

function renderRecent(jobs) {
  $("#recent tbody").replaceChildren(...jobs.map((j) => el("tr", { "data-job-id": j.id, "data-status": j.status },
    el("td", {}, jobLink(j.id)), el("td", { text: j.type }), el("td", {}, statusCell(j.status)),
    el("td", { text: j.priority }), el("td", { class: "num", text: `${j.attempt}/${j.max_attempts}` }),
    el("td", { text: shortTime(j.created_at) }),
    el("td", {}, FINAL.has(j.status) ? (j.status === "succeeded" ? null : retryButton(j.id)) : cancelButton(j.id)))));
}

// ---- recurring schedules ------------------------------------------------------

async function scheduleAction(what, id) {
  try {
    const { status, doc } = await api("POST", `/v1/schedules/${id}/${what}`);
    banner(`${what} schedule ${doc.id.slice(0, 8)}: ${status} (${doc.paused ? "paused" : "active"})`, "info");
  } catch (err) {
    reportError(err);
  }
  poll();
}

// A schedule's next run may be days away: the date too, in local time.
function dateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleDateString([], { year: "numeric", month: "2-digit", day: "2-digit" }) + " " +
    d.toLocaleTimeString([], { hour12: false });
}

function scheduleWhen(s) {
  return s.cron ? `${s.cron} (${s.timezone})` : `every ${s.every_s} s`;
}

function renderSchedules(scheds) {
  $("#schedules tbody").replaceChildren(...scheds.map((s) => el("tr", { "data-schedule-id": s.id, "data-paused": String(s.paused) },
    el("td", { title: s.id, text: s.name || s.id.slice(0, 8) }),
    el("td", { class: "when", text: scheduleWhen(s) }),
    el("td", { class: "next", text: s.paused ? "" : dateTime(s.next_run_at) }),
    el("td", { class: "last" }, s.last_job_id ? jobLink(s.last_job_id) : null,
       s.last_error ? el("span", { class: "err", title: s.last_error.message, text: " " + s.last_error.code }) : null),
    el("td", { class: "num", text: String(s.runs) }),
    el("td", {}, el("span", { class: "status status-" + (s.paused ? "canceled" : "running"), text: s.paused ? "paused" : "active" })),
    el("td", {}, el("button", { type: "button", "data-action": s.paused ? "resume" : "pause", "data-schedule-id": s.id,
                                text: s.paused ? "Resume" : "Pause",
                                onclick: () => scheduleAction(s.paused ? "resume" : "pause", s.id) })))));
  $("#schedules-empty").hidden = scheds.length > 0;
}

// ---- the detail view ----------------------------------------------------------

let detailStream = null;

function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return (u ? n.toFixed(1) : String(n)) + " " + units[u];
}

// Saves a job file.  Without an API key a plain link does it (the browser
// streams it to disk); with one, the request must carry it, so the file is
// fetched and handed over as a blob (in the browser's memory: for large
// files with keys, use `hangtight download` or curl).
async function downloadFile(href, name) {
  const res = await fetch(href, { headers: authHeaders() });
  if (!res.ok) {
    let doc = null;
    try { doc = await res.json(); } catch (e) { doc = null; }
    throw new ApiError(res.status, doc);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// The job's files: size, type, SHA-256 and a download link each.
function renderFiles(doc) {
  const list = $("#detail-files");
  const rows = [];
  for (const which of ["input", "output"]) {
    const f = doc && doc[which];
    if (!f) continue;
    const name = `${doc.id}-${which}`;
    const link = apiKey()
      ? el("a", { href: f.href, class: "download", "data-file": which,
                  onclick: (ev) => { ev.preventDefault(); downloadFile(f.href, name).catch(reportError); },
                  text: "download" })
      : el("a", { href: f.href, class: "download", "data-file": which, download: name, text: "download" });
    rows.push(el("li", { "data-file": which },
      el("strong", { text: which + ": " }),
      el("span", { class: "size", text: humanBytes(f.bytes) }), " ",
      el("span", { text: f.content_type + ", sha256 " }),
      el("code", { title: f.sha256, text: f.sha256.slice(0, 16) + "…" }), " ", link));
  }
  list.replaceChildren(...rows);
  list.hidden = rows.length === 0;
}

async function showDetail(id) {
  if (detailStream) detailStream.abort();
  detailStream = null;
  $("#detail").hidden = false;
  $("#detail-id").textContent = id;
  $("#detail-doc").textContent = "loading…";
  $("#detail-files").hidden = true;
  const log = $("#detail-events");
  log.replaceChildren();
  try {
    const { doc } = await api("GET", "/v1/jobs/" + id);
    $("#detail-doc").textContent = JSON.stringify(doc, null, 2);
    renderFiles(doc);
  } catch (err) {
    $("#detail-doc").textContent = String(err.message || err);
    return;
  }
  $("#detail").scrollIntoView({ behavior: "smooth" });
  // The whole event log: "0-0" asks for every entry still kept (about the
  // last 100), then the stream goes on live until the job finishes.
  const ctl = new AbortController();
  detailStream = ctl;
  readSse(`/v1/jobs/${id}/events`, "0-0", ctl.signal, (ev) => {
    let doc = null;
    try { doc = JSON.parse(ev.data); } catch (e) { doc = null; }
    const pct = doc && doc.progress && doc.progress.percent != null ? ` ${doc.progress.percent}%` : "";
    const msg = doc && doc.progress && doc.progress.message ? ` ${doc.progress.message}` : "";
    log.append(el("li", { "data-event": ev.event, text: `${ev.id}  ${ev.event}  ${doc ? doc.status : ""}${pct}${msg}` }));
    if (doc) {
      $("#detail-doc").textContent = JSON.stringify(doc, null, 2);
      renderFiles(doc);
    }
  }).catch((err) => {
    if (err.name !== "AbortError") log.append(el("li", { text: "stream: " + (err.message || err) }));
  }).finally(() => {
    if (detailStream === ctl) detailStream = null;
  });
}

function closeDetail() {
  if (detailStream) detailStream.abort();
  detailStream = null;
  $("#detail").hidden = true;
  history.replaceState(null, "", location.pathname);
}

// ---- workers: persistent handler processes, remote workers (from /metrics) ---

// The samples of family prefix `prefix` of a Prometheus text page: [name
// suffix, labels, value] each.
function metricSamples(text, prefix) {
  const out = [];
  const sample = /^(\w+)\{([^}]*)\} (\S+)$/;
  for (const line of text.split("\n")) {
    const m = sample.exec(line);
    if (!m || !m[1].startsWith(prefix)) continue;
    const labels = {};
    for (const [, k, v] of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[k] = v.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    out.push([m[1].slice(prefix.length), labels, Number(m[3])]);
  }
  return out;
}

// The hangtight_handler_* samples as rows by worker and type.
function handlerRows(text) {
  const rows = new Map();
  for (const [what, labels, value] of metricSamples(text, "hangtight_handler_")) {
    const key = labels.worker + "\u0000" + labels.type;
    if (!rows.has(key)) rows.set(key, { worker: labels.worker, type: labels.type });
    rows.get(key)[what] = value;
  }
  return [...rows.values()];
}

// The hangtight_remote_worker_* samples as rows by worker name.
function remoteRows(text) {
  const rows = new Map();
  for (const [what, labels, value] of metricSamples(text, "hangtight_remote_worker_")) {
    if (!rows.has(labels.worker)) rows.set(labels.worker, { worker: labels.worker, types: [] });
    const row = rows.get(labels.worker);
    if (what === "types") row.types.push(labels.type);
    else row[what] = value;
  }
  return [...rows.values()];
}

function secondsAgo(unixSeconds) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - unixSeconds));
  return s < 60 ? s + " s ago" : Math.round(s / 60) + " min ago";
}

// Each table is shown when /metrics answers and has rows.  /metrics takes
// an operator key (or none with --metrics-public): once it refuses this
// page's key (401, 403) the page stops asking.
let metricsRefused = false;
async function pollHandlers() {
  let text = "";
  if (metricsRefused) return;
  try {
    const res = await fetch("/metrics", { headers: authHeaders({}), cache: "no-store" });
    if (res.ok) text = await res.text();
    else if (res.status === 401 || res.status === 403) metricsRefused = true;
  } catch (e) {
    text = "";
  }
  const remote = remoteRows(text);
  $("#remote-section").hidden = remote.length === 0;
  $("#remote tbody").replaceChildren(...remote.map((r) => el("tr", { "data-worker": r.worker },
    el("td", { text: r.worker }), el("td", { text: r.types.join(", ") }),
    el("td", { class: "num", "data-col": "held", text: String(r.jobs_held ?? 0) }),
    el("td", { "data-col": "seen", text: r.last_seen_seconds ? secondsAgo(r.last_seen_seconds) : "" }))));
  const rows = handlerRows(text);
  $("#handlers-section").hidden = rows.length === 0;
  $("#handlers tbody").replaceChildren(...rows.map((r) => el("tr", { "data-type": r.type },
    el("td", { text: r.worker }), el("td", { text: r.type }),
    el("td", { class: "num", "data-col": "processes", text: String(r.processes ?? 0) }),
    el("td", { class: "num", "data-col": "busy", text: String(r.processes_busy ?? 0) }),
    el("td", { class: "num", "data-col": "restarts", text: String(r.restarts_total ?? 0) }),
    el("td", { "data-col": "state", text: r.failing ? "failing at start: restarting with backoff" : "ok" }))));
}

// ---- polling ------------------------------------------------------------------

// One poll at a time.  A poll asked for while one runs (after an action, a
// key entered or cleared, a filter changed) runs once that one ends, so what
// the user did shows at once; the timer's polls are skipped instead.  A poll
// during which the key changed shows nothing: its answers are the old key's.
let polling = false;
let pollAgain = false;
async function poll(fromTimer) {
  if (polling) {
    if (fromTimer !== true) pollAgain = true;
    return;
  }
  polling = true;
  const key = apiKey();
  const filter = $("#recent-filter").value;
  try {
    const [queues, running, failed, recent, schedules] = await Promise.all([
      api("GET", "/v1/queues"),
      api("GET", "/v1/jobs?status=running&limit=50"),
      api("GET", "/v1/jobs?status=failed&limit=20"),
      api("GET", "/v1/jobs?limit=25" + (filter ? "&status=" + filter : "")),
      api("GET", "/v1/schedules?limit=100"),
    ]);
    if (apiKey() !== key) return;
    renderQueues(queues.doc);
    renderRunning(running.doc.jobs);
    renderFailed(failed.doc.jobs);
    renderRecent(recent.doc.jobs);
    renderSchedules(schedules.doc.schedules);
    pollHandlers();
    connState(true, "live · " + new Date().toLocaleTimeString([], { hour12: false }));
    if ($("#banner").dataset.kind !== "info") banner("");
  } catch (err) {
    if (apiKey() !== key) return;
    connState(false, err instanceof ApiError ? "HTTP " + err.status : "offline");
    reportError(err);
  } finally {
    polling = false;
    if (pollAgain) {
      pollAgain = false;
      poll();
    }
  }
}

function init() {
  $("#api-key").value = apiKey();
  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("#api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
    banner("");
    poll();
  });
  $("#key-clear").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    $("#api-key").value = "";
    poll();
  });
  $("#detail-close").addEventListener("click", closeDetail);
  $("#recent-filter").addEventListener("change", poll);
  // A job id in the URL (#<id>) opens its detail view; only a job id is
  // taken, so a crafted link cannot make the page call another path.
  const hashId = location.hash.slice(1);
  if (JOB_ID.test(hashId)) showDetail(hashId);
  poll();
  setInterval(() => poll(true), POLL_MS);
}

document.addEventListener("DOMContentLoaded", init);
