/**
 * `npm run bench`: our engine through the model worker against raw node-llama-cpp in-process, on the same model
 * files and the same prompts, in one run. Prints a table and writes bench-results.json (or --out FILE).
 *
 * Measured per model: worker start (fork to the first answer, node-llama-cpp's getLlama included) against raw
 * getLlama; time to the assessment; tokens per second while generating code and the ratio of ours to raw; and the
 * input tokens the code turn evaluated against the new tokens it brought.
 */
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ClarifyModel, ModelConversation, OpenConversationOptions, TurnOptions, TurnResult } from "../src/core/model.js";
import { askSchema, buildAssessmentMessage, codeResponsePrefix, guidedSystemPrompt } from "../src/core/prompts.js";
import { ClarifySession } from "../src/core/session.js";
import { defaultSettings } from "../src/core/types.js";
import { physicalCores } from "../src/llm/cpu.js";
import { LocalModel } from "../src/llm/local-model.js";
import { ModelWorker } from "../src/llm/model-worker.js";
import type { GpuChoice } from "../src/llm/protocol.js";
import { ensureSmolLM2 } from "../test/fixtures/smollm2.js";
import { writeTinyModel } from "../test/fixtures/tiny-model.js";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(flag("--runs") ?? 3);
const threads = Number(flag("--threads") ?? physicalCores());
const codeTokens = Number(flag("--code-tokens") ?? 128);
const out = flag("--out") ?? "bench-results.json";
/** cpu (default, comparable everywhere), or auto / cuda / vulkan / metal on a machine with a GPU. */
const gpuFlag = flag("--gpu") ?? "cpu";
const gpu: GpuChoice = gpuFlag === "cpu" ? false : gpuFlag === "cuda" || gpuFlag === "vulkan" || gpuFlag === "metal" ? gpuFlag : "auto";
let backend = "cpu";
const contextSize = 4096;

const request = "Write a function that removes duplicates from a list, keeping the first occurrence.";
const context = { languageId: "python", fileName: "util.py" };
const assessmentMessage = buildAssessmentMessage(request, context, defaultSettings.maxQuestions);
const prefix = codeResponsePrefix(context.languageId);

interface Sample {
  assessmentMs: number;
  codeTokens: number;
  /** From the first streamed piece of code to the last. */
  tokensPerSecond: number;
  codeTurnEvaluated?: number;
  /** Tokens the worker evaluated between the turns, while the user answers. */
  settled?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

/**
 * Times the streamed pieces of one code turn. The reply's prefix (the opened fence) is streamed before the prompt is
 * even evaluated, so the clock starts at the first generated piece after it: the rate is generation alone.
 */
function streamClock(): { onChunk: (text: string) => void; rate: (tokens: number) => number } {
  let first = 0;
  let last = 0;
  let sawPrefix = false;
  return {
    onChunk: (text) => {
      if (!sawPrefix && text === prefix) {
        sawPrefix = true;
        return;
      }
      const now = performance.now();
      if (first === 0) first = now;
      last = now;
    },
    rate: (tokens) => (tokens > 1 && last > first ? ((tokens - 1) * 1000) / (last - first) : NaN),
  };
}

/** Keeps each chat turn's message and result, so the bench reads the token meter through the engine's own path. */
class MeteredModel implements ClarifyModel {
  readonly turns: { message: string; result: TurnResult }[] = [];
  conversationId: string | undefined;
  constructor(private readonly inner: ClarifyModel) {}
  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    const c = await this.inner.openConversation(options);
    this.conversationId = (c as { id?: string }).id;
    return {
      probe: (m, p, o) => c.probe(m, p, o),
      chat: async (message, o: TurnOptions) => {
        const result = await c.chat(message, o);
        this.turns.push({ message, result });
        return result;
      },
      complete: (t, o) => c.complete(t, o),
      setHistory: (exchanges) => c.setHistory(exchanges),
      close: () => c.close(),
    };
  }
}

