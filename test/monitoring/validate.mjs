// Validate the rendered monitoring kit (`kubectl kustomize k8s/monitoring`)
// against prometheus-operator's API and against the gateway it watches
// (`kubectl kustomize k8s/base`).
//   node validate.mjs [--no-types] MONITORING.yaml BASE.yaml DOCS.md DASHBOARD.json
//
// Per object of the kit:
//   schema  the object passes its model's JSON schema and validate():
//           @kubernetes-models/prometheus-operator for PodMonitor and
//           PrometheusRule (monitoring.coreos.com/v1), kubernetes-models
//           (Kubernetes 1.34) for the ConfigMap;
//   types   the object, as a TypeScript literal of the model's interface,
//           type-checks under --strict: this rejects unknown or misspelt
//           fields, which the schemas let through.
// Across objects:
//   - k8s/base renders no monitoring.coreos.com object (a cluster without the
//     CRDs applies it);
//   - the PodMonitor selects the gateway's pods in their namespace, on a
//     named container port that is snigate.yaml's admin.address (the port
//     serving /metrics), that the gateway's NetworkPolicy admits; its
//     jobLabel gives the pods the job the rules select (job="snigate");
//   - every alert has a severity, a summary, a description and a runbook_url
//     naming a section of docs/monitoring.md; every selector in a rule
//     selects job="snigate";
//   - the dashboard ConfigMap carries grafana_dashboard: "1" and holds
//     dashboard.json unchanged; the dashboard has a uid, unique panel ids,
//     the datasource variable on every panel, and job="snigate" in every query.
// Prints one line per check and "N passed, N failed"; exits 1 on any failure.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { argv, bad, check, done, kubeModel, load, models, ns, ok, sel } from "./lib.mjs";

const [monFile, baseFile, docsFile, dashFile] = argv;
const mon = load(monFile, "monitoring");
const base = load(baseFile, "base");
check(mon.length > 0, `monitoring: ${mon.length} objects rendered`);
const id = (o) => `${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o.metadata?.name}`;

// apiVersion + kind -> the module and interface of its model.
const modelPath = (o) => o.apiVersion === "monitoring.coreos.com/v1" ?
	`@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${o.kind}` : kubeModel(o);

// ---- schema and types, per object
await models(mon.map((o) => ({ id: id(o), o })), {
	modelPath,
	schemaNote: (o) => ` (${modelPath(o).replace(/\/[^/]*$/, "")})`,
	against: "their models' interfaces",
});

// ---- k8s/base stays free of the CRDs
const crd = base.filter((o) => String(o.apiVersion).startsWith("monitoring.coreos.com/"));
check(base.length > 0 && crd.length === 0, `base: ${base.length} objects, none of monitoring.coreos.com`,
	crd.map(id).join(", "));

// ---- the PodMonitor against the gateway
const deployments = base.filter((o) => o.kind === "Deployment");
const JOB = "snigate";

