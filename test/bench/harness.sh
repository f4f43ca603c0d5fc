#!/bin/bash
# SPDX-License-Identifier: MIT
#
# harness.sh: the benchmark harness's own checks, on loopback.
#   openssl   OpenSSL (s_server -msg) recognises loadgen's hellos as
#             ClientHellos carrying the asked-for SNI, up to 8 KiB, over
#             several records and TCP segments
#   checksum  a bulk transfer through a forwarder that flips one byte fails
#             (and the same transfer through a clean forwarder passes)
#   leak      the reset workload against a "gateway" that lets a denied name
#             through fails: the sink itself, and a plain TCP forwarder
#   help      --help documents every mode and every option bench/loadgen.c has
# usage: harness.sh LOADGEN openssl|checksum|leak|help
set -eu
LG=$1
CASE=$2
T=$(mktemp -d /tmp/snigate-benchtest-XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
wait_tcp() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
start() { # port mode args...
	local p=$1
	shift
	"$LG" "$@" > /dev/null 2>&1 &
	PIDS="$PIDS $!"
	wait_tcp "$p" || fail "loadgen $* did not listen"
}

case $CASE in
openssl)
	command -v openssl > /dev/null || exit 77
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" \
		-out "$T/cert.pem" -days 2 -subj /CN=allowed.test 2> /dev/null
	for args in "" "--size 1800 --pq" "--size 4096 --records 2" "--size 8192 --segments 6" \
		"--size 8192 --records 3 --grease --segments 4"; do
		P=$("$LG" port)
		# -servername makes s_server report the SNI it parsed; stdin held open by sleep.
		openssl s_server -cert "$T/cert.pem" -key "$T/key.pem" -accept "127.0.0.1:$P" \
			-naccept 1 -msg -servername allowed.test -cert2 "$T/cert.pem" -key2 "$T/key.pem" \
			< <(sleep 10) > "$T/s.log" 2>&1 &
		SP=$!
		# Not wait_tcp: a probe connection would be s_server's only one (-naccept 1).
		for _ in $(seq 100); do ss -Hltn "sport = :$P" | grep -q . && break; sleep 0.05; done
		# The hello as the load generator sends it: connrate with --segments over the wire.
		# shellcheck disable=SC2086
		"$LG" connrate -q -t "127.0.0.1:$P" --sni allowed.test -n 1 -c 1 --deadline 1 $args \
			> /dev/null 2>&1 || true
		# s_server ends by itself after its one connection (and flushes its log).
		for _ in $(seq 50); do kill -0 "$SP" 2>/dev/null || break; sleep 0.1; done
		kill "$SP" 2>/dev/null || true
		wait "$SP" 2>/dev/null || true
		grep -q ', ClientHello' "$T/s.log" || fail "s_server saw no ClientHello for '$args': $(head -5 "$T/s.log")"
		grep -q 'Hostname in TLS extension: "allowed.test"' "$T/s.log" ||
			fail "s_server did not find the SNI for '$args'"
		echo "ok: openssl parses the hello of '$args'"
	done
	;;
checksum)
	S=$("$LG" port); F=$("$LG" port); C=$("$LG" port)
	start "$S" sink -l "127.0.0.1:$S"
	start "$F" fwd -l "127.0.0.1:$F" --to "127.0.0.1:$S"
	start "$C" fwd -l "127.0.0.1:$C" --to "127.0.0.1:$S" --corrupt 1000000
	"$LG" bulk -q -t "127.0.0.1:$F" --sni allowed.test -b 8M -c 2 --both > "$T/ok" 2>&1 ||
		fail "a clean forwarder failed the checksums: $(cat "$T/ok")"
	if "$LG" bulk -q -t "127.0.0.1:$C" --sni allowed.test -b 8M -c 1 > "$T/bad" 2>&1; then
		fail "one flipped byte went unnoticed: $(cat "$T/bad")"
	fi
	grep -q 'checksum differs' "$T/bad" || fail "no checksum complaint: $(cat "$T/bad")"
	echo "ok: the sink's checksum catches one flipped byte"
	;;
leak)
	S=$("$LG" port); F=$("$LG" port); R=$("$LG" port)
	start "$S" sink -l "127.0.0.1:$S"
	start "$F" fwd -l "127.0.0.1:$F" --to "127.0.0.1:$S"
	start "$R" rstd -l "127.0.0.1:$R"
	"$LG" reset -q -t "127.0.0.1:$R" -n 200 -c 8 > "$T/rst" 2>&1 ||
		fail "a server that resets every hello failed: $(cat "$T/rst")"
	for tgt in "$S" "$F"; do
		rc=0
		"$LG" reset -q -t "127.0.0.1:$tgt" -n 50 -c 4 --deadline 2 > "$T/leak" 2>&1 || rc=$?
		[ "$rc" = 1 ] || fail "reset against a target that lets names through exited $rc"
		grep -q 'leaked=50' "$T/leak" || fail "leaks not counted: $(cat "$T/leak")"
	done
	echo "ok: a target that lets a denied name through fails the reset workload"
	;;
help)
	# Every mode the source dispatches on and every long option it parses is in --help.
	SRC=$(dirname "$0")/../../bench/loadgen.c
	"$LG" --help > "$T/help" || fail "--help exited $?"
	modes=$(sed -n 's/.*!strcmp(mode, "\([a-z]*\)").*/\1/p' "$SRC" | sort -u)
	opts=$(sed -n 's/^[[:space:]]*{"\([a-z-]*\)", [a-z_]*_argument.*/\1/p' "$SRC" | sort -u)
	[ "$(echo "$modes" | wc -w)" -ge 11 ] || fail "found only these modes in $SRC: $modes"
	[ "$(echo "$opts" | wc -w)" -ge 25 ] || fail "found only these options in $SRC: $opts"
	for m in $modes; do
		grep -qE "^  $m( |$)" "$T/help" || fail "mode $m is not in --help"
	done
	for o in $opts; do
		grep -q -- "--$o\b" "$T/help" || fail "--$o is not in --help"
	done
	echo "ok: --help names all $(echo "$modes" | wc -w) modes and $(echo "$opts" | wc -w) options"
	;;
*) echo "usage: $0 LOADGEN openssl|checksum|leak|help" >&2; exit 2 ;;
esac
