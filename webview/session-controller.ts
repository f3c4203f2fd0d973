/**
 * The controller of one conversation on screen: what the user is doing with it (drafts, a reopened answer, an
 * assumption being corrected), which of their requests are waiting for the host, and what the host said back to each
 * control. It sends requests and keeps the replies; session-view.ts renders it. Nothing is assumed to have happened
 * until the host says so: an answer's text stays in its field until the host accepted it, and a refusal is shown
 * at the control that sent the request.
 */
import { isBusy, isSettled, openRoundQuestions, questionFocus } from "../src/core/rules.js";
import type { AskPolicy, SessionSnapshot } from "../src/core/types.js";
import type { CodeAction, Intent } from "../src/core/webview-protocol.js";
import { focusByKey, focusIsLost } from "./dom.js";
import { request, saveUiState, uiState, type Outcome } from "./host.js";
import { isWebLink } from "./markdown.js";

/** What the host said back to one control: a refusal, or a note such as "Copied.". */
export interface Feedback {
  level: "error" | "info";
  text: string;
}

/** The controls whose requests get an answer of their own (their feedback and pending keys). */
export const controlKey = {
  question: (questionId: string) => `question:${questionId}`,
  generate: "generate",
  assumption: (index: number) => `assumption:${index}`,
  /** A code block of the current turn, or of earlier turn `turn`. */
  code: (blockIndex: number, turn?: number) => (turn === undefined ? `code:${blockIndex}` : `code:t${turn}:${blockIndex}`),
  /** The current turn's actions: Regenerate (and its variants), Continue, the edited request. */
  turnActions: "turn-actions",
  editRequest: "edit-request",
} as const;

/** The focus target of a question: its answer field. */
export function questionFieldKey(questionId: string): string {
  return `field:${questionId}`;
}

function draftKey(sessionId: string, questionId: string): string {
  return `${sessionId}/${questionId}`;
}

const noteMs = 4_000;

/** Said where a regenerated answer came out identical to the one before. */
export const regeneratedSameNote = "The model wrote the same answer again, word for word. Try Regenerate asking me questions first (⋯), or Edit the request.";

export class SessionController {
  readonly sessionId: string;
  private snap: SessionSnapshot;
  /** Answered questions the user reopened with "Change". */
  readonly editing = new Set<string>();
  /** Controls with a request in flight. */
  readonly pending = new Set<string>();
  /** The host's last word to each control. */
  readonly feedback = new Map<string, Feedback>();
  /** The assumption being corrected, with its draft. */
  editingAssumption: { index: number; draft: string } | null = null;
  /** The current turn's request being edited, with its draft. */
  editingRequest: { draft: string } | null = null;
  /** The Regenerate menu (ask me first / don't ask) is open. */
  regenerateMenuOpen = false;
  /** The answer a Regenerate started from, until the regenerated one has finished. */
  private regeneratedFrom: string | null = null;
  /** After an answer or waive, where the focus goes when the state comes back. */
  private focusAfterQuestion: string | null = null;
  /** A focus key to move to after the next render (a refused answer goes back to its field). */
  private focusNext: string | null = null;
  private openRoundKey: string | null = null;
  private readonly noteTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** The sequence number of each control's latest request. */
  private readonly latest = new Map<string, number>();

  constructor(
    snapshot: SessionSnapshot,
    /** Asks the app to render again (after a reply, or a change of the controller's own state). */
    private readonly changed: () => void,
  ) {
    this.snap = snapshot;
    this.sessionId = snapshot.id;
  }

  get snapshot(): SessionSnapshot {
    return this.snap;
  }

  update(snapshot: SessionSnapshot): void {
    const nextTurn = (snapshot.earlier?.length ?? 0) !== (this.snap.earlier?.length ?? 0);
    const newAnswer = nextTurn || (isBusy(snapshot.state) && !isBusy(this.snap.state));
    this.snap = snapshot;
    // What the host said to the current turn's code blocks belongs to that answer: a new one (a later turn, a
    // regenerated answer) starts without it.
    if (newAnswer) this.forgetCurrentCodeFeedback();
    if (nextTurn) this.regeneratedFrom = null;
    else if (this.regeneratedFrom !== null && !isBusy(snapshot.state) && snapshot.state !== "asking") {
      // Sampling can write the very same reply again (a small model, a low temperature): say so rather than seem stuck.
      if (snapshot.state === "done" && snapshot.answer !== "" && snapshot.answer === this.regeneratedFrom) {
        this.feedback.set(controlKey.turnActions, { level: "info", text: regeneratedSameNote });
      }
      this.regeneratedFrom = null;
    }
    if (this.editingAssumption && this.editingAssumption.index >= snapshot.assumptions.length) this.editingAssumption = null;
    if (isBusy(snapshot.state) || nextTurn) {
      this.regenerateMenuOpen = false;
      if (nextTurn) this.editingRequest = null;
    }
  }

