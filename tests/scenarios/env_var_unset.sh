#!/bin/bash
# ${VAR} in an upstream header comes from gatherd's environment.  Unset,
# it is a config error placed at FILE:LINE:COL and naming the variable
# (gatherd -t exits 1, gatherd refuses to start), never an empty
# credential sent upstream; set, the header reaches the upstream with the
# value in place, and $$ stays a literal '$'.
. "$(dirname "$0")/../lib.sh"

VAR=GATHERD_TEST_ENV_TOKEN_$$
unset "$VAR"

mock_start a
# Line numbers matter below: the file's line N is the heredoc's line N.
gatherd_config <<EOF
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /env
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/env
        headers:
          X-Static: fixed
          X-Token: "Bearer \${$VAR}"
          X-Price: "\$\$5"
EOF
F=$(regex_of "$T/gatherd.yaml")

gatherd_check "$T/gatherd.yaml"
expect_check_rc 1
expect_check_line "^$F:10:(11|20): .*headers.*: .*$VAR"
if grep -q 'configuration OK' "$T/check.out"; then
	fail "gatherd -t said OK with $VAR unset" "$(cat "$T/check.out")"
fi
got=$(grep -c "^$F:[0-9]*:[0-9]*: " "$T/check.out" || true)
[ "$got" = 1 ] || fail "expected exactly one error (the unset variable)" \
    "$(cat "$T/check.out")"

# Started on it, gatherd exits 1 at once, says why, and calls no upstream.
gatherd_run "$T/gatherd.yaml"
[ "$REAP_RC" = 1 ] || fail "gatherd with $VAR unset: expected exit 1" \
    "seen: $REAP_RC" "$(cat "$T/start.out")"
grep -Eq "^$F:10:(11|20): .*$VAR" "$T/start.out" ||
    fail "gatherd with $VAR unset: no FILE:LINE:COL naming it" \
    "$(cat "$T/start.out")"
port_open "$GATHERD_PORT" && fail "gatherd listens with $VAR unset"
expect_mock_stat a requests 0

# Set (to a value with blanks and a '$'): the same file is good.
export "$VAR=tok en\$42"
gatherd_check "$T/gatherd.yaml"
expect_check_rc 0
expect_check_line '^configuration OK$'

gatherd_start
req GET /env
expect_status 200
expect_body '{"a": {"path":"/env"}}'
expect_mock_header a 'X-Token: Bearer tok en$42'
expect_mock_header a 'X-Static: fixed'
expect_mock_header a 'X-Price: $5'
pass
