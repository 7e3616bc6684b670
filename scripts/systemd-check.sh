#!/bin/bash
# scripts/systemd-check.sh: gatherd as a real systemd service, end to end.
#
# Builds gatherd from the source tree this script is in (out of tree, in
# the work dir), installs it and its units into a Debian 12 rootfs, boots
# that with systemd-nspawn (systemd 252; private network: every address is
# the container's loopback), drives it with nsenter and checks boot, start
# and sandbox, requests and /metrics, a good and a bad reload, a graceful
# stop, socket activation, a restart that refuses nothing, no seccomp kill.
# Each check prints "ok - WHAT" or "not ok - WHAT" and its evidence, then
# "N passed, N failed"; it exits 0 only if none failed.  gatherd's journal
# is left in WORKDIR/journal.log.
#
#	scripts/systemd-check.sh [-w WORKDIR] [-k]
#	  -w DIR  scratch state (default /var/tmp/gatherd-systemd-check)
#	  -k      keep the root file system, and reuse it if present
#
# Run as root on Debian 12; the host needs no running systemd.  It installs
# what is missing (systemd-container, debootstrap, build dependencies) and,
# without a kept rootfs, downloads about 150 Debian packages with
# debootstrap: a first run takes 1-5 minutes (mostly the download), a run
# that reuses the rootfs (-k) 10-20 s.  On exit, whatever failed, the
# container is powered off and every process started here stopped.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
W=/var/tmp/gatherd-systemd-check KEEP=''
CONF=/etc/gatherd/gatherd.yaml
# Besides what scripts/deps.sh installs to build gatherd:
PKGS="systemd-container debootstrap"
ROOT_PKGS=systemd,systemd-sysv,dbus,curl,libevent-2.1-7,libevent-openssl-2.1-7,libevhtp0,libyaml-0-2,libjansson4,libcurl4,libsystemd0,libhttp-parser2.9,libonig5,procps,iproute2

usage() { sed -n 's/^#\t//p' "$0" >&2; exit 2; }
while getopts w:kh opt; do
	case $opt in
	w) W=$OPTARG ;;
	k) KEEP=1 ;;
	*) usage ;;
	esac
