#!/bin/bash
# HEAD on a GET endpoint is the GET without the body: the same status and
# the same headers (X-Gather-Complete, Server-Timing, Content-Type), the
# upstreams called with GET, and not one body byte on the wire, so a
# request after it on the same connection is read right.  HEAD on an
# unknown path is a 404 with no body either.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /h/{id}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{id}
      - name: b
        url: http://127.0.0.1:@PORT_A@/b/{id}?status=503
        default: 0
  - path: /req/{id}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{id}
      - name: must
        url: http://127.0.0.1:@PORT_A@/must/{id}?status=500
        required: true
EOF
gatherd_start

# The GET, for reference.
req GET /h/1
expect_status 200
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '^a;dur=[0-9.]+, b;dur=[0-9.]+;desc="status"$'

# HEAD: the same head.
req HEAD /h/2
expect_status 200
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '^a;dur=[0-9.]+, b;dur=[0-9.]+;desc="status"$'
expect_mock_log a '^REQ GET /a/2$'
expect_mock_log a '^REQ GET /b/2\?status=503$'
expect_no_mock_log a '^REQ HEAD '
expect_log 'req [0-9]+ HEAD /h/2 -> 200, ok 1/2, '

# A required upstream fails: the GET's 502, still without a body.
req HEAD /req/3
expect_status 502
expect_header 'Content-Type: application/json'
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '^a;dur=[0-9.]+, must;dur=[0-9.]+;desc="status"$'

# No path: 404, JSON content type, no body.
req HEAD /nowhere
expect_status 404
expect_header 'Content-Type: application/json'

# (curl -I writes the head where the body would go: the bytes on the wire
# are looked at below.)
# On the wire: a HEAD, then a GET on the same connection.  The byte after
# the HEAD reply's head must start the GET's reply.  Then the same for the
# 404, and the 502.
for pair in '/h/4 200' '/nowhere 404' '/req/4 502'; do
	path=${pair% *}
	want=${pair#* }
	raw -t 5000 <<EOF
HEAD $path HTTP/1.1
Host: 127.0.0.1

GET /h/5 HTTP/1.1
Host: 127.0.0.1
Connection: close

EOF
	[ "$RAW_RC" = 0 ] || fail "rawclient exit $RAW_RC" "$(_show_raw)"
	expect_raw_status "$want"
	# What follows the first blank line is the second status line.
	next=$(tr -d '\r' <"$T/raw.out" | sed '1,/^$/d' | head -n 1)
	case $next in
	'HTTP/1.1 200 '*) ;;
	*) fail "HEAD $path: bytes after the head, before the next reply" \
	    "seen: $next" "$(_show_raw)" ;;
	esac
	got=$(raw_statuses | tr '\n' ' ')
	[ "$got" = "$want 200 " ] || fail "expected replies $want 200" \
	    "seen: $got" "$(_show_raw)"
	tr -d '\r' <"$T/raw.out" | sed '1,/^$/d' >"$T/raw.second"
	grep -qF '{"a":{"path":"/a/5"},"b":0,' "$T/raw.second" ||
	    fail "the GET after HEAD $path got a wrong body" "$(_show_raw)"
done
expect_alive
pass
