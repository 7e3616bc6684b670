#!/bin/bash
# Ambiguous framing is refused with a JSON 400 and a close, before any
# upstream is called: whitespace before a colon, duplicate Content-Length,
# Content-Length with Transfer-Encoding, a missing or repeated Host, an
# obs-fold continuation line, a chunk size that overflows.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /x
    method: POST
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/x
EOF
gatherd_start

# bad WHAT: the request on stdin gets a 400 JSON reply and a close.
bad() {
	raw
	_alive "$GATHERD_PID" || fail "$1: gatherd died on this request"
	[ "$(head -n 1 "$T/raw.out" | tr -d '\r' | cut -d' ' -f2)" = 400 ] ||
	    fail "$1: expected 400" "$(_show_raw)"
	expect_raw_header 'Content-Type: application/json'
	expect_raw_body_norm '{"error": "..."}'
	[ "$RAW_RC" = 0 ] || fail "$1: the connection was not closed" \
	    "$(_show_raw)"
	log "ok: $1"
}

bad "space before colon" <<'EOF'
POST /x HTTP/1.1
Host : 127.0.0.1
Content-Length: 0

EOF
bad "duplicate Content-Length" <<'EOF'
POST /x HTTP/1.1
Host: 127.0.0.1
Content-Length: 5
Content-Length: 5

hello
EOF
bad "Content-Length with Transfer-Encoding" <<'EOF'
POST /x HTTP/1.1
Host: 127.0.0.1
Content-Length: 5
Transfer-Encoding: chunked

5
hello
0

EOF
bad "no Host" <<'EOF'
POST /x HTTP/1.1
Content-Length: 0

EOF
bad "two Hosts" <<'EOF'
POST /x HTTP/1.1
Host: 127.0.0.1
Host: example.org
Content-Length: 0

EOF
bad "obs-fold" <<'EOF'
POST /x HTTP/1.1
Host: 127.0.0.1
X-Folded: one
 two
Content-Length: 0

EOF
bad "chunk size overflow" <<'EOF'
POST /x HTTP/1.1
Host: 127.0.0.1
Transfer-Encoding: chunked

fffffffffffffffffffff
x
0

EOF

expect_mock_stat a requests 0
raw <<'EOF'
POST /x HTTP/1.1
Host: 127.0.0.1
Content-Length: 0
Connection: close

EOF
expect_raw_status 200
expect_mock_stat a requests 1
pass
