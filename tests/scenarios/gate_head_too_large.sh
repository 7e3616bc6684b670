#!/bin/bash
# A request head over the limit (16 KiB by default) is refused with a JSON
# 431 and the connection closed; a head under the limit is served.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /x
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/x
EOF
gatherd_start

big=$(head -c 20000 /dev/zero | tr '\0' a)
printf 'GET /x HTTP/1.1\nHost: 127.0.0.1\nX-Big: %s\n\n' "$big" | raw
expect_raw_status 431
expect_raw_header 'Content-Type: application/json'
expect_raw_body_norm '{"error": "..."}'
[ "$RAW_RC" = 0 ] || fail "the connection was not closed after 431" \
    "$(_show_raw)"

# The same, one byte too many at a time: the limit holds while it grows.
big=$(head -c 17000 /dev/zero | tr '\0' b)
printf 'GET /x HTTP/1.1\nHost: 127.0.0.1\nX-Big: %s\n' "$big" | raw -s 100
expect_raw_status 431

ok=$(head -c 8000 /dev/zero | tr '\0' c)
printf 'GET /x HTTP/1.1\nHost: 127.0.0.1\nX-Ok: %s\nConnection: close\n\n' \
    "$ok" | raw
expect_raw_status 200
expect_mock_stat a requests 1
pass
