/** The model tier: real node-llama-cpp in the real worker process, on a tiny model file the test writes itself. */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ClarifySession } from "../../src/core/session.js";
import { askSchema, assessmentSchema, parseAssessment } from "../../src/core/parse.js";
import {
  buildAssessmentMessage,
  buildCodeRequestMessage,
  codeResponsePrefix,
  decisionOptions,
  decisionPrefix,
  guidedSystemPrompt,
} from "../../src/core/prompts.js";
import { defaultSettings } from "../../src/core/types.js";
import { ModelWorker } from "../../src/llm/worker/client.js";
import { crashHookEnv, WorkerError } from "../../src/llm/worker/protocol.js";
import { writeCorruptModels, writeFuzzedModels, writeTinyModel, type CorruptModels } from "../fixtures/tiny-model.js";
import { startWorker, tempDir, workerPath } from "../helpers/worker.js";

const { worker, model } = startWorker();
let dir: string;
let tiny: string;
let corrupt: CorruptModels;

before(async () => {
  dir = await tempDir("clarifycoder-model-");
  tiny = path.join(dir, "tiny.gguf");
  await writeTinyModel(tiny);
  corrupt = await writeCorruptModels(dir);
});
after(() => worker.stop());

const load = () => model.load({ model: tiny, gpu: false, threads: 1, contextSize: 2048 });

