#!/bin/sh
# SPDX-License-Identifier: MIT
#
# drain.sh BUILD [RUNS]: a drain under load loses nothing.
#
# Each run starts snigate (2 threads, drain.delay 0) in front of loadgen's
# sink, drives it with `loadgen connrate` (32 clients, each connect sends a
# ClientHello and 512 bytes, the sink answers 512 and closes; loadgen
# checks every byte), and sends SIGTERM half a second in. A connection
# that was accepted by the kernel before the drain must be relayed whole:
# loadgen's "errors" (reset or cut after the connect), "bad" (wrong bytes)
# and "stuck" must all be 0. Connections whose connect never completed
# (SYNs dropped during the drain, or refused once the port is closed) are
# counted apart as "refused": that is what a drain is for.
#
# Exit 0 when every run lost nothing, 1 otherwise; 77 (skip) without the
# binaries.
set -u
BUILD=${1:?usage: drain.sh BUILD [RUNS]}
RUNS=${2:-20}
GW=${SNIGATE_BIN:-$BUILD/core/snigate}
LG=$BUILD/bench/loadgen
[ -x "$GW" ] && [ -x "$LG" ] || { echo "drain: build first ($GW, $LG)" >&2; exit 77; }
export SNIGATE_ALLOW_ROOT=1

T=$(mktemp -d /tmp/snigate-drain-XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT INT TERM
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SINK=$(fp)
"$LG" sink -l 127.0.0.1:$SINK > "$T/sink.log" 2>&1 & PIDS="$PIDS $!"

fail=0 total_ok=0 total_refused=0 total_lost=0
for i in $(seq "$RUNS"); do
	GWP=$(fp)
	cat > "$T/gw.yaml" <<EOF2
listeners:
  - address: 127.0.0.1:$GWP
    upstream_port: $SINK
allow: [allowed.test]
resolver:
  hosts: {allowed.test: [127.0.0.1]}
upstream:
  allow: [127.0.0.0/8]
admin:
  address: "off"
  control: {address: "off"}
drain: {delay: 0s, timeout: 10s}
log:
  access: false
EOF2
	"$GW" -c "$T/gw.yaml" --threads 2 > "$T/gw.out" 2> "$T/gw.err" & G=$!
	for _ in $(seq 200); do grep -q "snigate: ready" "$T/gw.err" && break; sleep 0.05; done
	grep -q "snigate: ready" "$T/gw.err" || { cat "$T/gw.err" >&2; echo "drain: run $i: never ready" >&2; exit 1; }
	"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test -c 32 -d 1.5 --req 512 --resp 512 \
		--deadline 8 -q > "$T/lg.out" 2>&1 & L=$!
	sleep 0.5
	kill -TERM $G
	wait $L
	wait $G; rc=$?
	line=$(grep '^result mode=connrate' "$T/lg.out")
	v() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	ok=$(v ok) bad=$(v bad) stuck=$(v stuck) errors=$(v errors) refused=$(v refused)
	lost=$((bad + stuck + errors))
	echo "drain: run $i: $ok relayed, $lost lost (errors $errors, bad $bad, stuck $stuck), $refused never connected; snigate exit $rc"
	total_ok=$((total_ok + ok)) total_refused=$((total_refused + refused)) total_lost=$((total_lost + lost))
	[ "$lost" -eq 0 ] && [ "$ok" -gt 0 ] && [ "$rc" -eq 0 ] || fail=1
done
echo "drain: $RUNS runs: $total_ok relayed, $total_lost lost, $total_refused never connected"
exit $fail
