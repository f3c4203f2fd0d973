/** The Hugging Face token: kept in VS Code's secret storage, never in the settings. */
import type * as vscode from "vscode";
import type { DownloadSettings } from "../../llm/models/local.js";

const hubTokenKey = "clarifycoder.huggingFaceToken";

export class HubToken {
  constructor(private readonly secrets: vscode.SecretStorage) {}

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
