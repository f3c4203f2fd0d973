/**
 * The worker under faults, on the real worker process and the tiny model: killed (SIGKILL) and stopped (SIGSTOP)
 * during a load and during a turn, Stop on a wedged worker, a GPU backend that is not there, memory that runs out,
 * and the warm-up after loading.
 */
import assert from "node:assert/strict";
import { freemem } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ClarifyModel, ModelConversation } from "../../src/core/model.js";
import { ClarifySession } from "../../src/core/session.js";
import { defaultSettings } from "../../src/core/types.js";
import type { LocalModel } from "../../src/llm/models/local.js";
import type { ModelWorker } from "../../src/llm/worker/client.js";
import { WorkerError } from "../../src/llm/worker/protocol.js";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { startWorker, tempDir } from "../helpers/worker.js";

let dir: string;
let tiny: string;
const workers: ModelWorker[] = [];

before(async () => {
  dir = await tempDir("clarifycoder-faults-");
  tiny = path.join(dir, "tiny.gguf");
  await writeTinyModel(tiny);
});
after(async () => {
  for (const w of workers) await w.stop();
});

/** A worker whose watchdog acts within seconds, so a test of it does not wait for the defaults. */
function quickWorker(options: { unresponsiveMs?: number } = {}): { worker: ModelWorker; model: LocalModel } {
  const started = startWorker({ unresponsiveMs: options.unresponsiveMs ?? 4000, stallMs: 30_000 });
  workers.push(started.worker);
  return started;
}

const loadParams = { gpu: false as const, threads: 1, contextSize: 2048 };

function pidOf(worker: ModelWorker): number {
  const pid = worker.pid;
  assert.ok(pid !== undefined, "the worker runs");
  return pid;
}

/** A loaded worker, a conversation, and a long turn during which the worker is sent `signal` at its second chunk. */
async function signalDuringTurn(signal: NodeJS.Signals): Promise<{ model: LocalModel; conversation: ModelConversation; turn: Promise<unknown> }> {
  const { worker, model } = quickWorker();
  await model.load({ model: tiny, ...loadParams });
  const conversation = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
  let chunks = 0;
  const turn = conversation.chat("Tell me everything.", {
    maxTokens: 100_000,
    onChunk: () => {
      if (++chunks === 2) process.kill(pidOf(worker), signal);
    },
  });
  return { model, conversation, turn };
}

