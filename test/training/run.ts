/**
 * `npm run test:training`: proof that our export trains. Not part of `npm test`: it installs PyTorch (large) once into
 * .cache/training-venv.
 *
 *  1. The real `clarifycoder synth` (against a scripted OpenAI-compatible stand-in) and `clarifycoder mix` make the
 *     export: v4 data and the TRL configs.
 *  2. test/training/train.py builds a tiny randomly initialised llama in transformers, trains a LoRA a few steps with
 *     the exported TRL config for each loss variant (`trl sft --config ...`), checks that answer-only masks the
 *     prompt's tokens, saves each PEFT adapter and shows the next-token probabilities move.
 *  3. The same tiny llama is written as GGUF (llama.cpp's tensor names, the q/k rotary row order of its converter)
 *     and node-llama-cpp's next-token probabilities are compared with PyTorch's.
 *  4. Needs `clarifycoder convert-lora`: each PEFT adapter converted, loaded with node-llama-cpp on the GGUF, and its
 *     probabilities compared with PyTorch's adapted model and with the bare one. Without the command it says so in
 *     one line and exits with code 3.
 *
 * Exit codes: 0 every stage passed; 1 a stage failed; 3 stages 1-3 passed and stage 4 needs convert-lora.
 * `npm run test:training -- --reuse` starts at stage 3 with the adapters of the last run (in .cache/training-run).
 *
 * `npm run test:training -- --model qwen2.5-coder-0.5b` does it once on a real architecture (qwen2: rotate-half
 * rotary order, q/k/v biases, tied embeddings): the catalog's Q4_K_M GGUF, read and dequantised by transformers, a
 * LoRA trained a few steps with the exported config, converted by convert-lora against the Q4_K_M file and loaded by
 * node-llama-cpp on it. Q4_K_M in llama.cpp (activations quantised too) and its dequantised floats in PyTorch are not
 * the same computation, so what is compared is the change the adapter makes: see {@link realModelCheck}.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Token } from "node-llama-cpp" with { "resolution-mode": "import" };
import { writeGguf, type GgufMetadataEntry, type GgufTensor } from "../../src/llm/gguf/writer.js";
import { writeAppsFolder } from "../fixtures/code-tasks.js";
import { writePeftFolder } from "../fixtures/peft-adapter.js";
import { ensureQwenCoder, qwenCoder05bId } from "../fixtures/qwen-coder.js";
import { buildTinyModel } from "../fixtures/tiny-model.js";
import { cli } from "../helpers/cli.js";
import { startOpenAIServer } from "../helpers/openai-server.js";
import { synthReply } from "../helpers/synth-generator.js";
import { repoRoot } from "../helpers/worker.js";

const venv = path.join(repoRoot, ".cache/training-venv");
const python = path.join(venv, "bin/python");
const requirements = path.join(repoRoot, "test/training/requirements.txt");
const work = path.join(repoRoot, ".cache/training-run");
const NEEDS_CONVERT_LORA = 3;

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function run(command: string, args: string[], options: { cwd?: string; quiet?: boolean } = {}): void {
  const result = spawnSync(command, args, { cwd: options.cwd ?? repoRoot, stdio: options.quiet ? ["ignore", "pipe", "pipe"] : "inherit", encoding: "utf8" });
  if (result.status !== 0) {
    if (options.quiet) process.stderr.write(`${result.stdout ?? ""}${result.stderr ?? ""}`);
    throw new Error(`${path.basename(command)} ${args.slice(0, 3).join(" ")} ... exited with ${result.status ?? result.signal}`);
  }
}

/** The venv with the pinned packages, installed once (PyTorch's Linux wheel from PyPI runs on the CPU here). */
async function ensureVenv(): Promise<void> {
  const wanted = await readFile(requirements, "utf8");
  const marker = path.join(venv, "installed-requirements.txt");
  if (existsSync(marker) && (await readFile(marker, "utf8")) === wanted) return;
  say(`Installing the training packages into ${path.relative(repoRoot, venv)} (once; PyTorch is a large download)...`);
  if (!existsSync(python)) run("python3", ["-m", "venv", venv]);
  run(python, ["-m", "pip", "install", "--quiet", "-r", requirements]);
  await writeFile(marker, wanted);
}

