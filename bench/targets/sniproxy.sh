# sniproxy: a table of the allowlist, resolving through unbound on port 53 of
# its own loopback address (bench/peers/sniproxy.conf.in). One process, no threads.
target_check() { command -v sniproxy > /dev/null || { echo "sniproxy is not installed (make bench-deps)"; return 1; }; }
target_start() {
	render "$PEERS/sniproxy.conf.in" "$T/sniproxy.conf"
	sniproxy -f -c "$T/sniproxy.conf" > "$T/sniproxy.out" 2>&1 &
	TARGET_PID=$!
}
target_version() { echo "sniproxy $(dpkg-query -W -f='${Version}' sniproxy 2>/dev/null || sniproxy -V 2>&1 | head -1)"; }
