/** Loading a model: the file's checks, the model and its context, and unloading. */
import { open, stat } from "node:fs/promises";
import path from "node:path";
import { readGgufFileInfo, resolveChatWrapper, type ChatWrapper, type LlamaContext, type LlamaModel } from "node-llama-cpp";
import { checkMagic, checkModelMetadata } from "../gguf-check.js";
import { WorkerError, type LoadParams, type ModelInfo } from "../protocol.js";
import { messageOf, type RequestContext } from "./channel.mjs";
import { downloadModel } from "./download.mjs";
import { backendOf, threadsFor, type Backends } from "./gpu.mjs";

export interface LoadedModel {
  model: LlamaModel;
  context: LlamaContext;
  /** Resolved once per model: resolving it per conversation costs about a second on some templates. */
  chatWrapper: ChatWrapper;
  info: ModelInfo;
}

/** A file's first four bytes. */
async function readHead(file: string): Promise<Uint8Array> {
  const handle = await open(file, "r");
  try {
    const head = new Uint8Array(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
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
    const l = await this.backends.ensure(params.gpu ?? "auto", this.current !== undefined);
    await this.unload();
    let modelPath: string;
    if (/^(hf:|https?:)/.test(params.model)) {
      modelPath = await downloadModel(params, request);
    } else {
      modelPath = path.resolve(params.model);
    }
    let size: number;
    try {
      const s = await stat(modelPath);
      if (!s.isFile()) throw new Error("not a file");
      size = s.size;
    } catch {
      throw new WorkerError("invalid-model", `The model file ${modelPath} does not exist or is not a file.`);
    }
    if (size === 0) throw new WorkerError("invalid-model", `The model file ${modelPath} is empty.`);
    const magic = checkMagic(await readHead(modelPath));
    if (magic) throw new WorkerError("invalid-model", `${path.basename(modelPath)} cannot be loaded: ${magic}`);
    let info;
    try {
      info = await readGgufFileInfo(modelPath, { readTensorInfo: false });
    } catch (error) {
      throw new WorkerError("invalid-model", `${path.basename(modelPath)} is not a readable GGUF model file: ${messageOf(error)}`);
    }
    const problem = checkModelMetadata(info.metadata as unknown as Record<string, unknown>);
    if (problem) throw new WorkerError("invalid-model", `${path.basename(modelPath)} cannot be loaded: ${problem}`);

    let model: LlamaModel;
    try {
      model = await l.loadModel({
        modelPath,
        gpuLayers: l.gpu === false ? 0 : "auto",
        onLoadProgress: (progress) => request.emit({ kind: "load", progress }),
        loadSignal: request.signal,
      });
    } catch (error) {
      throw new WorkerError("load-failed", `Could not load ${path.basename(modelPath)}: ${messageOf(error)}${this.backends.logHint()}`);
    }
    const threads = threadsFor(params.threads);
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize: params.contextSize ?? { max: 8192 },
        sequences: params.sequences ?? 2,
        threads,
        ...(params.lora && params.lora.length > 0
          ? { lora: { adapters: params.lora.map((a) => ({ filePath: path.resolve(a.filePath), scale: a.scale ?? 1 })) } }
          : {}),
        failedCreationRemedy: false,
      });
    } catch (error) {
      await model.dispose();
      throw new WorkerError("load-failed", `Could not create a context for ${path.basename(modelPath)}: ${messageOf(error)}${this.backends.logHint()}`);
    }
    const meta = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
    const architecture = typeof meta.general?.architecture === "string" ? meta.general.architecture : undefined;
    const archMeta = architecture ? meta[architecture] : undefined;
    const name = typeof meta.general?.name === "string" ? meta.general.name : path.basename(modelPath, ".gguf");
    const result: ModelInfo = {
      path: modelPath,
      name,
      sizeBytes: size,
      ...(architecture ? { architecture } : {}),
      ...(typeof archMeta?.context_length === "number" ? { trainContextSize: archMeta.context_length } : {}),
      contextSize: context.contextSize,
      chatTemplate: typeof meta.tokenizer?.chat_template === "string",
      backend: backendOf(l),
      threads,
      loadMs: Math.round(performance.now() - started),
    };
    this.current = { model, context, chatWrapper: resolveChatWrapper(model), info: result };
    return result;
  }
}
