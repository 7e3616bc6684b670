#!/bin/bash
# The access log: one JSON object per line and per request, with the
# request id, the reply and each upstream's outcome; gatherd's own 404 gets
# a line with endpoint null and no upstreams, a client that left a line
# with status null.  A rename and SIGHUP rotate the file; "stderr" puts the
# lines into gatherd's log; a file that cannot be written costs the lines,
# one rate-limited warning and nothing else.
. "$(dirname "$0")/../lib.sh"

JSONLINES=$top_builddir/tests/jsonlines
_need "$JSONLINES"

mock_start a
write_config() {
	gatherd_config <<EOF
listen: [@LISTEN@]
workers: 2
access_log: $1
endpoints:
  - path: /ok/{id}
    upstreams:
      - name: a
        url: http://127.0.0.1:@PORT_A@/a/{id}
      - name: b
        url: http://127.0.0.1:@PORT_A@/b?status=201
  - path: /partial
    deadline: 3s
    upstreams:
      - name: fast
        url: http://127.0.0.1:@PORT_A@/fast
      - name: slow
        url: http://127.0.0.1:@PORT_A@/slow?delay=5000
        timeout: 200ms
      - name: bad
        url: http://127.0.0.1:@PORT_A@/bad?status=503
  - path: /hang
    deadline: 5s
    upstreams:
      - name: h
        url: http://127.0.0.1:@PORT_A@/h?delay=3000
        timeout: 5s
EOF
}

