/**
 * Checks a GGUF file before llama.cpp loads it: keys and values whose absence or wrong value makes llama.cpp abort
 * the whole process (GGML_ASSERT, a division by zero, an out-of-bounds read) rather than fail with an error, and
 * weights that are not finite numbers. Each problem comes back as one plain sentence. No node-llama-cpp here.
 */
import { open } from "node:fs/promises";
import { GGML_TYPE } from "./format.js";
import { metaValue, type GgufHeader, type GgufScalar, type GgufTensorInfo } from "./reader.js";

/** Architectures with the usual transformer hyper-parameters. Others are passed through to llama.cpp as they are. */
const transformerArchitectures = new Set([
  "llama",
  "qwen2",
  "qwen3",
  "qwen2moe",
  "qwen3moe",
  "gemma",
  "gemma2",
  "gemma3",
  "phi3",
  "mistral",
  "starcoder2",
  "deepseek",
  "deepseek2",
  "granite",
  "stablelm",
  "olmo",
  "olmo2",
  "smollm3",
  "codeshell",
  "internlm2",
  "command-r",
]);

/** llama.cpp's LLAMA_MAX_LAYERS and LLAMA_MAX_EXPERTS: more aborts it. */
const MAX_LAYERS = 512;
const MAX_EXPERTS = 1024;
const ropeScalingTypes = new Set(["none", "linear", "yarn", "longrope"]);

const requiredKeys = ["context_length", "block_count", "embedding_length", "feed_forward_length", "attention.head_count"];

type Header = Pick<GgufHeader, "metadata"> & Partial<Pick<GgufHeader, "tensors">>;

const isInteger = (v: GgufScalar | readonly GgufScalar[] | undefined): v is number => typeof v === "number" && Number.isInteger(v);

/** An integer key: undefined when absent, else its value or a problem. */
function integer(h: Header, key: string): number | undefined | { problem: string } {
  const v = metaValue(h, key);
  if (v === undefined) return undefined;
  if (typeof v === "bigint") return { problem: `${key} is ${v}, far beyond any real model` };
  if (!isInteger(v)) return { problem: `${key} should be a whole number but is ${describe(v)}` };
  return v;
}

function describe(v: GgufScalar | readonly GgufScalar[]): string {
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === "number") return String(Number(v.toPrecision(6)));
  return typeof v === "string" ? `the text ${JSON.stringify(v.slice(0, 40))}` : String(v);
}

/** A per-layer key (a number, or one number per layer): its values, or a problem. */
function perLayer(h: Header, key: string, layers: number): number[] | undefined | { problem: string } {
  const v = metaValue(h, key);
  if (v === undefined) return undefined;
  if (Array.isArray(v)) {
    if (v.length !== layers) return { problem: `${key} lists ${v.length} values for ${layers} layers` };
    if (!v.every(isInteger)) return { problem: `${key} should list whole numbers` };
    return v as number[];
  }
  const one = integer(h, key);
  return typeof one === "number" ? [one] : one;
}

const isProblem = (v: unknown): v is { problem: string } => typeof v === "object" && v !== null && "problem" in v;

/** Returns a plain-words problem with the model's metadata and tensor table, or undefined when it looks loadable. */
export function checkModel(h: Header): string | undefined {
  const architecture = metaValue(h, "general.architecture");
  if (typeof architecture !== "string" || architecture === "") return "it has no general.architecture, so it is not a model llama.cpp can run.";
  if (metaValue(h, "general.type") === "adapter") return "it is an adapter (LoRA), not a model: load it on its base model.";
  const a = (key: string): string => `${architecture}.${key}`;
  if (transformerArchitectures.has(architecture)) {
    const missing = requiredKeys.filter((key) => metaValue(h, a(key)) === undefined);
    if (missing.length > 0) return `it is missing ${missing.map(a).join(", ")}.`;
  }
  const problem = checkHyperParameters(h, architecture) ?? checkVocabulary(h);
  return problem ? `${problem}.` : undefined;
}

