#!/bin/bash
# Socket activation (systemd's LISTEN_FDS/LISTEN_PID, here from
# systemd-socket-activate, which execs gatherd on the first connection):
# a passed listening socket whose address is a configured listen (or
# admin.listen) address is served instead of a new one, and the log says
# "socket-activated"; a passed socket that matches no configured address
# is warned about and not served.  With workers: 2, the one activated
# socket serves every request of a burst.  READY=1 still comes, from
# gatherd's pid.
. "$(dirname "$0")/../lib.sh"

SSA=$(command -v systemd-socket-activate 2>/dev/null) ||
    skip "systemd-socket-activate is not installed"

BURST=200
mock_start a

# activated_start ADDR...: gatherd under systemd-socket-activate, one -l
# per ADDR, with NOTIFY_SOCKET (and the sanitizers' options) passed on;
# the first connection to the first ADDR's port makes it exec gatherd,
# which keeps the pid.  Waits for READY=1.  JOURNAL_STREAM is set, so
# each log line starts with its priority: <4> a warning, <6> info.
activated_start() {
	local a args=(-E JOURNAL_STREAM=0:0) v
	for a in "$@"; do
		args+=(-l "$a")
	done
	rm -f "$T/notify.out"
	notify_start
	for v in NOTIFY_SOCKET ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[ -z "${!v:-}" ] || args+=(-E "$v")
	done
	"$SSA" "${args[@]}" "$GATHERD" -c "$T/gatherd.yaml" </dev/null \
	    >>"$T/gatherd.log" 2>&1 &
	GATHERD_PID=$!
	_track "$GATHERD_PID"
	wait_for _gatherd_up
	wait_for _ready
	[ "$(awk '$4 == "READY=1" { print $3; exit }' "$T/notify.out")" = \
	    "$GATHERD_PID" ] || fail "READY=1 did not come from gatherd's pid"
}

_ready() {
	_alive "$GATHERD_PID" || fail "gatherd exited while starting"
	grep -q ' READY=1$' "$T/notify.out"
}

# code_at PORT PATH [SECONDS]: the status of one GET (000: none came).
code_at() {
	curl -sS --noproxy '*' --max-time "${3:-5}" -o /dev/null \
	    -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null || true
}

# expect_activated ADDR: a log line, not a warning, says ADDR is served
# from the socket passed in.
expect_activated() {
	local re
	re=$(regex_of "$1")
	expect_log "^<[567]>.*(socket-activated.*$re|$re.*socket-activated)"
}

new_case() {
	log "--- case: $1"
	GATHERD_PORT=$(free_port)
	ADMIN_PORT=$(free_port)
	: >"$T/gatherd.log"
}

config_for() {
	gatherd_config <<EOF
listen: [@LISTEN@]
workers: $1
endpoints:
  - path: /x
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/x"}
EOF
}

# 1. One activated socket, the configured one.
new_case "one activated listen address"
config_for 1
activated_start "127.0.0.1:$GATHERD_PORT"
expect_activated "127.0.0.1:$GATHERD_PORT"
req GET /x
expect_status 200
expect_body '{"a": {"path":"/x"}}'
gatherd_stop
notify_stop

# 2. A second activated socket that no listen address names: warned
# about, not served (refused or left unanswered: bounded by --max-time);
# an activated admin.listen socket is served as the admin listener.
new_case "an extra activated socket, and the admin one"
PORT_X=$(free_port)
config_for 1
activated_start "127.0.0.1:$GATHERD_PORT" "127.0.0.1:$PORT_X" \
    "127.0.0.1:$ADMIN_PORT"
# The warning names the socket by its address or by its fd (the second
# passed, so 4).
expect_log "^<4>.*(127\.0\.0\.1:$PORT_X|fd 4[^0-9])"
req GET /x
expect_status 200
code=$(code_at "$PORT_X" /x 2)
log "a request to the unmatched activated port: status $code"
[ "$code" = 000 ] || fail "the unmatched activated socket was served" \
    "status $code"
expect_alive
expect_activated "127.0.0.1:$ADMIN_PORT"
code=$(code_at "$ADMIN_PORT" /healthz)
log "/healthz on the activated admin socket: status $code"
[ "$code" = 200 ] || fail "the activated admin socket does not answer" \
    "/healthz with 200" "seen: $code"
gatherd_stop
notify_stop

# 3. workers: 2 on one activated socket: every request of a burst is
# served.
new_case "two workers on one activated socket"
config_for 2
activated_start "127.0.0.1:$GATHERD_PORT"
expect_activated "127.0.0.1:$GATHERD_PORT"
seq "$BURST" | timeout -k 2 30 xargs -P 8 -n 1 sh -c \
    'curl -sS --noproxy "*" --max-time 10 -o /dev/null \
    -w "%{http_code}\n" "$0/x"' "http://127.0.0.1:$GATHERD_PORT" \
    >"$T/burst.codes" 2>&1 || fail "the burst did not finish"
got=$(grep -cx 200 "$T/burst.codes" || true)
log "burst on the activated socket with 2 workers: $got of $BURST got 200"
[ "$got" = "$BURST" ] || fail "not every request of the burst got 200" \
    "$(sort "$T/burst.codes" | uniq -c)"
expect_log_count -t 10 "$BURST" 'req [0-9]+ GET /x -> 200'
pass
