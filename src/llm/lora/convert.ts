/**
 * PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) -> llama.cpp GGUF LoRA adapter, the transform
 * llama.cpp's own Python converter does:
 *  - metadata general.architecture (the base's), general.type = "adapter", adapter.type = "lora",
 *    adapter.lora.alpha (FLOAT32: any other type aborts llama.cpp);
 *  - `...layers.{i}.self_attn.q_proj.lora_A.weight` -> `blk.{i}.attn_q.weight.lora_a` (and k, v, o, the MLP, lm_head);
 *    the bytes are copied as they are (torch [r, in] already is ggml ne [in, r]);
 *  - for llama-architecture bases, the rows of q_proj's and k_proj's lora_B get the rotary reordering llama.cpp's
 *    HF-to-GGUF conversion gave the q/k weights (without it the adapter loads and is silently wrong). qwen2 and qwen3
 *    keep Hugging Face's rotate-half order (llama.cpp runs them with NEOX rotary and its converter does not permute
 *    them), so their rows are copied as they are; their q/k/v biases are not LoRA's to change.
 * Everything llama.cpp would choke on is refused first, with the reason: llama.cpp only says "Failed to initialize
 * LoRA adapter", and some bad values (NaN weights) pass silently.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { existsSync } from "node:fs";
import { metaValue, readGgufHeader, type GgufHeader } from "../gguf/reader.js";
import { writeGguf, type GgufTensor } from "../gguf/writer.js";
import { dtypeBytes, firstNonFinite, readSafetensors, type SafeTensor } from "./safetensors.js";

export class LoraConversionError extends Error {
  override name = "LoraConversionError";
}

/** What the converter needs to know of the base model: read from its GGUF header. */
interface BaseModelShape {
  architecture: string;
  headCount: number;
  headCountKv: number;
  blockCount: number;
  /** Tensor name -> ggml `ne` (shape[0] is the input dimension of a weight). */
  tensors: Map<string, number[]>;
  name?: string;
}

/** Architectures whose PEFT names map onto llama.cpp's, and whether q/k rows are reordered for rotary embeddings. */
const architectures: Record<string, { permuteQk: boolean }> = {
  llama: { permuteQk: true },
  qwen2: { permuteQk: false },
  qwen3: { permuteQk: false },
};

/** PEFT module name -> llama.cpp tensor name (per block, or the whole model for lm_head). */
const moduleNames: Record<string, string> = {
  q_proj: "attn_q",
  k_proj: "attn_k",
  v_proj: "attn_v",
  o_proj: "attn_output",
  gate_proj: "ffn_gate",
  up_proj: "ffn_up",
  down_proj: "ffn_down",
  lm_head: "output",
};

export async function readBaseModelShape(file: string): Promise<BaseModelShape> {
  let parsed: GgufHeader;
  try {
    parsed = await readGgufHeader(file);
  } catch (error) {
    throw new LoraConversionError(`The base model ${file} is not a readable GGUF file (${error instanceof Error ? error.message : String(error)}).`);
  }
  const meta = (key: string) => metaValue(parsed, key);
  const architecture = meta("general.architecture");
  if (typeof architecture !== "string") throw new LoraConversionError(`The base model ${file} has no general.architecture.`);
  if (meta("general.type") === "adapter") throw new LoraConversionError(`${file} is itself an adapter, not a base model.`);
  const num = (key: string): number => {
    const v = meta(`${architecture}.${key}`);
    return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : NaN;
  };
  const headCount = num("attention.head_count");
  const headCountKv = Number.isFinite(num("attention.head_count_kv")) ? num("attention.head_count_kv") : headCount;
  const name = meta("general.name");
  return {
    architecture,
    headCount,
    headCountKv,
    blockCount: num("block_count"),
    tensors: new Map(parsed.tensors.map((t) => [t.name, t.shape])),
    ...(typeof name === "string" ? { name } : {}),
  };
}

interface PeftConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  targetModules: string[];
  baseModel?: string;
}

