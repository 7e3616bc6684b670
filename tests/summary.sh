#!/bin/bash
# Count test results across build trees after `make check`: every Check
# test case counts one (from "Checks: N, Failures: F, Errors: E" in each
# unit suite's log), every scenario script counts one (from its .trs),
# and so does every NAME.step file at the top of a build tree (PASS or
# FAIL, written by .ci/run for install and distcheck).
# Prints the plain line "N passed, N failed[, N skipped]".
set -u
pass=0 fail=0 skip=0
for dir in "$@"; do
	for trs in $(find "$dir/tests" -name '*.trs' 2>/dev/null); do
		log="${trs%.trs}.log"
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -1)
		line=$(grep -Eo 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' \
		    "$log" 2>/dev/null | tail -1)
		if [ -n "$line" ]; then
			read -r n f e <<<"$(echo "$line" | tr -dc '0-9 ')"
			pass=$((pass + n - f - e))
			fail=$((fail + f + e))
			# A suite that crashed after its counts still failed.
			[ "$res" = PASS ] || [ $((f + e)) -gt 0 ] || fail=$((fail + 1))
			continue
		fi
		case "$res" in
		PASS|XFAIL) pass=$((pass + 1)) ;;
		SKIP) skip=$((skip + 1)) ;;
		*) fail=$((fail + 1)) ;;
		esac
	done
	for st in "$dir"/*.step; do
		[ -f "$st" ] || continue
		if [ "$(cat "$st")" = PASS ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
		fi
	done
done
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
