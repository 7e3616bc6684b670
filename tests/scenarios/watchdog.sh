#!/bin/bash
# The systemd watchdog: with WATCHDOG_USEC set (and WATCHDOG_PID unset or
# gatherd's own pid), gatherd sends WATCHDOG=1 about every WATCHDOG_USEC/2
# while its workers' loops answer.  systemd kills a service that lets
# WATCHDOG_USEC pass without one, so no gap may reach it, also while
# requests are being served; and they are not a flood either.  With
# WATCHDOG_PID naming another process, or without WATCHDOG_USEC, no
# WATCHDOG=1 is sent at all.
. "$(dirname "$0")/../lib.sh"

WD_USEC=400000
WD_MS=$((WD_USEC / 1000))
N_PINGS=10
BURST=200

mock_start a

# gatherd_start runs this wrapper, which applies $WD_ENV (WATCHDOG_PID=self
# becomes its own pid, as systemd sets it) and then becomes gatherd, so
# that $GATHERD_PID is gatherd's pid.
cat >"$T/gatherd-env" <<'EOF'
#!/bin/bash
unset WATCHDOG_USEC WATCHDOG_PID
for kv in $WD_ENV; do
	[ "$kv" != WATCHDOG_PID=self ] || kv=WATCHDOG_PID=$$
	export "$kv"
done
unset WD_ENV
exec "$REAL_GATHERD" "$@"
EOF
chmod +x "$T/gatherd-env"
export REAL_GATHERD=$GATHERD

# start_case NAME ENV: gatherd (2 workers) on a new port with ENV (words
# VAR=VALUE), its datagrams in $T/notify.out from a fresh notifyrecv, up
# to READY=1; READY_MS is when that came.
start_case() {
	log "--- case $1: ${2:-no watchdog variables}"
	GATHERD_PORT=
	ADMIN_PORT=
	gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /w
    deadline: 5s
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/w?delay=100"}
EOF
	rm -f "$T/notify.out"
	notify_start
	WD_ENV=${2//NOTIFYRECV/$NOTIFY_PID} GATHERD=$T/gatherd-env gatherd_start
	wait_for grep -q ' READY=1$' "$T/notify.out"
	READY_MS=$(awk '$4 == "READY=1" { print $1; exit }' "$T/notify.out")
}

end_case() {
	gatherd_stop
	notify_stop
}

# ping_times: the receive times (ms) of the WATCHDOG=1 lines, one a line.
ping_times() {
	awk '$4 == "WATCHDOG=1" { print $1 }' "$T/notify.out"
}

_pings_ge() {
	[ "$(ping_times | wc -l)" -ge "$1" ]
}

_has_ping() { _pings_ge 1; }

# expect_pings: 3 within 1.5 s of READY=1; then N_PINGS while a burst of
# requests runs, none of them WD_MS or more after the one before (or
# after READY=1), their mean gap not under WD_MS/4; all from gatherd.
expect_pings() {
	local gaps rc=0 pid

	_poll 1.5 _pings_ge 3 || fail "expected 3 WATCHDOG=1 within 1.5 s" \
	    "--- notify.out ---" "$(cat "$T/notify.out")"
	seq "$BURST" | timeout -k 2 20 xargs -P 8 -n 1 sh -c \
	    'curl -sS --noproxy "*" --max-time 10 -o /dev/null \
	    -w "%{http_code}\n" "$0/w"' \
	    "http://127.0.0.1:$GATHERD_PORT" >"$T/burst.codes" 2>&1 &
	pid=$!
	_track "$pid"
	wait_for -t 10 _pings_ge "$N_PINGS"
	reap 25 "$pid"
	[ "$REAP_RC" = 0 ] || fail "the burst of requests failed ($REAP_RC)"
	[ "$(grep -cx 200 "$T/burst.codes")" = "$BURST" ] ||
	    fail "not every request of the burst got 200" \
	    "$(sort "$T/burst.codes" | uniq -c)"
	gaps=$( { echo "$READY_MS"; ping_times; } | awk -v max="$WD_MS" '
		NR > 1 { g = $1 - prev; printf "%d ", g
			if (g >= max) bad = 1; sum += g; n++ }
		{ prev = $1 }
		END { if (n < 1 || sum / n < max / 4) bad = 1; exit bad }') ||
	    rc=$?
	log "WATCHDOG=1 gaps (ms, the first from READY=1): $gaps"
	[ "$rc" = 0 ] || fail "WATCHDOG=1 gaps must stay under $WD_MS ms" \
	    "and average at least $((WD_MS / 4)) ms; seen: $gaps"
	pid=$(awk '$4 == "WATCHDOG=1" { print $3 }' "$T/notify.out" |
	    sort -u | tr '\n' ' ')
	[ "$pid" = "$GATHERD_PID " ] ||
	    fail "WATCHDOG=1 from pids $pid, not gatherd's ($GATHERD_PID)"
}

# expect_no_pings: none within 3 x WATCHDOG_USEC after READY=1 (time
# enough for several at the rate above).
expect_no_pings() {
	if _poll "$(awk -v m="$WD_MS" 'BEGIN { print 3 * m / 1000 }')" _has_ping; then
		fail "WATCHDOG=1 was sent though it must not be" \
		    "--- notify.out ---" "$(cat "$T/notify.out")"
	fi
}

start_case plain "WATCHDOG_USEC=$WD_USEC"
expect_pings
end_case

start_case own-pid "WATCHDOG_USEC=$WD_USEC WATCHDOG_PID=self"
expect_pings
end_case

# Another process's watchdog (as when gatherd runs under a shell that
# systemd started): here notifyrecv's pid, a live process.
start_case other-pid "WATCHDOG_USEC=$WD_USEC WATCHDOG_PID=NOTIFYRECV"
log "WATCHDOG_PID=$NOTIFY_PID (notifyrecv), gatherd is $GATHERD_PID"
expect_no_pings
end_case

start_case none ""
expect_no_pings
pass
