import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EndpointError, EndpointModel, apiKeyFromEnvironment, normaliseBaseUrl, parseRetryAfter } from "../../src/llm/models/endpoint.js";
import { parseModelSpec, openModel } from "../../src/llm/models/open.js";
import { ClarifySession } from "../../src/core/session.js";
import { defaultSettings } from "../../src/core/types.js";
import { standInServers } from "../helpers/openai-server.js";

const serve = standInServers();

const fast = { retryBaseMs: 5 };

describe("model specs", () => {
  it("tells files, hf: URIs, .gguf downloads and endpoints apart", () => {
    assert.deepEqual(parseModelSpec("models/a.gguf"), { kind: "local", model: "models/a.gguf" });
    assert.deepEqual(parseModelSpec("hf:user/repo/file.gguf"), { kind: "local", model: "hf:user/repo/file.gguf" });
    assert.deepEqual(parseModelSpec("https://example.com/m/file.gguf?download=true"), {
      kind: "local",
      model: "https://example.com/m/file.gguf?download=true",
    });
    assert.deepEqual(parseModelSpec("http://127.0.0.1:8080"), { kind: "endpoint", baseUrl: "http://127.0.0.1:8080/v1" });
    assert.deepEqual(parseModelSpec("http://gpu-box:8000/v1/#Qwen%2FQwen2.5-Coder-7B"), {
      kind: "endpoint",
      baseUrl: "http://gpu-box:8000/v1",
      model: "Qwen/Qwen2.5-Coder-7B",
    });
    assert.throws(() => parseModelSpec("  "), /No model given/);
    assert.throws(() => parseModelSpec("http://[bad"), /not a valid URL/);
  });

  it("normalises base URLs and reads API keys and Retry-After", () => {
    assert.equal(normaliseBaseUrl("https://api.example.com/v1/"), "https://api.example.com/v1");
    assert.equal(normaliseBaseUrl("http://localhost:8000"), "http://localhost:8000/v1");
    assert.equal(apiKeyFromEnvironment({ OPENAI_API_KEY: "b", CLARIFYCODER_API_KEY: " a " }), "a");
    assert.equal(apiKeyFromEnvironment({ OPENAI_API_KEY: "b" }), "b");
    assert.equal(apiKeyFromEnvironment({}), undefined);
    assert.equal(parseRetryAfter("2"), 2000);
    assert.equal(parseRetryAfter("999"), 60_000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 7_000), 3000);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(null), undefined);
  });
});

