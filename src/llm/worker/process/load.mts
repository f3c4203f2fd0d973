/**
 * Loading a model: the file's checks (before llama.cpp sees it), the model and its context fitted to the memory
 * there is (fewer GPU layers, then the CPU, then a smaller context, each told to the user), the warm-up, and
 * unloading.
 */
import { stat } from "node:fs/promises";
import { freemem } from "node:os";
import path from "node:path";
import { resolveChatWrapper, type ChatWrapper, type Llama, type LlamaContext, type LlamaModel } from "node-llama-cpp";
import { checkAdapter, checkModel, findNonFiniteWeights } from "../../gguf/check.js";
import { GgufFormatError, metaValue, readGgufHeader, type GgufHeader } from "../../gguf/reader.js";
import { fileLabel, fileProblem, plainLoadError } from "../load-errors.js";
import {
  cacheTooLargeReason,
  clampContextSize,
  contextFallbackNotice,
  fallbackContextSize,
  fewerLayers,
  isOutOfMemory,
  minimumKvCacheBytes,
  offloadNotice,
  type GpuLayers,
} from "../../hardware/offload.js";
import { WorkerError, type LoadParams, type ModelInfo } from "../protocol.js";
import { noteProgress, type RequestContext } from "./channel.mjs";
import { backendOf, threadsFor, type Backends } from "./gpu.mjs";
import { warmUp } from "./warmup.mjs";

export interface LoadedModel {
  model: LlamaModel;
  context: LlamaContext;
  /** Resolved once per model: resolving it per conversation costs about a second on some templates. */
  chatWrapper: ChatWrapper;
  info: ModelInfo;
}

/** The one loaded model of this worker. */
export class ModelHost {
  private current: LoadedModel | undefined;
  private readonly unloadListeners: (() => void)[] = [];

  constructor(private readonly backends: Backends) {}

  get loaded(): LoadedModel | undefined {
    return this.current;
  }

  require(): LoadedModel {
    if (!this.current) throw new WorkerError("no-model", "No model is loaded.");
    return this.current;
  }

  /** Called before the model goes away: what holds its sequences or grammars lets them go. */
  onUnload(listener: () => void): void {
    this.unloadListeners.push(listener);
  }

  async unload(): Promise<boolean> {
    if (!this.current) return false;
    for (const listener of this.unloadListeners) listener();
    const l = this.current;
    this.current = undefined;
    await l.context.dispose();
    await l.model.dispose();
    return true;
  }

