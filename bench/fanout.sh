#!/bin/bash
# bench/fanout.sh: what one gatherd fan-out costs, against real upstreams.
#
# Starts one nginx listening on three loopback ports (three upstreams) and
# gatherd with one endpoint, /fanout, that calls all three; then runs wrk
# against gatherd RUNS times, and the same load directly against one nginx
# location for comparison.  For every run it prints requests/s and requests
# per CPU-second of the server under load (utime+stime from /proc/PID/stat
# before and after the run), then the medians and the gatherd/nginx ratios.
# With -H MS, each gatherd run is paired with one during which gatherd is
# sent SIGHUP every MS milliseconds (a full reload of the same file), and
# the ratio of the two medians says what reloading under load costs.
# See bench/README.md.  Loopback only; every run is bounded in time.
#
#	bench/fanout.sh [-g GATHERD] [-w WORKERS] [-r RUNS] [-d SECONDS]
#	    [-c CONNECTIONS] [-t THREADS] [-H MS] [-k]
set -eu
# Loopback only: gatherd (libcurl) must not send upstream calls to a proxy
# named in the environment.
export no_proxy="*" NO_PROXY="*"

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
GATHERD=${GATHERD:-}
WORKERS=1 RUNS=3 DURATION=10 CONNS=32 THREADS=2 KEEP="" HUP_MS=""

usage() {
	sed -n 's/^#\t//p' "$0" >&2
	exit 2
}

while getopts g:w:r:d:c:t:H:kh opt; do
	case $opt in
	g) GATHERD=$OPTARG ;;
	w) WORKERS=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	d) DURATION=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	H) HUP_MS=$OPTARG ;;
	k) KEEP=1 ;;
	*) usage ;;
	esac
done

# between NAME VALUE LO HI: a whole number within bounds, or stop.
between() {
	case $2 in
	'' | *[!0-9]*) echo "$1 must be a number: $2" >&2; exit 2 ;;
	esac
	if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		echo "$1 must be within $3..$4: $2" >&2
		exit 2
	fi
}
between runs "$RUNS" 1 10
between seconds "$DURATION" 1 60
between connections "$CONNS" 1 1024
between threads "$THREADS" 1 16
[ "$WORKERS" = auto ] || between workers "$WORKERS" 1 64
[ -z "$HUP_MS" ] || between 'reload period (ms)' "$HUP_MS" 50 10000

if [ -z "$GATHERD" ]; then
	for g in "$PWD/src/gatherd" "$top_srcdir/src/gatherd" \
	    "$top_srcdir/build-plain/src/gatherd"; do
		if [ -x "$g" ]; then
			GATHERD=$g
			break
		fi
	done
fi
[ -n "$GATHERD" ] && [ -x "$GATHERD" ] ||
    { echo "no gatherd binary: build it, or pass -g PATH" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }
. "$top_srcdir/tests/nginx.sh"
nginx_bin >/dev/null || { echo "nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }
if ldd "$GATHERD" 2>/dev/null | grep -q 'libasan'; then
	echo "warning: $GATHERD is a sanitizer build; numbers will be low" >&2
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/gatherd-bench.XXXXXX")
PIDS=()
cleanup() {
	local pid i
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			[ "$(state "$pid")" != Z ] || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$KEEP" ]; then
		echo "kept: $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# state PID: the process state letter (Z for an unreaped child).
state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo X; return; }
	s=${s##*) }
	echo "${s%% *}"
}

# cpu_ticks PID: utime + stime of the whole process (all threads).
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	set -- $s
	echo $((${12} + ${13}))
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a loopback port below the ephemeral range that nobody answers.
free_port() {
	local i p
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		case " ${USED_PORTS:-} " in *" $p "*) continue ;; esac
		if ! port_open "$p"; then
			USED_PORTS="${USED_PORTS:-} $p"
			echo "$p"
			return 0
		fi
	done
	echo "no free port" >&2
	return 1
}

# wait_port PID PORT: up to 5 s for PORT to accept while PID lives.
wait_port() {
	local i
	for ((i = 0; i < 250; i++)); do
		port_open "$2" && return 0
		case $(state "$1") in Z | X)
			echo "process $1 exited while starting" >&2
			return 1 ;;
		esac
		sleep 0.02
	done
	echo "port $2 did not open within 5 s" >&2
	return 1
}

P1=$(free_port) P2=$(free_port) P3=$(free_port) PG=$(free_port)
NGINX_ACCESS_LOG=off nginx_write_conf "$T/nginx" "$P1" "$P2" "$P3"
nginx_launch "$T/nginx"
PIDS+=("$NGINX_PID")
wait_port "$NGINX_PID" "$P3" || { cat "$T/nginx/error.log" >&2; exit 1; }

cat >"$T/gatherd.yaml" <<EOF
listen: [127.0.0.1:$PG]
workers: $WORKERS
endpoints:
  - path: /fanout
    deadline: 2s
    upstreams:
      - name: a
        url: http://127.0.0.1:$P1/users/1
        timeout: 1s
      - name: b
        url: http://127.0.0.1:$P2/users/1
        timeout: 1s
      - name: c
        url: http://127.0.0.1:$P3/users/1
        timeout: 1s
EOF
"$GATHERD" -c "$T/gatherd.yaml" </dev/null >"$T/gatherd.log" 2>&1 &
GPID=$!
PIDS+=("$GPID")
wait_port "$GPID" "$PG" || { tail -20 "$T/gatherd.log" >&2; exit 1; }