function readConfig(text: string, file: string): PeftConfig {
  let c: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    c = parsed as Record<string, unknown>;
  } catch {
    throw new LoraConversionError(`${file} is not a JSON object.`);
  }
  const refuse = (why: string): never => {
    throw new LoraConversionError(`${file}: ${why}`);
  };
  if (c.peft_type !== undefined && c.peft_type !== "LORA") refuse(`the adapter is ${String(c.peft_type)}; only LoRA adapters can be converted.`);
  if (c.use_dora === true) refuse("the adapter uses DoRA (use_dora), which llama.cpp's LoRA adapters cannot express.");
  if (c.fan_in_fan_out === true) refuse("the adapter stores its weights transposed (fan_in_fan_out), which is not supported.");
  const nonEmpty = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 : typeof v === "object" && v !== null && Object.keys(v).length > 0);
  if (nonEmpty(c.rank_pattern) || nonEmpty(c.alpha_pattern))
    refuse("the adapter has per-module ranks or alphas (rank_pattern/alpha_pattern); llama.cpp takes one alpha per adapter.");
  if (nonEmpty(c.modules_to_save))
    refuse(`the adapter also saves whole modules (modules_to_save: ${JSON.stringify(c.modules_to_save)}), which a LoRA adapter cannot carry.`);
  if (c.bias !== undefined && c.bias !== "none")
    refuse(`the adapter trains biases (bias: ${JSON.stringify(c.bias)}), which llama.cpp's LoRA adapters cannot carry.`);
  if (c.layers_to_transform !== undefined && c.layers_to_transform !== null) refuse("layers_to_transform is not supported.");
  const r = c.r;
  const alpha = c.lora_alpha;
  if (typeof r !== "number" || !Number.isInteger(r) || r <= 0) refuse(`r must be a positive integer (got ${JSON.stringify(r)}).`);
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) refuse(`lora_alpha must be a positive number (got ${JSON.stringify(alpha)}).`);
  const targets = typeof c.target_modules === "string" ? [c.target_modules] : c.target_modules;
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === "string")) refuse("target_modules must name the modules (a list of names such as q_proj).");
  const unknown = (targets as string[]).filter((t) => !(t in moduleNames));
  if (unknown.length > 0)
    refuse(
      `the adapter targets modules the base model lacks or that llama.cpp cannot adapt: ${unknown.join(", ")} (supported: ${Object.keys(moduleNames).join(", ")}).`,
    );
  return {
    r: r as number,
    alpha: alpha as number,
    rslora: c.use_rslora === true,
    targetModules: targets as string[],
    ...(typeof c.base_model_name_or_path === "string" ? { baseModel: c.base_model_name_or_path } : {}),
  };
}

const peftKey = /^base_model\.model\.(?:model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)|(lm_head))\.lora_([AB])(?:\.default)?\.weight$/;

/**
 * Reorders the rows of a torch [rows, r] matrix the way llama.cpp's `permute(weights, n_head, n_head_kv)` does:
 * rows.reshape(n_head, 2, rows/n_head/2).swapaxes(1, 2).
 */
function permuteRows(bytes: Buffer, rows: number, rowBytes: number, heads: number): Buffer {
  if (rows % (heads * 2) !== 0) throw new LoraConversionError(`cannot reorder ${rows} rows into ${heads} rotary heads.`);
  const half = rows / heads / 2;
  const out = Buffer.alloc(bytes.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const from = h * 2 * half + i * half + j;
        const to = h * 2 * half + j * 2 + i;
        bytes.copy(out, to * rowBytes, from * rowBytes, (from + 1) * rowBytes);
      }
    }
  }
  return out;
}

interface ConvertedAdapter {
  path: string;
  architecture: string;
  rank: number;
  alpha: number;
  tensorPairs: number;
  baseModel?: string;
}

interface PeftFiles {
  config: string;
  weights: string;
}

/** The two files of a PEFT adapter folder. */
function peftFiles(folder: string): PeftFiles {
  return { config: path.join(folder, "adapter_config.json"), weights: path.join(folder, "adapter_model.safetensors") };
}

