/**
 * Opening the model in use, and the model as the engine sees it (ClarifyModel), whichever way it runs: a local model
 * loads in the worker (with progress, downloading it first when it must be), once per set of load parameters; a
 * served model (an OpenAI-compatible server's address) is an EndpointModel, with no worker and no idle unload, used
 * only once the served gate allows it. node-llama-cpp stays in the worker process.
 */
import * as vscode from "vscode";
import type { ClarifyModel, ModelConversation, OpenConversationOptions } from "../../core/model.js";
import type { ModelStatus } from "../../core/webview-protocol.js";
import { describePullProgress } from "../../llm/hub/library.js";
import { EndpointError, EndpointModel } from "../../llm/models/endpoint.js";
import { describeLoadProgress, LocalModel } from "../../llm/models/local.js";
import { servedAt } from "../../llm/models/served.js";
import { isRemoteModel } from "../../llm/models/source.js";
import { ModelWorker } from "../../llm/worker/client.js";
import type { LoadParams } from "../../llm/worker/protocol.js";
import { readModelLoadSettings } from "../config.js";
import { configuredModel, labelPart, modelLabel } from "./chosen.js";
import { DownloadNotification, pullFraction } from "./download-notification.js";
import { IdleUnload } from "./idle-unload.js";
import type { HubToken, ServedKeys } from "./secrets.js";
import { servedSpecOf } from "./served-choice.js";
import type { ServedGate } from "./served-gate.js";

const backendNames = { cpu: "CPU", cuda: "CUDA", vulkan: "Vulkan", metal: "Metal" } as const;

/** Each load parameter as it takes part in the load key; the compiler makes every parameter named here. */
const keyParts: { [K in keyof Required<LoadParams>]: (value: LoadParams[K]) => string } = {
  model: (v) => v,
  modelsDirectory: (v) => v ?? "",
  downloadStallMs: (v) => String(v ?? ""),
  gpu: (v) => String(v ?? ""),
  gpuLayers: (v) => String(v ?? ""),
  threads: (v) => String(v ?? ""),
  contextSize: (v) => String(v ?? ""),
  sequences: (v) => String(v ?? ""),
  lora: (v) => (v ?? []).map((a) => `${a.filePath}@${a.scale ?? ""}`).join("|"),
};

/** What makes two loads the same: every load parameter, each by name. */
function loadKey(params: LoadParams): string {
  const part = <K extends keyof LoadParams>(name: K): string => `${name}=${keyParts[name](params[name])}`;
  return (Object.keys(keyParts) as (keyof LoadParams)[]).map(part).join("\n");
}

/** A served model in use: the endpoint, what makes two the same (address, model, key), its model's name. */
interface Served {
  key: string;
  endpoint: EndpointModel;
  name: string;
}

/** How long the server's model list may take when a served model is opened. */
const servedListTimeoutMs = 15_000;

