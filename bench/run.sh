#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh: every workload against every gateway, interleaved and repeated, on
# loopback; then bench/report.sh turns the raw lines into RESULTS.md and plots.
#
# usage: bench/run.sh [--quick] [--build DIR] [--reps N] [--raw FILE] [--only T,T]
#                     [--configs 1t,Nt] [--label NAME] [--target-file FILE]...
#                     [--target NAME=HOST:PORT[,pid=PID][,cfg=1t|Nt]]...
#                     [--sink ADDR:PORT] [--dns-port PORT]
#
#   targets   direct (client -> sink; for the reset path a minimal RST server),
#             snigate, haproxy, nginx, sniproxy, envoy (when an envoy binary is
#             on PATH; skipped with a line otherwise): the same allowlist
#             (bench/peers/allowlist.txt), the same unbound, the same sink.
#             Each is a file in bench/targets/ (the contract is below);
#             --target-file FILE adds one of your own, named after the file
#   external  --target NAME=HOST:PORT measures a gateway already running. Its
#             allowlist is a precondition, checked before anything is
#             measured: allowed.test must be relayed to the sink (--sink, the
#             address it listens on) and denied.test refused. ,pid=PID counts
#             that process's CPU and memory (with its children); without one
#             those columns show "–". It is measured in the 1t configuration
#             unless ,cfg=Nt says it runs one thread per CPU.
#   configs   1t  one thread / process each (nbthread 1, worker_processes 1,
#                 --threads 1); all workloads, plus the open-loop sweep, the
#                 accept-queue overflow and the mixed run
#             Nt  one per CPU (sniproxy has no threads: still one process)
#             --configs picks (default both)
#   --quick   one repetition of tiny runs (the meson smoke tests, about a minute)
#   --label   this machine's name in the raw file (default: the host name);
#             bench/report.sh --merge tells machines apart by it
#
# Raw lines go to --raw (default bench/results.raw), one per run:
#   cfg=1t target=snigate rep=1 wl=reset exit=0 mode=reset ok=... rate=...
# after "# key: value" lines that record the machine, the versions and each
# workload's loadgen arguments (bench/report.sh makes results.json from them).
# A peer that is not installed makes the run exit 77 (skipped), because a
# table with a missing column is not the comparison this is for.
# Everything it starts listens on 127.0.0.0/8 only (the sink on --sink), and
# is stopped by PID on exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
REPS=5
QUICK=0
RAW=$ROOT/bench/results.raw
ONLY=""
CONFIGS="1t Nt"
LABEL=$(hostname -s 2>/dev/null || echo unknown)
SINK_AT=""
DNS_AT=""
declare -A TFILE EXT_ADDR EXT_PID EXT_CFG
for f in "$ROOT"/bench/targets/*.sh; do TFILE[$(basename "$f" .sh)]=$f; done
EXTRA=""
USAGE="usage: $0 [--quick] [--build DIR] [--reps N] [--raw FILE] [--only T,T] [--configs 1t,Nt]
       [--label NAME] [--target-file FILE]... [--target NAME=HOST:PORT[,pid=PID][,cfg=1t|Nt]]...
       [--sink ADDR:PORT] [--dns-port PORT]"
bad_usage() { echo "run.sh: $*" >&2; echo "$USAGE" >&2; exit 2; }
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || case $1 in --quick) ;; *) bad_usage "$1 needs a value" ;; esac
	case $1 in
	--quick) QUICK=1; REPS=1 ;;
	--build) BUILD=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--raw) RAW=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--configs) CONFIGS=$(echo "$2" | tr ',' ' '); shift ;;
	--label) LABEL=$2; shift ;;
	--sink) SINK_AT=$2; shift ;;
	--dns-port) DNS_AT=$2; shift ;;
	--target-file)
		[ -f "$2" ] || { echo "run.sh: --target-file $2: no such file" >&2; exit 2; }
		n=$(basename "$2" .sh)
		TFILE[$n]=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
		EXTRA="$EXTRA $n"
		shift ;;
	--target)
		n=${2%%=*}
		spec=${2#*=}
		[ "$n" != "$2" ] && [ -n "$n" ] || bad_usage "--target $2: want NAME=HOST:PORT[,pid=PID][,cfg=1t|Nt]"
		case $n in *[!a-zA-Z0-9_.-]*) bad_usage "--target $n: a name is letters, digits, '.', '_' and '-'" ;; esac
		[ -z "${TFILE[$n]:-}" ] && [ -z "${EXT_ADDR[$n]:-}" ] || bad_usage "--target $n: that name is taken"
		EXT_ADDR[$n]=${spec%%,*}
		EXT_PID[$n]=""
		EXT_CFG[$n]=1t
		case ${EXT_ADDR[$n]} in *:[0-9]*) ;; *) bad_usage "--target $n: ${EXT_ADDR[$n]} is not HOST:PORT" ;; esac
		rest=${spec#"${EXT_ADDR[$n]}"}
		for kv in $(echo "$rest" | tr ',' ' '); do
			case $kv in
			pid=[0-9]*) EXT_PID[$n]=${kv#pid=} ;;
			cfg=1t | cfg=Nt) EXT_CFG[$n]=${kv#cfg=} ;;
			*) bad_usage "--target $n: unknown option $kv (pid=PID, cfg=1t or cfg=Nt)" ;;
			esac
		done
		EXTRA="$EXTRA $n"
		shift ;;
	*) bad_usage "unknown option $1" ;;
	esac
	shift
done
for c in $CONFIGS; do case $c in 1t | Nt) ;; *) bad_usage "--configs: $c is not 1t or Nt" ;; esac; done
if [ -n "${!EXT_ADDR[*]}" ] && [ -z "$SINK_AT" ]; then
	bad_usage "an external target needs --sink ADDR:PORT: where the sink listens, the upstream its allowlist sends allowed.test to"
fi
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
case $RAW in /*) ;; *) RAW=$PWD/$RAW ;; esac

LG=$BUILD/bench/loadgen
# Bench and soak hosts run as root; snigate refuses root unless told to.
export SNIGATE_ALLOW_ROOT=1
GW=$BUILD/core/snigate
PEERS=$ROOT/bench/peers
[ -x "$LG" ] && [ -x "$GW" ] || { echo "run.sh: build first (ninja -C $BUILD)" >&2; exit 2; }
PATH=$PATH:/usr/sbin
TARGETS="direct snigate haproxy nginx sniproxy envoy$EXTRA"
# --only picks among the built-ins; targets added by --target and --target-file
# always run.
if [ -n "$ONLY" ]; then
	TARGETS=$(echo "$ONLY" | tr ',' ' ')
	for t in $EXTRA; do
		case " $TARGETS " in *" $t "*) ;; *) TARGETS="$TARGETS $t" ;; esac
	done
fi

# A target file (bench/targets/NAME.sh) is sourced by this script and defines:
#   target_check         return 0 when the target can run here; else print why
#   target_start         start it in the background on 127.0.0.1:$PORT with
#                        $THREADS threads or processes; set TARGET_PID
# and may define:
#   target_addr WL       where workload WL connects (default 127.0.0.1:$PORT)
#   target_pids WL       the processes whose CPU is counted (default TARGET_PID
#                        and its children)
#   target_extra WL      more loadgen arguments for WL
#   target_stop          stop it (default: kill TARGET_PID and wait)
# It may read PORT, THREADS, REUSEPORT ("reuseport" with more than one thread),
# T (the scratch dir: allowlist.txt, nginx-allow.map, sniproxy-table.conf),
# DNS (unbound's port on 127.0.0.1), DNS53 (unbound's address on port 53),
# SINK and SINK_PID, RSTD and RSTD_PID, ALLOW_FLAGS (snigate's --allow flags),
# GW, LG, PEERS, and call render TEMPLATE OUT (bench/peers/*.in's @...@ filled).
# It may also define target_version (one line: what runs, for the raw file's
# header) and set TARGET_OPTIONAL=1: when target_check fails, a target that
# --only did not name is left out with a line instead of skipping the run.
load_target() { # name
	unset -f target_check target_start target_addr target_pids target_extra target_stop \
		target_version
	TARGET_OPTIONAL=0
	if [ -n "${EXT_ADDR[$1]:-}" ]; then
		EXT=$1
		load_external
		return
	fi
	[ -n "${TFILE[$1]:-}" ] || { echo "run.sh: no target $1 (bench/targets/$1.sh)" >&2; exit 2; }
	# shellcheck disable=SC1090
	. "${TFILE[$1]}"
}

# An external target (--target NAME=HOST:PORT): nothing to start or stop; its
# CPU and memory are those of its PID, when one was given.
load_external() {
	target_check() {
		local p=${EXT_PID[$EXT]}
		[ -z "$p" ] || [ -d "/proc/$p" ] || { echo "no process $p on this machine"; return 1; }
	}
	target_start() { TARGET_PID=""; }
	target_addr() { echo "${EXT_ADDR[$EXT]}"; }
	target_pids() {
		local p=${EXT_PID[$EXT]}
		[ -n "$p" ] && echo "$p" $(pgrep -P "$p")
		return 0
	}
	target_stop() { :; }
	target_version() {
		local p=${EXT_PID[$EXT]}
		echo "external at ${EXT_ADDR[$EXT]}${p:+, pid $p ($(readlink "/proc/$p/exe" 2>/dev/null || echo '?'))}"
	}
}

missing=""
command -v unbound > /dev/null 2>&1 || missing="$missing unbound"
kept=""
for t in $TARGETS; do
	load_target "$t"
	if why=$(target_check 2>&1); then
		kept="$kept $t"
	elif [ "$TARGET_OPTIONAL" = 1 ] && [ -z "$ONLY" ]; then
		echo "run.sh: $t left out: $why" >&2
	else
		missing="$missing $t ($why)"
	fi
done
TARGETS=${kept# }
if [ -n "$missing" ]; then
	echo "run.sh: cannot run:$missing; skipped" >&2
	exit 77
fi

# The targets of a configuration: an external one runs in the one it named.
cfg_targets() { # cfg
	local t out=""
	for t in $TARGETS; do
		[ -n "${EXT_ADDR[$t]:-}" ] && [ "${EXT_CFG[$t]}" != "$1" ] && continue
		out="$out $t"
	done
	echo "${out# }"
}

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

DNS=${DNS_AT:-$(port)}
if [ -n "$SINK_AT" ]; then
	SINK=${SINK_AT##*:}
	SINK_HOST=${SINK_AT%:*}
else
	SINK=$(port)
	SINK_HOST=127.0.0.1
fi
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
"$LG" sink -l "$SINK_HOST:$SINK" > /dev/null &
SINK_PID=$!
PIDS="$PIDS $SINK_PID"
"$LG" rstd -l "127.0.0.1:$RSTD" > /dev/null &
RSTD_PID=$!
PIDS="$PIDS $RSTD_PID"
sleep 0.1
kill -0 "$SINK_PID" 2>/dev/null || { echo "run.sh: the sink cannot listen on $SINK_HOST:$SINK" >&2; exit 1; }
[ "$SINK_HOST" != 127.0.0.1 ] || wait_tcp "$SINK"
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

# ---- external targets: the preconditions, checked before anything is measured ----

check_external() { # name
	local n=$1 a=${EXT_ADDR[$1]} out=$T/check.$1
	if ! "$LG" connrate -q -t "$a" --sni allowed.test -n 20 -c 2 --req 64 --resp 64 \
		--deadline 5 > "$out" 2>&1; then
		echo "run.sh: $n at $a does not relay allowed.test to the sink ($SINK_HOST:$SINK):" >&2
		echo "  its allowlist must send allowed.test there (docs/bench.md)." >&2
		sed 's/^/  /' "$out" >&2
		exit 1
	fi
	if ! "$LG" reset -q -t "$a" --sni denied.test -n 20 -c 2 --deadline 5 > "$out" 2>&1; then
		echo "run.sh: $n at $a does not refuse denied.test (it must close or reset it" >&2
		echo "  without one byte reaching the sink):" >&2
		sed 's/^/  /' "$out" >&2
		exit 1
	fi
	if [ -z "${EXT_PID[$n]}" ]; then
		say "$n: no pid given, so its CPU and memory columns show –"
	fi
}
for t in $TARGETS; do
	[ -n "${EXT_ADDR[$t]:-}" ] && check_external "$t"
done

# ---- gateways ----

declare -A GWPID GWPORT

start_gw() { # name threads
	local name=$1 pid
	PORT=$(port)
	THREADS=$2
	REUSEPORT=""
	[ "$THREADS" -gt 1 ] && REUSEPORT=reuseport
	load_target "$name"
	TARGET_PID=""
	target_start
	pid=$TARGET_PID
	GWPID[$name]=$pid
	GWPORT[$name]=$PORT
	[ -z "$pid" ] && return 0 # nothing of its own to start (direct)
	PIDS="$PIDS $pid"
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
	load_target "$1"
	PORT=${GWPORT[$1]}
	TARGET_PID=$pid
	if declare -F target_stop > /dev/null; then
		target_stop
	elif [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	[ -n "$pid" ] && PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
	return 0
}

# The processes that serve a target for a workload: the gateway's, its workers
# (nginx's and HAProxy's children) included.
server_pids() { # target wl
	local p
	load_target "$1"
	PORT=${GWPORT[$1]}
	TARGET_PID=${GWPID[$1]}
	if declare -F target_pids > /dev/null; then
		target_pids "$2"
		return
	fi
	p=$TARGET_PID
	[ -n "$p" ] && echo "$p" $(pgrep -P "$p")
}

# loadgen's address, pid and extra flags of a target for a workload.
target_args() { # target wl
	local addr pids p out
	load_target "$1"
	PORT=${GWPORT[$1]}
	TARGET_PID=${GWPID[$1]}
	addr=127.0.0.1:$PORT
	declare -F target_addr > /dev/null && addr=$(target_addr "$2")
	out="-t $addr"
	if declare -F target_pids > /dev/null; then
		pids=$(target_pids "$2")
	else
		pids=$TARGET_PID
	fi
	for p in $pids; do out="$out --pid $p"; done
	declare -F target_extra > /dev/null && out="$out $(target_extra "$2")"
	echo "$out"
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
	W_OVERFLOW="--rate 4000 -d 0.3 -c 2000 --deadline 1.5"
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
	SWEEP="2500 5000 10000 15000 20000 30000 45000 60000"
	MIX_RATE=12000; MIX_BYTES=64K
	# Above every gateway's knee here, on two client threads: SYNs arrive
	# faster than the gateway accepts, the listen queue fills, and the
	# kernel drops SYNs. --deadline 3 sees TCP's retransmissions at 1 s and
	# 3 s: a client not answered by then got no answer at all.
	W_OVERFLOW="--rate 120000 -T 2 -d 2 -c 16000 --deadline 3"
	SWEEP_REPS=3
fi

# Progress: how many runs there are (counted by a dry pass), how many are done.
DRY=0 NRUNS=0 DONE=0 T_START=$SECONDS
declare -A WL_SEEN
progress() { # target cfg rep wl
	local left="" el=$((SECONDS - T_START))
	[ "$DONE" -gt 0 ] && left=", ~$(((el * (NRUNS - DONE) / DONE + 59) / 60)) min left"
	say "$2 rep $3/$REPS: $1 $4 (run $((DONE + 1)) of $NRUNS$left)"
}

# The kernel's count of connections a full listen queue turned away (SYNs and
# handshake ACKs dropped), machine-wide: during a run only the target listens.
listen_overflows() {
	awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["ListenOverflows"] }' \
		/proc/net/netstat
}

# One run: target cfg rep wl loadgen-mode args...
run1() {
	local target=$1 cfg=$2 rep=$3 wl=$4 mode=$5 rc=0 line t0=$SECONDS ovf0
	if [ "$DRY" = 1 ]; then
		NRUNS=$((NRUNS + 1))
		return 0
	fi
	progress "$target" "$cfg" "$rep" "$wl"
	DONE=$((DONE + 1))
	shift 5
	# Each workload's arguments once, for results.json.
	if [ -z "${WL_SEEN[$cfg.$wl]:-}" ]; then
		WL_SEEN[$cfg.$wl]=1
		echo "# workload $cfg $wl: $mode $*" >> "$RAW"
	fi
	ovf0=$(listen_overflows)
	# shellcheck disable=SC2046,SC2086
	timeout 120 ${LGPIN:-} "$LG" "$mode" -q $(target_args "$target" "$wl") "$@" > "$T/out" 2> "$T/err" ||
		rc=$?
	line=$(sed -n 's/^result //p' "$T/out" | tail -1)
	[ -n "$line" ] || line="mode=$mode missing=1"
	line="$line listen_overflows=$(($(listen_overflows) - ovf0))"
	# A target measured without a process of its own to read: no CPU or memory figures.
	[ "$target" != direct ] && [ -z "$(server_pids "$target" "$wl")" ] && line="$line nopid=1"
	echo "cfg=$cfg target=$target rep=$rep wl=$wl exit=$rc wall=$((SECONDS - t0)) $line" >> "$RAW"
	if [ "$rc" != 0 ]; then
		say "$cfg $target $wl rep $rep: exit $rc: $(head -c 300 "$T/err" | tr '\n' ' ')"
	fi
	return 0
}

pin() { # cpus pid... (every thread of each)
	local c=$1 p
	shift
	for p in "$@"; do taskset -a -cp "$c" "$p" > /dev/null 2>&1 || true; done
}

# Every thread's CPU list, to put back after pinning: an external target's
# process is someone else's and keeps the placement it had.
affinity() { # pid...
	local p t
	for p in "$@"; do
		for t in /proc/"$p"/task/*; do
			[ -d "$t" ] && echo "${t##*/} $(taskset -cp "${t##*/}" 2>/dev/null | sed 's/.*: //')"
		done
	done
}