# lines FILE: how many lines FILE has (0 when there is none).
lines() {
	if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

_lines_ge() { [ "$(lines "$1")" -ge "$2" ]; }

# expect_json FILE: every line is a JSON object (jsonlines), and its ts and
# ms have the promised form; the lines, ts and ms normalised, in $T/norm.
expect_json() {
	"$JSONLINES" "$1" >"$T/json.out" 2>"$T/json.err" ||
	    fail "not one JSON object a line: $(cat "$T/json.err")" \
	    "--- $1 ---" "$(cat "$1")"
	if grep -Ev '^\{"ts":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z",' \
	    "$1" >"$T/json.bad"; then
		fail "a line without an RFC 3339 UTC ts" "$(cat "$T/json.bad")"
	fi
	[ "$(grep -o '"ms":' "$1" | wc -l)" = \
	    "$(grep -Eo '"ms":[0-9]+\.[0-9][,}]' "$1" | wc -l)" ] ||
	    fail "an ms that is not a number in tenths" "$(cat "$1")"
	sed -E -e 's/"ts":"[^"]*"/"ts":"TS"/' \
	    -e 's/"ms":[0-9.eE+-]+/"ms":N/g' "$T/json.out" >"$T/norm"
}

# expect_line 'JSON': some normalised line is exactly this.
expect_line() {
	grep -Fxq -- "$1" "$T/norm" || fail "no access log line is" "$1" \
	    "--- normalised lines ---" "$(cat "$T/norm")"
}

# Known requests, then their lines.
write_config "@T@/access.log"
gatherd_start
req GET /ok/1 -H 'X-Request-Id: r-ok'
expect_status 200
req GET /partial -H 'X-Request-Id: r-partial'
expect_status 200
req GET '/nowhere?q="x"' -H 'X-Request-Id: r-404'
expect_status 404
req GET '/ok/q"\' -H 'X-Request-Id: r-quote'
expect_status 200
req GET /hang -H 'X-Request-Id: r-gone' --max-time 0.3
[ "$REQ_RC" = 28 ] || fail "the client did not give up (curl $REQ_RC)"
# Raw path bytes: UTF-8 stays as it is, anything else is percent-encoded.
printf 'GET /ok/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-utf8\r\nConnection: close\r\n\r\n' |
    raw -r
expect_raw_status 200
printf 'GET /ok/\xff%%41 HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-bytes\r\nConnection: close\r\n\r\n' |
    raw -r
expect_raw_status 200
wait_for -t 10 _lines_ge "$T/access.log" 7
expect_json "$T/access.log"
[ "$(lines "$T/access.log")" = 7 ] || fail "expected 7 lines" \
    "$(cat "$T/access.log")"
expect_line '{"ts":"TS","id":"r-ok","method":"GET","path":"/ok/1","endpoint":"/ok/{id}","status":200,"ms":N,"complete":true,"reason":"done","upstreams":[{"name":"a","kind":"ok","status":200,"ms":N},{"name":"b","kind":"ok","status":201,"ms":N}]}'
expect_line '{"ts":"TS","id":"r-partial","method":"GET","path":"/partial","endpoint":"/partial","status":200,"ms":N,"complete":false,"reason":"done","upstreams":[{"name":"fast","kind":"ok","status":200,"ms":N},{"name":"slow","kind":"timeout","status":null,"ms":N},{"name":"bad","kind":"status","status":503,"ms":N}]}'
expect_line '{"ts":"TS","id":"r-404","method":"GET","path":"/nowhere","endpoint":null,"status":404,"ms":N,"complete":false,"reason":"no endpoint for this path","upstreams":[]}'
expect_line '{"ts":"TS","id":"r-quote","method":"GET","path":"/ok/q\"\\","endpoint":"/ok/{id}","status":200,"ms":N,"complete":true,"reason":"done","upstreams":[{"name":"a","kind":"ok","status":200,"ms":N},{"name":"b","kind":"ok","status":201,"ms":N}]}'
expect_line '{"ts":"TS","id":"r-gone","method":"GET","path":"/hang","endpoint":"/hang","status":null,"ms":N,"complete":false,"reason":"client gone","upstreams":[{"name":"h","kind":"cancelled","status":null,"ms":N}]}'
expect_line '{"ts":"TS","id":"r-utf8","method":"GET","path":"/ok/caf\u00E9","endpoint":"/ok/{id}","status":200,"ms":N,"complete":true,"reason":"done","upstreams":[{"name":"a","kind":"ok","status":200,"ms":N},{"name":"b","kind":"ok","status":201,"ms":N}]}'
expect_line '{"ts":"TS","id":"r-bytes","method":"GET","path":"/ok/%FF%41","endpoint":"/ok/{id}","status":200,"ms":N,"complete":true,"reason":"done","upstreams":[{"name":"a","kind":"ok","status":200,"ms":N},{"name":"b","kind":"ok","status":201,"ms":N}]}'
grep -qF "$(printf '"path":"/ok/caf\xc3\xa9"')" "$T/access.log" ||
    fail "a UTF-8 path is not written as it came" "$(cat "$T/access.log")"
# The same request in the log line and the access log.
expect_log 'req [0-9]+ GET /partial -> 200, ok 1/3, [0-9.]+ ms, done, id=r-partial$'

# Requests at once on both workers: each line whole, none lost.
N=20
for ((i = 0; i < N; i++)); do
	req_start "c$i" GET "/ok/c$i"
done
for ((i = 0; i < N; i++)); do
	req_finish "c$i" >/dev/null
	expect_status 200
done
wait_for _lines_ge "$T/access.log" $((7 + N))
expect_json "$T/access.log"
[ "$(grep -c '"path":"/ok/c[0-9]*"' "$T/norm")" = "$N" ] ||
    fail "expected $N lines of /ok/cN" "$(cat "$T/access.log")"
before=$((7 + N))

# Rotation: rename, SIGHUP; once a worker has the new config its lines go
# to a new file.  Every request has its line in one file or the other.
mv "$T/access.log" "$T/access.log.1"
kill -HUP "$GATHERD_PID"
# (nrot, not n: _poll, which runs rotated, has a local n.)
nrot=0
rotated() {
	nrot=$((nrot + 1))
	req GET "/ok/r$nrot" >/dev/null
	[ "$REQ_STATUS" = 200 ] && [ -s "$T/access.log" ]
}
wait_for rotated
_total_is() {
	[ $(($(lines "$T/access.log") + $(lines "$T/access.log.1"))) = "$1" ]
}
wait_for _total_is $((before + nrot))
expect_json "$T/access.log"
expect_json "$T/access.log.1"
cat "$T/access.log" "$T/access.log.1" |
    sed -n 's|.*"path":"/ok/\(r[0-9]*\)".*|\1|p' | sort >"$T/seen"
seq 1 "$nrot" | sed 's/^/r/' | sort >"$T/want"
cmp -s "$T/seen" "$T/want" || fail "rotation lost or doubled a line" \
    "--- new ---" "$(cat "$T/access.log")" "--- old ---" \
    "$(tail -n "$nrot" "$T/access.log.1")"
gatherd_stop

# stderr: the lines go into gatherd's log, whole.
write_config stderr
gatherd_start
req GET /ok/2 -H 'X-Request-Id: r-stderr'
expect_status 200
wait_for _log_has '^\{"ts":.*"id":"r-stderr"'
grep '^{' "$T/gatherd.log" >"$T/stderr.json"
expect_json "$T/stderr.json"
expect_line '{"ts":"TS","id":"r-stderr","method":"GET","path":"/ok/2","endpoint":"/ok/{id}","status":200,"ms":N,"complete":true,"reason":"done","upstreams":[{"name":"a","kind":"ok","status":200,"ms":N},{"name":"b","kind":"ok","status":201,"ms":N}]}'
gatherd_stop

# A file that refuses every write: requests are served, one warning per
# worker and interval says lines were lost.
[ -w /dev/full ] || skip "no /dev/full"
: >"$T/gatherd.log"
write_config /dev/full
sed -i 's/^workers: 2$/workers: 1/' "$T/gatherd.yaml"
gatherd_start
for i in 1 2 3; do
	req GET "/ok/full$i"
	expect_status 200
done
expect_log 'access log /dev/full: worker 0: 1 lines lost: No space left on device'
[ "$(log_count 'access log /dev/full')" = 1 ] ||
    fail "expected one warning about the lost lines"
expect_alive
pass