/** Ours: the engine (ClarifySession) over the worker. It asks, every question is waived, then the code streams. */
async function benchOurs(modelPath: string): Promise<{ startMs: number; samples: Sample[]; newTokens: number; codeMessage: string; stopMs: number[] }> {
  const worker = new ModelWorker({ workerPath: path.join(__dirname, "worker.mjs") });
  let t = performance.now();
  backend = (await worker.request("hardware", { gpu })).backend;
  const startMs = performance.now() - t;
  const local = new LocalModel(worker);
  await local.load({ model: modelPath, gpu, threads, contextSize, sequences: 2 });
  const samples: Sample[] = [];
  let codeMessage = "";
  for (let i = 0; i < runs; i++) {
    const metered = new MeteredModel(local);
    const session = new ClarifySession(metered, { ...defaultSettings, askPolicy: "always", maxRounds: 1, maxCodeTokens: codeTokens });
    const clock = streamClock();
    session.onChunk(clock.onChunk);
    t = performance.now();
    await session.start(request, context);
    const assessmentMs = performance.now() - t;
    for (const q of session.openQuestions()) session.waiveQuestion(q.id);
    await session.submitAnswers();
    // The last turn is the code (a waived question first gets its choice stated, in a turn of its own).
    const code = metered.turns.at(-1);
    if (!code || session.state !== "done") throw new Error(`Our run did not finish: ${JSON.stringify(session.snapshot().failure)}`);
    codeMessage = code.message;
    const usage = metered.conversationId ? await worker.request("usage", { conversationId: metered.conversationId }) : undefined;
    samples.push({
      assessmentMs,
      codeTokens: code.result.outputTokens,
      tokensPerSecond: clock.rate(code.result.outputTokens),
      codeTurnEvaluated: code.result.evaluatedInputTokens,
      ...(usage ? { settled: usage.settledTokens } : {}),
    });
    await session.dispose();
  }
  const newTokens = (await worker.request("tokenize", { text: codeMessage + prefix })).count;
  const stopMs = await measureStop(local);
  await worker.stop();
  return { startMs, samples, newTokens, codeMessage, stopMs };
}

/** Stop: from the user's Stop (session.cancel) to the session being cancelled, mid-way through a long code turn. */
async function measureStop(local: LocalModel): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const session = new ClarifySession(local, { ...defaultSettings, askPolicy: "never", maxCodeTokens: 4096 });
    let chunks = 0;
    let stoppedAt = 0;
    const cancelled = new Promise<number>((resolve) => {
      session.onChange((s) => {
        if (s.state === "cancelled" || s.state === "done" || s.state === "failed") resolve(performance.now());
      });
    });
    session.onChunk(() => {
      chunks += 1;
      if (chunks === 8) {
        stoppedAt = performance.now();
        session.cancel();
      }
    });
    void session.start(request, context);
    const end = await cancelled;
    if (stoppedAt > 0 && session.state === "cancelled") times.push(end - stoppedAt);
    await session.dispose();
  }
  return times;
}

