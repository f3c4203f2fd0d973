/**
 * The worker's streaming loop (generate.mts) samples as node-llama-cpp's LlamaChatSession does: on a real model at
 * temperature 0 both write the same reply to the same conversation. The session's default repeat penalty sets no
 * penalty (llama.cpp's 1.0, off), so the loop leaves it out; a real penalty does change the reply, which is what
 * tells this check from one that cannot fail.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChatHistoryItem, Llama, LlamaContext, LlamaModel } from "node-llama-cpp" with { "resolution-mode": "import" };
import { ensureSmolLM2 } from "../fixtures/smollm2.js";

let llama: Llama | undefined;
let model: LlamaModel | undefined;
let context: LlamaContext | undefined;
let unavailable: string | undefined;
/** The worker's loop (an ES module, so imported as one). */
let loop: typeof import("../../src/llm/worker/process/generate.mjs", { with: { "resolution-mode": "import" } }) | undefined;

before(async () => {
  const found = await ensureSmolLM2();
  if (!("path" in found)) {
    unavailable = found.unavailable;
    if (process.env.CI) throw new Error(`The real-model tier cannot run: ${unavailable}`);
    process.stdout.write(`# lean-loop check skipped: ${unavailable}\n`);
    return;
  }
  const nlc = await import("node-llama-cpp");
  loop = await import("../../src/llm/worker/process/generate.mjs");
  llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: found.path });
  context = await model.createContext({ contextSize: 2048, sequences: 2, threads: 2 });
});
after(async () => {
  await context?.dispose();
  await model?.dispose();
  await llama?.dispose();
});

const systemPrompt = "You are a coding assistant. Answer with code only.";
const message = "Write a Python function that returns a list of ten zeros, written out in full: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0].";
const maxTokens = 64;

/** The session's reply, with its default sampling or with a real repeat penalty. */
async function sessionReply(penalty?: number): Promise<string> {
  const nlc = await import("node-llama-cpp");
  const sequence = context!.getSequence();
  const session = new nlc.LlamaChatSession({ contextSequence: sequence, systemPrompt, autoDisposeSequence: false });
  try {
    return await session.prompt(message, { temperature: 0, maxTokens, ...(penalty !== undefined ? { repeatPenalty: { penalty } } : {}) });
  } finally {
    session.dispose();
    await sequence.dispose();
  }
}

describe("the streaming loop against LlamaChatSession (SmolLM2-135M-Instruct, temperature 0)", () => {
  it("writes the session's reply, token for token", async (t) => {
    if (unavailable) return t.skip(unavailable);
    const nlc = await import("node-llama-cpp");
    const sequence = context!.getSequence();
    const chatWrapper = nlc.resolveChatWrapper(model!);
    const history: ChatHistoryItem[] = [
      { type: "system", text: systemPrompt },
      { type: "user", text: message },
      { type: "model", response: [] },
    ];
    let streamed = "";
    const reply = await loop!.generateReply(
      {
        model: model!,
        sequence,
        chatWrapper,
        history,
        responsePrefix: "",
        maxTokens,
        temperature: 0,
        signal: new AbortController().signal,
        onText: (piece) => (streamed += piece),
      },
      loop!.templatedContext({ model: model!, chatWrapper, history }),
    );
    await sequence.dispose();
    const session = await sessionReply();
    assert.ok(session.length > 20, `the session wrote: ${JSON.stringify(session)}`);
    assert.equal(reply.text, session);
    assert.equal(streamed, reply.text, "what was streamed is the reply");
    const penalised = await sessionReply(1.5);
    assert.notEqual(penalised, session, "a real repeat penalty changes this reply, so the comparison can tell");
  });
});
