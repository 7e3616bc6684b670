#!/bin/bash
# A request whose bytes arrive in pieces routes and answers exactly as the
# same request sent whole: one byte per write (rawclient -b) and one split
# at every offset of the request line.  (Debian's evhtp alone turns some
# splits of this very request into /dashboard/122345/orders.)
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dashboard/{user}/orders
    upstreams:
      - name: orders
        url: http://127.0.0.1:@PORT_A@/users/{user}/orders
EOF
gatherd_start

request='GET /dashboard/12345/orders HTTP/1.1
Host: 127.0.0.1
Connection: close

'
want=$(printf '%s' '{"orders": {"path":"/users/12345/orders"}}' | json_squeeze)

# check WHAT: the reply in $T/raw.out is the whole request's.
check() {
	[ "$RAW_RC" = 0 ] || fail "$1: rawclient exit $RAW_RC" "$(_show_raw)"
	expect_raw_status 200
	expect_raw_header 'Content-Type: application/json'
	expect_raw_header 'X-Gather-Complete: true'
	got=$(raw_body | json_squeeze)
	[ "$got" = "$want" ] || fail "$1: wrong reply" "expected: $want" \
	    "seen:     $got"
	[ "$(raw_statuses | wc -l)" = 1 ] || fail "$1: more than one reply" \
	    "$(_show_raw)"
}

printf '%s' "$request" | raw
check "sent whole"
printf '%s' "$request" | raw -b
check "one byte per write"
line='GET /dashboard/12345/orders HTTP/1.1'
for ((i = 1; i <= ${#line} + 2; i++)); do
	printf '%s' "$request" | raw -s "$i"
	check "split at byte $i"
done

n=$(mock_log_count a '^REQ ')
m=$(mock_log_count a '^REQ GET /users/12345/orders$')
[ "$n" = "$m" ] || fail "an upstream saw a wrong path" \
    "$(grep '^REQ' "$T/a.log" | sort | uniq -c)"
[ "$n" = $((${#line} + 4)) ] || fail "expected $((${#line} + 4)) upstream calls" \
    "seen: $n"
pass
