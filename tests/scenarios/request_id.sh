#!/bin/bash
# Tracing a request.  The client's X-Request-Id (1..128 visible ASCII
# bytes) or else a generated one (32 hex digits) reaches every upstream
# once, comes back in the reply, a 404 or 405 included, and ends the log
# line as ", id=...".  A W3C traceparent keeps its trace-id and flags and
# gets gatherd's span as parent-id, the same on every call of the request;
# tracestate passes unchanged; without a valid traceparent a trace starts.
. "$(dirname "$0")/../lib.sh"

mock_start a
mock_start b
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /t/{n}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{n}
        headers: {X-Request-Id: from-the-config}
        forward_headers: [X-Request-Id, traceparent, tracestate, Accept]
      - name: b
        url: http://127.0.0.1:@PORT_B@/b/{n}
EOF
gatherd_start

TID=4bf92f3577b34da6a3ce929d0e0e4736
PID=00f067aa0ba902b7
HEX32='[0-9a-f]{32}'

# mock_values NAME HEADER: every value of HEADER the mock saw, one a line.
mock_values() {
	awk -v n="${2,,}" 'substr($0, 1, 4) == "HDR " {
		i = index($0, ": ")
		if (tolower(substr($0, 5, i - 5)) == n)
			print substr($0, i + 2)
	}' "$T/$1.log"
}

# sent HEADER: the one value both upstreams saw (fails otherwise).
sent() {
	local a b
	a=$(mock_values a "$1")
	b=$(mock_values b "$1")
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$(printf '%s\n' "$a" | wc -l)" = 1 ] ||
	    fail "expected one $1, the same at both upstreams" \
	    "a saw: $a" "b saw: $b"
	printf '%s\n' "$a"
}

# reply_rid: the reply's one X-Request-Id.
reply_rid() {
	local v
	v=$(_header_values "$T/headers" X-Request-Id)
	[ -n "$v" ] && [ "$(printf '%s\n' "$v" | wc -l)" = 1 ] ||
	    fail "expected one X-Request-Id in the reply" "$(_show_reply)"
	printf '%s\n' "$v"
}

# call PATH [CURL ARGS]: a request on fresh mock logs that must succeed.
call() {
	: >"$T/a.log"
	: >"$T/b.log"
	req GET "$@"
	expect_status 200
}

# expect_generated 'METHOD PATH' RID: RID is generated, and its last 16
# hex digits are the request number of the log line of that request.
expect_generated() {
	local n
	[[ $2 =~ ^$HEX32$ ]] || fail "not a generated request id: $2"
	expect_log "req [0-9]+ $1 -> [0-9]+, .*, id=$2\$"
	n=$(sed -n "s|.*req \([0-9]*\) $1 -> .*, id=$2\$|\1|p" \
	    "$T/gatherd.log")
	[ "$(printf '%016x' "$n")" = "${2:16}" ] ||
	    fail "request id $2 does not end in req $n"
}

# The client's id: sent once to each upstream (not also as forwarded or
# configured), echoed, logged.
call /t/1 -H 'X-Request-Id: client-id-1'
expect_header 'X-Request-Id: client-id-1'
[ "$(sent X-Request-Id)" = client-id-1 ] || fail "upstreams: wrong id"
expect_log 'req [0-9]+ GET /t/1 -> 200, ok 2/2, [0-9.]+ ms, done, id=client-id-1$'
long128=$(printf 'x%.0s' {1..128})
call /t/1 -H "X-Request-Id: $long128"
expect_header "X-Request-Id: $long128"
[ "$(sent X-Request-Id)" = "$long128" ] || fail "upstreams: wrong id"

# None: a generated one, sent, echoed, logged, and new for each request.
call /t/2
rid1=$(reply_rid)
expect_generated 'GET /t/2' "$rid1"
[ "$(sent X-Request-Id)" = "$rid1" ] || fail "upstreams: wrong id"
call /t/2
rid2=$(reply_rid)
expect_generated 'GET /t/2' "$rid2"
[ "$rid1" != "$rid2" ] || fail "two requests got the same id $rid1"

# Not acceptable: replaced, and never echoed or logged.
long129=${long128}y
for bad in "$long129" 'has space' $'has\ttab' '"quoted" text'; do
	call /t/3 -H "X-Request-Id: $bad"
	rid=$(reply_rid)
	expect_generated 'GET /t/3' "$rid"
	[ "$(sent X-Request-Id)" = "$rid" ] || fail "upstreams: wrong id"
	grep -qF -- "$bad" "$T/gatherd.log" &&
	    fail "an invalid request id reached the log: $bad"
done
call /t/3 -H 'X-Request-Id: one' -H 'X-Request-Id: two'
expect_generated 'GET /t/3' "$(reply_rid)"

# A valid traceparent: same trace-id and flags, gatherd's own parent-id,
# the same for both calls; tracestate as it came.
state='congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'
call /t/4 -H "traceparent: 00-$TID-$PID-01" -H "tracestate: $state"
tp=$(sent traceparent)
[[ $tp =~ ^00-$TID-[0-9a-f]{16}-01$ ]] || fail "upstreams got: $tp"
[ "${tp:36:16}" != "$PID" ] && [ "${tp:36:16}" != 0000000000000000 ] ||
    fail "the parent-id was not gatherd's own: $tp"
[ "$(sent tracestate)" = "$state" ] || fail "tracestate changed"
call /t/4 -H "traceparent: 00-$TID-$PID-00"
tp2=$(sent traceparent)
[[ $tp2 =~ ^00-$TID-[0-9a-f]{16}-00$ ]] || fail "upstreams got: $tp2"
[ "${tp2:36:16}" != "${tp:36:16}" ] || fail "two requests, one span id"
expect_no_mock_header a tracestate

# None, or an invalid one: a new trace, flags 00, and no tracestate.
call /t/5
tp=$(sent traceparent)
[[ $tp =~ ^00-$HEX32-[0-9a-f]{16}-00$ ]] || fail "upstreams got: $tp"
[ "${tp:3:32}" != 00000000000000000000000000000000 ] &&
    [ "${tp:36:16}" != 0000000000000000 ] || fail "an all-zero id: $tp"
for bad in "00-${TID^^}-$PID-01" "00-$TID-$PID-01-extra" \
    "00-00000000000000000000000000000000-$PID-01"; do
	call /t/5 -H "traceparent: $bad" -H "tracestate: $state"
	tp2=$(sent traceparent)
	[[ $tp2 =~ ^00-$HEX32-[0-9a-f]{16}-00$ ]] || fail "upstreams got: $tp2"
	[ "${tp2:3:32}" != "$TID" ] && [ "${tp2:3:32}" != "${tp:3:32}" ] ||
	    fail "no new trace for $bad: $tp2"
	expect_no_mock_header a tracestate
	expect_no_mock_header b tracestate
done

# gatherd's own error replies carry the id too.
req GET /nowhere -H 'X-Request-Id: lost-1'
expect_status 404
expect_header 'X-Request-Id: lost-1'
expect_log 'req [0-9]+ GET /nowhere -> 404, ok 0/0, [0-9.]+ ms, no endpoint for this path, id=lost-1$'
req GET /nowhere -H "X-Request-Id: $long129"
expect_status 404
expect_generated 'GET /nowhere' "$(reply_rid)"
req POST /t/6 -d x=1
expect_status 405
expect_generated 'POST /t/6' "$(reply_rid)"
pass