export class ModelLoader implements vscode.Disposable, ClarifyModel {
  readonly worker: ModelWorker;
  readonly model: LocalModel;
  readonly idle: IdleUnload;
  private statusValue: ModelStatus = { status: "none", ...labelPart() };
  private loading: Promise<unknown> | undefined;
  /** The served model in use, when the setting names one (and it was opened). */
  private served: Served | undefined;
  private servedOpening: { key: string; done: Promise<void> } | undefined;
  /** The load key of the model loaded or loading now. */
  private loadedKey: string | undefined;
  private readonly statusEmitter = new vscode.EventEmitter<ModelStatus>();
  readonly onDidChangeStatus = this.statusEmitter.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    workerPath: string,
    private readonly modelsDirectory: string,
    private readonly token: HubToken,
    private readonly servedAccess: { keys: ServedKeys; gate: ServedGate },
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.worker = new ModelWorker({
      workerPath,
      log: (level, message) => (level === "error" ? log.error(message) : level === "warn" ? log.warn(message) : log.info(message)),
    });
    this.model = new LocalModel(this.worker);
    this.idle = new IdleUnload(
      () => this.model.info !== undefined && this.loading === undefined,
      (minutes) => {
        this.loadedKey = undefined;
        this.log.info(`Unloading the model after ${minutes} idle minutes.`);
        void this.model.unload().then(
          () => this.setStatus({ status: "none", ...labelPart() }),
          () => undefined,
        );
      },
    );
    this.disposables.push(this.statusEmitter, this.idle, {
      dispose: this.worker.onCrash((error) => {
        this.loadedKey = undefined;
        log.error(error.message);
        // A served model does not run in the worker (which the picker may still use to read model files).
        if (servedSpecOf(configuredModel())) return;
        this.setStatus({ status: "error", ...labelPart(), error: error.message });
      }),
    });
  }

  get status(): ModelStatus {
    return this.statusValue;
  }

  /** The load parameters of `model` from the settings (a value that is not valid is logged, and its default used). */
  loadParams(model: string): LoadParams {
    const { load, problems } = readModelLoadSettings(this.modelsDirectory);
    for (const problem of problems) this.log.warn(`clarifycoder settings: ${problem}`);
    return { model, ...load };
  }

  /** The next ensureLoaded loads the model again, whatever is loaded now. */
  forget(): void {
    this.loadedKey = undefined;
    this.served = undefined;
  }

  /** Whether the model in use is a served one (opened or not). */
  get isServed(): boolean {
    return servedSpecOf(configuredModel()) !== undefined;
  }

  /** Frees the model's memory; the next request loads it again. */
  async unload(): Promise<void> {
    this.loadedKey = undefined;
    this.served = undefined;
    await this.model.unload().catch(() => undefined);
    this.setStatus({ status: "none", ...labelPart() });
  }

  /**
   * Loads the configured model unless it is already loaded (or loading), and reloads it after a worker crash; a
   * served model is opened instead. Not `interactive` (a warm-up, a changed setting), a served address the user must
   * first allow is left for the next request to ask about.
   */
  async ensureLoaded(options: { interactive?: boolean } = {}): Promise<void> {
    const model = configuredModel();
    const served = servedSpecOf(model);
    if (served) return this.ensureServed(model, served, options.interactive ?? true);
    this.served = undefined;
    await this.ensureLocal(model);
  }

  private async ensureLocal(model: string): Promise<void> {
    const params = this.loadParams(model);
    const key = loadKey(params);
    if (this.loading && this.loadedKey === key) return void (await this.loading);
    if (this.loadedKey === key && this.model.info && this.worker.running) return;
    this.loadedKey = key;
    const { label, where, demo } = labelPart();
    const tag = { where, ...(demo ? { demo } : {}) };
    // A model to download says so at once: the first progress event can be long in coming (a slow or absent network).
    this.setStatus({ status: "loading", label, ...(isRemoteModel(model.trim()) ? { downloading: true } : { progress: 0 }), ...tag });
    this.model.downloads = await this.token.downloadSettings();
    const cancel = new AbortController();
    let notification: DownloadNotification | undefined;
    const loading = this.model.load(
      params,
      (event) => {
        if (event.kind === "download" && "phase" in event) {
          notification ??= new DownloadNotification(label, cancel);
          notification.report(event);
          const overall = pullFraction(event);
          this.setStatus({
            status: "loading",
            label,
            downloading: true,
            progress: Math.min(1, Math.max(0, overall)),
            detail: describePullProgress(event),
            ...tag,
          });
        } else {
          // Loading into memory, then the warm-up ("Preparing the GPU (first time only)"): the status bar and the chat say which.
          const { task, progress } = describeLoadProgress(event);
          const detail = event.kind === "load" ? "Loading into memory" : task;
          this.setStatus({ status: "loading", label, ...(progress !== undefined ? { progress } : {}), detail, ...tag });
        }
      },
      cancel.signal,
    );
    this.loading = loading;
    try {
      const info = await loading;
      this.log.info(
        `Loaded ${info.path} on ${info.backend}${info.backend === "cpu" ? "" : ` (${info.gpuLayers} of ${info.totalLayers} layers on the GPU)`} with ${info.threads} threads, context ${info.contextSize}, in ${info.loadMs} ms (warm-up ${info.warmup.ms} ms).`,
      );
      for (const notice of info.notices) {
        this.log.warn(notice);
        void vscode.window.showWarningMessage(`ClarifyCoder: ${notice}`);
      }
      this.setStatus({ status: "ready", label, backend: backendNames[info.backend], ...tag });
      this.idle.touch();
    } catch (error) {
      this.loadedKey = undefined;
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(message);
      this.setStatus({ status: "error", label, error: message, ...tag });
      throw error;
    } finally {
      notification?.done();
      if (this.loading === loading) this.loading = undefined;
    }
  }

  /**
   * Opens the served model the setting names, once the gate allows it: the server's model list is asked for (so a
   * server that is down, or refuses the key, says so now, in the status), with the key saved for its origin.
   */
  private async ensureServed(model: string, spec: { baseUrl: string; model?: string }, interactive: boolean): Promise<void> {
    const where = servedAt(spec.baseUrl);
    const label = modelLabel(model);
    const gate = await this.servedAccess.gate.check(spec.baseUrl, interactive);
    if (!gate.ok) {
      this.served = undefined;
      if ("waiting" in gate) {
        this.setStatus({ status: "none", label, where });
        throw new Error(`Waiting for you to allow ${spec.baseUrl} with the next request.`);
      }
      this.log.warn(gate.message);
      this.setStatus({ status: "error", label, where, error: gate.message });
      throw new Error(gate.message);
    }
    // The local model's memory is not needed while a served one is in use.
    if (this.model.info) {
      this.loadedKey = undefined;
      void this.model.unload().catch(() => undefined);
    }
    const apiKey = await this.servedAccess.keys.get(spec.baseUrl);
    const key = `${model}\n${apiKey ?? ""}`;
    if (this.served?.key === key) return;
    if (this.servedOpening?.key === key) return this.servedOpening.done;
    const done = this.openServed(model, key, spec, apiKey, label, where);
    this.servedOpening = { key, done };
    try {
      await done;
    } finally {
      if (this.servedOpening?.done === done) this.servedOpening = undefined;
    }
  }

  private async openServed(
    model: string,
    key: string,
    spec: { baseUrl: string; model?: string },
    apiKey: string | undefined,
    label: string,
    where: string,
  ): Promise<void> {
    this.setStatus({ status: "loading", label, where, detail: `Connecting to ${spec.baseUrl}` });
    const endpoint = new EndpointModel({
      baseUrl: spec.baseUrl,
      ...(spec.model !== undefined ? { model: spec.model } : {}),
      ...(apiKey ? { apiKey } : {}),
      onNotice: (sentence) => {
        this.log.warn(sentence);
        void vscode.window.showWarningMessage(`ClarifyCoder: ${sentence}`);
      },
      onRetry: ({ attempt, waitMs, reason }) => this.log.warn(`Retry ${attempt} in ${Math.round(waitMs)} ms: ${reason}`),
    });
    try {
      const listed = await endpoint.listModels(AbortSignal.timeout(servedListTimeoutMs));
      const name = spec.model ?? listed[0];
      if (name === undefined)
        throw new EndpointError(`${endpoint.baseUrl}/models lists no model: choose one with ClarifyCoder: Choose Model… → Use a served model….`);
      // llama.cpp's server answers to any name; a server that serves no such model says so with the first request.
      if (!listed.includes(name)) this.log.warn(`${endpoint.baseUrl} does not list "${name}" (it lists ${listed.map((m) => `"${m}"`).join(", ") || "none"}).`);
      // The setting changed while the server was asked: the newer choice is opened by its own call.
      if (configuredModel() !== model) return;
      this.served = { key, endpoint, name };
      this.log.info(`Using ${name} ${where} (${endpoint.baseUrl}${apiKey ? ", with the API key saved for it" : ""}).`);
      this.setStatus({ status: "ready", label: name, where });
    } catch (error) {
      if (configuredModel() !== model) return;
      this.served = undefined;
      const message = explainServed(error, endpoint.baseUrl);
      this.log.error(message);
      this.setStatus({ status: "error", label, where, error: message });
      throw new Error(message, { cause: error });
    }
  }

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    await this.ensureLoaded();
    if (this.served) return new ServedConversation(await this.served.endpoint.openConversation(options), this.served.endpoint.baseUrl);
    this.idle.touch();
    return this.idle.wrap(await this.model.openConversation(options));
  }

  /** The loaded model's context size (requests are fitted into it); a served model's is the server's to know. */
  get contextSize(): number | undefined {
    return this.isServed ? undefined : this.model.contextSize;
  }

  async countTokens(text: string): Promise<number> {
    await this.ensureLoaded();
    // A served model has no tokenizer here and no context size (above): the engine fits nothing to it, and this
    // count, taken only to open the model, is a rough one.
    if (this.served) return Math.ceil(text.length / 4);
    return this.model.countTokens(text);
  }

  setStatus(status: ModelStatus): void {
    this.statusValue = status;
    this.statusEmitter.fire(status);
  }

  dispose(): void {
    void this.worker.stop();
    for (const d of this.disposables) d.dispose();
  }
}

