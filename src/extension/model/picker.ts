/**
 * The model picker: the catalog (the recommendation first, sizes, what is downloaded), a local file, a URI, a served
 * model (an address, a model from its list, an API key kept in secret storage) and the servers found on this
 * machine's usual ports, LoRA adapters, deleting downloads, the Hugging Face token. Each entry is one action,
 * carried out by its handler.
 */
import * as vscode from "vscode";
import { dispatch, type HandlerTable } from "../../core/dispatch.js";
import { catalogScheme, formatBytes } from "../../llm/hub/catalog.js";
import type { LibraryItem, ModelLibrary } from "../../llm/hub/library.js";
import { recommend, type Recommendation } from "../../llm/hardware/recommend.js";
import { EndpointModel, normaliseBaseUrl } from "../../llm/models/endpoint.js";
import { detectServedModels } from "../../llm/models/served.js";
import { getConfig, isSetByWorkspace, Settings, updateConfig } from "../config.js";
import { configuredModel, explicitModel, modelLabel, whereOf } from "./chosen.js";
import type { ModelLoader } from "./loader.js";
import type { HubToken, ServedKeys } from "./secrets.js";
import { checkServedAddress, servedModelSetting, servedSpecOf } from "./served-choice.js";
import type { ServedGate } from "./served-gate.js";

