#!/bin/bash
# nginx, a real third-party HTTP server, as the upstream: JSON bodies are
# spliced as nginx sent them, text/plain is embedded as a JSON string, an
# empty 200 is null, a path parameter reaches nginx percent-encoded, and
# an nginx 404 is an error of kind status.  Skipped without nginx.
. "$(dirname "$0")/../lib.sh"

nginx_start
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /n/{id}
    upstreams:
      - name: user
        url: http://127.0.0.1:@PORT_NGINX@/users/1
      - name: orders
        url: http://127.0.0.1:@PORT_NGINX@/orders
      - name: text
        url: http://127.0.0.1:@PORT_NGINX@/text
      - name: empty
        url: http://127.0.0.1:@PORT_NGINX@/empty
      - name: echo
        url: http://127.0.0.1:@PORT_NGINX@/echo/{id}
  - path: /missing
    upstreams:
      - name: user
        url: http://127.0.0.1:@PORT_NGINX@/users/1
      - name: nope
        url: http://127.0.0.1:@PORT_NGINX@/nope
EOF
gatherd_start

for i in 1 2; do	# the second time on kept-alive connections
	req GET /n/a%2Fb
	expect_status 200
	expect_header 'Content-Type: application/json'
	expect_header 'X-Gather-Complete: true'
	expect_header_re Server-Timing \
	    '^user;dur=[0-9.]+, orders;dur=[0-9.]+, text;dur=[0-9.]+, empty;dur=[0-9.]+, echo;dur=[0-9.]+$'
	expect_body "{\"user\": {\"id\":1,\"name\":\"Ada\",\"port\":$NGINX_PORT}, \"orders\": [{\"id\":7,\"total\":12.5}], \"text\": \"plain text\", \"empty\": null, \"echo\": {\"uri\":\"/echo/a%2Fb\"}}"
done
grep -q '"GET /echo/a%2Fb HTTP/1.1" 200' "$T/nginx/access.log" ||
    fail "nginx did not log GET /echo/a%2Fb" "$(cat "$T/nginx/access.log")"

req GET /missing
expect_status 200
expect_header 'X-Gather-Complete: false'
expect_body_norm "{\"user\": {\"id\":1,\"name\":\"Ada\",\"port\":$NGINX_PORT}, \"nope\": null, \"_errors\": {\"nope\": {\"kind\": \"status\", \"status\": 404, \"ms\": N, \"message\": \"...\"}}}"
pass
