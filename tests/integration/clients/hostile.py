#!/usr/bin/env python3
"""Malformed and hostile HTTP/1.1 requests against the api, over raw sockets
(stdlib only).  Used by test_malformed.sh and test_framing.sh.

    hostile.py HOST:PORT malformed SEED     one round of a few hundred to
                                            ~1,000 generated requests
    hostile.py HOST:PORT framing            the HTTP/1.1 framing table

Every request goes on its own connection.  An answer must be a 4xx
application/problem+json whose "status" member equals the HTTP status (501
too where the request used an unsupported transfer coding), with one
exception: the fixed text/plain "400 Bad Request" that libh2o 2.2.5 writes
straight to the socket when a request head does not parse (H2O_RAW), always
with the connection closed.  h2o's other own answers reach api/guard.c's
filter and come as problem+json; they must close the connection too
(H2O_CLOSING).  A request may also get no answer at all (h2o closes on an
incomplete head at end of input, or on a head that is only CR/LF).
Prints a JSON summary; exits 1 and lists the offenders on stderr when any
answer broke the rules.
"""
import json
import random
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 5.0

# The one answer of h2o 2.2.5 that never reaches our code (lib/http1.c
# send_bad_request: the head does not parse, or is over H2O_MAX_REQLEN).
H2O_RAW = {(400, b"Bad Request")}
# h2o's other answers, as api/guard.c's filter renders them: the problem's
# detail is h2o's text; each closes the connection.
H2O_CLOSING = {
    "unknown transfer-encoding",     # 501: last Transfer-Encoding != chunked
    "broken chunked-encoding",       # 400: bad chunk framing
    "broken content-length header",  # 400: Content-Length not plain digits
    "request entity is too large",   # 413: over max_request_entity_size
    "unknown expectation",           # 417: Expect other than 100-continue
}

VALID_JOB = b'{"type":"echo","payload":{"smuggled":true}}'


# ---- one exchange ------------------------------------------------------

def read_response(sock, buf, deadline):
    """Reads one response from sock (buf: bytes already read).  Returns
    (response dict or None, rest of buffer, how it ended)."""
    def fill():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        return chunk
    try:
        while b"\r\n\r\n" not in buf:
            buf += fill()
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if status // 100 == 1:  # interim: read on
            return read_response(sock, buf, deadline)
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(buf) < n:
                buf += fill()
            body, buf = buf[:n], buf[n:]
        elif "chunked" in headers.get("transfer-encoding", ""):
            body = b""
            while True:
                while b"\r\n" not in buf:
                    buf += fill()
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf += fill()
                body += buf[:size]
                buf = buf[size + 2:]
                if size == 0:
                    break
        else:
            body = b""
            try:
                while True:
                    buf += fill()
            except (EOFError, TimeoutError):
                pass
            body, buf = buf, b""
        return {"status": status, "headers": headers, "body": body}, buf, "ok"
    except EOFError:
        return None, buf, "closed"
    except TimeoutError:
        return None, buf, "timeout"
    except OSError:  # reset by the peer
        return None, buf, "reset"


def exchange(hostport, data, half_close=True, linger=1.0):
    """Sends data on a new connection; returns (first response or None, how
    the first read ended, what followed: 'closed' | 'open' | 'more')."""
    host, port = hostport.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    try:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before reading everything
        deadline = time.monotonic() + TIMEOUT
        resp, rest, how = read_response(sock, b"", deadline)
        after = "closed"
        if resp is not None:
            if rest:
                after = "more"
            else:
                try:
                    sock.settimeout(linger)
                    after = "more" if sock.recv(65536) else "closed"
                except socket.timeout:
                    after = "open"
                except ConnectionResetError:
                    after = "closed"
        return resp, how, after
    finally:
        sock.close()


def verdict(resp, allow_501=False):
    """None when resp follows the rules, else why not."""
    st, body = resp["status"], resp["body"]
    ctype = resp["headers"].get("content-type", "")
    closes = resp["headers"].get("connection", "").lower() == "close"
    if (st, body) in H2O_RAW and ctype.startswith("text/plain"):
        return None if closes else "h2o's own answer without Connection: close"
    if not (400 <= st < 500 or (allow_501 and st == 501)):
        return f"status {st}"
    if not ctype.startswith("application/problem+json"):
        return f"{st} with Content-Type {ctype!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{st} body is not JSON: {body[:80]!r}"
    if doc.get("status") != st or not isinstance(doc.get("type"), str):
        return f"problem document does not match: {body[:120]!r}"
    if doc.get("detail") in H2O_CLOSING and not closes:
        return f"h2o's {doc.get('detail')!r} without Connection: close"
    return None


