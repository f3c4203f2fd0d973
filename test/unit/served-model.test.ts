/**
 * Served models (issue: chat with a model served by Ollama, llama.cpp's server or vLLM): each failure a server can
 * give ends in a sentence that says what to do, a server without log-probabilities still gets a decision (and the
 * user is told how it was made), Stop closes the HTTP request at once, and servers on their usual ports are found.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EndpointError, EndpointModel } from "../../src/llm/models/endpoint.js";
import { detectServedModels, servedAt } from "../../src/llm/models/served.js";
import { openModel } from "../../src/llm/models/open.js";
import { ClarifySession } from "../../src/core/session.js";
import { defaultSettings } from "../../src/core/types.js";
import { nativeQuestionPrompt, nativeQuestionsAnswerPrefix } from "../../src/core/prompts.js";
import { standInServers, type StandInServer } from "../helpers/openai-server.js";

const serve = standInServers();
const fast = { retryBaseMs: 5, retries: 1 };
const schema = { type: "object", properties: { decision: { enum: ["ask", "proceed"] } }, required: ["decision"] };

describe("a served model's failures, in sentences that say what to do", () => {
  it("a model name the server does not serve (vLLM's 404) names the ones it does", async () => {
    const server = await serve(
      () => ({ status: 404, body: { object: "error", message: "The model `qwen-7b` does not exist.", type: "NotFoundError" } }),
      ["Qwen/Qwen2.5-Coder-1.5B-Instruct", "clarifycoder"],
    );
    const model = new EndpointModel({ baseUrl: server.url, model: "qwen-7b", ...fast });
    const c = await model.openConversation({ mode: "chat" });
    await assert.rejects(c.chat("hi", { maxTokens: 4 }), (e: unknown) => {
      assert.ok(e instanceof EndpointError);
      assert.equal(
        e.message,
        `${server.url} serves no model named "qwen-7b"; it serves "Qwen/Qwen2.5-Coder-1.5B-Instruct", "clarifycoder". Name one of them (append #name to the address).`,
      );
      return true;
    });
    assert.equal(server.requests.length, 1, "a 404 is not retried");
  });

  it("a conversation longer than the served context (llama.cpp's 400) says how to serve a larger one", async () => {
    const server = await serve(() => ({
      status: 400,
      body: { error: { code: 400, message: "the request exceeds the available context size, try increasing it", type: "exceed_context_size_error" } },
    }));
    const c = await new EndpointModel({ baseUrl: server.url, model: "m", ...fast }).openConversation({ mode: "chat" });
    await assert.rejects(
      c.chat("hi", { maxTokens: 4 }),
      /^EndpointError: The conversation is longer than the context .* serves: start a new chat, or serve the model with a larger context \(llama\.cpp's server: --ctx-size; vLLM: --max-model-len\)/,
    );
  });

  it("a server that ignores the JSON schema is named as such (told once), and a prefix it repeats is no fault", async () => {
    const server = await serve((req) =>
      String((req.body.messages as { content: string }[])[0]?.content).startsWith("hi")
        ? { text: "Sure! Here is the function you asked for." }
        : { text: '{"decision": "ask"}' },
    );
    const notices: string[] = [];
    const model = new EndpointModel({ baseUrl: server.url, model: "m", ...fast, onNotice: (n) => notices.push(n) });
    const c = await model.openConversation({ mode: "chat" });
    // With a reply prefix the server may write the prefix again (it ignores the prefill): still JSON, no notice.
    const r = await c.chat("again", { maxTokens: 40, grammar: schema, responsePrefix: '{"decision": ' });
    assert.equal(r.text, '{"decision": "ask"}');
    assert.deepEqual(notices, []);
    const d = await model.openConversation({ mode: "chat" });
    assert.equal((await d.chat("hi", { maxTokens: 40, grammar: schema })).text, "Sure! Here is the function you asked for.");
    await d.chat("hi again", { maxTokens: 40, grammar: schema });
    assert.equal(notices.length, 1);
    assert.match(
      notices[0] ?? "",
      /ignored the JSON schema it was sent \(its reply is not JSON: "Sure! Here is the function.*Use a server that supports response_format json_schema/,
    );
  });

  it("a refused key and a server that is down are sentences too", async () => {
    const refusing = await serve(() => ({ status: 401, body: { error: "invalid api key" } }));
    const c = await new EndpointModel({ baseUrl: refusing.url, model: "m", apiKey: "wrong", ...fast }).openConversation({ mode: "chat" });
    await assert.rejects(c.chat("hi", { maxTokens: 4 }), /refused the request \(HTTP 401\): the API key is missing or not accepted\. Set CLARIFYCODER_API_KEY/);
    const gone = await serve(() => ({ text: "x" }));
    await gone.close();
    const d = await new EndpointModel({ baseUrl: gone.url, model: "m", ...fast }).openConversation({ mode: "chat" });
    await assert.rejects(d.chat("hi", { maxTokens: 4 }), /nothing is listening there \(is the server running\?\)/);
  });
});

describe("the clarify rules on a server", () => {
  it("without log-probabilities the model decides under the schema, and the user is told once", async () => {
    const server = await serve((req) => {
      // A server that ignores `logprobs` (Ollama's OpenAI API, say): a plain one-token reply.
      if (req.body.logprobs) return { text: "ask", finishReason: "length" };
      if (req.body.response_format)
        return { text: JSON.stringify({ decision: "ask", questions: [{ question: "Ascending or descending?", suggestions: ["ascending", "descending"] }] }) };
      return { text: "```python\ndef f(xs):\n    return sorted(xs)\n```" };
    });
    const notices: string[] = [];
    const { model, close } = await openModel(`${server.url}#coder`, { workerPath: "unused", endpoint: { ...fast, onNotice: (s) => notices.push(s) } });
    const session = new ClarifySession(model, { ...defaultSettings, maxRounds: 1 });
    await session.start("sort a list", { languageId: "python" });
    assert.equal(session.state, "asking");
    assert.equal(session.snapshot().askProbability, undefined);
    // The grammar the model chose under allows both replies (the assessment schema, not the ask-only one).
    const guided = server.requests.find((r) => r.body.response_format !== undefined);
    const sent = JSON.stringify(guided?.body.response_format);
    assert.match(sent, /proceed/);
    assert.deepEqual(notices, [
      `${server.url} gives no token probabilities (it ignores logprobs), so the ask threshold does not apply there: the model itself chooses to ask or go ahead, under the schema.`,
    ]);
    const second = new ClarifySession(model, { ...defaultSettings, maxRounds: 1 });
    await second.start("sort another list", { languageId: "python" });
    assert.equal(notices.length, 1, "told once per model");
    await close();
  });

  it("Stop during a streamed answer ends it within a second, and the server sees the request closed", async () => {
    const server = await serve(() => ({ hang: true }));
    const c = await new EndpointModel({ baseUrl: server.url, model: "m", ...fast }).openConversation({ mode: "chat" });
    const controller = new AbortController();
    const pending = c.chat("write it", { maxTokens: 500, onChunk: () => undefined, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 100));
    const stoppedAt = Date.now();
    controller.abort();
    const result = await pending;
    const ended = Date.now() - stoppedAt;
    assert.equal(result.stopReason, "abort");
    assert.ok(ended < 1000, `ended ${ended} ms after Stop`);
    for (let i = 0; i < 50 && server.closedEarly.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.closedEarly.length, 1);
    assert.equal(server.closedEarly[0]?.path, "/v1/chat/completions");
    assert.ok((server.closedEarly[0]?.at ?? Infinity) - stoppedAt < 1000);
  });

  it("a probe is cancelled with the turn", async () => {
    const server = await serve(() => ({ hang: true }));
    const c = await new EndpointModel({ baseUrl: server.url, model: "m", ...fast }).openConversation({ mode: "chat" });
    const controller = new AbortController();
    const pending = c.probe("x", '{"decision": "', ["ask", "proceed"], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending);
    for (let i = 0; i < 50 && server.closedEarly.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.closedEarly.length, 1);
  });
});

describe("native style on a server: the paper's raw prompt through /completions", () => {
  it("asks in the paper's format, then codes after the answers, each turn one raw completion", async () => {
    const server = await serve((req, i) =>
      i === 0
        ? { text: `${nativeQuestionsAnswerPrefix}\n1. Should the result keep the original order?` }
        : { text: "```python\ndef dedupe(xs):\n    return list(dict.fromkeys(xs))\n```" },
    );
    const { model, close } = await openModel(`${server.url}#clarifycoder`, { workerPath: "unused", endpoint: fast });
    const session = new ClarifySession(model, { ...defaultSettings, style: "native", maxRounds: 1 });
    await session.start("remove duplicates from a list", {});
    assert.equal(session.state, "asking");
    const [q] = session.snapshot().questions;
    assert.match(q?.text ?? "", /keep the original order/);
    session.answerQuestion(q?.id ?? "", "yes");
    await session.submitAnswers();
    assert.equal(session.state, "done");
    assert.deepEqual(session.snapshot().codeBlocks, [{ language: "python", code: "def dedupe(xs):\n    return list(dict.fromkeys(xs))" }]);
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ["/v1/completions", "/v1/completions"],
    );
    const first = String(server.requests[0]?.body.prompt);
    assert.ok(first.startsWith(nativeQuestionPrompt), first.slice(0, 80));
    assert.equal(server.requests[0]?.body.model, "clarifycoder");
    assert.equal(server.requests[0]?.body.messages, undefined, "no chat template: raw text");
    await close();
  });
});

describe("servers on their usual ports", () => {
  it("finds the ones that answer, with their models and kind, and skips the rest", async () => {
    const llama = await serve(() => ({ text: "x" }), ["qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"], { ownedBy: "llamacpp" });
    const plain = await serve(() => ({ text: "x" }), ["clarifycoder"]);
    const silent = await serve(() => ({ text: "x" }), []);
    const gone = await serve(() => ({ text: "x" }));
    await gone.close();
    const port = (s: StandInServer): number => Number(new URL(s.url).port);
    const found = await detectServedModels({
      servers: [
        { kind: "Ollama", port: port(llama) },
        { kind: "vLLM", port: port(plain) },
        { kind: "LM Studio", port: port(silent) },
        { kind: "Ollama", port: port(gone) },
      ],
    });
    assert.deepEqual(found, [
      { kind: "llama.cpp server", baseUrl: llama.url, models: ["qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"] },
      { kind: "vLLM", baseUrl: plain.url, models: ["clarifycoder"] },
    ]);
    assert.equal(servedAt(llama.url), `served at 127.0.0.1:${port(llama)}`);
  });
});
