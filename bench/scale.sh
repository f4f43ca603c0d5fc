#!/bin/bash
# SPDX-License-Identifier: MIT
#
# scale.sh: how snigate scales with its worker threads, in one command.
#
# usage: bench/scale.sh [--build DIR] [--threads 1,2,4,8,16] [--secs S] [--reps N]
#
# For each thread count T: snigate with --threads T, pinned to CPUs 0..T-1,
# and loadgen pinned to the CPUs left (with as many client threads), driving
# the deny path (`loadgen reset`, 64 connections in flight per client thread)
# and the allow path (`loadgen connrate`, 32 per client thread, 512 B up and
# 4 KiB down) for S seconds each, N times, interleaved; medians are printed.
# Where T leaves no CPU for the clients (on this 2-core VM, T = 2), client and
# gateway share all CPUs and the run says so: rates are then the machine's, and
# only the CPU per connection is the gateway's.
#
# Read it so:
#   - rate: what the gateway delivered with T threads, while the clients had
#     their own cores. It should grow with T until the clients or the kernel's
#     loopback are the limit; a row whose clients were short of cores says so.
#   - CPU µs per connection: the gateway's own CPU (all threads, /proc) per
#     connection. Flat across T means each thread works as efficiently as one
#     alone; "vs 1 thread" is that ratio.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
THREADS=1,2,4,8,16
SECS=5
REPS=3
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--secs) SECS=$2; shift ;;
	--reps) REPS=$2; shift ;;
	*) echo "usage: $0 [--build DIR] [--threads 1,2,4,...] [--secs S] [--reps N]" >&2; exit 2 ;;
	esac
	shift
done
GW=$BUILD/core/snigate
LG=$BUILD/bench/loadgen
[ -x "$GW" ] && [ -x "$LG" ] || { echo "scale.sh: build first (ninja -C $BUILD)" >&2; exit 2; }
export SNIGATE_ALLOW_ROOT=1
NCPU=$(nproc)
T=$(mktemp -d /tmp/snigate-scale-XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

SINK=$("$LG" port)
"$LG" sink -l "127.0.0.1:$SINK" > /dev/null 2>&1 & PIDS="$PIDS $!"
SINK_PID=$!

med() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

echo "scale.sh: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
echo "scale.sh: threads $THREADS, $SECS s per run, $REPS repetitions, medians"
echo
echo "| threads | clients on | deny: closes/s | deny: CPU µs/conn | vs 1 thread | allow: conns/s | allow: CPU µs/conn | vs 1 thread |"
echo "|---|---|---|---|---|---|---|---|"
base_d="" base_a=""
for th in $(echo "$THREADS" | tr ',' ' '); do
	[ "$th" -le "$NCPU" ] || { echo "| $th | (only $NCPU CPUs: skipped) | | | | | | |"; continue; }
	P=$("$LG" port)
	cat > "$T/gw.yaml" <<EOF2
listeners: [{address: 127.0.0.1:$P, upstream_port: $SINK}]
allow: [allowed.test]
resolver: {hosts: {allowed.test: [127.0.0.1]}}
upstream: {allow: [127.0.0.0/8]}
admin: {address: "off", control: {address: "off"}}
log: {access: false, level: warn}
limits: {max_pending_hellos: 0}
EOF2
	if [ "$th" -lt "$NCPU" ]; then
		gcpus=0-$((th - 1)) ccpus=$th-$((NCPU - 1)) ct=$((NCPU - th))
		where="CPUs $ccpus"
		[ "$ct" -gt 1 ] || where="CPU $th"
	else
		gcpus=0-$((NCPU - 1)) ccpus=0-$((NCPU - 1)) ct=$NCPU where="shared (no CPU left)"
	fi
	taskset -c "$gcpus" "$GW" -c "$T/gw.yaml" --threads "$th" > /dev/null 2> "$T/gw.err" &
	G=$!
	PIDS="$PIDS $G"
	for _ in $(seq 100); do grep -q ready "$T/gw.err" && break; sleep 0.05; done
	: > "$T/deny" ; : > "$T/allow"
	for _ in $(seq "$REPS"); do
		taskset -c "$ccpus" "$LG" reset -q -t "127.0.0.1:$P" --sni denied.test -d "$SECS" \
			-c $((64 * ct)) -T "$ct" --pid "$G" | grep '^result' >> "$T/deny" || true
		taskset -c "$ccpus" "$LG" connrate -q -t "127.0.0.1:$P" --sni allowed.test -d "$SECS" \
			-c $((32 * ct)) -T "$ct" --req 512 --resp 4096 --pid "$G" | grep '^result' >> "$T/allow" || true
	done
	kill "$G"; wait "$G" 2>/dev/null || true
	dr=$(field rate < "$T/deny" | med) dc=$(field cpu_us < "$T/deny" | med)
	ar=$(field rate < "$T/allow" | med) ac=$(field cpu_us < "$T/allow" | med)
	[ -n "$base_d" ] || { base_d=$dc; base_a=$ac; }
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else printf "–" }'; }
	vd=$(ratio "$dc" "$base_d") va=$(ratio "$ac" "$base_a")
	echo "| $th | $where | $dr | $dc | $vd | $ar | $ac | $va |"
done
