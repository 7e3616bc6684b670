#!/bin/bash
# A required upstream that fails (here: 500) fails the whole reply: 502
# with {"error": ..., "_errors": ...} as JSON, and none of the upstream
# members.  So does the failure of every upstream, none of them required.
. "$(dirname "$0")/../lib.sh"

mock_start a
PORT_DEAD=$(free_port)
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash
    upstreams:
      - name: extra
        url: http://127.0.0.1:@PORT_A@/extra
      - name: core
        url: http://127.0.0.1:@PORT_A@/core?status=500&delay=100
        required: true
  - path: /allfail
    upstreams:
      - name: broken
        url: http://127.0.0.1:@PORT_A@/broken?status=500
      - name: down
        url: http://127.0.0.1:@PORT_DEAD@/down
EOF
gatherd_start

req GET /dash
expect_status 502
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '(^|, )core;dur=[0-9.]+;desc="status"($|, )'
expect_body_norm '{"error": "...", "_errors": {"core": {"kind": "status", "status": 500, "ms": N, "message": "..."}}}'
expect_log 'req [0-9]+ GET /dash -> 502, ok 1/2, [0-9.]+ ms, '

req GET /allfail
expect_status 502
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_body_norm '{"error": "...", "_errors": {"broken": {"kind": "status", "status": 500, "ms": N, "message": "..."}, "down": {"kind": "connect", "ms": N, "message": "..."}}}'
expect_log 'req [0-9]+ GET /allfail -> 502, ok 0/2, [0-9.]+ ms, '
pass
