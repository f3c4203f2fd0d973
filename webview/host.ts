/**
 * The webview's side of the boundary: requests to the host, each paired with the host's reply by its id (the
 * request/response pattern of vscode-pull-request-github's webviews), and the small UI state VS Code keeps for the
 * view (`setState`/`getState`) while the host owns the conversations.
 */
import { parseWebviewMessage, type Intent, type ReplyMessage, type WebviewMessage } from "../src/core/webview-protocol.js";

const vscode = acquireVsCodeApi();

/** How the host answered a request: accepted (with an optional note such as "Copied."), or refused with the reason. */
export type Outcome = { ok: true; note?: string } | { ok: false; error: string };

let lastRequestId = 0;
const pending = new Map<number, (outcome: Outcome) => void>();

/**
 * Sends an intent and resolves with the host's reply to it. The message is checked against the same schema the host
 * uses: one the host would drop is not sent, and resolves as refused at once.
 */
export function request(intent: Intent): Promise<Outcome> {
  lastRequestId += 1;
  const message = { ...intent, requestId: lastRequestId } as WebviewMessage;
  const checked = parseWebviewMessage(message);
  if (!checked.ok) {
    console.warn(`[ClarifyCoder] not sending a ${intent.type} message: ${checked.error}`);
    return Promise.resolve({ ok: false, error: "That could not be sent (see the developer console)." });
  }
  return new Promise((resolve) => {
    pending.set(message.requestId, resolve);
    vscode.postMessage(checked.message);
  });
}

/** The host's reply to one of our requests: it settles that request. A reply to no request of ours is ignored. */
export function settleRequest(reply: ReplyMessage): void {
  const resolve = pending.get(reply.requestId);
  if (!resolve) return;
  pending.delete(reply.requestId);
  resolve(reply.ok ? { ok: true, ...(reply.message !== undefined ? { note: reply.message } : {}) } : { ok: false, error: reply.message ?? "Refused." });
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
