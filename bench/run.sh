#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh: every workload against every gateway, interleaved and repeated, on
# loopback; then bench/report.sh turns the raw lines into RESULTS.md and plots.
#
# usage: bench/run.sh [--quick] [--build DIR] [--reps N] [--raw FILE] [--only T,T]
#
#   targets   direct (client -> sink; for the reset path a minimal RST server),
#             snigate, haproxy, nginx, sniproxy: the same allowlist
#             (bench/peers/allowlist.txt), the same unbound, the same sink
#   configs   1t  one thread / process each (nbthread 1, worker_processes 1,
#                 --threads 1); all workloads, plus the open-loop sweep and the
#                 mixed run
#             Nt  one per CPU (sniproxy has no threads: still one process)
#   --quick   one repetition of tiny runs (the meson smoke test, <= 90 s)
#
# Raw lines go to --raw (default bench/results.raw), one per run:
#   cfg=1t target=snigate rep=1 wl=reset exit=0 mode=reset ok=... rate=...
# A peer that is not installed makes the run exit 77 (skipped), because a
# table with a missing column is not the comparison this is for.
# Everything listens on 127.0.0.0/8 only, and everything started is stopped
# by PID on exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
REPS=5
QUICK=0
RAW=$ROOT/bench/results.raw
ONLY=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1; REPS=1 ;;
	--build) BUILD=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--raw) RAW=$2; shift ;;
	--only) ONLY=$2; shift ;;
	*) echo "usage: $0 [--quick] [--build DIR] [--reps N] [--raw FILE] [--only T,T]" >&2; exit 2 ;;
	esac
	shift