# The reset path again with the client on CPU 0 and the server on the last
# CPU. Left to itself the scheduler often runs a gateway that uses little CPU
# on the client's core, where it waits for the client's time slice: the
# latency then measures that placement more than the gateway (PERF.md).
run_apart() { # target cfg rep
	[ "$DRY" = 1 ] && { NRUNS=$((NRUNS + 1)); return 0; }
	local pids saved tid cpus
	pids=$(server_pids "$1" reset-apart)
	# shellcheck disable=SC2086
	saved=$(affinity $pids)
	# shellcheck disable=SC2086
	pin "$((NCPU - 1))" $pids
	LGPIN="taskset -c 0" run1 "$1" "$2" "$3" reset-apart reset --sni denied.test $W_RESET
	while read -r tid cpus; do
		[ -n "$cpus" ] && taskset -cp "$cpus" "$tid" > /dev/null 2>&1 || true
	done <<< "$saved"
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
	local cfg=$1 th=$2 full=$3 rep t order ct
	case " $CONFIGS " in *" $cfg "*) ;; *) return 0 ;; esac
	ct=$(cfg_targets "$cfg")
	local TARGETS=$ct
	[ -n "$TARGETS" ] || return 0
	[ "$DRY" = 1 ] || for t in $TARGETS; do start_gw "$t" "$th"; done
	for rep in $(seq "$REPS"); do
		[ "$DRY" = 1 ] ||
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
		[ "$DRY" = 1 ] || for t in $TARGETS; do stop_gw "$t"; start_gw "$t" "$th"; done
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
		for t in $order; do
			run1 "$t" "$cfg" "$rep" overflow reset --sni denied.test $W_OVERFLOW
			# Let the backlog of the flood drain before the next target's turn.
			[ "$DRY" = 1 ] || sleep 1
		done
	done
	[ "$DRY" = 1 ] || for t in $TARGETS; do stop_gw "$t"; done
}

