#!/bin/bash
# The man pages that make builds render without a single groff or man
# warning, gatherd(8)'s synopsis names every option of `gatherd -h`, and
# gatherd.yaml(5) has an entry, with a Default: and an Example:, for every
# key of the config (the key tables of src/config.c and the keys that
# conf/gatherd.yaml documents).  Its EXAMPLE passes gatherd -t.
. "$(dirname "$0")/../lib.sh"

command -v groff >/dev/null || skip "groff is not installed (Debian package groff-base)"
_need "$GATHERD"
MAN8=$top_builddir/man/gatherd.8
MAN5=$top_builddir/man/gatherd.yaml.5
for f in "$MAN8" "$MAN5"; do
	[ -s "$f" ] || fail "$f is missing (make builds it)"
done

for f in "$MAN8" "$MAN5"; do
	out=$(LC_ALL=C.UTF-8 groff -ww -man -z "$f" 2>&1) ||
	    fail "groff failed on $f" "$out"
	[ -z "$out" ] || fail "groff warns on $f" "$out"
	if command -v man >/dev/null; then
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat man --warnings \
		    -l "$f" 2>&1 >/dev/null) || fail "man failed on $f" "$out"
		[ -z "$out" ] || fail "man --warnings warns on $f" "$out"
	fi
	grep -q '@[a-zA-Z_]*@' "$f" && fail "unsubstituted @...@ in $f" \
	    "$(grep -n '@[a-zA-Z_]*@' "$f")"
	log "renders cleanly: $f"
done

# Every option of the usage is in the synopsis.
opts=$("$GATHERD" -h | sed -n 's/^  -\([A-Za-z]\) .*/\1/p')
[ -n "$opts" ] || fail "no option found in gatherd -h"
for o in $opts; do
	grep -q "^\.OP \\\\-$o\( \|$\)" "$MAN8" ||
	    fail "gatherd(8) synopsis lacks -$o"
done
log "synopsis options: $(echo $opts)"

# The keys: from the key tables ({ "name", T_...) and the shipped config.
keys=$( {
	grep -o '{ "[a-z_]*",[[:space:]]*T_' "$top_srcdir/src/config.c" |
	    sed 's/{ "\([a-z_]*\)".*/\1/'
	sed -n 's/^[ -]*\([a-z_][a-z_]*\):.*/\1/p' \
	    "$top_srcdir/conf/gatherd.yaml"
} | sort -u)
[ "$(echo "$keys" | wc -w)" -ge 20 ] ||
    fail "too few config keys found: $(echo $keys)"
# An entry is a .TP whose tag is `.B key` or `.B parent.key`; it ends at
# the next entry or section, and must hold Default: and Example:.
missing=$(awk -v keys="$keys" '
	BEGIN { n = split(keys, k, /[ \n]+/); for (i = 1; i <= n; i++) want[k[i]] = 1 }
	function done() {
		if (cur != "" && !(d && e)) bad = bad " " cur
		cur = ""
	}
	prev == ".TP" && /^\.B [a-z_.]+$/ {
		key = $2; sub(/.*\./, "", key)
		if (key in want) { done(); cur = $2; d = e = 0; seen[key] = 1 }
	}
	/^\.SH/ { done() }
	/Default:/ { d = 1 }
	/Example:/ { e = 1 }
	{ prev = $0 }
	END {
		done()
		for (x in want) if (!(x in seen)) bad = bad " " x "(no entry)"
		print bad
	}' "$MAN5")
[ -z "${missing// /}" ] || fail "gatherd.yaml(5): keys without an entry," \
    "a Default: or an Example:$missing"
log "keys documented: $(echo $keys | wc -w)"

# The EXAMPLE section's configuration is a valid one.
sed -n '/^\.SH EXAMPLE/,/^\.EE/p' "$MAN5" | sed '1,/^\.EX/d; /^\.EE/d' |
    sed -e 's/\\-/-/g' -e "s|/var/log/gatherd/access.log|$T/access.log|" \
    >"$T/example.yaml"
[ -s "$T/example.yaml" ] || fail "no EXAMPLE configuration in gatherd.yaml(5)"
ORDERS_TOKEN=secret gatherd_check "$T/example.yaml"
expect_check_rc 0
expect_check_line '^configuration OK$'
pass
