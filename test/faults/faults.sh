#!/bin/sh
# SPDX-License-Identifier: MIT
#
# faults.sh BUILD [RUNS]: faults on purpose in the data path, from a seed.
#
# Each run starts snigate (2 threads) with test/faults/faultshim.so preloaded
# (faultshim.c says what it can make fail) in front of loadgen's sink, and
# drives it with loadgen for two seconds under one schedule:
#
#   mix    every fault: short, EAGAIN, EINTR and reset splices, refused
#          pipes, pipe resizes, sockets and socket options. Allowed
#          transfers (256 KiB up, checksummed; 256 KiB down, then the
#          upstream's FIN) must arrive whole or end in a reset; denied
#          connections must be reset with nothing let through.
#   exact  every fault that need not end a connection (no reset, no refused
#          pipe or socket), EINTR on a splice into a socket included (which
#          the kernel never gives a non-blocking worker, and dir_pump
#          retries): every transfer must arrive whole, two 8 MiB transfers
#          both ways at once among them (checksummed).
#   fin    short splices only, half of them, while the upstream sends
#          256 KiB and its FIN: the relay stall that 346dcf3 fixed. A build
#          with -Dfault_revert_346dcf3=true brings it back, and this
#          schedule must then fail.
#
# Verdicts, each run: no transfer with wrong bytes, none stuck past its
# 5 s deadline, no denied name let through; every connection ended, and
# accounted for in /metrics (accepted = ended by reason + open) with only
# the reasons the faults explain: each injected reset ends exactly one
# connection (client_reset + upstream_reset = the shim's resets), each
# refused socket one (internal), and no client saw more errors than that;
# the gateway's sockets and other fds back to their count before the load,
# its pipes within the pools' bound, its RSS within 4 MiB of its start (not
# under ASan, whose quarantine keeps freed memory); exit 0 on SIGTERM, no
# sanitizer report. RSS grew by 0.5 to 0.6 MiB in every run measured (the
# workers' malloc arenas and slabs, kept for reuse); 4 MiB is a leak of
# under 1 KiB per connection, as a run makes 4,000 to 7,000. A smaller leak
# on the faulted connections only is LeakSanitizer's to find, in the ASan run.
#
# Run r uses seed FAULTS_SEED + r - 1 (FAULTS_SEED defaults to 1) for every
# schedule in FAULTS_SCHEDULES ("mix exact fin"). FAULTS_EXTRA is added to
# every schedule's faults (e.g. eintr_on_write=1, faultshim.c), SNIGATE_BIN
# replaces the gateway, FAULTSHIM the shim. Exit 0 when every run passed, 1
# otherwise; 77 (skip) without the binaries.
set -u
BUILD=${1:?usage: faults.sh BUILD [RUNS]}
RUNS=${2:-3}
GW=${SNIGATE_BIN:-$BUILD/core/snigate}
LG=$BUILD/bench/loadgen
SHIM=${FAULTSHIM:-$BUILD/test/faults/faultshim.so}
SEED0=${FAULTS_SEED:-1}
SCHEDULES=${FAULTS_SCHEDULES:-mix exact fin}
[ -x "$GW" ] && [ -x "$LG" ] && [ -f "$SHIM" ] ||
	{ echo "faults: build first ($GW, $LG, $SHIM)" >&2; exit 77; }
command -v python3 >/dev/null && command -v curl >/dev/null ||
	{ echo "faults: needs python3 and curl" >&2; exit 77; }
export SNIGATE_ALLOW_ROOT=1

# ASan's runtime must come first in the initial library list, or it refuses
# to start; preloaded after it, the shim sits behind its interceptors, as
# libc does.
PRELOAD=$SHIM
ASAN=$(ldd "$GW" 2>/dev/null | awk '/libasan/ { print $3 }')
[ -n "$ASAN" ] && PRELOAD="$ASAN $SHIM"

