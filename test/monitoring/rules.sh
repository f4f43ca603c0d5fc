#!/bin/sh
# The alerts of k8s/monitoring/prometheusrule.yaml, offline, with promtool:
#   1. the rule groups extracted from the PrometheusRule hold every alert the
#      manifest names, and `promtool check rules` accepts them;
#   2. rules_test.yaml has, for every alert, a case where it fires and one
#      where it does not;
#   3. `promtool test rules rules_test.yaml` passes;
#   4. the tests can fail: with one alert's expr replaced by vector(0), the
#      run fails on that alert, for each alert in turn.
# Exit 77 (skipped) where promtool is not installed (`make promtool` unpacks
# it into .cache/prometheus).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
RULE=$SRC/k8s/monitoring/prometheusrule.yaml

PROMTOOL=$(command -v promtool 2>/dev/null || true)
[ -n "$PROMTOOL" ] || [ ! -x "$SRC/.cache/prometheus/usr/bin/promtool" ] ||
	PROMTOOL=$SRC/.cache/prometheus/usr/bin/promtool
[ -n "$PROMTOOL" ] || { echo "monitoring rules: skipped: promtool not installed (make promtool)"; exit 77; }

T=$(mktemp -d /tmp/snigate-mon-rules.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# ---- 1. extract and check
"$HERE/extract-rules.sh" "$RULE" >"$T/snigate.rules.yaml"
cp "$HERE/rules_test.yaml" "$T/"
alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\) *$/\1/p' "$RULE")
n_manifest=$(echo "$alerts" | grep -c .)
n_file=$(grep -c '^ *- alert: ' "$T/snigate.rules.yaml")
if [ "$n_manifest" -gt 0 ] && [ "$n_manifest" = "$n_file" ]; then
	ok "extracted the rule groups: $n_file alerts, as many as the manifest names"
else
	bad "extracted $n_file alerts, the manifest names $n_manifest"
fi
if out=$("$PROMTOOL" check rules "$T/snigate.rules.yaml" 2>&1); then
	ok "promtool check rules: $(echo "$out" | sed -n 's/^ *SUCCESS: //p')"
else
	bad "promtool check rules: $out"
fi

# ---- 2. every alert has a firing and a quiet case
# alertname: NAME, then its exp_alerts line: "exp_alerts: []" is quiet, a bare
# "exp_alerts:" (a list follows) fires.
cases=$(awk '
	/^ *alertname: / { name = $2; next }
	name != "" && /^ *exp_alerts: *\[\] *$/ { print name, "quiet"; name = ""; next }
	name != "" && /^ *exp_alerts: *$/ { print name, "fires"; name = ""; next }
' "$HERE/rules_test.yaml" | sort -u)
for a in $alerts; do
	f=$(echo "$cases" | grep -c "^$a fires$")
	q=$(echo "$cases" | grep -c "^$a quiet$")
	if [ "$f" -gt 0 ] && [ "$q" -gt 0 ]; then
		ok "$a: rules_test.yaml has a case where it fires and one where it does not"
	else
		bad "$a: rules_test.yaml lacks a case where it $([ "$f" -gt 0 ] && echo 'does not fire' || echo fires)"
	fi
done
for a in $(echo "$cases" | cut -d' ' -f1 | sort -u); do
	echo "$alerts" | grep -qx "$a" || bad "rules_test.yaml tests $a, which the manifest does not define"
done

# ---- 3. the unit tests
if out=$(cd "$T" && "$PROMTOOL" test rules rules_test.yaml 2>&1); then
	ok "promtool test rules: $(grep -c '^  - name:' "$HERE/rules_test.yaml") test groups pass"
else
	bad "promtool test rules:"
	echo "$out"
fi

# ---- 4. they fail when an alert cannot fire
# Replace NAME's expr (one line, or a block scalar) with vector(0).
neuter() {
	awk -v name="$1" '
		skip { match($0, /^ */); if (RLENGTH > ind && $0 !~ /^ *$/) next; skip = 0 }
		$0 ~ "^ *- alert: " name " *$" { mine = 1; print; next }
		mine && /^ *expr:/ {
			match($0, /^ */); ind = RLENGTH
			print substr($0, 1, ind) "expr: vector(0)"
			mine = 0; skip = 1; next
		}
		{ print }
	' "$T/snigate.rules.yaml"
}
mkdir "$T/m"
cp "$HERE/rules_test.yaml" "$T/m/"
for a in $alerts; do
	neuter "$a" >"$T/m/snigate.rules.yaml"
	if [ "$(grep -c 'expr: vector(0)$' "$T/m/snigate.rules.yaml")" != 1 ]; then
		bad "$a: could not replace its expr"
		continue
	fi
	out=$(cd "$T/m" && "$PROMTOOL" test rules rules_test.yaml 2>&1)
	if [ $? != 0 ] && echo "$out" | grep -q "alertname: $a,"; then
		ok "$a: with its expr replaced by vector(0), promtool test rules fails on it"
	else
		bad "$a: with its expr replaced by vector(0), promtool test rules does not fail on it"
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
