#!/bin/bash
# The admin listener: after a known set of requests GET /metrics holds
# exact counts (by endpoint and status, by upstream and outcome kind,
# histogram counts; a request the router or the gate refused counts with
# endpoint=""), in-flight gauges rise while a request is held and fall
# back to 0, a good reload and a refused one are counted without
# resetting anything, /healthz and /readyz answer 200, and after a
# restart with one worker /readyz turns 503 "stopping" as soon as a
# graceful stop begins, while a request is still in flight.
. "$(dirname "$0")/../lib.sh"

mock_start a
# write_conf WORKERS [MORE ENDPOINTS]
write_conf() {
	gatherd_config <<EOF
listen: [@LISTEN@]
workers: $1
endpoints:
  - path: /dash/{user}
    deadline: 3s
    upstreams:
      - name: fast
        url: http://127.0.0.1:@PORT_A@/fast/{user}
      - name: slow
        url: http://127.0.0.1:@PORT_A@/slow
        forward_query: [delay]
        timeout: 300ms
        default: []
  - path: /hold
    deadline: 10s
    upstreams:
      - name: held
        url: http://127.0.0.1:@PORT_A@/held?delay=1500
        timeout: 5s
${2:-}
EOF
}
write_conf 2
gatherd_start

# admin_get PATH: GET from the admin listener; status in ADMIN_STATUS,
# body in $T/admin.body.
admin_get() {
	ADMIN_STATUS=$(curl -sS --noproxy '*' --max-time 5 -o "$T/admin.body" \
	    -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT$1") ||
	    fail "admin GET $1 failed"
}

_metric_is() {
	admin_get /metrics
	[ "$ADMIN_STATUS" = 200 ] && grep -Fxq -- "$1" "$T/admin.body"
}

# expect_metric 'LINE': /metrics holds exactly this line (polled, bounded:
# a count is made as its request closes).
expect_metric() {
	_poll "$WAIT_DEFAULT" _metric_is "$1" ||
	    fail "/metrics has no line: $1" "seen:" \
	    "$(grep -E -- "^${1%%[{ ]*}[{ ]" "$T/admin.body")"
}

# metric NAME: the value of a series without labels, now.
metric() {
	admin_get /metrics
	sed -n "s/^$1 //p" "$T/admin.body"
}

EP='endpoint="/dash/{user}"'

admin_get /healthz
[ "$ADMIN_STATUS" = 200 ] || fail "/healthz: $ADMIN_STATUS"
[ "$(cat "$T/admin.body")" = '{"status":"ok"}' ] || fail "/healthz body"
admin_get /readyz
[ "$ADMIN_STATUS" = 200 ] || fail "/readyz: $ADMIN_STATUS"
[ "$(cat "$T/admin.body")" = '{"status":"ready"}' ] || fail "/readyz body"
_metric_is '# TYPE gatherd_requests_total counter' ||
    fail "/metrics: no TYPE line"
grep -Fxq "gatherd_build_info{version=\"$("$GATHERD" -V | cut -d' ' -f2)\"} 1" \
    "$T/admin.body" || fail "/metrics: no build info"
expect_metric 'gatherd_workers 2'

# gatherd_start's probe of the port was a connection too: once it is
# counted, it is the base.
_probe_counted() {
	accepted=$(metric gatherd_client_connections_accepted_total)
	[ "${accepted:-0}" -ge 1 ]
}
wait_for _probe_counted
expect_metric 'gatherd_client_connections 0'

# Three complete replies, one with the optional upstream timing out, one
# unknown path, one wrong method, and a head too large for the gate.
for u in 1 2 3; do
	req GET /dash/$u
	expect_status 200
	expect_header 'X-Gather-Complete: true'
done
req GET '/dash/4?delay=5000'
expect_status 200
expect_header 'X-Gather-Complete: false'
req GET /nowhere
expect_status 404
req POST /dash/1 -d x=1
expect_status 405
req GET /dash/1 -H "X-Big: $(printf '%*s' 20000 '' | tr ' ' x)"
expect_status 431

expect_metric "gatherd_requests_total{$EP,method=\"GET\",status=\"200\"} 4"
expect_metric 'gatherd_requests_total{endpoint="",method="",status="404"} 1'
expect_metric 'gatherd_requests_total{endpoint="",method="",status="405"} 1'
expect_metric 'gatherd_requests_total{endpoint="",method="",status="431"} 1'
expect_metric "gatherd_upstream_calls_total{$EP,upstream=\"fast\",kind=\"ok\"} 4"
expect_metric "gatherd_upstream_calls_total{$EP,upstream=\"slow\",kind=\"ok\"} 3"
expect_metric "gatherd_upstream_calls_total{$EP,upstream=\"slow\",kind=\"timeout\"} 1"
expect_metric "gatherd_upstream_calls_total{$EP,upstream=\"slow\",kind=\"cancelled\"} 0"
expect_metric "gatherd_request_duration_seconds_count{$EP,method=\"GET\"} 4"
expect_metric "gatherd_upstream_duration_seconds_count{$EP,upstream=\"fast\"} 4"
expect_metric "gatherd_upstream_duration_seconds_count{$EP,upstream=\"slow\"} 4"
expect_metric "gatherd_upstream_duration_seconds_bucket{$EP,upstream=\"slow\",le=\"0.25\"} 3"
expect_metric "gatherd_upstream_duration_seconds_bucket{$EP,upstream=\"slow\",le=\"+Inf\"} 4"
expect_metric "gatherd_requests_in_flight{$EP,method=\"GET\"} 0"
expect_metric "gatherd_upstream_calls_in_flight{$EP,upstream=\"slow\"} 0"
expect_metric "gatherd_client_connections_accepted_total $((accepted + 7))"
expect_metric 'gatherd_client_connections 0'
expect_metric 'gatherd_config_reloads_total{result="success"} 0'

# A request held in flight shows in both gauges, then leaves them.
HOLD='endpoint="/hold"'
req_start hold GET /hold
expect_metric "gatherd_requests_in_flight{$HOLD,method=\"GET\"} 1"
expect_metric "gatherd_upstream_calls_in_flight{$HOLD,upstream=\"held\"} 1"
expect_metric 'gatherd_client_connections 1'
req_finish hold
expect_status 200
expect_metric "gatherd_requests_in_flight{$HOLD,method=\"GET\"} 0"
expect_metric "gatherd_upstream_calls_in_flight{$HOLD,upstream=\"held\"} 0"
expect_metric "gatherd_requests_total{$HOLD,method=\"GET\",status=\"200\"} 1"

# A good reload is counted; the counts of what it keeps go on.
write_conf 2 "  - path: /new
    upstreams:
      - {name: n, url: \"http://127.0.0.1:@PORT_A@/n\"}"
kill -HUP "$GATHERD_PID"
expect_metric 'gatherd_config_reloads_total{result="success"} 1'
expect_metric 'gatherd_config_last_reload_successful 1'
req GET /new
expect_status 200
req GET /dash/5
expect_status 200
expect_metric "gatherd_requests_total{$EP,method=\"GET\",status=\"200\"} 5"
expect_metric 'gatherd_requests_total{endpoint="/new",method="GET",status="200"} 1'
expect_metric "gatherd_upstream_calls_total{$EP,upstream=\"slow\",kind=\"timeout\"} 1"

# A refused reload is counted too, and resets nothing.
gatherd_config <<'EOF'
listen: [@LISTEN@]
no_such_key: 1
endpoints: []
EOF
kill -HUP "$GATHERD_PID"
expect_metric 'gatherd_config_reloads_total{result="failure"} 1'
expect_metric 'gatherd_config_reloads_total{result="success"} 1'
expect_metric 'gatherd_config_last_reload_successful 0'
expect_metric "gatherd_requests_total{$EP,method=\"GET\",status=\"200\"} 5"
expect_metric 'gatherd_requests_total{endpoint="",method="",status="404"} 1'

gatherd_stop

# A graceful stop: /readyz says so while a request is still in flight
# (one worker, so that the request holds up the stop of the worker that
# serves the admin listener).
write_conf 1
gatherd_start
admin_get /readyz
[ "$ADMIN_STATUS" = 200 ] || fail "/readyz after a restart: $ADMIN_STATUS"
req_start hold2 GET /hold
expect_metric "gatherd_requests_in_flight{$HOLD,method=\"GET\"} 1"
kill -TERM "$GATHERD_PID"
_stopping() {
	admin_get /readyz
	[ "$ADMIN_STATUS" = 503 ] &&
	    [ "$(cat "$T/admin.body")" = '{"status":"stopping"}' ]
}
wait_for -t 2 _stopping
admin_get /healthz
[ "$ADMIN_STATUS" = 200 ] || fail "/healthz while stopping: $ADMIN_STATUS"
req_finish hold2
expect_status 200
gatherd_reap 15
[ "$REAP_RC" = 0 ] || fail "gatherd exited $REAP_RC on SIGTERM"
expect_no_sanitizer_report
echo "PASS: $SCENARIO"