function checkHyperParameters(h: Header, architecture: string): string | undefined {
  const a = (key: string): string => `${architecture}.${key}`;
  const blocks = integer(h, a("block_count"));
  if (isProblem(blocks)) return blocks.problem;
  if (blocks !== undefined && (blocks < 1 || blocks > MAX_LAYERS))
    return `${a("block_count")} is ${blocks}; llama.cpp runs models of 1 to ${MAX_LAYERS} layers`;
  const nextn = integer(h, a("nextn_predict_layers"));
  if (isProblem(nextn)) return nextn.problem;
  if (nextn !== undefined && blocks !== undefined && nextn > blocks)
    return `${a("nextn_predict_layers")} (${nextn}) is more than ${a("block_count")} (${blocks})`;
  for (const key of ["context_length", "embedding_length"]) {
    const v = integer(h, a(key));
    if (isProblem(v)) return v.problem;
    if (v !== undefined && v < 1) return `${a(key)} is ${v}; it must be at least 1`;
  }
  const layers = blocks ?? 1;
  const heads = perLayer(h, a("attention.head_count"), layers);
  const kvHeads = perLayer(h, a("attention.head_count_kv"), layers);
  const ff = perLayer(h, a("feed_forward_length"), layers);
  for (const [key, values] of [
    ["attention.head_count", heads],
    ["attention.head_count_kv", kvHeads],
    ["feed_forward_length", ff],
  ] as const) {
    if (isProblem(values)) return values.problem;
    if (transformerArchitectures.has(architecture) && values?.some((v) => v < 1)) {
      return `${a(key)} is ${values.length === 1 ? values[0] : `0 for layer ${values.findIndex((v) => v < 1)}`}; a transformer needs at least 1`;
    }
  }
  if (Array.isArray(heads) && Array.isArray(kvHeads)) {
    const at = heads.findIndex((n, i) => {
      const kv = kvHeads.length === 1 ? kvHeads[0] : kvHeads[i];
      return kv !== undefined && kv > 0 && n % kv !== 0;
    });
    if (at >= 0)
      return `${a("attention.head_count")} (${heads[at]}) is not a multiple of ${a("attention.head_count_kv")} (${kvHeads.length === 1 ? kvHeads[0] : kvHeads[at]})`;
  }
  for (const key of ["attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"]) {
    const v = metaValue(h, a(key));
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) return `${a(key)} is ${describe(v)}; it must be a small number that is not negative`;
  }
  const rope = integer(h, a("rope.dimension_count"));
  if (isProblem(rope)) return rope.problem;
  if (rope !== undefined && rope < 1) return `${a("rope.dimension_count")} is ${rope}; it must be at least 1`;
  const scaling = metaValue(h, a("rope.scaling.type"));
  if (scaling !== undefined && (typeof scaling !== "string" || !ropeScalingTypes.has(scaling))) {
    return `${a("rope.scaling.type")} is ${describe(scaling)}; llama.cpp knows ${[...ropeScalingTypes].join(", ")}`;
  }
  return checkExperts(h, a);
}

function checkExperts(h: Header, a: (key: string) => string): string | undefined {
  const values = ["expert_count", "expert_used_count", "expert_group_count", "expert_group_used_count"].map((key) => integer(h, a(key)));
  const bad = values.find(isProblem);
  if (bad) return bad.problem;
  const [experts = 0, used = 0, groups = 0, groupsUsed = 0] = values as (number | undefined)[];
  if (experts > MAX_EXPERTS) return `${a("expert_count")} is ${experts}; llama.cpp allows at most ${MAX_EXPERTS}`;
  if (used > experts) return `${a("expert_used_count")} (${used}) is more than ${a("expert_count")} (${experts})`;
  if (experts > 0) {
    if (used < 1) return `${a("expert_used_count")} must be at least 1 in a model with ${experts} experts`;
    if (groups >= experts) return `${a("expert_group_count")} (${groups}) must be less than ${a("expert_count")} (${experts})`;
    if (groups > 1 && (experts % groups !== 0 || groupsUsed < 1 || groupsUsed >= groups)) {
      return `the expert groups (${groups} groups, ${groupsUsed} used, ${experts} experts) are inconsistent`;
    }
  } else if (groups !== 0) {
    return `${a("expert_group_count")} is ${groups} in a model without experts`;
  }
  return undefined;
}

function checkVocabulary(h: Header): string | undefined {
  const tokens = metaValue(h, "tokenizer.ggml.tokens");
  if (tokens === undefined) return undefined;
  if (!Array.isArray(tokens) || tokens.length === 0) return "tokenizer.ggml.tokens should be a non-empty list of tokens";
  const seen = new Map<GgufScalar, number>();
  for (let id = 0; id < tokens.length; id++) {
    const token = tokens[id] as GgufScalar;
    if (typeof token !== "string") return "tokenizer.ggml.tokens should be a list of strings";
    const first = seen.get(token);
    if (first !== undefined) {
      return `the token ${JSON.stringify(token.slice(0, 40))} appears twice in tokenizer.ggml.tokens (ids ${first} and ${id}); llama.cpp cannot load a vocabulary with duplicate tokens`;
    }
    seen.set(token, id);
  }
  for (const key of ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"]) {
    const v = metaValue(h, key);
    if (v !== undefined && (!Array.isArray(v) || v.length !== tokens.length)) {
      return `${key} has ${Array.isArray(v) ? v.length : "no"} entries for ${tokens.length} tokens`;
    }
  }
  return undefined;
}

