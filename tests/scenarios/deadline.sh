#!/bin/bash
# The endpoint deadline is the one clock: an upstream whose own timeout is
# longer is still cut off when the deadline runs out, the reply comes at
# the deadline with what arrived, and when nothing usable arrived (here a
# required upstream) it is a 504.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /partial
    deadline: 300ms
    upstreams:
      - name: fast
        url: http://127.0.0.1:@PORT_A@/fast
      - name: slow
        url: http://127.0.0.1:@PORT_A@/slow?delay=5000
        timeout: 4s
  - path: /none
    deadline: 300ms
    upstreams:
      - name: slow
        url: http://127.0.0.1:@PORT_A@/slow?delay=5000
        timeout: 4s
        required: true
EOF
gatherd_start

req GET /partial
expect_status 200
expect_time_below 1.5
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '^fast;dur=[0-9.]+, slow;dur=[0-9.]+;desc="timeout"$'
expect_body_norm '{"fast": {"path":"/fast"}, "slow": null, "_errors": {"slow": {"kind": "timeout", "ms": N, "message": "..."}}}'
expect_mock_stat a aborted 1 2

req GET /none
expect_status 504
expect_time_below 1.5
expect_header 'Content-Type: application/json'
expect_body_norm '{"error": "...", "_errors": {"slow": {"kind": "timeout", "ms": N, "message": "..."}}}'
expect_mock_stat a aborted 2 2
pass
