#!/bin/bash
# The systemd units that make builds pass `systemd-analyze verify` without
# a word, and gatherd.service's exposure score from `systemd-analyze
# security --offline=true` is 2.0 or better (lower is better).  Both run
# on the unit files alone: no systemd as PID 1 is needed (containers).
# The units also agree with conf/gatherd.yaml and gatherd.h: the socket
# listens where the shipped config does, ExecStartPre checks the file
# that ExecStart runs, so does ExecReload before its SIGHUP, and the stop
# timeout outlasts shutdown_timeout.
. "$(dirname "$0")/../lib.sh"

MAX_EXPOSURE=2.0

command -v systemd-analyze >/dev/null ||
    skip "systemd-analyze is not installed (Debian package systemd)"
_need "$GATHERD"
SERVICE=$top_builddir/systemd/gatherd.service
SOCKET=$top_builddir/systemd/gatherd.socket
for f in "$SERVICE" "$SOCKET"; do
	[ -s "$f" ] || fail "$f is missing (make builds it)"
done

# unit_values FILE KEY: the values of KEY= in FILE, one per line.
unit_values() {
	sed -n "s/^$2=//p" "$1"
}

# verify checks that each command exists, so the test copy runs the
# gatherd just built; it is otherwise the built unit as it is.
bin=$(unit_values "$SERVICE" ExecStart | cut -d' ' -f1)
[ -n "$bin" ] || fail "gatherd.service has no ExecStart="
mkdir "$T/units"
sed "s|^\(Exec[A-Za-z]*=\)$bin |\1$GATHERD |" "$SERVICE" \
    >"$T/units/gatherd.service"
cp "$SOCKET" "$T/units/gatherd.socket"
grep -q "^ExecStart=$GATHERD " "$T/units/gatherd.service" ||
    fail "test copy of gatherd.service does not run $GATHERD"

# Documentation=man:... is checked with man(1), on the pages just built.
man_opt=()
if command -v man >/dev/null; then
	mkdir -p "$T/man/man5" "$T/man/man8"
	cp "$top_builddir/man/gatherd.8" "$T/man/man8/"
	cp "$top_builddir/man/gatherd.yaml.5" "$T/man/man5/"
else
	man_opt=(--man=no)
	log "man is not installed: Documentation= not checked"
fi

# --recursive-errors=no: the exit status speaks for our units only, not
# for the system's targets they name.
rc=0
(cd "$T/units" && MANPATH=$T/man SYSTEMD_COLORS=0 timeout 60 \
    systemd-analyze verify --recursive-errors=no ${man_opt[@]+"${man_opt[@]}"} \
    gatherd.service gatherd.socket) >"$T/verify.out" 2>&1 || rc=$?
log "systemd-analyze verify: exit $rc"
[ ! -s "$T/verify.out" ] || cat "$T/verify.out"
[ "$rc" -eq 0 ] || fail "systemd-analyze verify failed" "$(cat "$T/verify.out")"
if grep -q gatherd "$T/verify.out"; then
	fail "systemd-analyze verify warns about our units" \
	    "$(cat "$T/verify.out")"
fi

rc=0
SYSTEMD_COLORS=0 timeout 60 systemd-analyze security --offline=true \
    --no-pager "$T/units/gatherd.service" >"$T/security.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "systemd-analyze security failed (exit $rc)" \
    "$(cat "$T/security.out")"
score=$(sed -n 's/.*Overall exposure level for gatherd\.service: \([0-9][0-9.]*\).*/\1/p' \
    "$T/security.out")
[ -n "$score" ] || fail "no exposure score in the output" \
    "$(cat "$T/security.out")"
grep '^✗' "$T/security.out" || true
log "exposure level of gatherd.service: $score (at most $MAX_EXPOSURE)"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 <= m + 0) }' ||
    fail "exposure level $score is above $MAX_EXPOSURE" \
    "$(cat "$T/security.out")"

# The socket listens on the shipped config's listen and admin.listen.
conf_addrs=$(awk '
	/^listen:/ { sect = "listen"; next }
	/^admin:/ { sect = "admin"; next }
	/^[^ #]/ { sect = "" }
	sect == "listen" && /^ *- / { print $2 }
	sect == "admin" && /^ *listen:/ { print $2 }' \
    "$top_srcdir/conf/gatherd.yaml" | sort)
sock_addrs=$(unit_values "$SOCKET" ListenStream | sort)
[ -n "$conf_addrs" ] || fail "no listen address found in conf/gatherd.yaml"
[ "$conf_addrs" = "$sock_addrs" ] ||
    fail "gatherd.socket's ListenStream= differ from conf/gatherd.yaml" \
    "config: $(echo $conf_addrs)" "socket: $(echo $sock_addrs)"

# ExecStartPre checks the file that ExecStart serves.
start=$(unit_values "$SERVICE" ExecStart)
pre=$(unit_values "$SERVICE" ExecStartPre)
[ "$pre" = "${start/ -c / -t -c }" ] ||
    fail "ExecStartPre does not check ExecStart's config" \
    "ExecStart=$start" "ExecStartPre=$pre"

# ExecReload checks that file too, then sends SIGHUP: a bad file fails
# systemctl reload, which only the check can tell, since kill succeeds.
reload=$(unit_values "$SERVICE" ExecReload)
want=$(printf '%s\n%s' "$pre" '/bin/kill -HUP $MAINPID')
[ "$reload" = "$want" ] || fail "ExecReload= is not the check, then SIGHUP" \
    "expected:" "$want" "seen:" "$reload"

# TimeoutStopSec outlasts the default shutdown_timeout.
stop=$(unit_values "$SERVICE" TimeoutStopSec)
shut_ms=$(sed -n 's/^#define DEFAULT_SHUTDOWN_TIMEOUT_MS[[:space:]]*\([0-9]*\).*/\1/p' \
    "$top_srcdir/src/gatherd.h")
case $stop in
[0-9]*s) stop_ms=$((${stop%s} * 1000)) ;;
*) fail "TimeoutStopSec=$stop: expected a number of seconds such as 15s" ;;
esac
[ -n "$shut_ms" ] || fail "DEFAULT_SHUTDOWN_TIMEOUT_MS not found in gatherd.h"
[ "$stop_ms" -gt "$shut_ms" ] || fail "TimeoutStopSec=$stop is not above" \
    "the default shutdown_timeout (${shut_ms}ms)"
pass
