/**
 * The extension's settings, one typed key each: its name, how its value is read, and whether a change loads the
 * model again. Values are checked by the readers every surface shares (core's readSettings, llm's readLoadSettings),
 * so no range or list is spelled here. An untrusted workspace cannot set `model` or `loraAdapters` (package.json's
 * restrictedConfigurations): VS Code then hands back the user's value only.
 */
import * as vscode from "vscode";
import { readSettings } from "../core/settings.js";
import { decideMethods, type ClarifySettings, type DecideMethod } from "../core/types.js";
import { readLoadSettings, type LoadOptions } from "../llm/models/load-settings.js";

const section = "clarifycoder";

/** One setting: `clarifycoder.<name>`, read as a T. */
interface Setting<T> {
  readonly name: string;
  /** The full id VS Code knows it by. */
  readonly id: string;
  /** A change to it loads the model again (or frees it). */
  readonly reloadsModel: boolean;
  readonly read: (value: unknown) => T;
}

function setting<T>(name: string, read: (value: unknown) => T, reloadsModel = false): Setting<T> {
  return { name, id: `${section}.${name}`, reloadsModel, read };
}

/** Checked later, together, by a shared reader (which says what it did not use). */
const checkedLater = (value: unknown): unknown => value;

export const Settings = {
  /** A catalog model, a .gguf path, a URI or a served model's address; empty: none chosen (the catalog's default model is used). */
  model: setting("model", (v) => (typeof v === "string" ? v.trim() : ""), true),
  loraAdapters: setting("loraAdapters", (v): readonly unknown[] => (Array.isArray(v) ? v : []), true),
  gpu: setting("gpu", checkedLater, true),
  gpuLayers: setting("gpuLayers", checkedLater, true),
  threads: setting("threads", checkedLater, true),
  contextSize: setting("contextSize", checkedLater, true),
  /** 0 (or anything not above 0): the model stays loaded. */
  idleUnloadMinutes: setting("idleUnloadMinutes", (v) => (typeof v === "number" && v > 0 ? v : 0)),
  preloadAtStartup: setting("preloadAtStartup", (v) => v === true),
  askPolicy: setting("askPolicy", checkedLater),
  decide: setting("decide", (v): DecideMethod => ((decideMethods as readonly unknown[]).includes(v) ? (v as DecideMethod) : "readings")),
  maxQuestions: setting("maxQuestions", checkedLater),
  maxRounds: setting("maxRounds", checkedLater),
  askThreshold: setting("askThreshold", checkedLater),
  style: setting("style", checkedLater),
  maxCodeTokens: setting("maxCodeTokens", checkedLater),
} as const;

/** The settings whose change loads the model again. */
export const modelLoadSettings: readonly Setting<unknown>[] = Object.values(Settings).filter((s) => s.reloadsModel);

function configuration(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(section);
}

/** The setting's value now. */
export function getConfig<T>(key: Setting<T>): T {
  return key.read(configuration().get(key.name));
}

/** Whether the user or the workspace set it (not just its default). */
export function isSetExplicitly(key: Setting<unknown>): boolean {
  const inspected = configuration().inspect(key.name);
  return (inspected?.globalValue ?? inspected?.workspaceValue ?? inspected?.workspaceFolderValue) !== undefined;
}

/** Each scope's value of the setting, as VS Code's `inspect` gives them. */
export function inspectSetting(key: Setting<unknown>): { globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown } | undefined {
  return configuration().inspect(key.name);
}

/** Whether the workspace's own settings set it (they win over the user's). */
export function isSetByWorkspace(key: Setting<unknown>): boolean {
  return configuration().inspect(key.name)?.workspaceValue !== undefined;
}

/** Writes the setting (undefined removes it) where `target` says. */
export async function updateConfig<T>(key: Setting<T>, value: T | undefined, target: vscode.ConfigurationTarget): Promise<void> {
  await configuration().update(key.name, value, target);
}

/** Calls `listener` when any of `keys` changes. */
export function onDidChangeConfig(keys: readonly Setting<unknown>[], listener: () => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (keys.some((k) => e.affectsConfiguration(k.id))) listener();
  });
}

/** The conversation settings, checked by core's one reader. */
export function readClarifySettings(): { settings: ClarifySettings; problems: string[] } {
  const s = Settings;
  return readSettings({
    askPolicy: getConfig(s.askPolicy),
    maxQuestions: getConfig(s.maxQuestions),
    maxRounds: getConfig(s.maxRounds),
    askThreshold: getConfig(s.askThreshold),
    style: getConfig(s.style),
    maxCodeTokens: getConfig(s.maxCodeTokens),
  });
}

/** How the model is to be loaded, checked by llm's one reader. */
export function readModelLoadSettings(modelsDirectory: string): { load: LoadOptions; problems: string[] } {
  const s = Settings;
  return readLoadSettings({
    gpu: getConfig(s.gpu),
    gpuLayers: getConfig(s.gpuLayers),
    threads: getConfig(s.threads),
    contextSize: getConfig(s.contextSize),
    lora: getConfig(s.loraAdapters),
    modelsDirectory,
  });
}
