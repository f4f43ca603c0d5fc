#!/bin/bash
# SPDX-License-Identifier: MIT
#
# smoke.sh: `bench/run.sh --quick` against every target, asserting only that
# each workload ran against each target and reported a result line (no speeds).
# Exits 77 (skipped) when a peer is not installed, as run.sh does.
#
# smoke.sh BUILD_DIR targets: the target-file mechanism alone, with no peer to
# install: direct, snigate and a throwaway target file (test/bench/fwd-target.sh,
# a plain forwarder), whose reset runs must show it letting denied names through;
# and the Envoy target's bootstrap, rendered, read back by snigate's Envoy importer.
# smoke.sh BUILD_DIR external: external targets (run.sh --target): a snigate
# started by hand, measured with and without its PID; the preconditions that
# refuse a gateway that leaks or relays nothing; results.json and a merged report.
# usage: smoke.sh BUILD_DIR [targets|external]
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$1
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
RAW=$(mktemp /tmp/snigate-smoke-XXXXXX)
W=$(mktemp -d /tmp/snigate-smoke-XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2> /dev/null || true; done
	wait 2> /dev/null || true
	rm -rf "$RAW" "$W"
}
trap cleanup EXIT
rc=0
if [ "${2:-}" = external ]; then
	LG=$BUILD/bench/loadgen
	export SNIGATE_ALLOW_ROOT=1
	DNS=$("$LG" port)
	SINK=$("$LG" port)
	GP=$("$LG" port)
	FWD=$("$LG" port)
	DEAD=$("$LG" port)
	# The gateway "of one's own": resolving through the unbound run.sh starts
	# on --dns-port, sending allowed names to the sink run.sh starts on --sink.
	"$BUILD/core/snigate" --listen "127.0.0.1:$GP" --allow allowed.test --resolver "127.0.0.1:$DNS" \
		--allow-upstream 127.0.0.0/8 --upstream-port "$SINK" --threads 1 --no-access-log \
		--log-level warn --admin 127.0.0.1:0 --control off 2> "$W/gw.err" &
	GPID=$!
	PIDS="$PIDS $GPID"
	# A gateway that lets everything through, to the same sink.
	"$LG" fwd -l "127.0.0.1:$FWD" --to "127.0.0.1:$SINK" > /dev/null 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 100); do grep -q ready "$W/gw.err" && break; sleep 0.05; done
	bad=0
	fail() { echo "FAIL: $*" >&2; bad=1; }
	# The preconditions: checked before anything is measured, and named.
	out=$("$ROOT/bench/run.sh" --quick --build "$BUILD" --raw "$W/x.raw" --only direct,leaky \
		--target "leaky=127.0.0.1:$FWD" --sink "127.0.0.1:$SINK" 2>&1) && r=0 || r=$?
	[ "$r" = 1 ] && echo "$out" | grep -q 'leaky at .* does not refuse denied.test' ||
		fail "a leaking external target was not refused (exit $r): $out"
	out=$("$ROOT/bench/run.sh" --quick --build "$BUILD" --raw "$W/x.raw" --only direct,nothing \
		--target "nothing=127.0.0.1:$DEAD" --sink "127.0.0.1:$SINK" 2>&1) && r=0 || r=$?
	[ "$r" = 1 ] && echo "$out" | grep -q 'nothing at .* does not relay allowed.test to the sink' ||
		fail "an external target that relays nothing was not refused (exit $r): $out"
	out=$("$ROOT/bench/run.sh" --quick --build "$BUILD" --target "x=127.0.0.1:$GP" 2>&1) && r=0 || r=$?
	[ "$r" = 2 ] && echo "$out" | grep -q 'needs --sink' || fail "--target without --sink: exit $r: $out"
	out=$("$ROOT/bench/run.sh" --quick --build "$BUILD" --target "x=127.0.0.1:$GP,pods=1" \
		--sink "127.0.0.1:$SINK" 2>&1) && r=0 || r=$?
	[ "$r" = 2 ] && echo "$out" | grep -q 'unknown option pods=1' || fail "a bad --target option: exit $r: $out"

	"$ROOT/bench/run.sh" --quick --build "$BUILD" --raw "$RAW" --configs 1t --label smoke \
		--only direct,mine,mine-nopid --target "mine=127.0.0.1:$GP,pid=$GPID" \
		--target "mine-nopid=127.0.0.1:$GP" --sink "127.0.0.1:$SINK" --dns-port "$DNS" || rc=$?
	[ "$rc" = 0 ] || exit "$rc"
	for wl in reset reset-apart connrate rr bulk idle mixed-spray sweep-2000 overflow; do
		for t in direct mine mine-nopid; do
			grep "^cfg=1t target=$t rep=1 wl=$wl " "$RAW" | grep -qv 'missing=1' ||
				fail "no result for 1t $wl against $t"
		done
	done
	grep -q '^cfg=Nt' "$RAW" && fail "--configs 1t ran Nt too"
	# The gateway's own CPU with its PID, none without.
	grep "^cfg=1t target=mine rep=1 wl=reset " "$RAW" | grep -q ' cpu_us=[0-9.]*[1-9]' ||
		fail "no CPU for the external target with a pid: $(grep 'target=mine rep=1 wl=reset ' "$RAW")"
	[ "$(grep -c '^cfg=1t target=mine-nopid .* nopid=1' "$RAW")" = "$(grep -c '^cfg=1t target=mine-nopid ' "$RAW")" ] ||
		fail "an external target without a pid has CPU figures"
	grep "^cfg=1t target=mine rep=1 wl=reset " "$RAW" | grep -q ' leaked=0 .* rst=[1-9]' ||
		fail "the client's view of snigate's denial is not a reset"
	"$ROOT/bench/report.sh" --json "$W/results.json" "$RAW" "$W/R.md" "$BUILD" > /dev/null 2>&1
	grep -q '^| mine | [0-9]' "$W/R.md" || fail "no row for the external target in the report"
	# reset table: closes/s p50 p99 p99.9 max CPU: the CPU cell is a number with a pid, – without.
	awk -F' [|] ' '/^#### reset: denied/ { on = 1 } on && /^\| mine \|/ { print $7; exit }' "$W/R.md" | grep -q '^[0-9]' ||
		fail "the external target's CPU column is not a number"
	awk -F' [|] ' '/^#### reset: denied/ { on = 1 } on && /^\| mine-nopid \|/ { print $7; exit }' "$W/R.md" | grep -qx '–' ||
		fail "the CPU column of the target without a pid is not –"
	grep -q '^#### overflow' "$W/R.md" || fail "no overflow table"
	grep -q '^#### reset: what the denied client sees' "$W/R.md" || fail "no client view table"
	python3 - "$W/results.json" << 'EOF' || bad=1
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
def one(t, wl):
    r = [x for x in recs if x["target"] == t and x["workload"] == wl]
    assert len(r) == 1, (t, wl, len(r))
    return r[0]