describe("model worker on a tiny GGUF", () => {
  it("reports the hardware and loads the model on the CPU backend", async () => {
    const hw = await worker.request("hardware", { gpu: false });
    assert.equal(hw.backend, "cpu");
    assert.ok(hw.cpuCores >= 1 && hw.threads === hw.cpuCores, "threads default to the physical cores");
    const progress: number[] = [];
    const info = await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 2048 }, (e) => {
      if (e.kind === "load") progress.push(e.progress);
    });
    assert.equal(info.architecture, "llama");
    assert.equal(info.backend, "cpu");
    assert.equal(info.threads, 1);
    assert.equal(info.chatTemplate, true);
    assert.equal(progress.at(-1), 1);
  });

  it("holds a whole ask -> answer -> code conversation", async () => {
    await load();
    const session = new ClarifySession(model, { ...defaultSettings, askPolicy: "always", maxRounds: 1, maxCodeTokens: 40 });
    const chunks: string[] = [];
    session.onChunk((c) => chunks.push(c));
    await session.start("Write a function that pads a string", { languageId: "typescript" });
    assert.equal(session.state, "asking", JSON.stringify(session.snapshot().failure));
    const questions = session.snapshot().questions;
    assert.ok(questions.length >= 1);
    for (const q of questions) assert.ok(q.text.trim().length > 0, "questions are non-empty text");
    await assert.rejects(session.submitAnswers(), /Answer or waive/);
    session.answerQuestion(questions[0]!.id, "left padding with spaces");
    for (const q of session.openQuestions()) session.waiveQuestion(q.id);
    await session.submitAnswers();
    const snap = session.snapshot();
    assert.equal(snap.state, "done", JSON.stringify(snap.failure));
    assert.ok(chunks.length > 2, "the code streamed in pieces");
    assert.equal(chunks.join(""), snap.answer);
    assert.ok(snap.answer.startsWith("```typescript\n"));
    assert.equal(snap.codeBlocks[0]?.language, "typescript");
    await session.dispose();
  });

  it("says how far it has read a long prompt, a batch at a time, in the probe and the code turn; the session shows it while it reads", async () => {
    await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 2048 });
    const long = `Write a function that pads a string. ${"The string may hold any characters at all, and the padding goes on the left. ".repeat(16)}`;
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: guidedSystemPrompt });
    const probed: { evaluated: number; total: number }[] = [];
    await conversation.probe(long, decisionPrefix, decisionOptions, { onReading: (r) => probed.push(r) });
    assert.ok(probed.length >= 3, `a reading a batch: ${JSON.stringify(probed)}`);
    const total = probed[0]?.total ?? 0;
    assert.ok(total > 1000 && probed.every((r) => r.total === total), "one prompt, its total each time");
    assert.ok(
      probed.every((r, i) => i === 0 || r.evaluated > (probed[i - 1]?.evaluated ?? 0)),
      "rising",
    );
    assert.ok((probed.at(-1)?.evaluated ?? 0) >= total - 512 && (probed.at(-1)?.evaluated ?? 0) < total, "the last batch is left to the turn itself");
    await conversation.close();
    // Through the engine: while it reads, the snapshot says so; when the turn ends, the reading is gone.
    const session = new ClarifySession(model, { ...defaultSettings, askPolicy: "never", maxCodeTokens: 8 });
    const seen: { evaluated: number; total: number; from: number }[] = [];
    session.onChange((snap) => {
      if (snap.reading) seen.push(snap.reading);
    });
    // Shorter, to fit the engine's room for the answer, and still longer than a batch.
    await session.start(long.slice(0, 640), { languageId: "typescript" });
    assert.equal(session.state, "done", JSON.stringify(session.snapshot().failure));
    assert.ok(seen.length >= 2, JSON.stringify(seen));
    assert.ok(seen.some((r) => r.evaluated < r.total));
    assert.equal(session.snapshot().reading, undefined);
    await session.dispose();
  });

  it("the code turn evaluates only its new tokens, and the reply after a probe reuses the probe's tokens", async () => {
    await load();
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: guidedSystemPrompt });
    const first = buildAssessmentMessage("Write a function that pads a string", {}, 3);
    const p = await conversation.probe(first, decisionPrefix, decisionOptions);
    assert.ok(Math.abs((p.ask ?? 0) + (p.proceed ?? 0) - 1) < 1e-6, `probabilities are normalised: ${JSON.stringify(p)}`);
    const assessment = await conversation.chat(first, { maxTokens: 200, grammar: askSchema(3) });
    const prefixTokens = (await worker.request("tokenize", { text: decisionPrefix })).count;
    assert.ok(
      assessment.evaluatedInputTokens <= prefixTokens + 8,
      `after the probe, the assessment evaluated ${assessment.evaluatedInputTokens} input tokens (the probe already had the prompt)`,
    );
    const message = buildCodeRequestMessage({ newAnswers: [], assumptions: ["Left padding."] });
    const prefix = codeResponsePrefix("typescript");
    const code = await conversation.chat(message, { maxTokens: 24, responsePrefix: prefix });
    // New tokens: the message and the reply's prefix, plus the chat template's wrapping of a new turn (ChatML here,
    // spelled out byte by byte in this tiny vocabulary).
    const text = (await worker.request("tokenize", { text: message + prefix })).count;
    const wrapping = (await worker.request("tokenize", { text: "<|im_end|>\n<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n", special: true })).count;
    assert.ok(code.evaluatedInputTokens >= text, `the code turn evaluated ${code.evaluatedInputTokens} input tokens for a ${text}-token message`);
    assert.ok(
      code.evaluatedInputTokens <= text + wrapping + 2,
      `the code turn evaluated ${code.evaluatedInputTokens} input tokens; new: ${text} of text and ${wrapping} of template`,
    );
    await conversation.close();
  });

  it("the grammar that lets the model choose (used when a template cannot be probed) yields a readable assessment", async () => {
    await load();
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: guidedSystemPrompt });
    const reply = await conversation.chat(buildAssessmentMessage("Write a parser", {}, 3), { maxTokens: 200, grammar: assessmentSchema(3) });
    const parsed = parseAssessment(reply.text, { maxQuestions: 3 });
    assert.ok(parsed.ok, reply.text);
    await conversation.close();
  });

  it("more conversations than sequences: the idle one gives its sequence up and is rebuilt with its history", async () => {
    await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 2048, sequences: 2 });
    const a = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    await a.chat("First message.", { maxTokens: 4 });
    const followUp = "Second message.";
    const warm = await a.chat(followUp, { maxTokens: 4 });
    const b = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    const c = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    await b.chat("Hello", { maxTokens: 2 });
    await c.chat("Hello", { maxTokens: 2 });
    // a lost its sequence to c; its next turn rebuilds it from its history, re-evaluating that history.
    const rebuilt = await a.chat(followUp, { maxTokens: 4 });
    assert.equal(rebuilt.outputTokens, 4);
    assert.ok(
      rebuilt.evaluatedInputTokens > warm.evaluatedInputTokens + 20,
      `rebuilt: ${rebuilt.evaluatedInputTokens} input tokens, against ${warm.evaluatedInputTokens} on a live sequence`,
    );
    for (const x of [a, b, c]) await x.close();
  });

  it("a conversation opened while another's long prompt is evaluated waits for a sequence, not 'No sequences left'", async () => {
    await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 4096, sequences: 2 });
    const idle = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    await idle.chat("Hello", { maxTokens: 2 });
    const busy = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    // About 3,000 tokens in this byte-level vocabulary: the context is busy evaluating them for a while.
    const long = busy.chat("x".repeat(3_000), { maxTokens: 2 });
    await new Promise((r) => setTimeout(r, 50));
    const third = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    const reply = await third.chat("Hello", { maxTokens: 2 });
    assert.equal(reply.outputTokens, 2);
    assert.equal((await long).outputTokens, 2);
    for (const x of [idle, busy, third]) await x.close();
  });

  it("a long prompt is evaluated once, a batch at a time: Stop during it evaluates no more of it, in chat, grammar and raw turns", async () => {
    await model.load({ model: tiny, gpu: false, threads: 1, contextSize: 4096, sequences: 2 });
    // About 3,000 tokens in this byte-level vocabulary: several of llama.cpp's batches (512 tokens at most).
    const long = "x".repeat(3_000);
    const size = (await worker.request("tokenize", { text: long })).count;
    assert.ok(size > 2_000, `${size} tokens`);
    const kinds = {
      chat: { open: { mode: "chat", systemPrompt: "Be brief." }, grammar: undefined },
      grammar: { open: { mode: "chat", systemPrompt: "Be brief." }, grammar: askSchema(defaultSettings.maxQuestions) },
      raw: { open: { mode: "raw" }, grammar: undefined },
    } as const;
    for (const [kind, { open, grammar }] of Object.entries(kinds)) {
      const turn = (conversation: Awaited<ReturnType<typeof model.openConversation>>, signal?: AbortSignal) =>
        open.mode === "raw"
          ? conversation.complete(long, { maxTokens: 2, ...(signal ? { signal } : {}) })
          : conversation.chat(long, { maxTokens: 2, ...(grammar ? { grammar } : {}), ...(signal ? { signal } : {}) });
      const stopped = await model.openConversation(open);
      const controller = new AbortController();
      const pending = turn(stopped, controller.signal);
      controller.abort();
      const result = await pending;
      assert.equal(result.stopReason, "abort", kind);
      assert.equal(result.outputTokens, 0, kind);
      assert.ok(result.evaluatedInputTokens <= 1024, `${kind}: ${result.evaluatedInputTokens} of about ${size} prompt tokens evaluated after Stop`);
      // The same prompt to the end, on a fresh conversation: evaluated once, not once in batches and again whole.
      const whole = await model.openConversation(open);
      const full = await turn(whole);
      assert.ok(
        full.evaluatedInputTokens >= size - 10 && full.evaluatedInputTokens < size + 100,
        `${kind}: ${full.evaluatedInputTokens} input tokens for a ${size}-token prompt`,
      );
      // And the stopped conversation goes on.
      const next = open.mode === "raw" ? await stopped.complete("y", { maxTokens: 2 }) : await stopped.chat("Hello", { maxTokens: 2 });
      assert.ok(next.outputTokens > 0, kind);
      for (const x of [stopped, whole]) await x.close();
    }
  });

  it("a conversation opened before the model is loaded again or unloaded says it is lost; one opened after does not", async () => {
    await load();
    const before = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.equal(before.lost, false);
    await load();
    assert.equal(before.lost, true, "a load drops the worker's conversations");
    const after = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.equal(after.lost, false);
    assert.ok((await after.chat("Hello", { maxTokens: 2 })).outputTokens > 0);
    await model.unload();
    assert.equal(after.lost, true, "and so does an unload");
    await before.close();
    await after.close();
  });

  it("cancel stops a long generation, keeps what was produced, and the worker stays usable", async () => {
    await load();
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    const controller = new AbortController();
    const chunks: string[] = [];
    const result = await conversation.chat("Tell me everything.", {
      maxTokens: 100_000,
      signal: controller.signal,
      onChunk: (c) => {
        chunks.push(c);
        if (chunks.length === 5) controller.abort();
      },
    });
    assert.equal(result.stopReason, "abort");
    assert.ok(result.text.length > 0 && result.text.startsWith(chunks.slice(0, 5).join("")));
    assert.ok(result.outputTokens < 1000, `stopped after ${result.outputTokens} tokens`);
    const again = await conversation.chat("Again.", { maxTokens: 5 });
    assert.equal(again.stopReason, "maxTokens");
    await conversation.close();
  });

  it("each corrupt model file gives a specific error naming the file, the worker stays up, and the next good load works", async () => {
    const cases: [keyof CorruptModels, RegExp][] = [
      ["empty", /is empty/],
      ["wrongMagic", /wrong-magic\.gguf is not a readable GGUF model file: it is not a GGUF file: .* this one with 0x47 0x47 0x55 0x58\./],
      ["truncated", /not a readable GGUF model file: .*the file is truncated/],
      ["missingHeadCount", /cannot be loaded: it is missing llama\.attention\.head_count/],
      ["headCountZero", /cannot be loaded: llama\.attention\.head_count is 0/],
      ["headCountKvZero", /cannot be loaded: llama\.attention\.head_count_kv is 0/],
      ["blockCountZero", /cannot be loaded: llama\.block_count is 0/],
      ["feedForwardZero", /cannot be loaded: llama\.feed_forward_length is 0/],
      ["blockCountMillion", /cannot be loaded: llama\.block_count is 1000000; llama\.cpp runs models of 1 to 512 layers/],
      ["duplicateTokens", /cannot be loaded: the token "A" appears twice in tokenizer\.ggml\.tokens/],
      ["negativeEpsilon", /cannot be loaded: llama\.attention\.layer_norm_rms_epsilon is -0\.00001/],
      ["tokenCountHuge", /not a readable GGUF model file: tokenizer\.ggml\.tokens claims 2305843009213693952 entries/],
      ["nanWeight", /cannot be loaded: its tensor blk\.0\.attn_norm\.weight holds NaN \(at element 7\)/],
      ["infWeight", /cannot be loaded: its tensor output_norm\.weight holds Infinity \(at element 3\)/],
      ["overflowingWeights", /loads, but its first token comes out as NaN: its weights are corrupt, or so large that the computation overflows/],
      ["overflowingOutput", /loads, but its first token comes out as NaN: its weights are corrupt, or so large that the computation overflows/],
      ["overflowingEmbedding", /loads, but every token comes out equally likely .*: its weights are corrupt, or so large that the computation overflows/],
    ];
    await load();
    const starts = worker.starts;
    for (const [name, reason] of cases) {
      await assert.rejects(model.load({ model: corrupt[name], gpu: false, threads: 1, contextSize: 2048 }), (e: unknown) => {
        assert.ok(e instanceof WorkerError, `${name}: ${String(e)}`);
        assert.equal(e.code, "invalid-model", `${name}: ${e.message}`);
        assert.match(e.message, reason, name);
        assert.ok(e.message.includes(corrupt[name]), `${name}: the message names the file with its path: ${e.message}`);
        return true;
      });
      assert.equal(worker.starts, starts, `${name} must not crash the worker`);
    }
    await assert.rejects(model.load({ model: path.join(dir, "nope.gguf"), gpu: false }), /The model file .*nope\.gguf does not exist/);
    const info = await load();
    assert.equal(info.architecture, "llama");
    assert.equal(worker.starts, starts);
  });

  it("damaged headers never crash the worker nor show raw JavaScript errors", async () => {
    const files = await writeFuzzedModels(path.join(dir, "fuzz"), 45);
    const starts = worker.starts;
    let refused = 0;
    for (const file of files) {
      try {
        await model.load({ model: file, gpu: false, threads: 1, contextSize: 512 });
      } catch (e) {
        assert.ok(e instanceof WorkerError, String(e));
        assert.ok(["invalid-model", "load-failed"].includes(e.code), `${path.basename(file)}: ${e.code} ${e.message}`);
        assert.ok(e.message.includes(path.basename(file)), `the message names the file: ${e.message}`);
        assert.doesNotMatch(e.message, /The value of|out of range|Cannot read prop|is not a function|undefined|RangeError|TypeError|ERR_[A-Z_]+/, e.message);
        refused += 1;
      }
      assert.equal(worker.starts, starts, `${path.basename(file)} crashed the worker`);
    }
    assert.ok(refused >= 30, `${refused} of ${files.length} refused`);
    assert.equal((await load()).architecture, "llama");
  });

  it("downloads a model from a URL with progress; a broken download fails with a reason and the worker recovers", async (t) => {
    const data = await readFile(tiny);
    let requests = 0;
    const server = http.createServer((req, res) => {
      requests += 1;
      res.writeHead(200, { "content-length": data.length, "content-type": "application/octet-stream" });
      if (req.url?.includes("broken")) {
        // Headers, a little data, then the connection drops: every time.
        res.write(data.subarray(0, 1000));
        res.destroy();
        return;
      }
      res.end(req.method === "HEAD" ? undefined : data);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const { port } = server.address() as { port: number };
    const modelsDirectory = path.join(dir, "downloads");
    const progress: { loaded: number; total: number }[] = [];
    const info = await model.load({ model: `http://127.0.0.1:${port}/models/tiny.gguf`, modelsDirectory, gpu: false, threads: 1, contextSize: 2048 }, (e) => {
      if (e.kind === "download") progress.push({ loaded: e.loaded, total: e.total });
    });
    assert.equal(path.dirname(info.path), modelsDirectory);
    assert.deepEqual((await readFile(info.path)).equals(data), true, "the downloaded file is the served file");
    assert.equal(progress.at(-1)?.loaded, data.length);
    assert.equal(progress.at(-1)?.total, data.length);

    requests = 0;
    await assert.rejects(
      model.load({ model: `http://127.0.0.1:${port}/models/broken.gguf`, modelsDirectory, gpu: false, downloadStallMs: 1500 }),
      (e: unknown) => {
        assert.ok(e instanceof WorkerError, String(e));
        assert.equal(e.code, "download-failed");
        assert.match(e.message, /connection dropped during http:\/\/127\.0\.0\.1:\d+\/models\/broken\.gguf into .*run it again to resume/);
        return true;
      },
    );
    assert.equal(requests, 4, "the first attempt and three retries");
    assert.deepEqual(
      readdirSync(modelsDirectory).filter((f) => f.includes("broken") && f.endsWith(".gguf")),
      [],
      "no broken file is taken for a model",
    );
    const again = await load();
    assert.equal(again.architecture, "llama");
  });

  it("a worker as the product runs it refuses the crash test hook", async () => {
    const product = new ModelWorker({ workerPath, env: { [crashHookEnv]: "" } });
    try {
      await assert.rejects(product.request("crash", {}), (e: unknown) => {
        assert.ok(e instanceof WorkerError);
        assert.equal(e.code, "bad-request");
        assert.match(e.message, /crash is a test hook/);
        return true;
      });
      assert.equal(product.running, true, "and it is still running");
    } finally {
      await product.stop();
    }
  });

  it("a native crash in the worker is reported in plain words; the next request restarts it and reloads the model", async () => {
    await load();
    const starts = worker.starts;
    await assert.rejects(worker.request("crash", {}), (e: unknown) => {
      assert.ok(e instanceof WorkerError);
      assert.equal(e.code, "worker-crashed");
      assert.match(
        e.message,
        /^The model worker stopped unexpectedly: it was ended by SIGABRT \(an abort: a failed check in llama\.cpp or Node\) while crashing on purpose \(the model loaded: .*tiny\.gguf\)\. Its output does not say why\. It will restart on the next request\.$/,
      );
      return true;
    });
    assert.equal(worker.running, false);
    const conversation = await model.openConversation({ mode: "chat", systemPrompt: "Be brief." });
    assert.equal(worker.starts, starts + 1);
    const reply = await conversation.chat("Hello", { maxTokens: 4 });
    assert.ok(reply.outputTokens > 0);
  });

  it("a model file that aborts llama.cpp is reported with llama.cpp's failed check, the phase and the file", async () => {
    await load();
    await assert.rejects(worker.request("crash", { loadUnchecked: corrupt.headCountZero }), (e: unknown) => {
      assert.ok(e instanceof WorkerError);
      assert.equal(e.code, "worker-crashed");
      assert.match(e.message, /ended by SIGABRT .* while loading .*head-count-zero\.gguf without the file checks/);
      assert.match(e.message, /llama\.cpp reported a failed check: llama-model-loader\.cpp:\d+: GGML_ASSERT\(t_meta\.ne\[dim\] >= 1\) failed\./);
      return true;
    });
    assert.equal((await load()).architecture, "llama");
  });

  it("a broken LoRA adapter is refused before llama.cpp sees it, naming the adapter; the model still loads", async () => {
    await load();
    const badAdapter = path.join(dir, "bad-adapter.gguf");
    await writeFile(badAdapter, Buffer.from("GGUF\x03\x00\x00\x00" + "\xff".repeat(64), "binary"));
    await assert.rejects(model.load({ model: tiny, gpu: false, threads: 1, contextSize: 2048, lora: [{ filePath: badAdapter }] }), (e: unknown) => {
      assert.ok(e instanceof WorkerError, String(e));
      assert.equal(e.code, "invalid-model");
      assert.match(e.message, /The LoRA adapter bad-adapter\.gguf is not a readable GGUF file: .*bad-adapter\.gguf\)$/);
      return true;
    });
    await assert.rejects(
      model.load({ model: tiny, gpu: false, threads: 1, contextSize: 2048, lora: [{ filePath: tiny }] }),
      /The LoRA adapter tiny\.gguf cannot be used: it is not a LoRA adapter/,
    );
    const info = await load();
    assert.equal(info.architecture, "llama");
  });
});
