#!/bin/bash
# SPDX-License-Identifier: MIT
# usage: bench/policies.sh [BUILD] [REPS]
#
# What policies cost on the deny and allow paths: CPU per denied connection
# (loadgen reset) and per allowed one (loadgen connrate) through two gateways
# that differ only in their policies, measured in one run, interleaved:
#   small: 1 policy, 10 names;
#   large: 200 policies, 50,000 names (a tenth of them wildcards), 5,000
#          source CIDRs, and the client's own policy the last of them.
# Also prints what --check says of each: its own time and memory, and the
# policies' tables (built in how long, how large).
set -eu
B=${1:-build}; case $B in /*) ;; *) B=$PWD/$B ;; esac
REPS=${2:-3}
export SNIGATE_ALLOW_ROOT=1
LG=$B/bench/loadgen; GW=$B/core/snigate
[ -x "$GW" ] && [ -x "$LG" ] || { echo "build first: ninja -C $B" >&2; exit 2; }
T=$(mktemp -d); PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
S=$($LG port)
$LG sink -l 127.0.0.1:$S >/dev/null 2>&1 & PIDS="$PIDS $!"

# common PORT: everything but the policies
common() {
	cat <<E
listeners: [{name: main, address: "127.0.0.1:$1", upstream_port: $S}]
resolver: {hosts: {allowed.test: [127.0.0.1]}}
upstream: {allow: [127.0.0.0/8]}
admin: {address: "off", control: {address: "off"}}
log: {access: false}
threads: 1
drain: {timeout: 1s}
E
}

PS=$($LG port); PL=$($LG port)
{ common "$PS"
  echo "policies:"
  echo "  - name: only"
  echo "    allow: [allowed.test$(for i in $(seq 9); do printf ', n%d.example' "$i"; done)]"
} > "$T/small.yaml"
# 199 policies of 250 names and 25 CIDRs (10.x.y.0/24) each, then the client's
# (127.0.0.0/8) with 250 names and allowed.test: 50,000 names, 5,000 CIDRs.
python3 - "$T/large.yaml" "$(common "$PL")" <<'PY'
import sys
out, head = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    f.write(head + "\npolicies:\n")
    for p in range(200):
        last = p == 199
        cidrs = ["127.0.0.0/8"] + [f"10.{p % 250}.{k}.0/24" for k in range(24)] if last else \
                [f"10.{p % 250}.{k + 100 * (p // 250)}.0/24" for k in range(25)]
        names = [f"{'*.' if k % 10 == 0 else ''}h{k}.p{p}.example" for k in range(250)]
        if last:
            names[-1] = "allowed.test"
        f.write(f"  - name: p{p}\n    match: {{sources: [{', '.join(cidrs)}]}}\n")
        f.write(f"    allow: [{', '.join(chr(34) + n + chr(34) for n in names)}]\n")
PY
for k in small large; do
	/usr/bin/time -f "  $k: --check took %e s, max RSS %M KiB" "$GW" --check -c "$T/$k.yaml" 2>&1 |
		grep -E "ok \(|took|policies:"
done

start() { # CONFIG PORT -> GWPID
	"$GW" -c "$1" > "$T/gw.out" 2> "$T/gw.err" & GWPID=$!; PIDS="$PIDS $GWPID"
	for _ in $(seq 100); do grep -q ready "$T/gw.err" 2>/dev/null && break; sleep 0.1; done
	grep -q ready "$T/gw.err" || { cat "$T/gw.err" >&2; exit 1; }
	grep -o 'ready: .*' "$T/gw.err" | sed 's/^/  /' | cut -c1-100
}
field() { awk -v k="$1" '/^result / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) CPUs, $(uname -r); snigate $("$GW" --version), 1 worker thread"
for i in $(seq "$REPS"); do
	for k in small large; do
		P=$([ $k = small ] && echo "$PS" || echo "$PL")
		start "$T/$k.yaml" > /dev/null
		$LG reset -t 127.0.0.1:$P -n 60000 -c 64 -T 1 --sni denied.test --pid $GWPID -q > "$T/r.$k.$i" 2>&1
		$LG connrate -t 127.0.0.1:$P --sni allowed.test -n 20000 -c 32 --pid $GWPID > "$T/c.$k.$i" 2>&1 ||
			{ echo "connrate through the $k gateway failed:"; tail -3 "$T/c.$k.$i"; exit 1; }
		kill $GWPID; wait $GWPID 2>/dev/null || true
		echo "  run $i $k: denied $(field cpu_us < "$T/r.$k.$i") us/conn, allowed $(field cpu_us < "$T/c.$k.$i") us/conn"
	done
done
for k in small large; do
	d=$(cat "$T"/r.$k.* | field cpu_us | median); a=$(cat "$T"/c.$k.* | field cpu_us | median)
	eval "D_$k=$d A_$k=$a"
	echo "$k: median CPU per denied connection ${d} us, per allowed ${a} us"
done
echo "large/small: denied $(echo "$D_large $D_small" | awk '{printf "%.2f", $1/$2}')x, allowed $(echo "$A_large $A_small" | awk '{printf "%.2f", $1/$2}')x"
