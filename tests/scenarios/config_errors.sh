#!/bin/bash
# gatherd -t reports every error of a bad config at once, each as
# FILE:LINE:COL: key: problem, and exits 1; gatherd refuses to start on
# it; a YAML syntax error is placed the same way; a good config prints
# "configuration OK" and exits 0.
. "$(dirname "$0")/../lib.sh"

# Line numbers matter below: the file's line N is the heredoc's line N.
bad=$T/bad.yaml
gatherd_config "$bad" <<'EOF'
listen: [@LISTEN@]
bogus_key: 1
endpoints:
  - path: /a/{id}
    upstreams:
      - name: one
        url: http://127.0.0.1:1/x/{nope}
        timeout: 5parsecs
      - name: one
        url: http://127.0.0.1:1/y
        colour: blue
limits:
  max_upstream_body: lots
EOF
gatherd_check "$bad"
expect_check_rc 1
F=$(regex_of "$bad")
# Unknown keys are placed at the key; a bad value at the key or the value.
expect_check_line "^$F:2:1: ([a-z_.]*\\.)?bogus_key: .+"
expect_check_line "^$F:7:(9|14): .*url: .*nope"
expect_check_line "^$F:8:(9|18): .*timeout: .+"
expect_check_line "^$F:9:(9|15): .*name: .+"
expect_check_line "^$F:11:9: .*colour: .+"
expect_check_line "^$F:13:(3|22): .*max_upstream_body: .+"
if grep -q 'configuration OK' "$T/check.out"; then
	fail "gatherd -t said OK to a bad config" "$(cat "$T/check.out")"
fi

# Started on it, gatherd exits 1 at once and listens on nothing.
gatherd_run "$bad"
[ "$REAP_RC" = 1 ] || fail "gatherd -c BAD: expected exit 1" "seen: $REAP_RC" \
    "$(cat "$T/start.out")"
grep -q "$F:2:1: " "$T/start.out" || fail "gatherd -c BAD: no FILE:LINE:COL" \
    "$(cat "$T/start.out")"

# A YAML syntax error: an unclosed flow sequence.
syntax=$T/syntax.yaml
printf 'listen: [127.0.0.1:1\nendpoints: []\n' >"$syntax"
gatherd_check "$syntax"
expect_check_rc 1
expect_check_line "^$(regex_of "$syntax"):[0-9]+:[0-9]+: "

# The good twin.
mock_start a
good=$T/good.yaml
gatherd_config "$good" <<'EOF'
listen: [@LISTEN@]
endpoints:
  - path: /a/{id}
    upstreams:
      - name: one
        url: http://127.0.0.1:@PORT_A@/x/{id}
        timeout: 5s
      - name: two
        url: http://127.0.0.1:@PORT_A@/y
limits:
  max_upstream_body: 2MiB
EOF
gatherd_check "$good"
expect_check_rc 0
expect_check_line '^configuration OK$'
pass
