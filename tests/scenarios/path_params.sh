#!/bin/bash
# Path parameters are decoded from the client path and percent-encoded
# into the upstream URL: a '/', '..', '?', '&' or '#' in a parameter never
# changes the upstream's path or query.  The mock log shows the raw target.
. "$(dirname "$0")/../lib.sh"

mock_start a
mock_start q
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /items/{id}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/v1/items/{id}/detail
  - path: /search/{term}
    upstreams:
      - name: q
        url: http://127.0.0.1:@PORT_Q@/v1/search?term={term}&x=1
EOF
gatherd_start

# check CLIENT-PATH UPSTREAM-TARGET
check() {
	req GET "$1"
	expect_status 200
	expect_body "{\"a\": {\"path\":\"$2\"}}"
	expect_mock_log a "^REQ GET $(printf '%s' "$2" | sed 's/[.?]/\\&/g')\$"
}

check /items/a%2Fb /v1/items/a%2Fb/detail
check /items/%2E%2E /v1/items/%2E%2E/detail
check /items/%2e%2e /v1/items/%2E%2E/detail
check /items/%2E /v1/items/%2E/detail
check /items/a%20b /v1/items/a%20b/detail
check /items/x%3Fy%23z /v1/items/x%3Fy%23z/detail

# A literal ".." segment either is refused or stays one parameter; it
# never reaches the upstream as a path step.
req GET /items/..
case $REQ_STATUS in
200)	expect_body '{"a": {"path":"/v1/items/%2E%2E/detail"}}' ;;
400|404) expect_header 'Content-Type: application/json' ;;
*)	fail "GET /items/..: expected 200, 400 or 404" "seen: $REQ_STATUS" ;;
esac
n=$(mock_log_count a '^REQ ')
m=$(mock_log_count a '^REQ GET /v1/items/[^/]+/detail$')
[ "$n" = "$m" ] || fail "an upstream path was changed by a parameter" \
    "$(grep '^REQ' "$T/a.log")"

req GET '/search/a%26admin%3D1'
expect_status 200
expect_body '{"q": {"path":"/v1/search?term=a%26admin%3D1&x=1"}}'
expect_mock_log q '^REQ GET /v1/search\?term=a%26admin%3D1&x=1$'
pass
