#!/bin/sh
# Render k8s/ with kustomize and validate what it renders.
#   test/k8s/check.sh            (make k8s-check: installs the validator if needed)
#   test/k8s/check.sh --offline  (the meson test: exit 77, skipped, if the
#                                 validator or kustomize is not installed)
#
# 1. `kubectl kustomize` (kustomize v5) renders k8s/base and k8s/overlays/example.
# 2. validate.mjs checks every object against the Kubernetes 1.34 API
#    (kubernetes-models' JSON schemas and, through tsc --strict, its TypeScript
#    interfaces, which reject unknown fields), then the cross-object rules.
# 3. snigate --check loads each rendered snigate.yaml, and the egress-dns
#    Corefile is compared with its allowlist (`snigate check --corefile` when
#    the binary has it; the name sets otherwise).
# The npm packages live in a cache folder outside the tree
# ($SNIGATE_K8S_CACHE, default ~/.cache/snigate/k8s-check), pinned by
# test/k8s/package-lock.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
offline=no
[ "${1:-}" = --offline ] && offline=yes
skip() { echo "k8s-check: skipped: $*"; exit 77; }
die() { echo "k8s-check: $*" >&2; exit 1; }

# ---- tools
if command -v kubectl >/dev/null 2>&1; then
	kustomize() { kubectl kustomize "$@"; }
	kver=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')
elif command -v kustomize >/dev/null 2>&1; then
	kver=$(command kustomize version 2>/dev/null)
else
	[ $offline = yes ] && skip "neither kubectl nor kustomize is installed"
	die "neither kubectl (kubectl kustomize) nor kustomize is installed"
fi
command -v node >/dev/null 2>&1 || { [ $offline = yes ] && skip "node is not installed"; die "node is not installed"; }

