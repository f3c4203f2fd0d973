/**
 * How a model is to be loaded, from what a surface holds (the extension's settings, a command's options) to the
 * worker's load parameters: built here once, so that every surface reads each setting by the same rules.
 */
import { modelRanges, numberInRange, type NumberRange } from "../../core/settings.js";
import { parseGpuChoice } from "../hardware/gpu-choice.js";
import { parseGpuLayers } from "../hardware/offload.js";
import type { LoadParams } from "../worker/protocol.js";

export interface LoadSettings {
  /** "auto", "cuda", "vulkan", "metal" or "cpu". */
  gpu?: unknown;
  /** "auto", "max" or a count of layers. */
  gpuLayers?: unknown;
  /** 0 or absent: the machine's physical cores. */
  threads?: unknown;
  /** 0 or absent: as much as fits. */
  contextSize?: unknown;
  modelsDirectory?: string | undefined;
  /** LoRA adapter files (GGUF, or a PEFT folder that is converted). Blank entries are skipped. */
  lora?: readonly unknown[] | undefined;
  sequences?: number | undefined;
}

export type LoadOptions = Omit<LoadParams, "model">;

function countIn(name: string, value: unknown, range: NumberRange, problems: string[]): number | undefined {
  if (value === undefined || value === null || value === "" || value === 0) return undefined;
  const n = typeof value === "number" ? numberInRange(String(value), range) : typeof value === "string" ? numberInRange(value, range) : undefined;
  if (n === undefined) problems.push(`${name} must be an integer from ${range.min} to ${range.max}, not ${JSON.stringify(value)}; using 0 (choose for me).`);
  return n === 0 ? undefined : n;
}

/** The load parameters, and a sentence for each value that was not valid (its default is used instead). */
export function readLoadSettings(input: LoadSettings): { load: LoadOptions; problems: string[] } {
  const problems: string[] = [];
  const gpu = parseGpuChoice(input.gpu);
  if (!gpu.ok) problems.push(`${gpu.reason}; using auto.`);
  const gpuLayers = parseGpuLayers(input.gpuLayers);
  if (!gpuLayers.ok) problems.push(`${gpuLayers.reason}; using auto.`);
  const threads = countIn("threads", input.threads, modelRanges.threads, problems);
  const contextSize = countIn("the context size", input.contextSize, modelRanges.contextSize, problems);
  const lora = (input.lora ?? []).filter((a): a is string => typeof a === "string" && a.trim() !== "");
  const load: LoadOptions = {
    gpu: gpu.ok ? gpu.value : "auto",
    gpuLayers: gpuLayers.ok ? gpuLayers.value : "auto",
    ...(threads !== undefined ? { threads } : {}),
    ...(contextSize !== undefined ? { contextSize } : {}),
    ...(input.modelsDirectory ? { modelsDirectory: input.modelsDirectory } : {}),
    ...(lora.length > 0 ? { lora: lora.map((filePath) => ({ filePath })) } : {}),
    ...(input.sequences !== undefined ? { sequences: input.sequences } : {}),
  };
  return { load, problems };
}
