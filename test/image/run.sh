#!/bin/sh
# Run the built container image and check it behaves as the Envoy pod did.
#   test/image/run.sh [IMAGE]        (default snigate:dev; `make image-test`)
#
# The image runs under `buildah run --isolation chroot`: the image's own
# ENTRYPOINT and CMD, its USER (65532), no capabilities, and the seccomp profile
# of k8s/seccomp/snigate.json (the runtimes' default plus io_uring). It shares
# the host's network, so its peers are on loopback: unbound answers
# allowed.test and denied.test with 127.0.0.1, openssl s_server is the upstream.
# The config is mounted over /etc/snigate like the ConfigMap in k8s/base.
#
# Checks: the image holds only /snigate and its config (no shell); the default
# config is valid; snigate reaches "snigate: ready" (time printed); it runs as
# 65532 with no capabilities; /ready and /healthz answer 200 (when the binary
# has the admin endpoint); an allowed name is relayed to the upstream; a denied
# name is reset during the handshake (curl exit 35) and logged; SIGTERM stops
# it with status 0. It also shows what the runtimes' unmodified default profile
# does to snigate (io_uring blocked), as a note.
set -u
IMAGE=${1:-snigate:dev}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PROFILE=$SRC/k8s/seccomp/snigate.json
B="buildah --storage-driver vfs"
T=$(mktemp -d /tmp/snigate-image-test.XXXXXX)
pass=0
fail=0
ctr=
ctr_default=
pids=

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
note() { echo "note $*"; }
now_ms() { date +%s%3N; }

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	[ -n "$ctr" ] && $B rm "$ctr" >/dev/null 2>&1
	[ -n "$ctr_default" ] && $B rm "$ctr_default" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for tool in buildah unbound openssl curl ss; do
	command -v $tool >/dev/null || { echo "image-test: $tool is missing (make deps; apt-get install buildah)"; exit 1; }
done
$B inspect --type image "$IMAGE" >/dev/null 2>&1 || { echo "image-test: no image $IMAGE (make image)"; exit 1; }

# A free TCP and UDP port on loopback, different from the ones already taken.
taken=
free_port() {
	while :; do
		p=$(( ($(od -An -N2 -tu2 /dev/urandom) % 20000) + 20000 ))
		case " $taken " in *" $p "*) continue ;; esac
		if [ -z "$(ss -HOantu "sport = :$p")" ]; then
			taken="$taken $p"
			echo "$p"
			return
		fi
	done
}
wait_for() { # FILE PATTERN TIMEOUT_MS
	end=$(( $(now_ms) + $3 ))
	while [ "$(now_ms)" -lt "$end" ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}
listener_pid() { ss -HOltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }

DNS=$(free_port)
UP=$(free_port)
LP=$(free_port)
AP=$(free_port)

echo "image: $($B images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE" | head -n 1)"

# ---- what is in the image
mnt=$($B from --pull=false -q "$IMAGE") && ctr=$mnt
files=$($B run --isolation chroot "$ctr" -- /snigate --version 2>&1)
case $files in snigate*) ok "image runs /snigate ($files)" ;; *) bad "/snigate --version: $files" ;; esac
if $B run --isolation chroot "$ctr" -- /bin/sh -c true >/dev/null 2>&1; then
	bad "the image has a shell"
else
	ok "no shell in the image"
fi
out=$($B run --isolation chroot "$ctr" -- /snigate --check -c /etc/snigate/snigate.yaml 2>&1)
case $out in *": ok "*) ok "default config: $out" ;; *) bad "default config: $out" ;; esac
entry=$($B inspect --format '{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}{{range .OCIv1.Config.Cmd}}{{.}} {{end}}' "$IMAGE")
user=$($B inspect --format '{{.OCIv1.Config.User}}' "$IMAGE")
[ "$entry" = "/snigate -c /etc/snigate/snigate.yaml " ] && ok "entrypoint+cmd: $entry" || bad "entrypoint+cmd: '$entry'"
[ "$user" = "65532:65532" ] && ok "user $user" || bad "user '$user'"
has_admin=no
root=$($B mount "$ctr" 2>/dev/null) && grep -aq '/healthz' "$root/snigate" && has_admin=yes
$B umount "$ctr" >/dev/null 2>&1
$B rm "$ctr" >/dev/null; ctr=

# ---- peers on loopback
"$SRC/bench/localdns.sh" "$T" "$DNS" 300 allowed.test denied.test >>"$T/unbound.log" 2>&1 &
pids="$pids $!"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=allowed.test -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
openssl s_server -accept "127.0.0.1:$UP" -cert "$T/cert.pem" -key "$T/key.pem" -www -quiet \
	>"$T/s_server.log" 2>&1 &
