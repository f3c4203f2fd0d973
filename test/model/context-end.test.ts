/**
 * A conversation that fills the context, on the real worker and the tiny model (which writes until its length limit):
 * its reply stops at the context's end with the length limit's stop reason, and the sequence it gives back is empty
 * for the conversation that gets it next, however it was given back (closed while settling, or after a full reply).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { startWorker, tempDir } from "../helpers/worker.js";

const { worker, model, logs } = startWorker();
let tiny: string;

before(async () => {
  tiny = path.join(await tempDir("clarifycoder-context-end-"), "tiny.gguf");
  await writeTinyModel(tiny);
});
after(() => worker.stop());

/** llama.cpp's complaint when a sequence holds cells its conversation does not know of. */
const stale = (): string[] => logs.filter((line) => /inconsistent sequence positions|failed to decode/.test(line));

describe("a conversation that fills the context", () => {
  it("the eval's rounds, item after item: the reply that reaches the context's end stops there; no later item fails", async () => {
    await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 2048, sequences: 2 });
    // HumanEvalComm's paper rounds as `clarifycoder eval` runs them: the question round, the judge in a conversation
    // of its own, the code round on top of both; then the next item.
    for (let item = 0; item < 3; item++) {
      const conversation = await model.openConversation({ mode: "chat", systemPrompt: "" });
      const first = await conversation.chat(`Item ${item}: ${"x".repeat(300)}`, { maxTokens: 1024, temperature: 0 });
      assert.equal(first.stopReason, "maxTokens");
      assert.equal(first.outputTokens, 1024);
      const judge = await model.openConversation({ mode: "chat", systemPrompt: "" });
      await judge.chat(`Judge ${item}: ${"y".repeat(300)}`, { maxTokens: 64, temperature: 0 });
      await judge.close();
      const third = await conversation.chat("The answers. Now the code.", { maxTokens: 1024, temperature: 0 });
      // The history (about 1,350 tokens) leaves room for fewer than 1,024: the reply stops at the context's end.
      assert.equal(third.stopReason, "maxTokens", `item ${item}`);
      assert.ok(third.outputTokens < 1024 && third.outputTokens > 500, `item ${item}: ${third.outputTokens} tokens`);
      assert.ok(third.evaluatedInputTokens < 64, `item ${item}: the history was kept, not shifted (${third.evaluatedInputTokens} input tokens)`);
      await conversation.close();
    }
    assert.deepEqual(stale(), []);
  });

  it("a conversation closed while its sequence settles gives the next conversation an empty sequence", async () => {
    await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 4096, sequences: 1 });
    for (let round = 0; round < 3; round++) {
      const reopened = await model.openConversation({ mode: "chat", systemPrompt: "" });
      // Settling evaluates this history (about 3,000 tokens) in the background; it is closed meanwhile.
      await reopened.setHistory([{ user: "z".repeat(1_500), model: "w".repeat(1_500) }]);
      await reopened.close();
      const next = await model.openConversation({ mode: "chat", systemPrompt: "" });
      const reply = await next.chat("Hello", { maxTokens: 8, temperature: 0 });
      assert.equal(reply.outputTokens, 8, `round ${round}`);
      await next.close();
    }
    assert.deepEqual(stale(), []);
  });
});
