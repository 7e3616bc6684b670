#!/bin/bash
# SIGHUP applies listen changes: new addresses are opened before removed
# ones are closed; a removed address stops accepting, while a request
# accepted on it before the reload finishes with 200.  An address that
# cannot be opened (a port another process holds, a unix socket in a
# missing directory) refuses the whole reload, with a log line naming
# it; the running addresses and endpoints stay.  A change of workers is
# refused with a log line naming workers and restart, each time the file
# differs from the running count (and not when it is back to it), and
# the rest of the file is applied.  admin.listen moves like listen.
. "$(dirname "$0")/../lib.sh"

mock_start a
mock_start held			# its port is the one gatherd cannot bind
PORT_P1=$(free_port)
PORT_P2=$(free_port)
PORT_ADM2=$(free_port)
GATHERD_PORT=$PORT_P1
ADMIN_PORT=$(free_port)

# write_config LISTEN WORKERS EXTRA_PATH [ADMIN]: the file gatherd reads,
# swapped in whole: /x, /slow (1.5 s) and EXTRA_PATH, on LISTEN (a YAML
# flow list); ADMIN (an address) gives admin.listen.
write_config() {
	{
		printf 'listen: %s\nworkers: %s\n' "$1" "$2"
		[ -z "${4:-}" ] || printf 'admin:\n  listen: %s\n' "$4"
		cat <<'EOF'
endpoints:
  - path: /x
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/x"}
  - path: /slow
    deadline: 10s
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/slow?delay=1500"}
EOF
		printf '  - path: %s\n    upstreams:\n' "$3"
		printf '      - {name: a, url: "http://127.0.0.1:@PORT_A@%s"}\n' \
		    "$3"
	} >"$T/next.in"
	# Not in a pipeline: gatherd_config must run in this shell, where
	# the ports it uses are set.
	gatherd_config "$T/next.yaml" <"$T/next.in"
	mv -f "$T/next.yaml" "$T/gatherd.yaml"
}

# code_at PORT PATH: the status of one GET (000: no reply).
code_at() {
	curl -sS --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' \
	    "http://127.0.0.1:$1$2" 2>/dev/null || true
}

_answers() { [ "$(code_at "$1" "${2:-/x}")" = 200 ]; }
_refuses() { ! port_open "$1"; }
_not_found() { [ "$(code_at "$1" "$2")" = 404 ]; }
_admin_answers() { [ "$(code_at "$1" /healthz)" = 200 ]; }

# reload_and_log REGEX: SIGHUP, then wait for a new log line matching.
reload_and_log() {
	local before
	before=$(log_count "$1")
	kill -HUP "$GATHERD_PID"
	wait_for _log_count_ge "$1" $((before + 1))
}

write_config "[127.0.0.1:@PORT_P1@]" 2 /one
gatherd_start
wait_for _answers "$PORT_P1"

# 1. [P1] -> [P2], with a request in flight on P1 and a second one queued
# behind it on the same keep-alive connection.
curl -sS --noproxy '*' --max-time 15 -w '%{http_code} %{num_connects}\n' \
    -o "$T/ka1.body" "http://127.0.0.1:$PORT_P1/slow" \
    -o "$T/ka2.body" "http://127.0.0.1:$PORT_P1/x" \
    >"$T/ka.w" 2>"$T/ka.err" &
KA_PID=$!
_track "$KA_PID"
expect_mock_stat a open 1
write_config "[127.0.0.1:@PORT_P2@]" 2 /two
kill -HUP "$GATHERD_PID"
wait_for _answers "$PORT_P2" /two
wait_for -t 3 _refuses "$PORT_P1"
reap 15 "$KA_PID"
log "keep-alive client on P1 across the reload: rc $REAP_RC;" \
    "code and connects of each transfer: $(tr '\n' ' ' <"$T/ka.w")" \
    "$(cat "$T/ka.err")"
