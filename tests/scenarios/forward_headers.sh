#!/bin/bash
# What reaches the upstream from the client is only what the config lets
# through: forward_headers and forward_query are allow-lists, and headers
# set in the config take ${VAR} from gatherd's environment.
. "$(dirname "$0")/../lib.sh"

mock_start a
export GATHERD_TEST_TOKEN=s3cr3t-t0ken
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /fwd
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/v1/fwd
        headers: {Authorization: "Bearer ${GATHERD_TEST_TOKEN}", X-Static: fixed}
        forward_headers: [Accept-Language, X-Request-Id]
        forward_query: [limit, page]
EOF
gatherd_start

req GET '/fwd?limit=5&secret=1&page=2' -H 'Accept-Language: fr-CH' \
    -H 'X-Request-Id: abc-123' -H 'X-Private: nope' -H 'Cookie: c=1'
expect_status 200
expect_body '{"a": {"path":"/v1/fwd?limit=5&page=2"}}'
expect_mock_log a '^REQ GET /v1/fwd\?limit=5&page=2$'
expect_mock_header a 'Authorization: Bearer s3cr3t-t0ken'
expect_mock_header a 'X-Static: fixed'
expect_mock_header a 'Accept-Language: fr-CH'
expect_mock_header a 'X-Request-Id: abc-123'
expect_no_mock_header a X-Private
expect_no_mock_header a Cookie
expect_no_mock_log a secret

# Nothing to forward: the upstream URL is the template alone.
mock_reset a
: >"$T/a.log"
req GET /fwd
expect_status 200
expect_body '{"a": {"path":"/v1/fwd"}}'
expect_mock_log a '^REQ GET /v1/fwd$'
expect_no_mock_header a Accept-Language
pass
