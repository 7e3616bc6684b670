#!/bin/bash
# An upstream status outside ok_status is a failure of kind status, with
# the status in the error (after kind) and the upstream body never echoed;
# a status inside a widened ok_status is a success.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash
    upstreams:
      - name: ok
        url: http://127.0.0.1:@PORT_A@/ok
      - name: unavailable
        url: http://127.0.0.1:@PORT_A@/busy?status=503&body=%7B%22secret%22%3A1%7D
      - name: missing
        url: http://127.0.0.1:@PORT_A@/gone?status=404&body=%7B%22found%22%3Afalse%7D
        ok_status: [200-299, 404]
EOF
gatherd_start

req GET /dash
expect_status 200
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing \
    '^ok;dur=[0-9.]+, unavailable;dur=[0-9.]+;desc="status", missing;dur=[0-9.]+$'
expect_body_norm '{"ok": {"path":"/ok"}, "unavailable": null, "missing": {"found":false}, "_errors": {"unavailable": {"kind": "status", "status": 503, "ms": N, "message": "..."}}}'
if grep -q secret "$T/body"; then
	fail "the upstream's error body was echoed into the reply"
fi
expect_log 'req [0-9]+ GET /dash -> 200, ok 2/3, [0-9.]+ ms, '
pass
