/**
 * The rules for a served model in the extension, kept free of VS Code so they can be tested as they are: how an
 * address is checked and written, and whether a served address may be used, given where the setting came from and
 * whether the workspace is trusted. A workspace setting never sends code to a server the user did not choose.
 */
import { normaliseBaseUrl } from "../../llm/models/endpoint.js";
import { parseModelSpec } from "../../llm/models/open.js";

/** The served model a model setting names, if it names one (a .gguf URL, a path, an hf: URI or a catalog id do not). */
export function servedSpecOf(model: string): { baseUrl: string; model?: string } | undefined {
  if (model.trim() === "") return undefined;
  try {
    const spec = parseModelSpec(model);
    return spec.kind === "endpoint" ? { baseUrl: spec.baseUrl, ...(spec.model !== undefined ? { model: spec.model } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

/** What is wrong with a typed server address, in a sentence; undefined when it is one. */
export function checkServedAddress(text: string): string | undefined {
  const value = text.trim();
  if (!/^https?:\/\//i.test(value)) return "Enter the server's address, starting with http:// or https:// (e.g. http://127.0.0.1:11434/v1).";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a valid URL.`;
  }
  if (url.hostname === "") return "The address needs a host name (e.g. http://127.0.0.1:8080/v1).";
  if (/\.gguf$/i.test(url.pathname)) return 'That is a .gguf file to download, not a server: use "Enter a model URI…" for it.';
  return undefined;
}

/** The model setting for `model` served at `baseUrl`: the address with the model's name after `#`. */
export function servedModelSetting(baseUrl: string, model: string): string {
  return `${normaliseBaseUrl(baseUrl)}#${model.replace(/[%#\s]/g, (c) => encodeURIComponent(c))}`;
}

/** Where a setting's value came from: the user's own settings, or the workspace's (its file or a folder's). */
export type SettingSource = "user" | "workspace" | "default";

/** The values VS Code's `inspect` gives for a setting, as far as this decision needs them. */
export interface InspectedSetting {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/**
 * Whose value `effective` is. The user's whenever the user's settings hold that very value (then the user chose it,
 * whoever else names it too); the workspace's when only its settings do; else no one set it.
 */
export function settingSource(inspected: InspectedSetting | undefined, effective: string): SettingSource {
  const same = (v: unknown): boolean => typeof v === "string" && v.trim() === effective.trim();
  if (same(inspected?.globalValue)) return "user";
  if (same(inspected?.workspaceFolderValue) || same(inspected?.workspaceValue)) return "workspace";
  return effective.trim() === "" ? "default" : "workspace";
}

/** Whether a served address may be used now. */
export type ServedDecision =
  | { kind: "use" }
  /** The user must allow this address once (a modal), then it is remembered. */
  | { kind: "ask"; address: string }
  | { kind: "refuse"; message: string };

/** What is remembered of an allowed address: the API's base URL, without the model's name. */
export function allowKey(baseUrl: string): string {
  return normaliseBaseUrl(baseUrl);
}

export function servedDecision(input: { baseUrl: string; source: SettingSource; trusted: boolean; allowed: readonly string[] }): ServedDecision {
  if (input.source === "user") return { kind: "use" };
  const address = allowKey(input.baseUrl);
  if (!input.trusted) {
    return {
      kind: "refuse",
      message: `This workspace's settings name a served model (${address}), and the workspace is not trusted: no code is sent there. Trust the workspace, or choose a model with ClarifyCoder: Choose Model….`,
    };
  }
  return input.allowed.includes(address) ? { kind: "use" } : { kind: "ask", address };
}

/** The sentence of the modal that asks the user to allow a workspace's served address. */
export function allowQuestion(address: string): string {
  return `This workspace wants to send your code to ${address}.`;
}

/** Why a workspace's served address is not used after the user declined it. */
export function declinedMessage(address: string): string {
  return `This workspace's settings name a served model at ${address}, which you did not allow: no code was sent. Choose another model with ClarifyCoder: Choose Model…, or ask again with the next request.`;
}
