# HAProxy in TCP mode: req.ssl_sni routed through a map of the allowlist,
# everything else rejected (bench/peers/haproxy.cfg.in).
target_check() { command -v haproxy > /dev/null || { echo "haproxy is not installed (make bench-deps)"; return 1; }; }
target_start() {
	render "$PEERS/haproxy.cfg.in" "$T/haproxy.cfg"
	haproxy -db -f "$T/haproxy.cfg" > "$T/haproxy.out" 2>&1 &
	TARGET_PID=$!
}
target_version() { haproxy -v 2>&1 | head -1; }