/** An error opening a served model, in a sentence; a refused key says where the extension keeps it. */
function explainServed(error: unknown, baseUrl: string): string {
  if (error instanceof EndpointError && (error.status === 401 || error.status === 403)) {
    return `${baseUrl} refused the request (HTTP ${error.status}): the API key is missing or not accepted. Set it with ClarifyCoder: Choose Model… → Use a served model… (it is kept in VS Code's secret storage).`;
  }
  if (error instanceof Error && error.name === "TimeoutError")
    return `${baseUrl} did not answer within ${servedListTimeoutMs / 1000} s: is the server running, and is the address right?`;
  return error instanceof Error ? error.message : String(error);
}

/** A served model's conversation whose refused key says where the extension keeps keys (not the CLI's variables). */
class ServedConversation implements ModelConversation {
  constructor(
    private readonly inner: ModelConversation,
    private readonly baseUrl: string,
  ) {}

  private async explained<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof EndpointError && (error.status === 401 || error.status === 403))
        throw new EndpointError(explainServed(error, this.baseUrl), error.status);
      throw error;
    }
  }

  probe(...args: Parameters<ModelConversation["probe"]>): ReturnType<ModelConversation["probe"]> {
    return this.explained(() => this.inner.probe(...args));
  }

  chat(...args: Parameters<ModelConversation["chat"]>): ReturnType<ModelConversation["chat"]> {
    return this.explained(() => this.inner.chat(...args));
  }

  complete(...args: Parameters<ModelConversation["complete"]>): ReturnType<ModelConversation["complete"]> {
    return this.explained(() => this.inner.complete(...args));
  }

  setHistory(...args: Parameters<ModelConversation["setHistory"]>): ReturnType<ModelConversation["setHistory"]> {
    return this.inner.setHistory(...args);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
