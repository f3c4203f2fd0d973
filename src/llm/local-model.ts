/**
 * LocalModel: a GGUF model in the model worker, seen by the engine as a ClarifyModel. After a worker crash it loads
 * the last good model again on the next conversation, so one bad moment costs one request, not the session.
 */
import type { ClarifyModel, ModelConversation, OpenConversationOptions, TurnOptions, TurnResult } from "../core/model.js";
import type { ModelWorker } from "./model-worker.js";
import { WorkerError, type EventOf, type LoadParams, type ModelInfo, type TurnParams } from "./protocol.js";

export type LoadProgress = EventOf<"load">;

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
  private current: ModelInfo | undefined;

  constructor(readonly worker: ModelWorker) {}

  get info(): ModelInfo | undefined {
    return this.current;
  }

  /** Loads a model (a path, or a URI to download), replacing the one loaded before. */
  async load(params: LoadParams, onProgress?: (event: LoadProgress) => void, signal?: AbortSignal): Promise<ModelInfo> {
    this.loadedWith = undefined;
    this.current = undefined;
    const info = await this.worker.request("load", params, { ...(onProgress ? { onEvent: onProgress } : {}), ...(signal ? { signal } : {}) });
    this.loadedWith = { params: { ...params, model: info.path }, workerStart: this.worker.starts };
    this.current = info;
    return info;
  }

  async unload(): Promise<void> {
    this.loadedWith = undefined;
    this.current = undefined;
    if (this.worker.running) await this.worker.request("unload", {});
  }

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    await this.reloadAfterCrash();
    const { conversationId } = await this.worker.request("openConversation", {
      mode: options.mode,
      ...(options.systemPrompt !== undefined ? { systemPrompt: options.systemPrompt } : {}),
    });
    return new WorkerConversation(this.worker, conversationId);
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
  private lost: WorkerError | undefined;

  constructor(
    private readonly worker: ModelWorker,
    readonly id: string,
  ) {
    this.workerStart = worker.starts;
  }

  probe(message: string, prefix: string, options: readonly string[]): Promise<Record<string, number>> {
    return this.watch(() => this.worker.request("probe", { conversationId: this.id, message, prefix, options: [...options] })).then((r) => r.probabilities);
  }

  chat(message: string, options: TurnOptions): Promise<TurnResult> {
    return this.watch(() => this.worker.request("chat", { ...this.turn(options), message }, this.streaming(options)));
  }

  complete(text: string, options: TurnOptions & { stopStrings?: string[] }): Promise<TurnResult> {
    const stop = options.stopStrings ? { stopStrings: options.stopStrings } : {};
    return this.watch(() => this.worker.request("complete", { ...this.turn(options), text, ...stop }, this.streaming(options)));
  }

  async close(): Promise<void> {
    if (this.worker.running && this.worker.starts === this.workerStart && !this.lost) await this.worker.request("closeConversation", { conversationId: this.id });
  }

  /** Fails at once when the worker that held this conversation has ended; remembers why when a turn ends it. */
  private async watch<T>(request: () => Promise<T>): Promise<T> {
    if (this.lost) throw this.lost;
    if (this.worker.starts !== this.workerStart) {
      throw new WorkerError("worker-crashed", "The model worker restarted since this conversation began, so the conversation was lost: start it again.");
    }
    try {
      return await request();
    } catch (error) {
      if (error instanceof WorkerError && error.code === "worker-crashed") this.lost = error;
      throw error;
    }
  }

  /** What every turn sends: its conversation, limits, grammar and reply prefix. */
  private turn(options: TurnOptions): TurnParams {
    return {
      conversationId: this.id,
      maxTokens: options.maxTokens,
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.grammar ? { grammar: options.grammar } : {}),
      ...(options.responsePrefix ? { responsePrefix: options.responsePrefix } : {}),
    };
  }

  private streaming(options: TurnOptions): { onEvent?: (event: { kind: "chunk"; text: string }) => void; signal?: AbortSignal } {
    const onChunk = options.onChunk;
    return {
      ...(onChunk ? { onEvent: (event: { kind: "chunk"; text: string }) => onChunk(event.text) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
  }
}
