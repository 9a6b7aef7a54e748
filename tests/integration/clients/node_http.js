#!/usr/bin/env node
// Sync mode through Node's `http` module, as a Node user would write it:
// every interim response fires the request's 'information' event, the
// final one 'response'.
//
//   node_http.js URL JSON-BODY PREFER
//
// Prints {"information": [{"status", "message", "t"}], "status", "headers",
// "body", "t"} (t: seconds since the request was sent).
'use strict';
const http = require('http');

const [url, body, prefer] = process.argv.slice(2);
const start = process.hrtime.bigint();
const since = () => Number(process.hrtime.bigint() - start) / 1e9;
const information = [];

const req = http.request(url, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', 'Prefer': prefer},
    timeout: 60000,
});
req.on('information', (info) => {
    information.push({status: info.statusCode, message: info.statusMessage, t: since()});
});
req.on('response', (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { text += chunk; });
    res.on('end', () => {
        console.log(JSON.stringify({information, status: res.statusCode, headers: res.headers,
                                    body: text, t: since()}));
    });
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
    console.error(`node_http: ${err.message}`);
    process.exit(1);
});
req.end(body);
