#!/bin/bash
# A request body over max_request_body is refused with a JSON 413, whether
# its size is announced (Content-Length) or found while reading (chunked);
# a body under the limit is served.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
limits:
  max_request_body: 1KiB
endpoints:
  - path: /post
    method: POST
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/post
EOF
gatherd_start

body=$(head -c 2048 /dev/zero | tr '\0' x)
printf 'POST /post HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2048\r\n\r\n%s' \
    "$body" | raw -r
expect_raw_status 413
expect_raw_header 'Content-Type: application/json'
expect_raw_body_norm '{"error": "..."}'
[ "$RAW_RC" = 0 ] || fail "the connection was not closed after 413" \
    "$(_show_raw)"

chunk=$(head -c 600 /dev/zero | tr '\0' y)
printf 'POST /post HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n%s\r\n258\r\n%s\r\n0\r\n\r\n' \
    "$chunk" "$chunk" | raw -r
expect_raw_status 413
expect_raw_body_norm '{"error": "..."}'

expect_mock_stat a requests 0
body=$(head -c 512 /dev/zero | tr '\0' z)
printf 'POST /post HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 512\r\nConnection: close\r\n\r\n%s' \
    "$body" | raw -r
expect_raw_status 200
expect_mock_stat a requests 1
pass
