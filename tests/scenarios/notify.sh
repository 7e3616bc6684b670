#!/bin/bash
# gatherd tells systemd what it does through sd_notify ($NOTIFY_SOCKET),
# one datagram per event, in this order and nothing else (no watchdog
# here): READY=1 with STATUS=serving N endpoints with W workers once it
# serves; on SIGHUP RELOADING=1 with MONOTONIC_USEC= in the same datagram
# (systemd's Type=notify-reload wants both in one message), then READY=1
# with the new STATUS= -- or, for a broken file, a STATUS= that says
# "reload failed"; on SIGTERM STOPPING=1 with a STATUS=.  Every datagram
# comes from gatherd's pid.  READY=1 after a reload means the reload is
# done (`systemctl reload` returns on it): the new endpoints answer on
# every worker at once, with no polling.
. "$(dirname "$0")/../lib.sh"

unset WATCHDOG_USEC WATCHDOG_PID

# expect_dgram K REGEX...: datagram K holds exactly these lines, in any
# order: each REGEX (anchored) matches one of its lines, and each of its
# lines is matched by one.  A REGEX written ?REGEX may match none.
expect_dgram() {
	local k=$1 re line ok lines=()
	shift
	mapfile -t lines < <(notify_dgram "$k")
	for re in "$@"; do
		ok=
		for line in ${lines[@]+"${lines[@]}"}; do
			[[ $line =~ ^(${re#\?})$ ]] && { ok=1; break; }
		done
		[ -n "$ok" ] || [ "${re:0:1}" = '?' ] ||
		    fail "datagram $k: no line matches: ${re#\?}" \
		    "--- notify.out ---" "$(cat "$T/notify.out")"
	done
	for line in ${lines[@]+"${lines[@]}"}; do
		ok=
		for re in "$@"; do
			[[ $line =~ ^(${re#\?})$ ]] && { ok=1; break; }
		done
		[ -n "$ok" ] || fail "datagram $k: unexpected line: $line" \
		    "--- notify.out ---" "$(cat "$T/notify.out")"
	done
}

# dgram_value K KEY: the value of KEY= in datagram K.
dgram_value() {
	notify_dgram "$1" | sed -n "s/^$2=//p" | head -n 1
}

# expect_monotonic K: datagram K's MONOTONIC_USEC is on CLOCK_MONOTONIC,
# taken before the datagram was sent and less than 5 s before notifyrecv
# stamped it on the same clock.  MONOTONIC_MS is set to it, in ms.
expect_monotonic() {
	local usec recv up
	usec=$(dgram_value "$1" MONOTONIC_USEC)
	[[ $usec =~ ^[0-9]+$ ]] ||
	    fail "datagram $1: MONOTONIC_USEC is not a number: '$usec'"
	recv=$(awk -v k="$1" '$2 == k { print $1; exit }' "$T/notify.out")
	MONOTONIC_MS=$((usec / 1000))
	up=$(awk '{ printf "%d", $1 * 1000 }' /proc/uptime)
	log "datagram $1: MONOTONIC_USEC=$usec, received at ${recv} ms" \
	    "(CLOCK_MONOTONIC), /proc/uptime now ${up} ms"
	[ "$MONOTONIC_MS" -le "$recv" ] && [ $((recv - MONOTONIC_MS)) -le 5000 ] ||
	    fail "datagram $1: MONOTONIC_USEC=$usec is not CLOCK_MONOTONIC" \
	    "within 5 s before it was received (at $recv ms)"
}

# serves_all PATH N: N requests on new connections all answer 200 (with
# two workers, SO_REUSEPORT spreads them over both).
serves_all() {
	local i
	for ((i = 0; i < $2; i++)); do
		req GET "$1"
		expect_status 200
	done
}

# put_config: the YAML on stdin becomes $T/gatherd.yaml whole (written
# aside, then renamed), as an operator's editor or deploy tool would.
put_config() {
	gatherd_config "$T/next.yaml"
	mv -f "$T/next.yaml" "$T/gatherd.yaml"
}

mock_start a
notify_start
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /one
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/one"}
  - path: /two
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/two"}
EOF
gatherd_start

# 1. Started: READY=1 with its status.
expect_notify_count 1
expect_dgram 1 'READY=1' 'STATUS=serving 2 endpoints with 2 workers'
req GET /one
expect_status 200

# 2. A good reload: RELOADING=1 + MONOTONIC_USEC, then READY=1 with the
# status of the new file, which is live on both workers by then.
put_config <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /one
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/one"}
  - path: /two
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/two"}
  - path: /three
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/three"}
EOF
[ "$(notify_count)" = 1 ] || fail "datagrams before the SIGHUP" \
    "$(cat "$T/notify.out")"
kill -HUP "$GATHERD_PID"
expect_notify_count 3
expect_dgram 2 'RELOADING=1' 'MONOTONIC_USEC=[0-9]+' '?STATUS=.+'
expect_monotonic 2
first_ms=$MONOTONIC_MS
expect_dgram 3 'READY=1' 'STATUS=serving 3 endpoints with 2 workers( .*)?'
serves_all /three 8
expect_body '{"a": {"path":"/three"}}'

# 3. A broken reload: RELOADING=1 again, then READY=1 with a STATUS= that
# says it failed; the error is logged at its place and the running config
# keeps serving.
put_config <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /one
    deadline: soon
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/one"}
EOF
kill -HUP "$GATHERD_PID"
expect_notify_count 5
expect_dgram 4 'RELOADING=1' 'MONOTONIC_USEC=[0-9]+' '?STATUS=.+'
expect_monotonic 4
[ "$MONOTONIC_MS" -ge "$first_ms" ] ||
    fail "MONOTONIC_USEC went back between two reloads"
expect_dgram 5 'READY=1' 'STATUS=.*reload failed.*'
expect_log "$(regex_of "$T/gatherd.yaml"):5:15: "
serves_all /three 4
expect_alive

# 4. SIGTERM: STOPPING=1 with a status, the last datagram; exit 0.
gatherd_pid=$GATHERD_PID
gatherd_stop
notify_stop
expect_dgram 6 'STOPPING=1' 'STATUS=.+'
[ "$(notify_count)" = 6 ] || fail "expected 6 datagrams in all" \
    "seen: $(notify_count)" "--- notify.out ---" "$(cat "$T/notify.out")"
pids=$(awk '{ print $3 }' "$T/notify.out" | sort -u | tr '\n' ' ')
[ "$pids" = "$gatherd_pid " ] || fail "datagrams from pids: $pids" \
    "expected only gatherd's: $gatherd_pid"
log "sd_notify datagrams:" "$(cat "$T/notify.out")"
pass
