#!/bin/bash
# An optional upstream whose port refuses connections: kind connect, its
# default in the reply, the others unaffected.
. "$(dirname "$0")/../lib.sh"

mock_start a
PORT_DEAD=$(free_port)
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash
    upstreams:
      - name: ok
        url: http://127.0.0.1:@PORT_A@/ok
      - name: down
        url: http://127.0.0.1:@PORT_DEAD@/down
        default: {}
EOF
gatherd_start

req GET /dash
expect_status 200
expect_time_below 1.0
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '^ok;dur=[0-9.]+, down;dur=[0-9.]+;desc="connect"$'
expect_body_norm '{"ok": {"path":"/ok"}, "down": {}, "_errors": {"down": {"kind": "connect", "ms": N, "message": "..."}}}'
expect_log 'req [0-9]+ GET /dash -> 200, ok 1/2, [0-9.]+ ms, '
pass