  private forgetCurrentCodeFeedback(): void {
    for (const key of [...this.feedback.keys()]) {
      if (!key.startsWith("code:") || key.startsWith("code:t")) continue;
      this.feedback.delete(key);
      clearTimeout(this.noteTimers.get(key));
    }
  }

  /** Streamed text for this session. */
  appendAnswer(text: string): void {
    this.snap = { ...this.snap, answer: this.snap.answer + text };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Questions.

  draftOf(questionId: string): string {
    return uiState.answerDrafts[draftKey(this.sessionId, questionId)] ?? "";
  }

  setDraft(questionId: string, text: string): void {
    uiState.answerDrafts[draftKey(this.sessionId, questionId)] = text;
    saveUiState();
    this.changed();
  }

  /** The code may be asked for: every open question is answered, waived, or has an unsent answer typed. */
  generateReadiness(): { ready: boolean; remaining: number; unsent: number } {
    const open = openRoundQuestions(this.snap);
    let remaining = 0;
    let unsent = 0;
    for (const question of open) {
      if (isSettled(question) && !this.editing.has(question.id)) continue;
      if (this.draftOf(question.id).trim() !== "") unsent += 1;
      else if (!isSettled(question)) remaining += 1;
    }
    return { ready: open.length > 0 && remaining === 0, remaining, unsent };
  }

  /** A suggestion that was cut short goes into the field for the user to finish, instead of becoming the answer. */
  startAnswer(questionId: string, text: string): void {
    this.setDraft(questionId, text);
    this.focusNext = questionFieldKey(questionId);
    this.changed();
  }

  answer(questionId: string, text: string): Promise<boolean> {
    const value = text.trim();
    if (value === "") return Promise.resolve(false);
    return this.answerWith(questionId, { type: "answer", sessionId: this.sessionId, questionId, text: value }, value);
  }

  waive(questionId: string): Promise<boolean> {
    return this.answerWith(questionId, { type: "waive", sessionId: this.sessionId, questionId }, null);
  }

  private async answerWith(questionId: string, intent: Intent, sent: string | null): Promise<boolean> {
    this.focusAfterQuestion = questionId;
    const outcome = await this.send(controlKey.question(questionId), intent);
    if (outcome === null) return false;
    if (outcome.ok) {
      // The host has the answer: the field's text is no longer needed (unless the user typed something else meanwhile).
      if (sent === null || this.draftOf(questionId).trim() === sent) this.setDraft(questionId, "");
      this.editing.delete(questionId);
    } else if (this.focusAfterQuestion === questionId || focusIsLost()) {
      this.focusNext = questionFieldKey(questionId);
    }
    this.changed();
    return outcome.ok;
  }

  /** Sends the typed-but-unsent answers first, then asks for the code (the host handles requests in order). */
  generate(): void {
    if (!this.generateReadiness().ready) return;
    for (const question of openRoundQuestions(this.snap)) {
      const draft = this.draftOf(question.id).trim();
      if (draft !== "" && (!isSettled(question) || this.editing.has(question.id))) void this.answer(question.id, draft);
    }
    this.focusAfterQuestion = null;
    void this.send(controlKey.generate, { type: "generate", sessionId: this.sessionId }).then(() => this.changed());
  }

  reopen(questionId: string): void {
    const question = this.snap.questions.find((q) => q.id === questionId);
    if (!question) return;
    this.editing.add(questionId);
    if (this.draftOf(questionId) === "" && question.answer) {
      uiState.answerDrafts[draftKey(this.sessionId, questionId)] = question.answer;
      // Saved like any draft (it was saved only when an earlier save happened to be pending).
      saveUiState();
    }
    this.focusNext = questionFieldKey(questionId);
    this.changed();
  }

  cancelReopen(questionId: string): void {
    this.editing.delete(questionId);
    this.feedback.delete(controlKey.question(questionId));
    uiState.answerDrafts[draftKey(this.sessionId, questionId)] = "";
    saveUiState();
    this.focusNext = `change:${questionId}`;
    this.changed();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Assumptions.

  editAssumption(index: number): void {
    this.editingAssumption = { index, draft: this.snap.assumptions[index] ?? "" };
    this.feedback.delete(controlKey.assumption(index));
    this.focusNext = `assumption-field:${index}`;
    this.changed();
  }

  closeAssumption(index: number): void {
    this.editingAssumption = null;
    this.focusNext = `assumption-edit:${index}`;
    this.changed();
  }

  async correctAssumption(index: number, text: string): Promise<void> {
    const value = text.trim();
    if (value === "" || value === this.snap.assumptions[index]) return this.closeAssumption(index);
    const outcome = await this.send(controlKey.assumption(index), { type: "correctAssumption", sessionId: this.sessionId, index, text: value });
    if (outcome?.ok) this.closeAssumption(index);
    else this.changed();
  }

  // ------------------------------------------------------------------------------------------------------------
  // The current turn: edit its request, regenerate it, continue its answer.

  startEditingRequest(): void {
    this.editingRequest = { draft: this.snap.request };
    this.feedback.delete(controlKey.editRequest);
    this.focusNext = "request-field";
    this.changed();
  }

  cancelEditingRequest(): void {
    this.editingRequest = null;
    this.focusNext = "request-edit";
    this.changed();
  }

  /** Sends the edited request; the editor closes once the host took it, and stays (with the reason) if refused. */
  async sendEditedRequest(): Promise<void> {
    const text = this.editingRequest?.draft.trim() ?? "";
    if (text === "") return;
    if (text === this.snap.request.trim()) return this.cancelEditingRequest();
    const outcome = await this.send(controlKey.editRequest, { type: "editRequest", sessionId: this.sessionId, text });
    if (outcome?.ok) this.editingRequest = null;
    this.changed();
  }

  toggleRegenerateMenu(): void {
    this.regenerateMenuOpen = !this.regenerateMenuOpen;
    this.focusNext = this.regenerateMenuOpen ? "regenerate-ask" : "regenerate-more";
    this.changed();
  }

  regenerate(askPolicy?: AskPolicy): void {
    this.regenerateMenuOpen = false;
    this.regeneratedFrom = this.snap.answer;
    const intent: Intent = askPolicy ? { type: "regenerate", sessionId: this.sessionId, askPolicy } : { type: "regenerate", sessionId: this.sessionId };
    void this.send(controlKey.turnActions, intent).then(() => this.changed());
  }

  continueAnswer(): void {
    void this.send(controlKey.turnActions, { type: "continue", sessionId: this.sessionId }).then(() => this.changed());
  }

  /** The model picker, offered where a turn failed. */
  pickModel(): void {
    void this.send(controlKey.turnActions, { type: "pickModel" }).then(() => this.changed());
  }

  // ------------------------------------------------------------------------------------------------------------
  // The answer.

  /** An action on code block `blockIndex` of the current turn's answer, or of earlier turn `turn`'s. */
  codeAction(blockIndex: number, action: CodeAction, turn?: number): void {
    const intent: Intent =
      turn === undefined
        ? { type: "codeAction", sessionId: this.sessionId, blockIndex, action }
        : { type: "codeAction", sessionId: this.sessionId, blockIndex, action, turn };
    void this.send(controlKey.code(blockIndex, turn), intent).then(() => this.changed());
  }

  openLink(url: string): void {
    if (isWebLink(url)) void request({ type: "openLink", url });
  }

  // ------------------------------------------------------------------------------------------------------------

  /**
   * Sends one request for a control: marks it pending, and keeps what the host replied as its feedback. Resolves with
   * the outcome, or null when a newer request from the same control was sent meanwhile (its reply is the one that counts).
   */
  private async send(key: string, intent: Intent): Promise<Outcome | null> {
    const sequence = (this.latest.get(key) ?? 0) + 1;
    this.latest.set(key, sequence);
    this.pending.add(key);
    this.feedback.delete(key);
    clearTimeout(this.noteTimers.get(key));
    this.changed();
    const outcome = await request(intent);
    if (this.latest.get(key) !== sequence) return null;
    this.pending.delete(key);
    if (!outcome.ok) this.feedback.set(key, { level: "error", text: outcome.error });
    else if (outcome.note !== undefined) {
      this.feedback.set(key, { level: "info", text: outcome.note });
      this.noteTimers.set(
        key,
        setTimeout(() => {
          if (this.feedback.get(key)?.text === outcome.note) this.feedback.delete(key);
          this.changed();
        }, noteMs),
      );
    }
    return outcome;
  }

  /**
   * Keyboard focus after a render: where a control asked for it; when the focused control went away because its
   * question was answered, the next open question (or Generate); when a new round of questions arrives while the user
   * waits, its first question.
   */
  placeFocus(container: HTMLElement): void {
    const next = this.focusNext;
    this.focusNext = null;
    if (next !== null && focusByKey(container, next)) return;
    const open = openRoundQuestions(this.snap);
    const roundKey = open.length > 0 ? `${this.sessionId}#${open[0]?.round ?? 0}` : null;
    const newRound = roundKey !== null && roundKey !== this.openRoundKey;
    this.openRoundKey = roundKey;
    const composer = document.querySelector<HTMLElement>(".composer-input");
    const waiting = focusIsLost() || (composer !== null && composer.contains(document.activeElement) && uiState.draft === "");
    const { target, consumed } = questionFocus(open, { newRound, waiting, focusLost: focusIsLost(), answered: this.focusAfterQuestion, editing: this.editing });
    if (consumed) this.focusAfterQuestion = null;
    if (target === "generate") focusByKey(container, "generate");
    else if (target !== undefined) focusByKey(container, questionFieldKey(target.field));
  }

  dispose(): void {
    for (const timer of this.noteTimers.values()) clearTimeout(timer);
  }
}
