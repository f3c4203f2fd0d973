/**
 * The model picker: the catalog (the recommendation first, sizes, what is downloaded), a local file, a URI, LoRA
 * adapters, deleting downloads, the Hugging Face token. Each entry is one action, carried out by its handler.
 */
import * as vscode from "vscode";
import { dispatch, type HandlerTable } from "../../core/dispatch.js";
import { catalogScheme, formatBytes } from "../../llm/hub/catalog.js";
import type { LibraryItem, ModelLibrary } from "../../llm/hub/library.js";
import { recommend, type Recommendation } from "../../llm/hardware/recommend.js";
import { getConfig, isSetByWorkspace, Settings, updateConfig } from "../config.js";
import { configuredModel, explicitModel, modelLabel } from "./chosen.js";
import type { ModelLoader } from "./loader.js";
import type { HubToken } from "./secrets.js";

/** What an entry of the picker does. */
type PickAction =
  | { type: "catalog"; id: string }
  | { type: "file" }
  | { type: "uri" }
  | { type: "lora" }
  | { type: "clearLora" }
  | { type: "remove" }
  | { type: "token" }
  | { type: "reload" };

type Item = vscode.QuickPickItem & { action?: PickAction };

const separator = (label: string): Item => ({ label, kind: vscode.QuickPickItemKind.Separator });

export class ModelPicker {
  constructor(
    private readonly loader: ModelLoader,
    private readonly library: () => Promise<ModelLibrary>,
    private readonly token: HubToken,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Shows the picker and carries out the choice; false when nothing was changed. */
  async pick(): Promise<boolean> {
    const current = configuredModel();
    const library = await this.library();
    const choice = await vscode.window.showQuickPick(this.items(library, current), {
      title: "ClarifyCoder: choose a model",
      placeHolder: `In use: ${modelLabel(current)}${explicitModel() ? "" : " (the default, used until you choose one)"}`,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!choice?.action) return false;
    return dispatch(this.handlers(library), choice.action);
  }

  private async items(library: ModelLibrary, current: string): Promise<Item[]> {
    const listed = await library.list();
    const rec = await this.recommendation(library, listed);
    const order = rec ? rec.assessments.map((a) => listed.find((i) => i.entry.id === a.id)).filter((i) => i !== undefined) : listed;
    const items: Item[] = [separator(rec ? "Recommended for this machine" : "Catalog")];
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
        action: { type: "catalog", id: e.id },
      });
      if (rec?.id === e.id) items.push(separator(""));
    }
    const adapters = getConfig(Settings.loraAdapters).filter((a) => typeof a === "string");
    items.push(
      separator("Other models"),
      { label: "$(file) Use GGUF file…", description: "a .gguf model on this machine", action: { type: "file" } },
      { label: "$(link) Enter a model URI…", description: "hf:user/repo/file.gguf or https://…", action: { type: "uri" } },
      separator("Adapters and downloads"),
      { label: "$(extensions) Add LoRA adapter…", description: "a PEFT folder (converted) or a GGUF adapter", action: { type: "lora" } },
      ...(adapters.length > 0
        ? [{ label: "$(close) Remove the LoRA adapters", description: adapters.map((a) => a.split(/[\\/]/).pop()).join(", "), action: { type: "clearLora" } } as const]
        : []),
      { label: "$(trash) Delete downloaded models…", description: library.directory, action: { type: "remove" } },
      { label: "$(key) Set Hugging Face token…", description: "for gated or private models; kept in VS Code's secret storage", action: { type: "token" } },
      { label: "$(refresh) Reload the current model", description: modelLabel(current), action: { type: "reload" } },
    );
    return items;
  }

  /** What each catalog model needs, from the worker's GGUF insights; undefined when it cannot say within a few seconds. */
  private async recommendation(library: ModelLibrary, items: readonly LibraryItem[]): Promise<Recommendation | undefined> {
    const gpu = this.loader.loadParams("").gpu;
    const estimate = this.loader.worker.request("estimate", { models: library.estimateSources(items), contextSize: 4096, gpu });
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 8000));
    const result = await Promise.race([estimate.catch(() => undefined), timeout]);
    return result ? recommend(library.entries, result.hardware, result.estimates) : undefined;
  }

  private handlers(library: ModelLibrary): HandlerTable<PickAction, Promise<boolean>> {
    return {
      catalog: (a) => this.choose(`${catalogScheme}${a.id}`),
      file: async () => {
        const files = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { "GGUF models": ["gguf"] }, openLabel: "Use this model" });
        return this.choose(files?.[0]?.fsPath);
      },
      uri: async () =>
        this.choose(
          await vscode.window.showInputBox({
            title: "Model URI",
            placeHolder: "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            validateInput: (v) =>
              /^(hf:[^/\s]+\/[^/\s]+(\/\S+\.gguf|:\S+)|https?:\/\/\S+)$/.test(v.trim())
                ? undefined
                : "Enter hf:user/repo/file.gguf, hf:user/repo:Q4_K_M, or an https:// URL of a .gguf file.",
          }),
        ),
      lora: () => this.addAdapter(),
      clearLora: async () => {
        await updateConfig(Settings.loraAdapters, undefined, vscode.ConfigurationTarget.Global);
        return true;
      },
      remove: () => this.removeDownloads(library),
      token: async () => {
        const token = await vscode.window.showInputBox({ title: "Hugging Face access token", password: true, placeHolder: "hf_… (empty to forget the saved token)", ignoreFocusOut: true });
        if (token === undefined) return false;
        await this.token.set(token);
        return true;
      },
      reload: async () => {
        this.loader.forget();
        await this.loader.ensureLoaded().catch(() => undefined);
        return true;
      },
    };
  }

  private async addAdapter(): Promise<boolean> {
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
    await updateConfig(Settings.loraAdapters, [...getConfig(Settings.loraAdapters), adapter], vscode.ConfigurationTarget.Global);
    return true;
  }

  /** Makes `model` the one in use; nothing when none was given. */
  private async choose(model: string | undefined): Promise<boolean> {
    if (!model) return false;
    // A workspace's own model setting wins over the user's: the choice goes where it takes effect.
    if (!isSetByWorkspace(Settings.model)) {
      await updateConfig(Settings.model, model.trim(), vscode.ConfigurationTarget.Global);
      return true;
    }
    try {
      await updateConfig(Settings.model, model.trim(), vscode.ConfigurationTarget.Workspace);
      this.log.info("This workspace sets its own model, so the choice was saved in the workspace's settings.");
    } catch (error) {
      await updateConfig(Settings.model, model.trim(), vscode.ConfigurationTarget.Global);
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
    if (picked.some((p) => configuredModel() === `${catalogScheme}${p.id}`)) await this.loader.unload();
    for (const p of picked) for (const file of await library.remove(p.id)) this.log.info(`Deleted ${file}`);
    return true;
  }
}