# The second request on that connection may be served on it or refused
# by a close (curl then finds P1 closed): either way gatherd lives on.
expect_alive
expect_no_sanitizer_report
[ "$(head -n 1 "$T/ka.w" | cut -d' ' -f1)" = 200 ] ||
    fail "the request in flight on P1 across the reload was not answered 200" \
    "$(cat "$T/ka.w" "$T/ka.err")"
[ "$(json_squeeze <"$T/ka1.body")" = '{"a":{"path":"/slow?delay=1500"}}' ] ||
    fail "the request in flight on P1 got another body" "$(cat "$T/ka1.body")"
_answers "$PORT_P2" || fail "P2 stopped answering"
_refuses "$PORT_P1" || fail "P1 accepts again"

# 2. [P2] -> [P1, P2]: both answer.
write_config "[127.0.0.1:@PORT_P1@, 127.0.0.1:@PORT_P2@]" 2 /three
kill -HUP "$GATHERD_PID"
wait_for _answers "$PORT_P1" /three
wait_for _answers "$PORT_P2" /three

# 3. An address that cannot be opened refuses the whole reload: a port
# another process holds, then a unix socket in a missing directory.
write_config "[127.0.0.1:@PORT_P1@, 127.0.0.1:@PORT_P2@, 127.0.0.1:@PORT_HELD@]" \
    2 /four
reload_and_log "127\.0\.0\.1:$MOCK_HELD_PORT"
_not_found "$PORT_P1" /four || fail "a refused reload changed the endpoints"
_answers "$PORT_P1" /three || fail "P1 stopped answering after a refused reload"
_answers "$PORT_P2" /three || fail "P2 stopped answering after a refused reload"
expect_alive

write_config "[127.0.0.1:@PORT_P1@, 127.0.0.1:@PORT_P2@, \"unix:@T@/no/such/dir/g.sock\"]" \
    2 /four
reload_and_log "$(regex_of "$T/no/such/dir/g.sock")"
_not_found "$PORT_P1" /four || fail "a refused reload changed the endpoints"
_answers "$PORT_P1" /three || fail "P1 stopped answering after a refused reload"
_answers "$PORT_P2" /three || fail "P2 stopped answering after a refused reload"
expect_alive

# 4. workers: 2 -> 3 and -> 1 are refused with a log line each; the rest
# of the file is live anyway.  Back to 2 (what runs), no such line.
WRE='workers.*restart|restart.*workers'
write_config "[127.0.0.1:@PORT_P1@, 127.0.0.1:@PORT_P2@]" 3 /five
reload_and_log "$WRE"
wait_for _answers "$PORT_P1" /five
write_config "[127.0.0.1:@PORT_P1@, 127.0.0.1:@PORT_P2@]" 1 /six
reload_and_log "$WRE"
wait_for _answers "$PORT_P1" /six
n=$(log_count "$WRE")
write_config "[127.0.0.1:@PORT_P1@, 127.0.0.1:@PORT_P2@]" 2 /seven
kill -HUP "$GATHERD_PID"
wait_for _answers "$PORT_P1" /seven
[ "$(log_count "$WRE")" = "$n" ] || fail "a reload back to the running" \
    "workers count was logged as a workers change" \
    "$(grep -E "$WRE" "$T/gatherd.log")"

# 5. admin.listen moves: /healthz on the new port, the old one refuses.
wait_for _admin_answers "$ADMIN_PORT"
write_config "[127.0.0.1:@PORT_P1@, 127.0.0.1:@PORT_P2@]" 2 /eight \
    "127.0.0.1:@PORT_ADM2@"
kill -HUP "$GATHERD_PID"
wait_for _admin_answers "$PORT_ADM2"
log "/healthz on the new admin port: status $(code_at "$PORT_ADM2" /healthz)"
wait_for -t 3 _refuses "$ADMIN_PORT"
_answers "$PORT_P1" /eight || fail "P1 does not serve the new file"
expect_no_sanitizer_report
pass
