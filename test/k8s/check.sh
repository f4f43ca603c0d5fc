#!/bin/sh
# Render k8s/ with kustomize and validate what it renders.
#   test/k8s/check.sh            (make k8s-check: installs the validator if needed)
#   test/k8s/check.sh --offline  (the meson test: exit 77, skipped, if the
#                                 validator or kustomize is not installed)
#
# 1. `kubectl kustomize` (kustomize v5) renders k8s/base and k8s/overlays/example.
# 2. validate.mjs checks every object against the Kubernetes 1.34 API
#    (kubernetes-models' JSON schemas and, through tsc --strict, its TypeScript
#    interfaces, which reject unknown fields), then the cross-object rules.
# 3. snigate --check loads each rendered snigate.yaml, and the egress-dns
#    Corefile is compared with its allowlist (`snigate check --corefile` when
#    the binary has it; the name sets otherwise) and with what `snigate
#    corefile` writes for it today.
# 4. Broken copies of the rendered objects (sed, or mutate.mjs on the parsed
#    objects) must each fail validate.mjs with the rule they break: the
#    checks are proven to bite, not only to pass.
# The npm packages live in a cache folder outside the tree
# ($SNIGATE_K8S_CACHE, default ~/.cache/snigate/k8s-check), pinned by
# test/k8s/package-lock.json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
WHO=k8s-check
# shellcheck source=test/k8s/lib.sh
. "$HERE/lib.sh"
validator "${SNIGATE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snigate/k8s-check}" kubernetes-models \
	"$HERE/validate.mjs" "$HERE/mutate.mjs"

SNIGATE=${SNIGATE_BIN:-}
[ -n "$SNIGATE" ] || for b in "$SRC/build/core/snigate" /tmp/b-static/core/snigate; do
	[ -x "$b" ] && { SNIGATE=$b; break; }
done

T=$(mktemp -d /tmp/snigate-k8s-check.XXXXXX)
trap 'rm -rf "$T"' EXIT

# ---- render
sets=
for dir in base overlays/example; do
	name=$(echo "$dir" | tr / -)
	if kustomize "$SRC/k8s/$dir" >"$T/$name.yaml" 2>"$T/$name.err"; then
		echo "ok   render k8s/$dir with kustomize ${kver:-}: $(grep -c '^kind:' "$T/$name.yaml") objects"
		sets="$sets $name=$T/$name.yaml"
	else
		echo "FAIL render k8s/$dir: $(cat "$T/$name.err")"
		fail=$((fail + 1))
	fi
done

# ---- validate
# shellcheck disable=SC2086
(cd "$CACHE" && node validate.mjs "$T" $sets) >"$T/validate.out" 2>&1
tally "$T/validate.out" $?
pass=$((pass + $(echo "$sets" | wc -w)))

# ---- snigate on its own config, Corefile drift
names_conf() { # the allow list of a snigate.yaml, lower case, sorted
	sed -n '/^allow:/,/^[^ #-]/p' "$1" | sed -n 's/^ *- *"\{0,1\}\([^" #]*\)"\{0,1\}.*/\1/p' |
		tr 'A-Z' 'a-z' | sed 's/\.$//' | sort -u
}
names_corefile() {
	sed -n 's/^ *rewrite\( stop\| continue\)\{0,1\} name exact \([^ ]*\) .*/\2/p' "$1" |
		tr 'A-Z' 'a-z' | sed 's/\.$//' | sort -u
}
for name in base overlays-example; do
	conf=$T/$name.snigate.yaml
	[ -f "$conf" ] || continue
	if [ -n "$SNIGATE" ]; then
		if out=$("$SNIGATE" --check -c "$conf" 2>&1); then
			ok "$name: snigate --check: $(echo "$out" | tail -n 1)"
		else
			bad "$name: snigate --check ($SNIGATE): $out"
		fi
	else
		echo "note $name: no snigate binary built: the config was not loaded by snigate"
	fi
	core=$T/$name.Corefile
	[ -f "$core" ] || { bad "$name: no egress-dns Corefile rendered"; continue; }
	if [ -n "$SNIGATE" ] && "$SNIGATE" --help 2>&1 | grep -q -- '--corefile'; then
		if out=$("$SNIGATE" check --corefile "$core" -c "$conf" 2>&1); then
			ok "$name: snigate check --corefile: no drift"
		else
			bad "$name: snigate check --corefile: $out"
		fi
	fi
	names_conf "$conf" >"$T/a"
	names_corefile "$core" >"$T/b"
	if [ -s "$T/a" ] && cmp -s "$T/a" "$T/b"; then
		ok "$name: Corefile rewrites exactly the $(wc -l <"$T/a") allowlisted names"
	else
		bad "$name: Corefile and allowlist differ: $(diff "$T/a" "$T/b" | grep '^[<>]' | tr '\n' ' ')"
	fi
