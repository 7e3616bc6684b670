# tests/lib.sh: the shared part of gatherd's integration scenarios.
#
# Each tests/scenarios/NAME.sh sources this file, then states in order what
# its mock upstreams do (query parameters in the upstream URLs of its YAML),
# what the client sends, and what the client and the upstreams must see:
#
#	mock_start a
#	gatherd_config <<'EOF'
#	listen: [@LISTEN@]
#	endpoints:
#	  - path: /x
#	    upstreams:
#	      - {name: a, url: "http://127.0.0.1:@PORT_A@/a?delay=100"}
#	EOF
#	gatherd_start
#	req GET /x
#	expect_status 200
#	expect_body '{"a": {"path":"/a?delay=100"}}'
#	pass
#
# Every process started here is stopped by the EXIT trap, and the temp dir
# $T removed (kept when KEEP_TMP is set, or printed on failure with it).
# Every wait is a poll of a condition bounded in time: nothing sleeps to
# synchronise.  Run by hand from the source tree after `make check` built
# the helpers:	bash tests/scenarios/NAME.sh
# (VPATH: top_srcdir=... top_builddir=... bash $top_srcdir/tests/...).
#
# Placeholders in gatherd_config: @LISTEN@ (127.0.0.1:$GATHERD_PORT),
# @PORT_X@ ($MOCK_X_PORT from mock_start x, or $PORT_X), @T@ (temp dir).

set -eu

SCENARIO=$(basename "$0" .sh)
_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$_lib_dir/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${GATHERD:=$top_builddir/src/gatherd}"
MOCK=$top_builddir/tests/mock_upstream
RAWCLIENT=$top_builddir/tests/rawclient
export top_srcdir top_builddir GATHERD

. "$top_srcdir/tests/nginx.sh"

# Polling step and default bound, in seconds.
POLL_STEP=0.02
WAIT_DEFAULT=5

T=$(mktemp -d "${TMPDIR:-/tmp}/gatherd-$SCENARIO.XXXXXX")
_PIDS=()
GATHERD_PID=
GATHERD_PORT=${GATHERD_PORT:-}
ADMIN_PORT=${ADMIN_PORT:-}
REQ_STATUS= REQ_TIME= REQ_RC=0
RAW_RC=0

