#!/bin/bash
# A POST endpoint forwards the client's body to its upstreams with
# `method: POST` byte for byte: sent whole, sent chunked, and sent after
# "Expect: 100-continue", which the gate answers itself at once (curl
# would otherwise wait a second) and which never reaches the upstream.
# A body over max_request_body is 413, before any upstream call; with
# Expect the client is spared sending it.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
limits:
  max_request_body: 8KiB
endpoints:
  - path: /p
    method: POST
    upstreams:
      - name: echo
        method: POST
        url: http://127.0.0.1:@PORT_A@/echo?echo=1
      - name: count
        method: POST
        url: http://127.0.0.1:@PORT_A@/count
EOF
gatherd_start

# A JSON body of 3000 bytes with quotes, backslashes and UTF-8 in strings.
{
	printf '{"text": "quote \\" backslash \\\\ tab \\t caf\xc3\xa9 \xe2\x82\xac", "pad": "'
	head -c 2920 /dev/zero | tr '\0' p
	printf '", "n": [1, 2.5, -3e2, true, null]}'
} >"$T/payload.json"
size=$(wc -c <"$T/payload.json")
log "payload: $size bytes"
[ "$size" -gt 2048 ] && [ "$size" -lt 8192 ] || fail "bad payload size $size"
payload=$(cat "$T/payload.json")

# post WHAT CURL-ARGS...: POST the payload; the echo member must be the
# payload spliced as it came, and each upstream got it whole.
post() {
	local what=$1
	shift
	: >"$T/a.log"
	req POST /p --data-binary @"$T/payload.json" \
	    -H 'Content-Type: application/json' "$@"
	expect_status 200
	expect_header 'X-Gather-Complete: true'
	expect_body_has "{\"echo\":$payload,\"count\":{\"path\":\"/count\"}}"
	expect_mock_log a '^REQ POST /echo\?echo=1$'
	expect_mock_log a '^REQ POST /count$'
	got=$(mock_log_count a "^BODY $size\$")
	[ "$got" = 2 ] || fail "$what: expected two upstream bodies of $size bytes" \
	    "--- mock log ---" "$(grep -v '^HDR' "$T/a.log")"
	expect_no_mock_header a Expect
	expect_no_mock_header a Transfer-Encoding
	expect_mock_header a "Content-Length: $size"
}

# Whole, with curl's Expect suppressed.
post "plain" -H 'Expect:'
expect_time_below 0.9

# With Expect: 100-continue: the 100 comes from gatherd at once.
post "expect" -H 'Expect: 100-continue'
grep -q '^HTTP/1\.1 100' "$T/headers" || fail "no 100 Continue before the reply" \
    "$(_show_reply)"
expect_time_below 0.9

# Chunked from the client, and Expect too: still the same bytes upstream.
post "chunked" -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue'
grep -q '^HTTP/1\.1 100' "$T/headers" || fail "chunked: no 100 Continue" \
    "$(_show_reply)"
expect_time_below 0.9

# Binary bytes (NUL, CR, LF, 0xff...): the upstream gets all of them.
head -c 4096 /dev/urandom >"$T/blob"
printf '\0\r\n\377' >>"$T/blob"
: >"$T/a.log"
req POST /p --data-binary @"$T/blob" -H 'Content-Type: application/octet-stream'
expect_status 200
got=$(mock_log_count a '^BODY 4100$')
[ "$got" = 2 ] || fail "binary: expected two upstream bodies of 4100 bytes" \
    "--- mock log ---" "$(grep -v '^HDR' "$T/a.log")"

# An empty body: forwarded as empty; the empty echo is null.
: >"$T/a.log"
req POST /p --data-binary '' -H 'Content-Type: application/json'
expect_status 200
expect_body '{"echo": null, "count": {"path":"/count"}}'
got=$(mock_log_count a '^BODY 0$')
[ "$got" = 2 ] || fail "empty: expected two empty upstream bodies" \
    "--- mock log ---" "$(grep -v '^HDR' "$T/a.log")"

# Over the limit: 413 JSON, no upstream call; with Expect, no 100 first.
mock_reset a
head -c 9000 /dev/zero | tr '\0' z >"$T/big"
req POST /p --data-binary @"$T/big" -H 'Expect: 100-continue'
expect_status 413
expect_header 'Content-Type: application/json'
expect_body_norm '{"error": "..."}'
if grep -q '^HTTP/1\.1 100' "$T/headers"; then
	fail "100 Continue sent for a body that is then refused" "$(_show_reply)"
fi
expect_time_below 0.9
req POST /p --data-binary @"$T/big" -H 'Expect:'
expect_status 413
expect_body_norm '{"error": "..."}'
expect_mock_stat a requests 0

# And gatherd still serves a good body after that.
post "after 413" -H 'Expect:'
pass
