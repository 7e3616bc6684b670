#!/bin/bash
# An upstream that says JSON but sends broken JSON: kind decode and its
# default is used; its bytes never reach the client.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash
    upstreams:
      - name: good
        url: http://127.0.0.1:@PORT_A@/good
      - name: bad
        url: http://127.0.0.1:@PORT_A@/broken?invalid=1
        default: false
EOF
gatherd_start

req GET /dash
expect_status 200
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '^good;dur=[0-9.]+, bad;dur=[0-9.]+;desc="decode"$'
expect_body_norm '{"good": {"path":"/good"}, "bad": false, "_errors": {"bad": {"kind": "decode", "ms": N, "message": "..."}}}'
if grep -qF '{"broken"' "$T/body"; then
	fail "the upstream's broken body was echoed into the reply"
fi
pass