: > "$RAW"
{
	# What results.json and a merged report need to tell runs apart.
	echo "# label: $LABEL"
	echo "# cpus: $NCPU"
	echo "# cpu-model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "# memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "# kernel: $(uname -r)"
	echo "# os: $(. /etc/os-release && echo "$PRETTY_NAME")"
	for t in $TARGETS; do
		load_target "$t"
		declare -F target_version > /dev/null && echo "# version $t: $(target_version 2>&1 | head -1)"
	done
	echo "# version unbound: $(unbound -V 2>&1 | head -1 | sed 's/^Version //')"
	echo "# started $(date -u '+%Y-%m-%d %H:%M:%S UTC'); uptime: $(uptime)"
	echo "# quick=$QUICK reps=$REPS sweep_reps=$SWEEP_REPS ncpu=$NCPU mix_rate=$MIX_RATE mix_bytes=$MIX_BYTES"
	echo "# reset and reset-apart (client on CPU 0, server on CPU $((NCPU - 1)); 1t only): $W_RESET; connrate: $W_CONN; rr: $W_RR; bulk: $W_BULK; bulk-both: $W_BOTH; bulk-8: $W_BULK8; idle: $W_IDLE"
	echo "# sweep: $SWEEP (offered/s, $DS s each)"
	echo "# overflow: $W_OVERFLOW"
} >> "$RAW"
DRY=1
run_config 1t 1 2
run_config Nt "$NCPU" 1
DRY=0
T_START=$SECONDS
run_config 1t 1 2
run_config Nt "$NCPU" 1
echo "# finished $(date -u '+%Y-%m-%d %H:%M:%S UTC'); uptime: $(uptime)" >> "$RAW"
say "raw results in $RAW"
