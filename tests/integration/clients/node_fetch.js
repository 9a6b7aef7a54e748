#!/usr/bin/env node
// Sync mode through Node's built-in fetch (undici), which must skip the
// interim 102s and resolve with the final answer.
//
//   node_fetch.js URL JSON-BODY PREFER
//
// Prints {"status", "headers", "body", "t"}.
'use strict';

const [url, body, prefer] = process.argv.slice(2);
const start = Date.now();

fetch(url, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', 'Prefer': prefer},
    body,
    signal: AbortSignal.timeout(60000),
}).then(async (res) => {
    const text = await res.text();
    console.log(JSON.stringify({status: res.status, headers: Object.fromEntries(res.headers),
                                body: text, t: (Date.now() - start) / 1000}));
}).catch((err) => {
    console.error(`node_fetch: ${err.message}${err.cause ? ': ' + err.cause : ''}`);
    process.exit(1);
});