done

# ---- the shipped Corefiles are what the generator writes today
if [ -n "$SNIGATE" ] && "$SNIGATE" corefile --help 2>&1 | grep -q -- '--gateway-service'; then
	for pair in k8s/base/snigate.yaml:k8s/base/egress-dns/Corefile \
		k8s/overlays/example/snigate.yaml:k8s/overlays/example/Corefile; do
		conf=${pair%%:*} core=${pair#*:}
		if (cd "$SRC" && "$SNIGATE" corefile -c "$conf" --gateway-service snigate.egress.svc.cluster.local) >"$T/gen.Corefile" 2>"$T/gen.err" &&
			cmp -s "$T/gen.Corefile" "$SRC/$core"; then
			ok "$core: what snigate corefile -c $conf writes"
		else
			bad "$core: not what snigate corefile -c $conf writes (make k8s-corefile): $(diff "$SRC/$core" "$T/gen.Corefile" | head -4 | tr '\n' ' ')$(cat "$T/gen.err")"
		fi
	done
fi

# ---- the seccomp profile of components/seccomp-io-uring
if out=$(node -e '
	const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	const allow = new Set(p.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW" && !s.args).flatMap((s) => s.names));
	const need = ["io_uring_setup", "io_uring_enter", "io_uring_register", "splice", "accept4", "connect", "clone", "futex"];
	const missing = need.filter((n) => !allow.has(n));
	const banned = ["kexec_load", "init_module", "bpf", "open_by_handle_at", "perf_event_open"].filter((n) => allow.has(n));
	if (p.defaultAction !== "SCMP_ACT_ERRNO" || missing.length || banned.length)
		throw new Error(`default ${p.defaultAction}, missing ${missing}, allowed ${banned}`);
	console.log(`${allow.size} calls allowed, default ${p.defaultAction}`);
' "$SRC/k8s/seccomp/snigate.json" 2>&1); then
	ok "k8s/seccomp/snigate.json: $out, io_uring and the data path allowed, kexec, modules, bpf, perf not"
else
	bad "k8s/seccomp/snigate.json: $out"
fi

# ---- the checks catch what they claim to: each broken copy must fail
mutant() { # WHAT EXPECTED-OUTPUT VALIDATE-FLAGS SED-SCRIPT
	sed "$4" "$T/base.yaml" >"$T/mutant.yaml"
	if cmp -s "$T/base.yaml" "$T/mutant.yaml"; then
		bad "catches $1: the edit did not apply"
		return
	fi
	# shellcheck disable=SC2086
	(cd "$CACHE" && node validate.mjs $3 "$T" "mutant=$T/mutant.yaml") >"$T/mutant.out" 2>&1
	caught $? "$1" "$2" 200
}
if [ -f "$T/base.yaml" ]; then
	mutant "an unknown field" 'imagePulPolicy' "" \
		's/^      - args:/      - imagePulPolicy: Always\n        args:/'
	mutant "a mistyped value" 'must be integer' --no-types 's/^  replicas: 2$/  replicas: two/'
	mutant "the admin port on loopback" 'reachable by the kubelet' --no-types \
		's/address: 0\.0\.0\.0:9901/address: 127.0.0.1:9901/'
	mutant "a grace period shorter than the drain" 'terminationGracePeriodSeconds' --no-types \
		's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 30/'
	mutant "a Service port no pod has" '443 -> https' --no-types 's/^    targetPort: tls$/    targetPort: https/'
fi
# The same on the parsed objects: WHAT EXPECTED-FAIL SET JS (mutate.mjs).
edit() {
	src=$T/$3.yaml
	[ -f "$src" ] || { bad "catches $1: $3 was not rendered"; return; }
	if ! (cd "$CACHE" && node mutate.mjs "$src" "$T/mutant.yaml" "$4") >"$T/mutant.out" 2>&1; then
		bad "catches $1: the edit did not apply: $(tail -n 1 "$T/mutant.out")"
		return
	fi
	(cd "$CACHE" && node validate.mjs --no-types "$T" "mutant=$T/mutant.yaml") >"$T/mutant.out" 2>&1
	caught $? "$1" "$2" 220
}
GW_NP='find("NetworkPolicy", "snigate")'
DNS_NP='find("NetworkPolicy", "egress-dns")'
COREFILE='find("ConfigMap", "egress-dns-corefile").data'
if [ -f "$T/base.yaml" ]; then
	# A rollout that keeps connections.
	edit "spec.replicas beside the HPA" 'the HPA owns the count' base \
		'find("Deployment", "snigate").spec.replicas = 3'
	edit "a PDB with minAvailable" 'maxUnavailable 1' base \
		'const p = find("PodDisruptionBudget", "snigate").spec; delete p.maxUnavailable; p.minAvailable = 1'
	edit "a Deployment without a PDB" 'a PodDisruptionBudget covers it' base \
		'docs.splice(docs.indexOf(find("PodDisruptionBudget", "egress-dns")), 1)'
	edit "a readiness probe that fails on one miss" 'readiness tolerates one missed check' base \
		'find("Deployment", "snigate").spec.template.spec.containers[0].readinessProbe.failureThreshold = 1'
	edit "no spread over zones" 'spread over topology.kubernetes.io/zone' base \
		'const s = find("Deployment", "snigate").spec.template.spec; s.topologySpreadConstraints = s.topologySpreadConstraints.filter((t) => !/zone/.test(t.topologyKey))'
	edit "a hashed config ConfigMap (every change a rollout)" 'snigate-config-h5k7t2m9bd is mounted as a directory under a fixed name' base \
		'find("ConfigMap", "snigate-config").metadata.name = "snigate-config-h5k7t2m9bd"; find("Deployment", "snigate").spec.template.spec.volumes[0].configMap.name = "snigate-config-h5k7t2m9bd"'
	edit "the config mounted by subPath (never updated)" 'ConfigMap snigate-config is mounted as a directory' base \
		'find("Deployment", "snigate").spec.template.spec.containers[0].volumeMounts[0] = {name: "config", mountPath: "/etc/snigate/snigate.yaml", subPath: "snigate.yaml", readOnly: true}'
	edit "a Corefile without reload" 'reload (the ConfigMap is unhashed' base \
		"$COREFILE"'.Corefile = '"$COREFILE"'.Corefile.replace("    reload\n", "")'
	# Network policies that mean what they say.
	edit "gateway egress without the except list" 'except private, link-local' base \
		"delete $GW_NP"'.spec.egress[1].to[0].ipBlock.except'
	edit "gateway egress open to link-local (cloud metadata)" 'not excepted: 169.254.0.0/16' base \
		"const b = $GW_NP"'.spec.egress[1].to[0].ipBlock; b.except = b.except.filter((c) => c !== "169.254.0.0/16")'
	edit "a pod range outside the excepted ones" 'not excepted: 198.18.0.0/15' base \
		"$GW_NP"'.metadata.annotations["snigate.io/pod-cidr"] = "198.18.0.0/15"'
	edit "gateway egress on a port snigate never dials" 'only ports snigate dials' base \
		"$GW_NP"'.spec.egress[1].ports.push({protocol: "TCP", port: 80})'
	edit "gateway egress to every destination" 'names its destinations' base \
		"delete $GW_NP"'.spec.egress[1].to'
	edit "gateway DNS egress to any address" 'DNS to the cluster DNS pods only' base \
		"$GW_NP"'.spec.egress[0].to = [{ipBlock: {cidr: "0.0.0.0/0"}}]'
	edit "gateway ingress open to all namespaces" 'from namespaces labelled snigate.io/egress-client=true only' base \
		"$GW_NP"'.spec.ingress[0].from = [{namespaceSelector: {}}]'
	edit "gateway ingress from every source" 'names its sources' base \
		"delete $GW_NP"'.spec.ingress[0].from'
	edit "metrics port open to all namespaces" "monitoring namespaces' selector only" base \
		"$GW_NP"'.spec.ingress[1].from = [{namespaceSelector: {}}]'
	edit "a gateway policy without Ingress" 'NetworkPolicies isolate it both ways' base \
		"const s = $GW_NP"'.spec; s.policyTypes = ["Egress"]; delete s.ingress'
	edit "egress-dns answering every namespace" 'ingress only DNS, only from client namespaces' base \
		"$DNS_NP"'.spec.ingress[0].from = [{namespaceSelector: {}}]'
	edit "egress-dns asking any address" 'egress only DNS, only to the cluster DNS pods' base \
		"delete $DNS_NP"'.spec.egress[0].to'
	# Egress DNS that cannot race.
	edit "egress-dns's ClusterIP outside the Service range" 'lies in the Service range' base \
		'find("Service", "egress-dns").spec.clusterIP = "10.96.0.53"'
	edit "egress-dns with one replica" '2 or more replicas' base \
		'find("Deployment", "egress-dns").spec.replicas = 1'
	edit "egress-dns without anti-affinity" 'anti-affinity keeps its replicas' base \
		'delete find("Deployment", "egress-dns").spec.template.spec.affinity'
	edit "egress-dns resolving through the node" 'dnsPolicy ClusterFirst' base \
		'find("Deployment", "egress-dns").spec.template.spec.dnsPolicy = "Default"'
	edit "a Corefile forwarding to a fixed address" 'forwards to /etc/resolv.conf' base \
		"$COREFILE"'.Corefile = '"$COREFILE"'.Corefile.replace("forward . /etc/resolv.conf", "forward . 10.43.0.10")'
	edit "a Corefile that forwards HTTPS queries" 'answers HTTPS queries itself' base \
		"$COREFILE"'.Corefile = '"$COREFILE"'.Corefile.replace("    template IN HTTPS .\n", "")'
	edit "a Corefile that forwards SVCB queries" 'answers SVCB queries itself' base \
		"$COREFILE"'.Corefile = '"$COREFILE"'.Corefile.replace("    template IN SVCB .\n", "")'
fi
if [ -f "$T/overlays-example.yaml" ]; then
	edit "a client with a second nameserver" 'its only nameserver' overlays-example \
		'find("Pod", "agent-example").spec.dnsConfig.nameservers.push("10.96.0.10")'
	edit "a client namespace the policies do not admit" 'carries snigate.io/egress-client=true' overlays-example \
		'delete find("Namespace", "agents").metadata.labels["snigate.io/egress-client"]'
fi
# Corefile drift: a removed, an added and a misspelt name.
drift() { # WHAT SED-SCRIPT
	conf=$T/base.snigate.yaml
	sed "$2" "$T/base.Corefile" >"$T/drift.Corefile"
	names_conf "$conf" >"$T/a"
	names_corefile "$T/drift.Corefile" >"$T/b"
	found=
	cmp -s "$T/a" "$T/b" || found="name sets differ"
	if [ -n "$SNIGATE" ] && "$SNIGATE" --help 2>&1 | grep -q -- '--corefile'; then
		"$SNIGATE" check --corefile "$T/drift.Corefile" -c "$conf" >/dev/null 2>&1
		[ $? = 1 ] && found="$found, snigate check --corefile exits 1" || found=
	fi
	[ -n "$found" ] && ok "Corefile drift caught ($1): $found" || bad "Corefile drift not caught ($1)"
}
if [ -f "$T/base.Corefile" ] && [ -f "$T/base.snigate.yaml" ]; then
	drift "ghcr.io removed" '/rewrite name exact ghcr\.io /d'
	drift "example.org added" 's/^\(.*\)rewrite name exact ghcr\.io \(.*\)$/&\n\1rewrite name exact example.org \2/'
	drift "ghcr.io misspelt gchr.io" 's/rewrite name exact ghcr\.io /rewrite name exact gchr.io /'
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
