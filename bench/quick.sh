#!/bin/sh
# SPDX-License-Identifier: MIT
#
# quick.sh: the headline figures, snigate against a direct
# loopback connection, in one run on this machine:
#   - reset path: closes/s and server CPU per denied connection;
#   - one bulk stream: MiB/s through snigate and direct, and snigate's CPU/GiB;
#   - idle relayed connections: snigate RSS and kernel slab per connection.
# Runs are interleaved (snigate, direct, snigate, ...) and medians printed.
#
# usage: bench/quick.sh [BUILD_DIR] [REPEATS]     (default: build 5)
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -eu
BUILD=${1:-build}
REPS=${2:-5}
# Bench and soak hosts run as root; snigate refuses root unless told to.
export SNIGATE_ALLOW_ROOT=1
GW=$BUILD/core/snigate
LG=$BUILD/bench/loadgen
[ -x "$GW" ] && [ -x "$LG" ] || { echo "build first: ninja -C $BUILD" >&2; exit 2; }

T=$(mktemp -d /tmp/snigate-quick-XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM

free_port() { "$LG" port; }
DNS=$(free_port); SINK=$(free_port); GWP=$(free_port)

"$(dirname "$0")/localdns.sh" "$T" "$DNS" 3600 allowed.test & PIDS="$PIDS $!"
"$LG" sink -l 127.0.0.1:$SINK > "$T/sink.log" & PIDS="$PIDS $!"
"$GW" --listen 127.0.0.1:$GWP --allow allowed.test --resolver 127.0.0.1:$DNS \
	--allow-upstream 127.0.0.0/8 --upstream-port $SINK --no-access-log --admin 127.0.0.1:0 --control off > "$T/gw.out" 2> "$T/gw.err" & GWPID=$!
PIDS="$PIDS $GWPID"
for _ in $(seq 50); do grep -q ready "$T/gw.err" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$T/gw.err" || { cat "$T/gw.err"; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "snigate: $("$GW" --version), $(nproc) threads; $REPS interleaved runs, medians"
echo

for i in $(seq "$REPS"); do
	"$LG" reset -t 127.0.0.1:$GWP -n 20000 -c 64 -T 1 --sni denied.test --pid $GWPID > "$T/r.$i"
	"$LG" bulk -t 127.0.0.1:$GWP --sni allowed.test -b 2G -c 1 --pid $GWPID > "$T/bg.$i"
	"$LG" bulk -t 127.0.0.1:$SINK -b 2G -c 1 > "$T/bd.$i"
done
# loadgen ends each run with "result k=v ...": field K of those lines
field() { awk -v k="$1" '/^result / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }'; }
rate=$(cat "$T"/r.* | field rate | median)
p99=$(cat "$T"/r.* | field p99 | median)
cpu=$(cat "$T"/r.* | field cpu_us | median)
bg=$(cat "$T"/bg.* | field mibs | median)
bgcpu=$(cat "$T"/bg.* | field cpu_s_gib | median)
bd=$(cat "$T"/bd.* | field mibs | median)
echo "reset path (20,000 denied ClientHellos, 64 concurrent):"
echo "  $rate closes/s, p99 ${p99} us from last hello byte to RST, ${cpu} us snigate CPU per connection"
echo "one bulk stream (2 GiB, hello + payload, checksummed at the sink):"
echo "  snigate $bg MiB/s, direct $bd MiB/s, ratio $(echo "$bg $bd" | awk '{printf "%.2f", $1/$2}'); snigate CPU ${bgcpu} s/GiB"
echo "idle relayed connections (2,000 held):"
"$LG" idle -t 127.0.0.1:$GWP --sni allowed.test -n 2000 --pid $GWPID | sed 's/^/  snigate: /'
"$LG" idle -t 127.0.0.1:$SINK -n 2000 | sed 's/^/  direct:  /'