  async load(params: LoadParams, request: RequestContext<"load">): Promise<ModelInfo> {
    const started = performance.now();
    // The new model replaces the old one: unloaded first, so that it may also move to another backend.
    await this.unload();
    request.phase("starting llama.cpp");
    const l = await this.backends.ensure(params.gpu ?? "auto");
    const mark = this.backends.logMark();
    // A model to download was downloaded before the request (LocalModel resolves it): here it is a file.
    const modelPath = path.resolve(params.model);
    request.phase(`reading ${fileLabel(modelPath)}`);
    const header = await checkedHeader(modelPath);
    request.phase(`checking the weights of ${fileLabel(modelPath)}`);
    await checkWeights(modelPath, header, request.signal);
    const architecture = metaValue(header, "general.architecture");
    for (const adapter of params.lora ?? [])
      await checkAdapterFile(path.resolve(adapter.filePath), typeof architecture === "string" ? architecture : undefined);

    const notices: string[] = [];
    const trainContext = metaValue(header, `${String(architecture)}.context_length`);
    const trainContextSize = typeof trainContext === "number" ? trainContext : undefined;
    const clamped = clampContextSize(params.contextSize, trainContextSize);
    if (clamped.notice) notices.push(clamped.notice);
    let tooLarge: { asked: number; reason: string } | undefined;
    if (clamped.size !== undefined) {
      // A context whose cache cannot fit even in all the free memory falls back at once.
      const needed = minimumKvCacheBytes(header, clamped.size, params.sequences ?? 2);
      const vram = l.gpu === false ? 0 : ((await l.getVramState().catch(() => undefined))?.free ?? 0);
      const free = freemem() + vram;
      if (needed !== undefined && needed > free) {
        tooLarge = { asked: clamped.size, reason: cacheTooLargeReason(needed, free) };
        clamped.max = Math.min(clamped.size, fallbackContextSize);
        delete clamped.size;
      }
    }
    const blocks = metaValue(header, `${String(architecture)}.block_count`);
    const totalLayers = (typeof blocks === "number" ? blocks : 0) + 1;
    const threads = threadsFor(params.threads);
    const fitted = await this.fit(
      l,
      modelPath,
      params,
      { contextSize: clamped.size ?? (clamped.max !== undefined ? { max: clamped.max } : undefined), totalLayers, threads, notices, mark },
      request,
    );
    const { model, context } = fitted;
    if (tooLarge) notices.push(contextFallbackNotice(tooLarge.asked, context.contextSize, tooLarge.reason));

    const backend = backendOf(l);
    let warmup: ModelInfo["warmup"];
    try {
      request.emit({ kind: "warmup", backend });
      request.phase(backend === "cpu" ? "warming up" : "preparing the GPU (compiling its kernels)");
      warmup = await warmUp(model, context, backend, modelPath, request.signal);
    } catch (error) {
      await context.dispose();
      await model.dispose();
      if (error instanceof WorkerError) throw error;
      if (request.signal.aborted) throw new WorkerError("cancelled", `Loading ${path.basename(modelPath)} was stopped.`);
      throw new WorkerError(
        "load-failed",
        `${fileLabel(modelPath)} loaded, but its first evaluation failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }

    const name = metaValue(header, "general.name");
    const vram = l.gpu === false ? undefined : await l.getVramState().catch(() => undefined);
    const offload = l.gpu === false ? undefined : offloadNotice(params.gpuLayers ?? "auto", model.gpuLayers, totalLayers, vram);
    if (offload) notices.unshift(offload);
    const result: ModelInfo = {
      path: modelPath,
      name: typeof name === "string" && name !== "" ? name : path.basename(modelPath, ".gguf"),
      sizeBytes: header.fileSize,
      ...(typeof architecture === "string" ? { architecture } : {}),
      ...(trainContextSize !== undefined ? { trainContextSize } : {}),
      contextSize: context.contextSize,
      chatTemplate: typeof metaValue(header, "tokenizer.chat_template") === "string",
      backend,
      ...(l.gpu === false ? {} : { gpuDevices: await l.getGpuDeviceNames().catch(() => []) }),
      gpuLayers: model.gpuLayers,
      totalLayers,
      threads,
      loadMs: Math.round(performance.now() - started),
      warmup,
      notices,
    };
    this.current = { model, context, chatWrapper: resolveChatWrapper(model), info: result };
    return result;
  }

  /**
   * Loads the weights and makes the context, trying fewer GPU layers, then the CPU, when memory runs out, and at last
   * a smaller context. Errors other than running out of memory end it at once.
   */
  private async fit(
    l: Llama,
    modelPath: string,
    params: LoadParams,
    setup: { contextSize: number | { max: number } | undefined; totalLayers: number; threads: number; notices: string[]; mark: number },
    request: RequestContext<"load">,
  ): Promise<{ model: LlamaModel; context: LlamaContext }> {
    const asked: GpuLayers = l.gpu === false ? 0 : (params.gpuLayers ?? "auto");
    const ladder: GpuLayers[] = [asked, ...(l.gpu === false ? [] : fewerLayers(asked, setup.totalLayers))];
    /** The next rung below `used` layers (when known), or undefined at the bottom. */
    const below = (from: number, used: number | undefined): number | undefined => {
      for (let j = from + 1; j < ladder.length; j++) {
        const rung = ladder[j];
        if (used === undefined || (typeof rung === "number" && rung < used)) return j;
      }
      return undefined;
    };
    const cancelled = (): WorkerError => new WorkerError("cancelled", `Loading ${path.basename(modelPath)} was stopped.`);
    for (let i: number | undefined = 0; i !== undefined; ) {
      const layers: GpuLayers = ladder[i] ?? 0;
      request.phase(`loading the weights of ${fileLabel(modelPath)}${l.gpu === false ? "" : ` (GPU layers: ${layers})`}`);
      let model: LlamaModel;
      try {
        model = await this.backends.loadModel(l, {
          modelPath,
          gpuLayers: layers,
          onLoadProgress: (progress) => request.emit({ kind: "load", progress }),
          loadSignal: request.signal,
        });
      } catch (error) {
        if (request.signal.aborted) throw cancelled();
        const next: number | undefined = isOutOfMemory(error, this.backends.logSince(setup.mark))
          ? below(i, typeof layers === "number" ? layers : undefined)
          : undefined;
        if (next === undefined) throw new WorkerError("load-failed", plainLoadError("weights", error, modelPath, this.backends.logSince(setup.mark)));
        i = next;
        continue;
      }
      request.phase(`creating a context for ${fileLabel(modelPath)}`);
      try {
        return { model, context: await this.context(model, params, setup.contextSize, setup.threads) };
      } catch (error) {
        if (request.signal.aborted) {
          await model.dispose();
          throw cancelled();
        }
        if (!isOutOfMemory(error, this.backends.logSince(setup.mark))) {
          await model.dispose();
          throw new WorkerError("load-failed", plainLoadError("context", error, modelPath, this.backends.logSince(setup.mark)));
        }
        const next: number | undefined = model.gpuLayers > 0 ? below(i, model.gpuLayers) : undefined;
        if (next !== undefined) {
          await model.dispose();
          i = next;
          continue;
        }
        // No GPU layers left to give up: as much context as fits, if an exact size was asked for.
        const asked = typeof setup.contextSize === "number" ? setup.contextSize : undefined;
        try {
          if (asked === undefined) throw error;
          const context = await this.context(model, params, { max: Math.min(asked, fallbackContextSize) }, setup.threads);
          setup.notices.push(contextFallbackNotice(asked, context.contextSize, error instanceof Error ? error.message : String(error)));
          return { model, context };
        } catch (second) {
          await model.dispose();
          throw new WorkerError("load-failed", plainLoadError("context", second, modelPath, this.backends.logSince(setup.mark)));
        }
      }
    }
    throw new WorkerError("load-failed", `${fileLabel(modelPath)} could not be loaded.`);
  }

  private context(model: LlamaModel, params: LoadParams, contextSize: number | { max: number } | undefined, threads: number): Promise<LlamaContext> {
    return model.createContext({
      contextSize: contextSize ?? { max: fallbackContextSize },
      sequences: params.sequences ?? 2,
      threads,
      ...(params.lora && params.lora.length > 0
        ? { lora: { adapters: params.lora.map((a) => ({ filePath: path.resolve(a.filePath), scale: a.scale ?? 1 })) } }
        : {}),
      failedCreationRemedy: false,
    });
  }
}

/** The file's header, read and checked without llama.cpp: every problem is a sentence naming the file. */
async function checkedHeader(modelPath: string): Promise<GgufHeader> {
  let size: number;
  try {
    const s = await stat(modelPath);
    if (!s.isFile()) throw Object.assign(new Error("not a file"), { code: "EISDIR" });
    size = s.size;
  } catch (error) {
    throw new WorkerError("invalid-model", fileProblem("model file", modelPath, error));
  }
  if (size === 0) throw new WorkerError("invalid-model", `The model file ${modelPath} is empty.`);
  let header: GgufHeader;
  try {
    header = await readGgufHeader(modelPath);
  } catch (error) {
    if (error instanceof GgufFormatError)
      throw new WorkerError("invalid-model", `${path.basename(modelPath)} is not a readable GGUF model file: ${error.message}. (${modelPath})`);
    throw new WorkerError("invalid-model", fileProblem("model file", modelPath, error));
  }
  const problem = checkModel(header);
  if (problem) throw new WorkerError("invalid-model", `${path.basename(modelPath)} cannot be loaded: ${problem} (${modelPath})`);
  return header;
}

async function checkWeights(modelPath: string, header: GgufHeader, signal: AbortSignal): Promise<void> {
  const { found } = await findNonFiniteWeights(modelPath, header, { onProgress: noteProgress, signal });
  if (found) {
    throw new WorkerError(
      "invalid-model",
      `${path.basename(modelPath)} cannot be loaded: its tensor ${found.tensor} holds ${found.value} (at element ${found.index}), so every answer would be garbage. The file is corrupt, or was made from a model whose training diverged. (${modelPath})`,
    );
  }
}

async function checkAdapterFile(file: string, architecture: string | undefined): Promise<void> {
  let header: GgufHeader;
  try {
    header = await readGgufHeader(file);
  } catch (error) {
    if (error instanceof GgufFormatError)
      throw new WorkerError("invalid-model", `The LoRA adapter ${path.basename(file)} is not a readable GGUF file: ${error.message}. (${file})`);
    throw new WorkerError("invalid-model", fileProblem("LoRA adapter", file, error));
  }
  const problem = checkAdapter(header, architecture);
  if (problem) throw new WorkerError("invalid-model", `The LoRA adapter ${path.basename(file)} cannot be used: ${problem} (${file})`);
}
