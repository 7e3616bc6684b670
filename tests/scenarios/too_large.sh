#!/bin/bash
# max_upstream_body caps each upstream body while it is read: with a
# Content-Length over the cap and with a chunked body that grows past it,
# the member fails with kind too_large; a body under the cap is spliced.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
limits:
  max_upstream_body: 1KiB
endpoints:
  - path: /dash
    upstreams:
      - name: small
        url: http://127.0.0.1:@PORT_A@/small?size=1000
      - name: big
        url: http://127.0.0.1:@PORT_A@/big?size=2000
      - name: stream
        url: http://127.0.0.1:@PORT_A@/stream?size=100000&chunked=1
        default: "cut"
EOF
gatherd_start

req GET /dash
expect_status 200
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing \
    '^small;dur=[0-9.]+, big;dur=[0-9.]+;desc="too_large", stream;dur=[0-9.]+;desc="too_large"$'
small="\"$(printf 'a%.0s' $(seq 998))\""
expect_body_norm "{\"small\": $small, \"big\": null, \"stream\": \"cut\", \"_errors\": {\"big\": {\"kind\": \"too_large\", \"ms\": N, \"message\": \"...\"}, \"stream\": {\"kind\": \"too_large\", \"ms\": N, \"message\": \"...\"}}}"
pass
