#!/bin/sh
# SPDX-License-Identifier: MIT
#
# takeover.sh BUILD [RUNS]: a restart with --takeover refuses nothing and
# loses nothing.
#
# Each run starts snigate (2 threads) with admin.takeover_socket in front of
# loadgen's sink, drives it with `loadgen connrate` (32 clients, a
# ClientHello and 512 bytes each way, every byte checked), and half a second
# in starts a successor with a different thread count and `--takeover`.
# The successor takes the listening sockets, becomes ready, and the
# predecessor drains and exits 0. loadgen must count no error, no wrong
# byte, nothing stuck and no connect that never completed.
#
# Then two refusals that must leave the running gateway serving: a successor
# whose configuration does not validate, and (as root) a peer of another
# user on the takeover socket.
#
# Exit 0 when all held, 1 otherwise; 77 (skip) without the binaries.
set -u
BUILD=${1:?usage: takeover.sh BUILD [RUNS]}
RUNS=${2:-20}
GW=$BUILD/core/snigate
LG=$BUILD/bench/loadgen
[ -x "$GW" ] && [ -x "$LG" ] || { echo "takeover: build first ($GW, $LG)" >&2; exit 77; }
export SNIGATE_ALLOW_ROOT=1

T=$(mktemp -d /tmp/snigate-takeover-XXXXXX)
chmod 755 "$T"
PIDS=""
cleanup() { for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT INT TERM
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail=0
die() { echo "takeover: $*" >&2; fail=1; }

SINK=$(fp)
"$LG" sink -l 127.0.0.1:$SINK > "$T/sink.log" 2>&1 & PIDS="$PIDS $!"

# The probe and control endpoints on fixed ports: the successor must bind them
# while the predecessor still serves them.
ADMIN=$(fp) CONTROL=$(fp)
conf() { # port allow
	cat > "$T/gw.yaml" <<EOF2
listeners:
  - address: 127.0.0.1:$1
    upstream_port: $SINK
allow: [$2]
resolver:
  hosts: {allowed.test: [127.0.0.1]}
upstream:
  allow: [127.0.0.0/8]
admin:
  address: 127.0.0.1:$ADMIN
  control: {address: 127.0.0.1:$CONTROL}
  takeover_socket: $T/takeover.sock
drain: {delay: 0s, timeout: 10s}
log:
  access: false
EOF2
}
ready() { # stderr file
	for _ in $(seq 200); do grep -q "snigate: ready" "$1" && return 0; sleep 0.05; done
	cat "$1" >&2
	return 1
}
result() { # loadgen output: "ok lost refused"
	line=$(grep '^result mode=connrate' "$1")
	v() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	echo "$(v ok) $(($(v bad) + $(v stuck) + $(v errors))) $(v refused)"
}

total_ok=0 total_lost=0 total_refused=0
for i in $(seq "$RUNS"); do
	GWP=$(fp)
	conf "$GWP" allowed.test
	"$GW" -c "$T/gw.yaml" --threads 2 > "$T/old.out" 2> "$T/old.err" & OLD=$!
	ready "$T/old.err" || { die "run $i: the first gateway never got ready"; break; }
	"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test -c 32 -d 1.5 --req 512 --resp 512 \
		--deadline 8 -q > "$T/lg.out" 2>&1 & L=$!
	sleep 0.5
	"$GW" -c "$T/gw.yaml" --threads 3 --takeover "$T/takeover.sock" > "$T/new.out" 2> "$T/new.err" & NEW=$!
	wait $OLD; old_rc=$?
	wait $L
	set -- $(result "$T/lg.out")
	ok=$1 lost=$2 refused=$3
	grep -q "takeover: took 1 listening sockets" "$T/new.err" || die "run $i: the successor took nothing: $(cat "$T/new.err")"
	# The successor answers the probes: the predecessor is gone.
	curl -sf "http://127.0.0.1:$ADMIN/ready" > /dev/null || die "run $i: no /ready from the successor"
	kill -TERM $NEW; wait $NEW; new_rc=$?
	echo "takeover: run $i: $ok relayed, $lost lost, $refused never connected; predecessor exit $old_rc, successor exit $new_rc"
	total_ok=$((total_ok + ok)) total_lost=$((total_lost + lost)) total_refused=$((total_refused + refused))
	[ "$lost" -eq 0 ] && [ "$refused" -eq 0 ] && [ "$ok" -gt 0 ] && [ "$old_rc" -eq 0 ] && [ "$new_rc" -eq 0 ] || fail=1
done
echo "takeover: $RUNS runs: $total_ok relayed, $total_lost lost, $total_refused never connected"

# A drain that begins after the sockets went but before READY (SIGTERM to the
# predecessor meanwhile) must leave them usable by the successor: no SYN filter,
# no close under their queue. The successor here is a script that takes the
# sockets, never says READY, and accepts once the predecessor has exited.
GWP=$(fp)
conf "$GWP" allowed.test
"$GW" -c "$T/gw.yaml" --threads 2 > "$T/old.out" 2> "$T/old.err" & OLD=$!
ready "$T/old.err" || die "the gateway never got ready"
python3 - "$T/takeover.sock" "$GWP" "$OLD" > "$T/py.out" 2>&1 <<'EOF2'
import os, signal, socket, sys, time
path, port, old = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = socket.socket(socket.AF_UNIX); c.connect(path); c.sendall(b"TAKE 1\n")
msg, fds, _, _ = socket.recv_fds(c, 4096, 64)
assert fds, "no sockets came"
lst = socket.socket(fileno=fds[0])
os.kill(old, signal.SIGTERM)            # the drain begins with the hand-over pending
for _ in range(200):                    # until the predecessor is gone
    try: os.kill(old, 0); time.sleep(0.05)
    except ProcessLookupError: break
cl = socket.create_connection(("127.0.0.1", port), timeout=3)  # a dropped SYN would time out
cl.sendall(b"x")                        # TCP_DEFER_ACCEPT holds it until a byte comes
lst.settimeout(5)
conn, _ = lst.accept()
print("accepted on the handed socket after the predecessor's drain")
EOF2
rc=$?
wait $OLD
if [ "$rc" -eq 0 ] && grep -q accepted "$T/py.out"; then
	echo "takeover: a drain while the hand-over is pending leaves the handed socket usable"
else
	die "a drain during a pending hand-over broke the handed socket: $(cat "$T/py.out")"
fi

# A successor whose configuration does not validate changes nothing.
GWP=$(fp)
conf "$GWP" allowed.test
"$GW" -c "$T/gw.yaml" --threads 2 > "$T/old.out" 2> "$T/old.err" & OLD=$!
ready "$T/old.err" || die "the gateway never got ready"
printf 'listeners: [{address: 127.0.0.1:%s}]\nallow: ["*.com"]\n' "$GWP" > "$T/bad.yaml"
"$GW" -c "$T/bad.yaml" --takeover "$T/takeover.sock" > "$T/bad.out" 2> "$T/bad.err"; rc=$?
[ "$rc" -eq 2 ] || die "a successor with a bad config exited $rc: $(cat "$T/bad.err")"
grep -q "takeover" "$T/old.err" && die "the bad successor reached the gateway: $(cat "$T/old.err")"
"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test -n 200 -c 8 -q > "$T/lg.out" 2>&1
set -- $(result "$T/lg.out")
[ "$1" -eq 200 ] || die "after the bad successor: $1 of 200 relayed"
echo "takeover: a successor with a bad config exits $rc; the gateway relays $1 of 200 after it"

# A peer of another user is refused, even where the file mode would let it in.
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
	chmod 666 "$T/takeover.sock"
	cp "$T/gw.yaml" "$T/nobody.yaml" && chmod 644 "$T/nobody.yaml"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$GW" -c "$T/nobody.yaml" \
		--takeover "$T/takeover.sock" > "$T/nobody.out" 2> "$T/nobody.err"; rc=$?
	[ "$rc" -ne 0 ] || die "a successor of another user took over"
	for _ in $(seq 40); do grep -q "refused a peer of uid 65534" "$T/old.err" && break; sleep 0.05; done
	grep -q "refused a peer of uid 65534" "$T/old.err" || die "no refusal logged: $(cat "$T/old.err")"
	"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test -n 200 -c 8 -q > "$T/lg.out" 2>&1
	set -- $(result "$T/lg.out")
	[ "$1" -eq 200 ] || die "after the other user's attempt: $1 of 200 relayed"
	echo "takeover: a peer of uid 65534 is refused (its exit $rc); the gateway relays $1 of 200 after it"
else
	echo "takeover: not root (or no setpriv): the other-user refusal is not tried"
fi
kill -TERM $OLD; wait $OLD
exit $fail
