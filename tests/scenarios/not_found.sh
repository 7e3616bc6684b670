#!/bin/bash
# An unknown path is a 404 and a known path with the wrong method a 405
# with Allow; both are JSON, and neither calls an upstream.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash/{user}
    method: GET
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{user}
EOF
gatherd_start

req GET /nowhere
expect_status 404
expect_header 'Content-Type: application/json'
expect_body_norm '{"error": "..."}'

req GET /dash/1/extra
expect_status 404
expect_header 'Content-Type: application/json'
expect_body_norm '{"error": "..."}'

req POST /dash/1 -d 'x=1'
expect_status 405
expect_header 'Allow: GET'
expect_header 'Content-Type: application/json'
expect_body_norm '{"error": "..."}'

req DELETE /dash/1
expect_status 405
expect_header 'Allow: GET'
expect_body_norm '{"error": "..."}'

expect_mock_stat a requests 0
req GET /dash/1
expect_status 200
expect_body '{"a": {"path":"/a/1"}}'
pass
