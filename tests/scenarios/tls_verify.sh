#!/bin/bash
# TLS verification is on by default: an HTTPS upstream whose certificate
# no trusted authority signed (here a self-signed one, served by
# `openssl s_server` on loopback) fails as kind connect, and the reply says
# why without any byte from that upstream.
. "$(dirname "$0")/../lib.sh"

command -v openssl >/dev/null || skip "no openssl command"
mock_start a
PORT_TLS=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 ||
    fail "openssl could not make a certificate"
openssl s_server -accept "127.0.0.1:$PORT_TLS" -cert "$T/cert.pem" \
    -key "$T/key.pem" -www -quiet </dev/null >"$T/s_server.log" 2>&1 &
_track $!
wait_for port_open "$PORT_TLS"

gatherd_config <<'EOF2'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /t
    upstreams:
      - name: plain
        url: http://127.0.0.1:@PORT_A@/plain
      - name: secure
        url: https://127.0.0.1:@PORT_TLS@/
        default: null
        # The handshake counts against connect_timeout: give a loaded
        # test machine room, so that only the certificate can fail it.
        connect_timeout: 5s
        timeout: 10s
EOF2
gatherd_start

req GET /t
expect_status 200
expect_header 'X-Gather-Complete: false'
expect_header_re Server-Timing '^plain;dur=[0-9.]+, secure;dur=[0-9.]+;desc="connect"$'
expect_body_norm '{"plain": {"path":"/plain"}, "secure": null, "_errors": {"secure": {"kind": "connect", "ms": N, "message": "..."}}}'
expect_body_has 'certificate'
pass
