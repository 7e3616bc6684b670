#!/bin/bash
# Under systemd (JOURNAL_STREAM set), every log line starts with an
# sd-daemon "<N>" priority prefix and carries no timestamp: the journal
# stamps lines itself.  A request logs one "<6>req ..." line.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF2'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /j/{id}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{id}
EOF2
JOURNAL_STREAM=8:12345 gatherd_start

req GET /j/7
expect_status 200
expect_log '^<6>req [0-9]+ GET /j/7 -> 200, ok 1/1, [0-9.]+ ms, done, id=[0-9a-f]{32}$'
req GET /nowhere
expect_status 404
expect_log '^<6>req [0-9]+ GET /nowhere -> 404, ok 0/0, [0-9.]+ ms, no endpoint for this path, id=[0-9a-f]{32}$'
# No line of gatherd's own goes out without a priority prefix.
[ "$(log_count '^[^<]')" -eq 0 ] || fail "a log line without a <N> prefix"
[ "$(log_count '^<[0-7]>[0-9]{4}-')" -eq 0 ] || fail "a timestamp under the journal"
pass
