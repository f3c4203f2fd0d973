/**
 * Checks a GGUF file's metadata for keys whose absence makes llama.cpp abort the whole process (GGML_ASSERT) rather
 * than fail with an error, so the user gets a reason instead of a crashed worker.
 */

/** Architectures with the usual transformer hyper-parameters. Others are passed through to llama.cpp as they are. */
const transformerArchitectures = new Set([
  "llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "gemma", "gemma2", "gemma3", "phi3", "mistral", "starcoder2",
  "deepseek", "deepseek2", "granite", "stablelm", "olmo", "olmo2", "smollm3", "codeshell", "internlm2", "command-r",
]);

const requiredKeys = ["block_count", "embedding_length", "feed_forward_length", "attention.head_count"];

function lookup(tree: unknown, dotted: string): unknown {
  let node = tree;
  for (const part of dotted.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Returns a plain-words problem, or undefined when the metadata looks loadable. */
export function checkModelMetadata(metadata: Record<string, unknown>): string | undefined {
  const architecture = lookup(metadata, "general.architecture");
  if (typeof architecture !== "string" || architecture === "") return "it has no general.architecture.";
  if (lookup(metadata, "general.type") === "adapter") return "it is an adapter (LoRA), not a model: load it on its base model.";
  if (!transformerArchitectures.has(architecture)) return undefined;
  const missing = requiredKeys.filter((key) => lookup(metadata, `${architecture}.${key}`) === undefined);
  if (missing.length > 0) return `it is missing ${missing.map((k) => `${architecture}.${k}`).join(", ")}.`;
  return undefined;
}

/**
 * Checks a file's first bytes against GGUF's magic. A file that is not GGUF gets its first bytes named in hex: they are
 * binary, and printed as text they come out as noise ("got \"ѐ�g\"").
 */
export function checkMagic(head: Uint8Array): string | undefined {
  const shown = [...head.subarray(0, 4)].map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");
  if (head.length < 4) return `it is too short to be a GGUF file (${head.length} byte${head.length === 1 ? "" : "s"}: ${shown}).`;
  if (head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return undefined;
  return `it is not a GGUF file: a GGUF file starts with the bytes 0x47 0x47 0x55 0x46 ("GGUF"), this one with ${shown}.`;
}