/** The tiny GGUF test model's vocabulary, for the tokenizer train.py builds. */
function tinyVocabulary(metadata: readonly GgufMetadataEntry[]): { tokens: string[]; merges: string[]; special: string[]; bos: number; eos: number } {
  const value = (key: string): unknown => metadata.find((m) => m.key === key)?.value;
  const tokens = value("tokenizer.ggml.tokens") as string[];
  const types = value("tokenizer.ggml.token_type") as number[];
  return {
    tokens,
    merges: value("tokenizer.ggml.merges") as string[],
    special: tokens.filter((_, i) => types[i] === 3),
    bos: value("tokenizer.ggml.bos_token_id") as number,
    eos: value("tokenizer.ggml.eos_token_id") as number,
  };
}

/** Reads F32 tensors from a safetensors file: 8-byte header length, JSON header, raw little-endian data. */
async function readSafetensors(file: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const bytes = await readFile(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (info.dtype !== "F32") throw new Error(`${name} is ${info.dtype}; this reader takes F32 only.`);
    const start = 8 + headerLength + info.data_offsets[0];
    const copy = new Uint8Array(bytes.subarray(start, 8 + headerLength + info.data_offsets[1]));
    tensors.set(name, { shape: info.shape, data: new Float32Array(copy.buffer) });
  }
  return tensors;
}

/**
 * llama.cpp's HF converter reorders the rows of q and k within each head (from rotate-half to interleaved pairs):
 * row (h, j, i) of the [heads, 2, head_dim / 2] view moves to (h, i, j).
 */
export function permuteRotaryRows(data: Float32Array, rows: number, columns: number, heads: number): Float32Array {
  const headDim = rows / heads;
  const half = headDim / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = h * headDim + j * half + i;
        const to = h * headDim + i * 2 + j;
        out.set(data.subarray(from * columns, (from + 1) * columns), to * columns);
      }
    }
  }
  return out;
}

/** The tiny transformers llama as a GGUF: the tiny test model's metadata (same shape and vocabulary), its weights. */
async function writeTinyLlamaGguf(folder: string, file: string, permute: boolean): Promise<void> {
  const tensors = await readSafetensors(path.join(folder, "model.safetensors"));
  const config = JSON.parse(await readFile(path.join(folder, "config.json"), "utf8")) as {
    num_hidden_layers: number;
    num_attention_heads: number;
    num_key_value_heads: number;
  };
  const take = (name: string, rename: string, heads?: number): GgufTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`model.safetensors has no ${name}`);
    // A torch [out, in] matrix is ggml [in, out] with the same bytes.
    const shape = [...t.shape].reverse();
    const [rows = 1, columns = 1] = t.shape;
    const data = heads !== undefined && permute ? permuteRotaryRows(t.data, rows, columns, heads) : t.data;
    return { name: rename, type: "F32", shape, data };
  };
  const out: GgufTensor[] = [
    take("model.embed_tokens.weight", "token_embd.weight"),
    take("model.norm.weight", "output_norm.weight"),
    take("lm_head.weight", "output.weight"),
  ];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      take(`${p}.input_layernorm.weight`, `blk.${i}.attn_norm.weight`),
      take(`${p}.self_attn.q_proj.weight`, `blk.${i}.attn_q.weight`, config.num_attention_heads),
      take(`${p}.self_attn.k_proj.weight`, `blk.${i}.attn_k.weight`, config.num_key_value_heads),
      take(`${p}.self_attn.v_proj.weight`, `blk.${i}.attn_v.weight`),
      take(`${p}.self_attn.o_proj.weight`, `blk.${i}.attn_output.weight`),
      take(`${p}.post_attention_layernorm.weight`, `blk.${i}.ffn_norm.weight`),
      take(`${p}.mlp.gate_proj.weight`, `blk.${i}.ffn_gate.weight`),
      take(`${p}.mlp.up_proj.weight`, `blk.${i}.ffn_up.weight`),
      take(`${p}.mlp.down_proj.weight`, `blk.${i}.ffn_down.weight`),
    );
  }
  const name: GgufMetadataEntry = { key: "general.name", type: "string", value: "ClarifyCoder tiny llama (transformers, random)" };
  const metadata = buildTinyModel().metadata.map((m) => (m.key === "general.name" ? name : m));
  await writeGguf(file, { metadata, tensors: out });
}

interface Results {
  probe: { id: string; tokens: number[] };
  base: number[];
  variants: Record<string, { adapter: string; probabilities: number[]; moved: number }>;
}

const maxDifference = (a: readonly number[], b: readonly number[]): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] ?? 0))), 0);

