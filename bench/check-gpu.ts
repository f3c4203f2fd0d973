/**
 * `npm run check:gpu` (or `node dist/check-gpu.js` where only the built files and node-llama-cpp are present): checks
 * the model worker on this machine's GPU. It loads a model with every layer on the GPU and reports the backend,
 * device, VRAM and layers offloaded, the warm-up (the first-use kernel compilation), then times on the same file:
 * raw node-llama-cpp against our worker on the GPU, and the GPU against the CPU.
 *
 *   node dist/check-gpu.js [--model FILE] [--gpu auto|cuda|vulkan|metal] [--tokens N] [--runs N] [--threads N]
 *                          [--allow-cpu] [--out FILE]
 *
 * Without --model it writes the tiny test model (fine for checking the plumbing, too small for meaningful speeds).
 * Without a usable GPU it says why (per backend) and exits with 1; --allow-cpu runs the timings on the CPU anyway.
 */
import { rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { physicalCores } from "../src/llm/hardware/cpu.js";
import { LocalModel } from "../src/llm/models/local.js";
import { ModelWorker } from "../src/llm/worker/client.js";
import type { GpuChoice } from "../src/llm/hardware/gpu-choice.js";
import type { HardwareInfo } from "../src/llm/worker/protocol.js";
import { writeTinyModel } from "../src/llm/gguf/tiny-model.js";
import { Command, Option } from "commander";
import { modelRanges, type NumberRange } from "../src/core/settings.js";
import { exitWithUsageCode, numberOption } from "../src/cli/shared/options.js";
import { bareDecode, median, streamClock } from "./timing.js";

const int = (min: number, max: number): NumberRange => ({ min, max, integer: true });
const options = exitWithUsageCode(new Command())
  .name("check-gpu")
  .description("Checks the model worker on this machine's GPU, and times raw node-llama-cpp against our worker, and the GPU against the CPU.")
  .option("--model <file>", "the GGUF to load (default: the tiny test model, fine for the plumbing, too small for speeds)")
  .addOption(new Option("--gpu <backend>", "the GPU backend").choices(["auto", "cuda", "vulkan", "metal"]).default("auto"))
  .addOption(numberOption("--tokens <n>", "tokens to generate per run", int(1, 32_768)).default(256))
  .addOption(numberOption("--runs <n>", "runs of each timing", int(1, 1000)).default(3))
  .addOption(numberOption("--threads <n>", "CPU threads (default: the physical cores)", modelRanges.threads))
  .option("--allow-cpu", "without a usable GPU, time the CPU anyway instead of exiting with 1")
  .option("--out <file>", "also write the report as JSON")
  .parse()
  .opts<{ model?: string; gpu: Exclude<GpuChoice, false>; tokens: number; runs: number; threads?: number; allowCpu?: boolean; out?: string }>();
const gpu = options.gpu;
const tokens = options.tokens;
const runs = options.runs;
const threads = options.threads ?? physicalCores();
const allowCpu = options.allowCpu === true;
const out = options.out;
const contextSize = 4096;
const systemPrompt = "You are a careful programmer.";
const message = "Write a Python function that sorts a list of records by their date field, newest first.";
const responsePrefix = "```python\n";
const longPrompt = "def process(records):\n    total = 0\n" + "    total = total + len(records)\n".repeat(120);

const gib = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface RawTiming {
  backend: string;
  gpuLayers: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

/** Raw node-llama-cpp in this process: a bare decode loop on the same templated conversation, and a long prefill. */
async function raw(modelPath: string, choice: GpuChoice): Promise<RawTiming[]> {
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: choice, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: choice === false ? 0 : "max" });
  const context = await model.createContext({ contextSize, sequences: 1, threads });
  const wrapper = nlc.resolveChatWrapper(model);
  const history = [
    { type: "system" as const, text: systemPrompt },
    { type: "user" as const, text: message },
    { type: "model" as const, response: [responsePrefix] },
  ];
  const prompt = wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
  const long = model.tokenize(longPrompt);
  const results: RawTiming[] = [];
  // One untimed pass first: the warm-up our worker does after loading.
  for (let run = 0; run <= runs; run++) {
    const sequence = context.getSequence();
    const t = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(long);
    const prefill = (long.length * 1000) / (performance.now() - t);
    await sequence.clearHistory();
    const decode = (await bareDecode(sequence, prompt, tokens)).tokensPerSecond;
    sequence.dispose();
    if (run > 0)
      results.push({
        backend: llama.gpu === false ? "cpu" : llama.gpu,
        gpuLayers: model.gpuLayers,
        prefillTokensPerSecond: prefill,
        decodeTokensPerSecond: decode,
      });
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return results;
}

/** Ours: the worker, a chat turn generating `tokens` tokens; the rate from the streamed text and the token meter. */
async function ours(local: LocalModel): Promise<number[]> {
  const rates: number[] = [];
  for (let run = 0; run < runs; run++) {
    const conversation = await local.openConversation({ mode: "chat", systemPrompt });
    const clock = streamClock(responsePrefix);
    const result = await conversation.chat(message, { maxTokens: tokens, temperature: 0, responsePrefix, onChunk: clock.onChunk });
    await conversation.close();
    rates.push(clock.rate(result.outputTokens));
  }
  return rates;
}

/** The tiny model, when this run wrote one: removed at the end. */
let tinyFile: string | undefined;

async function main(): Promise<number> {
  let modelPath = options.model;
  if (!modelPath) {
    modelPath = path.join(os.tmpdir(), `clarifycoder-check-gpu-${process.pid}.gguf`);
    tinyFile = modelPath;
    await writeTinyModel(modelPath);
    say(`No --model given: using the tiny test model (${modelPath}); its speeds say little. Pass a real GGUF for figures.`);
  }
  const worker = new ModelWorker({ workerPath: path.join(__dirname, "worker.mjs") });
  const report: Record<string, unknown> = {
    model: path.resolve(modelPath),
    gpu,
    tokens,
    runs,
    threads,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
  try {
    let hardware: HardwareInfo;
    try {
      hardware = await worker.request("hardware", { gpu, threads });
    } catch (error) {
      say(`GPU check failed: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
    report.hardware = hardware;
    say(
      `Backend: ${hardware.backend === "cpu" ? "CPU" : hardware.backend}${hardware.gpuDevices.length > 0 ? `; device: ${hardware.gpuDevices.join(", ")}` : ""}${hardware.vram ? `; VRAM ${gib(hardware.vram.free)} free of ${gib(hardware.vram.total)}` : ""}`,
    );
    if (hardware.backend === "cpu") {
      say("No GPU backend works here: node-llama-cpp's automatic choice is the CPU. Per backend:");
      for (const backend of ["cuda", "vulkan", "metal"] as const) {
        await worker.stop();
        const answer = await worker.request("hardware", { gpu: backend }).then(
          (h) => `works (${h.gpuDevices.join(", ")})`,
          (e: unknown) => (e instanceof Error ? e.message : String(e)),
        );
        say(`  ${backend}: ${answer}`);
      }
      await worker.stop();
      if (!allowCpu) {
        say("Run it on a machine with a GPU, or add --allow-cpu to time the CPU alone.");
        return 1;
      }
    }
    const local = new LocalModel(worker);
    const backendChoice: GpuChoice = hardware.backend === "cpu" ? false : gpu;
    const before = hardware.vram;
    const info = await local.load({ model: modelPath, gpu: backendChoice, gpuLayers: "max", threads, contextSize, sequences: 1 });
    const after = backendChoice === false ? undefined : (await worker.request("hardware", { gpu: backendChoice })).vram;
    report.load = info;
    say(
      `Loaded ${info.name}: ${info.gpuLayers} of ${info.totalLayers} layers on the GPU; load ${info.loadMs} ms, of which warm-up ${info.warmup.ms} ms (${info.warmup.tokens} tokens)`,
    );
    if (before && after) say(`VRAM used by the model and its context: ${gib(before.free - after.free)}`);
    for (const notice of info.notices) say(`Notice: ${notice}`);
    const oursRates = await ours(local);
    await worker.stop();
    const rawGpu = backendChoice === false ? [] : await raw(modelPath, backendChoice);
    const rawCpu = await raw(modelPath, false);
    const oursDecode = median(oursRates);
    const rawDecode = median((rawGpu.length > 0 ? rawGpu : rawCpu).map((r) => r.decodeTokensPerSecond));
    const cpuDecode = median(rawCpu.map((r) => r.decodeTokensPerSecond));
    const summary = {
      oursDecodeTokensPerSecond: oursRates,
      rawDecodeTokensPerSecond: (rawGpu.length > 0 ? rawGpu : rawCpu).map((r) => r.decodeTokensPerSecond),
      oursOverRaw: oursDecode / rawDecode,
      rawGpu,
      rawCpu,
      gpuOverCpuDecode: rawGpu.length > 0 ? rawDecode / cpuDecode : undefined,
      gpuOverCpuPrefill:
        rawGpu.length > 0 ? median(rawGpu.map((r) => r.prefillTokensPerSecond)) / median(rawCpu.map((r) => r.prefillTokensPerSecond)) : undefined,
    };
    report.timings = summary;
    const f = (n: number | undefined, d = 1): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : "n/a");
    say(
      `Decode, ${tokens} tokens, median of ${runs}: raw ${f(rawDecode)} tok/s, ours ${f(oursDecode)} tok/s: ours/raw ${f(summary.oursOverRaw, 3)}x (runs: ours ${oursRates.map((r) => f(r)).join(", ")})`,
    );
    if (rawGpu.length > 0) {
      say(
        `GPU against CPU (${threads} threads), raw: decode ${f(rawDecode)} / ${f(cpuDecode)} tok/s (${f(summary.gpuOverCpuDecode, 1)}x), prefill ${f(median(rawGpu.map((r) => r.prefillTokensPerSecond)), 0)} / ${f(median(rawCpu.map((r) => r.prefillTokensPerSecond)), 0)} tok/s (${f(summary.gpuOverCpuPrefill, 1)}x)`,
      );
    }
    if (out) {
      await writeFile(out, JSON.stringify(report, null, 2));
      say(`wrote ${out}`);
    }
    return 0;
  } finally {
    await worker.stop();
  }
}

main()
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(() => tinyFile && rmSync(tinyFile, { force: true }));
