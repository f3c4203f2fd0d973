/**
 * Secrets, kept in VS Code's secret storage and never in the settings: the Hugging Face token, and an API key for
 * each model server, by the server's origin (scheme, host and port: a key is only ever sent where it was set).
 */
import type * as vscode from "vscode";
import type { DownloadSettings } from "../../llm/models/local.js";

const hubTokenKey = "clarifycoder.huggingFaceToken";

/** The part of vscode.SecretStorage these need (tests hand in an in-memory one). */
type Secrets = Pick<vscode.SecretStorage, "get" | "store" | "delete">;

export class HubToken {
  constructor(private readonly secrets: Secrets) {}

  /** How downloads reach the hub: with the saved token, if there is one. */
  async downloadSettings(): Promise<DownloadSettings> {
    const token = await this.secrets.get(hubTokenKey);
    return token ? { hub: { token } } : {};
  }

  /** Saves the token; an empty one forgets the saved token. */
  async set(token: string): Promise<void> {
    if (token.trim() === "") await this.secrets.delete(hubTokenKey);
    else await this.secrets.store(hubTokenKey, token.trim());
  }
}

/** The secret storage key of a server's API key: its origin, so a key set for one server never goes to another. */
export function servedKeyName(baseUrl: string): string {
  return `clarifycoder.apiKey:${new URL(baseUrl).origin}`;
}

/** The API keys of model servers, one per origin; sent as a bearer token to that origin only. */
export class ServedKeys {
  constructor(private readonly secrets: Secrets) {}

  async get(baseUrl: string): Promise<string | undefined> {
    return (await this.secrets.get(servedKeyName(baseUrl))) || undefined;
  }

  /** Saves the key for `baseUrl`'s origin; an empty one forgets it. */
  async set(baseUrl: string, key: string): Promise<void> {
    if (key.trim() === "") await this.secrets.delete(servedKeyName(baseUrl));
    else await this.secrets.store(servedKeyName(baseUrl), key.trim());
  }
}
