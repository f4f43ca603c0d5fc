# Envoy with the bootstrap of the pod snigate replaces (tls_inspector +
# sni_dynamic_forward_proxy + tcp_proxy; bench/peers/envoy.yaml.in), on the
# shared allowlist, unbound and sink. Debian has no envoy package: the target
# runs when an envoy binary is on PATH, and is left out with a line otherwise.
TARGET_OPTIONAL=1
target_check() { command -v envoy > /dev/null || { echo "no envoy binary on PATH"; return 1; }; }
# The allowlist as the filter chain's server_names.
envoy_render() { # out
	awk '{ printf "        - \"%s\"\n", $1 }' "$T/allowlist.txt" > "$T/envoy-names.yaml"
	render "$PEERS/envoy.yaml.in" "$1.in"
	sed -e "s|@ADMIN_PORT@|$("$LG" port)|" -e "/@ENVOY_NAMES@/{r $T/envoy-names.yaml" -e "d}" \
		"$1.in" > "$1"
}
target_start() {
	envoy_render "$T/envoy.yaml"
	envoy -c "$T/envoy.yaml" --concurrency "$THREADS" --disable-hot-restart -l warning \
		> "$T/envoy.out" 2>&1 &
	TARGET_PID=$!
}
target_version() { envoy --version 2>&1 | grep -m1 -o 'version: .*' || echo envoy; }
