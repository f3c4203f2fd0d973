/**
 * Loading the model in use in the worker (with progress, downloading it first when it must be), once per set of load
 * parameters, and the model as the engine sees it (ClarifyModel). node-llama-cpp stays in the worker process.
 */
import * as vscode from "vscode";
import type { ClarifyModel, ModelConversation, OpenConversationOptions } from "../../core/model.js";
import type { ModelStatus } from "../../core/webview-protocol.js";
import { describePullProgress } from "../../llm/hub/library.js";
import { describeLoadProgress, LocalModel } from "../../llm/models/local.js";
import { isRemoteModel } from "../../llm/models/source.js";
import { ModelWorker } from "../../llm/worker/client.js";
import type { LoadParams, ModelInfo } from "../../llm/worker/protocol.js";
import { readModelLoadSettings } from "../config.js";
import { configuredModel, labelPart } from "./chosen.js";
import { DownloadNotification, pullFraction } from "./download-notification.js";
import { IdleUnload } from "./idle-unload.js";
import type { HubToken } from "./secrets.js";

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

export class ModelLoader implements vscode.Disposable, ClarifyModel {
  readonly worker: ModelWorker;
  readonly model: LocalModel;
  readonly idle: IdleUnload;
  private statusValue: ModelStatus = { status: "none", ...labelPart() };
  private loading: Promise<ModelInfo> | undefined;
  /** The load key of the model loaded or loading now. */
  private loadedKey: string | undefined;
  private readonly statusEmitter = new vscode.EventEmitter<ModelStatus>();
  readonly onDidChangeStatus = this.statusEmitter.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    workerPath: string,
    private readonly modelsDirectory: string,
    private readonly token: HubToken,
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
        void this.model.unload().then(() => this.setStatus({ status: "none", ...labelPart() }), () => undefined);
      },
    );
    this.disposables.push(this.statusEmitter, this.idle, {
      dispose: this.worker.onCrash((error) => {
        this.loadedKey = undefined;
        log.error(error.message);
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
  }

  /** Frees the model's memory; the next request loads it again. */
  async unload(): Promise<void> {
    this.loadedKey = undefined;
    await this.model.unload().catch(() => undefined);
    this.setStatus({ status: "none", ...labelPart() });
  }

  /** Loads the configured model unless it is already loaded (or loading), and reloads it after a worker crash. */
  async ensureLoaded(): Promise<ModelInfo> {
    const model = configuredModel();
    const params = this.loadParams(model);
    const key = loadKey(params);
    if (this.loading && this.loadedKey === key) return this.loading;
    if (this.loadedKey === key && this.model.info && this.worker.running) return this.model.info;
    this.loadedKey = key;
    const { label, demo } = labelPart();
    const tag = demo ? { demo } : {};
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
          this.setStatus({ status: "loading", label, downloading: true, progress: Math.min(1, Math.max(0, overall)), detail: describePullProgress(event), ...tag });
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
      return info;
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

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    await this.ensureLoaded();
    this.idle.touch();
    return this.idle.wrap(await this.model.openConversation(options));
  }

  /** The loaded model's context size (requests are fitted into it). */
  get contextSize(): number | undefined {
    return this.model.contextSize;
  }

  async countTokens(text: string): Promise<number> {
    await this.ensureLoaded();
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
