#!/bin/bash
# Three upstreams that each take 200 ms are called at once: the reply comes
# in under 400 ms, keyed by name in config order, each upstream's JSON
# spliced in as it came, and each upstream sees its own URL with the path
# parameter substituted.
. "$(dirname "$0")/../lib.sh"

mock_start a
mock_start b
mock_start c
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash/{user}
    deadline: 2s
    upstreams:
      - name: profile
        url: http://127.0.0.1:@PORT_A@/users/{user}?delay=200
      - name: orders
        url: http://127.0.0.1:@PORT_B@/orders?user={user}&delay=200
      - name: prefs
        url: http://127.0.0.1:@PORT_C@/prefs/{user}?delay=200
EOF
gatherd_start

req GET /dash/42
expect_status 200
expect_time_below 0.400
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: true'
expect_header_re Server-Timing \
    '^profile;dur=[0-9.]+, orders;dur=[0-9.]+, prefs;dur=[0-9.]+$'
expect_body '{"profile": {"path":"/users/42?delay=200"}, "orders": {"path":"/orders?user=42&delay=200"}, "prefs": {"path":"/prefs/42?delay=200"}}'

expect_mock_log a '^REQ GET /users/42\?delay=200$'
expect_mock_log b '^REQ GET /orders\?user=42&delay=200$'
expect_mock_log c '^REQ GET /prefs/42\?delay=200$'
expect_mock_stat a requests 1
expect_mock_stat b requests 1
expect_mock_stat c requests 1
expect_log 'req [0-9]+ GET /dash/42 -> 200, ok 3/3, [0-9.]+ ms, done'

# Again on warm connections: still concurrent, still complete.
req GET /dash/7
expect_status 200
expect_time_below 0.400
expect_body '{"profile": {"path":"/users/7?delay=200"}, "orders": {"path":"/orders?user=7&delay=200"}, "prefs": {"path":"/prefs/7?delay=200"}}'
pass