/** A LoRA adapter meant for a model of `architecture`: a plain-words problem, or undefined when it looks loadable. */
export function checkAdapter(h: Header, architecture: string | undefined): string | undefined {
  if (metaValue(h, "general.type") !== "adapter" || metaValue(h, "adapter.type") !== "lora") {
    return 'it is not a LoRA adapter (general.type must be "adapter" and adapter.type "lora").';
  }
  const own = metaValue(h, "general.architecture");
  if (typeof own !== "string") return "it has no general.architecture (a text naming the base model's architecture).";
  if (architecture !== undefined && own !== architecture) return `it was made for a ${own} model, and the model is ${architecture}.`;
  const alpha = h.metadata.get("adapter.lora.alpha");
  if (alpha && (alpha.type !== "float32" || typeof alpha.value !== "number" || !Number.isFinite(alpha.value))) {
    return `adapter.lora.alpha must be a finite float32 (it is ${alpha.type === "array" ? "a list" : `${alpha.type} ${String(alpha.value)}`}).`;
  }
  const badType = h.tensors?.find((t) => t.type !== GGML_TYPE.F32 && t.type !== GGML_TYPE.F16 && t.type !== GGML_TYPE.BF16);
  if (badType) return `its tensor ${badType.name} is ${badType.typeName}; adapter tensors must be F32, F16 or BF16.`;
  return undefined;
}

const scannable = new Set<number>([GGML_TYPE.F32, GGML_TYPE.F16, GGML_TYPE.BF16]);

interface NonFiniteWeight {
  tensor: string;
  index: number;
  value: "NaN" | "Infinity" | "-Infinity";
}

/**
 * Looks for NaN or infinite values in the tensors stored as F32, F16 or BF16 (norm weights in every model, all of a
 * float model), smallest first, up to `budgetBytes`. Quantized tensors are left to the check after loading (the
 * warm-up's first token).
 */
export async function findNonFiniteWeights(
  filePath: string,
  header: Pick<GgufHeader, "tensors" | "dataOffset">,
  options: { budgetBytes?: number; onProgress?: (scannedBytes: number) => void; signal?: AbortSignal } = {},
): Promise<{ found?: NonFiniteWeight; scannedBytes: number; skipped: number }> {
  const budget = options.budgetBytes ?? 64 * 1024 * 1024;
  const candidates = header.tensors.filter((t) => scannable.has(t.type)).sort((x, y) => x.byteSize - y.byteSize);
  const handle = await open(filePath, "r");
  const chunk = Buffer.allocUnsafeSlow(1 << 20);
  let scannedBytes = 0;
  let skipped = 0;
  try {
    for (const t of candidates) {
      if (scannedBytes + t.byteSize > budget) {
        skipped += 1;
        continue;
      }
      options.signal?.throwIfAborted();
      const found = await scanTensor(handle, chunk, header.dataOffset, t);
      scannedBytes += t.byteSize;
      options.onProgress?.(scannedBytes);
      if (found) return { found, scannedBytes, skipped };
    }
  } finally {
    await handle.close();
  }
  return { scannedBytes, skipped };
}

async function scanTensor(
  handle: Awaited<ReturnType<typeof open>>,
  chunk: Buffer,
  dataOffset: number,
  t: GgufTensorInfo,
): Promise<NonFiniteWeight | undefined> {
  const width = t.type === GGML_TYPE.F32 ? 4 : 2;
  const perChunk = chunk.length - (chunk.length % width);
  for (let done = 0; done < t.byteSize; done += perChunk) {
    const length = Math.min(perChunk, t.byteSize - done);
    const { bytesRead } = await handle.read(chunk, 0, length, dataOffset + t.offset + done);
    const base = done / width;
    if (width === 4) {
      const values = new Float32Array(chunk.buffer, chunk.byteOffset, bytesRead / 4);
      for (let i = 0; i < values.length; i++) {
        const v = values[i] as number;
        // v - v is 0 for every finite number and NaN for NaN and both infinities.
        if (v - v !== 0) return { tensor: t.name, index: base + i, value: Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity" };
      }
    } else {
      const bits = new Uint16Array(chunk.buffer, chunk.byteOffset, bytesRead / 2);
      // F16: exponent 0x7c00 all ones; BF16: exponent 0x7f80 all ones. Either way NaN or infinity.
      const exponent = t.type === GGML_TYPE.F16 ? 0x7c00 : 0x7f80;
      const mantissa = t.type === GGML_TYPE.F16 ? 0x03ff : 0x007f;
      for (let i = 0; i < bits.length; i++) {
        const b = bits[i] as number;
        if ((b & exponent) === exponent) {
          return { tensor: t.name, index: base + i, value: (b & mantissa) !== 0 ? "NaN" : b & 0x8000 ? "-Infinity" : "Infinity" };
        }
      }
    }
  }
  return undefined;
}