done
[ "$OPTIND" -gt $# ] || usage

# die MESSAGE [LOGFILE]: stop before the checks, with the log's tail.
die() {
	printf 'systemd-check: %s\n' "$1" >&2
	[ -z "${2:-}" ] || { echo "--- end of $2 ---"; tail -n 25 "$2"; } >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] ||
    die "must run as root (debootstrap, systemd-nspawn and nsenter need it)"
[ ! -f "$top/config.status" ] || die "$top is configured in place (it has \
config.status): run 'make distclean' there first, this script builds out of tree"
mkdir -p "$W" || die "cannot create the work dir $W"
W=$(cd "$W" && pwd)
[ "$W" != / ] || die "the work dir cannot be /"
ROOT=$W/rootfs B=$W/build R=$W/run LOG=$W/build.log
NSPAWN='' CT='' BG=()
exec 9>"$W/lock"
flock -n 9 || die "another run is using $W"

# Stop the background requests (KILL: an nsenter whose child the shutdown
# stopped stops itself too), power the container off (killed if not gone
# in 20 s), remove the rootfs unless -k.
cleanup() {
	local rc=$? pid i
	trap - EXIT
	for pid in ${BG[@]+"${BG[@]}"}; do
		# shellcheck disable=SC2046
		kill -KILL $(pgrep -P "$pid") "$pid" 2>/dev/null
	done
	if [ -n "$CT" ] && nspawn_up; then
		ct 30 journalctl -b --no-pager -o short-precise -u gatherd \
		    -u gatherd.socket >"$W/journal.log" 2>&1
		ct 10 systemctl poweroff >/dev/null 2>&1
	fi
	for ((i = 0; i < 100; i++)); do
		nspawn_up || break
		sleep 0.2
	done
	if nspawn_up; then
		echo "# still up after 20 s: killing systemd-nspawn" >&2
		kill -TERM "$NSPAWN"
		sleep 5
		kill -KILL "$NSPAWN" ${CT:+"$CT"} 2>/dev/null
	fi
	wait 2>/dev/null
	[ -n "$KEEP" ] || drop_rootfs
	exit "$rc"
}
nspawn_up() { [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; }
drop_rootfs() { rm -rf --one-file-system "$ROOT" "$W/root.ok"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

install_packages() {
	local p missing=''
	"$top/scripts/deps.sh" >>"$LOG" 2>&1 ||
	    die "scripts/deps.sh could not install the build dependencies" "$LOG"
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'ok installed' || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	echo "# installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >>"$LOG" 2>&1 || die "apt-get update failed" "$LOG"
	for p in $missing; do
		apt-get install -y -qq "$p" >>"$LOG" 2>&1 || die \
		    "cannot install the package $p (apt-get install $p failed)" "$LOG"
	done
}

build() {
	[ "$(cat "$B/.srcdir" 2>/dev/null)" = "$top" ] || rm -rf "$B"
	mkdir -p "$B" && echo "$top" >"$B/.srcdir"
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) >>"$LOG" 2>&1 ||
	    die "autoreconf failed" "$LOG"
	[ -f "$B/Makefile" ] || (cd "$B" && "$top/configure" --prefix=/usr \
	    --sysconfdir=/etc --localstatedir=/var \
	    --with-systemdsystemunitdir=/lib/systemd/system) >>"$LOG" 2>&1 ||
	    die "configure failed" "$LOG"
	make -C "$B" -j"$(nproc)" all tests/mock_upstream >>"$LOG" 2>&1 ||
	    die "the build failed" "$LOG"
}

make_rootfs() {
	if [ -n "$KEEP" ] && [ -f "$W/root.ok" ]; then
		echo "# reusing the rootfs $ROOT"
		return 0
	fi
	drop_rootfs || die "cannot remove the old rootfs $ROOT"
	echo "# debootstrap bookworm into $ROOT (downloads Debian packages)"
	timeout 1800 debootstrap --variant=minbase --include="$ROOT_PKGS" bookworm \
	    "$ROOT" >"$W/debootstrap.log" 2>&1 ||
	    die "debootstrap failed" "$W/debootstrap.log"
	touch "$W/root.ok"
}

# conf [extra]: the configuration under test; extra adds /extra/{user}.
conf() {
	cat <<'EOF'
listen: [127.0.0.1:8080]
workers: 2
admin:
  listen: 127.0.0.1:9091
endpoints:
  - path: /dashboard/{user}
    deadline: 5s
    upstreams:
      - {name: profile, url: "http://127.0.0.1:9001/users/{user}", required: true}
  - path: /slow/{user}
    deadline: 8s
    upstreams:
      - {name: slow, url: "http://127.0.0.1:9001/slow/{user}", timeout: 6s,
         forward_query: [delay], required: true}
EOF
	[ "${1:-}" != extra ] || printf '%s\n' '  - path: /extra/{user}' \
	    '    upstreams: [{name: extra, url: "http://127.0.0.1:9001/extra/{user}"}]'
}
put_conf() { (umask 022 && cat >"$ROOT$CONF"); }

install_gatherd() {
	make -C "$B" install DESTDIR="$ROOT" >>"$LOG" 2>&1 ||
	    die "make install DESTDIR=$ROOT failed" "$LOG"
	install -m 755 "$B/tests/mock_upstream" "$ROOT/usr/local/bin/" ||
	    die "cannot install mock_upstream into $ROOT"
	conf | put_conf
}

# boot: start the container; CT is the host pid of its systemd.
boot() {
	local end=$((SECONDS + 30))
	setsid systemd-nspawn -D "$ROOT" -M gatherd-check --register=no \
	    --keep-unit --private-network -b --console=pipe \
	    </dev/null >"$W/nspawn.log" 2>&1 &
	NSPAWN=$!
	while [ "$SECONDS" -lt "$end" ] && kill -0 "$NSPAWN" 2>/dev/null; do
		CT=$(pgrep -P "$NSPAWN" -x systemd | head -n 1)
		[ -z "$CT" ] || return 0
		sleep 0.2
	done
	return 1
}

# ct SECONDS CMD...: CMD in all the container's namespaces, bounded.
# ct_bg NAME CMD...: the same in the background (at most 60 s), output in
# $R/NAME.out; BGPID is its timeout's pid.
CT_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SYSTEMD_PAGER=cat SYSTEMD_COLORS=0)
ct() { timeout -k 5 "$1" nsenter -t "$CT" -a "${CT_ENV[@]}" "${@:2}"; }
ct_bg() {
	timeout -k 5 60 nsenter -t "$CT" -a "${CT_ENV[@]}" "${@:2}" \
	    >"$R/$1.out" 2>&1 &
	BGPID=$!
	BG+=("$BGPID")
}
prop() { ct 15 systemctl show -p "$1" --value "${2:-gatherd}"; }

# get URL: curl in the container; sets CODE, TIME and BODY.
get() {
	local out
	out=$(ct 20 curl -s --noproxy '*' --max-time 10 \
	    -w '\n%{http_code} %{time_total}' "$1")
	BODY=${out%$'\n'*} CODE=${out##*$'\n'}
	TIME=${CODE#* } CODE=${CODE%% *}
}
get_ok() { get "$1"; [ "$CODE" = 200 ] || why "GET $1: status '$CODE' ($BODY)"; }
# slow NAME: a request through gatherd that the mock answers in 1.5 s.
slow() {
	ct_bg "$1" curl -s --noproxy '*' --max-time 10 -o /dev/null \
	    -w '%{http_code} %{time_total}\n' "http://127.0.0.1:8080/slow/$1?delay=1500"
}

# poll SECONDS CMD...: run CMD every 0.1 s until it succeeds, bounded.
poll() {
	local end=$((SECONDS + $1))
	until "${@:2}"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}
mock_busy() { ct 10 curl -s --max-time 5 http://127.0.0.1:9001/_stats | grep -q '"open":[1-9]'; }
journal() { ct 30 journalctl -q -b --no-pager -o cat -u gatherd --since "@$1"; }
journal_has() { journal "$1" | grep -qF -- "$2"; }
status_is() { [ "$(prop StatusText)" = "$1" ]; }
metric_is() { ct 20 curl -s --max-time 10 http://127.0.0.1:9091/metrics | grep -qxF "$1"; }

# why EVIDENCE...: the check fails; report WHAT: ok, or not ok and why.
PASS=0 FAIL=0 WHY=()
why() { WHY+=("$@"); }
report() {
	if [ ${#WHY[@]} -eq 0 ]; then
		echo "ok - $1"
		PASS=$((PASS + 1))
	else
		echo "not ok - $1"
		printf '%s\n' "${WHY[@]}" | sed 's/^/#   /'
		FAIL=$((FAIL + 1))
	fi
	WHY=()
}

check_boot() {
	local st='' failed end=$((SECONDS + 60))
	until [ "$st" = running ] || [ "$st" = degraded ] || [ "$SECONDS" -ge "$end" ]; do
		sleep 0.5
		st=$(ct 10 systemctl is-system-running 2>/dev/null)
	done
	failed=$(ct 10 systemctl list-units --failed --plain --no-legend 2>&1)
	[ -z "$failed" ] || echo "# failed units: $failed"
	case $st in
	running) ;;
	degraded) ! echo "$failed" | grep -q gatherd || why "a gatherd unit failed" ;;
	*) why "is-system-running: '$st' after 60 s" "$(tail -n 15 "$W/nspawn.log")" ;;
	esac
	report "boot: systemctl is-system-running is $st"
}

check_start() {
	local pid st uid t0=$EPOCHSECONDS
	ct 60 systemctl start gatherd || why "systemctl start gatherd: exit $?" "$(journal "$t0")"
	st=$(prop StatusText)
	[ "$st" = "serving 2 endpoints with 2 workers" ] || why "StatusText: '$st'"
	pid=$(prop MainPID)
	st=$(ct 10 grep -E '^(Uid|Cap...|NoNewPrivs|Seccomp):' "/proc/$pid/status" 2>&1)
	uid=$(echo "$st" | awk '$1 == "Uid:" { print $2 }')
	echo "$st" | grep -Eq '^CapEff:\s+0+$' || why "CapEff is not 0"
	echo "$st" | grep -Eq '^NoNewPrivs:\s+1$' || why "NoNewPrivs is not 1"
	echo "$st" | grep -Eq '^Seccomp:\s+2$' || why "Seccomp is not 2"
	if ! [ "${uid:-0}" -ge 61184 ] || ! [ "$uid" -le 65519 ]; then
		why "uid '$uid' is not a dynamic one (61184..65519)"
	fi
	[ ${#WHY[@]} -eq 0 ] || why "/proc/$pid/status:" "$st"
	report "start: active, '$(prop StatusText)', pid $pid: uid $uid, CapEff 0, NoNewPrivs 1, Seccomp 2"
}

check_requests() {
	local want='{"profile":{"path":"/users/alice"}}' line
	line='gatherd_requests_total{endpoint="/dashboard/{user}",method="GET",status="200"} 1'
	ct 15 systemd-run -q --unit=gatherd-check-mock /usr/local/bin/mock_upstream -p 9001 ||
	    why "systemd-run mock_upstream failed"
	poll 5 ct 10 curl -sf --max-time 5 -o /dev/null http://127.0.0.1:9001/_stats ||
	    why "mock_upstream does not answer on 127.0.0.1:9001"
	get_ok http://127.0.0.1:8080/dashboard/alice
	[ "$(printf '%s' "$BODY" | tr -d ' \n')" = "$want" ] ||
	    why "body: '$BODY'" "expected: '$want'"
	get_ok http://127.0.0.1:9091/readyz
	get_ok http://127.0.0.1:9091/healthz
	poll 5 metric_is "$line" || why "/metrics lacks: $line" "seen: $(ct 20 curl -s \
	    --max-time 10 http://127.0.0.1:9091/metrics | grep '^gatherd_requests_total')"
	report "requests: aggregate 200 with the expected body, /readyz and /healthz 200, /metrics counts it"
}

check_good_reload() {
	local rc=0 t0=$EPOCHSECONDS
	conf extra | put_conf
	ct 30 systemctl reload gatherd || rc=$?
	[ "$rc" -eq 0 ] || why "systemctl reload gatherd: exit $rc" "$(journal "$t0")"
	poll 5 status_is "serving 3 endpoints with 2 workers (reloaded)" ||
	    why "StatusText: '$(prop StatusText)'"
	get_ok http://127.0.0.1:8080/extra/bob
	report "good reload: exit 0, '$(prop StatusText)', the new route answers 200"
}

check_bad_reload() {
	local rc=0 t0=$EPOCHSECONDS pid0 ln col err
	pid0=$(prop MainPID)
	conf extra | sed '0,/deadline: 5s/s//deadline: soon/' | put_conf
	ln=$(grep -n 'deadline: soon' "$ROOT$CONF" | cut -d: -f1)
	col=$(awk -v l="$ln" 'NR == l { print index($0, "soon") }' "$ROOT$CONF")
	err="$CONF:$ln:$col: endpoints[0].deadline: bad duration"
	ct 30 systemctl reload gatherd 2>/dev/null || rc=$?
	[ "$rc" -ne 0 ] || why "systemctl reload gatherd exited 0 on a bad file"
	[ "$(prop ActiveState)" = active ] || why "ActiveState: $(prop ActiveState)"
	[ "$(prop MainPID)" = "$pid0" ] || why "MainPID changed: $pid0 -> $(prop MainPID)"
	poll 5 journal_has "$t0" "$err" ||
	    why "the journal lacks: $err" "--- journal ---" "$(journal "$t0")"
	get_ok http://127.0.0.1:8080/dashboard/alice
	get_ok http://127.0.0.1:8080/extra/bob
	conf extra | put_conf
	report "bad reload: exit $rc, still active, '$err' in the journal, the routes answer"
}

check_stop() {
	local rc=0 res out t0=$EPOCHSECONDS
	slow stop1
	poll 5 mock_busy || why "the slow request never reached the mock"
	ct 30 systemctl stop gatherd || rc=$?
	wait "$BGPID"
	out=$(cat "$R/stop1.out")
	res=$(prop Result)
	[ "$rc" -eq 0 ] || why "systemctl stop gatherd: exit $rc"
	[ "${out%% *}" = 200 ] || why "the request in flight: '$out'"
	[ "$res" = success ] || why "Result: $res" "$(journal "$t0")"
	report "stop: the request in flight completes 200 in ${out#* } s, exit 0, Result=$res"
}

check_socket() {
	local st t0=$EPOCHSECONDS
	ct 30 systemctl start gatherd.socket || why "systemctl start gatherd.socket failed"
	st=$(prop ActiveState)
	[ "$st" = inactive ] || why "gatherd is '$st' before the first connection"
	get_ok http://127.0.0.1:8080/dashboard/carol
	[ "$(prop ActiveState)" = active ] || why "gatherd is not active after the request"
	poll 5 journal_has "$t0" "(socket-activated)" ||
	    why "the journal does not say socket-activated" "$(journal "$t0")"
	report "socket activation: the first request starts gatherd and gets 200 in $TIME s"
}

check_restart() {
	local rc=0 n bad worst out pid0 pid1 spid t0=$EPOCHSECONDS
	[ "$(prop ActiveState gatherd.socket)" = active ] || why "gatherd.socket is not active"
	pid0=$(prop MainPID)
	slow restart1
	spid=$BGPID
	poll 5 mock_busy || why "the slow request never reached the mock"
	# shellcheck disable=SC2016  # expanded by the shell in the container
	ct_bg loop bash -c 'for i in $(seq 30); do
		curl -s --noproxy "*" --max-time 10 -o /dev/null \
		    -w "%{http_code} %{time_total} %{exitcode}\n" "$0$i"
		sleep 0.1
	done' http://127.0.0.1:8080/dashboard/u
	poll 5 test -s "$R/loop.out"
	ct 60 systemctl restart gatherd || rc=$?
	wait "$spid" "$BGPID"
	pid1=$(prop MainPID)
	out=$(cat "$R/restart1.out")
	bad=$(awk '$1 != 200 || $3 != 0' "$R/loop.out")
	read -r n worst < <(awk '$2 > w { w = $2 } END { print NR, w + 0 }' "$R/loop.out")
	[ "$rc" -eq 0 ] || why "systemctl restart gatherd: exit $rc" "$(journal "$t0")"
	[ "$pid1" != "$pid0" ] || why "MainPID did not change ($pid0): no restart"
	[ "${out%% *}" = 200 ] || why "the slow request in flight: '$out'"
	[ "$n" -eq 30 ] || why "$n of 30 requests ran"
	[ -z "$bad" ] || why "failed requests (status seconds curl-exit):" "$bad"
	report "restart (pid $pid0 -> $pid1): slow request ${out%% *}, $n fast requests all 200, none refused, worst ${worst} s"
}

check_no_kill() {
	local hits nr
	hits=$(ct 30 journalctl -q -b --no-pager -o short-precise |
	    grep -E 'SIGSYS|status=31|code=killed.*SYS|[Ss]eccomp.*(kill|violat)')
	nr=$(prop NRestarts)
	[ -z "$hits" ] || why "journal:" "$hits"
	[ "$nr" = 0 ] || why "NRestarts: '$nr'"
	report "no SIGSYS, seccomp kill or status=31 in the journal, NRestarts=$nr"
}

mkdir -p "$R" && rm -f "$R"/*.out && : >"$LOG"
install_packages
echo "# building $top in $B"
build
make_rootfs
install_gatherd
echo "# booting the container"
boot || die "systemd-nspawn did not start systemd" "$W/nspawn.log"
check_boot
if [ "$FAIL" -eq 0 ]; then
	for step in start requests good_reload bad_reload stop socket restart no_kill; do
		"check_$step"
	done
else
	echo "# the container did not boot: no other check ran"
	FAIL=$((FAIL + 8))
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
