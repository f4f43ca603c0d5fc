#!/bin/sh
# Regenerate egress-dns's Corefiles from the snigate configs they serve
# (`make k8s-corefile`), with snigate's own generator:
#   k8s/base/snigate.yaml             -> k8s/base/egress-dns/Corefile
#   k8s/overlays/example/snigate.yaml -> k8s/overlays/example/Corefile
# The upstream is the cluster DNS Service address: k3s's default for the base
# (10.43.0.10), kubeadm's for the example overlay (10.96.0.10). `make
# k8s-check` fails when a Corefile and its allowlist disagree.
#   SNIGATE_BIN=path/to/snigate test/k8s/corefile.sh
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cd "$SRC"
SNIGATE=${SNIGATE_BIN:-build/core/snigate}
GATEWAY=snigate.egress.svc.cluster.local
[ -x "$SNIGATE" ] || { echo "k8s-corefile: no $SNIGATE (make build)" >&2; exit 1; }
"$SNIGATE" corefile --help 2>&1 | grep -q -- '--gateway-service' ||
	{ echo "k8s-corefile: $SNIGATE has no corefile command" >&2; exit 1; }
gen() { # CONFIG UPSTREAM OUT
	"$SNIGATE" corefile -c "$1" --gateway-service "$GATEWAY" --upstream "$2" >"$3.tmp"
	mv "$3.tmp" "$3"
	"$SNIGATE" check --corefile "$3" -c "$1"
}
gen k8s/base/snigate.yaml 10.43.0.10 k8s/base/egress-dns/Corefile
gen k8s/overlays/example/snigate.yaml 10.96.0.10 k8s/overlays/example/Corefile