# ---- request builders --------------------------------------------------

def req(method, target, headers=(), body=b"", version="HTTP/1.1"):
    head = f"{method} {target} {version}\r\n".encode("latin-1")
    for k, v in headers:
        head += k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else v.encode("latin-1")) + b"\r\n"
    return head + b"\r\n" + body


def post(body, extra=(), ctype="application/json", target="/v1/jobs"):
    hs = [("Host", "localhost")]
    if ctype:
        hs.append(("Content-Type", ctype))
    hs += list(extra) + [("Content-Length", str(len(body)))]
    return req("POST", target, hs, body)


def chunked(body, size=7):
    out = b""
    for i in range(0, len(body), size):
        c = body[i:i + size]
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    return out + b"0\r\n\r\n"


def smuggled():
    """A valid submit, hidden after a request: it must never run."""
    return post(VALID_JOB)


# ---- the malformed round -----------------------------------------------

def gen_malformed(rnd):
    cases = []  # (category, bytes, allow_501)

    def add(cat, data, allow_501=False):
        cases.append((cat, data, allow_501))

    base = json.dumps({"type": "echo", "payload": {"a": [1, 2, {"b": "c"}]},
                       "metadata": {"k": "v"}, "max_attempts": 3}).encode()
    for _ in range(400):
        add("random_bytes", bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 600))))
    for _ in range(150):
        junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200)))
        add("random_body", post(junk))
    for _ in range(40):
        tok = "".join(rnd.choice("GETPOSTX/ %\x00\x7f\t:") for _ in range(rnd.randint(1, 40)))
        add("random_request_line", tok.encode("latin-1") + b"\r\nHost: localhost\r\n\r\n")
    for _ in range(200):
        add("truncated_json", post(base[:rnd.randint(0, len(base) - 1)]))
    for depth in [33, 64, 500, 2048, 5000, 20000] + [rnd.randint(33, 3000) for _ in range(20)]:
        kind = rnd.choice(["[]", "{}"])
        inner = (b'{"a":' * depth + b"1" + b"}" * depth) if kind == "{}" else (b"[" * depth + b"]" * depth)
        add("deep_json", post(b'{"type":"echo","payload":' + inner + b"}"))
        add("deep_json_truncated", post(b'{"type":"echo","payload":' + inner[:len(inner) // 2]))
    bad_utf8 = [b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80"]
    for _ in range(150):
        seq = rnd.choice(bad_utf8)
        where = rnd.choice(["type", "payload", "key", "meta"])
        if where == "type":
            body = b'{"type":"ec' + seq + b'ho"}'
        elif where == "payload":
            body = b'{"type":"echo","payload":"' + seq + b'"}'
        elif where == "key":
            body = b'{"type":"echo","payload":{"' + seq + b'":1}}'
        else:
            body = b'{"type":"echo","metadata":{"k":"' + seq + b'"}}'
        add("invalid_utf8", post(body))
    huge = [b"1e400", b"-1e400", b"99999999999999999999999999", b"-99999999999999999999",
            b"9223372036854775808", b"1.7976931348623157e309", b"0.5", b"-0.0", b"1e-400",
            b"123456789012345678901234567890e10", b"2147483648", b"-9223372036854775809"]
    for field in [b"max_attempts", b"timeout_s", b"ttl_s", b"delay_s"]:
        for h in huge:
            add("huge_numbers", post(b'{"type":"echo","' + field + b'":' + h + b"}"))
    for n in [65, 100, 1000, 60000]:
        add("oversized_type", post(json.dumps({"type": "a" * n}).encode()))
    add("oversized_metadata_keys", post(json.dumps({"type": "echo", "metadata": {f"k{i}": "v" for i in range(65)}}).encode()))
    for n in [1025, 5000, 60000]:
        add("oversized_metadata_value", post(json.dumps({"type": "echo", "metadata": {"k": "v" * n}}).encode()))
        add("oversized_callback_url", post(json.dumps({"type": "echo", "callback_url": "https://example.com/" + "a" * (n + 2048)}).encode()))
    for n in [70000, 200000]:  # over --max-body-bytes 65536: our 413
        add("oversized_body", post(b'{"type":"echo","payload":"' + b"x" * n + b'"}'))
    add("oversized_body_h2o", post(b"x" * (1200 * 1024)))  # over h2o's bound: its 413
    for field in ["status", "tenant", "id", "attempt", "created_at", "worker", "token"]:
        add("mass_assignment", post(json.dumps({"type": "echo", field: "x"}).encode()))
    for ct in ["text/plain", "application/x-www-form-urlencoded", "", "application/jsonx", "multipart/form-data; boundary=x"]:
        add("wrong_content_type", post(base, ctype=ct or None))
    for tgt in ["/v1/jobs/%zz", "/v1/jobs/%", "/v1/jobs/%0", "/v1/jobs/%00", "/v1/jobs/%ff%fe",
                "/%2e%2e/%2e%2e/etc/passwd", "/v1/jobs/..%2f..%2fnope", "/v1/jobs/%25%32%65",
                "/v1/%6aobs/%zz", "/v1/jobs/\x01", "/v1/jobs/a%2fb/events", "/v1/jobs/%c0%af/retry"]:
        add("bad_percent_encoding", req("GET", tgt, [("Host", "localhost")]))
        add("bad_percent_encoding", post(b"{", target=tgt.replace("/v1/jobs/", "/v1/jobs?x=")))
    for n in [33000, 100000, 300000]:
        add("huge_header", req("GET", "/healthz", [("Host", "localhost"), ("X-Big", "b" * n)]))
    add("many_headers", req("GET", "/healthz", [("Host", "localhost")] + [(f"X-H{i}", "v" * 400) for i in range(99)]))
    add("too_many_headers", req("GET", "/healthz", [("Host", "localhost")] + [(f"X-H{i}", "v") for i in range(150)]))
    add("head_over_h2o_limit", req("GET", "/healthz", [("Host", "localhost")] + [(f"X-H{i}", "v" * 8000) for i in range(60)]))
    for n in [8193, 20000, 200000]:
        add("long_url", req("GET", "/v1/jobs/" + "a" * n, [("Host", "localhost")]))
        add("long_url", post(b"{", target="/v1/jobs?q=" + "b" * n))
    for te in ["gzip, chunked", "chunked, identity", "identity", "xchunked", "chunked;q=1", "deflate",
               "chunked, chunked"]:
        add("bad_transfer_encoding", req("POST", "/v1/jobs", [("Host", "localhost"), ("Content-Type", "application/json"),
                                        ("Transfer-Encoding", te)], chunked(VALID_JOB)), True)
    for cl in ["5, 5", "-1", "+5", "0x10", "1e3", "", " ", "18446744073709551616", "5 5"]:
        add("bad_content_length", req("POST", "/v1/jobs", [("Host", "localhost"), ("Content-Type", "application/json"),
                                      ("Content-Length", cl)], b"{}{}{}"))
    for bad in [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n",
                b"ffffffffffffffffff\r\n{}\r\n0\r\n\r\n", b"2\n{}\n0\n\n"]:
        add("bad_chunks", req("POST", "/v1/jobs", [("Host", "localhost"), ("Content-Type", "application/json"),
                              ("Transfer-Encoding", "chunked")], bad))
    # Smuggling: each hides a valid submit that must never run.
    j = [("Host", "localhost"), ("Content-Type", "application/json")]
    hidden = smuggled()
    body = chunked(b"{}") + hidden
    add("smuggle_cl_te", req("POST", "/v1/jobs", j + [("Content-Length", "4"), ("Transfer-Encoding", "chunked")], body), True)
    add("smuggle_te_cl", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked"), ("Content-Length", str(len(body)))], body), True)
    add("smuggle_cl_cl", req("POST", "/v1/jobs", j + [("Content-Length", "2"), ("Content-Length", str(2 + len(hidden)))], b"{}" + hidden), True)
    add("smuggle_cl_cl_same", req("POST", "/v1/jobs", j + [("Content-Length", "2"), ("Content-Length", "2")], b"{}" + hidden), True)
    add("smuggle_te_te", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "identity"), ("Transfer-Encoding", "chunked")], body), True)
    add("smuggle_te_te2", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], body), True)
    add("smuggle_te_case", req("POST", "/v1/jobs", j + [("Content-Length", "4"), ("TrAnSfEr-EnCoDiNg", "CHUNKED")], body), True)
    add("smuggle_te_space", req("POST", "/v1/jobs", j + [("Content-Length", "4"), ("Transfer-Encoding", " chunked")], body), True)
    add("smuggle_bare_lf", b"POST /v1/jobs HTTP/1.1\nHost: localhost\nContent-Type: application/json\nContent-Length: 4\nTransfer-Encoding: chunked\n\n" + body, True)
    add("smuggle_te_obs_fold", b"POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 4\r\n\r\n" + body, True)
    add("smuggle_te_http10", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked"), ("Content-Length", "4")], body, version="HTTP/1.0"), True)
    add("smuggle_nul_header", b"POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nX: \x00\r\n\r\n{}{}" + hidden)
    add("smuggle_cr_header", b"POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n{}{}" + hidden)
    for e in ["nope", "100-continue, x", "200-ok"]:
        add("bad_expect", req("POST", "/v1/jobs", j + [("Expect", e), ("Content-Length", "2")], b"{}"))
    # (HTTP/1.2 is not here: picohttpparser takes any HTTP/1.x as 1.1, as RFC 9110 allows.)
    for v in ["HTTP/2.0", "HTTP/0.9", "HTTPS/1.1", "HTTP/1.1 x", "http/1.1", "HTTP/1.10"]:
        add("bad_version", req("GET", "/healthz", [("Host", "localhost")], version=v))
    add("crlf_only", b"\r\n\r\n")
    for m in ["PUT", "PATCH", "TRACE", "OPTIONS", "CONNECT", "PROPFIND", "G\x7fET", "get"]:
        add("methods", req(m, "/v1/jobs", [("Host", "localhost"), ("Content-Length", "0")]))
    rnd.shuffle(cases)
    return cases


def run_malformed(hostport, seed, workers=4):
    rnd = random.Random(seed)
    cases = gen_malformed(rnd)
    summary = {"requests": 0, "answered": 0, "no_answer": 0, "problem_json": 0, "h2o_raw": 0,
               "statuses": {}, "categories": {}, "bad": []}

    def one(case):
        cat, data, allow_501 = case
        resp, how, after = exchange(hostport, data, linger=0.2)
        return cat, data, allow_501, resp, how, after

    with ThreadPoolExecutor(workers) as pool:
        for cat, data, allow_501, resp, how, after in pool.map(one, cases):
            summary["requests"] += 1
            c = summary["categories"].setdefault(cat, {"n": 0, "statuses": {}})
            c["n"] += 1
            if resp is None:
                summary["no_answer"] += 1
                c["statuses"]["none:" + how] = c["statuses"].get("none:" + how, 0) + 1
                summary.setdefault("no_answer_in", {})
                summary["no_answer_in"][cat] = summary["no_answer_in"].get(cat, 0) + 1
                if how == "timeout":  # the api must answer or close, not hang
                    summary["bad"].append({"category": cat, "why": "no answer and not closed", "request": data[:200].decode("latin-1")})
                continue
            summary["answered"] += 1
            st = str(resp["status"])
            summary["statuses"][st] = summary["statuses"].get(st, 0) + 1
            c["statuses"][st] = c["statuses"].get(st, 0) + 1
            why = verdict(resp, allow_501)
            if why is None and cat.startswith("smuggle") and after != "closed":
                why = f"connection {after} after a smuggling attempt"
            if why:
                summary["bad"].append({"category": cat, "why": why, "request": data[:200].decode("latin-1"),
                                       "response": resp["body"][:200].decode("latin-1")})
            elif resp["headers"].get("content-type", "").startswith("text/plain"):
                summary["h2o_raw"] += 1
            else:
                summary["problem_json"] += 1
    return summary


# ---- the framing table -------------------------------------------------

def framing_cases():
    """(name, request, expected status, what the body must be: 'problem',
    ('problem', detail) for h2o's answers through our filter, or the raw
    text/plain bytes; whether the connection must be closed after)."""
    j = [("Host", "localhost"), ("Content-Type", "application/json")]
    hidden = smuggled()
    body = chunked(b"{}") + hidden
    ok_body = chunked(b'{"type":"echo","x":1}')
    return [
        ("cl_and_te", req("POST", "/v1/jobs", j + [("Content-Length", "4"), ("Transfer-Encoding", "chunked")], body), 400, "problem", True),
        ("te_and_cl", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked"), ("Content-Length", "4")], body), 400, "problem", True),
        ("cl_twice_differ", req("POST", "/v1/jobs", j + [("Content-Length", "2"), ("Content-Length", "40")], b"{}" + hidden), 400, "problem", True),
        ("cl_twice_same", req("POST", "/v1/jobs", j + [("Content-Length", "2"), ("Content-Length", "2")], b"{}" + hidden), 400, "problem", True),
        ("cl_list", req("POST", "/v1/jobs", j + [("Content-Length", "2, 2")], b"{}" + hidden), 400, ("problem", "broken content-length header"), True),
        ("te_twice_last_chunked", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], body), 501, "problem", True),
        ("te_twice_chunked", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], body), 501, "problem", True),
        ("te_gzip_chunked", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "gzip, chunked")], body), 501, ("problem", "unknown transfer-encoding"), True),
        ("te_chunked_identity", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked, identity")], body), 501, ("problem", "unknown transfer-encoding"), True),
        ("te_identity", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "identity")], body), 501, ("problem", "unknown transfer-encoding"), True),
        ("te_chunked_alone", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked")], ok_body), 422, "problem", False),
        ("te_chunked_uppercase", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "CHUNKED")], ok_body), 422, "problem", False),
        ("bad_chunk", req("POST", "/v1/jobs", j + [("Transfer-Encoding", "chunked")], b"zz\r\n{}\r\n0\r\n\r\n"), 400, ("problem", "broken chunked-encoding"), True),
        ("expect_unknown", req("POST", "/v1/jobs", j + [("Expect", "200-ok"), ("Content-Length", "2")], b"{}"), 417, ("problem", "unknown expectation"), True),
        ("head_unparsable", b"GET /healthz HTTP/1.1\r\nHost t\r\n\r\n", 400, b"Bad Request", True),
        ("too_many_headers", req("GET", "/healthz", [("Host", "localhost")] + [(f"X-{i}", "v") for i in range(101)]), 400, b"Bad Request", True),
        ("url_too_long", req("GET", "/v1/jobs/" + "a" * 9000, [("Host", "localhost")]), 414, "problem", False),
        ("head_too_large", req("GET", "/healthz", [("Host", "localhost"), ("X-Big", "b" * 40000)]), 431, "problem", False),
        ("head_over_h2o_limit", req("GET", "/healthz", [("Host", "localhost")] + [(f"X-{i}", "v" * 8000) for i in range(60)]), 400, b"Bad Request", True),
        ("body_over_h2o_bound", post(b"x" * (1200 * 1024)), 413, ("problem", "request entity is too large"), True),
        ("body_over_our_limit", post(b"x" * 70000), 413, "problem", False),
        ("plain_get_keepalive", req("GET", "/healthz", [("Host", "localhost")]), 200, None, False),
    ]