m = one("mine", "reset")
assert m["machine"]["label"] == "smoke" and m["machine"]["cpus"] > 0, m["machine"]
assert m["version"].startswith("external at 127.0.0.1:"), m["version"]
assert m["loadgen_args"].startswith("reset --sni denied.test"), m["loadgen_args"]
assert m["cpu_measured"] and m["metrics"]["cpu_us"] > 0, m
n = one("mine-nopid", "reset")
assert not n["cpu_measured"] and "cpu_us" not in n["metrics"], n
assert one("direct", "overflow")["metrics"]["leaked"] == 0
EOF
	# Two runs merged: each target once per machine label.
	"$ROOT/bench/report.sh" --json "$W/merged.json" --merge "$W/M.md" "$RAW" "$RAW" > /dev/null 2>&1
	grep -q '^| mine@smoke | ' "$W/M.md" && grep -q '^| mine@smoke.2 | ' "$W/M.md" ||
		fail "the merged report does not name each machine's rows"
	[ "$bad" = 0 ] && echo "ok: external targets measured, refused when their allowlist is wrong, merged"
	exit "$bad"
fi
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
	# The Envoy target's bootstrap, as the target file renders it, is one
	# snigate's Envoy importer reads back with the same allowlist, resolver,
	# listener and upstream port (no envoy binary needed).
	(
		T=$W PEERS=$ROOT/bench/peers LG=$BUILD/bench/loadgen PORT=18443 SINK=19443 DNS=15353
		render() { sed -e "s|@DNS_PORT@|$DNS|g" -e "s|@SINK_PORT@|$SINK|g" -e "s|@PORT@|$PORT|g" "$1" > "$2"; }
		printf 'allowed.test\nb.example\n' > "$T/allowlist.txt"
		# shellcheck disable=SC1091
		. "$ROOT/bench/targets/envoy.sh"
		envoy_render "$T/envoy.yaml"
		"$BUILD/core/snigate" convert "$T/envoy.yaml" > "$T/envoy.conv"
		for want in '"allowed.test"' '"b.example"' 'upstream_port: 19443' '"127.0.0.1:15353"' \
			'address: "127.0.0.1:18443"'; do
			grep -qF -- "$want" "$T/envoy.conv" || { echo "FAIL: the envoy bootstrap lacks $want" >&2; exit 1; }
		done
	) || bad=1
	[ "$bad" = 0 ] && echo "ok: a target file of one's own runs beside the built-ins"
	exit "$bad"
fi
"$ROOT/bench/run.sh" --quick --build "$BUILD" --raw "$RAW" || rc=$?
[ "$rc" = 0 ] || exit "$rc"
bad=0
for cfg in 1t Nt; do
	wls="reset reset-8k connrate rr bulk bulk-both bulk-8"
	[ "$cfg" = 1t ] && wls="$wls reset-apart idle mixed-nospray mixed-spray sweep-2000 overflow"
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
# The report must render from it too, with a record per run in results.json.
"$ROOT/bench/report.sh" "$RAW" "$W/RESULTS.md" "$BUILD" > /dev/null 2>&1
grep -q '^| snigate' "$W/RESULTS.md" || { echo "FAIL: empty report" >&2; bad=1; }
grep -q '^| bulk, 8 streams: throughput | .* | [0-9.]*× |' "$W/RESULTS.md" ||
	{ echo "FAIL: the targets table does not judge the 8-stream run" >&2; bad=1; }
[ "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["records"]))' "$W/results.json")" = \
	"$(grep -c '^cfg=' "$RAW")" ] || { echo "FAIL: results.json does not hold one record per run" >&2; bad=1; }
[ "$bad" = 0 ] && echo "ok: every workload reported against every target"
exit "$bad"
