# direct: no gateway. The client goes straight to the sink, and for the reset
# path to `loadgen rstd`, a one-thread server that peeks the whole hello and
# closes with RST: the least any server can do. The baseline every gateway is
# compared with.
target_check() { return 0; }
target_start() { TARGET_PID=""; }
target_addr() { # workload
	case $1 in
	reset* | sweep* | overflow*) echo "127.0.0.1:$RSTD" ;;
	*) echo "127.0.0.1:$SINK" ;;
	esac
}
# The server that does the work: rstd for the reset path, else the sink (whose
# CPU, with loadgen's own self_us, is the two endpoints a relay must be).
target_pids() { # workload
	case $1 in
	reset* | sweep* | overflow*) echo "$RSTD_PID" ;;
	connrate* | rr*) echo "$SINK_PID" ;;
	esac
}
# mixed sends its spray to rstd, its transfers to the sink.
target_extra() { # workload
	case $1 in mixed*) echo "--deny-target 127.0.0.1:$RSTD" ;; esac
}
target_stop() { :; }
target_version() { echo "no gateway: loadgen sink, and loadgen rstd for the reset path"; }
