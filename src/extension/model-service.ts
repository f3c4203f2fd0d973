/**
 * The model as the extension sees it: which one is configured, loading it in the worker (with progress), its status
 * in the status bar, and the picker. node-llama-cpp stays in the worker process.
 */
import * as vscode from "vscode";
import type { ClarifyModel, ModelConversation, OpenConversationOptions } from "../core/model.js";
import type { ModelStatus } from "../core/webview-protocol.js";
import { LocalModel } from "../llm/local-model.js";
import { ModelWorker } from "../llm/model-worker.js";
import type { GpuChoice, LoadParams, ModelInfo } from "../llm/protocol.js";

const backendNames = { cpu: "CPU", cuda: "CUDA", vulkan: "Vulkan", metal: "Metal" } as const;

/** Thrown when a request needs a model and none is chosen: the surface offers the picker instead of failing. */
export class NoModelChosen extends Error {
  override name = "NoModelChosen";
  constructor() {
    super("No model is chosen yet: choose a local GGUF file or enter an hf: URI.");
  }
}

function gpuSetting(value: unknown): GpuChoice {
  return value === "cuda" || value === "vulkan" || value === "metal" ? value : value === "cpu" ? false : "auto";
}

/** A model named by a URI is downloaded (once) before it loads. */
export function isDownload(model: string): boolean {
  return /^(hf:|https?:\/\/)/i.test(model.trim());
}

export function modelLabel(model: string): string {
  if (model.startsWith("hf:")) return model.split("/").pop() ?? model;
  return model.split(/[\\/]/).pop() ?? model;
}

