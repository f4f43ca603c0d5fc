// A deliberately broken copy of rendered manifests, for check.sh to prove
// that validate.mjs rejects it.
//   node mutate.mjs IN.yaml OUT.yaml 'JS'
// JS is the body of a function of (docs, find): docs are the parsed
// objects, find(kind, name) returns one of them (or throws, so that an edit
// that no longer applies fails loudly instead of passing as "caught").
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments, stringify } from "yaml";

const [input, output, body] = process.argv.slice(2);
const docs = parseAllDocuments(readFileSync(input, "utf8")).map((d) => d.toJS()).filter(Boolean);
const find = (kind, name) => {
	const o = docs.find((x) => x.kind === kind && x.metadata?.name === name);
	if (!o) throw new Error(`no ${kind}/${name} in ${input}`);
	return o;
};
const before = JSON.stringify(docs);
new Function("docs", "find", body)(docs, find);
if (JSON.stringify(docs) === before) throw new Error("the edit changed nothing");
writeFileSync(output, docs.map((d) => stringify(d)).join("---\n"));
