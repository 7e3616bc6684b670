#!/bin/bash
# head_timeout bounds the whole request head from its first byte: a client
# that stops mid-head, and one that keeps trickling bytes, both get a JSON
# 408 and a close once it runs out.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
limits:
  head_timeout: 500ms
endpoints:
  - path: /x
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/x
EOF
gatherd_start

# first_byte_ms: when the reply began, in ms after rawclient connected.
first_byte_ms() {
	sed -n 's/^first-byte-ms //p' "$T/raw.err"
}

printf 'GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n' | raw -r -v -t 5000
ms=$(first_byte_ms)
expect_raw_status 408
expect_raw_header 'Content-Type: application/json'
expect_raw_body_norm '{"error": "..."}'
[ "$RAW_RC" = 0 ] || fail "the connection was not closed after 408" \
    "$(_show_raw)"
[ "${ms:-0}" -ge 400 ] && [ "$ms" -lt 3000 ] ||
    fail "expected the 408 after about 500 ms" "seen: after ${ms:-no} ms"

# 3000 header bytes at about one a millisecond: never idle, still late.
pad=$(head -c 3000 /dev/zero | tr '\0' p)
printf 'GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: %s\r\n\r\n' "$pad" |
    raw -r -v -b -t 10000
ms=$(first_byte_ms)
expect_raw_status 408
[ "${ms:-99999}" -lt 2500 ] || fail "the 408 came only after the whole head" \
    "seen: after ${ms:-no} ms"

expect_mock_stat a requests 0
expect_alive
pass
