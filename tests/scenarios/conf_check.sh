#!/bin/bash
# Every config shipped in conf/ passes gatherd -t as it is.
. "$(dirname "$0")/../lib.sh"

n=0
for f in "$top_srcdir"/conf/*.yaml; do
	[ -e "$f" ] || continue
	gatherd_check "$f"
	expect_check_rc 0
	expect_check_line '^configuration OK$'
	log "ok: $f"
	n=$((n + 1))
done
[ -e "$top_srcdir/conf/gatherd.yaml" ] ||
    fail "conf/gatherd.yaml is missing" "seen: $(ls "$top_srcdir/conf")"
[ "$n" -gt 0 ] || fail "no config checked"
pass
