#!/bin/bash
# SPDX-License-Identifier: MIT
#
# smoke.sh: `bench/run.sh --quick` against every target, asserting only that
# each workload ran against each target and reported a result line (no speeds).
# Exits 77 (skipped) when a peer is not installed, as run.sh does.
#
# smoke.sh BUILD_DIR targets: the target-file mechanism alone, with no peer to
# install: direct, snigate and a throwaway target file (test/bench/fwd-target.sh,
# a plain forwarder), whose reset runs must show it letting denied names through.
# usage: smoke.sh BUILD_DIR [targets]
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$1
RAW=$(mktemp /tmp/snigate-smoke-XXXXXX)
trap 'rm -f "$RAW"' EXIT
rc=0
if [ "${2:-}" = targets ]; then
	"$ROOT/bench/run.sh" --quick --build "$BUILD" --raw "$RAW" --only direct,snigate,fwd-target \
		--target-file "$ROOT/test/bench/fwd-target.sh" || rc=$?
	[ "$rc" = 0 ] || exit "$rc"
	bad=0
	for wl in reset connrate rr bulk idle; do
		for t in direct snigate fwd-target; do
			grep "^cfg=1t target=$t rep=1 wl=$wl " "$RAW" | grep -qv 'missing=1' ||
				{ echo "FAIL: no result for 1t $wl against $t" >&2; bad=1; }
		done
	done
	# It really went through the file's forwarder: every denied probe came back.
	grep "^cfg=1t target=fwd-target rep=1 wl=reset " "$RAW" | grep -q ' ok=0 leaked=[1-9]' ||
		{ echo "FAIL: the forwarder target did not leak: $(grep 'target=fwd-target rep=1 wl=reset ' "$RAW")" >&2; bad=1; }
	grep "^cfg=1t target=snigate rep=1 wl=reset " "$RAW" | grep -q ' leaked=0 ' ||
		{ echo "FAIL: snigate leaked" >&2; bad=1; }
	[ "$bad" = 0 ] && echo "ok: a target file of one's own runs beside the built-ins"
	exit "$bad"
fi
"$ROOT/bench/run.sh" --quick --build "$BUILD" --raw "$RAW" || rc=$?
[ "$rc" = 0 ] || exit "$rc"
bad=0
for cfg in 1t Nt; do
	wls="reset reset-8k connrate rr bulk bulk-both bulk-8"
	[ "$cfg" = 1t ] && wls="$wls reset-apart idle mixed-nospray mixed-spray sweep-2000"
	for wl in $wls; do
		for t in direct snigate haproxy nginx sniproxy; do
			line=$(grep "^cfg=$cfg target=$t rep=1 wl=$wl " "$RAW" || true)
			if [ -z "$line" ] || echo "$line" | grep -q 'missing=1'; then
				echo "FAIL: no result for $cfg $wl against $t" >&2
				bad=1
			fi
		done
	done
done
# The report must render from it too.
"$ROOT/bench/report.sh" "$RAW" "$(dirname "$RAW")/smoke-RESULTS.md" "$BUILD" > /dev/null
grep -q '^| snigate' "$(dirname "$RAW")/smoke-RESULTS.md" || { echo "FAIL: empty report" >&2; bad=1; }
grep -q '^| bulk, 8 streams: throughput | .* | [0-9.]*× |' "$(dirname "$RAW")/smoke-RESULTS.md" ||
	{ echo "FAIL: the targets table does not judge the 8-stream run" >&2; bad=1; }
rm -f "$(dirname "$RAW")/smoke-RESULTS.md"
[ "$bad" = 0 ] && echo "ok: every workload reported against every target"
exit "$bad"