/** node-llama-cpp's next-token probabilities after `tokens`, on the GGUF with the given LoRA adapters. */
async function llamaCppProbabilities(modelPath: string, tokens: readonly number[], vocabulary: number, lora?: string): Promise<number[]> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  try {
    const context = await model.createContext({
      contextSize: 1024,
      threads: 1,
      ...(lora ? { lora: { adapters: [{ filePath: lora }] }, failedCreationRemedy: false as const } : {}),
    });
    const sequence = context.getSequence();
    const iterator = sequence.evaluateWithMetadata(tokens as Token[], { probabilities: true }, { temperature: 1, topK: vocabulary, topP: 1, minP: 0 });
    const first = await iterator.next();
    await iterator.return();
    const probabilities = first.done ? undefined : first.value.probabilities;
    if (!probabilities) throw new Error("node-llama-cpp gave no probabilities");
    const out = new Array<number>(vocabulary).fill(0);
    for (const [token, p] of probabilities) out[token] = p;
    await context.dispose();
    return out;
  } finally {
    await model.dispose();
  }
}

/** Stages 1 and 2: the export made by the real commands, then train.py (which writes results.json). */
async function exportAndTrain(folder: string, baseModel: string, trainArgs: string[] = []): Promise<void> {
  say("== 1. The export: clarifycoder synth (scripted OpenAI-compatible stand-in) and clarifycoder mix");
  const tasks = await writeAppsFolder(path.join(folder, "tasks"));
  const server = await startOpenAIServer(synthReply);
  const clarify = path.join(folder, "clarify.jsonl");
  const mix = path.join(folder, "mix");
  try {
    const synth = await cli(["synth", "-t", tasks, "-m", server.url, "-o", clarify]);
    say(synth.stdout.trim());
    if (synth.code !== 0) throw new Error(`synth failed: ${synth.stderr}`);
  } finally {
    await server.close();
  }
  const mixed = await cli([
    "mix",
    "-t",
    tasks,
    "-c",
    clarify,
    "-r",
    "20:80",
    "-s",
    "oversample",
    "-o",
    mix,
    "--validation",
    "0.2",
    "--base-model",
    baseModel,
    "--max-length",
    "512",
  ]);
  say(mixed.stdout.trim());
  if (mixed.code !== 0) throw new Error(`mix failed: ${mixed.stderr}`);

  say("\n== 2. LoRA training with TRL on the export, each loss variant");
  run(python, [path.join(repoRoot, "test/training/train.py"), folder, mix, ...trainArgs]);
}

async function main(): Promise<number> {
  if (!existsSync(path.join(repoRoot, "dist/cli.js"))) throw new Error('dist/cli.js is missing: run "npm run build" first (npm run test:training does).');
  const modelAt = process.argv.indexOf("--model");
  if (modelAt >= 0) {
    const id = process.argv[modelAt + 1];
    if (id !== qwenCoder05bId) throw new Error(`--model takes ${qwenCoder05bId} (the real architecture this check knows), not ${id ?? "nothing"}.`);
    return realModelCheck(id);
  }
  const vocabulary = tinyVocabulary(buildTinyModel().metadata);
  const resultsFile = path.join(work, "results.json");
  if (process.argv.includes("--reuse") && existsSync(resultsFile)) {
    say(`== 1-2. Reusing the export and adapters of the last run in ${path.relative(repoRoot, work)} (--reuse)`);
  } else {
    await ensureVenv();
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    await writeFile(path.join(work, "vocab.json"), JSON.stringify(vocabulary));
    await exportAndTrain(work, "tiny-llama");
  }
  const results = JSON.parse(await readFile(resultsFile, "utf8")) as Results;

  say("\n== 3. The tiny llama as GGUF, against PyTorch");
  const gguf = path.join(work, "tiny-llama.gguf");
  await writeTinyLlamaGguf(path.join(work, "tiny-llama"), gguf, true);
  const base = await llamaCppProbabilities(gguf, results.probe.tokens, vocabulary.tokens.length);
  const baseDiff = maxDifference(base, results.base);
  const unpermuted = path.join(work, "tiny-llama-unpermuted.gguf");
  await writeTinyLlamaGguf(path.join(work, "tiny-llama"), unpermuted, false);
  const wrongDiff = maxDifference(await llamaCppProbabilities(unpermuted, results.probe.tokens, vocabulary.tokens.length), results.base);
  say(`node-llama-cpp vs PyTorch, next-token probabilities after ${results.probe.tokens.length} tokens: max difference ${baseDiff.toExponential(2)}`);
  say(`(the same weights without the q/k rotary reordering: max difference ${wrongDiff.toExponential(2)}, so the comparison sees the layout)`);
  if (!(baseDiff < 1e-3 && wrongDiff > 10 * baseDiff)) throw new Error("the GGUF does not reproduce the PyTorch model");

  say("\n== 4. The adapters converted with clarifycoder convert-lora and loaded by node-llama-cpp");
  const help = spawnSync(process.execPath, [path.join(repoRoot, "dist/cli.js"), "convert-lora", "--help"], { encoding: "utf8" });
  // For a command it does not know, commander answers --help with the main help and exit 0: look for the command's own.
  if (help.status !== 0 || !/^Usage: clarifycoder convert-lora /m.test(help.stdout)) {
    say("Stage 4 needs the `clarifycoder convert-lora` command, which this build does not have: stopping here (exit 3).");
    return NEEDS_CONVERT_LORA;
  }
  for (const [variant, trained] of Object.entries(results.variants)) {
    const adapter = path.join(work, `adapter-${variant}.gguf`);
    const converted = await cli(["convert-lora", trained.adapter, "--base", gguf, "--out", adapter]);
    if (converted.code !== 0) throw new Error(`convert-lora failed for ${variant}: ${converted.stderr || converted.stdout}`);
    const adapted = await llamaCppProbabilities(gguf, results.probe.tokens, vocabulary.tokens.length, adapter);
    const versusPyTorch = maxDifference(adapted, trained.probabilities);
    const moved = maxDifference(adapted, base);
    say(
      `${variant}: with the adapter, node-llama-cpp moved by up to ${moved.toFixed(4)} from the bare GGUF; vs PyTorch's adapted model: max difference ${versusPyTorch.toExponential(2)}`,
    );
    if (!(versusPyTorch < 1e-3 && moved > 1e-3)) throw new Error(`the converted ${variant} adapter does not reproduce PyTorch's adapted model`);
  }
  return 0;
}

