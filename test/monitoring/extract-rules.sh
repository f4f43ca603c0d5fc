#!/bin/sh
# Print the rule groups of a PrometheusRule (its spec, one level less
# indented) as a Prometheus rule file, for promtool and the test Prometheus.
#   test/monitoring/extract-rules.sh k8s/monitoring/prometheusrule.yaml > rules.yaml
# The manifest keeps `spec:` at the start of a line and nothing after the
# spec; the tests fail if the extracted file has fewer alerts than the
# manifest names.
set -eu
awk '
	/^spec:[ \t]*$/ { on = 1; next }
	on && /^[^ #]/ { exit }
	on { sub(/^  /, ""); print }
' "${1:?usage: extract-rules.sh PROMETHEUSRULE.yaml}"
