/**
 * The model as the chat sees it: the loader (and the engine's ClarifyModel), its status bar item, the picker, and
 * what a change of the settings does to the loaded model.
 */
import * as vscode from "vscode";
import type { ClarifyModel, ModelConversation, OpenConversationOptions } from "../../core/model.js";
import type { ClarifySettings } from "../../core/types.js";
import type { ModelStatus } from "../../core/webview-protocol.js";
import { defaultModelId } from "../../llm/hub/catalog.js";
import { ModelLibrary } from "../../llm/hub/library.js";
import { getConfig, isSetExplicitly, modelLoadSettings, onDidChangeConfig, Settings } from "../config.js";
import { configuredEntry, explicitModel, labelPart } from "./chosen.js";
import { ModelLoader } from "./loader.js";
import { ModelPicker } from "./picker.js";
import { HubToken, ServedKeys } from "./secrets.js";
import { ServedGate } from "./served-gate.js";
import { ModelStatusBar } from "./status-bar.js";

export class ModelService implements vscode.Disposable, ClarifyModel {
  private readonly loader: ModelLoader;
  private readonly picker: ModelPicker;
  private readonly token: HubToken;
  private readonly modelsDirectory: string;
  private readonly disposables: vscode.Disposable[] = [];
  readonly onDidChangeStatus: vscode.Event<ModelStatus>;

  constructor(context: vscode.ExtensionContext, log: vscode.LogOutputChannel) {
    this.modelsDirectory = vscode.Uri.joinPath(context.globalStorageUri, "models").fsPath;
    this.token = new HubToken(context.secrets);
    const served = { keys: new ServedKeys(context.secrets), gate: new ServedGate(context.globalState) };
    this.loader = new ModelLoader(context.asAbsolutePath("dist/worker.mjs"), this.modelsDirectory, this.token, served, log);
    this.picker = new ModelPicker(this.loader, () => this.library(), this.token, served, log);
    this.onDidChangeStatus = this.loader.onDidChangeStatus;
    const statusBar = new ModelStatusBar("clarifycoder.pickModel");
    this.disposables.push(
      this.loader,
      statusBar,
      this.loader.onDidChangeStatus((status) => statusBar.show(status)),
      onDidChangeConfig(modelLoadSettings, () => {
        this.loader.forget();
        this.loader.setStatus({ status: "none", ...labelPart() });
        // A cleared setting frees the model's memory (the default model loads with the next request); a changed one
        // loads the new model in its place, with no reload of the window.
        if (explicitModel()) void this.loader.ensureLoaded({ interactive: false }).catch(() => undefined);
        else void this.loader.model.unload().catch(() => undefined);
      }),
    );
    statusBar.show(this.loader.status);
    if (getConfig(Settings.preloadAtStartup)) setTimeout(() => this.warmUp(), 1500);
  }

  /** The models folder in the extension's global storage, and the hub token from secret storage. */
  private async library(): Promise<ModelLibrary> {
    return new ModelLibrary({ directory: this.modelsDirectory, ...(await this.token.downloadSettings()) });
  }

  get status(): ModelStatus {
    return this.loader.status;
  }

  /** The prompt style: the user's setting if they set one, else the one the catalog model is made for. */
  styleFor(style: ClarifySettings["style"]): ClarifySettings["style"] {
    return isSetExplicitly(Settings.style) ? style : (configuredEntry()?.style ?? style);
  }

  /**
   * Starts loading the model in the background when nothing is loaded or loading. The default model is not fetched
   * just because the view opened: only once it is downloaded, or with the first request.
   */
  warmUp(): void {
    if (this.loader.status.status !== "none") return;
    void (async () => {
      if (!explicitModel()) {
        const library = await this.library();
        const item = await library.item(library.require(defaultModelId));
        if (!item.downloaded) return;
      }
      await this.loader.ensureLoaded({ interactive: false });
    })().catch(() => undefined);
  }

  pick(): Promise<boolean> {
    return this.picker.pick();
  }

  openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    return this.loader.openConversation(options);
  }

  get contextSize(): number | undefined {
    return this.loader.contextSize;
  }

  countTokens(text: string): Promise<number> {
    return this.loader.countTokens(text);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
