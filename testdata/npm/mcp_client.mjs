// Drives `impetus mcp` over stdio with the official MCP TypeScript SDK. Usage:
//   IMPETUS_BIN=/path/to/impetus IMPETUS_MODEL=/path/to/model node mcp_client.mjs
// (IMPETUS_DB and IMPETUS_CONFIG are passed on to the server.) Prints one JSON
// object with what it saw; exits non-zero on any failed check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CallToolResultSchema, ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import assert from "node:assert/strict";

const env = { ...process.env };
const transport = new StdioClientTransport({
  command: process.env.IMPETUS_BIN,
  args: ["mcp", "-m", process.env.IMPETUS_MODEL],
  env,
  stderr: "pipe",
});
let stderr = "";
transport.stderr?.on("data", (b) => (stderr += b));
const client = new Client({ name: "impetus-ts-test", version: "1.0.0" });
// The SDK dispatches notifications on a microtask but responses at once, so a
// final progress notification that arrives in the same read as its result
// finds its handler already gone and is reported here as an "unknown token"
// error. The server sent it, in order; collect it so the checks see it too.
const lateProgress = [];
client.onerror = (e) => {
  const m = /unknown token: (\{.*\})$/s.exec(String(e?.message ?? e));
  if (m) lateProgress.push(JSON.parse(m[1]).params);
};
await client.connect(transport);

const info = client.getServerVersion();
assert.equal(info.name, "impetus");
assert.match(client.getInstructions() ?? "", /search_conversations/);

// tools/list: every tool with an input and an output schema.
const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
assert.deepEqual(names, ["export_conversation", "generate", "get_conversation", "list_conversations", "list_models", "search_conversations"]);
for (const t of tools) {
  assert.equal(t.inputSchema.type, "object", `${t.name} input schema`);
  assert.equal(t.outputSchema?.type, "object", `${t.name} output schema`);
}

// generate with progress; the SDK validates structuredContent against the
// tool's output schema.
const progress = [];
const gen = await client.callTool(
  { name: "generate", arguments: { prompt: "Tell me about the sea", max_tokens: 24, seed: 7, temperature: 0.8, save: true } },
  CallToolResultSchema,
  { onprogress: (p) => progress.push(p) },
);
assert.ok(!gen.isError, JSON.stringify(gen));
const out = gen.structuredContent;
assert.ok(out.text.length > 0 && out.usage.completion_tokens > 0, JSON.stringify(out));
assert.equal(gen.content[0].type, "text");
assert.equal(gen.content[0].text, out.text);
progress.push(...lateProgress.splice(0)); // see client.onerror above
assert.ok(progress.length > 0, "no progress notifications");
assert.equal(progress.map((p) => p.message ?? "").join(""), out.text, "progress messages must concatenate to the text");
assert.equal(progress[progress.length - 1].progress, out.usage.completion_tokens);
for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress, "progress must increase");
assert.ok(out.conversation_id, "saved exchange has a conversation id");

// search_conversations finds the saved exchange.
const search = await client.callTool({ name: "search_conversations", arguments: { query: "sea", limit: 5 } });
assert.ok(!search.isError, JSON.stringify(search));
const hit = search.structuredContent.hits.find((h) => h.conversation_id === out.conversation_id);
assert.ok(hit, `search did not find ${out.conversation_id}: ${JSON.stringify(search.structuredContent)}`);
assert.match(hit.snippet, /\[sea\]/i);

// get_conversation and the conversation resource.
const conv = await client.callTool({ name: "get_conversation", arguments: { id: out.conversation_id } });
assert.deepEqual(conv.structuredContent.messages.map((m) => m.role), ["user", "assistant"]);
const res = await client.readResource({ uri: `impetus://conversations/${out.conversation_id}` });
assert.match(res.contents[0].text, /Tell me about the sea/);

// A prompt.
const prompt = await client.getPrompt({ name: "summarize_conversation", arguments: { id: out.conversation_id } });
assert.equal(prompt.messages[0].role, "user");

// Bad input: wrong type → -32602 naming the field; unknown tool → -32602.
let code = 0;
let message = "";
try {
  await client.callTool({ name: "generate", arguments: { prompt: "hi", max_tokens: "ten" } });
} catch (e) {
  assert.ok(e instanceof McpError, String(e));
  code = e.code;
  message = e.message;
}
assert.equal(code, ErrorCode.InvalidParams);
assert.match(message, /max_tokens/);
code = 0;
try {
  await client.callTool({ name: "no_such_tool", arguments: {} });
} catch (e) {
  code = e.code;
}
assert.equal(code, ErrorCode.InvalidParams);

// Cancellation: abort after the first progress notification.
const ac = new AbortController();
let cancelledProgress = 0;
let aborted = false;
try {
  await client.callTool(
    { name: "generate", arguments: { prompt: "Write a very long story", max_tokens: 1500, temperature: 1 } },
    CallToolResultSchema,
    { signal: ac.signal, onprogress: () => { if (++cancelledProgress === 1) ac.abort("enough"); } },
  );
} catch (e) {
  aborted = true;
}
assert.ok(aborted, "the aborted call must reject");
// The server keeps serving after a cancellation.
const models = await client.callTool({ name: "list_models", arguments: {} });
assert.ok(!models.isError);

await client.close();
console.log(JSON.stringify({
  server: info,
  tools: names,
  text: out.text,
  progress_notifications: progress.length,
  conversation_id: out.conversation_id,
  search_hits: search.structuredContent.hits.length,
  invalid_params_message: message,
}));