CACHE=${SNIGATE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snigate/k8s-check}
if ! cmp -s "$HERE/package-lock.json" "$CACHE/package-lock.json" ||
	[ ! -d "$CACHE/node_modules/kubernetes-models" ]; then
	[ $offline = yes ] && skip "validator not installed (make k8s-check installs it)"
	command -v npm >/dev/null 2>&1 || die "npm is not installed (apt-get install npm)"
	mkdir -p "$CACHE"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$CACHE/"
	echo "k8s-check: installing the validator into $CACHE"
	(cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
fi
cp "$HERE/validate.mjs" "$CACHE/"

SNIGATE=${SNIGATE_BIN:-}
[ -n "$SNIGATE" ] || for b in "$SRC/build/core/snigate" /tmp/b-static/core/snigate; do
	[ -x "$b" ] && { SNIGATE=$b; break; }
done

T=$(mktemp -d /tmp/snigate-k8s-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0

# ---- render
sets=
for dir in base overlays/example; do
	name=$(echo "$dir" | tr / -)
	if kustomize "$SRC/k8s/$dir" >"$T/$name.yaml" 2>"$T/$name.err"; then
		echo "ok   render k8s/$dir with kustomize ${kver:-}: $(grep -c '^kind:' "$T/$name.yaml") objects"
		sets="$sets $name=$T/$name.yaml"
	else
		echo "FAIL render k8s/$dir: $(cat "$T/$name.err")"
		fail=$((fail + 1))
	fi
done

# ---- validate
# shellcheck disable=SC2086
(cd "$CACHE" && node validate.mjs "$T" $sets) >"$T/validate.out" 2>&1
vrc=$?
grep -v ' passed, .* failed$' "$T/validate.out"
vpass=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$T/validate.out")
vfail=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$T/validate.out")
[ $vrc = 0 ] || [ -n "$vfail" ] || vfail=1
pass=$(( ${vpass:-0} + $(echo "$sets" | wc -w) ))
fail=$(( fail + ${vfail:-0} ))

# ---- snigate on its own config, Corefile drift
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
names_conf() { # the allow list of a snigate.yaml, lower case, sorted
	sed -n '/^allow:/,/^[^ #-]/p' "$1" | sed -n 's/^ *- *"\{0,1\}\([^" #]*\)"\{0,1\}.*/\1/p' |
		tr 'A-Z' 'a-z' | sed 's/\.$//' | sort -u
}
names_corefile() {
	sed -n 's/^ *rewrite\( stop\| continue\)\{0,1\} name exact \([^ ]*\) .*/\2/p' "$1" |
		tr 'A-Z' 'a-z' | sed 's/\.$//' | sort -u
}
for name in base overlays-example; do
	conf=$T/$name.snigate.yaml
	[ -f "$conf" ] || continue
	if [ -n "$SNIGATE" ]; then
		if out=$("$SNIGATE" --check -c "$conf" 2>&1); then
			ok "$name: snigate --check: $out"
		else
			bad "$name: snigate --check ($SNIGATE): $out"
		fi
	else
		echo "note $name: no snigate binary built: the config was not loaded by snigate"
	fi
	core=$T/$name.Corefile
	[ -f "$core" ] || { bad "$name: no egress-dns Corefile rendered"; continue; }
	if [ -n "$SNIGATE" ] && "$SNIGATE" --help 2>&1 | grep -q -- '--corefile'; then
		if out=$("$SNIGATE" check --corefile "$core" -c "$conf" 2>&1); then
			ok "$name: snigate check --corefile: no drift"
		else
			bad "$name: snigate check --corefile: $out"
		fi
	fi
	names_conf "$conf" >"$T/a"
	names_corefile "$core" >"$T/b"
	if [ -s "$T/a" ] && cmp -s "$T/a" "$T/b"; then
		ok "$name: Corefile rewrites exactly the $(wc -l <"$T/a") allowlisted names"
	else
		bad "$name: Corefile and allowlist differ: $(diff "$T/a" "$T/b" | grep '^[<>]' | tr '\n' ' ')"
	fi
done

# ---- the seccomp profile of components/seccomp-io-uring
if out=$(node -e '
	const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	const allow = new Set(p.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW" && !s.args).flatMap((s) => s.names));
	const need = ["io_uring_setup", "io_uring_enter", "io_uring_register", "splice", "accept4", "connect", "clone", "futex"];
	const missing = need.filter((n) => !allow.has(n));
	const banned = ["kexec_load", "init_module", "bpf", "open_by_handle_at", "perf_event_open"].filter((n) => allow.has(n));
	if (p.defaultAction !== "SCMP_ACT_ERRNO" || missing.length || banned.length)
		throw new Error(`default ${p.defaultAction}, missing ${missing}, allowed ${banned}`);
	console.log(`${allow.size} calls allowed, default ${p.defaultAction}`);
' "$SRC/k8s/seccomp/snigate.json" 2>&1); then
	ok "k8s/seccomp/snigate.json: $out, io_uring and the data path allowed, kexec, modules, bpf, perf not"
else
	bad "k8s/seccomp/snigate.json: $out"
fi

# ---- the checks catch what they claim to: each broken copy must fail
mutant() { # WHAT EXPECTED-OUTPUT VALIDATE-FLAGS SED-SCRIPT
	sed "$4" "$T/base.yaml" >"$T/mutant.yaml"
	if cmp -s "$T/base.yaml" "$T/mutant.yaml"; then
		bad "catches $1: the edit did not apply"
		return
	fi
	# shellcheck disable=SC2086
	(cd "$CACHE" && node validate.mjs $3 "$T" "mutant=$T/mutant.yaml") >"$T/mutant.out" 2>&1
	if [ $? != 0 ] && grep -q "^FAIL.*$2" "$T/mutant.out"; then
		ok "catches $1: $(grep -m 1 "^FAIL.*$2" "$T/mutant.out" | cut -c 6-200)"
	else
		bad "does not catch $1"
	fi
}
if [ -f "$T/base.yaml" ]; then
	mutant "an unknown field" 'imagePulPolicy' "" \
		's/^      - args:/      - imagePulPolicy: Always\n        args:/'
	mutant "a mistyped value" 'must be integer' --no-types 's/^  replicas: 2$/  replicas: two/'
	mutant "the admin port on loopback" 'reachable by the kubelet' --no-types \
		's/address: 0\.0\.0\.0:9901/address: 127.0.0.1:9901/'
	mutant "a grace period shorter than the drain" 'terminationGracePeriodSeconds' --no-types \
		's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 30/'
	mutant "a Service port no pod has" '443 -> https' --no-types 's/^    targetPort: tls$/    targetPort: https/'
fi
# Corefile drift: a removed, an added and a misspelt name.
drift() { # WHAT SED-SCRIPT
	conf=$T/base.snigate.yaml
	sed "$2" "$T/base.Corefile" >"$T/drift.Corefile"
	names_conf "$conf" >"$T/a"
	names_corefile "$T/drift.Corefile" >"$T/b"
	found=
	cmp -s "$T/a" "$T/b" || found="name sets differ"
	if [ -n "$SNIGATE" ] && "$SNIGATE" --help 2>&1 | grep -q -- '--corefile'; then
		"$SNIGATE" check --corefile "$T/drift.Corefile" -c "$conf" >/dev/null 2>&1
		[ $? = 1 ] && found="$found, snigate check --corefile exits 1" || found=
	fi
	[ -n "$found" ] && ok "Corefile drift caught ($1): $found" || bad "Corefile drift not caught ($1)"
}
if [ -f "$T/base.Corefile" ] && [ -f "$T/base.snigate.yaml" ]; then
	drift "ghcr.io removed" '/rewrite name exact ghcr\.io /d'
	drift "example.org added" 's/^\(.*\)rewrite name exact ghcr\.io \(.*\)$/&\n\1rewrite name exact example.org \2/'
	drift "ghcr.io misspelt gchr.io" 's/rewrite name exact ghcr\.io /rewrite name exact gchr.io /'
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
