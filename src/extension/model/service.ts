/**
 * The model as the extension sees it: which one is configured, loading it in the worker (with progress), its status
 * in the status bar, and the picker. node-llama-cpp stays in the worker process.
 */
import * as vscode from "vscode";
import type { ClarifyModel, ModelConversation, OpenConversationOptions } from "../../core/model.js";
import type { ClarifySettings } from "../../core/types.js";
import type { ModelStatus } from "../../core/webview-protocol.js";
import { catalogEntry, catalogIdOf, catalogScheme, defaultModelId, formatBytes, type CatalogEntry } from "../../llm/hub/catalog.js";
import { describePullProgress, ModelLibrary, type LibraryItem, type PullProgress } from "../../llm/hub/library.js";
import { describeLoadProgress, LocalModel } from "../../llm/models/local.js";
import { ModelWorker } from "../../llm/worker/client.js";
import { isRemoteModel } from "../../llm/models/source.js";
import { readLoadSettings } from "../../llm/models/load-settings.js";
import { type LoadParams, type ModelInfo } from "../../llm/worker/protocol.js";
import { recommend, type Recommendation } from "../../llm/hardware/recommend.js";

/** Where the Hugging Face token is kept: VS Code's secret storage, never the settings. */
const hubTokenKey = "clarifycoder.huggingFaceToken";

const backendNames = { cpu: "CPU", cuda: "CUDA", vulkan: "Vulkan", metal: "Metal" } as const;

/** Thrown when a request needs a model and none is chosen: the surface offers the picker instead of failing. */
export class NoModelChosen extends Error {
  override name = "NoModelChosen";
  constructor() {
    super("No model is chosen yet: choose a local GGUF file or enter an hf: URI.");
  }
}

