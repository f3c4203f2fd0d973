/**
 * LocalModel: a GGUF model in the model worker, seen by the engine as a ClarifyModel. After a worker crash it loads
 * the last good model again on the next conversation, so one bad moment costs one request, not the session.
 */
import type { ClarifyModel, Exchange, ModelConversation, OpenConversationOptions, TurnOptions, TurnResult } from "../core/model.js";
import type { ModelWorker } from "./model-worker.js";
import type { EventOf, LoadParams, ModelInfo, TurnParams } from "./protocol.js";

export type LoadProgress = EventOf<"load">;

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

  /** The loaded model's context size in tokens. */
  get contextSize(): number | undefined {
    return this.current?.contextSize;
  }

  async countTokens(text: string): Promise<number> {
    return (await this.worker.request("tokenize", { text })).count;
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

class WorkerConversation implements ModelConversation {
  constructor(
    private readonly worker: ModelWorker,
    readonly id: string,
  ) {}

  async probe(message: string, prefix: string, options: readonly string[]): Promise<Record<string, number>> {
    const { probabilities } = await this.worker.request("probe", { conversationId: this.id, message, prefix, options: [...options] });
    return probabilities;
  }

  chat(message: string, options: TurnOptions): Promise<TurnResult> {
    return this.worker.request("chat", { ...this.turn(options), message }, this.streaming(options));
  }

  complete(text: string, options: TurnOptions & { stopStrings?: string[] }): Promise<TurnResult> {
    const stop = options.stopStrings ? { stopStrings: options.stopStrings } : {};
    return this.worker.request("complete", { ...this.turn(options), text, ...stop }, this.streaming(options));
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

  async setHistory(exchanges: readonly Exchange[]): Promise<void> {
    await this.worker.request("setHistory", { conversationId: this.id, exchanges: exchanges.map((e) => ({ user: e.user, model: e.model })) });
  }

  async close(): Promise<void> {
    if (this.worker.running) await this.worker.request("closeConversation", { conversationId: this.id });
  }

  private streaming(options: TurnOptions): { onEvent?: (event: { kind: "chunk"; text: string }) => void; signal?: AbortSignal } {
    const onChunk = options.onChunk;
    return {
      ...(onChunk ? { onEvent: (event: { kind: "chunk"; text: string }) => onChunk(event.text) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
  }
}
