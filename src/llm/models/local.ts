/**
 * LocalModel: a GGUF model in the model worker, seen by the engine as a ClarifyModel. After a worker crash it loads
 * the last good model again on the next conversation, so one bad moment costs one request, not the session.
 */
import type { ClarifyModel, Exchange, ModelConversation, OpenConversationOptions, ProbeOptions, TurnOptions, TurnResult } from "../../core/model.js";
import type { ModelStyle } from "../hub/catalog.js";
import { ModelLibrary, type LibraryOptions, type PullProgress } from "../hub/library.js";
import { defaultModelsDirectory, resolveModel } from "./source.js";
import type { ModelWorker } from "../worker/client.js";
import { WorkerError, type EventOf, type LoadParams, type ModelInfo, type ReadingEvent, type TurnEvent, type TurnParams } from "../worker/protocol.js";
import { DownloadError } from "../hub/download.js";

/** Loading progress: downloading (with bytes, speed and time left), then loading into memory. */
export type LoadProgress = EventOf<"load"> | ({ kind: "download" } & PullProgress);

/** Where models are downloaded and how the hub and PyPI are reached. */
export type DownloadSettings = Omit<LibraryOptions, "directory" | "stallMs">;

/**
 * What a surface shows for a load event: the task in words and how far it is (0..1), or no fraction when it cannot
 * be known (the warm-up). One definition for the status bar, the chat and the command line.
 */
export function describeLoadProgress(event: LoadProgress): { task: string; progress?: number } {
  const clamp = (x: number): number => Math.min(1, Math.max(0, x));
  switch (event.kind) {
    case "download":
      return { task: "Downloading", progress: clamp(event.total > 0 ? event.loaded / event.total : 0) };
    case "load":
      return { task: "Loading", progress: clamp(event.progress) };
    case "warmup":
      return { task: event.backend === "cpu" ? "Warming up" : "Preparing the GPU (first time only)" };
  }
}

export class LocalModel implements ClarifyModel {
  private loadedWith: { params: LoadParams; workerStart: number } | undefined;
  /** The GPU backend of the last model loaded, and the worker start it was loaded in. */
  private bindingOf: { gpu: NonNullable<LoadParams["gpu"]>; workerStart: number } | undefined;
  private current: ModelInfo | undefined;
  private currentStyle: ModelStyle | undefined;
  /** Counts loads and unloads: each drops the worker's conversations. */
  private generation = 0;

  constructor(
    readonly worker: ModelWorker,
    /** How downloads reach the hub and PyPI (a token read later from secret storage can be set before a load). */
    public downloads: DownloadSettings = {},
  ) {}

  get info(): ModelInfo | undefined {
    return this.current;
  }

  /** How the loaded model is meant to be prompted, when it came from the catalog. */
  get style(): ModelStyle | undefined {
    return this.currentStyle;
  }

  /**
   * Loads a model, replacing the one loaded before: a path, a catalog id, or an `hf:` URI / https URL downloaded
   * (verified) into `params.modelsDirectory` first. LoRA adapters may be GGUF files or PEFT folders (converted).
   */
  async load(params: LoadParams, onProgress?: (event: LoadProgress) => void, signal?: AbortSignal): Promise<ModelInfo> {
    this.generation += 1;
    this.loadedWith = undefined;
    this.current = undefined;
    this.currentStyle = undefined;
    const library = new ModelLibrary({
      ...this.downloads,
      directory: params.modelsDirectory ?? defaultModelsDirectory(),
      ...(params.downloadStallMs !== undefined ? { stallMs: params.downloadStallMs } : {}),
    });
    const lora = params.lora ?? [];
    let resolved;
    try {
      resolved = await resolveModel(
        params.model,
        lora.map((a) => a.filePath),
        library,
        {
          ...(signal ? { signal } : {}),
          ...(onProgress ? { onProgress: (p: PullProgress) => onProgress({ kind: "download", ...p }) } : {}),
        },
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof DownloadError) throw new WorkerError("download-failed", message);
      throw new WorkerError("invalid-model", message);
    }
    // The catalog's own adapter (ClarifyCoder's) comes first, then the ones asked for, each with its scale.
    const first = resolved.adapterPaths.length - lora.length;
    const adapters = resolved.adapterPaths.map((filePath, i) => {
      const scale = lora[i - first]?.scale;
      return { filePath, ...(scale !== undefined ? { scale } : {}) };
    });
    const local: LoadParams = { ...params, model: resolved.modelPath, ...(adapters.length > 0 ? { lora: adapters } : {}) };
    // Another GPU backend gets a fresh worker. In one process node-llama-cpp 3.21.1 gives a second llama.cpp binding
    // none of llama.cpp's log (the reasons in load errors, the signs of memory running out that the fallback reads),
    // and cannot dispose a binding that a failed load once held.
    const gpu = params.gpu ?? "auto";
    const bound = this.bindingOf;
    if (bound && this.worker.running && bound.workerStart === this.worker.starts && bound.gpu !== gpu) await this.worker.stop();
    const info = await this.worker.request("load", local, { ...(onProgress ? { onEvent: onProgress } : {}), ...(signal ? { signal } : {}) });
    this.bindingOf = { gpu, workerStart: this.worker.starts };
    this.currentStyle = resolved.style;
    this.loadedWith = { params: { ...local, model: info.path }, workerStart: this.worker.starts };
    this.current = info;
    return info;
  }

