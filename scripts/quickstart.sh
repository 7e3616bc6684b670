#!/bin/sh
# Quick start on Debian 12: install what is missing, build into ./build, and
# run the offline demo: three local demo upstreams (tests/mock_upstream on
# 127.0.0.1:9001-9003) that each answer after 300 ms, gatherd on
# 127.0.0.1:8080 in front of them, and one curl of the aggregate, which
# answers in about 300 ms because the three calls run at once.
#
# usage: scripts/quickstart.sh [--keep]    (--keep: leave the demo running
#                                           until Ctrl-C)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
keep=0
[ "${1:-}" = "--keep" ] && keep=1

scripts/deps.sh
if [ -f config.status ]; then
	echo "the source tree is configured in place: run 'make distclean' first" >&2
	exit 1
fi
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --quiet
make -j"$(nproc)" src/gatherd tests/mock_upstream >/dev/null

for port in 8080 9091 9001 9002 9003; do
	if curl -s --noproxy "*" -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
		echo "port $port is in use: stop what listens there first" >&2
		exit 1
	fi
done

run=$(mktemp -d)
pids=""
cleanup() {
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT INT TERM

for port in 9001 9002 9003; do
	tests/mock_upstream -p "$port" &
	pids="$pids $!"
done
# The demo upstreams are local: no proxy from the environment.
no_proxy="*" NO_PROXY="*" src/gatherd -c "$top/conf/demo.yaml" \
    2>"$run/gatherd.log" &
pids="$pids $!"

# Wait (at most 5 s) until gatherd answers.
i=0
until curl -s --noproxy "*" -o /dev/null http://127.0.0.1:8080/; do
	i=$((i + 1))
	if [ "$i" -ge 50 ]; then
		cat "$run/gatherd.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "\$ curl -s http://127.0.0.1:8080/dashboard/42"
curl -sS --noproxy "*" -D "$run/headers" -w '\n' http://127.0.0.1:8080/dashboard/42
grep -iE '^(x-gather-complete|server-timing):' "$run/headers"
curl -sS --noproxy "*" -o /dev/null -w 'answered in %{time_total} s (the three upstreams take 0.3 s each)\n' \
    http://127.0.0.1:8080/dashboard/42
echo "\$ curl -s http://127.0.0.1:9091/metrics | grep 'gatherd_requests_total{'"
curl -sS --noproxy "*" http://127.0.0.1:9091/metrics |
    grep 'gatherd_requests_total{' || true
echo "gatherd's log:"
cat "$run/gatherd.log"
if [ "$keep" -eq 1 ]; then
	echo "the demo keeps running on http://127.0.0.1:8080/dashboard/{user}" \
	    "(metrics on http://127.0.0.1:9091/metrics); Ctrl-C stops it"
	wait
fi