describe("EndpointModel against a stand-in server on 127.0.0.1", () => {
  it("chats with history, sends the grammar as a JSON schema and the API key, and asks /models for a name", async () => {
    const server = await serve(
      (req) => ({ text: req.body.response_format ? '{"decision":"proceed","assumptions":[]}' : "plain reply" }),
      ["first-model", "second"],
    );
    const model = new EndpointModel({ baseUrl: server.url, apiKey: "sk-test", ...fast });
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    const schema = { type: "object", properties: { decision: { const: "proceed" } } };
    const first = await conversation.chat("hello", { maxTokens: 50, grammar: schema });
    assert.equal(first.text, '{"decision":"proceed","assumptions":[]}');
    assert.equal(first.stopReason, "eogToken");
    const second = await conversation.chat("again", { maxTokens: 7, temperature: 0.3 });
    assert.equal(second.text, "plain reply");
    const [a, b] = server.requests;
    assert.equal(a?.headers.authorization, "Bearer sk-test");
    assert.equal(a?.body.model, "first-model");
    assert.deepEqual(a?.body.response_format, { type: "json_schema", json_schema: { name: "reply", strict: true, schema } });
    assert.deepEqual(b?.body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hello" },
      { role: "assistant", content: '{"decision":"proceed","assumptions":[]}' },
      { role: "user", content: "again" },
    ]);
    assert.equal(b?.body.max_tokens, 7);
    assert.equal(b?.body.temperature, 0.3);
  });

  it("streams chunks, reads usage and the length stop, and prefills the reply prefix", async () => {
    const server = await serve((_req, i) =>
      i === 0
        ? { text: "def f():\n    pass\n```", finishReason: "length", usage: { prompt_tokens: 31, completion_tokens: 9 } }
        : { text: "```python\nx = 1\n```" },
    );
    const model = new EndpointModel({ baseUrl: server.url, model: "m", ...fast });
    const conversation = await model.openConversation({ mode: "chat" });
    const chunks: string[] = [];
    const result = await conversation.chat("write f", { maxTokens: 9, responsePrefix: "```python\n", onChunk: (t) => chunks.push(t) });
    assert.equal(result.text, "```python\ndef f():\n    pass\n```");
    assert.equal(chunks.join(""), result.text, "the prefix is streamed first, then the continuation");
    assert.equal(result.stopReason, "maxTokens");
    assert.equal(result.evaluatedInputTokens, 31);
    assert.equal(result.outputTokens, 9);
    const sent = server.requests[0]?.body;
    assert.equal(sent?.stream, true);
    assert.equal(sent?.continue_final_message, true);
    assert.deepEqual((sent?.messages as unknown[]).at(-1), { role: "assistant", content: "```python\n" });
    // A server that ignores the prefill and writes the prefix itself: the repeat is dropped.
    const again: string[] = [];
    const second = await conversation.chat("once more", { maxTokens: 20, responsePrefix: "```python\n", onChunk: (t) => again.push(t) });
    assert.equal(second.text, "```python\nx = 1\n```");
    assert.equal(again.join(""), second.text);
  });

  it("raw completions keep the transcript and send stop strings", async () => {
    const server = await serve((_req, i) => ({ text: i === 0 ? " questions?" : " code" }));
    const model = new EndpointModel({ baseUrl: server.url, model: "m", ...fast });
    const conversation = await model.openConversation({ mode: "raw" });
    assert.equal((await conversation.complete("Prompt:", { maxTokens: 5, stopStrings: ["\n\n"] })).text, " questions?");
    await conversation.complete(" Answers.", { maxTokens: 5 });
    assert.equal(server.requests[0]?.path, "/v1/completions");
    assert.deepEqual(server.requests[0]?.body.stop, ["\n\n"]);
    assert.equal(server.requests[1]?.body.prompt, "Prompt: questions? Answers.");
    await assert.rejects(conversation.chat("x", { maxTokens: 1 }), /raw mode/);
  });

  it("retries 429 (honouring Retry-After) and 500, then succeeds", async () => {
    const server = await serve((_req, i) =>
      i === 0
        ? { status: 429, headers: { "retry-after": "0" }, body: { error: "slow down" } }
        : i === 1
          ? { status: 500, body: { error: "boom" } }
          : { text: "ok" },
    );
    const retries: string[] = [];
    const model = new EndpointModel({ baseUrl: server.url, model: "m", ...fast, onRetry: (r) => retries.push(r.reason) });
    const c = await model.openConversation({ mode: "chat" });
    assert.equal((await c.chat("hi", { maxTokens: 5 })).text, "ok");
    assert.equal(server.requests.length, 3);
    assert.match(retries[0] ?? "", /is rate-limiting requests \(HTTP 429\)/);
    assert.match(retries[1] ?? "", /server side \(HTTP 500\)/);
  });

  it("gives up after its retries, and never retries a refused key or a bad URL", async () => {
    const failing = await serve(() => ({ status: 503, body: { error: "down" } }));
    const model = new EndpointModel({ baseUrl: failing.url, model: "m", ...fast, retries: 2 });
    const c = await model.openConversation({ mode: "chat" });
    await assert.rejects(c.chat("hi", { maxTokens: 5 }), (e: unknown) => e instanceof EndpointError && e.status === 503 && /HTTP 503/.test(e.message));
    assert.equal(failing.requests.length, 3);

    const refusing = await serve(() => ({ status: 401, body: { error: "bad key" } }));
    const m2 = new EndpointModel({ baseUrl: refusing.url, model: "m", ...fast });
    await assert.rejects(
      (await m2.openConversation({ mode: "chat" })).chat("hi", { maxTokens: 5 }),
      /API key is missing or not accepted.*CLARIFYCODER_API_KEY/,
    );
    assert.equal(refusing.requests.length, 1);

    const closed = await serve(() => ({ text: "never" }));
    await closed.close();
    const nobody = new EndpointModel({ baseUrl: closed.url, model: "m", ...fast, retries: 1 });
    await assert.rejects(
      (await nobody.openConversation({ mode: "chat" })).chat("hi", { maxTokens: 5 }),
      (e: unknown) =>
        e instanceof Error && e.message === `Could not reach ${closed.url}/chat/completions: nothing is listening there (is the server running?).`,
    );
  });

  it("a stream cut mid-reply is an error, not retried (the text was already shown)", async () => {
    const server = await serve(() => ({ cutAfter: ["par", "tial"] }));
    const model = new EndpointModel({ baseUrl: server.url, model: "m", ...fast });
    const c = await model.openConversation({ mode: "chat" });
    const chunks: string[] = [];
    await assert.rejects(c.chat("hi", { maxTokens: 50, onChunk: (t) => chunks.push(t) }));
    assert.equal(chunks.join(""), "partial");
    assert.equal(server.requests.length, 1);
  });

  it("cancelling ends the turn as aborted with what was streamed", async () => {
    const server = await serve(() => ({ hang: true }));
    const model = new EndpointModel({ baseUrl: server.url, model: "m", ...fast });
    const c = await model.openConversation({ mode: "chat" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = await c.chat("hi", { maxTokens: 5, signal: controller.signal });
    assert.equal(result.stopReason, "abort");
  });

  it("keeps at most `concurrency` requests in flight", async () => {
    const server = await serve(() => ({ text: "ok", delayMs: 40 }));
    const model = new EndpointModel({ baseUrl: server.url, model: "m", concurrency: 2, ...fast });
    const conversations = await Promise.all(Array.from({ length: 6 }, () => model.openConversation({ mode: "chat" })));
    await Promise.all(conversations.map((c) => c.chat("hi", { maxTokens: 2 })));
    assert.equal(server.requests.length, 6);
    assert.equal(server.maxInFlight, 2);
  });

  it("probes the decision from the first token's log-probabilities after a prefill", async () => {
    const server = await serve(() => ({
      topLogprobs: [
        { token: "ask", logprob: Math.log(0.6) },
        { token: "pro", logprob: Math.log(0.2) },
        { token: "x", logprob: Math.log(0.2) },
      ],
    }));
    const model = new EndpointModel({ baseUrl: server.url, model: "m", ...fast });
    const c = await model.openConversation({ mode: "chat", systemPrompt: "s" });
    const p = await c.probe("sort it", '{"decision": "', ["ask", "proceed"]);
    assert.ok(Math.abs((p.ask ?? 0) - 0.75) < 1e-9);
    assert.ok(Math.abs((p.proceed ?? 0) - 0.25) < 1e-9);
    const body = server.requests[0]?.body;
    assert.equal(body?.logprobs, true);
    assert.deepEqual((body?.messages as unknown[]).at(-1), { role: "assistant", content: '{"decision": "' });
  });

  it("the clarify engine runs a whole conversation on an endpoint", async () => {
    const server = await serve((req) => {
      if (req.body.logprobs)
        return {
          topLogprobs: [
            { token: "ask", logprob: Math.log(0.9) },
            { token: "proceed", logprob: Math.log(0.1) },
          ],
        };
      if (req.body.response_format) return { text: JSON.stringify({ decision: "ask", questions: [{ question: "Ascending?", suggestions: ["yes", "no"] }] }) };
      return { text: "def f(xs):\n    return sorted(xs)\n```" };
    });
    const { model, label, close } = await openModel(`${server.url}#coder`, { workerPath: "unused", endpoint: fast });
    assert.equal(label, `coder at ${server.url}`);
    const session = new ClarifySession(model, { ...defaultSettings, maxRounds: 1 });
    await session.start("sort a list", { languageId: "python" });
    assert.equal(session.state, "asking");
    const [q] = session.snapshot().questions;
    assert.equal(q?.text, "Ascending?");
    session.answerQuestion(q?.id ?? "", "yes");
    await session.submitAnswers();
    assert.equal(session.state, "done");
    assert.deepEqual(session.snapshot().codeBlocks, [{ language: "python", code: "def f(xs):\n    return sorted(xs)" }]);
    await close();
  });
});
