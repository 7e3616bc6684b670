#!/bin/bash
# Keep-alive on both sides.  20 requests in a row over one client
# connection are all answered right; and gatherd (one worker) keeps its
# upstream connections alive: the three upstream calls of each request go
# over at most three connections in all, not 60.
. "$(dirname "$0")/../lib.sh"

N=20

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /k/{n}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{n}
      - name: b
        url: http://127.0.0.1:@PORT_A@/b/{n}?delay=5
      - name: c
        url: http://127.0.0.1:@PORT_A@/c?n={n}
EOF
gatherd_start

# One curl, one URL glob: curl makes one connection and reuses it;
# %{num_connects} is 1 for the first transfer and 0 for the rest.
rc=0
curl -sS --noproxy '*' --max-time 30 -o "$T/k_#1.body" \
    -w '%{http_code} %{num_connects}\n' \
    "http://127.0.0.1:$GATHERD_PORT/k/[1-$N]" >"$T/k.w" 2>"$T/k.err" ||
    rc=$?
[ "$rc" = 0 ] || fail "curl exit $rc" "$(cat "$T/k.err")"
got=$(awk '{ print $1 }' "$T/k.w" | sort | uniq -c | awk '{ print $1, $2 }')
[ "$got" = "$N 200" ] || fail "expected $N replies 200" "seen: $got" \
    "$(cat "$T/k.w")"
got=$(awk '{ s += $2 } END { print s }' "$T/k.w")
[ "$got" = 1 ] || fail "the client made $got connections, not 1" \
    "$(cat "$T/k.w")"
for ((n = 1; n <= N; n++)); do
	got=$(json_squeeze <"$T/k_$n.body")
	want="{\"a\":{\"path\":\"/a/$n\"},\"b\":{\"path\":\"/b/$n?delay=5\"},\"c\":{\"path\":\"/c?n=$n\"}}"
	[ "$got" = "$want" ] || fail "request $n: unexpected body" \
	    "expected: $want" "seen:     $got"
done

# Every request reached gatherd on that one connection, in order.
expect_log_count "$N" 'req [0-9]+ GET /k/[0-9]+ -> 200, ok 3/3, '

# Upstream side: 3 x N calls over at most 3 connections.
expect_mock_stat a requests $((3 * N))
expect_mock_stat a aborted 0
conns=$(mock_stat a conns)
log "upstream connections for $((3 * N)) calls: $conns"
[ -n "$conns" ] && [ "$conns" -ge 1 ] && [ "$conns" -le 3 ] ||
    fail "gatherd did not keep its upstream connections alive" \
    "expected at most 3 connections for $((3 * N)) calls" \
    "seen: $(mock_get a /_stats)"

# The same over pipelined requests in one write (rawclient).
mock_reset a
{
	for ((n = 1; n <= N; n++)); do
		printf 'GET /k/p%d HTTP/1.1\nHost: 127.0.0.1\n' "$n"
		[ "$n" -lt "$N" ] || printf 'Connection: close\n'
		printf '\n'
	done
} | raw -t 20000
[ "$RAW_RC" = 0 ] || fail "rawclient exit $RAW_RC" "$(_show_raw)"
got=$(raw_statuses | sort | uniq -c | awk '{ print $1, $2 }')
[ "$got" = "$N 200" ] || fail "expected $N pipelined replies 200" \
    "seen: $got" "$(_show_raw)"
got=$(grep -o '"a":{"path":"/a/p[0-9]*"}' "$T/raw.out" |
    sed 's/.*p\([0-9]*\)".*/\1/' | tr '\n' ' ')
want=$(seq -s ' ' 1 "$N")
[ "$got" = "$want " ] || fail "pipelined replies out of order" \
    "expected: $want" "seen:     $got"
expect_mock_stat a requests $((3 * N))
conns=$(mock_stat a conns)
[ -n "$conns" ] && [ "$conns" -le 3 ] ||
    fail "pipelined: upstream connections not reused" \
    "seen: $(mock_get a /_stats)"
pass
