// Validate rendered Kubernetes manifests (the output of `kubectl kustomize`).
//   node validate.mjs [--no-types] OUTDIR NAME=rendered.yaml [NAME=rendered.yaml ...]
//
// Per object, against the Kubernetes API of kubernetes-models (1.34):
//   schema  the object passes the API's JSON schema (types, required fields,
//           formats), with the model's own validate();
//   types   the object, as a TypeScript literal of the model's interface,
//           type-checks under --strict: this is what rejects unknown or
//           misspelt fields (the schemas allow extra properties).
// Across objects, what kubectl and the API server would not catch but a
// rollout would: selectors that select, ports that exist, probes on the admin
// port, the restricted Pod Security Standard, the drain budget, egress-dns
// and the client policies agreeing with the Services they point at.
//
// Writes OUTDIR/<name>.<configmap>.<key> for each snigate.yaml and Corefile
// found in ConfigMaps, for check.sh to hand to snigate. Prints one line per
// check and "N passed, N failed"; exits 1 on any failure.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { argv, check, done, kubeModel, load, models, ns, sel } from "./lib.mjs";

const [outdir, ...sets] = argv;
// A listener's port: the end of "address: IP:port" (the old spelling had a separate port).
const lport = (l) => Number(l.port ?? String(l.address ?? "").match(/:(\d+)$/)?.[1]);

const docsBySet = [];
for (const arg of sets) {
	const [name, file] = arg.split("=");
	const docs = load(file, name);
	check(docs.length > 0, `${name}: ${docs.length} objects rendered`);
	docsBySet.push({ name, docs });
}

// ---- schema and types, per object
await models(docsBySet.flatMap(({ name, docs }) => docs.map((o) =>
	({ id: `${name}: ${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o.metadata?.name}`, o }))), {
	modelPath: kubeModel,
	noModel: " (not a Kubernetes 1.34 API)",
	against: "the API's interfaces",
});

// ---- across objects, per rendered set
const seconds = (d) => {
	const m = String(d ?? "0").match(/^(\d+)(ms|s|m|h)?$/);
	if (!m) return NaN;
	const n = Number(m[1]);
	return { ms: n / 1000, s: n, m: n * 60, h: n * 3600, undefined: n / 1000 }[m[2]];
};

