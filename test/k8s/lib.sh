# What test/k8s/check.sh and test/monitoring/check.sh share. Each sources it
# with its own arguments, after setting HERE (its folder) and WHO (how its
# messages begin).
# shellcheck shell=sh
SRC=$(cd "$HERE/../.." && pwd)
offline=no
[ "${1:-}" = --offline ] && offline=yes
skip() { echo "$WHO: skipped: $*"; exit 77; }
die() { echo "$WHO: $*" >&2; exit 1; }
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

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

# The npm packages pinned by $HERE/package-lock.json, installed into CACHE
# unless the lock there is the same and MODULE is in place; then FILEs and
# lib.mjs are copied beside node_modules, where their imports resolve.
validator() { # CACHE MODULE FILE...
	CACHE=$1
	if ! cmp -s "$HERE/package-lock.json" "$CACHE/package-lock.json" ||
		[ ! -d "$CACHE/node_modules/$2" ]; then
		[ $offline = yes ] && skip "validator not installed (make k8s-check installs it)"
		command -v npm >/dev/null 2>&1 || die "npm is not installed (apt-get install npm)"
		mkdir -p "$CACHE"
		cp "$HERE/package.json" "$HERE/package-lock.json" "$CACHE/"
		echo "$WHO: installing the validator into $CACHE"
		(cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
	fi
	shift 2
	cp "$@" "$SRC/test/k8s/lib.mjs" "$CACHE/"
}

# Shows what validate.mjs printed, less its summary, whose counts go into
# pass and fail; a run that exited RC != 0 without one (it crashed) is a failure.
tally() { # OUT RC
	grep -v ' passed, .* failed$' "$1"
	vpass=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$1")
	vfail=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$1")
	[ "$2" = 0 ] || [ -n "$vfail" ] || vfail=1
	pass=$((pass + ${vpass:-0}))
	fail=$((fail + ${vfail:-0}))
}

# A broken copy is caught only if validate.mjs failed on it (RC) with the rule
# the copy breaks (EXPECTED, in $T/mutant.out), not for some other reason.
caught() { # RC WHAT EXPECTED WIDTH
	if [ "$1" != 0 ] && grep -q "^FAIL.*$3" "$T/mutant.out"; then
		ok "catches $2: $(grep -m 1 "^FAIL.*$3" "$T/mutant.out" | cut -c 6-"$4")"
	else
		bad "does not catch $2"
	fi
}
