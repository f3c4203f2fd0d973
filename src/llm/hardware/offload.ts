import { metaValue, type GgufHeader } from "../gguf/reader.js";

/**
 * How much of a model goes on the GPU, and what to do when it does not fit: fewer layers, then the CPU, then a
 * smaller context, each step told to the user. Pure rules; the worker's loader applies them.
 */

/** The GPU layers setting: node-llama-cpp's choice ("auto"), every layer ("max"), or a count. */
export type GpuLayers = "auto" | "max" | number;

/** Reads the setting from any surface ("auto", "max", or a whole number); undefined with a reason when invalid. */
export function parseGpuLayers(value: unknown): { ok: true; value: GpuLayers } | { ok: false; reason: string } {
  if (value === undefined || value === null || value === "" || value === "auto") return { ok: true, value: "auto" };
  if (value === "max" || value === "all") return { ok: true, value: "max" };
  const n = typeof value === "number" ? value : typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (Number.isSafeInteger(n) && n >= 0) return { ok: true, value: n };
  return { ok: false, reason: `GPU layers must be auto, max or a whole number of layers (0 or more), not ${JSON.stringify(value)}` };
}

/**
 * The layer counts to try after `tried` layers did not fit, fewest last: half, a quarter, then none (the CPU).
 * `totalLayers` is the model's own count (its blocks plus the output layer).
 */
export function fewerLayers(tried: GpuLayers, totalLayers: number): number[] {
  const from = typeof tried === "number" ? Math.min(tried, totalLayers) : totalLayers;
  const steps = [Math.floor(from / 2), Math.floor(from / 4), 0];
  return steps.filter((n, i) => n < from && steps.indexOf(n) === i);
}

const outOfMemory = [
  /out of memory/i,
  /ErrorOutOfDeviceMemory|ErrorOutOfHostMemory/,
  /failed to allocate/i,
  /cudaMalloc failed/i,
  /unable to allocate/i,
  /not enough (v?ram|memory)/i,
  /too large for the available/i,
  /insufficient memory/i,
];

/** Whether an error (and llama.cpp's log lines around it) says memory ran out, so a smaller setup may work. */
export function isOutOfMemory(error: unknown, log: readonly string[] = []): boolean {
  if (error instanceof Error && (error.name === "InsufficientMemoryError" || error.constructor.name === "InsufficientMemoryError")) return true;
  const text = [error instanceof Error ? error.message : String(error), ...log].join("\n");
  return outOfMemory.some((pattern) => pattern.test(text));
}

const gb = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(1)} GB`;

/** What the user is told after a load that needed fewer GPU layers than asked for, or the CPU. */
export function offloadNotice(asked: GpuLayers, got: number, totalLayers: number, vram?: { free: number; total: number }): string | undefined {
  const wanted = asked === "auto" ? undefined : asked === "max" ? totalLayers : Math.min(asked, totalLayers);
  if (wanted !== undefined && got >= wanted) return undefined;
  if (wanted === undefined && got > 0) return undefined;
  const memory = vram ? ` (${gb(vram.free)} of its ${gb(vram.total)} free)` : "";
  if (got === 0) {
    return `The model did not fit in the GPU's memory${memory}, so it runs on the CPU, which is much slower. A smaller model or context size, or closing other programs that use the GPU, lets it run on the GPU.`;
  }
  return `Not all of the model fitted in the GPU's memory${memory}: ${got} of its ${totalLayers} layers run on the GPU and the rest on the CPU, which is slower. A smaller context size, or closing other programs that use the GPU, lets more of it on the GPU.`;
}

/** A context size asked for beyond what the model was trained on is clamped to it, with the reason. */
export function clampContextSize(asked: number | undefined, trainContextSize: number | undefined): { size?: number; max?: number; notice?: string } {
  if (asked === undefined || asked <= 0) return {};
  if (trainContextSize !== undefined && asked > trainContextSize) {
    return {
      size: trainContextSize,
      notice: `The context size ${asked.toLocaleString("en-US")} is larger than the ${trainContextSize.toLocaleString("en-US")} tokens this model was trained for, so ${trainContextSize.toLocaleString("en-US")} is used.`,
    };
  }
  return { size: asked };
}

/** The context the loader falls back to when the one asked for does not fit in memory: as much as fits, up to this. */
export const fallbackContextSize = 8192;

export function contextFallbackNotice(asked: number, got: number, reason: string): string {
  return `A context of ${asked.toLocaleString("en-US")} tokens does not fit in memory (${reason.replace(/\.$/, "")}), so ${got.toLocaleString("en-US")} tokens are used. Set a smaller context size to choose it yourself.`;
}

/**
 * The least memory a context's key/value cache takes (16-bit keys and values, every layer, every sequence), read from
 * the model's header; undefined for models whose cache is smaller than that (sliding-window or compressed attention)
 * or whose header does not say. A lower bound: when it exceeds the free memory, the context cannot fit, and
 * node-llama-cpp's own estimate (which took 49 s for a 2^27-token context here) need not run.
 */
export function minimumKvCacheBytes(header: Pick<GgufHeader, "metadata">, contextSize: number, sequences: number): number | undefined {
  const arch = metaValue(header, "general.architecture");
  if (typeof arch !== "string") return undefined;
  const get = (key: string): unknown => metaValue(header, `${arch}.${key}`);
  if (get("attention.sliding_window") !== undefined || get("attention.kv_lora_rank") !== undefined) return undefined;
  const layers = get("block_count");
  const embedding = get("embedding_length");
  const heads = get("attention.head_count");
  const kvHeads = get("attention.head_count_kv") ?? heads;
  if (typeof layers !== "number" || typeof embedding !== "number" || typeof heads !== "number" || typeof kvHeads !== "number" || heads < 1) return undefined;
  const keyLength = get("attention.key_length");
  const valueLength = get("attention.value_length");
  const headK = typeof keyLength === "number" ? keyLength : embedding / heads;
  const headV = typeof valueLength === "number" ? valueLength : embedding / heads;
  return layers * contextSize * sequences * kvHeads * (headK + headV) * 2;
}

export function cacheTooLargeReason(needed: number, free: number): string {
  return `its key/value cache alone needs at least ${gb(needed)}, and ${gb(free)} is free`;
}