/** What an entry of the picker does. */
type PickAction =
  | { type: "catalog"; id: string }
  | { type: "file" }
  | { type: "uri" }
  | { type: "served" }
  | { type: "detected"; baseUrl: string; model: string }
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
    private readonly served: { keys: ServedKeys; gate: ServedGate },
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Shows the picker and carries out the choice; false when nothing was changed. */
  async pick(): Promise<boolean> {
    const current = configuredModel();
    const library = await this.library();
    const choice = await vscode.window.showQuickPick(this.items(library, current), {
      title: "ClarifyCoder: choose a model",
      placeHolder: `In use: ${modelLabel(current)} ${whereOf(current)}${explicitModel() ? "" : " (the default, used until you choose one)"}`,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!choice?.action) return false;
    return dispatch(this.handlers(library), choice.action);
  }

  private async items(library: ModelLibrary, current: string): Promise<Item[]> {
    // Servers on this machine's usual ports, asked when the picker opens (never at activation), briefly.
    const detecting = detectServedModels({ timeoutMs: 600 }).catch(() => []);
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
      {
        label: "$(cloud) Use a served model…",
        description: "Ollama, llama.cpp's server, LM Studio, vLLM or any OpenAI-compatible server",
        action: { type: "served" },
      },
      ...(await this.detectedItems(await detecting, current)),
      separator("Adapters and downloads"),
      { label: "$(extensions) Add LoRA adapter…", description: "a PEFT folder (converted) or a GGUF adapter", action: { type: "lora" } },
      ...(adapters.length > 0
        ? [
            {
              label: "$(close) Remove the LoRA adapters",
              description: adapters.map((a) => a.split(/[\\/]/).pop()).join(", "),
              action: { type: "clearLora" },
            } as const,
          ]
        : []),
      { label: "$(trash) Delete downloaded models…", description: library.directory, action: { type: "remove" } },
      { label: "$(key) Set Hugging Face token…", description: "for gated or private models; kept in VS Code's secret storage", action: { type: "token" } },
      { label: "$(refresh) Reload the current model", description: modelLabel(current), action: { type: "reload" } },
    );
    return items;
  }

  /** Each model a server found on this machine serves: "qwen2.5-coder:1.5b — Ollama at 127.0.0.1:11434". */
  private async detectedItems(found: Awaited<ReturnType<typeof detectServedModels>>, current: string): Promise<Item[]> {
    if (found.length === 0) return [];
    const items: Item[] = [separator("Served on this machine")];
    for (const server of found) {
      const host = new URL(server.baseUrl).host;
      for (const model of server.models) {
        const using = current === servedModelSetting(server.baseUrl, model) ? " · in use" : "";
        items.push({
          label: `$(cloud) ${model} — ${server.kind} at ${host}`,
          description: `${server.baseUrl}${using}`,
          action: { type: "detected", baseUrl: server.baseUrl, model },
        });
      }
    }
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
      served: () => this.useServed(),
      detected: (a) => this.chooseServed(a.baseUrl, a.model),
      lora: () => this.addAdapter(),
      clearLora: async () => {
        await updateConfig(Settings.loraAdapters, undefined, vscode.ConfigurationTarget.Global);
        return true;
      },
      remove: () => this.removeDownloads(library),
      token: async () => {
        const token = await vscode.window.showInputBox({
          title: "Hugging Face access token",
          password: true,
          placeHolder: "hf_… (empty to forget the saved token)",
          ignoreFocusOut: true,
        });
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

  /**
   * "Use a served model…": the server's address, then its model from its /models list (a failed list says why, and
   * offers to try again, to enter an API key, or to type the name), then an optional API key for its origin.
   */
  private async useServed(): Promise<boolean> {
    const current = servedSpecOf(configuredModel());
    const address = await vscode.window.showInputBox({
      title: "Served model: the server's address",
      prompt: "An OpenAI-compatible API: Ollama http://127.0.0.1:11434/v1, llama.cpp's server :8080, LM Studio :1234, vLLM :8000",
      value: current?.baseUrl ?? "",
      placeHolder: "http://127.0.0.1:11434/v1",
      ignoreFocusOut: true,
      validateInput: (v) => checkServedAddress(v),
    });
    if (address === undefined) return false;
    const baseUrl = normaliseBaseUrl(address.trim());
    let apiKey = await this.served.keys.get(baseUrl);
    let keyAsked = false;
    const typed = servedSpecOf(address)?.model;
    let model = typed;
    while (model === undefined) {
      let names: string[] | undefined;
      let failure: string | undefined;
      try {
        names = await new EndpointModel({ baseUrl, ...(apiKey ? { apiKey } : {}) }).listModels(AbortSignal.timeout(10_000));
        if (names.length === 0) failure = `${baseUrl}/models lists no model.`;
      } catch (error) {
        failure =
          error instanceof Error && error.name === "TimeoutError"
            ? `${baseUrl} did not answer within 10 s.`
            : error instanceof Error
              ? error.message
              : String(error);
      }
      if (names && names.length > 0) {
        const picked = await vscode.window.showQuickPick(
          [...names.map((name) => ({ label: name, name })), { label: "$(edit) Type a model name…", name: undefined }],
          { title: `Served model: the models ${new URL(baseUrl).host} serves`, ignoreFocusOut: true },
        );
        if (!picked) return false;
        model = picked.name ?? (await this.typeModelName());
        if (model === undefined) return false;
        break;
      }
      this.log.warn(failure ?? "");
      const next = await vscode.window.showWarningMessage(failure ?? "", { modal: true }, "Try again", "Enter an API key…", "Type the model name…");
      if (next === undefined) return false;
      if (next === "Enter an API key…") {
        const key = await this.askKey(baseUrl, apiKey);
        if (key === undefined) return false;
        apiKey = key || undefined;
        keyAsked = true;
      } else if (next === "Type the model name…") {
        model = await this.typeModelName();
        if (model === undefined) return false;
      }
    }
    if (!keyAsked) {
      const key = await this.askKey(baseUrl, apiKey);
      if (key === undefined) return false;
      apiKey = key || undefined;
    }
    await this.served.keys.set(baseUrl, apiKey ?? "");
    return this.chooseServed(baseUrl, model);
  }

  /** The API key for `baseUrl`'s origin: the saved one to start with; empty for none; undefined when cancelled. */
  private async askKey(baseUrl: string, saved: string | undefined): Promise<string | undefined> {
    const key = await vscode.window.showInputBox({
      title: `Served model: API key for ${new URL(baseUrl).origin} (optional)`,
      prompt: "Sent as a bearer token to this server only; kept in VS Code's secret storage, never in the settings. Leave it empty for none.",
      value: saved ?? "",
      password: true,
      ignoreFocusOut: true,
    });
    return key?.trim();
  }

  private async typeModelName(): Promise<string | undefined> {
    const name = await vscode.window.showInputBox({
      title: "Served model: the model's name",
      placeHolder: "qwen2.5-coder:1.5b",
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() === "" ? "Enter the model's name as the server knows it." : undefined),
    });
    return name?.trim();
  }

  /** Makes `model` at `baseUrl` the model in use; the user chose this address, so it needs no further consent. */
  private async chooseServed(baseUrl: string, model: string): Promise<boolean> {
    await this.served.gate.allow(baseUrl);
    const chosen = await this.choose(servedModelSetting(baseUrl, model));
    // The same address again (with a new key, say) changes no setting: it is opened again here.
    void this.loader.ensureLoaded().catch(() => undefined);
    return chosen;
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