GURL=http://127.0.0.1:$PG/fanout
NURL=http://127.0.0.1:$P1/users/1
check=$(curl -sS --noproxy '*' --max-time 5 -D "$T/check.h" "$GURL")
if ! grep -qi '^X-Gather-Complete: true' "$T/check.h"; then
	echo "gatherd's /fanout is not complete: $check" >&2
	tail -20 "$T/gatherd.log" >&2
	exit 1
fi

CLK_TCK=$(getconf CLK_TCK)

# reloads: the reloads gatherd has logged as live so far.
reloads() {
	grep -c 'reload: configuration from .* is live' "$T/gatherd.log" || true
}

# hup_loop PID: SIGHUP to PID every HUP_MS ms for the run's duration.
hup_loop() {
	local j s
	s=$(awk -v m="$HUP_MS" 'BEGIN { print m / 1000 }')
	for ((j = 0; j < DURATION * 1000 / HUP_MS; j++)); do
		sleep "$s"
		kill -HUP "$1" 2>/dev/null || return 0
	done
}

# run LABEL PID URL N: one bounded wrk run; prints one result line and
# appends "rps reqs_per_cpu_s" to $T/LABEL.results.  For the label
# reloading, gatherd is sent SIGHUPs during the run, and the notes say
# how many reloads it made live.
run() {
	local label=$1 pid=$2 url=$3 n=$4 c0 c1 out reqs rps lat cpu rpc errs
	local hup='' r0
	out=$T/wrk.$label.$n
	if [ "$label" = reloading ]; then
		r0=$(reloads)
		hup_loop "$pid" &
		hup=$!
	fi
	c0=$(cpu_ticks "$pid")
	timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" \
	    --timeout 2s "$url" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
	c1=$(cpu_ticks "$pid")
	if [ -n "$hup" ]; then
		wait "$hup"
		sleep 0.2	# the last reload's log line
	fi
	reqs=$(awk '/ requests in / { print $1 }' "$out")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	lat=$(awk '$1 == "Latency" { print $2 }' "$out")
	errs=$(awk '/Non-2xx|Socket errors/ { sub(/^ +/, ""); printf "%s; ", $0 }' "$out")
	cpu=$(awk -v t=$((c1 - c0)) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')
	rpc=$(awk -v r="$reqs" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "inf" }')
	[ -z "$hup" ] || errs="$(($(reloads) - r0)) reloads; $errs"
	printf '%-16s %6s %10s %9s %8s %12s %s\n' "$label" "$n" "$rps" "$lat" \
	    "$cpu" "$rpc" "$errs"
	echo "$rps $rpc" >>"$T/$label.results"
}

# median LABEL COLUMN
median() {
	awk -v c="$2" '{ print $c }' "$T/$1.results" | sort -g |
	    awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "gatherd fan-out benchmark: $GATHERD"
echo "workers: $WORKERS; wrk -t$THREADS -c$CONNS -d${DURATION}s; $RUNS runs;" \
    "3 upstreams (nginx $(nginx_bin) on 127.0.0.1:$P1,$P2,$P3); $(nproc) CPUs"
echo
printf '%-16s %6s %10s %9s %8s %12s %s\n' target run 'req/s' latency \
    'cpu-s' 'req/cpu-s' notes
# Warm-up: connections, pools and caches, not measured.
timeout 30 wrk -t"$THREADS" -c"$CONNS" -d2s "$GURL" >/dev/null 2>&1 || true
for ((i = 1; i <= RUNS; i++)); do
	run gatherd "$GPID" "$GURL" "$i"
	[ -z "$HUP_MS" ] || run reloading "$GPID" "$GURL" "$i"
done
for ((i = 1; i <= RUNS; i++)); do
	run nginx "$NGINX_PID" "$NURL" "$i"
done

g_rps=$(median gatherd 1) g_rpc=$(median gatherd 2)
n_rps=$(median nginx 1) n_rpc=$(median nginx 2)
echo
printf '%-16s %6s %10s %9s %8s %12s\n' gatherd median "$g_rps" '' '' "$g_rpc"
if [ -n "$HUP_MS" ]; then
	r_rps=$(median reloading 1) r_rpc=$(median reloading 2)
	printf '%-16s %6s %10s %9s %8s %12s\n' reloading median "$r_rps" '' '' \
	    "$r_rpc"
fi
printf '%-16s %6s %10s %9s %8s %12s\n' nginx median "$n_rps" '' '' "$n_rpc"
echo
awk -v g="$g_rps" -v n="$n_rps" -v gc="$g_rpc" -v nc="$n_rpc" 'BEGIN {
	printf "gatherd/nginx requests/s:           %.3f\n", g / n
	printf "gatherd/nginx requests per CPU-s:   %.3f\n", gc / nc
	printf "upstream calls per gatherd CPU-s:   %.0f (3 per request)\n", gc * 3
}'
if [ -n "$HUP_MS" ]; then
	awk -v g="$g_rps" -v r="$r_rps" -v gc="$g_rpc" -v rc="$r_rpc" \
	    -v ms="$HUP_MS" 'BEGIN {
		printf "reloading/steady requests/s:        %.3f (SIGHUP every %d ms)\n", r / g, ms
		printf "reloading/steady requests per CPU-s: %.3f\n", rc / gc
	}'
fi
