#!/bin/bash
# A client that leaves while its three upstream calls are in flight:
# gatherd cancels every one of them (each mock request is aborted long
# before its delay would end), logs the request closed as "client gone",
# and goes on serving the next request.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /slow
    deadline: 20s
    upstreams:
      - name: one
        url: http://127.0.0.1:@PORT_A@/one?delay=15000
        timeout: 18s
      - name: two
        url: http://127.0.0.1:@PORT_A@/two?delay=15000
        timeout: 18s
      - name: three
        url: http://127.0.0.1:@PORT_A@/three?delay=15000
        timeout: 18s
  - path: /fast
    upstreams:
      - name: one
        url: http://127.0.0.1:@PORT_A@/fast
EOF
gatherd_start

# The client sends its request and would wait 20 s; it is killed (its
# socket closed by the kernel) once all three calls are at the upstream.
printf 'GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' |
    "$RAWCLIENT" -r 127.0.0.1 "$GATHERD_PORT" -c 20000 -t 20000 \
    >"$T/gone.out" 2>&1 &
client=$!
_track "$client"
expect_mock_stat a open 3
kill -TERM "$client"
wait_for _gone "$client"

# Well within the 15 s the upstreams would take: all three cut off.
expect_mock_stat a aborted 3 3
expect_mock_stat a open 0
expect_mock_log a '^ABORT /one\?delay=15000$'
expect_mock_log a '^ABORT /two\?delay=15000$'
expect_mock_log a '^ABORT /three\?delay=15000$'
expect_log 'req [0-9]+ GET /slow -> .*client gone'
[ ! -s "$T/gone.out" ] || fail "the client got a reply it did not wait for" \
    "$(cat "$T/gone.out")"
expect_alive

req GET /fast
expect_status 200
expect_body '{"one": {"path":"/fast"}}'
pass
