#!/bin/bash
# SIGTERM stops gatherd gracefully: it stops accepting at once, lets a
# request in flight finish and answer in full (with Connection: close),
# then exits 0; a request still in flight when shutdown_timeout runs out
# is cut off (its upstream call cancelled), answered 502 with the call's
# kind "cancelled", and gatherd still exits 0.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
limits:
  shutdown_timeout: 3s
endpoints:
  - path: /slow/{ms}
    deadline: 20s
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/slow?delay={ms}
        timeout: 15s
EOF

# 1. A request that finishes within shutdown_timeout is answered.
gatherd_start
req_start inflight GET /slow/1000
expect_mock_stat a open 1
kill -TERM "$GATHERD_PID"
wait_for -t 2 gatherd_refuses
req_finish inflight
expect_status 200
expect_body '{"a": {"path":"/slow?delay=1000"}}'
# ... and tells its client not to reuse the connection.
expect_header "Connection: close"
gatherd_reap 5
[ "$REAP_RC" = 0 ] || fail "gatherd exited $REAP_RC after a graceful stop"
expect_mock_stat a aborted 0

# 2. One that outlives shutdown_timeout is cut off when it runs out.
sed -i 's/shutdown_timeout: 3s/shutdown_timeout: 500ms/' "$T/gatherd.yaml"
GATHERD_PORT=$(free_port)
sed -i "s/^listen: .*/listen: [127.0.0.1:$GATHERD_PORT]/" "$T/gatherd.yaml"
gatherd_start
req_start stuck GET /slow/10000
expect_mock_stat a open 1
t0=$EPOCHREALTIME
kill -TERM "$GATHERD_PID"
wait_for -t 5 _gone "$GATHERD_PID"
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
gatherd_reap 5
[ "$REAP_RC" = 0 ] || fail "gatherd exited $REAP_RC after shutdown_timeout"
[ "$ms" -ge 400 ] && [ "$ms" -lt 3000 ] ||
    fail "expected gatherd to exit about 500 ms after SIGTERM" "seen: $ms ms"
expect_mock_stat a aborted 1 2
# It is answered all the same: its one (required) call was cancelled.
req_finish stuck
expect_status 502
expect_header "X-Gather-Complete: false"
expect_header "Connection: close"
expect_body_has '"kind":"cancelled"'
expect_no_sanitizer_report
pass
