#!/bin/bash
# limits.max_connections caps the open client connections (one worker, so
# its share is the whole limit).  Four keep-alive connections that have
# each been answered and now sit idle fill it: a fifth is closed without a
# reply (or refused), at once rather than left hanging, and again on every
# try, without leaking a descriptor.  The four are still served.  Once one
# of them is closed, a new connection is served normally.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
limits: {max_connections: 4, client_timeout: 30s}
endpoints:
  - path: /c/{n}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/c/{n}
EOF
gatherd_start

# keepalive_get FD N: on the open connection FD, GET /c/N (keep-alive) and
# read the whole reply (bounded); it must be 200 with the body for N.
keepalive_get() {
	local fd=$1 n=$2 line status= len= body i
	printf 'GET /c/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "$n" >&"$fd" ||
	    fail "connection $fd: cannot send"
	IFS= read -r -t 5 line <&"$fd" || fail "connection $fd: no reply to /c/$n"
	line=${line%$'\r'}
	status=$(printf '%s' "$line" | sed -n 's|^HTTP/1\.1 \([0-9]*\) .*|\1|p')
	for ((i = 0; i < 50; i++)); do
		IFS= read -r -t 5 line <&"$fd" ||
		    fail "connection $fd: reply head cut short"
		line=${line%$'\r'}
		[ -n "$line" ] || break
		case ${line,,} in
		content-length:*) len=${line#*:}; len=${len// /} ;;
		connection:*close*) fail "connection $fd: gatherd closes it" ;;
		esac
	done
	[ -n "$len" ] || fail "connection $fd: no Content-Length in the reply"
	IFS= read -r -t 5 -N "$len" body <&"$fd" ||
	    fail "connection $fd: reply body cut short"
	[ "$status" = 200 ] || fail "connection $fd: expected 200" "seen: $status"
	[ "$(printf '%s' "$body" | json_squeeze)" = \
	    "{\"a\":{\"path\":\"/c/$n\"}}" ] ||
	    fail "connection $fd: unexpected body for /c/$n" "seen: $body"
	log "connection $fd: GET /c/$n -> 200, kept alive"
}

# Four connections, each answered and then left open and idle.
for fd in 3 4 5 6; do
	eval "exec $fd<>/dev/tcp/127.0.0.1/$GATHERD_PORT" ||
	    fail "connection $fd: cannot connect"
	keepalive_get "$fd" "$fd"
done
expect_mock_stat a requests 4

# fd_count: gatherd's open descriptors.
fd_count() { find "/proc/$GATHERD_PID/fd" -mindepth 1 2>/dev/null | wc -l; }
fds=$(fd_count)

# A fifth: no reply, and the connection ends at once (a close or a reset,
# not a timeout).  Several times over, so a leak would show.
for try in 1 2 3 4 5; do
	printf 'GET /c/5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' | raw -r -t 3000
	[ ! -s "$T/raw.out" ] || fail "try $try: the fifth connection got a reply" \
	    "$(_show_raw)"
	if grep -q 'timed out' "$T/raw.err"; then
		fail "try $try: the fifth connection was left open" "$(_show_raw)"
	fi
done
expect_alive
expect_mock_stat a requests 4
# ... and each one is counted on the admin listener.
curl -sS --noproxy '*' --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" \
    >"$T/metrics" || fail "cannot read /metrics"
grep -Fxq 'gatherd_client_connections_refused_total 5' "$T/metrics" ||
    fail "expected 5 refused connections on /metrics" \
    "seen: $(grep refused "$T/metrics")"
grep -Fxq 'gatherd_client_connections 4' "$T/metrics" ||
    fail "expected 4 open connections on /metrics" \
    "seen: $(grep '^gatherd_client_connections ' "$T/metrics")"
_fds_back() { [ "$(fd_count)" -le "$fds" ]; }
wait_for _fds_back

# The four are still served.
for fd in 3 4 5 6; do
	keepalive_get "$fd" "1$fd"
done

# Close one: a new connection is then served (polled, since gatherd learns
# of the close from its event loop).
exec 3>&-
_served() {
	printf 'GET /c/new HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
	    raw -r -t 3000
	[ "$RAW_RC" = 0 ] && [ -s "$T/raw.out" ]
}
wait_for _served
expect_raw_status 200
expect_raw_body_norm '{"a": {"path": "/c/new"}}'

exec 4>&- 5>&- 6>&-
pass
