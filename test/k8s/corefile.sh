#!/bin/sh
# Regenerate egress-dns's Corefiles from the snigate configs they serve
# (`make k8s-corefile`), with snigate's own generator:
#   k8s/base/snigate.yaml             -> k8s/base/egress-dns/Corefile
#   k8s/overlays/example/snigate.yaml -> k8s/overlays/example/Corefile
# Other names go to `forward . /etc/resolv.conf`, the egress-dns pod's own
# resolver (the cluster DNS), so the file holds no cluster address and is the
# same on every cluster. `make k8s-check` fails when a Corefile is not what
# this script would write, or disagrees with its allowlist.
#   SNIGATE_BIN=path/to/snigate test/k8s/corefile.sh
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cd "$SRC"
SNIGATE=${SNIGATE_BIN:-build/core/snigate}
GATEWAY=snigate.egress.svc.cluster.local
[ -x "$SNIGATE" ] || { echo "k8s-corefile: no $SNIGATE (make build)" >&2; exit 1; }
"$SNIGATE" corefile --help 2>&1 | grep -q -- '--gateway-service' ||
	{ echo "k8s-corefile: $SNIGATE has no corefile command" >&2; exit 1; }
gen() { # CONFIG OUT
	"$SNIGATE" corefile -c "$1" --gateway-service "$GATEWAY" >"$2.tmp"
	mv "$2.tmp" "$2"
	"$SNIGATE" check --corefile "$2" -c "$1"
}
gen k8s/base/snigate.yaml k8s/base/egress-dns/Corefile
gen k8s/overlays/example/snigate.yaml k8s/overlays/example/Corefile
