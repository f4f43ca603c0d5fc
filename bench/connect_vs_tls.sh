#!/bin/sh
# usage: bench/connect_vs_tls.sh [BUILD_DIR] [REPEATS]
# Allowed short connections through snigate: raw TLS (SNI path) against HTTP
# CONNECT (proxy path), same sink, same unbound, interleaved.
set -eu
B=${1:-build}; REPS=${2:-3}
# Bench and soak hosts run as root; snigate refuses root unless told to.
export SNIGATE_ALLOW_ROOT=1
GW=$B/core/snigate; LG=$B/bench/loadgen
T=$(mktemp -d); PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; rm -rf $T' EXIT
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
DNS=$(fp); SINK=$(fp); P=$(fp)
"$(dirname "$0")/localdns.sh" "$T" "$DNS" 3600 allowed.test & PIDS="$PIDS $!"
$LG sink -l 127.0.0.1:$SINK >/dev/null 2>&1 & PIDS="$PIDS $!"
cat > $T/gw.yaml <<EOY
listeners:
  - address: 127.0.0.1:$P
    upstream_port: $SINK
    connect_ports: [$SINK]
allow: [allowed.test]
resolver:
  forwarders: ["127.0.0.1:$DNS"]
upstream:
  allow: [127.0.0.0/8]
admin:
  address: "off"
  control: {address: "off"}
log:
  access: false
EOY
$GW -c $T/gw.yaml 2>$T/err & G=$!; PIDS="$PIDS $G"
for _ in $(seq 50); do grep -q ready $T/err && break; sleep 0.1; done
grep ready $T/err
for i in $(seq $REPS); do
	for mode in tls connect; do
		extra=""; [ $mode = connect ] && extra="--connect $SINK"
		$LG connrate -t 127.0.0.1:$P --sni allowed.test --req 64 --resp 64 -n 10000 -c 32 -T 1 --pid $G $extra > $T/out 2>&1 || true
		echo "$mode: $(grep '^result' $T/out)"
	done
done
