// Times @huggingface/jinja on one rendering for the side-by-side benchmark.
// stdin: {"template": "...", "vars": {...}, "n": N}; stdout: nanoseconds per
// rendering (JSON.parse of the input included, as RenderJSON decodes it).
import { createRequire } from "node:module";

const require = createRequire(process.env.HFJINJA_DIR + "/");
const { Template } = require("@huggingface/jinja");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { template, vars, n } = JSON.parse(input);
const varsText = JSON.stringify(vars);
const tmpl = new Template(template);
for (let i = 0; i < 20; i++) tmpl.render(JSON.parse(varsText)); // warm up the JIT
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) tmpl.render(JSON.parse(varsText));
const elapsed = process.hrtime.bigint() - start;
process.stdout.write(String(Number(elapsed) / n));