def run_framing(hostport):
    results, bad = [], []
    cases = framing_cases()

    def one(case):
        # half_close=False: whether the server closes must be its own doing.
        return exchange(hostport, case[1], half_close=False, linger=1.0)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, cases))
    for (name, data, want_status, want_body, want_closed), (resp, how, after) in zip(cases, answers):
        got = {"case": name, "status": resp and resp["status"], "closed": after == "closed",
               "content_type": resp and resp["headers"].get("content-type"),
               "after": after if resp else how}
        results.append(got)
        problems = []
        if resp is None:
            problems.append(f"no answer ({how})")
        else:
            if resp["status"] != want_status:
                problems.append(f"status {resp['status']}, want {want_status}")
            if want_body == "problem" or isinstance(want_body, tuple):
                why = verdict(resp, allow_501=True)
                if why or not got["content_type"].startswith("application/problem+json"):
                    problems.append(why or "not problem+json")
                elif isinstance(want_body, tuple) and json.loads(resp["body"]).get("detail") != want_body[1]:
                    problems.append(f"detail {resp['body'][:100]!r}, want {want_body[1]!r}")
            elif isinstance(want_body, bytes) and resp["body"] != want_body:
                problems.append(f"body {resp['body'][:60]!r}, want {want_body!r}")
            if after == "more":
                problems.append("a second answer came: a smuggled request ran")
            elif (after == "closed") != want_closed:
                problems.append(f"connection {after}, want {'closed' if want_closed else 'open'}")
        if problems:
            bad.append({"case": name, "problems": problems})
    return {"cases": results, "bad": bad}


def main():
    hostport, mode = sys.argv[1], sys.argv[2]
    if mode == "malformed":
        out = run_malformed(hostport, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    elif mode == "framing":
        out = run_framing(hostport)
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(out, indent=1))
    if out["bad"]:
        for b in out["bad"][:30]:
            print("BAD:", json.dumps(b)[:400], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
