#!/bin/bash
# A required upstream that times out: 504, because every failure that
# decided the reply was a timeout; the reply comes at its timeout, not at
# the upstream's leisure, and the call is cancelled.  Every upstream
# timing out, none of them required, is a 504 too.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash
    deadline: 3s
    upstreams:
      - name: extra
        url: http://127.0.0.1:@PORT_A@/extra
      - name: core
        url: http://127.0.0.1:@PORT_A@/core?delay=5000
        required: true
        timeout: 300ms
  - path: /alltimeout
    deadline: 3s
    upstreams:
      - name: one
        url: http://127.0.0.1:@PORT_A@/one?delay=5000
        timeout: 300ms
      - name: two
        url: http://127.0.0.1:@PORT_A@/two?delay=5000
        timeout: 400ms
EOF
gatherd_start

req GET /dash
expect_status 504
expect_time_below 1.5
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '(^|, )core;dur=[0-9.]+;desc="timeout"($|, )'
expect_body_norm '{"error": "...", "_errors": {"core": {"kind": "timeout", "ms": N, "message": "..."}}}'
expect_mock_stat a aborted 1 2
expect_log 'req [0-9]+ GET /dash -> 504, ok 1/2, [0-9.]+ ms, '

req GET /alltimeout
expect_status 504
expect_time_below 1.5
expect_header 'Content-Type: application/json'
expect_body_norm '{"error": "...", "_errors": {"one": {"kind": "timeout", "ms": N, "message": "..."}, "two": {"kind": "timeout", "ms": N, "message": "..."}}}'
expect_mock_stat a aborted 3 2
pass
