# snigate, the build under test: the shared allowlist as --allow flags, unbound
# as its resolver, the sink's port as the upstream port.
target_check() { [ -x "$GW" ] || { echo "no $GW: build first"; return 1; }; }
target_start() {
	# shellcheck disable=SC2086
	"$GW" --listen "127.0.0.1:$PORT" $ALLOW_FLAGS --resolver "127.0.0.1:$DNS" \
		--upstream-port "$SINK" --threads "$THREADS" --no-access-log --log-level warn \
		--admin 127.0.0.1:0 --control off > /dev/null 2> "$T/snigate.err" &
	TARGET_PID=$!
	for _ in $(seq 100); do grep -q 'ready' "$T/snigate.err" 2> /dev/null && break; sleep 0.05; done
}
target_version() {
	echo "$("$GW" --version) ($(git -C "$(dirname "$GW")" describe --always --dirty 2>/dev/null || echo 'no git')), $(meson introspect --buildoptions "$(dirname "$GW")/.." 2>/dev/null | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null || echo '?') build"
}
