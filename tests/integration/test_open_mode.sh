#!/usr/bin/env bash
# Safe defaults of an api without API keys (open mode), and two front-door
# details (issue 17):
#   - an open api on an address beyond loopback refuses to start, unless
#     --insecure-open (or HANGTIGHT_INSECURE_OPEN=1) says so;
#   - open on loopback, only Host localhost, 127.0.0.1 or [::1] is served
#     (a DNS-rebinding page sends its own name): 403 problem+json else, on
#     HTTP/1.1 and HTTP/2 alike; with a keys file any Host is served;
#   - a 422 lists at most 20 field problems and counts the rest;
#   - an empty line before the request line does not hide the head from
#     the framing checks (CL+TE is still refused and the connection closed).
source "$(dirname "$0")/lib.sh"

ht_start_redis
ht_migrate

# ---- beyond loopback, open: refused --------------------------------------
port=$(ht_free_port)
ht_spawn api-wide "$HT_API_BIN" --listen "0.0.0.0:$port" --threads 1
ht_wait_exit api-wide 30
assert_eq "$HT_EXIT" 1 "exit status of an open api on 0.0.0.0"
grep -q 'refusing to serve an open api beyond loopback' "${HT_LOGS[api-wide]}" ||
    fail "no refusal in the log: $(cat "${HT_LOGS[api-wide]}")"
curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$port/healthz" &&
    fail "something answers on :$port although the api refused to start"

# The environment form of the same flag lets it start; no Host check then
# (anyone who can reach it may use any name).
port=$(ht_free_port)
ht_spawn api-wide2 env HANGTIGHT_INSECURE_OPEN=1 "$HT_API_BIN" --listen "0.0.0.0:$port" --threads 1
wait_until 30 "the --insecure-open api is ready" \
    eval "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/readyz) == 200 ]]"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: evil.example:8080' \
    "http://127.0.0.1:$port/v1/queues")
assert_eq "$code" 200 "--insecure-open serves any Host"
ht_stop api-wide2
assert_eq "$HT_EXIT" 0 "--insecure-open api stops cleanly"

# ---- loopback, open: the Host guard -------------------------------------
ht_start_api
hp=$(ht_hostport)
port=${hp##*:}
for host in "localhost:$port" "LOCALHOST:$port" "127.0.0.1:$port" "[::1]:$port" localhost "localhost:9999"; do
    ht_http GET /v1/queues "" -H "Host: $host"
    assert_status 200 "Host $host"
done
# A rebinding page: its name resolves to 127.0.0.1 (curl --resolve does the
# DNS part), so the browser sends Host evil.example:PORT.
for host in "evil.example:$port" "localhost.evil.example:$port" "127.0.0.1.nip.io:$port" "localhostx:$port" "localhost:80x"; do
    ht_http GET /v1/queues "" -H "Host: $host"
    assert_problem 403 "Host $host"
    assert_match "$(ht_json .detail)" "not a loopback name" "detail for Host $host"
done
code=$(curl -s -o "$HT_TMP/rebind.json" -w '%{http_code}' --resolve "evil.example:$port:127.0.0.1" \
    -X POST -H 'Content-Type: application/json' --data '{"type":"echo"}' \
    "http://evil.example:$port/v1/jobs")
assert_eq "$code" 403 "submit through a rebound name"
# HTTP/2 (prior knowledge, cleartext): the :authority is checked the same way.
code=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge \
    --resolve "evil.example:$port:127.0.0.1" "http://evil.example:$port/v1/queues")
assert_eq "$code" 403 "HTTP/2 :authority evil.example"
code=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "http://localhost:$port/v1/queues")
assert_eq "$code" 200 "HTTP/2 :authority localhost"
# Nothing was created by the refused submits.
assert_eq "$(ht_redis --scan --pattern 'ht:{default}:job:*' | wc -l)" 0 "jobs created by refused requests"

# ---- 422 with many field problems: bounded -----------------------------
body=$("$HT_PY" -c 'import json; print(json.dumps({"type": "echo", **{f"f{i}": i for i in range(5000)}}))')
ht_http POST /v1/jobs "$body"
assert_problem 422 "5000 unknown fields"
assert_json '.errors | length' 20 "listed field problems"
assert_json '.errors_omitted' 4980 "omitted field problems"
assert_json '.errors[0].code' unknown_field

# ---- an empty line before the request line -----------------------------
out=$("$HT_PY" - "$hp" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
hidden = b'POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"type":"echo"}'
body = b"4\r\n{}{}\r\n0\r\n\r\n" + hidden
s.sendall(b"\r\nPOST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except (ConnectionResetError, socket.timeout):
        break
    if not chunk:
        break
    data += chunk
print(data.decode("latin-1"))
PY
)
assert_match "$out" '^HTTP/1\.1 400' "CL+TE after an empty line"
assert_match "$out" 'both Content-Length and Transfer-Encoding' "CL+TE detail after an empty line"
assert_eq "$(grep -c '^HTTP/1' <<<"$out")" 1 "answers on the CL+TE connection (the hidden submit must not run)"
assert_eq "$(ht_redis --scan --pattern 'ht:{default}:job:*' | wc -l)" 0 "jobs created by the smuggling attempt"

# ---- keys configured: any Host ------------------------------------------
ht_stop api
printf 'acme:acme-key-0123456789abcdef\n' >"$HT_TMP/keys"
ht_start_api --api-keys-file "$HT_TMP/keys"
ht_http GET /v1/queues "" -H "Host: evil.example" -H "Authorization: Bearer acme-key-0123456789abcdef"
assert_status 200 "keys mode, any Host"
ht_http GET /v1/queues "" -H "Host: evil.example"
assert_problem 401 "keys mode without a key"

# ---- --generate-api-key: a keys file made on first start ----------------
ht_stop api
keys=$HT_TMP/gen/api-keys
mkdir -p "$HT_TMP/gen"
ht_start_api --api-keys-file "$keys" --generate-api-key
[[ -f "$keys" ]] || fail "no keys file was generated"
assert_eq "$(stat -c %a "$keys")" 600 "mode of the generated keys file"
key=$(jq -r 'select(.msg | test("generated an API key")) | .key' "${HT_LOGS[api]}")
assert_match "$key" '^htk_[0-9a-f]{64}$' "the generated key in the log"
ht_http GET /v1/queues "" -H "Authorization: Bearer $key"
assert_status 200 "the generated key"
ht_http GET /v1/queues
assert_problem 401 "no key once a key was generated"
# A second start keeps the file and logs no key.
ht_stop api
ht_start_api --api-keys-file "$keys" --generate-api-key
assert_eq "$(jq -r 'select(.msg | test("generated an API key")) | .key' "${HT_LOGS[api]}" | sort -u | wc -l)" 1 \
    "keys logged over two starts"
ht_http GET /v1/queues "" -H "Authorization: Bearer $key"
assert_status 200 "the generated key after a restart"