const pms = mon.filter((o) => o.kind === "PodMonitor");
check(pms.length === 1, `monitoring: one PodMonitor (${pms.length})`);
for (const pm of pms) {
	const spaces = pm.spec.namespaceSelector?.any ? null : pm.spec.namespaceSelector?.matchNames || [ns(pm)];
	const targets = deployments.filter((d) => (!spaces || spaces.includes(ns(d))) &&
		sel(pm.spec.selector, d.spec.template.metadata?.labels));
	if (!check(targets.length > 0, `${id(pm)}: selects the pods of ${targets.map(id).join(", ") || "nothing in k8s/base"}`))
		continue;
	for (const d of targets) {
		const labels = d.spec.template.metadata.labels;
		check(pm.spec.jobLabel && labels[pm.spec.jobLabel] === JOB,
			`${id(pm)}: jobLabel ${pm.spec.jobLabel} is ${labels[pm.spec.jobLabel]} on ${id(d)}'s pods, the job="${JOB}" the rules select`);
		const pod = d.spec.template.spec;
		const c = pod.containers.find((x) => /snigate/.test(x.image)) || pod.containers[0];
		// snigate.yaml as mounted: the ConfigMap behind the -c path.
		const args = c.args || [];
		const path = args[args.findIndex((a) => a === "-c" || a === "--config") + 1] || "";
		const mount = (c.volumeMounts || []).find((m) => path.startsWith(m.mountPath + "/"));
		const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
		const cm = vol?.configMap && base.find((o) => o.kind === "ConfigMap" && ns(o) === ns(d) && o.metadata.name === vol.configMap.name);
		const text = cm?.data?.[path.slice((mount?.mountPath.length ?? 0) + 1)];
		const admin = text !== undefined ? String(parseYaml(text)?.admin?.address ?? "127.0.0.1:9901") : "";
		const adminPort = Number(admin.match(/:(\d+)$/)?.[1]);
		check(text !== undefined, `${id(d)}: snigate's config found (${path}, ConfigMap ${vol?.configMap?.name})`);
		for (const ep of pm.spec.podMetricsEndpoints || []) {
			const port = (c.ports || []).find((p) => p.name === ep.port);
			if (!check(!!port, `${id(pm)}: port ${ep.port} is a named container port of ${id(d)}`,
				`its ports are ${(c.ports || []).map((p) => p.name).join(", ")}`))
				continue;
			check(port.containerPort === adminPort && !/^(127\.|\[::1\]|localhost)/.test(admin),
				`${id(pm)}: port ${ep.port} (${port.containerPort}) is admin.address ${admin}, which serves /metrics`,
				`admin.address is ${admin || "not set"}`);
			check((ep.path ?? "/metrics") === "/metrics", `${id(pm)}: path ${ep.path ?? "/metrics"}`);
			// The gateway's own NetworkPolicies: where one isolates its ingress,
			// some rule must admit the metrics port from other namespaces.
			const nps = base.filter((o) => o.kind === "NetworkPolicy" && ns(o) === ns(d) &&
				(o.spec.policyTypes || ["Ingress"]).includes("Ingress") && sel(o.spec.podSelector, labels));
			if (nps.length) {
				const rule = nps.flatMap((np) => np.spec.ingress || []).find((r) =>
					(!r.ports || r.ports.some((p) => p.port === port.containerPort || p.port === port.name)) &&
					(!r.from || r.from.some((f) => f.namespaceSelector)));
				check(!!rule, `${id(pm)}: a NetworkPolicy admits port ${port.containerPort} from other namespaces (Prometheus's)`,
					`${nps.map(id).join(", ")} isolate the pods and admit no such traffic`);
			}
		}
	}
}

// The series selectors of a PromQL expression, [metric, "{matchers}" or ""]:
// a small tokenizer that steps over strings, ranges, numbers, function
// calls, keywords and the label lists of by/without/on/ignoring/group_*.
function selectors(expr) {
	const e = String(expr);
	const out = [];
	const kw = new Set(["and", "or", "unless", "offset", "bool", "inf", "nan", "sum", "min", "max",
		"avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"]);
	const lists = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
	let i = 0;
	const skipTo = (close) => { const j = e.indexOf(close, i); i = j < 0 ? e.length : j + 1; };
	while (i < e.length) {
		const c = e[i];
		if (c === '"' || c === "'") {
			i++;
			while (i < e.length && e[i] !== c) i += e[i] === "\\" ? 2 : 1;
			i++;
		} else if (c === "[") {
			skipTo("]");
		} else if (/[0-9.]/.test(c)) {
			while (i < e.length && /[0-9.eE]/.test(e[i])) i++;
			while (i < e.length && /[a-z]/.test(e[i])) i++; // a duration's unit
		} else if (/[a-zA-Z_:]/.test(c)) {
			const m = e.slice(i).match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)[0];
			i += m.length;
			let k = i;
			while (k < e.length && /\s/.test(e[k])) k++;
			if (lists.has(m)) {
				if (e[k] === "(") { i = k; skipTo(")"); }
			} else if (e[k] === "(" || kw.has(m.toLowerCase())) {
				// a function, or a keyword
			} else if (e[k] === "{") {
				i = k;
				const from = i;
				skipTo("}");
				out.push([m, e.slice(from, i)]);
			} else {
				out.push([m, ""]);
			}
		} else {
			i++;
		}
	}
	return out;
}