/** Raw: node-llama-cpp in this process, the same two prompts, grammar, context size and threads. */
async function benchRaw(modelPath: string, codeMessage: string): Promise<{ startMs: number; samples: Sample[] }> {
  const nlc = await import("node-llama-cpp");
  let t = performance.now();
  const llama = await nlc.getLlama({ gpu, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const startMs = performance.now() - t;
  const model = await llama.loadModel({ modelPath, gpuLayers: gpu === false ? 0 : "auto" });
  const ctx = await model.createContext({ contextSize, sequences: 2, threads });
  const chatWrapper = nlc.resolveChatWrapper(model);
  const grammar = await llama.createGrammarForJsonSchema(askSchema(defaultSettings.maxQuestions) as Parameters<typeof llama.createGrammarForJsonSchema>[0]);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const sequence = ctx.getSequence();
    const session = new nlc.LlamaChatSession({ contextSequence: sequence, systemPrompt: guidedSystemPrompt, chatWrapper });
    t = performance.now();
    await session.prompt(assessmentMessage, { grammar, maxTokens: defaultSettings.maxAssessmentTokens, temperature: 0 });
    const assessmentMs = performance.now() - t;
    const clock = streamClock();
    const before = sequence.tokenMeter.usedOutputTokens;
    await session.prompt(codeMessage, { maxTokens: codeTokens, temperature: 0, responsePrefix: prefix, onTextChunk: clock.onChunk });
    const generated = sequence.tokenMeter.usedOutputTokens - before;
    samples.push({ assessmentMs, codeTokens: generated, tokensPerSecond: clock.rate(generated) });
    session.dispose();
    sequence.dispose();
  }
  await ctx.dispose();
  await model.dispose();
  await llama.dispose();
  return { startMs, samples };
}

interface Row {
  model: string;
  threads: number;
  rawStartMs: number;
  workerStartMs: number;
  rawAssessmentMs: number;
  oursAssessmentMs: number;
  rawTokensPerSecond: number;
  oursTokensPerSecond: number;
  tokensPerSecondRatio: number;
  codeTurnEvaluated: number;
  codeTurnNewTokens: number;
  settledBetweenTurns: number;
  stopMs: number;
}

async function main(): Promise<void> {
  const models: { name: string; path: string }[] = [];
  const tiny = path.join(os.tmpdir(), `clarifycoder-bench-tiny-${process.pid}.gguf`);
  await writeTinyModel(tiny);
  models.push({ name: "tiny (generated)", path: tiny });
  const smol = await ensureSmolLM2();
  if ("path" in smol) models.push({ name: "SmolLM2-135M-Instruct Q4_1", path: smol.path });
  else process.stderr.write(`SmolLM2 skipped: ${smol.unavailable}\n`);

  const rows: Row[] = [];
  for (const m of models) {
    process.stderr.write(`${m.name}: ours...\n`);
    const ours = await benchOurs(m.path);
    process.stderr.write(`${m.name}: raw...\n`);
    const raw = await benchRaw(m.path, ours.codeMessage);
    const rawTps = median(raw.samples.map((s) => s.tokensPerSecond));
    const oursTps = median(ours.samples.map((s) => s.tokensPerSecond));
    rows.push({
      model: m.name,
      threads,
      rawStartMs: raw.startMs,
      workerStartMs: ours.startMs,
      rawAssessmentMs: median(raw.samples.map((s) => s.assessmentMs)),
      oursAssessmentMs: median(ours.samples.map((s) => s.assessmentMs)),
      rawTokensPerSecond: rawTps,
      oursTokensPerSecond: oursTps,
      tokensPerSecondRatio: oursTps / rawTps,
      codeTurnEvaluated: Math.max(...ours.samples.map((s) => s.codeTurnEvaluated ?? 0)),
      codeTurnNewTokens: ours.newTokens,
      settledBetweenTurns: Math.max(...ours.samples.map((s) => s.settled ?? 0)),
      stopMs: median(ours.stopMs),
    });
  }
  const f = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
  const header = ["model", "threads", "start raw/worker ms", "assessment raw/ours ms", "code tok/s raw/ours", "ratio", "code turn evaluated/new", "settled while answering", "stop ms"];
  const lines = rows.map((r) => [
    r.model,
    String(r.threads),
    `${f(r.rawStartMs)} / ${f(r.workerStartMs)}`,
    `${f(r.rawAssessmentMs)} / ${f(r.oursAssessmentMs)}`,
    `${f(r.rawTokensPerSecond, 1)} / ${f(r.oursTokensPerSecond, 1)}`,
    `${f(r.tokensPerSecondRatio, 2)}x`,
    `${r.codeTurnEvaluated} / ${r.codeTurnNewTokens}`,
    String(r.settledBetweenTurns),
    f(r.stopMs, 1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  process.stdout.write([fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)].join("\n") + "\n");
  process.stdout.write(`median of ${runs} runs each; ${codeTokens} code tokens; ${backend.toUpperCase()} backend; ${os.cpus()[0]?.model ?? "cpu"}\n`);
  await writeFile(out, JSON.stringify({ date: new Date().toISOString(), runs, threads, codeTokens, backend, rows }, null, 2));
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