/** Fails the test with the error's own words when `promise` does not reject with a WorkerError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: WorkerError["code"], ...patterns: RegExp[]): Promise<WorkerError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof WorkerError, String(e));
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return e;
  }
  assert.fail(`expected a ${code} error`);
}

describe("a worker killed or stopped", () => {
  it("SIGKILL during a load: the signal and the phase are reported, the file is not blamed, the next load works", async () => {
    const { worker, model } = quickWorker();
    const error = await rejectsWith(
      model.load({ model: tiny, ...loadParams }, (e) => {
        if (e.kind === "load") process.kill(pidOf(worker), "SIGKILL");
      }),
      "worker-crashed",
      /^The model worker stopped unexpectedly: it was ended by SIGKILL \(a signal sent from outside the process; the system's out-of-memory killer sends it, among others\)/,
      /while (loading the weights of|creating a context for) tiny\.gguf \(.*tiny\.gguf\)/,
      /Its output does not say why\. It will restart on the next request\.$/,
    );
    assert.doesNotMatch(error.message, /corrupt|not supported|ran out of memory|runs out of memory|GPU driver/i, "no guess is stated as fact");
    assert.equal((await model.load({ model: tiny, ...loadParams })).architecture, "llama");
  });

  it("SIGSTOP during a load: the watchdog ends the worker and says so; the next load works", async () => {
    const { worker, model } = quickWorker();
    let stopped = 0;
    await rejectsWith(
      model.load({ model: tiny, ...loadParams }, (e) => {
        if (e.kind === "load" && stopped === 0) {
          stopped = pidOf(worker);
          process.kill(stopped, "SIGSTOP");
        }
      }),
      "worker-crashed",
      /^The model worker stopped responding: nothing came from it for \d+ s \(it may be suspended, or stuck in a driver call\), so it was ended while (loading the weights of|creating a context for) tiny\.gguf/,
      /It will restart on the next request\.$/,
    );
    assert.equal(worker.running, false);
    assert.equal((await model.load({ model: tiny, ...loadParams })).architecture, "llama");
    assert.notEqual(worker.pid, stopped);
  });

  it("SIGKILL during a turn: the signal, the phase and the model are reported; a new conversation works", async () => {
    const { model, conversation, turn } = await signalDuringTurn("SIGKILL");
    await rejectsWith(turn, "worker-crashed", /ended by SIGKILL .* while evaluating the prompt and generating \(the model loaded: .*tiny\.gguf\)/);
    // The conversation died with its worker, and says so rather than "not open".
    await rejectsWith(conversation.chat("Again", { maxTokens: 2 }), "worker-crashed", /SIGKILL/);
    const fresh = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.ok((await fresh.chat("Hello", { maxTokens: 3 })).outputTokens > 0);
  });

  it("SIGSTOP during a turn: the watchdog fails it in plain words; the next request works", async () => {
    const { model, turn } = await signalDuringTurn("SIGSTOP");
    await rejectsWith(
      turn,
      "worker-crashed",
      /^The model worker stopped responding: .* while evaluating the prompt and generating \(the model loaded: .*tiny\.gguf\)\. It will restart on the next request\.$/,
    );
    const fresh = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.ok((await fresh.chat("Hello", { maxTokens: 3 })).outputTokens > 0);
  });

  it("Stop on a stopped worker settles the turn as cancelled at once, and the worker is replaced", { timeout: 30_000 }, async (t) => {
    // A watchdog this slow cannot be what ends the turn: only Stop's own deadline can.
    const { worker, model } = quickWorker({ unresponsiveMs: 60_000 });
    await model.load({ model: tiny, ...loadParams });
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    const controller = new AbortController();
    let chunks = 0;
    let stoppedAt = 0;
    const stopped = pidOf(worker);
    await rejectsWith(
      conversation.chat("Tell me everything.", {
        maxTokens: 100_000,
        signal: controller.signal,
        onChunk: () => {
          if (++chunks !== 2) return;
          process.kill(stopped, "SIGSTOP");
          stoppedAt = performance.now();
          controller.abort();
        },
      }),
      "cancelled",
      /Stopped/,
    );
    t.diagnostic(`Stop settled after ${(performance.now() - stoppedAt).toFixed(0)} ms`);
    assert.equal(worker.running, false, "the wedged worker was replaced");
    const fresh = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.ok((await fresh.chat("Hello", { maxTokens: 3 })).outputTokens > 0);
    assert.notEqual(worker.pid, stopped);
  });

  it("a crash during the ask-or-proceed probe is what the user sees, not a missing conversation", async () => {
    const { worker, model } = quickWorker();
    await model.load({ model: tiny, ...loadParams });
    const stopDuringProbe: ClarifyModel = {
      openConversation: async (options) => {
        const c = await model.openConversation(options);
        return {
          ...c,
          probe: (m, p, o) => (process.kill(pidOf(worker), "SIGSTOP"), c.probe(m, p, o)),
          chat: (m, o) => c.chat(m, o),
          complete: (x, o) => c.complete(x, o),
          close: () => c.close(),
        };
      },
    };
    const session = new ClarifySession(stopDuringProbe, { ...defaultSettings, askPolicy: "auto" });
    await session.start("Write a function that pads a string", { languageId: "python" });
    const snap = session.snapshot();
    assert.equal(snap.state, "failed");
    assert.match(snap.failure?.message ?? "", /^The model worker stopped responding: .* while evaluating the prompt \(the ask-or-proceed probe\)/);
    assert.doesNotMatch(snap.failure?.message ?? "", /is not open/);
  });
});

describe("GPU backends, memory and the warm-up", () => {
  it("a GPU backend that cannot load says what was asked, found and to do; the worker stays up for the CPU", async () => {
    const { worker, model } = quickWorker();
    await worker.request("hardware", { gpu: false });
    const starts = worker.starts;
    for (const [gpu, name] of [
      ["vulkan", "Vulkan"],
      ["cuda", "CUDA"],
      ["metal", "Metal"],
    ] as const) {
      await rejectsWith(
        model.load({ model: tiny, ...loadParams, gpu }),
        "load-failed",
        new RegExp(`^The ${name} backend was asked for, but it cannot be used here: `),
        /To fix it: .*set the GPU setting to "auto" .* or "cpu"\.$|"cpu"\. \(node-llama-cpp: /,
      );
    }
    await rejectsWith(worker.request("hardware", { gpu: "vulkan" }), "load-failed", /The Vulkan backend was asked for/);
    assert.equal(worker.starts, starts);
    const info = await model.load({ model: tiny, ...loadParams });
    assert.equal(info.backend, "cpu");
    assert.equal(info.gpuLayers, 0);
    assert.equal(info.totalLayers, 3);
  });

  it("another GPU backend gets a fresh worker (a second llama.cpp binding in one process gets no log); the same backend keeps it", async () => {
    const { worker, model } = quickWorker();
    await model.load({ model: tiny, ...loadParams });
    const starts = worker.starts;
    const pid = pidOf(worker);
    await model.load({ model: tiny, ...loadParams });
    assert.equal(worker.starts, starts, "the same backend: the same worker");
    const info = await model.load({ model: tiny, ...loadParams, gpu: "auto" });
    assert.equal(worker.starts, starts + 1, "another backend: a new worker");
    assert.notEqual(pidOf(worker), pid);
    assert.equal(info.architecture, "llama");
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.ok((await conversation.chat("Hello", { maxTokens: 2 })).outputTokens > 0);
  });

  it("a context larger than the model was trained for is clamped, with a notice", async () => {
    const { model } = quickWorker();
    const info = await model.load({ model: tiny, ...loadParams, contextSize: 10_000_000 });
    assert.equal(info.contextSize, 4096);
    assert.deepEqual(info.notices, ["The context size 10,000,000 is larger than the 4,096 tokens this model was trained for, so 4,096 is used."]);
  });

  it("a context that cannot fit in memory falls back to one that does, with a notice, and the model works", async () => {
    const { model } = quickWorker();
    // Trained for 2^27 tokens: a full context would need tens of GB for its KV cache.
    const huge = path.join(dir, "long-context.gguf");
    await writeTinyModel(huge, { replaceMetadata: [{ key: "llama.context_length", type: "uint32", value: 2 ** 27 }] });
    const info = await model.load({ model: huge, ...loadParams, contextSize: 2 ** 27 });
    assert.ok(info.contextSize <= 8192, `context ${info.contextSize}`);
    assert.equal(info.notices.length, 1);
    assert.match(
      info.notices[0] ?? "",
      /^A context of 134,217,728 tokens does not fit in memory \(its key\/value cache alone needs at least [\d.]+ GB, and [\d.]+ GB is free\), so [\d,]+ tokens are used\./,
    );
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.ok((await conversation.chat("Hello", { maxTokens: 3 })).outputTokens > 0);
  });

  it("a context that node-llama-cpp finds too large for memory falls back the same way", async (t) => {
    // A sliding-window model: the worker's own quick bound does not apply, so node-llama-cpp's estimate refuses it.
    const need = 2 ** 26 * 2 * 2 * 128 * 2;
    if (freemem() > need) return t.skip(`this machine has ${Math.round(freemem() / 1e9)} GB free: a ${Math.round(need / 1e9)} GB context would fit`);
    const { model } = quickWorker();
    const swa = path.join(dir, "sliding-window.gguf");
    await writeTinyModel(swa, {
      replaceMetadata: [
        { key: "llama.context_length", type: "uint32", value: 2 ** 27 },
        { key: "llama.attention.sliding_window", type: "uint32", value: 4096 },
      ],
    });
    const info = await model.load({ model: swa, ...loadParams, contextSize: 2 ** 26 });
    assert.ok(info.contextSize <= 8192, `context ${info.contextSize}`);
    assert.equal(info.notices.length, 1);
    assert.match(
      info.notices[0] ?? "",
      /^A context of 67,108,864 tokens does not fit in memory \(A context size of 67108864 with 2 sequences is too large for the available RAM\), so [\d,]+ tokens are used\./,
    );
  });

  it("the model is warmed up while loading, on its own sequence: the first turn is not charged for it", async () => {
    const { worker, model } = quickWorker();
    const events: string[] = [];
    const info = await model.load({ model: tiny, ...loadParams, sequences: 2 }, (e) => events.push(e.kind));
    assert.ok(events.lastIndexOf("load") < events.indexOf("warmup"), `the warm-up follows the load: ${events.join(",")}`);
    assert.ok(info.warmup.tokens >= 17, `warm-up evaluated ${info.warmup.tokens} tokens`);
    const first = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    const firstTurn = await first.chat("Hello", { maxTokens: 2 });
    const second = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    const secondTurn = await second.chat("Hello", { maxTokens: 2 });
    assert.equal(firstTurn.evaluatedInputTokens, secondTurn.evaluatedInputTokens, "the first turn evaluates what any turn does");
    const usage = await worker.request("usage", { conversationId: (first as unknown as { id: string }).id });
    assert.equal(usage.inputTokens, firstTurn.evaluatedInputTokens, "and its sequence holds none of the warm-up's tokens");
    // The warm-up gave its sequence back: both conversations kept theirs (a rebuilt one would re-evaluate its history).
    const again = await first.chat("More", { maxTokens: 2 });
    assert.ok(again.evaluatedInputTokens < firstTurn.evaluatedInputTokens, `${again.evaluatedInputTokens} tokens for the follow-up`);
  });
});
