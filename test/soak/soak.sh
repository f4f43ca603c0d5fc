#!/bin/sh
# SPDX-License-Identifier: MIT
#
# soak.sh: snigate under mixed load and faults for SECS seconds, then checks
# that nothing crashed, no completed transfer lost or corrupted a byte, every
# connection is accounted for in /metrics, and fds, pipes and memory came
# back to their baseline.
#
# usage: test/soak/soak.sh BUILD_DIR [SECS]      (make soak: 600 s; make test: 60 s)
#
# Load, all at once (loopback, the bench load generator and real unbound):
#   - open-loop mix: 90% denied spray, 10% allowed 256 KiB transfers (checksummed)
#   - 4 long transfers both ways (checksummed), restarted as they finish
#   - HTTP CONNECT clients (connrate --connect)
#   - 1,500 relayed connections held open the whole time (loadgen idle)
# The run has two phases on one gateway. First SECS/4 seconds of that load
# alone (the no-fault run: its allowed p99 is the reference), then SECS
# seconds of the same load plus faults:
#   - slowloris clients (hello bytes trickled), garbage, clients that reset
#     mid-transfer (python3)
#   - an upstream (a second listener's) that resets mid-transfer or stalls
#   - SIGHUP reloads every 3 s alternating two allowlists
#   - the DNS server stopped for a third of the run and restarted (answers are
#     cached, then served stale)
# and a short phase with the gateway at RLIMIT_NOFILE 256 at the end (EMFILE),
# after which it must serve again. The allowed p99 under faults over the
# no-fault one is printed; SOAK_P99_FACTOR=F (make soak: 10) makes it a
# verdict. make test leaves it a figure: on a shared CI machine a latency
# bound would fail on the neighbours, not on snigate.
set -eu
BUILD=${1:?usage: soak.sh BUILD_DIR [SECS]}
SECS=${2:-60}
# Bench and soak hosts run as root; snigate refuses root unless told to.
export SNIGATE_ALLOW_ROOT=1
GW=$BUILD/core/snigate
LG=$BUILD/bench/loadgen
[ -x "$GW" ] && [ -x "$LG" ] || { echo "soak: build first ($GW, $LG)" >&2; exit 77; }
command -v unbound >/dev/null && command -v python3 >/dev/null && command -v curl >/dev/null ||
	{ echo "soak: needs unbound, python3 and curl" >&2; exit 77; }

