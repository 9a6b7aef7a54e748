// Submit a job with fetch(), follow its progress over Server-Sent Events
// (read with fetch() too, so it can carry an Authorization header), and
// receive and verify its webhook (Standard Webhooks) with a tiny receiver.
// Node 18+; built-ins only.
//
//   HANGTIGHT_URL=http://127.0.0.1:8080 HANGTIGHT_WEBHOOK_SECRET=whsec_... node examples/node/submit_follow.mjs
//
// HANGTIGHT_API_KEY, when set, is sent as "Authorization: Bearer".  The
// receiver listens on 127.0.0.1 (HANGTIGHT_CALLBACK_HOST to change what the
// callback URL names): a loopback callback_url is refused unless the api and
// worker run with HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 (development).  Exits 0
// when the job succeeded and its webhook verified.
import http from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";

const BASE = process.env.HANGTIGHT_URL ?? "http://127.0.0.1:8080";
const KEY = process.env.HANGTIGHT_API_KEY;
const SECRET = process.env.HANGTIGHT_WEBHOOK_SECRET;
const auth = KEY ? { Authorization: `Bearer ${KEY}` } : {};

// README "Verifying a delivery": HMAC-SHA256 over "{id}.{timestamp}.{raw body}".
function verify(secret, headers, rawBody, toleranceS = 300) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const id = headers["webhook-id"], ts = headers["webhook-timestamp"];
  if (!id || !ts || !headers["webhook-signature"]) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > toleranceS) return false;
  const expected = createHmac("sha256", key).update(`${id}.${ts}.`).update(rawBody).digest();
  return headers["webhook-signature"].split(" ").some((s) => {
    if (!s.startsWith("v1,")) return false;
    const got = Buffer.from(s.slice(3), "base64");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

// The receiver: answers 204 to a valid delivery, 400 to anything else.
let delivered;
const webhook = new Promise((resolve) => (delivered = resolve));
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks);
    if (!SECRET || !verify(SECRET, req.headers, raw)) {
      res.writeHead(400).end("bad signature");
      console.error("webhook: signature NOT valid");
      return;
    }
    res.writeHead(204).end();
    delivered({ id: req.headers["webhook-id"], event: JSON.parse(raw) });
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const callback = `http://${process.env.HANGTIGHT_CALLBACK_HOST ?? "127.0.0.1"}:${server.address().port}/hangtight`;

// Submit.
const res = await fetch(`${BASE}/v1/jobs`, {
  method: "POST",
  headers: { ...auth, "Content-Type": "application/json" },
  body: JSON.stringify({ type: "sleep", payload: { ms: 1500, steps: 3 }, callback_url: callback }),
});
const job = await res.json();
if (res.status !== 202) {
  console.error(`submit: ${res.status}`, job); // application/problem+json
  process.exit(1);
}
console.error(`submitted ${job.id}`);

// Follow: one event per change, each the whole job document.
let final = null;
const stream = await fetch(`${BASE}${job.links.events}`, { headers: { ...auth, Accept: "text/event-stream" } });
if (!stream.ok) throw new Error(`events: HTTP ${stream.status}`);
const decoder = new TextDecoder();
let buf = "", data = [];
for await (const chunk of stream.body) {
  buf += decoder.decode(chunk, { stream: true });
  let nl;
  while ((nl = buf.search(/\r?\n/)) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + (buf[nl] === "\r" ? 2 : 1));
    if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    else if (line === "" && data.length) {
      const doc = JSON.parse(data.join("\n"));
      data = [];
      console.error(`${doc.status} ${doc.progress.percent ?? 0}% ${doc.progress.message ?? ""}`);
      if (["succeeded", "failed", "canceled"].includes(doc.status)) final = doc;
    } // ":" lines are keep-alive comments; "id:" and "event:" not needed here
  }
}
console.log(JSON.stringify(final));

// The webhook of the finish (delivered a moment after it).
const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error("no valid webhook within 30 s")), 30000));
const hook = await Promise.race([webhook, timeout]);
console.error(`webhook verified: ${hook.id} ${hook.event.type}`);
server.close();
process.exit(final && final.status === "succeeded" && hook.event.type === "job.succeeded" ? 0 : 1);
