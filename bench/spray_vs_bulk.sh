#!/bin/bash
# SPDX-License-Identifier: MIT
# usage: bench/spray_vs_bulk.sh [BUILD]
# bulk alone vs bulk + a closed-loop deny spray (saturation), through snigate (2 threads)
# and direct (sink + rstd), 3 interleaved reps.
B=${1:-build}; case $B in /*) ;; *) B=$PWD/$B ;; esac; T=$(mktemp -d); cd "$T"; export SNIGATE_ALLOW_ROOT=1
LG=$B/bench/loadgen; S=$($LG port); P=$($LG port); R=$($LG port)
$LG sink -l 127.0.0.1:$S >/dev/null 2>&1 & SK=$!
$LG rstd -l 127.0.0.1:$R >/dev/null 2>&1 & RS=$!
cat > s.yaml <<E
listeners: [{address: "127.0.0.1:$P", upstream_port: $S}]
allow: [allowed.test]
resolver: {hosts: {allowed.test: [127.0.0.1]}}
upstream: {allow: [127.0.0.0/8]}
admin: {address: "off", control: {address: "off"}}
log: {access: false}
threads: 2
E
$B/core/snigate -c s.yaml 2>/dev/null & G=$!; sleep 0.5
bulk() { $LG bulk -t 127.0.0.1:$1 --sni allowed.test -b 2G -c 1 -q 2>&1 | sed -n 's/^result .* mibs=\([0-9.]*\).*/\1/p'; }
for rep in 1 2 3; do
  a=$(bulk $P)
  $LG reset -t 127.0.0.1:$P --sni denied.test -c 64 -d 4 -q > r.out 2>&1 & SP=$!; sleep 0.3
  b=$(bulk $P); wait $SP; rate=$(sed -n 's/^result .* rate=\([0-9.]*\).*/\1/p' r.out)
  c=$(bulk $S)
  $LG reset -t 127.0.0.1:$R --sni denied.test -c 64 -d 4 -q > r2.out 2>&1 & SP=$!; sleep 0.3
  d=$(bulk $S); wait $SP; rate2=$(sed -n 's/^result .* rate=\([0-9.]*\).*/\1/p' r2.out)
  echo "rep $rep snigate: alone $a MiB/s, with spray $b MiB/s (spray $rate closes/s); direct: alone $c, with spray to rstd $d ($rate2/s)"
done
kill $G $SK $RS; cd /; rm -rf "$T"