interface RealResults {
  probes: { id: string; prompt: string; tokens: number[] }[];
  vocabulary: number;
  variants: Record<string, { adapter: string; adapterQk: string; probes: { candidates: number[]; base: number[]; adapted: number[]; adaptedQk: number[] }[] }>;
}

/** node-llama-cpp on a GGUF (with a LoRA adapter or not): after each probe, the log-probabilities of its candidates and its own top tokens. */
async function llamaCppLogProbabilities(
  modelPath: string,
  probes: readonly { tokens: readonly number[]; candidates: readonly number[] }[],
  vocabulary: number,
  lora?: string,
): Promise<{ logProbabilities: number[]; top: number[] }[]> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  try {
    const context = await model.createContext({
      contextSize: 1024,
      threads: 2,
      ...(lora ? { lora: { adapters: [{ filePath: lora }] }, failedCreationRemedy: false as const } : {}),
    });
    const sequence = context.getSequence();
    const out: { logProbabilities: number[]; top: number[] }[] = [];
    for (const probe of probes) {
      await sequence.clearHistory();
      const iterator = sequence.evaluateWithMetadata(probe.tokens as Token[], { probabilities: true }, { temperature: 1, topK: vocabulary, topP: 1, minP: 0 });
      const first = await iterator.next();
      await iterator.return();
      const probabilities = first.done ? undefined : first.value.probabilities;
      if (!probabilities) throw new Error("node-llama-cpp gave no probabilities");
      const top = [...probabilities.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP_K)
        .map(([token]) => token as number);
      out.push({ logProbabilities: probe.candidates.map((t) => Math.log(probabilities.get(t as Token) ?? 0)), top });
    }
    await context.dispose();
    return out;
  } finally {
    await model.dispose();
  }
}

/** How many tokens of the top each side's agreement and the comparison look at. */
const TOP_K = 10;
/**
 * The adapter's effect on a token: its log-probability adapted minus bare. Computed by node-llama-cpp on Q4_K_M and
 * by PyTorch on the dequantised weights, over PyTorch's top tokens before and after (at most 2 x TOP_K per probe),
 * the two may differ by at most EFFECT_TOLERANCE (nats); the effect itself must be several times that, and the same
 * adapter converted with llama's q/k row reordering must miss it.
 */
const EFFECT_TOLERANCE = 0.3;
const MIN_EFFECT = 1;
const CONTROL_FACTOR = 4;

