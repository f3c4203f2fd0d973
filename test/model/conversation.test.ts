/**
 * A conversation of several turns through the real worker on the tiny GGUF: follow-ups, Regenerate, Continue and a
 * reopened conversation reuse the model's evaluated tokens (checked with node-llama-cpp's token meter, through the
 * turn results the worker reports), and the engine's rules hold in every turn.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ClarifyModel, ModelConversation, OpenConversationOptions, TurnResult } from "../../src/core/model.js";
import { ClarifySession } from "../../src/core/session.js";
import { defaultSettings, type ClarifySettings } from "../../src/core/types.js";
import type { LocalModel } from "../../src/llm/models/local.js";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { startWorker, tempDir } from "../helpers/worker.js";

const { worker, model } = startWorker();
let tiny: string;

before(async () => {
  tiny = path.join(await tempDir("clarifycoder-conversation-"), "tiny.gguf");
  await writeTinyModel(tiny);
  await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 4096 });
});
after(() => worker.stop());

/** The real model, with each chat turn's message and result kept (the token meter's counts come with the result). */
class Metered implements ClarifyModel {
  readonly turns: { message: string; result: TurnResult; responsePrefix?: string }[] = [];
  conversationId: string | undefined;
  constructor(private readonly inner: LocalModel) {}
  get contextSize(): number | undefined {
    return this.inner.contextSize;
  }
  countTokens(text: string): Promise<number> {
    return this.inner.countTokens(text);
  }
  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    const c = await this.inner.openConversation(options);
    this.conversationId = (c as { id?: string }).id;
    return {
      probe: (m, p, o) => c.probe(m, p, o),
      chat: async (message, o) => {
        const result = await c.chat(message, o);
        this.turns.push({ message, result, ...(o.responsePrefix !== undefined ? { responsePrefix: o.responsePrefix } : {}) });
        return result;
      },
      complete: (t, o) => c.complete(t, o),
      setHistory: (exchanges) => c.setHistory(exchanges),
      close: () => c.close(),
    };
  }
}

const tokens = async (text: string, special = false): Promise<number> => (await worker.request("tokenize", { text, special })).count;
/** The chat template's wrapping of one more exchange (ChatML, byte by byte in the tiny vocabulary). */
const wrapping = (): Promise<number> => tokens("<|im_end|>\n<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n", true);

async function assertOnlyNew(turn: { message: string; result: TurnResult; responsePrefix?: string } | undefined, what: string): Promise<void> {
  assert.ok(turn, `no ${what}`);
  const text = await tokens(turn.message + (turn.responsePrefix ?? ""));
  const limit = text + (await wrapping()) + 2;
  assert.ok(turn.result.evaluatedInputTokens <= limit, `${what} evaluated ${turn.result.evaluatedInputTokens} input tokens; new: about ${limit}`);
  assert.ok(turn.result.evaluatedInputTokens > 0);
}

const settings = (over: Partial<ClarifySettings> = {}): ClarifySettings => ({ ...defaultSettings, maxCodeTokens: 24, ...over });