T=$(mktemp -d /tmp/snigate-faults-XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; [ "${FAULTS_KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT INT TERM
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SINK=$(fp)
"$LG" sink -l 127.0.0.1:$SINK > "$T/sink.log" 2>&1 & PIDS="$PIDS $!"

# Each schedule's faults: the chance of each per call of its kind in a worker.
rates() {
	case $1 in
	mix) echo "splice_short=0.2,splice_eagain=0.05,splice_eintr=0.05,splice_reset=0.002,pipe2=0.05,setpipe=0.2,socket=0.01,setsockopt=0.05" ;;
	exact) echo "splice_short=0.3,splice_eagain=0.1,splice_eintr=0.1,setpipe=0.3,setsockopt=0.2,eintr_on_write=1" ;;
	fin) echo "splice_short=0.5" ;;
	esac
}

G=""
# /metrics into $T/metrics; false when it cannot be read (five tries).
metrics() {
	for _ in 1 2 3 4 5; do
		curl -sf --max-time 5 "http://127.0.0.1:$ADMIN/metrics" > "$T/metrics" &&
			grep -q '^snigate_connections_accepted_total ' "$T/metrics" && return 0
		sleep 0.2
	done
	return 1
}
# The sum of a metric's samples; with a label (reason="done"), of those that carry it.
metric() { awk -v m="$1" -v l="${2:-}" '
	index($0, m) == 1 && substr($0, length(m) + 1, 1) ~ /[ {]/ && (l == "" || index($0, l)) { s += $NF }
	END { printf "%d\n", s }' "$T/metrics"; }
sockfds() { find /proc/$G/fd -mindepth 1 ! -lname 'pipe:*' 2>/dev/null | wc -l; }
pipefds() { find /proc/$G/fd -mindepth 1 -lname 'pipe:*' 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS/ { print $2 }' /proc/$G/status; }
# kv KEY LINE: the value of KEY in a line of k=v words.
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run SCHEDULE SEED: one gateway, one schedule; leaves in $why what failed.
run() {
	sched=$1 seed=$2 why="" n_reset=0 n_sock=0 n_pipe=0 sl=""
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
timeouts:
  idle: 30s
# Below the default 64 KiB every new pipe is resized (F_SETPIPE_SZ), and a
# streaming flow's again: both are fault points.
relay: {pipe_size: 16KiB, pipe_max_size: 256KiB}
admin:
  address: 127.0.0.1:0
  control: {address: "off"}
# A run that failed may leave a connection open: SIGTERM waits 2 s, not 30.
drain: {delay: 0s, timeout: 2s}
log:
  access: false
EOF2
	# The last run's stderr goes first: it says "ready" too, and the new
	# gateway's shell may not have truncated it yet when we look.
	rm -f "$T/gw.out" "$T/gw.err"
	env LD_PRELOAD="$PRELOAD" SNIGATE_FAULTS="seed=$seed,$(rates "$sched")${FAULTS_EXTRA:+,$FAULTS_EXTRA}" \
		"$GW" -c "$T/gw.yaml" --threads 2 > "$T/gw.out" 2> "$T/gw.err" & G=$!
	PIDS="$PIDS $G"
	for _ in $(seq 400); do grep -q "snigate: ready" "$T/gw.err" 2>/dev/null && break; sleep 0.05; done
	if ! grep -q "snigate: ready" "$T/gw.err" 2>/dev/null; then
		kill -0 $G 2>/dev/null && why="; not ready after 20 s" || { wait $G; why="; exited with status $? before it was ready"; }
		return
	fi
	ADMIN=$(sed -n 's/.*admin 127.0.0.1:\([0-9]*\),.*/\1/p' "$T/gw.err" | head -1)
	base_fds=$(sockfds) base_pipes=$(pipefds) base_rss=$(rss)

	# The load, all at once: two seconds of arrivals. A transfer not done 5 s
	# after it began is stuck (the idle timeout, 30 s, would end it later).
	bulk=0
	case $sched in
	mix | exact)
		"$LG" mixed -t 127.0.0.1:$GWP --sni allowed.test --deny-sni denied.test --rate 200 \
			--mix 50 -b 256K -d 2 --deadline 5 -T 1 -q > "$T/mixed.out" 2>&1 & M=$!
		"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test --req 4096 --resp 262144 -c 4 \
			-d 2 --deadline 5 -q > "$T/connrate.out" 2>&1 & C=$!
		if [ "$sched" = exact ]; then
			timeout 30 "$LG" bulk -t 127.0.0.1:$GWP --sni allowed.test -b 8M -c 2 --both -q \
				> "$T/bulk.out" 2>&1 || bulk=$?
		fi
		wait $M $C
		;;
	fin)
		"$LG" connrate -t 127.0.0.1:$GWP --sni allowed.test --req 512 --resp 262144 -c 8 \
			-d 2 --deadline 5 -q > "$T/connrate.out" 2>&1
		;;
	esac

	# What the clients saw. Allowed: whole, or (mix) reset; never wrong, never stuck.
	cl=$(grep '^result mode=connrate' "$T/connrate.out")
	[ -n "$cl" ] || { why="$why; connrate gave no result"; cl="ok=0 bad=0 stuck=0 errors=0 refused=0"; }
	ok=$(kv ok "$cl") errs=$(($(kv errors "$cl") + $(kv refused "$cl")))
	[ "$(kv bad "$cl")" = 0 ] || why="$why; $(kv bad "$cl") responses with wrong bytes"
	[ "$(kv stuck "$cl")" = 0 ] || why="$why; $(kv stuck "$cl") responses stuck"
	if [ "$sched" != fin ]; then
		# "allowed N ok, N bad, N stuck, N errors"; "denied N closed, N leaked, N not closed, N errors"
		a=$(sed -n 's/^mixed: allowed \([0-9]*\) ok, \([0-9]*\) bad, \([0-9]*\) stuck, \([0-9]*\) errors.*/\1 \2 \3 \4/p' "$T/mixed.out")
		d=$(sed -n 's/^mixed: denied \([0-9]*\) closed, \([0-9]*\) leaked, \([0-9]*\) not closed, \([0-9]*\) errors.*/\1 \2 \3 \4/p' "$T/mixed.out")
		if [ -z "$a" ] || [ -z "$d" ]; then
			why="$why; mixed gave no result"
		else
			set -- $a
			ok=$((ok + $1)) errs=$((errs + $4))
			[ "$2" = 0 ] || why="$why; $2 uploads with wrong bytes"
			[ "$3" = 0 ] || why="$why; $3 uploads stuck"
			set -- $d
			[ "$1" -gt 0 ] || why="$why; no denied connection closed"
			[ "$2" = 0 ] || why="$why; $2 denied connections let through"
			[ "$3" = 0 ] || why="$why; $3 denied connections not closed"
			[ "$4" = 0 ] || why="$why; $4 denied connections failed"
		fi
	fi
	[ "$bulk" = 0 ] || why="$why; bulk both ways failed ($bulk): $(grep -h 'loadgen:' "$T/bulk.out" | head -1)"
	[ "$sched" = mix ] || [ "$errs" = 0 ] || why="$why; $errs transfers reset where nothing resets"

	# Every connection ends: none is left open once the clients are done.
	for _ in $(seq 50); do
		metrics || { why="$why; /metrics unreadable"; break; }
		[ "$(metric snigate_active_connections)" = 0 ] && break
		sleep 0.1
	done
	acc=$(metric snigate_connections_accepted_total)
	ended=$(metric snigate_connections_total)
	active=$(metric snigate_active_connections)
	[ "$active" = 0 ] || why="$why; $active connections still open 5 s after the load"
	[ "$acc" -gt 0 ] && [ "$acc" = $((ended + active)) ] ||
		why="$why; accounting: accepted $acc != ended $ended + open $active"
	resets=$(($(metric snigate_connections_total 'reason="client_reset"') +
		$(metric snigate_connections_total 'reason="upstream_reset"')))
	internal=$(metric snigate_connections_total 'reason="internal"')
	other=$((ended - resets - internal - $(metric snigate_connections_total 'reason="done"') -
		$(metric snigate_connections_total 'reason="not_allowed"')))
	[ "$other" = 0 ] || why="$why; $other connections ended for reasons no fault explains: $(grep '^snigate_connections_total' "$T/metrics" |
		grep -v 'reason="\(done\|not_allowed\|client_reset\|upstream_reset\|internal\)"' | sed 's/.*reason=//' | tr '\n' ' ')"

	# Resources. The ring closes sockets asynchronously: give it a moment.
	for _ in $(seq 50); do [ "$(sockfds)" -le "$base_fds" ] && break; sleep 0.1; done
	fds=$(sockfds) pipes=$(pipefds) now_rss=$(rss)
	[ "$fds" = "$base_fds" ] || why="$why; sockets and other fds $base_fds -> $fds"
	# Each thread's pool keeps up to 64 small and 8 large pipes, two fds each.
	[ "$pipes" -le $((base_pipes + 2 * 72 * 2)) ] || why="$why; pipe fds $base_pipes -> $pipes"
	if [ -z "$ASAN" ] && [ "$now_rss" -gt $((base_rss + 4096)) ]; then
		why="$why; RSS grew by more than 4 MiB: $base_rss -> $now_rss KiB"
	fi

	kill -TERM $G
	wait $G
	rc=$?
	[ "$rc" = 0 ] || why="$why; exit status $rc after SIGTERM"
	grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$T/gw.err" &&
		why="$why; sanitizer report"

	# The shim's own count, written at exit, against the gateway's reasons.
	sl=$(grep '^faultshim: result' "$T/gw.err")
	if [ -z "$sl" ]; then
		why="$why; the shim wrote no result"
	else
		n_reset=$(kv splice_reset "$sl") n_sock=$(kv socket "$sl") n_pipe=$(kv pipe2 "$sl")
		[ "$resets" = "$n_reset" ] ||
			why="$why; $n_reset resets injected, $resets connections ended by a reset ($(grep '^snigate_connections_total.*_reset"' "$T/metrics" |
				sed 's/.*reason="\([a-z_]*\)".* \([0-9]*\)$/\2 \1/' | tr '\n' ' '))"
		[ "$internal" -ge "$n_sock" ] && [ "$internal" -le $((n_sock + n_pipe)) ] ||
			why="$why; internal $internal, not within $n_sock refused sockets + $n_pipe refused pipes"
		[ "$errs" -le $((resets + internal)) ] ||
			why="$why; clients saw $errs errors, more than the $((resets + internal)) connections the faults ended"
		[ "$(kv splice_calls "$sl")" -gt 0 ] || why="$why; no splice went through the shim"
	fi
	echo "faults: $sched seed $seed: $ok transfers whole, $errs reset; made" \
		"$(kv splice_short "$sl") short, $(kv splice_eagain "$sl") EAGAIN," \
		"$(kv splice_eintr "$sl") EINTR, $n_reset reset splices; refused $n_pipe pipes," \
		"$(kv setpipe "$sl") resizes, $n_sock sockets, $(kv setsockopt "$sl") options;" \
		"ended by a reset $resets, internal $internal; fds $base_fds -> $fds," \
		"pipe fds $base_pipes -> $pipes, RSS $base_rss -> $now_rss KiB"
}

fails=0 runs=0
for r in $(seq "$RUNS"); do
	seed=$((SEED0 + r - 1))
	for sched in $SCHEDULES; do
		runs=$((runs + 1))
		run "$sched" "$seed"
		if [ -n "$why" ]; then
			fails=$((fails + 1))
			echo "faults: FAIL: $sched seed $seed:${why#;}" >&2
			echo "faults: gateway stderr tail:" >&2
			grep -v '^snigate: stats' "$T/gw.err" | tail -4 | cut -c1-300 >&2
			kill -9 $G 2>/dev/null
		fi
	done
done
echo "faults: $runs runs ($SCHEDULES; seeds $SEED0..$((SEED0 + RUNS - 1))), $fails failed"
[ "$fails" = 0 ]
