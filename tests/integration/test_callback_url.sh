#!/usr/bin/env bash
# The api's SSRF guard on callback_url: literal private, loopback,
# link-local, CGNAT, multicast, reserved and IPv4-mapped addresses (every
# form inet_aton takes, IPv6 too) and non-http(s) or credentialed URLs are
# refused with 422 before anything is stored; a host name is accepted and
# the job document shows the callback object.  --webhook-allow-private
# lifts the address rule only.  No worker runs: nothing is delivered here.
source "$(dirname "$0")/lib.sh"

ht_start_stack --workers 0

refused=(
    "http://127.0.0.1:9/hook" "http://127.1/" "http://0x7f.1/" "http://2130706433/"
    "http://0177.0.0.1/" "http://0/" "http://10.0.0.5/" "http://172.16.3.4/"
    "http://192.168.1.1/" "http://169.254.169.254/latest/meta-data/" "http://100.64.0.1/"
    "http://224.0.0.1/" "http://255.255.255.255/" "http://[::1]/" "http://[::]/"
    "http://[::ffff:127.0.0.1]/" "http://[::ffff:8.8.8.8]/" "http://[fe80::1%25eth0]/"
    "http://[fd00::1]/" "http://[64:ff9b::a00:1]/"
)
malformed=(
    "ftp://example.com/" "file:///etc/passwd" "//example.com/x" "https://u:p@example.com/"
    "https://user@example.com/" "https:///x" "http://[::1/" "http://127.0.0.%31/"
)
count_jobs() { ht_redis EVAL "return #redis.call('KEYS', ARGV[1])" 0 'ht:{default}:job:*'; }
before=$(count_jobs)

for url in "${refused[@]}"; do
    ht_http POST /v1/jobs "{\"type\": \"echo\", \"callback_url\": \"$url\"}"
    assert_problem 422 "$url"
    assert_json '.errors[0].pointer' /callback_url "$url: pointer"
    assert_json '.errors[0].code' refused_callback_url "$url: code"
done
for url in "${malformed[@]}"; do
    ht_http POST /v1/jobs "{\"type\": \"echo\", \"callback_url\": \"$url\"}"
    assert_problem 422 "$url"
    assert_json '.errors[0].code' invalid_format "$url: code"
done
assert_eq "$(count_jobs)" "$before" "no job stored for a refused callback_url"

# A name passes (the deliverer checks what it resolves to).
ht_http POST /v1/jobs '{"type": "echo", "callback_url": "https://hooks.example.com/h?x=1"}'
assert_status 202
id=$(ht_json .id)
ht_http GET "/v1/jobs/$id"
assert_status 200
assert_json '.callback.url' 'https://hooks.example.com/h?x=1'
assert_json '.callback.state' null "state before the job is finished"
assert_json '.callback.attempts' 0
assert_json '.callback.last_status' null
assert_json '.callback.last_attempt_at' null
assert_eq "$(ht_job_hget "$id" callback_url)" 'https://hooks.example.com/h?x=1' "stored url"
ht_http POST /v1/jobs '{"type": "echo"}'
id=$(ht_json .id)
ht_http GET "/v1/jobs/$id"
assert_json '.callback' null "no callback_url"

# --webhook-allow-private (and its env var) accepts private literals, but
# never a malformed URL.
ht_stop api
ht_start_api --webhook-allow-private
ht_http POST /v1/jobs '{"type": "echo", "callback_url": "http://127.0.0.1:9/hook"}'
assert_status 202 "loopback with --webhook-allow-private"
ht_http POST /v1/jobs '{"type": "echo", "callback_url": "ftp://127.0.0.1/"}'
assert_problem 422 "ftp with --webhook-allow-private"
ht_stop api
HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 ht_start_api
ht_http POST /v1/jobs '{"type": "echo", "callback_url": "http://[::1]:9/hook"}'
assert_status 202 "loopback with HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1"
log "ok"