export class ModelService implements vscode.Disposable, ClarifyModel {
  readonly worker: ModelWorker;
  readonly model: LocalModel;
  private statusValue: ModelStatus = { status: "none" };
  private loading: Promise<ModelInfo> | undefined;
  private loadedKey: string | undefined;
  private readonly statusEmitter = new vscode.EventEmitter<ModelStatus>();
  readonly onDidChangeStatus = this.statusEmitter.event;
  private readonly statusBar: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.worker = new ModelWorker({
      workerPath: context.asAbsolutePath("dist/worker.mjs"),
      log: (level, message) => (level === "error" ? log.error(message) : level === "warn" ? log.warn(message) : log.info(message)),
    });
    this.model = new LocalModel(this.worker);
    this.statusBar = vscode.window.createStatusBarItem("clarifycoder.model", vscode.StatusBarAlignment.Right, 100);
    this.statusBar.name = "ClarifyCoder model";
    this.statusBar.command = "clarifycoder.pickModel";
    this.disposables.push(
      this.statusBar,
      this.statusEmitter,
      { dispose: this.worker.onCrash((error) => {
        this.loadedKey = undefined;
        log.error(error.message);
        this.setStatus({ status: "error", ...this.labelPart(), error: error.message });
      }) },
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("clarifycoder.model") || e.affectsConfiguration("clarifycoder.gpu") || e.affectsConfiguration("clarifycoder.threads") || e.affectsConfiguration("clarifycoder.contextSize")) {
          this.loadedKey = undefined;
          this.setStatus(this.configured() ? { status: "none", ...this.labelPart() } : { status: "none" });
          // A cleared setting frees the model's memory; a changed one loads the new model in its place.
          if (this.configured()) void this.ensureLoaded().catch(() => undefined);
          else void this.model.unload().catch(() => undefined);
        }
      }),
    );
    this.setStatus(this.configured() ? { status: "none", ...this.labelPart() } : { status: "none" });
    this.statusBar.show();
  }

  get status(): ModelStatus {
    return this.statusValue;
  }

  /** The configured model (a .gguf path or an hf: URI), if any. */
  configured(): string | undefined {
    const value = vscode.workspace.getConfiguration("clarifycoder").get<string>("model", "").trim();
    return value === "" ? undefined : value;
  }

  private loadParams(model: string): LoadParams {
    const config = vscode.workspace.getConfiguration("clarifycoder");
    const threads = config.get<number>("threads", 0);
    const contextSize = config.get<number>("contextSize", 0);
    return {
      model,
      gpu: gpuSetting(config.get("gpu")),
      modelsDirectory: vscode.Uri.joinPath(this.context.globalStorageUri, "models").fsPath,
      ...(threads > 0 ? { threads } : {}),
      ...(contextSize > 0 ? { contextSize } : {}),
    };
  }

  /** Starts loading the chosen model in the background, if there is one and nothing is loaded or loading. */
  warmUp(): void {
    if (this.configured() && this.statusValue.status === "none") void this.ensureLoaded().catch(() => undefined);
  }

  /** Loads the configured model unless it is already loaded (or loading), and reloads it after a worker crash. */
  async ensureLoaded(): Promise<ModelInfo> {
    const model = this.configured();
    if (!model) throw new NoModelChosen();
    const params = this.loadParams(model);
    const key = JSON.stringify(params);
    if (this.loading && this.loadedKey === key) return this.loading;
    if (this.loadedKey === key && this.model.info && this.worker.running) return this.model.info;
    this.loadedKey = key;
    const label = modelLabel(model);
    // A model to download says so at once: the first progress event can be long in coming (a slow or absent network).
    const downloading = isDownload(model);
    this.setStatus({ status: "loading", label, ...(downloading ? { downloading: true } : { progress: 0 }) });
    const loading = this.model.load(params, (event) => {
      const progress = event.kind === "download" ? (event.total > 0 ? event.loaded / event.total : 0) : event.progress;
      this.setStatus({ status: "loading", label, ...(event.kind === "download" ? { downloading: true } : {}), progress: Math.min(1, Math.max(0, progress)) });
    });
    this.loading = loading;
    try {
      const info = await loading;
      this.log.info(`Loaded ${info.path} on ${info.backend} with ${info.threads} threads in ${info.loadMs} ms.`);
      this.setStatus({ status: "ready", label, backend: backendNames[info.backend] });
      return info;
    } catch (error) {
      this.loadedKey = undefined;
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(message);
      this.setStatus({ status: "error", label, error: message });
      throw error;
    } finally {
      if (this.loading === loading) this.loading = undefined;
    }
  }

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    await this.ensureLoaded();
    return this.model.openConversation(options);
  }

  /** The loaded model's context size (requests are fitted into it). */
  get contextSize(): number | undefined {
    return this.model.contextSize;
  }

  async countTokens(text: string): Promise<number> {
    await this.ensureLoaded();
    return this.model.countTokens(text);
  }

  /** The model picker: a local GGUF file, or a URI to download. Saves the choice in the user's settings. */
  async pick(): Promise<boolean> {
    const current = this.configured();
    const items: (vscode.QuickPickItem & { id: string })[] = [
      { id: "file", label: "$(file) Choose a local GGUF file…", description: "a .gguf model on this machine" },
      { id: "uri", label: "$(cloud-download) Enter a model URI…", description: "hf:user/repo/file.gguf or https://…" },
    ];
    if (current) items.push({ id: "reload", label: "$(refresh) Reload the current model", description: modelLabel(current) });
    const choice = await vscode.window.showQuickPick(items, { title: "ClarifyCoder: choose a model", placeHolder: current ? `Current: ${current}` : "No model chosen yet" });
    if (!choice) return false;
    let model: string | undefined;
    if (choice.id === "file") {
      const files = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { "GGUF models": ["gguf"] }, openLabel: "Use this model" });
      model = files?.[0]?.fsPath;
    } else if (choice.id === "uri") {
      model = await vscode.window.showInputBox({
        title: "Model URI",
        placeHolder: "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        validateInput: (v) => (/^(hf:[^/\s]+\/[^/\s]+\/\S+\.gguf|https?:\/\/\S+)$/.test(v.trim()) ? undefined : "Enter hf:user/repo/file.gguf or an https:// URL of a .gguf file."),
      });
    } else {
      this.loadedKey = undefined;
      await this.ensureLoaded().catch(() => undefined);
      return true;
    }
    if (!model) return false;
    await vscode.workspace.getConfiguration("clarifycoder").update("model", model.trim(), vscode.ConfigurationTarget.Global);
    return true;
  }

  private labelPart(): { label?: string } {
    const model = this.configured();
    return model ? { label: modelLabel(model) } : {};
  }

  private setStatus(status: ModelStatus): void {
    this.statusValue = status;
    const label = status.label ?? "no model";
    switch (status.status) {
      case "none":
        this.statusBar.text = status.label ? `$(circle-outline) ${label}` : "$(circle-slash) ClarifyCoder: no model";
        this.statusBar.tooltip = status.label ? "ClarifyCoder: the model loads with the first request. Click to choose another." : "ClarifyCoder: choose a model";
        this.statusBar.backgroundColor = undefined;
        break;
      case "loading": {
        const percent = status.progress !== undefined ? ` ${Math.round(status.progress * 100)}%` : "";
        this.statusBar.text = status.downloading ? `$(cloud-download) Downloading ${label}…${percent}` : `$(loading~spin) ${label}${percent}`;
        this.statusBar.tooltip = status.downloading ? "ClarifyCoder: downloading the model (once)" : "ClarifyCoder: loading the model";
        this.statusBar.backgroundColor = undefined;
        break;
      }
      case "ready":
        this.statusBar.text = `$(check) ${label} · ${status.backend ?? "CPU"}`;
        this.statusBar.tooltip = `ClarifyCoder: ${label} is ready on ${status.backend ?? "CPU"}. Click to choose another model.`;
        this.statusBar.backgroundColor = undefined;
        break;
      case "error":
        this.statusBar.text = `$(error) ${label}`;
        this.statusBar.tooltip = `ClarifyCoder: ${status.error ?? "the model failed"}`;
        this.statusBar.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
        break;
    }
    this.statusEmitter.fire(status);
  }

  dispose(): void {
    void this.worker.stop();
    for (const d of this.disposables) d.dispose();
  }
}
