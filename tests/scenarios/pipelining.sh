#!/bin/bash
# Three requests pipelined in one write are answered in order, even when
# the first takes longest; and the gate hands gatherd one request at a
# time, so the upstream calls happen in order too.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /p/{n}/{ms}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/n/{n}?delay={ms}
EOF
gatherd_start

raw -t 10000 <<'EOF'
GET /p/1/300 HTTP/1.1
Host: 127.0.0.1

GET /p/2/0 HTTP/1.1
Host: 127.0.0.1

GET /p/3/100 HTTP/1.1
Host: 127.0.0.1
Connection: close

EOF
[ "$RAW_RC" = 0 ] || fail "rawclient exit $RAW_RC" "$(_show_raw)"
got=$(raw_statuses | tr '\n' ' ')
[ "$got" = "200 200 200 " ] || fail "expected three 200 replies" \
    "seen: $got" "$(_show_raw)"
# Each body is one line of JSON, then the next status line follows it.
got=$(tr -d '\r' <"$T/raw.out" | sed 's|HTTP/1\.1 |\nHTTP/1.1 |g' |
    grep '^{' | while IFS= read -r b; do
	printf '%s' "$b" | json_squeeze
	printf ' '
done)
want='{"a":{"path":"/n/1?delay=300"}} {"a":{"path":"/n/2?delay=0"}} {"a":{"path":"/n/3?delay=100"}} '
[ "$got" = "$want" ] || fail "replies out of order" "expected: $want" \
    "seen:     $got"
got=$(sed -n 's/^REQ GET //p' "$T/a.log" | tr '\n' ' ')
want='/n/1?delay=300 /n/2?delay=0 /n/3?delay=100 '
[ "$got" = "$want" ] || fail "upstream calls out of order" \
    "expected: $want" "seen:     $got"
pass