T=$(mktemp -d /tmp/snigate-soak-XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${SOAK_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() { echo "soak: FAIL: $*" >&2; echo "soak: gateway stderr tail:" >&2; tail -20 "$T/gw.err" >&2; exit 1; }
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

DNS=$(fp); SINK=$(fp); GWP=$(fp)
start_unbound() {
	"$(dirname "$0")/../../bench/localdns.sh" "$T" "$DNS" 5 allowed.test other.test & UB=$!
	PIDS="$PIDS $UB"
}
start_unbound
"$LG" sink -l 127.0.0.1:$SINK > "$T/sink.log" 2>&1 & PIDS="$PIDS $!"
# The faulty upstream: each connection is read for a while, then reset
# (SO_LINGER 0) or left stalled (nothing read, nothing sent) for 3 s.
FLAKY=$(fp); GWF=$(fp)
python3 - "$FLAKY" > "$T/flaky.log" 2>&1 <<'EOF' &
import random, socket, struct, sys, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(512)
def serve(c):
    try:
        want, got = random.randint(1000, 200000), 0
        while got < want:
            b = c.recv(65536)
            if not b: break
            got += len(b)
        if random.random() < 0.5:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            time.sleep(3)
    except OSError:
        pass
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
PIDS="$PIDS $!"

conf() { # allowlist extra
	cat > "$T/gw.yaml.new" <<EOF
listeners:
  - address: 127.0.0.1:$GWP
    upstream_port: $SINK
    connect_ports: [$SINK]
  - address: 127.0.0.1:$GWF
    upstream_port: $FLAKY
allow: [allowed.test$1]
resolver:
  forwarders: ["127.0.0.1:$DNS"]
  min_ttl: 1s
  max_ttl: 5s
upstream:
  allow: [127.0.0.0/8]
timeouts:
  client_hello: 2s
  request_head: 2s
  dns: 2s
admin:
  address: 127.0.0.1:0
  control: {address: "off"}
log:
  access: false
limits:
  max_pending_hellos: 2000
EOF
	mv "$T/gw.yaml.new" "$T/gw.yaml"
}
conf ""
"$GW" -c "$T/gw.yaml" --threads 2 > "$T/gw.out" 2> "$T/gw.err" & G=$!; PIDS="$PIDS $G"
for _ in $(seq 100); do grep -q "snigate: ready" "$T/gw.err" && break; sleep 0.1; done
grep -q "snigate: ready" "$T/gw.err" || fail "never ready"
ADMIN=$(sed -n 's/.*admin 127.0.0.1:\([0-9]*\),.*/\1/p' "$T/gw.err" | head -1)
metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '
	index($0, m) == 1 && substr($0, length(m) + 1, 1) ~ /[ {]/ { s += $NF } END { printf "%d\n", s }'; }
fds() { ls /proc/$G/fd | wc -l; }
pipes() { ls -l /proc/$G/fd 2>/dev/null | grep -c 'pipe:' || true; }
rss() { awk '/^VmRSS/ {print $2}' /proc/$G/status; }

# Warm up (resolver cache, pipe pools, rings), then take the baseline.
"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test -n 2000 -c 32 -q > /dev/null 2>&1 || true
sleep 1
BASE_FDS=$(fds); BASE_RSS=$(rss)
echo "soak: $SECS s against snigate (pid $G), baseline $BASE_FDS fds, ${BASE_RSS} KiB RSS"

# ---- load: start_load SECS TAG ----
start_load() {
	"$LG" mixed -t 127.0.0.1:$GWP --sni allowed.test --deny-sni denied.test --rate 2000 \
		--mix 10 -b 256K -d "$1" -T 1 -q > "$T/mixed.$2.out" 2>&1 & MIX=$!
	"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test --connect $SINK -d "$1" -c 8 -q \
		> "$T/connect.$2.out" 2>&1 & CON=$!
	(
		end=$(( $(date +%s) + $1 )); i=0
		while [ "$(date +%s)" -lt "$end" ]; do
			"$LG" bulk -t 127.0.0.1:$GWP --sni allowed.test -b 64M -c 4 --both -q \
				> "$T/bulk.$2.$i.out" 2>&1 || echo "bulk $2 $i failed" >> "$T/bulk.fail"
			i=$((i + 1))
		done
	) & BULK=$!
	# Held relayed connections: opened over the first seconds, then silent.
	"$LG" idle -t 127.0.0.1:$GWP --sni allowed.test -n $HELD --settle $(( $1 / 2 )) \
		--pid $G -q > "$T/idle.$2.out" 2>&1 & IDLE=$!
}
# wait_load TAG: every client of the phase has finished; their verdicts.
wait_load() {
	wait $MIX || true
	wait $CON || true
	wait $BULK || true
	wait $IDLE || fail "$1: held connections broke: $(tail -2 "$T/idle.$1.out")"
	[ ! -f "$T/bulk.fail" ] || fail "$1: bulk: $(cat "$T/bulk.fail"); $(cat "$T"/bulk.*.out | tail -3)"
	grep -E "^mixed:" "$T/mixed.$1.out" | sed "s/^/$1 /" || true
	bad=$(sed -n 's/^mixed: allowed [0-9]* ok, \([0-9]*\) bad.*/\1/p' "$T/mixed.$1.out")
	[ "${bad:-x}" = 0 ] || fail "$1: mixed: $bad allowed transfers corrupted (or no result)"
	leaked=$(sed -n 's/.* deny_leaked=\([0-9]*\).*/\1/p' "$T/mixed.$1.out")
	[ "${leaked:-x}" = 0 ] || fail "$1: mixed: $leaked denied connections got through"
	for f in "$T"/bulk.$1.*.out; do
		[ -f "$f" ] || continue
		if grep -qi "mismatch\|corrupt" "$f"; then fail "$1: bulk: checksum mismatch in $f"; fi
		NBULK=$((NBULK + 1))
	done
	grep -E "^connrate:" "$T/connect.$1.out" | head -2 | sed "s/^/$1 /" || true
	cbad=$(sed -n 's/.* bad=\([0-9]*\).*/\1/p' "$T/connect.$1.out")
	[ "${cbad:-x}" = 0 ] || fail "$1: CONNECT clients: ${cbad:-no result} wrong answers"
}
HELD=${SOAK_HELD:-1500}
NBULK=0
BASE_SECS=$(( SECS / 4 > 10 ? SECS / 4 : 10 ))
echo "soak: no-fault phase, $BASE_SECS s"
start_load $BASE_SECS nofault
wait_load nofault
P99_REF=$(sed -n 's/^result .* allow_p99=\([0-9.]*\) .*/\1/p' "$T/mixed.nofault.out")

echo "soak: fault phase, $SECS s"
start_load $SECS fault
python3 - "$GWP" "$SECS" "$GWF" > "$T/hostile.out" 2>&1 <<'EOF' &
import os, random, socket, struct, sys, threading, time
port, secs, flaky_port = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
flaky_n = [0]
end = time.time() + secs
def hello(sni):
    name = sni.encode()
    ext = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(ext)) + ext
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs
def slowloris():
    while time.time() < end:
        socks = []
        for _ in range(50):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                socks.append(s)
            except OSError:
                pass
        h = hello("allowed.test")
        for i in range(0, 6):
            for s in socks:
                try: s.send(h[i:i + 1])
                except OSError: pass
            time.sleep(0.5)
        for s in socks: s.close()
def garbage():
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.send(os.urandom(random.randint(1, 3000)))
            s.settimeout(2); s.recv(100)
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.01)
def resetter():
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.send(hello("allowed.test") + os.urandom(100000))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass
        time.sleep(0.02)
def to_flaky():
    # Through the gateway to the upstream that resets or stalls: the client
    # streams until the gateway passes the reset on or it gives up stalling.
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", flaky_port), timeout=2)
            s.sendall(hello("allowed.test"))
            chunk = os.urandom(16384)
            t0 = time.time()
            while time.time() - t0 < 5:
                s.sendall(chunk)
        except OSError:
            pass
        finally:
            s.close()
        flaky_n[0] += 1
ts = [threading.Thread(target=f) for f in (slowloris, garbage, garbage, resetter, to_flaky, to_flaky)]
for t in ts: t.start()
for t in ts: t.join()
print("hostile clients done; %d connections to the faulty upstream" % flaky_n[0])
EOF
HOST=$!

# ---- faults ----
t0=$(date +%s); reloads=0; dns_down=0
while kill -0 $MIX 2>/dev/null; do
	sleep 3
	now=$(( $(date +%s) - t0 ))
	kill -0 $G 2>/dev/null || fail "snigate died during the soak"
	if [ $((reloads % 2)) -eq 0 ]; then conf ", other.test"; else conf ""; fi
	kill -HUP $G; reloads=$((reloads + 1))
	if [ $dns_down -eq 0 ] && [ $now -ge $((SECS / 3)) ]; then
		kill $UB; wait $UB 2>/dev/null || true; dns_down=1; echo "soak: DNS stopped at ${now}s"
	elif [ $dns_down -eq 1 ] && [ $now -ge $((SECS * 2 / 3)) ]; then
		start_unbound; dns_down=2; echo "soak: DNS restarted at ${now}s"
	fi
done
wait $HOST || true
wait_load fault
kill -0 $G 2>/dev/null || fail "snigate died"
tail -1 "$T/hostile.out"
echo "soak: $reloads reloads, DNS stopped and restarted, $NBULK bulk rounds of 4x64 MiB both ways, $HELD connections held in each phase"
P99_FAULT=$(sed -n 's/^result .* allow_p99=\([0-9.]*\) .*/\1/p' "$T/mixed.fault.out")
FACTOR=$(awk -v a="$P99_FAULT" -v b="$P99_REF" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "soak: allowed p99 $P99_REF us without faults, $P99_FAULT us with them: ${FACTOR}x"
if [ -n "${SOAK_P99_FACTOR:-}" ]; then
	awk -v f="$FACTOR" -v m="$SOAK_P99_FACTOR" 'BEGIN { exit !(f > 0 && f <= m) }' ||
		fail "allowed p99 under faults is ${FACTOR}x the no-fault run (SOAK_P99_FACTOR=$SOAK_P99_FACTOR)"
fi

# Every connection accounted for: accepted = ended (by reason) + still open.
for _ in $(seq 100); do
	[ "$(metric snigate_active_connections)" = 0 ] && break
	sleep 0.1
done
acc=$(metric snigate_connections_accepted_total)
ended=$(metric snigate_connections_total)
active=$(metric snigate_active_connections)
echo "soak: accepted $acc, ended $ended, open $active"
[ "$acc" -gt 0 ] && [ "$acc" = $((ended + active)) ] || fail "accounting: accepted $acc != ended $ended + open $active"
ok=$(metric 'snigate_config_reload_total{result="success"}')
[ "$ok" -ge 1 ] || fail "no reload succeeded"

# Resources back to baseline (pools may keep a few pipes: up to 72 per thread).
sleep 1
now_fds=$(fds); now_rss=$(rss)
echo "soak: fds $BASE_FDS -> $now_fds, RSS $BASE_RSS -> $now_rss KiB"
[ "$now_fds" -le $((BASE_FDS + 2 * 72 * 2)) ] || fail "fds grew: $BASE_FDS -> $now_fds"
if ldd "$GW" 2>/dev/null | grep -q libasan; then
	# ASan's quarantine keeps freed memory (256 MiB by default): RSS says
	# nothing here. LeakSanitizer checks the heap at exit instead (below).
	echo "soak: ASan build: RSS not compared; LeakSanitizer checks at exit"
else
	[ "$now_rss" -le $((BASE_RSS + 65536)) ] || fail "RSS grew by more than 64 MiB: $BASE_RSS -> $now_rss"
fi

# Still serving after all that.
"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test -n 500 -c 16 -q > "$T/after.out" 2>&1 ||
	fail "not serving after the soak: $(cat "$T/after.out")"
kill -TERM $G; wait $G || fail "exit status $? after SIGTERM"
grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$T/gw.err" && fail "sanitizer report"

# EMFILE phase: a gateway capped at 256 fds is flooded past it, then serves again.
GWP2=$(fp)
sed "s/127.0.0.1:$GWP\$/127.0.0.1:$GWP2/" "$T/gw.yaml" > "$T/gw2.yaml"
prlimit --nofile=256:256 "$GW" -c "$T/gw2.yaml" --threads 1 > /dev/null 2> "$T/gw2.err" & G2=$!; PIDS="$PIDS $G2"
for _ in $(seq 100); do grep -q "snigate: ready" "$T/gw2.err" 2>/dev/null && break; sleep 0.1; done
grep -q "snigate: ready" "$T/gw2.err" || fail "EMFILE phase: the gateway was never ready"
# Each sends the first bytes of a hello: TCP_DEFER_ACCEPT hands a silent
# connection to snigate only seconds later, and the flood must reach accept().
python3 - "$GWP2" <<'EOF'
import socket, sys, time
socks = []
for _ in range(400):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
        s.send(b"\x16\x03\x01\x02\x00")
        socks.append(s)
    except OSError: pass
time.sleep(2)
for s in socks: s.close()
EOF
cpu0=$(awk '{print $14 + $15}' /proc/$G2/stat)
sleep 1
cpu1=$(awk '{print $14 + $15}' /proc/$G2/stat)
"$LG" connrate -t 127.0.0.1:$GWP2 --sni allowed.test -n 200 -c 8 -q > "$T/after2.out" 2>&1 ||
	fail "not serving after EMFILE: $(cat "$T/after2.out")"
grep -q "Too many open files" "$T/gw2.err" || fail "the EMFILE phase never hit EMFILE"
echo "soak: EMFILE hit and recovered; $((cpu1 - cpu0)) ticks of CPU in the second after"
kill -TERM $G2; wait $G2 || fail "exit status $? after SIGTERM (EMFILE phase)"
echo "soak: PASS"
