#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make demo: snigate on loopback, with no network needed. One allowed request
# reaches a local TLS server through the gateway, one denied request is reset
# during the handshake, and the two access-log lines are shown.
#
#   test/demo/demo.sh [SNIGATE] [CONFIG]
#
# SNIGATE defaults to build/core/snigate, CONFIG to conf/demo.yaml. The pieces:
#   - openssl s_server -www on a free loopback port, with a throwaway
#     self-signed certificate for allowed.demo: the "internet";
#   - snigate with CONFIG (allow: allowed.demo, resolved by resolver.hosts to
#     127.0.0.1, upstream.allow 127.0.0.0/8), listening on another free port;
#   - curl --connect-to, so the client needs no DNS either.
# Exit status: 0 when the allowed request got s_server's page and the denied
# one was reset (curl exit 35), 1 otherwise, 77 (skipped) without openssl or
# curl. Everything it starts is stopped on exit.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SNIGATE=${1:-$ROOT/build/core/snigate}
CONFIG=${2:-$ROOT/conf/demo.yaml}

say() { printf 'demo: %s\n' "$*"; }
fail() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }

for tool in openssl curl; do
	command -v "$tool" >/dev/null || { say "$tool is missing (apt-get install $tool): skipped"; exit 77; }
done
[ -x "$SNIGATE" ] || fail "no snigate binary at $SNIGATE (make build)"
[ -r "$CONFIG" ] || fail "no config at $CONFIG"

T=$(mktemp -d /tmp/snigate-demo-XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# A loopback port no TCP socket uses (listening or not: /proc/net/tcp*), below
# the ephemeral range, where outgoing connections take their ports.
taken=
free_port() {
	local p i lo=20000 hi
	hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ -n "$hi" ] && [ "$hi" -gt $(( lo + 1000 )) ] || hi=60999
	for i in $(seq 1 200); do
		p=$(( ($(od -An -N2 -tu2 /dev/urandom) % (hi - lo + 1)) + lo ))
		case " $taken " in *" $p "*) continue ;; esac
		if ! awk -v hex="$(printf ':%04X' "$p")" 'NR > 1 && substr($2, length($2) - 4) == hex { f = 1 } END { exit !f }' \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			taken="$taken $p"
			echo "$p"
			return 0
		fi
	done
	return 1
}
# until COMMAND succeeds or MS milliseconds pass
wait_until() {
	local ms=$1 i
	shift
	for i in $(seq 1 $(( ms / 50 ))); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }

UP=$(free_port) && LP=$(free_port) || fail "no free port on 127.0.0.1"

# ---- the upstream: a TLS server for allowed.demo, trusted only by this demo
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=allowed.demo -addext subjectAltName=DNS:allowed.demo \
	-keyout "$T/key.pem" -out "$T/cert.pem" >"$T/req.log" 2>&1 ||
	fail "openssl req: $(cat "$T/req.log")"
openssl s_server -accept "127.0.0.1:$UP" -cert "$T/cert.pem" -key "$T/key.pem" \
	-www -quiet </dev/null >"$T/s_server.log" 2>&1 &
spid=$!
pids="$pids $spid"
wait_until 5000 port_open "$UP" || fail "openssl s_server did not listen on 127.0.0.1:$UP: $(cat "$T/s_server.log")"

# ---- the gateway, as make run starts it
root_flag=
if [ "$(id -u)" -eq 0 ]; then
	root_flag=--allow-root
	say "running as root, so with --allow-root (deploy as a non-root user: SECURITY.md)"
fi
"$SNIGATE" $root_flag -c "$CONFIG" --listen "127.0.0.1:$LP" --upstream-port "$UP" \
	--threads 1 --admin off --control off >"$T/access.log" 2>"$T/stderr.log" &
gpid=$!
pids="$pids $gpid"
ready() { grep -q 'snigate: ready' "$T/stderr.log" || ! alive "$gpid"; }
wait_until 10000 ready
if ! alive "$gpid" || ! grep -q 'snigate: ready' "$T/stderr.log"; then
	fail "snigate did not start: $(cat "$T/stderr.log")"
fi
say "snigate listens on 127.0.0.1:$LP and allows only allowed.demo ($(basename "$CONFIG"))"
say "allowed.demo resolves to 127.0.0.1 from resolver.hosts (no DNS); there, on port $UP, openssl s_server -www"
echo

# ---- one allowed request, one denied request. -q: no ~/.curlrc; --noproxy: no HTTPS_PROXY.
ok=yes
code=$(curl -q -sS --noproxy '*' --max-time 10 --cacert "$T/cert.pem" -o "$T/body" -w '%{http_code}' \
	--connect-to "allowed.demo:443:127.0.0.1:$LP" https://allowed.demo/ 2>"$T/curl1.err")
rc1=$?
if [ "$rc1" -eq 0 ] && [ "$code" = 200 ] && grep -q 's_server' "$T/body"; then
	say "allowed: curl https://allowed.demo/ -> 200, the page of openssl s_server, its certificate verified by curl"
	say "         (the gateway never terminated TLS: curl talked to s_server end to end)"
else
	say "allowed: curl https://allowed.demo/ -> exit $rc1, HTTP $code: $(head -c 300 "$T/curl1.err") $(head -n 3 "$T/body" 2>/dev/null)"
	ok=no
fi
curl -q -sS --noproxy '*' --max-time 10 --cacert "$T/cert.pem" \
	--connect-to "denied.demo:443:127.0.0.1:$LP" https://denied.demo/ >/dev/null 2>"$T/curl2.err"
rc2=$?
if [ "$rc2" -eq 35 ]; then
	say "denied:  curl https://denied.demo/  -> reset during the TLS handshake (curl exit 35): not on the allowlist"
else
	say "denied:  curl https://denied.demo/  -> exit $rc2, expected 35 (reset): $(head -c 300 "$T/curl2.err")"
	ok=no
fi

# ---- what the gateway logged: one JSON line per connection, on stdout
logged() { grep -q '"sni":"allowed.demo"' "$T/access.log" && grep -q '"sni":"denied.demo"' "$T/access.log"; }
wait_until 3000 logged
echo
say "access log (one JSON line per connection):"
grep -E '"sni":"(allowed|denied)\.demo"' "$T/access.log" | sed 's/^/  /'
grep -q '"sni":"allowed.demo".*"decision":"allow"' "$T/access.log" || { say "no allow line for allowed.demo"; ok=no; }
grep -q '"sni":"denied.demo".*"decision":"deny","reason":"not_allowed"' "$T/access.log" ||
	{ say "no deny line (not_allowed) for denied.demo"; ok=no; }

# ---- stop it as Kubernetes would: SIGTERM drains, then exit 0
kill -TERM "$gpid"
wait "$gpid"
grc=$?
pids=$spid
[ "$grc" -eq 0 ] || { say "snigate exited $grc on SIGTERM: $(tail -n 3 "$T/stderr.log")"; ok=no; }

echo
if [ "$ok" = yes ]; then
	say "ok: the allowed name went through, the other was reset; nothing is left running"
	exit 0
fi
say "stderr of snigate:"
sed 's/^/  /' "$T/stderr.log" >&2
fail "an outcome was not the expected one"
