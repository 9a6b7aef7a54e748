// A file as a job's input, with Node's fetch (no dependencies, Node >= 18).
//
//   HANGTIGHT_URL=http://127.0.0.1:8080 node examples/node/upload_file.mjs TYPE FILE [output|input]
//
// Streams FILE from disk as the body of POST /v1/jobs?type=TYPE (a stream
// body needs duplex: "half"; it goes chunked), held until the job finishes
// (Prefer: wait=60: fetch passes over the 102 Processing heartbeats), then
// streams the job's output file (or its input) to FILE.output
// (FILE.input), checking its SHA-256 against the ETag.  HANGTIGHT_API_KEY,
// when set, is sent as "Authorization: Bearer".  Prints the job document on
// stdout; exits 0 when the job succeeded and the file came back whole.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, unlink } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

const [type, path, which = "output"] = process.argv.slice(2);
if (!type || !path) {
  console.error("usage: upload_file.mjs TYPE FILE [output|input]");
  process.exit(2);
}
const base = process.env.HANGTIGHT_URL || "http://127.0.0.1:8080";
const auth = process.env.HANGTIGHT_API_KEY ? { Authorization: `Bearer ${process.env.HANGTIGHT_API_KEY}` } : {};

const res = await fetch(`${base}/v1/jobs?type=${encodeURIComponent(type)}`, {
  method: "POST",
  headers: { ...auth, "Content-Type": "application/octet-stream", Prefer: "wait=60" },
  body: Readable.toWeb(createReadStream(path)),
  duplex: "half",
});
const job = await res.json();
if (res.status !== 200 && res.status !== 201) {
  console.error(`submit: HTTP ${res.status}: ${JSON.stringify(job)}`);
  process.exit(1);
}
console.log(JSON.stringify(job, null, 2));
if (job.status !== "succeeded") process.exit(1);
if (res.status === 201) console.error("finished with an output:", res.headers.get("location"));

const ref = job[which];
if (!ref) {
  console.error(`the job has no ${which} file`);
  process.exit(0);
}
const got = await fetch(base + ref.href, { headers: auth });
if (got.status !== 200) {
  console.error(`download: HTTP ${got.status}: ${await got.text()}`);
  process.exit(1);
}
const digest = createHash("sha256");
const hash = new Transform({
  transform(chunk, _enc, done) {
    digest.update(chunk);
    done(null, chunk);
  },
});
const out = `${path}.${which}`;
await pipeline(Readable.fromWeb(got.body), hash, createWriteStream(out + ".part"));
const sha = digest.digest("hex");
if (got.headers.get("etag") !== `"${sha}"`) {
  await unlink(out + ".part");
  console.error(`download: SHA-256 ${sha}, ETag ${got.headers.get("etag")}`);
  process.exit(1);
}
await rename(out + ".part", out);
console.error(`saved the ${which} file as ${out} (sha256 ${sha})`);
