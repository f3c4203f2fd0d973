/**
 * From what the user named to files the worker can load: a catalog id (`qwen2.5-coder-1.5b`, or `catalog:<id>` as
 * the extension's setting stores it) is pulled with everything it needs; an `hf:` URI or an https URL is downloaded
 * (verified); a path is used as it is. A PEFT adapter folder given as a LoRA is converted to GGUF for the base model,
 * to a path named by its inputs.
 */
import { existsSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { catalogIdOf } from "../hub/catalog.js";
import { ModelLibrary, type PullOptions } from "../hub/library.js";
import { ensureConvertedAdapter } from "../lora/convert.js";
import type { ModelStyle } from "../hub/catalog.js";

/** Where the command line keeps models: $CLARIFYCODER_MODELS_DIR, else the user's cache folder. */
export function defaultModelsDirectory(): string {
  if (process.env.CLARIFYCODER_MODELS_DIR) return path.resolve(process.env.CLARIFYCODER_MODELS_DIR);
  const cache =
    process.env.XDG_CACHE_HOME ??
    (process.platform === "win32" ? (process.env.LOCALAPPDATA ?? path.join(os.homedir(), "AppData", "Local")) : path.join(os.homedir(), ".cache"));
  return path.join(cache, "clarifycoder", "models");
}

export function isRemoteModel(spec: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(spec.trim());
}

interface ResolvedModel {
  modelPath: string;
  adapterPaths: string[];
  /** How a catalog model is meant to be prompted. */
  style?: ModelStyle;
  /** The catalog entry, when the model came from the catalog. */
  catalogId?: string;
}

/** The catalog id a model spec names, if it names one (a path that exists wins over an id). */
function catalogIdFor(spec: string, library: ModelLibrary): string | undefined {
  const id = catalogIdOf(spec.trim()) ?? spec.trim();
  if (catalogIdOf(spec.trim()) === undefined && existsSync(spec)) return undefined;
  return library.entries.some((e) => e.id === id) ? id : undefined;
}

export async function resolveModel(spec: string, adapters: readonly string[], library: ModelLibrary, options: PullOptions = {}): Promise<ResolvedModel> {
  const id = catalogIdFor(spec, library);
  let resolved: ResolvedModel;
  if (id) {
    const files = await library.pull(id, options);
    resolved = { modelPath: files.modelPath, adapterPaths: files.adapterPath ? [files.adapterPath] : [], style: files.style, catalogId: id };
  } else if (isRemoteModel(spec)) {
    resolved = { modelPath: await library.pullUri(spec.trim(), options), adapterPaths: [] };
  } else {
    resolved = { modelPath: path.resolve(spec), adapterPaths: [] };
  }
  for (const adapter of adapters) resolved.adapterPaths.push(await adapterFile(adapter, resolved.modelPath, library.directory));
  return resolved;
}

/** A GGUF adapter as it is; a PEFT folder converted for the base (once per distinct input). */
async function adapterFile(adapter: string, modelPath: string, modelsDirectory: string): Promise<string> {
  const full = path.resolve(adapter);
  let isFolder: boolean;
  try {
    isFolder = statSync(full).isDirectory();
  } catch {
    throw new Error(`The LoRA adapter ${full} does not exist.`);
  }
  if (!isFolder) return full;
  return ensureConvertedAdapter(full, modelPath, path.join(modelsDirectory, "adapters"));
}
