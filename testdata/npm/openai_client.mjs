// Drives `impetus serve` with the official OpenAI SDK. Usage:
//   IMPETUS_URL=http://127.0.0.1:PORT/v1 IMPETUS_KEY=KEY IMPETUS_MODEL=ID node openai_client.mjs
// Prints one JSON object with what it saw; exits non-zero on any failed check.
import OpenAI from "openai";
import assert from "node:assert/strict";

const baseURL = process.env.IMPETUS_URL;
const apiKey = process.env.IMPETUS_KEY;
const model = process.env.IMPETUS_MODEL;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const messages = [{ role: "user", content: "Tell me about the sea." }];

const full = await client.chat.completions.create({ model, messages, max_tokens: 24, seed: 7, temperature: 0.8 });
assert.equal(full.object, "chat.completion");
assert.equal(full.choices.length, 1);
assert.equal(full.choices[0].message.role, "assistant");
assert.ok(["stop", "length"].includes(full.choices[0].finish_reason));
assert.ok(full.usage.prompt_tokens > 0 && full.usage.completion_tokens > 0);

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 24, seed: 7, temperature: 0.8, stream: true, stream_options: { include_usage: true },
});
let streamed = "";
let chunks = 0;
let finish = null;
let streamUsage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) streamUsage = chunk.usage;
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(streamed, full.choices[0].message.content, "streamed deltas must concatenate to the non-streamed text");
assert.equal(finish, full.choices[0].finish_reason);
assert.equal(streamUsage?.completion_tokens, full.usage.completion_tokens);

const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
assert.ok(ids.includes(model), `models list ${JSON.stringify(ids)} lacks ${model}`);

const completion = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, seed: 1 });
assert.equal(completion.object, "text_completion");

let badStatus = 0;
try {
  await client.chat.completions.create({ model, messages, temperature: 5 });
} catch (e) {
  assert.ok(e instanceof OpenAI.BadRequestError, `want BadRequestError, got ${e}`);
  badStatus = e.status;
  assert.equal(e.param, "temperature");
}
assert.equal(badStatus, 400);

let authStatus = 0;
try {
  await new OpenAI({ baseURL, apiKey: "wrong-key", maxRetries: 0 }).models.list();
} catch (e) {
  assert.ok(e instanceof OpenAI.AuthenticationError, `want AuthenticationError, got ${e}`);
  authStatus = e.status;
}
assert.equal(authStatus, 401);

console.log(JSON.stringify({ text: full.choices[0].message.content, streamed, chunks, ids, badStatus, authStatus }));
