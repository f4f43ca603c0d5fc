// What test/k8s/validate.mjs and test/monitoring/validate.mjs share; each
// check.sh copies it beside them into its cache folder, so that the imports
// here resolve in that folder's node_modules.
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

// The arguments after an optional --no-types: check.sh leaves tsc, the slow
// part, out for the broken copies that break no type.
export const argv = process.argv.slice(2);
export const types = argv[0] !== "--no-types";
if (!types) argv.shift();

export let passed = 0;
export let failed = 0;
export const ok = (msg) => { passed++; console.log(`ok   ${msg}`); };
export const bad = (msg) => { failed++; console.log(`FAIL ${msg}`); };
export const check = (cond, msg, why = "") => {
	if (cond) ok(msg);
	else bad(why ? `${msg}: ${why}` : msg);
	return !!cond;
};
// check.sh reads the counts from this last line.
export function done() {
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}

// A document that does not parse fails here and is left out, so that the
// checks after it still run on the rest.
export function load(file, name) {
	const docs = [];
	for (const d of parseAllDocuments(readFileSync(file, "utf8"))) {
		if (d.errors.length) {
			bad(`${name}: YAML: ${d.errors[0].message}`);
			continue;
		}
		const o = d.toJS();
		if (o) docs.push(o);
	}
	return docs;
}

export const sel = (selector, labels) =>
	Object.entries(selector?.matchLabels || {}).every(([k, v]) => labels?.[k] === v) &&
	(selector?.matchExpressions || []).every((e) =>
		e.operator === "In" ? e.values.includes(labels?.[e.key]) :
		e.operator === "NotIn" ? !e.values.includes(labels?.[e.key]) :
		e.operator === "Exists" ? labels && e.key in labels : !(labels && e.key in labels));
export const ns = (o) => o.metadata?.namespace || "default";

// apiVersion + kind -> the kubernetes-models module and interface.
export function kubeModel(o) {
	const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : [null, o.apiVersion];
	return `kubernetes-models/${group ? group + "/" : ""}${version}/${o.kind}`;
}

// objects: [{ id, o }]; modelPath(o): the module whose export o.kind is the
// model and I<kind> its interface; noModel: why a missing model matters;
// schemaNote(o): the end of the schema line; against: whose interfaces.
export async function models(objects, { modelPath, noModel = "", schemaNote = () => "", against }) {
	const tsLines = [];
	let n = 0;
	for (const { id, o } of objects) {
		let mod;
		try {
			mod = await import(modelPath(o));
		} catch {
			bad(`${id}: no model for ${o.apiVersion} ${o.kind}${noModel}`);
			continue;
		}
		try {
			new mod[o.kind](o).validate();
			ok(`${id}: schema${schemaNote(o)}`);
		} catch (e) {
			bad(`${id}: schema: ${e.message}`);
		}
		const v = `o${n++}`;
		tsLines.push(`// ${id}`);
		tsLines.push(`import type { I${o.kind} as T${v} } from "${modelPath(o)}";`);
		tsLines.push(`export const ${v}: T${v} = ${JSON.stringify(o)};`);
	}
	if (!types || !tsLines.length) return;
	// All objects in one tsc run, in the folder of node_modules, so that tsc
	// resolves the models; one name per run, so that two runs can share the
	// folder.
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
	if (!out) {
		ok(`types: ${n} objects type-check against ${against} (no unknown fields)`);
		return;
	}
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