/** The tokens a probe compares: PyTorch's top TOP_K after and before training (indices into its candidates). */
function comparedTokens(variant: { candidates: number[]; base: number[]; adapted: number[] }): number[] {
  const order = (values: number[]): number[] =>
    values
      .map((_, i) => i)
      .sort((a, b) => values[b]! - values[a]!)
      .slice(0, TOP_K);
  return [...new Set([...order(variant.adapted), ...order(variant.base)])];
}

/** A PEFT adapter copy with q_proj's and k_proj's lora_B rows in llama's rotary order: what a llama-style conversion of a qwen2 adapter would load. */
async function llamaOrderedCopy(adapter: string, folder: string, heads: number, headsKv: number): Promise<void> {
  const tensors = await readSafetensors(path.join(adapter, "adapter_model.safetensors"));
  const out = [...tensors].map(([name, t]) => {
    const [rows = 1, columns = 1] = t.shape;
    const qk = /\.(q|k)_proj\.lora_B\./.exec(name)?.[1];
    const values = qk ? permuteRotaryRows(t.data, rows, columns, qk === "q" ? heads : headsKv) : t.data;
    return { name, shape: [rows, columns] as [number, number], values };
  });
  await writePeftFolder(folder, JSON.parse(await readFile(path.join(adapter, "adapter_config.json"), "utf8")) as Record<string, unknown>, out);
}

/**
 * The real-architecture mode. Criteria, per probe (a validation prompt), over PyTorch's top tokens before and after:
 * the bare Q4_K_M model's top-1 token is PyTorch's; the adapter's effect agrees within EFFECT_TOLERANCE; the effect
 * is at least MIN_EFFECT somewhere; the llama-reordered control misses by more than EFFECT_TOLERANCE.
 */
