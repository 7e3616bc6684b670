#!/bin/bash
# Four workers under a burst: 400 requests, 32 at a time, each for its own
# {id}, against three upstreams with small delays.  Every reply is 200 and
# exactly the body of its own id (no request sees another's upstream
# replies, whichever worker served it), the log has one line per request,
# and the upstream saw 3 x 400 calls and no cancelled one.  The burst is
# bounded: more than 60 s is a failure.
. "$(dirname "$0")/../lib.sh"

N=400
P=32
LIMIT_S=60

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 4
endpoints:
  - path: /w/{id}
    deadline: 10s
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{id}?delay=5
      - name: b
        url: http://127.0.0.1:@PORT_A@/b?id={id}&delay=10
      - name: c
        url: http://127.0.0.1:@PORT_A@/c/{id}?delay=20
        timeout: 5s
EOF
gatherd_start
expect_log 'gatherd [^ ]+: 4 workers, 1 endpoints'

# One request of the burst: the id is "u<n>"; what it got goes into
# $T/burst/<n>.{code,body}.  Run by xargs, so it is a script of its own.
mkdir "$T/burst"
cat >"$T/one.sh" <<'EOF'
n=$1
curl -sS --noproxy '*' --max-time 20 -o "$BURST/$n.body" \
    -w '%{http_code}' "$BASE/w/u$n" >"$BURST/$n.code" 2>"$BURST/$n.err"
exit 0
EOF
export BURST=$T/burst BASE=http://127.0.0.1:$GATHERD_PORT

t0=$(date +%s%N)
rc=0
seq "$N" | timeout -k 5 "$LIMIT_S" xargs -P "$P" -n 1 bash "$T/one.sh" ||
    rc=$?
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
log "burst of $N at concurrency $P: ${ms} ms (rc $rc)"
[ "$rc" = 0 ] || fail "the burst did not finish within ${LIMIT_S}s" \
    "(timeout/xargs exit $rc)"
[ "$ms" -le $((LIMIT_S * 1000)) ] || fail "the burst took ${ms} ms"

bad=0
for ((n = 1; n <= N; n++)); do
	code=$(cat "$BURST/$n.code" 2>/dev/null || true)
	got=$(json_squeeze <"$BURST/$n.body" 2>/dev/null || true)
	want="{\"a\":{\"path\":\"/a/u$n?delay=5\"},\"b\":{\"path\":\"/b?id=u$n&delay=10\"},\"c\":{\"path\":\"/c/u$n?delay=20\"}}"
	if [ "$code" != 200 ] || [ "$got" != "$want" ]; then
		bad=$((bad + 1))
		[ "$bad" -gt 5 ] || printf 'request u%s: status %s\n  expected: %s\n  seen:     %s\n  curl: %s\n' \
		    "$n" "${code:-none}" "$want" "$got" \
		    "$(cat "$BURST/$n.err" 2>/dev/null)" >>"$T/bad.txt"
	fi
done
[ "$bad" = 0 ] || fail "$bad of $N replies were wrong (first ones below)" \
    "$(cat "$T/bad.txt")"

# One log line per request, each id once: wait until all are written
# (a line is written when its request closes), then no more than that.
expect_log_count -t 10 "$N" 'req [0-9]+ GET /w/u[0-9]+ -> '
got=$(log_count 'req [0-9]+ GET /w/u[0-9]+ -> 200, ok 3/3, [0-9.]+ ms, done, id=[0-9a-f]{32}$')
[ "$got" = "$N" ] || fail "expected $N lines '-> 200, ok 3/3, ..., done, id=...'" \
    "seen: $got"
got=$(sed -n 's|.*req [0-9]* GET /w/\(u[0-9]*\) -> .*|\1|p' \
    "$T/gatherd.log" | sort -u | wc -l)
[ "$got" = "$N" ] || fail "expected $N distinct ids in the log" "seen: $got"
# Generated request ids are unique across the workers too.
got=$(sed -n 's|.*req [0-9]* GET /w/u[0-9]* -> .*, id=\([0-9a-f]*\)$|\1|p' \
    "$T/gatherd.log" | sort -u | wc -l)
[ "$got" = "$N" ] || fail "expected $N distinct request ids" "seen: $got"

expect_mock_stat a requests $((3 * N))
expect_mock_stat a open 0
expect_mock_stat a aborted 0
[ "$(mock_log_count a '^REQ GET /a/u[0-9]+\?delay=5$')" = "$N" ] ||
    fail "mock: expected $N calls of upstream a"
[ "$(mock_log_count a '^REQ GET /b\?id=u[0-9]+&delay=10$')" = "$N" ] ||
    fail "mock: expected $N calls of upstream b"
[ "$(mock_log_count a '^REQ GET /c/u[0-9]+\?delay=20$')" = "$N" ] ||
    fail "mock: expected $N calls of upstream c"
expect_alive
pass