/** Converts a PEFT adapter folder for `base` into a GGUF LoRA adapter at `out` (written through a temporary name). */
export async function convertPeftAdapter(folder: string, base: BaseModelShape, out: string): Promise<ConvertedAdapter> {
  const files = peftFiles(folder);
  let configText: string;
  try {
    configText = await readFile(files.config, "utf8");
  } catch {
    throw new LoraConversionError(`${folder} is not a PEFT adapter folder: ${path.basename(files.config)} is missing.`);
  }
  const config = readConfig(configText, files.config);
  try {
    await stat(files.weights);
  } catch {
    throw new LoraConversionError(`${folder} is not a PEFT adapter folder: ${path.basename(files.weights)} is missing.`);
  }
  const arch = architectures[base.architecture];
  if (!arch) {
    throw new LoraConversionError(
      `The base model's architecture is ${base.architecture}; adapters can be converted for ${Object.keys(architectures).join(", ")} models.`,
    );
  }
  let safetensors;
  try {
    safetensors = await readSafetensors(files.weights);
  } catch (error) {
    throw new LoraConversionError(error instanceof Error ? error.message : String(error));
  }
  const pairs = new Map<string, { a?: SafeTensor; b?: SafeTensor; module: string; block?: number }>();
  for (const tensor of safetensors.tensors.values()) {
    const m = peftKey.exec(tensor.name);
    if (!m) {
      const why = /lora_magnitude_vector/.test(tensor.name)
        ? "a DoRA magnitude vector"
        : /lora_embedding/.test(tensor.name)
          ? "an embedding adapter"
          : "not a LoRA weight of a supported module";
      throw new LoraConversionError(`${files.weights}: tensor ${tensor.name} is ${why}; it cannot be converted.`);
    }
    const module = m[2] ?? m[3] ?? "";
    const gguf = moduleNames[module];
    if (!gguf) throw new LoraConversionError(`${files.weights}: tensor ${tensor.name} adapts ${module}, which llama.cpp cannot adapt.`);
    const block = m[1] !== undefined ? Number(m[1]) : undefined;
    const target = block !== undefined ? `blk.${block}.${gguf}.weight` : `${gguf}.weight`;
    const pair = pairs.get(target) ?? { module, ...(block !== undefined ? { block } : {}) };
    if (m[4] === "A") pair.a = tensor;
    else pair.b = tensor;
    pairs.set(target, pair);
  }
  if (pairs.size === 0) throw new LoraConversionError(`${files.weights} holds no LoRA weights.`);

  const tensors: GgufTensor[] = [];
  let rank: number | undefined;
  for (const [target, { a, b, module, block }] of pairs) {
    if (!a || !b) throw new LoraConversionError(`${files.weights}: ${target} has lora_${a ? "A" : "B"} but no lora_${a ? "B" : "A"}.`);
    const w = base.tensors.get(target);
    if (!w) {
      if (target === "output.weight" && base.tensors.has("token_embd.weight")) {
        throw new LoraConversionError(
          "The adapter adapts lm_head, but the base model's output is tied to its token embeddings (it has token_embd.weight and no output.weight): llama.cpp has no output tensor of its own to apply it to. Train without lm_head in target_modules.",
        );
      }
      const blocks = block !== undefined && block >= base.blockCount ? ` (it has ${base.blockCount} blocks)` : "";
      throw new LoraConversionError(`The base model has no ${target}${blocks}: this adapter was made for another model.`);
    }
    const [inDim, outDim] = w;
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new LoraConversionError(`${files.weights}: the LoRA weights of ${module} must be matrices.`);
    const [aRank, aIn] = a.shape as [number, number];
    const [bOut, bRank] = b.shape as [number, number];
    if (aRank !== bRank) throw new LoraConversionError(`${files.weights}: rank mismatch for ${target}: lora_A has rank ${aRank}, lora_B ${bRank}.`);
    if (aRank !== config.r) throw new LoraConversionError(`${files.weights}: ${target} has rank ${aRank}, but adapter_config.json says r = ${config.r}.`);
    if (aIn !== inDim || bOut !== outDim) {
      throw new LoraConversionError(
        `Shape mismatch for ${target}: the adapter maps ${aIn} -> ${bOut}, the base model's weight ${inDim} -> ${outDim}. This adapter was made for another model.`,
      );
    }
    for (const t of [a, b]) {
      const bad = firstNonFinite(t);
      if (bad >= 0) throw new LoraConversionError(`${files.weights}: tensor ${t.name} has a non-finite value (NaN or infinity) at element ${bad}.`);
    }
    rank = aRank;
    let bBytes = b.bytes;
    if (arch.permuteQk && (module === "q_proj" || module === "k_proj")) {
      const heads = module === "q_proj" ? base.headCount : base.headCountKv;
      bBytes = permuteRows(b.bytes, bOut, bRank * dtypeBytes[b.dtype], heads);
    }
    tensors.push({ name: `${target}.lora_a`, type: a.dtype, shape: [aIn, aRank], bytes: a.bytes });
    tensors.push({ name: `${target}.lora_b`, type: b.dtype, shape: [bRank, bOut], bytes: bBytes });
  }
  const r = rank ?? config.r;
  // llama.cpp scales by alpha / r; rsLoRA scales by alpha / sqrt(r).
  const alpha = config.rslora ? config.alpha * Math.sqrt(r) : config.alpha;
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeGguf(out, {
    metadata: [
      { key: "general.architecture", type: "string", value: base.architecture },
      { key: "general.type", type: "string", value: "adapter" },
      { key: "general.name", type: "string", value: path.basename(path.resolve(folder)) },
      { key: "adapter.type", type: "string", value: "lora" },
      { key: "adapter.lora.alpha", type: "float32", value: alpha },
    ],
    tensors,
  });
  return { path: out, architecture: base.architecture, rank: r, alpha, tensorPairs: pairs.size, ...(config.baseModel ? { baseModel: config.baseModel } : {}) };
}

/**
 * Where an automatic conversion goes: named by a hash of the adapter's files and the base, so the same inputs reuse
 * one file and different inputs never share a path (node-llama-cpp caches adapters by path).
 */
async function convertedAdapterPath(folder: string, basePath: string, outDir: string): Promise<string> {
  const files = peftFiles(folder);
  const hash = createHash("sha256");
  for (const file of [files.config, files.weights]) {
    const s = await stat(file);
    hash.update(`${path.resolve(file)}|${s.size}|${s.mtimeMs}\n`);
  }
  const b = await stat(basePath);
  hash.update(`${path.resolve(basePath)}|${b.size}|${b.mtimeMs}|v1`);
  return path.join(outDir, `${path.basename(path.resolve(folder))}-${hash.digest("hex").slice(0, 12)}.gguf`);
}

/**
 * The GGUF adapter converted from a PEFT folder for a base model, made once (its name comes from its inputs) in
 * `outDir`; `onConvert` is told when a conversion actually runs.
 */
export async function ensureConvertedAdapter(folder: string, basePath: string, outDir: string, onConvert?: () => void): Promise<string> {
  const out = await convertedAdapterPath(folder, basePath, outDir);
  if (!existsSync(out)) {
    onConvert?.();
    await convertPeftAdapter(folder, await readBaseModelShape(basePath), out);
  }
  return out;
}