done
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
case $RAW in /*) ;; *) RAW=$PWD/$RAW ;; esac

LG=$BUILD/bench/loadgen
# Bench and soak hosts run as root; snigate refuses root unless told to.
export SNIGATE_ALLOW_ROOT=1
GW=$BUILD/core/snigate
PEERS=$ROOT/bench/peers
NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
[ -x "$LG" ] && [ -x "$GW" ] || { echo "run.sh: build first (ninja -C $BUILD)" >&2; exit 2; }
missing=""
for b in unbound haproxy nginx sniproxy; do
	command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing="$missing $b"
done
[ -f "$NGINX_STREAM" ] || missing="$missing libnginx-mod-stream"
if [ -n "$missing" ]; then
	echo "run.sh: not installed:$missing (make bench installs them); skipped" >&2
	exit 77
fi
PATH=$PATH:/usr/sbin

NCPU=$(nproc)
T=$(mktemp -d /tmp/snigate-bench-XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { [ "$QUICK" = 1 ] || echo "run.sh: $*" >&2; }
port() { "$LG" port; }
tcp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_tcp() {
	for _ in $(seq 100); do tcp_up "$1" && return 0; sleep 0.05; done
	echo "run.sh: nothing listens on port $1" >&2
	return 1
}

# ---- shared peers: unbound, sink, rstd ----

DNS=$(port)
SINK=$(port)
RSTD=$(port)
# sniproxy's resolver can only ask port 53: unbound also answers on another
# loopback address, where port 53 is free (127.0.0.53 is systemd-resolved's).
DNS53=127.0.0.153
render() { # template out
	sed -e "s|@DIR@|$T|g" -e "s|@DNS_PORT@|$DNS|g" -e "s|@DNS53_ADDR@|$DNS53|g" \
		-e "s|@SINK_PORT@|$SINK|g" -e "s|@PORT@|${PORT:-0}|g" \
		-e "s|@THREADS@|${THREADS:-1}|g" -e "s|@REUSEPORT@|${REUSEPORT:-}|g" \
		-e "/@SNIPROXY_TABLE@/{r $T/sniproxy-table.conf" -e "d}" "$1" > "$2"
}

grep -v '^#' "$PEERS/allowlist.txt" | grep . > "$T/allowlist.txt"
awk -v p="$SINK" '{ printf "%s %s:%s;\n", $1, $1, p }' "$T/allowlist.txt" > "$T/nginx-allow.map"
awk -v p="$SINK" '{ n = $1; gsub(/\./, "\\.", n); printf "  ^%s$ *:%s\n", n, p }' \
	"$T/allowlist.txt" > "$T/sniproxy-table.conf"
ALLOW_FLAGS=$(awk '{ printf " --allow %s", $1 }' "$T/allowlist.txt")
# The upstream address policy denies loopback by default once it exists.
if "$GW" --help 2>&1 | grep -q -- '--allow-upstream'; then
	ALLOW_FLAGS="$ALLOW_FLAGS --allow-upstream 127.0.0.0/8"
fi

render "$PEERS/unbound.conf.in" "$T/unbound.conf"
unbound -d -c "$T/unbound.conf" > "$T/unbound.out" 2>&1 &
PIDS="$PIDS $!"
"$LG" sink -l "127.0.0.1:$SINK" > /dev/null &
SINK_PID=$!
PIDS="$PIDS $SINK_PID"
"$LG" rstd -l "127.0.0.1:$RSTD" > /dev/null &
RSTD_PID=$!
PIDS="$PIDS $RSTD_PID"
wait_tcp "$SINK"
wait_tcp "$RSTD"
for _ in $(seq 100); do
	ss -Hlun "sport = :$DNS" | grep -q . && ss -Hlun "sport = :53" | grep -q "$DNS53" && break
	sleep 0.05
done
if ! ss -Hlun "sport = :53" | grep -q "$DNS53"; then
	echo "run.sh: unbound did not start:" >&2
	cat "$T/unbound.out" "$T/unbound.log" >&2 2>/dev/null || true
	exit 1
fi

# ---- gateways ----

declare -A GWPID GWPORT
TARGETS="direct snigate haproxy nginx sniproxy"
if [ -n "$ONLY" ]; then TARGETS=$(echo "$ONLY" | tr ',' ' '); fi

start_gw() { # name threads
	local name=$1 th=$2 pid
	PORT=$(port)
	THREADS=$th
	REUSEPORT=""
	[ "$th" -gt 1 ] && REUSEPORT=reuseport
	case $name in
	snigate)
		# shellcheck disable=SC2086
		"$GW" --listen "127.0.0.1:$PORT" $ALLOW_FLAGS --resolver "127.0.0.1:$DNS" \
			--upstream-port "$SINK" --threads "$th" --no-access-log --log-level warn \
			--admin 127.0.0.1:0 --control off \
			> /dev/null 2> "$T/snigate.err" &
		pid=$!
		for _ in $(seq 100); do grep -q 'ready' "$T/snigate.err" 2>/dev/null && break; sleep 0.05; done
		;;
	haproxy)
		render "$PEERS/haproxy.cfg.in" "$T/haproxy.cfg"
		haproxy -db -f "$T/haproxy.cfg" > "$T/haproxy.out" 2>&1 &
		pid=$!
		;;
	nginx)
		mkdir -p "$T/nginx"
		render "$PEERS/nginx.conf.in" "$T/nginx.conf"
		nginx -p "$T/nginx" -c "$T/nginx.conf" -e "$T/nginx.err" > "$T/nginx.out" 2>&1 &
		pid=$!
		;;
	sniproxy)
		render "$PEERS/sniproxy.conf.in" "$T/sniproxy.conf"
		sniproxy -f -c "$T/sniproxy.conf" > "$T/sniproxy.out" 2>&1 &
		pid=$!
		;;
	esac
	PIDS="$PIDS $pid"
	GWPID[$name]=$pid
	GWPORT[$name]=$PORT
	if ! wait_tcp "$PORT" || ! kill -0 "$pid" 2>/dev/null; then
		echo "run.sh: $name did not start:" >&2
		cat "$T/$name".* >&2 2>/dev/null || true
		exit 1
	fi
	# Warm: resolve the allowed name once, and prove the allowed path works.
	if ! "$LG" connrate -q -t "127.0.0.1:$PORT" --sni allowed.test -n 20 -c 2 \
		--deadline 5 > "$T/warm.$name" 2>&1; then
		echo "run.sh: $name does not relay an allowed connection:" >&2
		cat "$T/warm.$name" "$T/$name".* >&2 2>/dev/null || true
		exit 1
	fi
}

stop_gw() { # name
	local pid=${GWPID[$1]}
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
}

# addr and pid flags of a target for a workload (the reset path's direct is rstd)
target_args() { # target wl
	case $1 in
	direct)
		case $2 in
		reset* | sweep*) echo "-t 127.0.0.1:$RSTD --pid $RSTD_PID" ;;
		mixed*) echo "-t 127.0.0.1:$SINK --deny-target 127.0.0.1:$RSTD" ;;
		# the sink's CPU, and loadgen's own (self_us): the two endpoints a relay must be
		connrate* | rr*) echo "-t 127.0.0.1:$SINK --pid $SINK_PID" ;;
		*) echo "-t 127.0.0.1:$SINK" ;;
		esac ;;
	*) echo "-t 127.0.0.1:${GWPORT[$1]} --pid ${GWPID[$1]}" ;;
	esac
}

if [ "$QUICK" = 1 ]; then
	D=0.3; DS=0.3
	W_RESET="-d $D -c 16"
	W_CONN="-d $D -c 8 --req 512 --resp 4096"
	W_RR="-d $D -c 4 --req 128 --resp 1024"
	W_BULK="-b 16M -c 1"
	W_BOTH="-b 8M -c 2 --both"
	W_BULK8="-b 4M -c 8"
	W_IDLE="-n 20 --settle 0.1"
	SWEEP="2000"
	MIX_RATE=1000; MIX_BYTES=64K
	SWEEP_REPS=1
else
	D=3; DS=1.5
	W_RESET="-d $D -c 64"
	W_CONN="-d $D -c 32 --req 512 --resp 4096"
	W_RR="-d $D -c 8 --req 128 --resp 1024"
	W_BULK="-b 1G -c 1"
	W_BOTH="-b 256M -c 4 --both"
	W_BULK8="-b 128M -c 8"
	W_IDLE="-n 5000"
	SWEEP="2500 5000 10000 15000 20000 30000"
	MIX_RATE=12000; MIX_BYTES=64K
	SWEEP_REPS=3
fi

# One run: target cfg rep wl loadgen-mode args...
run1() {
	local target=$1 cfg=$2 rep=$3 wl=$4 mode=$5 rc=0 line t0=$SECONDS
	shift 5
	# shellcheck disable=SC2046,SC2086
	timeout 120 ${LGPIN:-} "$LG" "$mode" -q $(target_args "$target" "$wl") "$@" > "$T/out" 2> "$T/err" ||
		rc=$?
	line=$(sed -n 's/^result //p' "$T/out" | tail -1)
	[ -n "$line" ] || line="mode=$mode missing=1"
	echo "cfg=$cfg target=$target rep=$rep wl=$wl exit=$rc wall=$((SECONDS - t0)) $line" >> "$RAW"
	if [ "$rc" != 0 ]; then
		say "$cfg $target $wl rep $rep: exit $rc: $(head -c 300 "$T/err" | tr '\n' ' ')"
	fi
	return 0
}

# The processes that serve a target: the gateway's, its workers (nginx's
# and HAProxy's children) included; for direct, rstd.
server_pids() { # target
	local p
	case $1 in direct) p=$RSTD_PID ;; *) p=${GWPID[$1]} ;; esac
	echo "$p" $(pgrep -P "$p")
}
pin() { # cpus pid... (every thread of each)
	local c=$1 p
	shift
	for p in "$@"; do taskset -a -cp "$c" "$p" > /dev/null 2>&1 || true; done
}

# The reset path again with the client on CPU 0 and the server on the last
# CPU. Left to itself the scheduler often runs a gateway that uses little CPU
# on the client's core, where it waits for the client's time slice: the
# latency then measures that placement more than the gateway (PERF.md).
run_apart() { # target cfg rep
	pin "$((NCPU - 1))" $(server_pids "$1")
	LGPIN="taskset -c 0" run1 "$1" "$2" "$3" reset-apart reset --sni denied.test $W_RESET
	pin "0-$((NCPU - 1))" $(server_pids "$1")
}

# The workloads of one repetition, targets interleaved (rotated by rep).
rotate() { # rep list...
	local r=$1
	shift
	local a=("$@") n=$# i
	for ((i = 0; i < n; i++)); do echo "${a[(i + r) % n]}"; done
}

# full: 2 = every workload, sweep and mixed included; 1 = the main seven; 0 = reset only
run_config() { # cfg threads full
	local cfg=$1 th=$2 full=$3 rep t order
	for t in $TARGETS; do [ "$t" = direct ] || start_gw "$t" "$th"; done
	for rep in $(seq "$REPS"); do
		say "$cfg: repetition $rep of $REPS ($(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
		# shellcheck disable=SC2086
		order=$(rotate "$rep" $TARGETS)
		for t in $order; do run1 "$t" "$cfg" "$rep" reset reset --sni denied.test $W_RESET; done
		[ "$full" -ge 1 ] || continue
		if [ "$th" = 1 ] && [ "$NCPU" -ge 2 ]; then
			for t in $order; do run_apart "$t" "$cfg" "$rep"; done
		fi
		for t in $order; do
			run1 "$t" "$cfg" "$rep" reset-8k reset --sni denied.test --size 8192 \
				--segments 6 $W_RESET
		done
		for t in $order; do run1 "$t" "$cfg" "$rep" connrate connrate --sni allowed.test $W_CONN; done
		for t in $order; do run1 "$t" "$cfg" "$rep" rr rr --sni allowed.test $W_RR; done
		for t in $order; do run1 "$t" "$cfg" "$rep" bulk bulk --sni allowed.test $W_BULK; done
		for t in $order; do run1 "$t" "$cfg" "$rep" bulk-both bulk --sni allowed.test $W_BOTH; done
		for t in $order; do run1 "$t" "$cfg" "$rep" bulk-8 bulk --sni allowed.test $W_BULK8; done
		[ "$full" -ge 2 ] || continue
		# A fresh gateway for idle: memory a process grew during the workloads
		# before is reused and would hide what the held connections cost.
		for t in $TARGETS; do [ "$t" = direct ] || { stop_gw "$t"; start_gw "$t" "$th"; }; done
		for t in $order; do run1 "$t" "$cfg" "$rep" idle idle --sni allowed.test $W_IDLE; done
		for t in $order; do
			run1 "$t" "$cfg" "$rep" mixed-nospray mixed --sni allowed.test \
				--rate $((MIX_RATE / 10)) --mix 100 -b $MIX_BYTES -d $D -c 8000 --deadline 5
			run1 "$t" "$cfg" "$rep" mixed-spray mixed --sni allowed.test --deny-sni denied.test \
				--rate $MIX_RATE --mix 10 -b $MIX_BYTES -d $D -c 8000 --deadline 5
		done
		[ "$rep" -le "$SWEEP_REPS" ] || continue
		for t in $order; do
			for r in $SWEEP; do
				run1 "$t" "$cfg" "$rep" "sweep-$r" reset --sni denied.test --rate "$r" \
					-d $DS -c 8000 --deadline 3
			done
		done
	done
	for t in $TARGETS; do [ "$t" = direct ] || stop_gw "$t"; done
}

: > "$RAW"
{
	echo "# started $(date -u '+%Y-%m-%d %H:%M:%S UTC'); uptime: $(uptime)"
	echo "# quick=$QUICK reps=$REPS sweep_reps=$SWEEP_REPS ncpu=$NCPU mix_rate=$MIX_RATE mix_bytes=$MIX_BYTES"
	echo "# reset and reset-apart (client on CPU 0, server on CPU $((NCPU - 1)); 1t only): $W_RESET; connrate: $W_CONN; rr: $W_RR; bulk: $W_BULK; bulk-both: $W_BOTH; bulk-8: $W_BULK8; idle: $W_IDLE"
	echo "# sweep: $SWEEP (offered/s, $DS s each)"
} >> "$RAW"
run_config 1t 1 2
run_config Nt "$NCPU" 1
echo "# finished $(date -u '+%Y-%m-%d %H:%M:%S UTC'); uptime: $(uptime)" >> "$RAW"
say "raw results in $RAW"