describe("a conversation of several turns on the real worker", () => {
  it("a follow-up evaluates only its new tokens; a follow-up that asks is refused code until answered", async () => {
    const metered = new Metered(model);
    const config = settings({ askPolicy: "never", maxRounds: 1 });
    const session = new ClarifySession(metered, config);
    await session.start("Write a function that pads a string", { languageId: "typescript" });
    assert.equal(session.state, "done", JSON.stringify(session.snapshot().failure));
    const before = metered.turns.length;
    // The user changed the ask policy between turns: the follow-up asks.
    config.askPolicy = "always";
    await session.followUp("Now pad on the right as well");
    assert.equal(session.state, "asking", JSON.stringify(session.snapshot().failure));
    await assertOnlyNew(metered.turns[before], "the follow-up's assessment");
    const [question] = session.snapshot().questions;
    assert.ok(question);
    await assert.rejects(session.submitAnswers(), /Answer or waive every question first/);
    assert.equal(metered.turns.length, before + 1, "no code was asked for");
    session.answerQuestion(question.id, "ten characters");
    await session.submitAnswers();
    const snap = session.snapshot();
    assert.equal(snap.state, "done", JSON.stringify(snap.failure));
    assert.equal(snap.earlier?.length, 1);
    assert.ok(snap.answer.startsWith("```typescript\n"));
    await assertOnlyNew(metered.turns.at(-1), "the follow-up's code turn");
    await session.dispose();
  });

  it("never asks again: a second round that repeats the first round's question goes on to the code", async () => {
    const session = new ClarifySession(model, settings({ askPolicy: "always", maxRounds: 2, askThreshold: 0 }));
    await session.start("Write a function that pads a string");
    assert.equal(session.state, "asking");
    session.answerQuestion("r1q1", "ten");
    await session.submitAnswers();
    const snap = session.snapshot();
    assert.equal(snap.state, "done", JSON.stringify(snap.failure));
    assert.equal(snap.rounds, 1, "the tiny model asks the same question again; it is not asked");
    await session.dispose();
  });

  it("Regenerate sends the code request again on the rewound conversation, evaluating only that request", async () => {
    const metered = new Metered(model);
    const session = new ClarifySession(metered, settings({ askPolicy: "never" }));
    await session.start("Write a function that pads a string", { languageId: "python" });
    assert.equal(session.state, "done");
    const first = metered.turns.at(-1);
    await session.regenerate();
    assert.equal(session.state, "done", JSON.stringify(session.snapshot().failure));
    const again = metered.turns.at(-1);
    assert.equal(again?.message, first?.message);
    await assertOnlyNew(again, "the regenerated code turn");
    await session.dispose();
  });

  it("Continue after Stop yields the stopped text plus the rest", async () => {
    const metered = new Metered(model);
    // Long enough that Stop comes mid-answer: the worker sends text every 40 ms, and the tiny model writes 40 tokens
    // in less than that.
    const session = new ClarifySession(metered, settings({ askPolicy: "never", maxCodeTokens: 400 }));
    let chunks = 0;
    session.onChunk(() => {
      chunks += 1;
      if (chunks === 3) session.cancel();
    });
    await session.start("Write a function that pads a string", { languageId: "python" });
    const stopped = session.snapshot();
    assert.equal(stopped.state, "cancelled");
    assert.ok(stopped.answer.length > "```python\n".length, stopped.answer);
    await session.continueAnswer();
    const snap = session.snapshot();
    assert.equal(snap.state, "done", JSON.stringify(snap.failure));
    assert.ok(snap.answer.startsWith(stopped.answer), "the stopped text, then the rest");
    assert.ok(snap.answer.length > stopped.answer.length);
    assert.equal(snap.hitLimit, true, "the tiny model never ends on its own: the rest stops at the limit, and can be continued again");
    const continued = metered.turns.at(-1);
    assert.equal(continued?.responsePrefix, stopped.answer);
    await assertOnlyNew(continued, "the continued code turn");
    await session.dispose();
  });

  it("a reopened conversation continues: its history is rebuilt once, and the next turn evaluates only its new tokens", async () => {
    const first = new ClarifySession(model, settings({ askPolicy: "never" }));
    await first.start("Write a function that pads a string", { languageId: "python" });
    assert.equal(first.state, "done");
    const saved = first.snapshot();
    await first.dispose();
    const metered = new Metered(model);
    const reopened = ClarifySession.restore(metered, settings({ askPolicy: "never" }), saved);
    await reopened.followUp("Now pad on the right");
    assert.equal(reopened.state, "done", JSON.stringify(reopened.snapshot().failure));
    assert.ok(metered.conversationId);
    const usage = await worker.request("usage", { conversationId: metered.conversationId });
    assert.ok(usage.settledTokens > 100, `the rebuilt history was evaluated when it was set (${usage.settledTokens} tokens), not in the turn`);
    await assertOnlyNew(metered.turns[0], "the reopened conversation's first turn");
    await reopened.dispose();
  });

  it("a request too long for the model's context fails at once with a clear message", async () => {
    const session = new ClarifySession(model, settings());
    const t = performance.now();
    await session.start("pad ".repeat(5_000));
    const snap = session.snapshot();
    assert.equal(snap.state, "failed");
    assert.match(snap.failure?.message ?? "", /^The request is too long for the model: it is [\d,]+ tokens, and the model's context of 4,096 tokens/);
    assert.ok(performance.now() - t < 5_000);
    await session.dispose();
  });
});