export function modelLabel(model: string): string {
  const id = catalogIdOf(model);
  if (id !== undefined) return catalogEntry(id)?.name ?? id;
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
  private idleTimer: NodeJS.Timeout | undefined;
  /** Model calls running now (a turn, a probe): the idle unload never cuts one off. */
  private callsInFlight = 0;

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
        const keys = ["model", "gpu", "gpuLayers", "threads", "contextSize", "loraAdapters"];
        if (keys.some((k) => e.affectsConfiguration(`clarifycoder.${k}`))) {
          this.loadedKey = undefined;
          this.setStatus({ status: "none", ...this.labelPart() });
          // A cleared setting frees the model's memory (the default model loads with the next request); a changed one
          // loads the new model in its place, with no reload of the window.
          if (this.explicitModel()) void this.ensureLoaded().catch(() => undefined);
          else void this.model.unload().catch(() => undefined);
        }
        if (e.affectsConfiguration("clarifycoder.idleUnloadMinutes")) this.touch();
      }),
    );
    this.setStatus({ status: "none", ...this.labelPart() });
    this.statusBar.show();
    if (vscode.workspace.getConfiguration("clarifycoder").get<boolean>("preloadAtStartup", false)) {
      setTimeout(() => this.warmUp(), 1500);
    }
  }

  /** The models folder in the extension's global storage, and the hub token from secret storage. */
  async library(): Promise<ModelLibrary> {
    const token = await this.context.secrets.get(hubTokenKey);
    return new ModelLibrary({ directory: this.modelsDirectory(), ...(token ? { hub: { token } } : {}) });
  }

  private modelsDirectory(): string {
    return vscode.Uri.joinPath(this.context.globalStorageUri, "models").fsPath;
  }

  /** The model setting as the user wrote it (empty: nothing chosen, the catalog's default model is used). */
  explicitModel(): string | undefined {
    const value = vscode.workspace.getConfiguration("clarifycoder").get<string>("model", "").trim();
    return value === "" ? undefined : value;
  }

  /** The catalog entry of the model in use, if it is one. */
  private entry(): CatalogEntry | undefined {
    const id = catalogIdOf(this.configured());
    return id === undefined ? undefined : catalogEntry(id);
  }

  /** The prompt style: the user's setting if they set one, else the one the catalog model is made for. */
  styleFor(style: ClarifySettings["style"]): ClarifySettings["style"] {
    const inspected = vscode.workspace.getConfiguration("clarifycoder").inspect<string>("style");
    const explicit = inspected?.globalValue ?? inspected?.workspaceValue ?? inspected?.workspaceFolderValue;
    return explicit === undefined ? (this.entry()?.style ?? style) : style;
  }

  get status(): ModelStatus {
    return this.statusValue;
  }

  /** The model in use: the setting (a catalog model, a .gguf path or an hf: URI), else the catalog's default model (Qwen2.5-Coder 0.5B). */
  configured(): string {
    return this.explicitModel() ?? `${catalogScheme}${defaultModelId}`;
  }

  private loadParams(model: string): LoadParams {
    const config = vscode.workspace.getConfiguration("clarifycoder");
    const { load, problems } = readLoadSettings({
      gpu: config.get("gpu"),
      gpuLayers: config.get("gpuLayers"),
      threads: config.get("threads"),
      contextSize: config.get("contextSize"),
      lora: config.get<unknown[]>("loraAdapters", []),
      modelsDirectory: this.modelsDirectory(),
    });
    for (const problem of problems) this.log.warn(`clarifycoder settings: ${problem}`);
    return { model, ...load };
  }


  /**
   * Starts loading the model in the background when nothing is loaded or loading. The default model is not fetched
   * just because the view opened: only once it is downloaded, or with the first request.
   */
  warmUp(): void {
    if (this.statusValue.status !== "none") return;
    void (async () => {
      if (!this.explicitModel()) {
        const library = await this.library();
        const item = await library.item(library.require(defaultModelId));
        if (!item.downloaded) return;
      }
      await this.ensureLoaded();
    })().catch(() => undefined);
  }

  /** Unloads the model after `idleUnloadMinutes` without a turn, freeing its memory (0 keeps it loaded). */
  private touch(): void {
    clearTimeout(this.idleTimer);
    const minutes = vscode.workspace.getConfiguration("clarifycoder").get<number>("idleUnloadMinutes", 0);
    if (!(minutes > 0)) return;
    this.idleTimer = setTimeout(() => {
      if (!this.model.info || this.loading || this.callsInFlight > 0) return;
      this.loadedKey = undefined;
      this.log.info(`Unloading the model after ${minutes} idle minutes.`);
      void this.model.unload().then(() => this.setStatus({ status: "none", ...this.labelPart() }), () => undefined);
    }, minutes * 60_000);
  }

  /** Loads the configured model unless it is already loaded (or loading), and reloads it after a worker crash. */
  async ensureLoaded(): Promise<ModelInfo> {
    const model = this.configured();
    const params = this.loadParams(model);
    const key = JSON.stringify(params);
    if (this.loading && this.loadedKey === key) return this.loading;
    if (this.loadedKey === key && this.model.info && this.worker.running) return this.model.info;
    this.loadedKey = key;
    const { label, demo } = this.labelPart();
    const tag = demo ? { demo } : {};
    // A model to download says so at once: the first progress event can be long in coming (a slow or absent network).
    this.setStatus({ status: "loading", label, ...(isRemoteModel(model.trim()) ? { downloading: true } : { progress: 0 }), ...tag });
    const token = await this.context.secrets.get(hubTokenKey);
    this.model.downloads = token ? { hub: { token } } : {};
    const cancel = new AbortController();
    let notification: DownloadNotification | undefined;
    const loading = this.model.load(
      params,
      (event) => {
        if (event.kind === "download" && "phase" in event) {
          notification ??= new DownloadNotification(label, cancel);
          notification.report(event);
          const overall = (event.step - 1 + (event.total > 0 ? event.loaded / event.total : 0)) / event.steps;
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
      this.touch();
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
    this.touch();
    return new TouchingConversation(await this.model.openConversation(options), this);
  }

  /** Wraps each model call of a conversation: the model is in use while it runs, and idle from its end. */
  async inUse<T>(call: () => Promise<T>): Promise<T> {
    this.callsInFlight += 1;
    clearTimeout(this.idleTimer);
    try {
      return await call();
    } finally {
      this.callsInFlight -= 1;
      if (this.callsInFlight === 0) this.touch();
    }
  }

  /** What each catalog model needs, from the worker's GGUF insights; undefined when it cannot say within a few seconds. */
  private async recommendation(library: ModelLibrary, items: readonly LibraryItem[]): Promise<Recommendation | undefined> {
    const gpu = this.loadParams("").gpu;
    const estimate = this.worker.request("estimate", { models: library.estimateSources(items), contextSize: 4096, gpu });
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 8000));
    const result = await Promise.race([estimate.catch(() => undefined), timeout]);
    return result ? recommend(library.entries, result.hardware, result.estimates) : undefined;
  }

  /** The loaded model's context size (requests are fitted into it). */
  get contextSize(): number | undefined {
    return this.model.contextSize;
  }

  async countTokens(text: string): Promise<number> {
    await this.ensureLoaded();
    return this.model.countTokens(text);
  }

  /** The model picker: the catalog (the recommendation first, sizes, what is downloaded), a local file, a URI, adapters. */
  async pick(): Promise<boolean> {
    const current = this.configured();
    const library = await this.library();
    type Item = vscode.QuickPickItem & { action: string; id?: string };
    const itemsPromise = (async (): Promise<Item[]> => {
      const listed = await library.list();
      const rec = await this.recommendation(library, listed);
      const order = rec ? rec.assessments.map((a) => listed.find((i) => i.entry.id === a.id)).filter((i) => i !== undefined) : listed;
      const items: Item[] = [{ label: rec ? "Recommended for this machine" : "Catalog", kind: vscode.QuickPickItemKind.Separator, action: "" }];
      for (const item of order) {
        const e = item.entry;
        const assessment = rec?.assessments.find((a) => a.id === e.id);
        const size = formatBytes(e.size ?? e.approxBytes);
        const state = item.downloaded ? "downloaded" : item.partialBytes > 0 ? `${formatBytes(item.partialBytes)} downloaded, resumes` : "not downloaded";
        const using = current === `${catalogScheme}${e.id}` ? " · in use" : "";
        items.push({
          label: `${rec?.id === e.id ? "$(star-full)" : item.downloaded ? "$(check)" : "$(cloud-download)"} ${e.name}`,
          description: `${size} · ${state}${using}`,
          detail: `${e.summary} ${e.license}.${assessment ? ` ${assessment.fits ? "It" : "Not recommended: it"} ${assessment.reason}.` : ""}`,
          action: "catalog",
          id: e.id,
        });
        if (rec?.id === e.id) items.push({ label: "", kind: vscode.QuickPickItemKind.Separator, action: "" });
      }
      const adapters = vscode.workspace.getConfiguration("clarifycoder").get<string[]>("loraAdapters", []);
      items.push(
        { label: "Other models", kind: vscode.QuickPickItemKind.Separator, action: "" },
        { label: "$(file) Use GGUF file…", description: "a .gguf model on this machine", action: "file" },
        { label: "$(link) Enter a model URI…", description: "hf:user/repo/file.gguf or https://…", action: "uri" },
        { label: "Adapters and downloads", kind: vscode.QuickPickItemKind.Separator, action: "" },
        { label: "$(extensions) Add LoRA adapter…", description: "a PEFT folder (converted) or a GGUF adapter", action: "lora" },
        ...(adapters.length > 0 ? [{ label: "$(close) Remove the LoRA adapters", description: adapters.map((a) => a.split(/[\\/]/).pop()).join(", "), action: "clearLora" }] : []),
        { label: "$(trash) Delete downloaded models…", description: library.directory, action: "remove" },
        { label: "$(key) Set Hugging Face token…", description: "for gated or private models; kept in VS Code's secret storage", action: "token" },
        { label: "$(refresh) Reload the current model", description: modelLabel(current), action: "reload" },
      );
      return items;
    })();
    const choice = await vscode.window.showQuickPick(itemsPromise, {
      title: "ClarifyCoder: choose a model",
      placeHolder: `In use: ${modelLabel(current)}${this.explicitModel() ? "" : " (the default, used until you choose one)"}`,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!choice) return false;
    const config = vscode.workspace.getConfiguration("clarifycoder");
    let model: string | undefined;
    switch (choice.action) {
      case "catalog":
        model = `${catalogScheme}${choice.id ?? defaultModelId}`;
        break;
      case "file": {
        const files = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { "GGUF models": ["gguf"] }, openLabel: "Use this model" });
        model = files?.[0]?.fsPath;
        break;
      }
      case "uri":
        model = await vscode.window.showInputBox({
          title: "Model URI",
          placeHolder: "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
          validateInput: (v) => (/^(hf:[^/\s]+\/[^/\s]+(\/\S+\.gguf|:\S+)|https?:\/\/\S+)$/.test(v.trim()) ? undefined : "Enter hf:user/repo/file.gguf, hf:user/repo:Q4_K_M, or an https:// URL of a .gguf file."),
        });
        break;
      case "lora": {
        // One dialog cannot offer both: with files and folders allowed, Windows and Linux show a folder-only dialog.
        const kind = await vscode.window.showQuickPick(
          [
            { label: "A PEFT adapter folder", description: "adapter_config.json + adapter_model.safetensors; converted when the model loads", folder: true },
            { label: "A GGUF adapter file", description: ".gguf", folder: false },
          ],
          { title: "Add LoRA adapter" },
        );
        if (!kind) return false;
        const picked = await vscode.window.showOpenDialog(
          kind.folder
            ? { canSelectMany: false, canSelectFiles: false, canSelectFolders: true, openLabel: "Add this adapter" }
            : { canSelectMany: false, canSelectFiles: true, canSelectFolders: false, filters: { "GGUF adapters": ["gguf"] }, openLabel: "Add this adapter" },
        );
        const adapter = picked?.[0]?.fsPath;
        if (!adapter) return false;
        await config.update("loraAdapters", [...config.get<string[]>("loraAdapters", []), adapter], vscode.ConfigurationTarget.Global);
        return true;
      }
      case "clearLora":
        await config.update("loraAdapters", undefined, vscode.ConfigurationTarget.Global);
        return true;
      case "remove":
        return this.removeDownloads(library);
      case "token": {
        const token = await vscode.window.showInputBox({ title: "Hugging Face access token", password: true, placeHolder: "hf_… (empty to forget the saved token)", ignoreFocusOut: true });
        if (token === undefined) return false;
        if (token.trim() === "") await this.context.secrets.delete(hubTokenKey);
        else await this.context.secrets.store(hubTokenKey, token.trim());
        return true;
      }
      default:
        this.loadedKey = undefined;
        await this.ensureLoaded().catch(() => undefined);
        return true;
    }
    if (!model) return false;
    // A workspace's own model setting wins over the user's: the choice goes where it takes effect.
    const inspected = config.inspect<string>("model");
    if (inspected?.workspaceValue === undefined) {
      await config.update("model", model.trim(), vscode.ConfigurationTarget.Global);
      return true;
    }
    try {
      await config.update("model", model.trim(), vscode.ConfigurationTarget.Workspace);
      this.log.info("This workspace sets its own model, so the choice was saved in the workspace's settings.");
    } catch (error) {
      await config.update("model", model.trim(), vscode.ConfigurationTarget.Global);
      void vscode.window.showWarningMessage(
        `This workspace's settings choose their own model (clarifycoder.model), which wins over yours, and they could not be changed (${error instanceof Error ? error.message : String(error)}). Your choice is saved in your user settings: remove the workspace's setting to use it here.`,
      );
    }
    return true;
  }

  /** Lists the downloaded models with their sizes; deletes the ones picked, after asking. */
  private async removeDownloads(library: ModelLibrary): Promise<boolean> {
    const downloaded = (await library.list()).filter((i) => i.bytesOnDisk > 0 || i.partialBytes > 0);
    if (downloaded.length === 0) {
      void vscode.window.showInformationMessage(`No models are downloaded in ${library.directory}.`);
      return false;
    }
    const picked = await vscode.window.showQuickPick(
      downloaded.map((i) => ({ label: i.entry.name, description: formatBytes(i.bytesOnDisk + i.partialBytes), id: i.entry.id })),
      { title: "Delete downloaded models", canPickMany: true },
    );
    if (!picked || picked.length === 0) return false;
    const ok = await vscode.window.showWarningMessage(`Delete ${picked.map((p) => p.label).join(", ")}?`, { modal: true }, "Delete");
    if (ok !== "Delete") return false;
    if (picked.some((p) => this.configured() === `${catalogScheme}${p.id}`)) {
      this.loadedKey = undefined;
      await this.model.unload().catch(() => undefined);
      this.setStatus({ status: "none", ...this.labelPart() });
    }
    for (const p of picked) for (const file of await library.remove(p.id)) this.log.info(`Deleted ${file}`);
    return true;
  }

  private labelPart(): { label: string; demo?: boolean } {
    return { label: modelLabel(this.configured()), ...(this.entry()?.demo ? { demo: true } : {}) };
  }

  private setStatus(status: ModelStatus): void {
    this.statusValue = status;
    const label = status.label ?? "no model";
    switch (status.status) {
      case "none":
        this.statusBar.text = status.label ? `$(circle-outline) ${label}` : "$(circle-slash) ClarifyCoder: no model";
        this.statusBar.tooltip = status.demo
          ? "ClarifyCoder: a small demo model, downloaded and loaded with the first request. Click to choose a real one."
          : status.label
            ? "ClarifyCoder: the model loads with the first request. Click to choose another."
            : "ClarifyCoder: choose a model";
        this.statusBar.backgroundColor = undefined;
        break;
      case "loading": {
        const percent = status.progress !== undefined ? ` ${Math.round(status.progress * 100)}%` : "";
        const phase = status.detail && status.progress === undefined ? `: ${status.detail}` : "";
        this.statusBar.text = status.downloading ? `$(cloud-download) Downloading ${label}…${percent}` : `$(loading~spin) ${label}${phase}${percent}`;
        this.statusBar.tooltip = `ClarifyCoder: ${status.detail ?? (status.downloading ? "downloading the model (once)" : "loading the model")}`;
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
    clearTimeout(this.idleTimer);
    void this.worker.stop();
    for (const d of this.disposables) d.dispose();
  }
}

/** A cancellable notification with the download's bytes, speed and time left. */
class DownloadNotification {
  private progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
  private shown = 0;
  private finish!: () => void;

  constructor(label: string, cancel: AbortController) {
    const finished = new Promise<void>((resolve) => (this.finish = resolve));
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `ClarifyCoder: downloading ${label}`, cancellable: true },
      (progress, token) => {
        this.progress = progress;
        token.onCancellationRequested(() => cancel.abort());
        return finished;
      },
    );
  }

  report(p: PullProgress): void {
    const percent = ((p.step - 1 + (p.total > 0 ? p.loaded / p.total : 0)) / p.steps) * 100;
    const increment = Math.max(0, percent - this.shown);
    this.shown += increment;
    this.progress?.report({ increment, message: describePullProgress(p) });
  }

  done(): void {
    this.finish();
  }
}

/**
 * A conversation that tells the service while each of its calls uses the model (for the idle unload); whether it is
 * lost (the model was loaded again or unloaded since it opened) is the model's to say.
 */
class TouchingConversation implements ModelConversation {
  constructor(
    private readonly inner: ModelConversation,
    private readonly service: { inUse<T>(call: () => Promise<T>): Promise<T> },
  ) {}

  get lost(): boolean {
    return this.inner.lost === true;
  }

  probe(...args: Parameters<ModelConversation["probe"]>): ReturnType<ModelConversation["probe"]> {
    return this.service.inUse(() => this.inner.probe(...args));
  }

  chat(...args: Parameters<ModelConversation["chat"]>): ReturnType<ModelConversation["chat"]> {
    return this.service.inUse(() => this.inner.chat(...args));
  }

  complete(...args: Parameters<ModelConversation["complete"]>): ReturnType<ModelConversation["complete"]> {
    return this.service.inUse(() => this.inner.complete(...args));
  }

  setHistory(...args: Parameters<ModelConversation["setHistory"]>): ReturnType<ModelConversation["setHistory"]> {
    return this.service.inUse(() => this.inner.setHistory(...args));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