_cleanup() {
	local rc=$? pid i
	trap - EXIT
	for pid in ${_PIDS[@]+"${_PIDS[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in ${_PIDS[@]+"${_PIDS[@]}"}; do
		for ((i = 0; i < 250; i++)); do
			_alive "$pid" || break
			sleep "$POLL_STEP"
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	_release_ports
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "temp dir kept: $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM HUP

_track() { _PIDS+=("$1"); }

_untrack() {
	local keep=() pid
	for pid in ${_PIDS[@]+"${_PIDS[@]}"}; do
		[ "$pid" = "$1" ] || keep+=("$pid")
	done
	_PIDS=(${keep[@]+"${keep[@]}"})
}

# A child that exited is a zombie until waited for: kill -0 still succeeds.
_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

log() { printf '%s\n' "$*"; }

# fail MESSAGE...: say what went wrong, show gatherd's log, exit 1.
fail() {
	{
		printf 'FAIL: %s: %s\n' "$SCENARIO" "$1"
		shift
		[ $# -eq 0 ] || printf '%s\n' "$@"
		if [ -s "$T/gatherd.log" ]; then
			echo "--- gatherd log (last 30 lines) ---"
			tail -n 30 "$T/gatherd.log"
			echo "---"
		fi
	} >&2
	exit 1
}

skip() {
	echo "SKIP: $SCENARIO: $*"
	exit 77
}

# _poll SECONDS CMD...: run CMD every $POLL_STEP until it succeeds (0),
# SECONDS / POLL_STEP + 1 times at most (1).
_poll() {
	local secs=$1 n i
	shift
	n=$(awk -v s="$secs" -v d="$POLL_STEP" 'BEGIN { print int(s / d) + 1 }')
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep "$POLL_STEP"
	done
	return 1
}

# wait_for [-t SECONDS] CMD...: poll CMD until it succeeds, or fail.
wait_for() {
	local secs=$WAIT_DEFAULT
	if [ "$1" = -t ]; then
		secs=$2
		shift 2
	fi
	_poll "$secs" "$@" && return 0
	"$@" && return 0
	fail "timed out after ${secs}s waiting for: $*"
}

# reap SECONDS PID: PID must exit within SECONDS (else fail); its exit
# status in REAP_RC, and it is no longer stopped at exit.
reap() {
	REAP_RC=0
	wait_for -t "$1" _gone "$2"
	wait "$2" || REAP_RC=$?
	_untrack "$2"
}

# regex_of PATH: PATH as an extended regex (its dots escaped).
regex_of() {
	printf '%s' "$1" | sed 's/[.]/\\./g'
}

# free_port: print a loopback port nothing is bound to.  gatherd listens
# with SO_REUSEPORT, so two scenarios run in parallel that drew the same
# port would share it without an error: each port is also claimed by a
# symlink to $T in $PORT_CLAIMS, made atomically and removed at exit.  A
# claim whose temp dir is gone was left by a killed run and is taken over.
PORT_CLAIMS=${TMPDIR:-/tmp}/gatherd-test-ports
free_port() {
	local i p
	mkdir -p "$PORT_CLAIMS"
	for ((i = 0; i < 50; i++)); do
		p=$("$MOCK" -F) || return 1
		if ln -sn "$T" "$PORT_CLAIMS/$p" 2>/dev/null; then
			echo "$p"
			return 0
		fi
		if [ ! -d "$(readlink "$PORT_CLAIMS/$p")" ] &&
		    rm -f "$PORT_CLAIMS/$p" &&
		    ln -sn "$T" "$PORT_CLAIMS/$p" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

_release_ports() {
	local f
	for f in "${PORT_CLAIMS:-/nonexistent}"/*; do
		[ -L "$f" ] && [ "$(readlink "$f")" = "$T" ] && rm -f "$f"
	done
	return 0
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_need() {
	[ -x "$1" ] || fail "$1 is missing: build it first (make check)"
}

# ------------------------------------------------------------------------
# Mock upstreams (tests/mock_upstream.c)

# mock_start NAME: a mock on a free port; exports MOCK_<NAME>_PORT; its log
# is $T/NAME.log.
mock_start() {
	local name=$1 up pid
	up=$(printf '%s' "$name" | tr '[:lower:]-' '[:upper:]_')
	_need "$MOCK"
	"$MOCK" -p 0 -P "$T/$name.port" -l "$T/$name.log" \
	    2>>"$T/$name.err" &
	pid=$!
	_track "$pid"
	wait_for test -s "$T/$name.port"
	eval "MOCK_${up}_PORT=\$(cat \"\$T/\$name.port\")"
	eval "MOCK_${up}_PID=$pid"
	export "MOCK_${up}_PORT"
}

_mock_port() {
	local up v
	up=$(printf '%s' "$1" | tr '[:lower:]-' '[:upper:]_')
	v="MOCK_${up}_PORT"
	printf '%s' "${!v}"
}

# mock_get NAME PATH: GET from the mock itself, print the body.
mock_get() {
	curl -sS --noproxy '*' --max-time 5 \
	    "http://127.0.0.1:$(_mock_port "$1")$2"
}

# mock_stat NAME FIELD: one number of the mock's /_stats.
mock_stat() {
	mock_get "$1" /_stats | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

mock_reset() {
	mock_get "$1" /_reset >/dev/null
}

_mock_stat_is() {
	[ "$(mock_stat "$1" "$2")" = "$3" ]
}

# expect_mock_stat NAME FIELD N [SECONDS]: wait until the counter is N.
expect_mock_stat() {
	_poll "${4:-$WAIT_DEFAULT}" _mock_stat_is "$1" "$2" "$3" ||
	    fail "mock $1: expected $2 = $3" "seen: $(mock_get "$1" /_stats)"
}

_mock_log_has() {
	grep -Eq -- "$2" "$T/$1.log" 2>/dev/null
}

# expect_mock_log NAME REGEX: some line of the mock's log matches (polled,
# since the upstream call may still be on its way).
expect_mock_log() {
	_poll "$WAIT_DEFAULT" _mock_log_has "$1" "$2" ||
	    fail "mock $1: no log line matches: $2" "--- $1 log ---" \
	    "$(cat "$T/$1.log" 2>/dev/null)"
}

# expect_no_mock_log NAME REGEX: no line matches (checked now).
expect_no_mock_log() {
	if grep -Eq -- "$2" "$T/$1.log" 2>/dev/null; then
		fail "mock $1: a log line matches what must not be seen: $2" \
		    "--- $1 log ---" "$(cat "$T/$1.log")"
	fi
}

# expect_mock_header NAME 'Header: value': the mock's log has a HDR line
# with that value exactly and that name in any case.
expect_mock_header() {
	local name=${2%%:*} want=${2#*: }
	awk -v n="${name,,}" -v w="$want" '
		substr($0, 1, 4) == "HDR " {
			i = index($0, ": ")
			if (tolower(substr($0, 5, i - 5)) == n &&
			    substr($0, i + 2) == w)
				found = 1
		}
		END { exit !found }' "$T/$1.log" ||
	    fail "mock $1: expected header '$2'" "--- $1 log ---" \
	    "$(cat "$T/$1.log" 2>/dev/null)"
}

# expect_no_mock_header NAME HEADER: no HDR line names it (any case).
expect_no_mock_header() {
	if awk -v n="${2,,}" '
		substr($0, 1, 4) == "HDR " {
			i = index($0, ": ")
			if (tolower(substr($0, 5, i - 5)) == n)
				found = 1
		}
		END { exit !found }' "$T/$1.log"; then
		fail "mock $1: header $2 must not reach the upstream" \
		    "--- $1 log ---" "$(cat "$T/$1.log")"
	fi
}

# mock_log_count NAME REGEX: how many lines match.
mock_log_count() {
	grep -Ec -- "$2" "$T/$1.log" 2>/dev/null || true
}

# ------------------------------------------------------------------------
# nginx (tests/nginx.sh): a real third-party upstream.

# nginx_start: nginx on a free port, its files under $T/nginx; exports
# NGINX_PORT (@PORT_NGINX@).  Exits 77 (skip) when nginx is not installed.
nginx_start() {
	nginx_bin >/dev/null || skip "nginx is not installed"
	NGINX_PORT=$(free_port)
	export NGINX_PORT
	nginx_write_conf "$T/nginx" "$NGINX_PORT"
	nginx_launch "$T/nginx"
	_track "$NGINX_PID"
	wait_for _nginx_up
}

_nginx_up() {
	_alive "$NGINX_PID" || fail "nginx exited while starting" \
	    "$(cat "$T/nginx/error.log" 2>/dev/null)"
	port_open "$NGINX_PORT"
}

# ------------------------------------------------------------------------
# gatherd

# gatherd_config [FILE]: write the YAML on stdin to FILE (default
# $T/gatherd.yaml), replacing the @...@ placeholders.
gatherd_config() {
	local file=${1:-$T/gatherd.yaml} v name args=()
	if [ -z "$GATHERD_PORT" ]; then
		GATHERD_PORT=$(free_port) || fail "no free port for gatherd"
	fi
	if [ -z "$ADMIN_PORT" ]; then
		ADMIN_PORT=$(free_port) || fail "no free port for the admin"
	fi
	args+=(-e "s|@LISTEN@|127.0.0.1:$GATHERD_PORT|g" -e "s|@T@|$T|g")
	args+=(-e "s|@ADMIN@|127.0.0.1:$ADMIN_PORT|g")
	for v in $(compgen -v); do
		case $v in
		MOCK_*_PORT) name=${v#MOCK_}; name=${name%_PORT} ;;
		PORT_*) name=${v#PORT_} ;;
		NGINX_PORT) name=NGINX ;;
		*) continue ;;
		esac
		args+=(-e "s|@PORT_$name@|${!v}|g")
	done
	sed "${args[@]}" >"$file"
	# Each test's admin listener gets its own port, not the default one.
	if grep -q '^listen:' "$file" && ! grep -q '^admin:' "$file"; then
		printf 'admin:\n  listen: 127.0.0.1:%s\n' "$ADMIN_PORT" \
		    >>"$file"
	fi
	if grep -n '@[A-Z_]*@' "$file" >&2; then
		fail "unresolved placeholder in $file"
	fi
}

# gatherd_start [ARGS...]: run gatherd on $T/gatherd.yaml, stderr to
# $T/gatherd.log, and wait until its port accepts connections.
gatherd_start() {
	_need "$GATHERD"
	"$GATHERD" -c "$T/gatherd.yaml" "$@" </dev/null \
	    >>"$T/gatherd.log" 2>&1 &
	GATHERD_PID=$!
	_track "$GATHERD_PID"
	wait_for _gatherd_up
}

_gatherd_up() {
	_alive "$GATHERD_PID" || fail "gatherd exited while starting"
	port_open "$GATHERD_PORT"
}

_gone() { ! _alive "$1"; }

# gatherd_refuses: its port refuses connections (it stopped listening).
gatherd_refuses() { ! port_open "$GATHERD_PORT"; }

# gatherd_reap SECONDS: gatherd, already signalled, must exit within
# SECONDS; its exit status in REAP_RC.
gatherd_reap() {
	reap "$1" "$GATHERD_PID"
	GATHERD_PID=
}

# sanitizer_report: gatherd's log holds a sanitizer report.
sanitizer_report() {
	grep -Eq 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' \
	    "$T/gatherd.log"
}

# expect_no_sanitizer_report: checked in every build, not only when
# SANITIZER_BUILD is set: a plain build never writes one, and a sanitizer
# build should not depend on the variable being passed down.
expect_no_sanitizer_report() {
	if sanitizer_report; then
		fail "sanitizer report in gatherd's log"
	fi
}

# gatherd_stop: SIGTERM; it must exit 0 within shutdown_timeout, and its
# log must hold no sanitizer report.
gatherd_stop() {
	[ -n "$GATHERD_PID" ] || return 0
	_alive "$GATHERD_PID" || fail "gatherd died before SIGTERM"
	kill -TERM "$GATHERD_PID"
	gatherd_reap 15
	[ "$REAP_RC" -eq 0 ] ||
	    fail "gatherd exited with status $REAP_RC on SIGTERM"
	expect_no_sanitizer_report
}

# gatherd_run FILE: `gatherd -c FILE`, which must exit by itself (as on a
# bad config) within the default wait; its output in $T/start.out, its
# exit status in REAP_RC.
gatherd_run() {
	local pid
	"$GATHERD" -c "$1" >"$T/start.out" 2>&1 </dev/null &
	pid=$!
	_track "$pid"
	reap "$WAIT_DEFAULT" "$pid"
}

# expect_alive: gatherd must still be running (e.g. after a client left).
expect_alive() {
	_alive "$GATHERD_PID" || fail "gatherd is no longer running"
}

# gatherd_check FILE: run `gatherd -t -c FILE`; output in $T/check.out,
# exit status in CHECK_RC.
gatherd_check() {
	_need "$GATHERD"
	CHECK_RC=0
	"$GATHERD" -t -c "$1" </dev/null >"$T/check.out" 2>&1 || CHECK_RC=$?
}

expect_check_rc() {
	[ "$CHECK_RC" = "$1" ] || fail "gatherd -t: expected exit $1" \
	    "seen: exit $CHECK_RC" "--- output ---" "$(cat "$T/check.out")"
}

# expect_check_line REGEX: some line of gatherd -t's output matches.
expect_check_line() {
	grep -Eq -- "$1" "$T/check.out" || fail \
	    "gatherd -t: no output line matches: $1" "--- output ---" \
	    "$(cat "$T/check.out")"
}

_log_has() {
	grep -Eq -- "$1" "$T/gatherd.log"
}

# expect_log REGEX: some line of gatherd's log matches (polled: the
# per-request line is written when the request closes).
expect_log() {
	_poll "$WAIT_DEFAULT" _log_has "$1" ||
	    fail "gatherd log: no line matches: $1"
}

# log_count REGEX: how many lines of gatherd's log match.
log_count() {
	grep -Ec -- "$1" "$T/gatherd.log" || true
}

_log_count_ge() {
	[ "$(log_count "$1")" -ge "$2" ]
}

# expect_log_count [-t SECONDS] N REGEX: once at least N lines of the log
# match (polled, bounded), exactly N do.
expect_log_count() {
	local secs=$WAIT_DEFAULT got
	if [ "$1" = -t ]; then
		secs=$2
		shift 2
	fi
	wait_for -t "$secs" _log_count_ge "$2" "$1"
	got=$(log_count "$2")
	[ "$got" = "$1" ] || fail "expected $1 log lines matching: $2" \
	    "seen: $got"
}

# ------------------------------------------------------------------------
# Requests with curl

# req METHOD PATH [CURL ARGS...]: sets REQ_STATUS, REQ_TIME (seconds) and
# REQ_RC; headers in $T/headers, body in $T/body.  REQ_BASE replaces
# http://127.0.0.1:$GATHERD_PORT (e.g. for a [::1] listener).
req() {
	local method=$1 path=$2 out
	shift 2
	local m=(-X "$method")
	[ "$method" != HEAD ] || m=(-I)
	: >"$T/headers"
	: >"$T/body"
	REQ_RC=0
	out=$(curl -sS --noproxy '*' --path-as-is --max-time 15 "${m[@]}" \
	    -D "$T/headers" -o "$T/body" -w '%{http_code} %{time_total}' \
	    "$@" "${REQ_BASE:-http://127.0.0.1:$GATHERD_PORT}$path" \
	    2>"$T/curl.err") ||
	    REQ_RC=$?
	_req_done "$out" "$method $path"
}

# _req_done OUT WHAT: REQ_STATUS and REQ_TIME from curl's -w output OUT.
_req_done() {
	REQ_STATUS=${1%% *}
	REQ_TIME=${1#* }
	log "req $2 -> $REQ_STATUS in ${REQ_TIME}s (curl $REQ_RC)"
}

# req_start NAME METHOD PATH [CURL ARGS...]: req in the background, for
# requests that must be in flight while something else happens.
req_start() {
	local name=$1 method=$2 path=$3
	shift 3
	curl -sS --noproxy '*' --path-as-is --max-time 15 -X "$method" \
	    -D "$T/$name.headers" -o "$T/$name.body" \
	    -w '%{http_code} %{time_total}' "$@" \
	    "http://127.0.0.1:$GATHERD_PORT$path" >"$T/$name.w" \
	    2>"$T/$name.err" &
	eval "REQ_PID_$name=$!"
	_track "$!"
}

# req_finish NAME: wait (bounded) for it; its reply becomes the one the
# expect_* functions look at.
req_finish() {
	local name=$1 out v
	v="REQ_PID_$name"
	reap 20 "${!v}"
	cp "$T/$name.headers" "$T/headers" 2>/dev/null || : >"$T/headers"
	cp "$T/$name.body" "$T/body" 2>/dev/null || : >"$T/body"
	cp "$T/$name.err" "$T/curl.err"
	out=$(cat "$T/$name.w")
	REQ_RC=$REAP_RC
	_req_done "$out" "$name"
}

_show_reply() {
	echo "--- reply headers ---"
	tr -d '\r' <"$T/headers"
	echo "--- reply body ---"
	cat "$T/body"
	echo
	[ ! -s "$T/curl.err" ] || { echo "--- curl ---"; cat "$T/curl.err"; }
}

expect_status() {
	[ "$REQ_STATUS" = "$1" ] || fail "expected status $1" \
	    "seen: $REQ_STATUS" "$(_show_reply)"
}

# _header_values FILE NAME: the values of NAME in the last reply head in
# FILE, one a line, leading and trailing blanks removed.
_header_values() {
	local line name=${2,,} vals=() v
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		case $line in
		HTTP/*) vals=(); continue ;;
		"") continue ;;
		*:*) ;;
		*) continue ;;
		esac
		v=${line%%:*}
		[ "${v,,}" = "$name" ] || continue
		v=${line#*:}
		v=${v#"${v%%[![:blank:]]*}"}
		v=${v%"${v##*[![:blank:]]}"}
		vals+=("$v")
	done <"$1"
	[ ${#vals[@]} -eq 0 ] || printf '%s\n' "${vals[@]}"
}

# expect_header 'Name: value': exact value, name case-insensitive.
expect_header() {
	local name=${1%%:*} want=${1#*: }
	_header_values "$T/headers" "$name" | grep -Fxq -- "$want" ||
	    fail "expected header '$1'" \
	    "seen $name: $(_header_values "$T/headers" "$name" | tr '\n' ' ')" \
	    "$(_show_reply)"
}

# expect_header_re NAME REGEX: the value matches an extended regex.
expect_header_re() {
	_header_values "$T/headers" "$1" | grep -Eq -- "$2" ||
	    fail "expected header $1 matching: $2" \
	    "seen $1: $(_header_values "$T/headers" "$1" | tr '\n' ' ')" \
	    "$(_show_reply)"
}

expect_no_header() {
	if [ -n "$(_header_values "$T/headers" "$1")" ]; then
		fail "expected no $1 header" "$(_show_reply)"
	fi
}

# Whitespace between JSON tokens is not part of gatherd's contract (the
# examples in DESIGN.md are spaced, the replies compact): bodies are
# compared after json_squeeze on both sides.  What is inside strings, and
# so the bytes of an upstream's JSON spliced into the reply apart from its
# own blanks, is compared exactly; expect_body_has checks a splice byte for
# byte where that matters.

# json_squeeze: stdin without the blanks outside JSON strings.
json_squeeze() {
	LC_ALL=C awk 'BEGIN { RS = "\001"; ORS = "" }
	{
		out = ""; n = length($0); str = 0; esc = 0
		for (i = 1; i <= n; i++) {
			c = substr($0, i, 1)
			if (str) {
				out = out c
				if (esc) esc = 0
				else if (c == "\\") esc = 1
				else if (c == "\"") str = 0
			} else if (c == "\"") {
				out = out c
				str = 1
			} else if (c != " " && c != "\t" && c != "\n" && c != "\r")
				out = out c
		}
		print out
	}'
}

# norm_json: json_squeeze, then the varying parts of an error reply made
# comparable: "ms": 123.4 -> "ms":N; the text of "message" and "error"
# -> "...".
norm_json() {
	json_squeeze | sed -E \
	    -e 's/"ms":-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/"ms":N/g' \
	    -e 's/"(message|error)":"([^"\\]|\\.)*"/"\1":"..."/g'
}

# expect_body 'JSON': the body, as JSON text (see json_squeeze).
expect_body() {
	local got want
	got=$(json_squeeze <"$T/body")
	want=$(printf '%s' "$1" | json_squeeze)
	[ "$got" = "$want" ] || fail "unexpected body" "expected: $want" \
	    "seen:     $got" "$(_show_reply)"
}

# expect_body_norm 'JSON': the same after norm_json on both sides, for
# replies holding _errors or an "error" text.
expect_body_norm() {
	local got want
	got=$(norm_json <"$T/body")
	want=$(printf '%s' "$1" | norm_json)
	[ "$got" = "$want" ] || fail "unexpected body (normalised)" \
	    "expected: $want" "seen:     $got" "$(_show_reply)"
}

# expect_body_has 'BYTES': the body holds these bytes exactly.
expect_body_has() {
	grep -qF -- "$1" "$T/body" || fail "body does not hold: $1" \
	    "$(_show_reply)"
}

expect_body_re() {
	grep -Eq -- "$1" "$T/body" || fail "body does not match: $1" \
	    "$(_show_reply)"
}

# expect_time_below SECONDS: the last request took less.
expect_time_below() {
	awk -v t="$REQ_TIME" -v m="$1" 'BEGIN { exit !(t + 0 < m + 0) }' ||
	    fail "expected the request to take under ${1}s" \
	    "seen: ${REQ_TIME}s"
}

# ------------------------------------------------------------------------
# Raw requests (tests/rawclient.c)

# raw [RAWCLIENT OPTIONS...] <<EOF: send stdin to gatherd as raw bytes;
# the reply in $T/raw.out, the exit status in RAW_RC.
raw() {
	_need "$RAWCLIENT"
	RAW_RC=0
	"$RAWCLIENT" 127.0.0.1 "$GATHERD_PORT" "$@" >"$T/raw.out" \
	    2>"$T/raw.err" || RAW_RC=$?
	log "raw $* -> $(head -n 1 "$T/raw.out" | tr -d '\r') (rc $RAW_RC)"
}

_show_raw() {
	echo "--- raw reply ---"
	cat -A "$T/raw.out" | head -n 40
	[ ! -s "$T/raw.err" ] || { echo "--- rawclient ---"; cat "$T/raw.err"; }
}

# raw_statuses: the status code of every reply in $T/raw.out, in order.
# A reply's status line may follow the previous body on the same line.
raw_statuses() {
	tr -d '\r' <"$T/raw.out" |
	    sed 's|HTTP/1\.[01] [0-9][0-9][0-9] |\n&|g' |
	    sed -n 's|^HTTP/1\.[01] \([0-9][0-9][0-9]\) .*|\1|p'
}

# expect_raw_status N: the first reply's status.
expect_raw_status() {
	local got
	got=$(head -n 1 "$T/raw.out" | tr -d '\r' |
	    sed -n 's|^HTTP/1\.[01] \([0-9][0-9][0-9]\).*|\1|p')
	[ "$got" = "$1" ] || fail "expected raw status $1" "seen: ${got:-none}" \
	    "$(_show_raw)"
}

# raw_head / raw_body: the first reply's head and what follows it.
raw_head() {
	tr -d '\r' <"$T/raw.out" | sed '/^$/q'
}

raw_body() {
	local cl
	raw_head >"$T/raw.head"
	cl=$(_header_values "$T/raw.head" Content-Length | head -n 1)
	if grep -iq '^transfer-encoding:.*chunked' "$T/raw.head"; then
		sed '1,/^\r\{0,1\}$/d' "$T/raw.out" | _dechunk
	elif [ -n "$cl" ]; then
		sed '1,/^\r\{0,1\}$/d' "$T/raw.out" | head -c "$cl"
	else
		sed '1,/^\r\{0,1\}$/d' "$T/raw.out"
	fi
}

# _dechunk: a chunked body on stdin, its data on stdout (bounded by input).
_dechunk() {
	local LC_ALL=C line size data
	while IFS= read -r line; do
		line=${line%$'\r'}
		size=$((16#${line%%;*}))
		[ "$size" -gt 0 ] || break
		IFS= read -r -N "$size" data || true
		printf '%s' "$data"
		IFS= read -r line || true
	done
}

expect_raw_header() {
	local name=${1%%:*} want=${1#*: }
	raw_head >"$T/raw.head"
	_header_values "$T/raw.head" "$name" | grep -Fxq -- "$want" ||
	    fail "expected raw reply header '$1'" "$(_show_raw)"
}

# expect_raw_body_norm 'JSON': the first reply's body, as expect_body_norm.
expect_raw_body_norm() {
	local got want
	got=$(raw_body | norm_json)
	want=$(printf '%s' "$1" | norm_json)
	[ "$got" = "$want" ] || fail "unexpected raw body (normalised)" \
	    "expected: $want" "seen:     $got" "$(_show_raw)"
}

# ------------------------------------------------------------------------

# pass: stop gatherd with SIGTERM (checked) and end the scenario.
pass() {
	gatherd_stop
	echo "PASS: $SCENARIO"
	exit 0
}

# ------------------------------------------------------------------------
# sd_notify (tests/notifyrecv.c), for notify.sh, watchdog.sh and
# socket_activation.sh.

NOTIFYRECV=$top_builddir/tests/notifyrecv

# notify_start: a notifyrecv on $T/notify.sock, writing $T/notify.out
# (lines "MS SEQ PID TEXT": see tests/notifyrecv.c); exports NOTIFY_SOCKET
# so that the gatherd started next (and only it reads it) reports there.
notify_start() {
	_need "$NOTIFYRECV"
	"$NOTIFYRECV" -s "$T/notify.sock" -o "$T/notify.out" -t 600 \
	    2>>"$T/notifyrecv.err" &
	NOTIFY_PID=$!
	_track "$NOTIFY_PID"
	wait_for test -S "$T/notify.sock"
	NOTIFY_SOCKET=$T/notify.sock
	export NOTIFY_SOCKET
}

# notify_count: how many datagrams came so far.
notify_count() {
	awk 'END { print n + 0 } { if ($2 + 0 > n) n = $2 + 0 }' \
	    "$T/notify.out" 2>/dev/null || echo 0
}

# notify_dgram K: the lines of the K-th datagram, one a line.
notify_dgram() {
	awk -v k="$1" '$2 == k { sub(/^[^ ]* [^ ]* [^ ]* /, ""); print }' \
	    "$T/notify.out" 2>/dev/null
}

_notify_count_ge() {
	[ "$(notify_count)" -ge "$1" ]
}

# expect_notify_count [-t SECONDS] N: wait until N datagrams came.
expect_notify_count() {
	local secs=$WAIT_DEFAULT
	if [ "$1" = -t ]; then
		secs=$2
		shift 2
	fi
	_poll "$secs" _notify_count_ge "$1" ||
	    fail "expected $1 sd_notify datagrams within ${secs}s" \
	    "seen: $(notify_count)" "--- notify.out ---" \
	    "$(cat "$T/notify.out" 2>/dev/null)"
}

# notify_stop: stop notifyrecv (it writes what was queued first); after
# it, $T/notify.out holds every datagram sent before.
notify_stop() {
	kill -TERM "$NOTIFY_PID" 2>/dev/null || true
	reap 5 "$NOTIFY_PID"
	[ "$REAP_RC" = 0 ] || fail "notifyrecv exited $REAP_RC" \
	    "$(cat "$T/notifyrecv.err" 2>/dev/null)"
}
