#!/bin/bash
# SIGHUP reloads the config: new requests follow the new file, a request
# in flight keeps the config it started with, and a bad file is refused
# with its FILE:LINE:COL logged while the old config goes on serving.
. "$(dirname "$0")/../lib.sh"

mock_start a
mock_start b
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /r
    upstreams:
      - name: up
        url: http://127.0.0.1:@PORT_A@/from-a
  - path: /slow
    deadline: 10s
    upstreams:
      - name: up
        url: http://127.0.0.1:@PORT_A@/slow-a?delay=1000
EOF
gatherd_start
req GET /r
expect_status 200
expect_body '{"up": {"path":"/from-a"}}'

# A request in flight across the reload.
req_start inflight GET /slow
expect_mock_stat a open 1

gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /r
    upstreams:
      - name: up
        url: http://127.0.0.1:@PORT_B@/from-b
  - path: /slow
    upstreams:
      - name: up
        url: http://127.0.0.1:@PORT_B@/slow-b
EOF
kill -HUP "$GATHERD_PID"

serves_b() {
	req GET /r >/dev/null
	[ "$REQ_STATUS" = 200 ] && grep -qF '/from-b' "$T/body"
}
wait_for serves_b
expect_body '{"up": {"path":"/from-b"}}'

req_finish inflight
expect_status 200
expect_body '{"up": {"path":"/slow-a?delay=1000"}}'

# A bad file: refused, logged with its place, the old config kept.
gatherd_config <<'EOF'
listen: [@LISTEN@]
no_such_key: 1
endpoints: []
EOF
kill -HUP "$GATHERD_PID"
expect_log "$(printf '%s' "$T/gatherd.yaml" | sed 's/[.]/\\./g'):2:1: .*no_such_key"
expect_alive
req GET /r
expect_status 200
expect_body '{"up": {"path":"/from-b"}}'
pass
