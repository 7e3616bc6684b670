#!/bin/bash
# How each upstream body lands in the keyed reply: JSON spliced byte for
# byte (also when it came chunked or a byte at a time), a non-JSON content
# type embedded as a JSON string (escaped), an empty 2xx body as null.
. "$(dirname "$0")/../lib.sh"

mock_start a
gatherd_config <<'EOF'
listen: [@LISTEN@]
workers: 1
endpoints:
  - path: /shapes
    upstreams:
      - name: json
        url: http://127.0.0.1:@PORT_A@/j?body=%7B%22x%22%3A%20%5B1%2C%202%5D%7D
      - name: text
        url: http://127.0.0.1:@PORT_A@/t?ct=text/plain&body=say%20%22hi%22%5C
      - name: empty
        url: http://127.0.0.1:@PORT_A@/e?body=
      - name: chunked
        url: http://127.0.0.1:@PORT_A@/c?chunked=1&body=%5B1%2C2%2C3%5D
      - name: drip
        url: http://127.0.0.1:@PORT_A@/d?drip=5&body=%7B%22d%22%3Atrue%7D
      - name: charset
        url: http://127.0.0.1:@PORT_A@/u?ct=application/json;%20charset=utf-8&body=%22%C3%A9%22
EOF
gatherd_start

req GET /shapes
expect_status 200
expect_header 'X-Gather-Complete: true'
# Spliced byte for byte, the upstream's own blanks included.
expect_body_has '"json":{"x": [1, 2]}'
expect_body '{"json": {"x": [1, 2]}, "text": "say \"hi\"\\", "empty": null, "chunked": [1,2,3], "drip": {"d":true}, "charset": "é"}'
pass