// ---- the alerts
const docs = readFileSync(docsFile, "utf8");
// GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
const anchors = new Set(docs.split("\n").filter((l) => /^#{1,6} /.test(l)).map((l) =>
	l.replace(/^#+ /, "").trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, "").replace(/ /g, "-")));
const rules = mon.filter((o) => o.kind === "PrometheusRule").flatMap((pr) =>
	pr.spec.groups.flatMap((g) => g.rules.map((r) => ({ pr, g, r }))));
check(rules.some(({ r }) => r.alert), `monitoring: ${rules.length} rules in PrometheusRule objects`);
for (const { pr, r } of rules) {
	const name = `${id(pr)}: ${r.alert ? "alert " + r.alert : "record " + r.record}`;
	if (r.alert) {
		const a = r.annotations || {};
		check(["critical", "warning", "info"].includes(r.labels?.severity), `${name}: severity ${r.labels?.severity}`);
		check(a.summary && a.description, `${name}: has a summary and a description`);
		const m = String(a.runbook_url || "").match(/^docs\/monitoring\.md#(.+)$/);
		check(m && anchors.has(m[1]), `${name}: runbook_url ${a.runbook_url} is a section of docs/monitoring.md`);
	}
	const sels = selectors(r.expr);
	const stray = sels.filter((s) => !/\bjob="snigate"/.test(s[1])).map((s) => s[0]);
	check(sels.length > 0 && !stray.length, `${name}: every selector picks job="snigate"`,
		stray.length ? `not: ${stray.join(", ")}` : "no selector found");
}

// ---- the dashboard
const cms = mon.filter((o) => o.kind === "ConfigMap" && o.metadata?.labels?.grafana_dashboard === "1");
check(cms.length === 1, `monitoring: one ConfigMap labelled grafana_dashboard: "1" (${cms.map(id).join(", ") || "none"})`);
const file = readFileSync(dashFile, "utf8");
for (const cm of cms) {
	const keys = Object.keys(cm.data || {});
	check(keys.length === 1 && keys[0].endsWith(".json") && cm.data[keys[0]] === file,
		`${id(cm)}: one key, ${keys[0]}, holding k8s/monitoring/dashboard.json unchanged`);
}
let dash = null;
try {
	dash = JSON.parse(file);
	ok("dashboard.json: JSON");
} catch (e) {
	bad(`dashboard.json: ${e.message}`);
}
if (dash) {
	check(dash.uid && dash.title && Number.isInteger(dash.schemaVersion), `dashboard.json: uid ${dash.uid}, title, schemaVersion ${dash.schemaVersion}`);
	const ids = dash.panels.map((p) => p.id);
	check(new Set(ids).size === ids.length, `dashboard.json: ${ids.length} panels, unique ids`);
	const ds = dash.templating?.list?.find((v) => v.type === "datasource" && v.query === "prometheus");
	check(!!ds, `dashboard.json: a Prometheus datasource variable (${ds?.name})`);
	const queries = dash.panels.filter((p) => p.type !== "row");
	const noDs = queries.filter((p) => p.datasource?.uid !== `\${${ds?.name}}` ||
		(p.targets || []).some((t) => t.datasource && t.datasource.uid !== `\${${ds?.name}}`));
	check(!noDs.length, `dashboard.json: every panel queries \${${ds?.name}}`, noDs.map((p) => p.title).join(", "));
	const noTarget = queries.filter((p) => !(p.targets || []).length);
	check(!noTarget.length, `dashboard.json: every panel has a query`, noTarget.map((p) => p.title).join(", "));
	const stray = [];
	for (const p of queries)
		for (const t of p.targets || [])
			for (const [metric, matchers] of selectors(t.expr))
				if (metric !== "ALERTS" && !/\bjob="snigate"/.test(matchers)) stray.push(`${p.title}: ${metric}`);
	check(!stray.length, `dashboard.json: every selector picks job="snigate"`, stray.join("; "));
	// Panels must not overlap on the 24-column grid.
	const cells = new Map();
	let overlap = "";
	for (const p of dash.panels) {
		const g = p.gridPos;
		for (let y = g.y; y < g.y + g.h; y++)
			for (let x = g.x; x < g.x + g.w; x++) {
				const k = `${x},${y}`;
				if (cells.has(k) && !overlap) overlap = `${cells.get(k)} and ${p.title}`;
				cells.set(k, p.title);
			}
		if (g.x + g.w > 24 && !overlap) overlap = `${p.title} is wider than the grid`;
	}
	check(!overlap, "dashboard.json: panels within the grid, none overlapping", overlap);
}

done();
