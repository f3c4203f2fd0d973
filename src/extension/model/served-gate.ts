/**
 * Whether the served model the settings name may be sent code: always when the user's own settings name it; never
 * from an untrusted workspace's settings; from a trusted workspace's settings once the user has allowed that address
 * (a modal, remembered per address in global state). The rules are served-choice.ts's; this asks VS Code and the user.
 */
import * as vscode from "vscode";
import { getConfig, inspectSetting, Settings } from "../config.js";
import { allowKey, allowQuestion, declinedMessage, servedDecision, settingSource } from "./served-choice.js";

const allowedKey = "clarifycoder.allowedServedAddresses";

export type GateResult = { ok: true } | { ok: false; message: string } | { ok: false; waiting: true };

export class ServedGate {
  /** One modal per address at a time: requests that arrive while it is open wait for the same answer. */
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(private readonly state: vscode.Memento) {}

  private allowed(): string[] {
    const value = this.state.get<unknown>(allowedKey);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  }

  /** Remembers that the user allowed `baseUrl` (they chose it in the picker, or said Allow). */
  async allow(baseUrl: string): Promise<void> {
    const address = allowKey(baseUrl);
    const allowed = this.allowed();
    if (!allowed.includes(address)) await this.state.update(allowedKey, [...allowed, address]);
  }

  /**
   * Whether the model setting's served address (`baseUrl`) may be used now. Not `interactive` (a warm-up, a changed
   * setting), a question the user must answer waits for the next request.
   */
  async check(baseUrl: string, interactive: boolean): Promise<GateResult> {
    const source = settingSource(inspectSetting(Settings.model), getConfig(Settings.model));
    const decision = servedDecision({ baseUrl, source, trusted: vscode.workspace.isTrusted, allowed: this.allowed() });
    if (decision.kind === "use") return { ok: true };
    if (decision.kind === "refuse") return { ok: false, message: decision.message };
    if (!interactive) return { ok: false, waiting: true };
    let pending = this.asking.get(decision.address);
    if (!pending) {
      pending = (async () => {
        const answer = await vscode.window.showWarningMessage(
          allowQuestion(decision.address),
          {
            modal: true,
            detail:
              "Its settings (clarifycoder.model) choose a served model: your requests, with the code in them, would go to that server. Allow it only if you trust it; you are asked once per address.",
          },
          "Allow",
        );
        if (answer === "Allow") await this.allow(decision.address);
        return answer === "Allow";
      })().finally(() => this.asking.delete(decision.address));
      this.asking.set(decision.address, pending);
    }
    return (await pending) ? { ok: true } : { ok: false, message: declinedMessage(decision.address) };
  }
}
