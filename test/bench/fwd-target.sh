# A throwaway target for the harness test (not one of bench/targets/): loadgen's
# plain TCP forwarder in front of the sink. It lets every name through, so the
# reset workload must find it leaking.
target_check() { [ -x "$LG" ] || { echo "no $LG"; return 1; }; }
target_start() {
	"$LG" fwd -l "127.0.0.1:$PORT" --to "127.0.0.1:$SINK" > /dev/null 2>&1 &
	TARGET_PID=$!
}
