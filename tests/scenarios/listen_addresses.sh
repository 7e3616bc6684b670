#!/bin/bash
# gatherd serves the same endpoints on every listen address: IPv4
# loopback, IPv6 loopback ([::1]:port, when the machine has ::1) and a
# unix socket.
. "$(dirname "$0")/../lib.sh"

mock_start a
PORT_V6=$(free_port)
v6=
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
	v6=", \"[::1]:$PORT_V6\""
else
	log "no ::1 on this machine: the IPv6 part is left out"
fi
gatherd_config <<EOF
listen: [@LISTEN@$v6, "unix:@T@/gatherd.sock"]
workers: 1
endpoints:
  - path: /x
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/x
EOF
gatherd_start
wait_for test -S "$T/gatherd.sock"

req GET /x
expect_status 200
expect_body '{"a": {"path":"/x"}}'

req GET /x --unix-socket "$T/gatherd.sock"
expect_status 200
expect_body '{"a": {"path":"/x"}}'

if [ -n "$v6" ]; then
	REQ_BASE="http://[::1]:$PORT_V6" req GET /x -g
	expect_status 200
	expect_body '{"a": {"path":"/x"}}'
	printf 'GET /x HTTP/1.1\nHost: [::1]\nConnection: close\n\n' >"$T/v6.req"
	"$RAWCLIENT" -6 ::1 "$PORT_V6" <"$T/v6.req" >"$T/raw.out" \
	    2>"$T/raw.err" || fail "rawclient -6 failed" "$(cat "$T/raw.err")"
	expect_raw_status 200
fi
expect_mock_stat a requests $([ -n "$v6" ] && echo 4 || echo 2)
pass