for (const { name, docs } of docsBySet) {
	const of = (kind) => docs.filter((o) => o.kind === kind);
	// Workloads: Deployments' pod templates and bare Pods.
	const pods = [
		...of("Deployment").map((d) => ({ owner: d, ns: ns(d), meta: d.spec.template.metadata, spec: d.spec.template.spec })),
		...of("Pod").map((p) => ({ owner: p, ns: ns(p), meta: p.metadata, spec: p.spec })),
	];
	const podName = (p) => `${p.owner.kind}/${p.owner.metadata.name}`;
	const podsIn = (namespace, selector) => pods.filter((p) => p.ns === namespace && sel(selector, p.meta?.labels));
	const namespaces = new Set(of("Namespace").map((o) => o.metadata.name));
	const containerPorts = (p) => p.spec.containers.flatMap((c) => c.ports || []);
	const hasPort = (p, port) => containerPorts(p).some((cp) => cp.name === port || cp.containerPort === port);

	for (const o of docs) {
		if (o.kind !== "Namespace" && o.metadata?.namespace && namespaces.size)
			check(namespaces.has(o.metadata.namespace), `${name}: ${o.kind}/${o.metadata.name}: its namespace ${o.metadata.namespace} is in the set`);
	}
	for (const d of of("Deployment"))
		check(sel(d.spec.selector, d.spec.template.metadata?.labels), `${name}: Deployment/${d.metadata.name}: selector matches its pod template`);

	// The restricted Pod Security Standard, container by container.
	for (const p of pods) {
		const psc = p.spec.securityContext || {};
		for (const c of [...(p.spec.initContainers || []), ...p.spec.containers]) {
			const sc = c.securityContext || {};
			const why = [];
			if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) why.push("runAsNonRoot not true");
			if ((sc.runAsUser ?? psc.runAsUser) === 0) why.push("runAsUser 0");
			if (sc.allowPrivilegeEscalation !== false) why.push("allowPrivilegeEscalation not false");
			if (sc.privileged) why.push("privileged");
			if (sc.readOnlyRootFilesystem !== true) why.push("root filesystem writable");
			if (!(sc.capabilities?.drop || []).includes("ALL")) why.push("capabilities not dropped (ALL)");
			const add = (sc.capabilities?.add || []).filter((x) => x !== "NET_BIND_SERVICE");
			if (add.length) why.push(`adds ${add}`);
			const sp = (sc.seccompProfile || psc.seccompProfile)?.type;
			if (!["RuntimeDefault", "Localhost"].includes(sp)) why.push(`seccompProfile ${sp}`);
			if (p.spec.hostNetwork || p.spec.hostPID || p.spec.hostIPC) why.push("host namespaces");
			if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
				why.push("cpu/memory requests or memory limit missing");
			check(!why.length, `${name}: ${podName(p)}/${c.name}: restricted security context, resources`, why.join(", "));
			for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
				const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
				if (port !== undefined)
					check(hasPort(p, port), `${name}: ${podName(p)}/${c.name}: ${probe} port ${port} is a container port`);
			}
		}
		for (const v of p.spec.volumes || []) {
			if (!v.configMap) continue;
			check(of("ConfigMap").some((cm) => ns(cm) === p.ns && cm.metadata.name === v.configMap.name),
				`${name}: ${podName(p)}: volume ${v.name} names ConfigMap ${v.configMap.name}, which exists`);
		}
	}

	for (const s of of("Service")) {
		const sp = podsIn(ns(s), { matchLabels: s.spec.selector });
		check(sp.length > 0, `${name}: Service/${s.metadata.name}: selects ${sp.map(podName).join(", ") || "nothing"}`);
		for (const port of s.spec.ports)
			check(sp.length > 0 && sp.every((p) => hasPort(p, port.targetPort ?? port.port)),
				`${name}: Service/${s.metadata.name}: port ${port.port} -> ${port.targetPort} is a port of every selected pod`);
	}
	for (const pdb of of("PodDisruptionBudget")) {
		const sp = podsIn(ns(pdb), pdb.spec.selector);
		check(sp.length > 0, `${name}: PodDisruptionBudget/${pdb.metadata.name}: selects ${sp.map(podName).join(", ") || "nothing"}`);
	}
	for (const h of of("HorizontalPodAutoscaler")) {
		const t = h.spec.scaleTargetRef;
		const d = of(t.kind).find((o) => ns(o) === ns(h) && o.metadata.name === t.name);
		check(!!d, `${name}: HorizontalPodAutoscaler/${h.metadata.name}: target ${t.kind}/${t.name} exists`);
		if (d) {
			check(d.spec.template.spec.containers.every((c) => c.resources?.requests?.cpu),
				`${name}: HorizontalPodAutoscaler/${h.metadata.name}: every container of the target requests CPU (Utilization needs it)`);
			check(h.spec.minReplicas >= 2 && h.spec.minReplicas <= h.spec.maxReplicas,
				`${name}: HorizontalPodAutoscaler/${h.metadata.name}: 2 <= minReplicas ${h.spec.minReplicas} <= maxReplicas ${h.spec.maxReplicas}`);
		}
	}
	for (const np of of("NetworkPolicy")) {
		const empty = !Object.keys(np.spec.podSelector?.matchLabels || {}).length && !(np.spec.podSelector?.matchExpressions || []).length;
		if (!empty) {
			const sp = podsIn(ns(np), np.spec.podSelector);
			check(sp.length > 0, `${name}: NetworkPolicy/${np.metadata.name}: applies to ${sp.map(podName).join(", ") || "nothing"}`);
		}
		// A peer that names a namespace and pods of this set must select pods
		// there, on ports those pods have (ports are the pods', after Services).
		for (const rule of np.spec.egress || []) {
			for (const peer of rule.to || []) {
				const nsName = peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"];
				if (!nsName || !namespaces.has(nsName) || !peer.podSelector) continue;
				const sp = podsIn(nsName, peer.podSelector);
				check(sp.length > 0, `${name}: NetworkPolicy/${np.metadata.name}: egress peer in ${nsName} selects ${sp.map(podName).join(", ") || "nothing"}`);
				for (const port of rule.ports || [])
					check(sp.length > 0 && sp.every((p) => containerPorts(p).some((cp) => cp.containerPort === port.port && (cp.protocol || "TCP") === (port.protocol || "TCP"))),
						`${name}: NetworkPolicy/${np.metadata.name}: ${port.protocol || "TCP"} ${port.port} is a port of the pods it allows in ${nsName}`);
			}
		}
	}

	// snigate's own config, as mounted into each snigate container.
	const gateways = [];
	for (const p of pods) {
		for (const c of p.spec.containers) {
			const args = c.args || [];
			const ci = args.findIndex((a) => a === "-c" || a === "--config");
			if (ci < 0 || !/snigate/.test(c.image)) continue;
			const path = args[ci + 1];
			const mount = (c.volumeMounts || []).find((m) => path.startsWith(m.mountPath + "/"));
			const vol = mount && (p.spec.volumes || []).find((v) => v.name === mount.name);
			const cm = vol?.configMap && of("ConfigMap").find((o) => ns(o) === p.ns && o.metadata.name === vol.configMap.name);
			const key = path.slice(mount?.mountPath.length + 1);
			const text = cm?.data?.[key];
			if (!check(text !== undefined, `${name}: ${podName(p)}: ${path} comes from ConfigMap ${vol?.configMap?.name} key ${key}`)) continue;
			const conf = parseYaml(text);
			gateways.push({ p, c, conf });
			const file = join(outdir, `${name}.snigate.yaml`);
			writeFileSync(file, text);
			const admin = conf.admin?.address || "";
			const [host, port] = [admin.replace(/:\d+$/, ""), Number(admin.match(/:(\d+)$/)?.[1])];
			check(admin && !/^(127\.|\[::1\]|localhost)/.test(host),
				`${name}: ${podName(p)}: admin.address ${admin || "(default 127.0.0.1:9901)"} is reachable by the kubelet (not loopback)`);
			for (const probe of ["readinessProbe", "livenessProbe"]) {
				const pp = c[probe]?.httpGet;
				if (!check(!!pp, `${name}: ${podName(p)}: ${probe} is an httpGet`)) continue;
				const num = typeof pp.port === "number" ? pp.port : containerPorts(p).find((cp) => cp.name === pp.port)?.containerPort;
				check(num === port, `${name}: ${podName(p)}: ${probe} ${pp.path} on port ${num}, the admin port ${port}`);
			}
			check(c.readinessProbe?.httpGet?.path === "/ready" && c.livenessProbe?.httpGet?.path === "/healthz",
				`${name}: ${podName(p)}: readiness on /ready, liveness on /healthz`);
			for (const l of conf.listeners || [])
				check(containerPorts(p).some((cp) => cp.containerPort === lport(l)),
					`${name}: ${podName(p)}: listener ${l.address} is a container port`);
			const unpriv = Number((p.spec.securityContext?.sysctls || []).find((s) => s.name === "net.ipv4.ip_unprivileged_port_start")?.value ?? 1024);
			for (const l of conf.listeners || [])
				if (lport(l) < 1024)
					check(lport(l) >= unpriv, `${name}: ${podName(p)}: a non-root process may bind ${lport(l)} (ip_unprivileged_port_start ${unpriv})`);
			const sleep = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
			const need = sleep + seconds(conf.drain?.delay) + seconds(conf.drain?.timeout ?? "30s");
			const grace = p.spec.terminationGracePeriodSeconds ?? 30;
			check(need < grace, `${name}: ${podName(p)}: preStop ${sleep}s + drain.delay ${seconds(conf.drain?.delay)}s + drain.timeout ${seconds(conf.drain?.timeout ?? "30s")}s = ${need}s < terminationGracePeriodSeconds ${grace}s`);
			check(!(conf.resolver?.forwarders || []).length || p.spec.dnsPolicy !== "None",
				`${name}: ${podName(p)}: resolves through the cluster DNS, not egress-dns`);
		}
	}

	// egress-dns: the Corefile in its ConfigMap, the Service clients name.
	for (const cm of of("ConfigMap")) {
		if (cm.data?.Corefile !== undefined) {
			writeFileSync(join(outdir, `${name}.Corefile`), cm.data.Corefile);
			const rewrites = cm.data.Corefile.split("\n").filter((l) => /^\s*rewrite\s/.test(l));
			const target = new Set(rewrites.map((l) => l.trim().split(/\s+/)[4]));
			const svc = [...target].every((t) => of("Service").some((s) => t === `${s.metadata.name}.${ns(s)}.svc.cluster.local`));
			check(rewrites.length > 0 && svc, `${name}: ConfigMap/${cm.metadata.name}: ${rewrites.length} rewrites to ${[...target].join(", ")}, a Service of this set`);
			for (const l of cm.data.Corefile.split("\n").filter((x) => /^\s*forward\s/.test(x))) {
				const f = l.trim().split(/\s+/);
				check(f.length >= 3 && f.slice(2).every((x) => /^[\d.:[\]a-f]+$|^\//.test(x) || x === "{"),
					`${name}: ConfigMap/${cm.metadata.name}: "${l.trim()}" has one zone and upstreams only`);
			}
		}
	}
	// ---- network policies: what each one admits, read the way the API does
	// (rules of every policy that selects a pod add up; a rule without `from`
	// or `to` admits every peer, one without `ports` every port).
	const policiesOf = (p) => of("NetworkPolicy").filter((np) => ns(np) === p.ns && sel(np.spec.podSelector, p.meta?.labels));
	const types = (np) => np.spec.policyTypes || ["Ingress", ...(np.spec.egress ? ["Egress"] : [])];
	const rulesOf = (p, dir) => policiesOf(p).flatMap((np) => (np.spec[dir] || []).map((r) => ({ np, r })));
	const isolated = (p, t) => policiesOf(p).some((np) => types(np).includes(t));
	const portStr = (x) => `${x.protocol || "TCP"} ${x.port}`;
	const emptySel = (x) => !x || (!Object.keys(x.matchLabels || {}).length && !(x.matchExpressions || []).length);
	const sameSel = (a, b) => JSON.stringify(a || {}) === JSON.stringify(b || {});
	const CLIENT_NS = { matchLabels: { "snigate.io/egress-client": "true" } };
	const clusterDns = (peer) => !peer.ipBlock &&
		sameSel(peer.namespaceSelector, { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }) &&
		sameSel(peer.podSelector, { matchLabels: { "k8s-app": "kube-dns" } });
	const dnsPorts = (r) => (r.ports || []).length > 0 && r.ports.every((x) => x.port === 53 && ["UDP", "TCP"].includes(x.protocol || "TCP"));
	const v4 = (cidr) => {
		const m = String(cidr).match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/);
		if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) return null;
		const bits = Number(m[5]);
		const addr = m.slice(1, 5).reduce((a, o) => a * 256 + Number(o), 0);
		const mask = bits ? 2 ** 32 - 2 ** (32 - bits) : 0;
		return { addr, bits, base: bits ? Number(BigInt(addr) & BigInt(mask)) : 0 };
	};
	const within = (outer, inner) => { // inner lies in outer (CIDRs or an address)
		const o = v4(outer), i = v4(inner.includes("/") ? inner : inner + "/32");
		if (!o || !i || i.bits < o.bits) return false;
		return o.bits === 0 || Math.floor(i.addr / 2 ** (32 - o.bits)) === Math.floor(o.base / 2 ** (32 - o.bits));
	};

	for (const g of gateways) {
		const { p, conf } = g;
		const id = `${name}: ${podName(p)}`;
		const np = policiesOf(p);
		check(isolated(p, "Ingress") && isolated(p, "Egress"),
			`${id}: NetworkPolicies isolate it both ways (${np.map((x) => x.metadata.name).join(", ") || "none"})`);
		const adminPort = Number((conf.admin?.address || "").match(/:(\d+)$/)?.[1]);
		const listenPorts = (conf.listeners || []).map(lport);
		// Ingress: TLS ports from client namespaces only, the admin port from
		// a namespace selector, nothing else.
		for (const { np: pol, r } of rulesOf(p, "ingress")) {
			const where = `${id}: NetworkPolicy/${pol.metadata.name} ingress ${(r.ports || []).map(portStr).join(", ") || "(all ports)"}`;
			if (!check((r.from || []).length > 0 && (r.ports || []).length > 0, `${where}: names its sources and its ports`,
				"a rule without from admits every source, one without ports every port")) continue;
			const tls = r.ports.every((x) => (x.protocol || "TCP") === "TCP" && listenPorts.includes(x.port));
			const adm = r.ports.every((x) => (x.protocol || "TCP") === "TCP" && x.port === adminPort);
			if (!check(tls || adm, `${where}: only listener ports (${listenPorts}) or only the admin port (${adminPort})`)) continue;
			if (tls)
				check(r.from.every((x) => !x.ipBlock && sameSel(x.namespaceSelector, CLIENT_NS)),
					`${where}: from namespaces labelled snigate.io/egress-client=true only`,
					`from ${JSON.stringify(r.from)}`);
			else
				check(r.from.every((x) => !x.ipBlock && x.namespaceSelector && !emptySel(x.namespaceSelector)),
					`${where}: from the monitoring namespaces' selector only`, `from ${JSON.stringify(r.from)}`);
		}
		for (const port of listenPorts)
			check(rulesOf(p, "ingress").some(({ r }) => (r.ports || []).some((x) => x.port === port) &&
				(r.from || []).some((x) => sameSel(x.namespaceSelector, CLIENT_NS))),
				`${id}: client namespaces may reach listener port ${port}`);
		// Egress: DNS to the cluster DNS pods; the dialled ports to public
		// IPv4 only.
		const svcCidr = pol0(np, "snigate.io/service-cidr");
		const podCidr = pol0(np, "snigate.io/pod-cidr");
		check(v4(svcCidr) && v4(podCidr), `${id}: the policy names the cluster's ranges (Service ${svcCidr}, pods ${podCidr})`,
			"annotations snigate.io/service-cidr and snigate.io/pod-cidr, set from cluster.env");
		const mustExcept = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
			...(v4(podCidr) ? [podCidr] : []), ...(v4(svcCidr) ? [svcCidr] : [])];
		const dial = new Set((conf.listeners || []).flatMap((l) => [
			Number(l.upstream_port ?? 443),
			...((l.protocol ?? "auto") !== "tls" ? (l.connect_ports ?? [443]).map(Number) : []),
		]));
		const allowed = new Set();
		for (const { np: pol, r } of rulesOf(p, "egress")) {
			const where = `${id}: NetworkPolicy/${pol.metadata.name} egress ${(r.ports || []).map(portStr).join(", ") || "(all ports)"}`;
			if (!check((r.to || []).length > 0 && (r.ports || []).length > 0, `${where}: names its destinations and its ports`,
				"a rule without to admits every destination, one without ports every port")) continue;
			if (r.ports.some((x) => x.port === 53)) {
				check(dnsPorts(r) && r.to.every(clusterDns), `${where}: DNS to the cluster DNS pods only (kube-system, k8s-app=kube-dns)`,
					`to ${JSON.stringify(r.to)}`);
				continue;
			}
			const extra = r.ports.filter((x) => (x.protocol || "TCP") !== "TCP" || !dial.has(x.port));
			check(!extra.length, `${where}: only ports snigate dials (${[...dial]})`, `also ${extra.map(portStr)}`);
			for (const x of r.ports) if ((x.protocol || "TCP") === "TCP") allowed.add(x.port);
			for (const peer of r.to) {
				const b = peer.ipBlock;
				if (!check(b && v4(b.cidr), `${where}: to an IPv4 ipBlock`, `to ${JSON.stringify(peer)} (no IPv6: lookup_family V4_ONLY)`)) continue;
				const missing = mustExcept.filter((c) => within(b.cidr, c) && !(b.except || []).some((e) => within(e, c)));
				check(!missing.length, `${where}: ${b.cidr} except private, link-local, CGNAT, pod and Service ranges`,
					`not excepted: ${missing.join(", ")}`);
			}
		}
		for (const port of dial)
			check(allowed.has(port), `${id}: egress allows TCP ${port}, which snigate.yaml dials`);
		check(rulesOf(p, "egress").some(({ r }) => dnsPorts(r) && (r.ports || []).some((x) => (x.protocol || "TCP") === "UDP") && (r.to || []).length && r.to.every(clusterDns)),
			`${id}: egress allows UDP 53 to the cluster DNS (the gateway resolves through it)`);

		// ---- rollout that keeps connections
		const d = p.owner.kind === "Deployment" ? p.owner : null;
		if (d) {
			const hpa = of("HorizontalPodAutoscaler").find((h) => ns(h) === p.ns && h.spec.scaleTargetRef.name === d.metadata.name);
			check(!!hpa && d.spec.replicas === undefined, `${id}: no spec.replicas, the HPA owns the count`,
				hpa ? `replicas: ${d.spec.replicas}, which every apply would reset` : "no HPA targets it");
			for (const key of ["topology.kubernetes.io/zone", "kubernetes.io/hostname"])
				check((p.spec.topologySpreadConstraints || []).some((t) => t.topologyKey === key && sel(t.labelSelector, p.meta?.labels)),
					`${id}: spread over ${key} (topologySpreadConstraints on its own pods)`);
		}
		const rp = g.c.readinessProbe;
		check((rp?.failureThreshold ?? 3) >= 2, `${id}: readiness tolerates one missed check (failureThreshold ${rp?.failureThreshold ?? 3} >= 2)`);
	}

	// Every Deployment has a PDB that lets one pod go at a time.
	for (const pdb of of("PodDisruptionBudget"))
		check(pdb.spec.maxUnavailable === 1 && pdb.spec.minAvailable === undefined,
			`${name}: PodDisruptionBudget/${pdb.metadata.name}: maxUnavailable 1`,
			`maxUnavailable ${pdb.spec.maxUnavailable}, minAvailable ${pdb.spec.minAvailable} (minAvailable blocks every drain at the HPA's minimum)`);
	for (const d of of("Deployment"))
		check(of("PodDisruptionBudget").some((pdb) => ns(pdb) === ns(d) && sel(pdb.spec.selector, d.spec.template.metadata?.labels)),
			`${name}: Deployment/${d.metadata.name}: a PodDisruptionBudget covers it`);

	// Config volumes reload in place: the ConfigMap's name carries no hash
	// (a new name rolls the pods) and the mount is the whole directory (a
	// subPath copy is never updated).
	const KUSTOMIZE_HASH = /-[24-9bcdfghkmt]{10}$/;
	for (const p of pods) {
		for (const c of p.spec.containers) {
			for (const m of c.volumeMounts || []) {
				const v = (p.spec.volumes || []).find((x) => x.name === m.name);
				if (!v?.configMap) continue;
				check(!KUSTOMIZE_HASH.test(v.configMap.name) && !m.subPath,
					`${name}: ${podName(p)}/${c.name}: ConfigMap ${v.configMap.name} is mounted as a directory under a fixed name (live reload)`,
					m.subPath ? `subPath ${m.subPath}: the kubelet never updates it` : "a hashed name: every change is a rollout");
			}
		}
	}

	// ---- egress-dns
	const svcCidr = pol0(of("NetworkPolicy"), "snigate.io/service-cidr");
	for (const cm of of("ConfigMap").filter((x) => x.data?.Corefile !== undefined)) {
		const users = pods.filter((p) => (p.spec.volumes || []).some((v) => v.configMap?.name === cm.metadata.name));
		const lines = cm.data.Corefile.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
		const id = `${name}: ConfigMap/${cm.metadata.name}`;
		const fwd = lines.filter((l) => /^forward\s/.test(l));
		check(fwd.length > 0 && fwd.every((l) => /^forward\s+\S+\s+\/etc\/resolv\.conf(\s*\{)?$/.test(l)),
			`${id}: forwards to /etc/resolv.conf (the pod's resolver, the cluster DNS), no fixed address`, fwd.join("; "));
		for (const t of ["HTTPS", "SVCB"])
			check(lines.some((l) => new RegExp(`^template\\s+(IN|ANY)\\s+${t}(\\s+\\.)?$`).test(l)),
				`${id}: answers ${t} queries itself, empty (template IN ${t} .): no ECH keys or address hints reach clients`);
		check(lines.includes("reload"), `${id}: reload (the ConfigMap is unhashed: a change must be re-read)`);
		for (const p of users) {
			const id2 = `${name}: ${podName(p)}`;
			check((p.spec.dnsPolicy ?? "ClusterFirst") === "ClusterFirst",
				`${id2}: dnsPolicy ClusterFirst, so its /etc/resolv.conf is the cluster DNS`, `dnsPolicy ${p.spec.dnsPolicy}`);
			const d = p.owner;
			check(d.kind === "Deployment" && d.spec.replicas >= 2, `${id2}: 2 or more replicas (it is the clients' only nameserver)`,
				`replicas ${d.spec.replicas}`);
			check((p.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution || [])
				.map((t) => t.podAffinityTerm)
				.concat(p.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution || [])
				.some((t) => t?.topologyKey === "kubernetes.io/hostname" && sel(t.labelSelector, p.meta?.labels)),
				`${id2}: anti-affinity keeps its replicas on different nodes`);
			check(isolated(p, "Ingress") && isolated(p, "Egress"), `${id2}: NetworkPolicies isolate it both ways`);
			for (const { np: pol, r } of rulesOf(p, "ingress"))
				check(dnsPorts(r) && (r.from || []).length > 0 && r.from.every((x) => !x.ipBlock && sameSel(x.namespaceSelector, CLIENT_NS)),
					`${id2}: NetworkPolicy/${pol.metadata.name}: ingress only DNS, only from client namespaces`,
					`ports ${(r.ports || []).map(portStr).join(", ") || "all"}, from ${JSON.stringify(r.from || "everywhere")}`);
			for (const { np: pol, r } of rulesOf(p, "egress"))
				check(dnsPorts(r) && (r.to || []).length > 0 && r.to.every(clusterDns),
					`${id2}: NetworkPolicy/${pol.metadata.name}: egress only DNS, only to the cluster DNS pods`,
					`ports ${(r.ports || []).map(portStr).join(", ") || "all"}, to ${JSON.stringify(r.to || "everywhere")}`);
			for (const s of of("Service").filter((x) => ns(x) === p.ns && sel({ matchLabels: x.spec.selector }, p.meta?.labels)))
				check(!!svcCidr && !!s.spec.clusterIP && within(svcCidr, s.spec.clusterIP),
					`${name}: Service/${s.metadata.name}: clusterIP ${s.spec.clusterIP} lies in the Service range ${svcCidr} (cluster.env)`);
		}
	}

	// ---- client pods: egress-dns and nothing else
	for (const p of pods.filter((x) => x.spec.dnsPolicy === "None")) {
		const ns0 = p.spec.dnsConfig?.nameservers || [];
		const dns = of("Service").find((s) => s.spec.clusterIP === ns0[0]);
		check(ns0.length === 1 && !!dns && dns.spec.ports.some((x) => x.port === 53),
			`${name}: ${podName(p)}: its only nameserver ${ns0[0]} is ${dns ? "Service/" + dns.metadata.name : "no Service of this set"} on port 53`,
			ns0.length > 1 ? `also ${ns0.slice(1)}: a second nameserver lets real addresses win (docs/kubernetes.md)` : "");
		const nsObj = of("Namespace").find((x) => x.metadata.name === p.ns);
		const labels = { ...(nsObj?.metadata?.labels || {}), "kubernetes.io/metadata.name": p.ns };
		check(!!nsObj && sel(CLIENT_NS, labels), `${name}: ${podName(p)}: namespace ${p.ns} carries snigate.io/egress-client=true, so the gateway and egress-dns admit it`);
	}
}

// The value of an annotation on the first of these policies that has it.
function pol0(policies, key) {
	return policies.map((x) => x.metadata?.annotations?.[key]).find((x) => x !== undefined);
}

done();
