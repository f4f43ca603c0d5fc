#!/bin/sh
# usage: bench/accesslog_cost.sh [BUILD_DIR] [REPEATS]
# Deny-path cost of the access log: snigate without it, with the default
# rate limit (1000 lines/s/thread) and with every line written (stdout to /dev/null).
set -eu
B=${1:-build}; REPS=${2:-5}
# Bench and soak hosts run as root; snigate refuses root unless told to.
export SNIGATE_ALLOW_ROOT=1
GW=$B/core/snigate; LG=$B/bench/loadgen
T=$(mktemp -d)
printf 'log:\n  access_deny_rate: 0\n' > $T/all.yaml
run() { # name, args...
	name=$1; shift
	P=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
	"$GW" --listen 127.0.0.1:$P --allow allowed.test --resolver 127.0.0.1:9 --admin off --control off "$@" >/dev/null 2>$T/err & G=$!
	for _ in $(seq 50); do grep -q ready $T/err && break; sleep 0.1; done
	"$LG" reset -t 127.0.0.1:$P -n 20000 -c 64 -T 1 --sni denied.test --pid $G > $T/out 2>&1 || true
	kill $G; wait $G 2>/dev/null || true
	echo "$name $(grep -E 'closes/s|cpu' $T/out | tr '\n' ' ')"
}
for i in $(seq $REPS); do
	run none --no-access-log
	run limited
	run all -c $T/all.yaml
done
rm -rf $T