pids="$pids $!"

mkdir -p "$T/etc"
cat >"$T/etc/snigate.yaml" <<EOF
threads: 2
listeners:
  - address: 127.0.0.1:$LP
    upstream_port: $UP
allow:
  - allowed.test
resolver:
  forwarders: ["127.0.0.1:$DNS"]
admin:
  address: 127.0.0.1:$AP
EOF
# A snigate that refuses loopback upstreams by default (upstream.deny) must
# be told that the test's upstream, on loopback, is fine.
cp "$T/etc/snigate.yaml" "$T/etc/plain.yaml"
printf 'upstream:\n  allow: ["127.0.0.0/8"]\n' >>"$T/etc/snigate.yaml"
chmod -R a+rX "$T"
ctr=$($B from --pull=false -q "$IMAGE")
$B run --isolation chroot -v "$T/etc:/etc/snigate:ro" "$ctr" -- /snigate --check -c /etc/snigate/snigate.yaml \
	>/dev/null 2>&1 || cp "$T/etc/plain.yaml" "$T/etc/snigate.yaml"
$B rm "$ctr" >/dev/null; ctr=
end=$(( $(now_ms) + 5000 ))
until [ -n "$(ss -HOlnt "sport = :$UP")" ] && [ -n "$(ss -HOlnu "sport = :$DNS")" ]; do
	[ "$(now_ms)" -lt "$end" ] || { bad "unbound or s_server did not start"; cat "$T"/*.log; exit 1; }
	sleep 0.05
done

# ---- the image, as the kubelet would start it
ctr=$($B from --pull=false -q --security-opt "seccomp=$PROFILE" "$IMAGE")
t0=$(now_ms)
# shellcheck disable=SC2086
$B run --isolation chroot -v "$T/etc:/etc/snigate:ro" "$ctr" -- $entry \
	>"$T/stdout" 2>"$T/stderr" &
run_pid=$!
pids="$pids $run_pid"
if wait_for "$T/stderr" 'snigate: ready' 10000; then
	ms=$(( $(now_ms) - t0 ))
	ok "ready in $ms ms after buildah run: $(grep 'snigate: ready' "$T/stderr")"
else
	bad "no 'snigate: ready' within 10 s"
	cat "$T/stderr"
	exit 1
fi
spid=$(listener_pid "$LP")
if [ -n "$spid" ]; then
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$spid/status")
	capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$spid/status")
	seccomp=$(awk '/^Seccomp:/ { print $2 }' "/proc/$spid/status")
	[ "$uid" = 65532 ] && ok "runs as uid $uid" || bad "runs as uid $uid"
	[ "$capeff" = 0000000000000000 ] && ok "no effective capabilities" || bad "CapEff $capeff"
	[ "$seccomp" = 2 ] && ok "seccomp filter on" || bad "Seccomp: $seccomp"
else
	bad "nothing listens on 127.0.0.1:$LP"
fi

if [ "$has_admin" = yes ]; then
	# Each must say 200 within 3 s of "ready" (the kubelet's first liveness
	# probe comes 5 s after the start).
	for path in ready healthz; do
		end=$(( $(now_ms) + 3000 ))
		while :; do
			code=$(curl -s -o "$T/admin.out" -w '%{http_code}' --max-time 3 "http://127.0.0.1:$AP/$path")
			{ [ "$code" = 200 ] || [ "$(now_ms)" -ge "$end" ]; } && break
			sleep 0.1
		done
		[ "$code" = 200 ] && ok "admin /$path: 200 ($(( $(now_ms) - t0 )) ms after buildah run)" ||
			bad "admin /$path: '$code' $(head -c 200 "$T/admin.out")"
	done
else
	note "this snigate has no admin endpoint yet (no /healthz in the binary): /ready not checked"
fi

# Allowed: a real TLS session with the upstream, relayed untouched.
body=$(curl -sk --max-time 5 --connect-to "allowed.test:$UP:127.0.0.1:$LP" "https://allowed.test:$UP/" 2>&1)
case $body in *"s_server"*|*"Ciphers"*|*"CIPHER"*) ok "allowed.test relayed to the upstream" ;;
	*) bad "allowed.test: '$(echo "$body" | head -n 3)' $(grep '"sni":"allowed.test"' "$T/stdout" | head -n 1)" ;; esac

# Denied: reset during the handshake, as Envoy did (curl exit 35).
err=$(curl -sS --max-time 5 --connect-to "denied.test:443:127.0.0.1:$LP" https://denied.test/ 2>&1)
rc=$?
case $err in *reset*) reset=yes ;; *) reset=no ;; esac
[ $rc = 35 ] && [ $reset = yes ] && ok "denied.test reset (curl exit 35: $err)" || bad "denied.test: curl exit $rc: $err"
wait_for "$T/stdout" '"sni":"denied.test","decision":"deny"' 2000 &&
	ok "access log: $(grep '"sni":"denied.test"' "$T/stdout" | head -n 1)" ||
	bad "no deny line for denied.test in the access log"

# SIGTERM, as the kubelet stops a pod.
if [ -n "$spid" ]; then
	kill -TERM "$spid"
	if wait "$run_pid"; then
		ok "SIGTERM: exit 0"
	else
		bad "SIGTERM: exit status $?: $(grep -v '^snigate: stats' "$T/stderr" | tail -n 5 | tr '\n' ' ')"
	fi
	grep -q 'snigate: stats' "$T/stderr" && ok "stats printed at stop" || bad "no stats at stop"
fi
$B rm "$ctr" >/dev/null 2>&1; ctr=

# Port 443 as UID 65532, in a network namespace of its own: NET_BIND_SERVICE
# added to the container is not enough (it is not ambient, so exec drops it);
# net.ipv4.ip_unprivileged_port_start=443, as k8s/base sets it, is.
if command -v unshare >/dev/null && command -v ip >/dev/null; then
	cat >"$T/etc/p443.yaml" <<EOF
listeners:
  - address: 127.0.0.1:443
allow: [allowed.test]
resolver:
  forwarders: ["127.0.0.1:53"]
admin:
  address: 127.0.0.1:9901
EOF
	chmod a+r "$T/etc/p443.yaml"
	ctr=$($B from --pull=false -q --security-opt "seccomp=$PROFILE" --cap-add CAP_NET_BIND_SERVICE "$IMAGE")
	for start in 1024 443; do
		# shellcheck disable=SC2016
		unshare -n sh -c '
			ip link set lo up && sysctl -qw net.ipv4.ip_unprivileged_port_start=$1 || exit 1
			$2 run --isolation chroot -v "$3/etc:/etc/snigate:ro" "$4" -- /snigate -c /etc/snigate/p443.yaml \
				>/dev/null 2>"$3/p443.err" &
			i=0
			while [ $i -lt 100 ] && ! grep -q "snigate: \(ready\|error\)" "$3/p443.err"; do
				sleep 0.05; i=$((i + 1))
			done
			p=$(ss -HOltnp "sport = :443" | grep -o "pid=[0-9]*" | head -n 1 | cut -d= -f2)
			[ -n "$p" ] && kill -KILL "$p"
			wait' sh "$start" "$B" "$T" "$ctr"
		line=$(grep -m 1 'snigate: \(ready\|error\)' "$T/p443.err")
		case $start:$line in
		1024:*"Permission denied"*) ok "443 with NET_BIND_SERVICE added but the default sysctl: refused ($line)" ;;
		443:*"snigate: ready"*) ok "443 with ip_unprivileged_port_start=443: $line" ;;
		*) bad "443 with ip_unprivileged_port_start=$start: '$line'" ;;
		esac
	done
	$B rm "$ctr" >/dev/null 2>&1; ctr=
else
	note "no unshare or ip: binding 443 as UID 65532 not checked"
fi

# What the runtimes' own default seccomp profile does (containerd 2.0 RuntimeDefault,
# Docker 25, podman/buildah): io_uring is not on it.
ctr_default=$($B from --pull=false -q "$IMAGE")
# shellcheck disable=SC2086
$B run --isolation chroot -v "$T/etc:/etc/snigate:ro" "$ctr_default" -- $entry \
	>/dev/null 2>"$T/stderr.default" &
run_pid=$!
pids="$pids $run_pid"
end=$(( $(now_ms) + 10000 ))
while kill -0 "$run_pid" 2>/dev/null && ! grep -q 'snigate: ready' "$T/stderr.default" 2>/dev/null &&
	[ "$(now_ms)" -lt "$end" ]; do
	sleep 0.05
done
p=$(listener_pid "$LP")
[ -n "$p" ] && kill -TERM "$p"
wait "$run_pid" 2>/dev/null
out=$(grep -m 1 'snigate:' "$T/stderr.default")
case $out in *io_uring*) note "under the runtime's default seccomp profile: $out (hence k8s/seccomp/snigate.json)" ;;
	*) note "under the runtime's default seccomp profile: $out" ;; esac

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
