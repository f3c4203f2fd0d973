/**
 * The webview's side of the boundary: typed, checked messages to the host, and the small UI state VS Code keeps for
 * the view (`setState`/`getState`) while the host owns the conversations.
 */
import { parseWebviewMessage, type WebviewMessage } from "../src/core/webview-protocol.js";

const vscode = acquireVsCodeApi();

/** Sends an intent. It is checked against the same schema the host uses; a message the host would drop is not sent. */
export function post(message: WebviewMessage): boolean {
  const checked = parseWebviewMessage(message);
  if (!checked.ok) {
    console.warn(`[ClarifyCoder] not sending a ${message.type} message: ${checked.error}`);
    return false;
  }
  vscode.postMessage(checked.message);
  return true;
}

/** What the view remembers for itself across reloads: drafts and panel state. Small on purpose. */
export interface UiState {
  /** The composer's unsent text. */
  draft: string;
  /** Unsent answers, by `${sessionId}/${questionId}`. */
  answerDrafts: Record<string, string>;
  historyOpen: boolean;
}

const maxDraft = 200_000;
const maxAnswerDrafts = 50;

function readUiState(): UiState {
  const state: UiState = { draft: "", answerDrafts: {}, historyOpen: false };
  const saved = vscode.getState();
  if (typeof saved !== "object" || saved === null) return state;
  const record = saved as Record<string, unknown>;
  if (typeof record.draft === "string") state.draft = record.draft.slice(0, maxDraft);
  if (typeof record.historyOpen === "boolean") state.historyOpen = record.historyOpen;
  const drafts = record.answerDrafts;
  if (typeof drafts === "object" && drafts !== null) {
    for (const [key, value] of Object.entries(drafts).slice(0, maxAnswerDrafts)) {
      if (typeof value === "string" && key !== "__proto__") state.answerDrafts[key] = value.slice(0, maxDraft);
    }
  }
  return state;
}

export const uiState: UiState = readUiState();

let saveTimer: ReturnType<typeof setTimeout> | undefined;

/** Saves the UI state soon (typing does not post a message per key). */
export function saveUiState(): void {
  if (saveTimer !== undefined) return;
  saveTimer = setTimeout(() => {
    saveTimer = undefined;
    saveUiStateNow();
  }, 250);
}

export function saveUiStateNow(): void {
  if (saveTimer !== undefined) {
    clearTimeout(saveTimer);
    saveTimer = undefined;
  }
  const drafts = Object.entries(uiState.answerDrafts).filter(([, v]) => v !== "");
  uiState.answerDrafts = Object.fromEntries(drafts.slice(-maxAnswerDrafts));
  vscode.setState({ draft: uiState.draft, answerDrafts: uiState.answerDrafts, historyOpen: uiState.historyOpen });
}