async function realModelCheck(id: typeof qwenCoder05bId): Promise<number> {
  const started = Date.now();
  const seconds = (): string => `${Math.round((Date.now() - started) / 1000)} s`;
  const folder = path.join(repoRoot, `.cache/training-run-${id}`);
  const found = await ensureQwenCoder(id);
  if ("unavailable" in found) throw new Error(`the base model ${id} cannot be had: ${found.unavailable}`);
  const gguf = found.path;
  const resultsFile = path.join(folder, "results.json");
  if (process.argv.includes("--reuse") && existsSync(resultsFile)) {
    say(`== 1-2. Reusing the export and adapter of the last run in ${path.relative(repoRoot, folder)} (--reuse)`);
  } else {
    await ensureVenv();
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder, { recursive: true });
    await exportAndTrain(folder, "Qwen/Qwen2.5-Coder-0.5B-Instruct", ["--gguf", gguf]);
    say(`(stages 1-2: ${seconds()})`);
  }
  const results = JSON.parse(await readFile(resultsFile, "utf8")) as RealResults;
  const config = JSON.parse(await readFile(path.join(folder, "base/config.json"), "utf8")) as { num_attention_heads: number; num_key_value_heads: number };

  say(`\n== 3. ${path.basename(gguf)} in node-llama-cpp against its dequantised weights in PyTorch`);
  let failed = false;
  const check = (ok: boolean, line: string): void => {
    say(`${ok ? "ok  " : "FAIL"} ${line}`);
    if (!ok) failed = true;
  };
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const tokenizer = await (await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error })).loadModel({ modelPath: gguf });
  const sameTokens = results.probes.every((p) => JSON.stringify(tokenizer.tokenize(p.prompt)) === JSON.stringify(p.tokens));
  await tokenizer.dispose();
  check(sameTokens, `the tokenizer transformers read from the GGUF splits the ${results.probes.length} probes as llama.cpp does`);

  for (const [variant, trained] of Object.entries(results.variants)) {
    const probes = results.probes.map((p, i) => ({ tokens: p.tokens, candidates: trained.probes[i]!.candidates }));
    const bare = await llamaCppLogProbabilities(gguf, probes, results.vocabulary);
    say(`\n== 4. ${variant}: the adapter converted with clarifycoder convert-lora against the Q4_K_M file, loaded by node-llama-cpp`);
    /** A PEFT folder converted by convert-lora, and node-llama-cpp's log-probabilities with it on the Q4_K_M file. */
    const adaptedBy = async (peft: string, name: string, report = false): Promise<{ logProbabilities: number[]; top: number[] }[]> => {
      const file = path.join(folder, `adapter-${name}.gguf`);
      const converted = await cli(["convert-lora", peft, "--base", gguf, "--out", file]);
      if (converted.code !== 0) throw new Error(`convert-lora failed for ${name}: ${converted.stderr || converted.stdout}`);
      if (report) say(converted.stdout.trim());
      return llamaCppLogProbabilities(gguf, probes, results.vocabulary, file);
    };
    const llamaOrder = async (peft: string): Promise<string> => {
      const copy = `${peft}-llama-order`;
      await llamaOrderedCopy(peft, copy, config.num_attention_heads, config.num_key_value_heads);
      return copy;
    };
    const adapted = await adaptedBy(trained.adapter, variant, true);
    const control = await adaptedBy(await llamaOrder(trained.adapter), `${variant}-llama-order`);
    const qk = await adaptedBy(trained.adapterQk, `${variant}-qk-only`);
    const qkControl = await adaptedBy(await llamaOrder(trained.adapterQk), `${variant}-qk-only-llama-order`);

    results.probes.forEach((probe, i) => {
      const pt = trained.probes[i]!;
      const compared = comparedTokens(pt);
      const ptTop = (values: number[]): number[] =>
        compared
          .map((k) => [pt.candidates[k]!, values[k]!] as const)
          .sort((a, b) => b[1] - a[1])
          .map(([t]) => t);
      const overlap = (a: number[], b: number[]): number => a.slice(0, TOP_K).filter((t) => b.slice(0, TOP_K).includes(t)).length;
      /** The largest |effect| in PyTorch, and how far node-llama-cpp's effect is from it (the adapter as converted, and the llama-order control). */
      const effects = (ptAdapted: number[], cpp: { logProbabilities: number[] }, cppControl: { logProbabilities: number[] }) => {
        const ptEffect = (k: number): number => ptAdapted[k]! - pt.base[k]!;
        const gap = (c: { logProbabilities: number[] }): number =>
          Math.max(...compared.map((k) => Math.abs(c.logProbabilities[k]! - bare[i]!.logProbabilities[k]! - ptEffect(k))));
        return { size: Math.max(...compared.map((k) => Math.abs(ptEffect(k)))), gap: gap(cpp), control: gap(cppControl) };
      };
      const baseGap = Math.max(...compared.map((k) => Math.abs(bare[i]!.logProbabilities[k]! - pt.base[k]!)));
      const full = effects(pt.adapted, adapted[i]!, control[i]!);
      const qkOnly = effects(pt.adaptedQk, qk[i]!, qkControl[i]!);
      const ptBaseTop = ptTop(pt.base);
      const ptAdaptedTop = ptTop(pt.adapted);
      say(`${probe.id} (${probe.tokens.length} tokens; ${compared.length} tokens compared):`);
      say(
        `  bare: |log p Q4_K_M - log p float| up to ${baseGap.toFixed(3)}; top-1 ${bare[i]!.top[0] === ptBaseTop[0] ? "same" : "differs"}, top-${TOP_K} overlap ${overlap(bare[i]!.top, ptBaseTop)}/${TOP_K}`,
      );
      say(
        `  adapted: top-1 ${adapted[i]!.top[0] === ptAdaptedTop[0] ? "same" : "differs"}, top-${TOP_K} overlap ${overlap(adapted[i]!.top, ptAdaptedTop)}/${TOP_K}`,
      );
      for (const [label, e] of [
        ["the adapter", full],
        ["its q/k part alone", qkOnly],
      ] as const) {
        say(
          `  ${label}: effect on log p up to ${e.size.toFixed(3)} in PyTorch; llama.cpp's differs by up to ${e.gap.toFixed(3)} (llama-order control: ${e.control.toFixed(3)})`,
        );
      }
      check(bare[i]!.top[0] === ptBaseTop[0], "bare: the same top-1 token");
      check(full.size >= MIN_EFFECT && full.gap <= EFFECT_TOLERANCE, `the adapter's effect (at least ${MIN_EFFECT}) agrees within ${EFFECT_TOLERANCE}`);
      check(qkOnly.gap <= EFFECT_TOLERANCE, `its q/k part's effect agrees within ${EFFECT_TOLERANCE}`);
      check(qkOnly.control > CONTROL_FACTOR * qkOnly.gap, `its q/k part in llama's row order misses by over ${CONTROL_FACTOR} times that`);
    });
  }
  say(`(all stages: ${seconds()})`);
  if (failed) throw new Error("the converted adapter does not reproduce PyTorch's on the real model");
  return 0;
}

main().then(
  (code) => {
    say(code === 0 ? "\nEvery stage passed." : "");
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
