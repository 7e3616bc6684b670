#!/bin/bash
# Optional upstreams that break off the exchange: one closes without
# replying (kind connect, libcurl's own words in the message), one sends
# fewer body bytes than its Content-Length says (kind decode).  The reply
# is still 200, incomplete, each failed member holds its default, the good
# members are intact, and nothing of the cut body reaches the client.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /dash/{id}
    upstreams:
      - name: first
        url: http://127.0.0.1:@PORT_A@/first/{id}
      - name: closed
        url: http://127.0.0.1:@PORT_A@/closed/{id}?close=1
        default: {"fallback": true}
      - name: cut
        url: http://127.0.0.1:@PORT_A@/cut/{id}?partial=12
        default: "cut"
      - name: last
        url: http://127.0.0.1:@PORT_A@/last/{id}?delay=50
EOF
gatherd_start

# Twice: on fresh upstream connections, then with kept-alive ones in the
# pool (where libcurl may retry a dead reused connection once).
for id in 1 2; do
	req GET /dash/$id
	expect_status 200
	expect_header 'Content-Type: application/json'
	expect_header 'X-Gather-Complete: false'
	expect_header_re Server-Timing \
	    '^first;dur=[0-9.]+, closed;dur=[0-9.]+;desc="connect", cut;dur=[0-9.]+;desc="decode", last;dur=[0-9.]+$'
	expect_body_norm "{\"first\": {\"path\":\"/first/$id\"}, \"closed\": {\"fallback\": true}, \"cut\": \"cut\", \"last\": {\"path\":\"/last/$id?delay=50\"}, \"_errors\": {\"closed\": {\"kind\": \"connect\", \"ms\": N, \"message\": \"...\"}, \"cut\": {\"kind\": \"decode\", \"ms\": N, \"message\": \"...\"}}}"
	# The good members are spliced byte for byte.
	expect_body_has "\"first\":{\"path\":\"/first/$id\"}"
	expect_body_has "\"last\":{\"path\":\"/last/$id?delay=50\"}"
	# Each message says something, and the cut body is never echoed.
	expect_body_re '"closed":\{"kind":"connect","ms":[0-9.]+,"message":"[^"]+"\}'
	expect_body_re '"cut":\{"kind":"decode","ms":[0-9.]+,"message":"[^"]+"\}'
	if grep -qF "/cut/$id" "$T/body"; then
		fail "the truncated upstream body was echoed into the reply" \
		    "$(_show_reply)"
	fi
	expect_log "req [0-9]+ GET /dash/$id -> 200, ok 2/4, [0-9.]+ ms, done"
done
expect_mock_log a '^REQ GET /closed/1\?close=1$'
expect_mock_log a '^REQ GET /cut/2\?partial=12$'
expect_alive
pass
