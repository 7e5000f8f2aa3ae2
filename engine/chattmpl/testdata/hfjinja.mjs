// Renders templates with @huggingface/jinja for the cross-check test.
// Input (stdin): one JSON object per line, {"template": "...", "vars": {...}}.
// Output (stdout): one JSON object per line, {"out": "..."} or {"error": "..."}.
// Run with NODE_PATH pointing at a node_modules that holds @huggingface/jinja.
import { createRequire } from "node:module";
import * as readline from "node:readline";

const require = createRequire(process.env.HFJINJA_DIR + "/");
const { Template } = require("@huggingface/jinja");

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line) continue;
  const { template, vars } = JSON.parse(line);
  let res;
  try {
    res = { out: new Template(template).render(vars) };
  } catch (e) {
    res = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(res) + "\n");
}
