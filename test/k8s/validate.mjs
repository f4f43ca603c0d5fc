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
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const argv = process.argv.slice(2);
const types = argv[0] !== "--no-types";
if (!types) argv.shift();
const [outdir, ...sets] = argv;
let passed = 0;
let failed = 0;
const ok = (msg) => { passed++; console.log(`ok   ${msg}`); };
const bad = (msg) => { failed++; console.log(`FAIL ${msg}`); };
const check = (cond, msg, why = "") => {
	if (cond) ok(msg);
	else bad(why ? `${msg}: ${why}` : msg);
	return !!cond;
};

// apiVersion + kind -> the kubernetes-models module and interface.
function modelPath(o) {
	const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : [null, o.apiVersion];
	return `kubernetes-models/${group ? group + "/" : ""}${version}/${o.kind}`;
}

const docsBySet = [];
for (const arg of sets) {
	const [name, file] = arg.split("=");
	const docs = [];
	for (const d of parseAllDocuments(readFileSync(file, "utf8"))) {
		if (d.errors.length) {
			bad(`${name}: YAML: ${d.errors[0].message}`);
			continue;
		}
		const o = d.toJS();
		if (o) docs.push(o);
	}
	check(docs.length > 0, `${name}: ${docs.length} objects rendered`);
	docsBySet.push({ name, docs });
}

// ---- schema, per object
const tsLines = [];
let n = 0;
for (const { name, docs } of docsBySet) {
	for (const o of docs) {
		const id = `${name}: ${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o.metadata?.name}`;
		let mod;
		try {
			mod = await import(modelPath(o));
		} catch {
			bad(`${id}: no model for ${o.apiVersion} ${o.kind} (not a Kubernetes 1.34 API)`);
			continue;
		}
		const Model = mod[o.kind];
		try {
			new Model(o).validate();
			ok(`${id}: schema`);
		} catch (e) {
			bad(`${id}: schema: ${e.message}`);
		}
		const v = `o${n++}`;
		tsLines.push(`// ${id}`);
		tsLines.push(`import type { I${o.kind} as T${v} } from "${modelPath(o)}";`);
		tsLines.push(`export const ${v}: T${v} = ${JSON.stringify(o)};`);
	}
}

// ---- types, all objects in one tsc run
if (types) {
	// In the folder of node_modules, so that tsc resolves kubernetes-models;
	// one name per run, so that two runs can share the folder.
	const ts = `objects-${process.pid}.ts`;
	writeFileSync(ts, tsLines.join("\n") + "\n");
	let out = "";
	try {
		execFileSync(process.execPath, [
			"node_modules/typescript/bin/tsc", "--noEmit", "--strict",
			"--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", ts,
		], { encoding: "utf8" });
	} catch (e) {
		out = (e.stdout || "") + (e.stderr || "") || String(e);
	}
	unlinkSync(ts);
	const lines = tsLines.filter((l) => l.startsWith("// ")).length;
	if (!out) {
		ok(`types: ${lines} objects type-check against the API's interfaces (no unknown fields)`);
	} else {
		const before = failed;
		for (const l of out.trim().split("\n")) {
			// objects-PID.ts(LINE,COL): error ...: name the object from the comment above.
			const m = l.match(/objects-\d+\.ts\((\d+),\d+\): (.*)/);
			if (!m) continue;
			let i = Number(m[1]) - 1;
			while (i > 0 && !tsLines[i].startsWith("// ")) i--;
			bad(`types: ${tsLines[i].slice(3)}: ${m[2].slice(0, 400)}`);
		}
		if (failed === before) bad(`types: tsc failed: ${out.slice(0, 800)}`);
	}
}

// ---- across objects, per rendered set
const sel = (selector, labels) =>
	Object.entries(selector?.matchLabels || {}).every(([k, v]) => labels?.[k] === v) &&
	(selector?.matchExpressions || []).every((e) =>
		e.operator === "In" ? e.values.includes(labels?.[e.key]) :
		e.operator === "NotIn" ? !e.values.includes(labels?.[e.key]) :
		e.operator === "Exists" ? labels && e.key in labels : !(labels && e.key in labels));
const seconds = (d) => {
	const m = String(d ?? "0").match(/^(\d+)(ms|s|m|h)?$/);
	if (!m) return NaN;
	const n = Number(m[1]);
	return { ms: n / 1000, s: n, m: n * 60, h: n * 3600, undefined: n / 1000 }[m[2]];
};

for (const { name, docs } of docsBySet) {
	const ns = (o) => o.metadata?.namespace || "default";
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
				check(containerPorts(p).some((cp) => cp.containerPort === Number(l.port)),
					`${name}: ${podName(p)}: listener ${l.address}:${l.port} is a container port`);
			const unpriv = Number((p.spec.securityContext?.sysctls || []).find((s) => s.name === "net.ipv4.ip_unprivileged_port_start")?.value ?? 1024);
			for (const l of conf.listeners || [])
				if (Number(l.port) < 1024)
					check(Number(l.port) >= unpriv, `${name}: ${podName(p)}: a non-root process may bind ${l.port} (ip_unprivileged_port_start ${unpriv})`);
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
	for (const p of pods.filter((x) => x.spec.dnsPolicy === "None")) {
		const first = p.spec.dnsConfig?.nameservers?.[0];
		const dns = of("Service").find((s) => s.spec.clusterIP === first);
		check(!!dns && dns.spec.ports.some((x) => x.port === 53),
			`${name}: ${podName(p)}: first nameserver ${first} is ${dns ? "Service/" + dns.metadata.name : "no Service of this set"} on port 53`);
	}
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
