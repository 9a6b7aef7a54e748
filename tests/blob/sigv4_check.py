#!/usr/bin/env python3
"""A reverse proxy that checks AWS Signature Version 4 before passing a
request on to an S3-protocol server.

s3rver 3.7 refuses an unknown access key but does not compute V4
signatures, so on its own it proves the protocol and not the signing.
Between hangtight and s3rver this proxy recomputes every signature the way
AWS documents it (canonical request: method, path, query parameters
decoded, re-encoded and sorted, the signed headers, the payload hash;
string to sign; HMAC key chain), independently of libcurl, and answers 403
SignatureDoesNotMatch when it differs.  When x-amz-content-sha256 carries
a digest it also checks the body against it, as S3 does.

    sigv4_check.py UPSTREAM_PORT PORT_FILE ACCESS_KEY SECRET REGION

Listens on 127.0.0.1 with a port the kernel picks, written into PORT_FILE
(through a rename).  Logs "OK METHOD PATH" or "FAIL METHOD PATH: why" per
request on stdout.  SIGTERM ends it with status 0.
"""
import calendar
import hashlib
import hmac
import http.client
import http.server
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse

UPSTREAM_PORT = int(sys.argv[1])
PORT_FILE, ACCESS_KEY, SECRET, REGION = sys.argv[2:6]
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "expect",
       "te", "trailer"}
log_lock = threading.Lock()


def log(line):
    with log_lock:
        print(line, flush=True)


def enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def canonical_query(raw):
    pairs = []
    for item in raw.split("&") if raw else []:
        k, _, v = item.partition("=")
        pairs.append((enc(urllib.parse.unquote(k)), enc(urllib.parse.unquote(v))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def hm(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def check(method, target, headers, body_sha256):
    """Returns None when the request is signed right, else why not."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no AWS4-HMAC-SHA256 Authorization header"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[0] != ACCESS_KEY or cred[2] != REGION or cred[3:] != ["s3", "aws4_request"]:
        return f"bad credential scope {fields['Credential']}"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(cred[1]):
        return "x-amz-date is not the credential's date"
    skew = abs(time.time() - calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
    if skew > 900:
        return f"x-amz-date {amz_date} is {skew:.0f} s off"
    signed = fields["SignedHeaders"].split(";")
    for need in ("host", "x-amz-date", "x-amz-content-sha256"):
        if need not in signed:
            return f"{need} is not signed"
    for name in headers:
        if name.startswith("x-amz-") and name not in signed:
            return f"{name} is sent but not signed"
    payload = headers["x-amz-content-sha256"]
    if payload != "UNSIGNED-PAYLOAD" and payload != body_sha256:
        return f"x-amz-content-sha256 {payload} but the body has {body_sha256}"
    path, _, query = target.partition("?")
    canon_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    creq = "\n".join([method, path, canonical_query(query), canon_headers, ";".join(signed), payload])
    scope = "/".join(cred[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = hm(hm(hm(hm(("AWS4" + SECRET).encode(), cred[1]), REGION), "s3"), "aws4_request")
    want = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields["Signature"]):
        return "signature differs from the one computed here"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def relay(self):
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length", "0"))
        body = tempfile.SpooledTemporaryFile(max_size=1 << 20)
        digest = hashlib.sha256()
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                return
            digest.update(chunk)
            body.write(chunk)
            left -= len(chunk)
        why = check(self.command, self.path, headers, digest.hexdigest())
        if why:
            log(f"FAIL {self.command} {self.path}: {why}")
            text = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
                    f"<Message>{why}</Message></Error>").encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        log(f"OK {self.command} {self.path}")
        body.seek(0)
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM_PORT, timeout=120)
        up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in HOP:
                up.putheader(k, v)
        up.endheaders()
        up.send(body)
        resp = up.getresponse()
        self.send_response(resp.status, resp.reason)
        rlen = resp.getheader("Content-Length")
        data = None
        if rlen is None and self.command != "HEAD":
            data = resp.read()
            rlen = str(len(data))
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if rlen is not None:
            self.send_header("Content-Length", rlen)
        self.end_headers()
        if self.command != "HEAD" and resp.status not in (204, 304):
            if data is not None:
                self.wfile.write(data)
            else:
                shutil.copyfileobj(resp, self.wfile)
        up.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    server.serve_forever()


if __name__ == "__main__":
    main()
