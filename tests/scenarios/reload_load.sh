#!/bin/bash
# Reload under load with zero failed requests.  wrk keeps 32 connections
# busy on /agg (two upstreams) for 10 s while the test sends 20 SIGHUPs,
# one every RELOAD_SLOT_MS, cycling through three files swapped in whole
# (written aside, then renamed): B, a broken one, A.  A and B both serve
# /agg; A also /only-a, B also /only-b.  After each good reload the new
# file's own route answers 200 and the other's 404 (polled, bounded);
# after each broken one the error is logged at its FILE:LINE:COL and the
# running file goes on serving.  In the end wrk saw no socket error and
# no reply other than 2xx, the broken file's error was logged exactly
# once per broken reload, and gatherd is alive with no sanitizer report.
# The figures (wrk's requests, rate and latency, the reloads of each
# kind, how long a reload took to show) go to the log.
. "$(dirname "$0")/../lib.sh"

command -v wrk >/dev/null 2>&1 || skip "wrk is not installed"

RELOADS=20
RELOAD_SLOT_MS=400
WRK_SECS=10
WRK_MAX_SECS=60

mock_start a
mock_start b

# The two good files differ in their own route; /agg is in both.
gatherd_config "$T/a.yaml" <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /agg
    deadline: 5s
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/agg-a"}
      - {name: b, url: "http://127.0.0.1:@PORT_B@/agg-b"}
  - path: /only-a
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/only-a"}
EOF
gatherd_config "$T/b.yaml" <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /agg
    deadline: 5s
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/agg-a"}
      - {name: b, url: "http://127.0.0.1:@PORT_B@/agg-b"}
  - path: /only-b
    upstreams:
      - {name: b, url: "http://127.0.0.1:@PORT_B@/only-b"}
EOF
# The broken file: one bad duration, at line 5, column 15.
gatherd_config "$T/broken.yaml" <<'EOF'
listen: [@LISTEN@]
workers: 2
endpoints:
  - path: /agg
    deadline: soon
    upstreams:
      - {name: a, url: "http://127.0.0.1:@PORT_A@/agg-a"}
      - {name: b, url: "http://127.0.0.1:@PORT_B@/agg-b"}
EOF
BROKEN_AT=5:15
gatherd_check "$T/broken.yaml"
expect_check_rc 1
expect_check_line "^$(regex_of "$T/broken.yaml"):$BROKEN_AT: "
BROKEN_RE="^([^ ]+ )*$(regex_of "$T/gatherd.yaml"):$BROKEN_AT: "

# put_config NAME: $T/NAME.yaml becomes $T/gatherd.yaml whole.
put_config() {
	cp "$T/$1.yaml" "$T/next.yaml"
	mv -f "$T/next.yaml" "$T/gatherd.yaml"
}

# code_of PATH: the status of one GET of PATH (000 when none came).
code_of() {
	curl -sS --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' \
	    "http://127.0.0.1:$GATHERD_PORT$1" 2>/dev/null || true
}

# _serves NAME: the file NAME is live: its route answers 200 and the
# other file's route 404, twice each (on new connections, which the
# kernel spreads over both workers).
_serves() {
	local mine=/only-$1 other=/only-a i
	[ "$1" = b ] || other=/only-b
	for ((i = 0; i < 2; i++)); do
		[ "$(code_of "$mine")" = 200 ] || return 1
		[ "$(code_of "$other")" = 404 ] || return 1
	done
}

_broken_logged() {
	[ "$(log_count "$BROKEN_RE")" -ge "$1" ]
}

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# sleep_until T0 MS: sleep until MS milliseconds after now_ms's T0.
sleep_until() {
	local left=$(($1 + $2 - $(now_ms)))
	[ "$left" -le 0 ] || sleep "$(awk -v m="$left" 'BEGIN { print m / 1000 }')"
}

put_config a
gatherd_start
wait_for _serves a

wrk_t0=$(now_ms)
timeout -k 5 $((WRK_MAX_SECS + 20)) wrk -t2 -c32 -d"${WRK_MAX_SECS}s" \
    --latency "http://127.0.0.1:$GATHERD_PORT/agg" >"$T/wrk.out" 2>&1 &
WRK_PID=$!
_track "$WRK_PID"
# The reloads start once the load is on: the upstreams see /agg calls.
_load_on() { [ "$(mock_stat b requests)" -ge 100 ]; }
wait_for _load_on

live=a n_a=0 n_b=0 n_broken=0 worst_ms=0
for ((i = 0; i < RELOADS; i++)); do
	t0=$(now_ms)
	case $((i % 3)) in
	0) kind=b ;;
	1) kind=broken ;;
	2) kind=a ;;
	esac
	_alive "$WRK_PID" || fail "wrk ended before reload $((i + 1)) of" \
	    "$RELOADS: the reloads must all happen under load" \
	    "$(cat "$T/wrk.out")"
	put_config "$kind"
	kill -HUP "$GATHERD_PID"
	if [ "$kind" = broken ]; then
		n_broken=$((n_broken + 1))
		wait_for _broken_logged "$n_broken"
		[ "$(code_of "/only-$live")" = 200 ] ||
		    fail "after a broken reload, /only-$live no longer answers"
	else
		eval "n_$kind=\$((n_$kind + 1))"
		wait_for _serves "$kind"
		live=$kind
	fi
	expect_alive
	t1=$(now_ms)
	[ $((t1 - t0)) -le "$worst_ms" ] || worst_ms=$((t1 - t0))
	# Pace: the next SIGHUP goes out RELOAD_SLOT_MS after this one.
	sleep_until "$t0" "$RELOAD_SLOT_MS"
done

# The load goes on for WRK_SECS in all, then wrk stops and reports.
sleep_until "$wrk_t0" $((WRK_SECS * 1000))
_alive "$WRK_PID" || fail "wrk ended before the load was stopped" \
    "$(cat "$T/wrk.out")"
kill -INT "$WRK_PID"
reap 30 "$WRK_PID"
log "--- wrk ---"
cat "$T/wrk.out"
log "---"
[ "$REAP_RC" = 0 ] || fail "wrk exited $REAP_RC"

requests=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$T/wrk.out")
rate=$(sed -n 's/^Requests\/sec: *//p' "$T/wrk.out")
p50=$(awk '$1 == "50%" { print $2 }' "$T/wrk.out")
p99=$(awk '$1 == "99%" { print $2 }' "$T/wrk.out")
log "reload_load: wrk $requests requests, $rate req/s, latency p50 $p50," \
    "p99 $p99; $RELOADS SIGHUPs: $n_a to A, $n_b to B, $n_broken broken;" \
    "slowest reload to show: ${worst_ms} ms"

[ -n "$requests" ] && [ "$requests" -gt 0 ] ||
    fail "wrk made no requests" "$(cat "$T/wrk.out")"
if grep -q '^ *Socket errors:' "$T/wrk.out"; then
	errs=$(sed -n 's/^ *Socket errors: //p' "$T/wrk.out")
	[ -z "$(printf '%s' "$errs" | tr -d 'a-z, 0')" ] ||
	    fail "wrk saw socket errors: $errs"
fi
if grep -q 'Non-2xx or 3xx responses' "$T/wrk.out"; then
	fail "wrk saw replies other than 2xx/3xx" \
	    "$(grep 'Non-2xx' "$T/wrk.out")"
fi
got=$(log_count "$BROKEN_RE")
[ "$got" = "$n_broken" ] || fail "expected the broken file's" \
    "$T/gatherd.yaml:$BROKEN_AT logged once per broken reload ($n_broken)" \
    "seen: $got"
expect_alive
expect_no_sanitizer_report
pass
