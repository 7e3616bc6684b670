#!/bin/bash
# An optional upstream that outlives its timeout: the reply is a 200 with
# what arrived, the slow member holds its default, _errors says timeout,
# X-Gather-Complete is false and Server-Timing marks it.  The timed-out
# call is cancelled: the mock sees its client leave.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash
    deadline: 3s
    upstreams:
      - name: fast
        url: http://127.0.0.1:@PORT_A@/fast
      - name: slow
        url: http://127.0.0.1:@PORT_A@/slow?delay=5000
        timeout: 300ms
        default: []
      - name: nodefault
        url: http://127.0.0.1:@PORT_A@/slow2?delay=5000
        timeout: 300ms
EOF
gatherd_start

req GET /dash
expect_status 200
expect_time_below 1.5
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing \
    '^fast;dur=[0-9.]+, slow;dur=[0-9.]+;desc="timeout", nodefault;dur=[0-9.]+;desc="timeout"$'
expect_body_norm '{"fast": {"path":"/fast"}, "slow": [], "nodefault": null, "_errors": {"slow": {"kind": "timeout", "ms": N, "message": "..."}, "nodefault": {"kind": "timeout", "ms": N, "message": "..."}}}'

# Both slow calls were cut off, not left to finish.
expect_mock_stat a aborted 2 2
expect_mock_stat a open 0
expect_mock_log a '^ABORT /slow\?delay=5000$'
expect_mock_log a '^ABORT /slow2\?delay=5000$'
expect_log 'req [0-9]+ GET /dash -> 200, ok 1/3, [0-9.]+ ms, '
pass