  /** The loaded model's context size in tokens. */
  get contextSize(): number | undefined {
    return this.current?.contextSize;
  }

  async countTokens(text: string): Promise<number> {
    return (await this.worker.request("tokenize", { text })).count;
  }

  async unload(): Promise<void> {
    this.generation += 1;
    this.loadedWith = undefined;
    this.current = undefined;
    this.currentStyle = undefined;
    if (this.worker.running) await this.worker.request("unload", {});
  }

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    await this.reloadAfterCrash();
    const { conversationId } = await this.worker.request("openConversation", {
      mode: options.mode,
      ...(options.systemPrompt !== undefined ? { systemPrompt: options.systemPrompt } : {}),
    });
    const openedIn = this.generation;
    return new WorkerConversation(this.worker, conversationId, () => this.generation !== openedIn);
  }

  private async reloadAfterCrash(): Promise<void> {
    const last = this.loadedWith;
    if (!last || (this.worker.running && last.workerStart === this.worker.starts)) return;
    await this.load(last.params);
  }
}

/**
 * A conversation lives in one worker process. When that process ends, the conversation ends with it: every later
 * turn fails with the reason the worker ended (not "the conversation is not open" from its successor).
 */
class WorkerConversation implements ModelConversation {
  private readonly workerStart: number;
  private lostTo: WorkerError | undefined;

  constructor(
    private readonly worker: ModelWorker,
    readonly id: string,
    /** Whether the model was loaded again or unloaded since this conversation opened (which drops every conversation). */
    private readonly modelChanged: () => boolean,
  ) {
    this.workerStart = worker.starts;
  }

  /** The model no longer holds this conversation: the engine opens a new one and gives it the history. */
  get lost(): boolean {
    return this.modelChanged();
  }

  probe(message: string, prefix: string, options: readonly string[], turn: ProbeOptions = {}): Promise<Record<string, number>> {
    const onReading = turn.onReading;
    return this.watch(() =>
      this.worker.request(
        "probe",
        { conversationId: this.id, message, prefix, options: [...options] },
        {
          ...(turn.signal ? { signal: turn.signal } : {}),
          ...(onReading ? { onEvent: (e: ReadingEvent) => onReading({ evaluated: e.evaluated, total: e.total }) } : {}),
        },
      ),
    ).then((r) => r.probabilities);
  }

  chat(message: string, options: TurnOptions): Promise<TurnResult> {
    return this.watch(() => this.worker.request("chat", { ...this.turn(options), message }, this.streaming(options)));
  }

  complete(text: string, options: TurnOptions & { stopStrings?: string[] }): Promise<TurnResult> {
    const stop = options.stopStrings ? { stopStrings: options.stopStrings } : {};
    return this.watch(() => this.worker.request("complete", { ...this.turn(options), text, ...stop }, this.streaming(options)));
  }

  async close(): Promise<void> {
    if (this.worker.running && this.worker.starts === this.workerStart && !this.lostTo && !this.lost)
      await this.worker.request("closeConversation", { conversationId: this.id });
  }

  /** Fails at once when the worker that held this conversation has ended; remembers why when a turn ends it. */
  private async watch<T>(request: () => Promise<T>): Promise<T> {
    if (this.lostTo) throw this.lostTo;
    if (this.worker.starts !== this.workerStart) {
      throw new WorkerError("worker-crashed", "The model worker restarted since this conversation began, so the conversation was lost: start it again.");
    }
    try {
      return await request();
    } catch (error) {
      if (error instanceof WorkerError && error.code === "worker-crashed") this.lostTo = error;
      throw error;
    }
  }

  /** What every turn sends: its conversation, limits, grammar and reply prefix. */
  private turn(options: TurnOptions): TurnParams {
    return {
      conversationId: this.id,
      maxTokens: options.maxTokens,
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.grammar ? { grammar: options.grammar } : {}),
      ...(options.responsePrefix ? { responsePrefix: options.responsePrefix } : {}),
    };
  }

  async setHistory(exchanges: readonly Exchange[]): Promise<void> {
    await this.watch(() => this.worker.request("setHistory", { conversationId: this.id, exchanges: exchanges.map((e) => ({ user: e.user, model: e.model })) }));
  }

  private streaming(options: TurnOptions): { onEvent?: (event: TurnEvent) => void; signal?: AbortSignal } {
    const { onChunk, onReading } = options;
    return {
      ...(onChunk || onReading
        ? {
            onEvent: (event: TurnEvent) => {
              if (event.kind === "chunk") onChunk?.(event.text);
              else onReading?.({ evaluated: event.evaluated, total: event.total });
            },
          }
        : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
  }
}
