#!/bin/bash
# Untrusted input: whatever a client sends gets a well-formed reply or a
# close, in time, and never takes gatherd down.  tests/fuzzclient sends
# 500 mutated and malformed requests for each of two fixed seeds (so that
# a failure replays: its report names the seed and the case), each on its
# own connection, 16 at a time: bad and ambiguous framing, absurd
# Content-Length, broken chunked bodies, obs-fold, huge headers, odd
# request lines and versions, stray bytes, split writes, half-closes.
# Then gatherd must still be running, answer a normal GET and POST right,
# have no sanitizer report in its log, and stop cleanly on SIGTERM.
. "$(dirname "$0")/../lib.sh"

FUZZCLIENT=$top_builddir/tests/fuzzclient
SEEDS="20240611 7"
N=500
LIMIT_S=60

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 2
limits:
  max_request_head: 4KiB
  max_request_body: 16KiB
  head_timeout: 1s
  client_timeout: 2s
endpoints:
  - path: /x
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/x
  - path: /x/{id}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/x/{id}
  - path: /p
    method: POST
    upstreams:
      - name: echo
        method: POST
        url: http://127.0.0.1:@PORT_A@/p?echo=1
EOF
gatherd_start
_need "$FUZZCLIENT"

# -t 4000: gatherd must act within client_timeout (2s) of the last byte;
# the rest is slack for a loaded sanitizer build.  -k reports every
# failing case of the seed, not only the first.
for seed in $SEEDS; do
	rc=0
	timeout -k 5 "$LIMIT_S" "$FUZZCLIENT" -k -n "$N" -s "$seed" -t 4000 \
	    -j 16 127.0.0.1 "$GATHERD_PORT" >"$T/fuzz.out" 2>"$T/fuzz.err" ||
	    rc=$?
	cat "$T/fuzz.out"
	if [ "$rc" != 0 ]; then
		[ "$rc" != 124 ] || rc="124, over ${LIMIT_S}s"
		fail "fuzzclient seed $seed: exit $rc" \
		    "--- failures by kind ---" \
		    "$(sed -n 's/^fuzzclient: FAIL: seed [0-9]* case [0-9]*: //p' \
		    "$T/fuzz.err" | sed 's/ (after [0-9]* ms)$//' |
		    sed 's/at byte [0-9]*/at byte N/' | sort | uniq -c)" \
		    "--- fuzzclient (first 300 lines) ---" \
		    "$(head -n 300 "$T/fuzz.err")"
	fi
	expect_alive
	! sanitizer_report || fail "seed $seed: sanitizer report in gatherd's log" \
	    "$(grep -E -A 30 'ERROR: AddressSanitizer|runtime error' \
	    "$T/gatherd.log" | head -n 60)"
	# The cases reached gatherd's endpoints and its checks alike.
	grep -Eq ': 2xx [1-9][0-9]*, 4xx [1-9][0-9]*,' "$T/fuzz.out" ||
	    fail "seed $seed: too few replies of either kind to mean anything"
done

# Still serving, and right.
req GET /x
expect_status 200
expect_body '{"a": {"path": "/x"}}'
req POST /p --data-binary '{"k": [1, 2]}' -H 'Content-Type: application/json'
expect_status 200
expect_body '{"echo": {"k": [1, 2]}}'
pass
