// Drives `impetus mcp --http` with the official MCP TypeScript SDK's
// Streamable HTTP client. Usage:
//   IMPETUS_MCP_URL=http://127.0.0.1:PORT/mcp IMPETUS_MCP_TOKEN=TOKEN node mcp_http_client.mjs
// Prints one JSON object with what it saw; exits non-zero on any failed check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, ErrorCode } from "@modelcontextprotocol/sdk/types.js";
import assert from "node:assert/strict";

const url = new URL(process.env.IMPETUS_MCP_URL);
const token = process.env.IMPETUS_MCP_TOKEN;

// Without the token the server refuses to talk.
let refused = false;
try {
  const anon = new Client({ name: "anon", version: "1.0.0" });
  await anon.connect(new StreamableHTTPClientTransport(url));
} catch (e) {
  refused = true;
}
assert.ok(refused, "a client without the token must be refused");

const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "impetus-ts-http-test", version: "1.0.0" });
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
assert.ok(transport.sessionId, "the server must assign a session id");
assert.equal(client.getServerVersion().name, "impetus");

const { tools } = await client.listTools();
assert.equal(tools.length, 6);

// generate with progress over SSE.
const progress = [];
const gen = await client.callTool(
  { name: "generate", arguments: { prompt: "Tell me about the sea", max_tokens: 24, seed: 3, temperature: 0.8 } },
  CallToolResultSchema,
  { onprogress: (p) => progress.push(p) },
);
assert.ok(!gen.isError, JSON.stringify(gen));
const out = gen.structuredContent;
progress.push(...lateProgress.splice(0)); // see client.onerror above
assert.ok(progress.length > 0, "no progress notifications");
assert.equal(progress.map((p) => p.message ?? "").join(""), out.text, "progress messages must concatenate to the text");
assert.equal(progress[progress.length - 1].progress, out.usage.completion_tokens);

// Wrong argument type: -32602 naming the field.
let code = 0;
let message = "";
try {
  await client.callTool({ name: "search_conversations", arguments: { query: "sea", limit: "lots" } });
} catch (e) {
  code = e.code;
  message = e.message;
}
assert.equal(code, ErrorCode.InvalidParams);
assert.match(message, /limit/);

// Cancellation: abort after the first progress notification; the server
// keeps serving.
const ac = new AbortController();
let seen = 0;
let aborted = false;
try {
  await client.callTool(
    { name: "generate", arguments: { prompt: "Write a very long story", max_tokens: 1500, temperature: 1 } },
    CallToolResultSchema,
    { signal: ac.signal, onprogress: () => { if (++seen === 1) ac.abort("enough"); } },
  );
} catch (e) {
  aborted = true;
}
assert.ok(aborted, "the aborted call must reject");
const after = await client.callTool({ name: "list_conversations", arguments: { limit: 1 } });
assert.ok(!after.isError);

await transport.terminateSession();
await client.close();
console.log(JSON.stringify({ session: transport.sessionId ?? null, tools: tools.length, text: out.text, progress_notifications: progress.length, invalid_params_message: message }));
