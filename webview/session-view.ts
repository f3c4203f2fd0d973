/**
 * One conversation on screen: the request, the rounds of questions (an inline form for the open round), the
 * assumptions, the streamed answer with a toolbar per code block, and a failure. It renders a `SessionSnapshot` as it
 * is; every button posts an intent and waits for the host's next state (nothing is assumed to have happened).
 *
 * Parts are rebuilt only when their data changed, so typing in one answer field survives a state for another.
 */
import type { Question, SessionSnapshot } from "../src/core/types.js";
import { isBusy, isSettled, openRoundQuestions, type CodeAction } from "../src/core/webview-protocol.js";
import { focusByKey, focusIsLost, h, rebuildKeepingFocus, replaceChildren, setText, uniqueId } from "./dom.js";
import { post, saveUiState, uiState } from "./host.js";
import { isWebLink, setMarkdown } from "./markdown.js";

const codeActions: readonly { action: CodeAction; label: string; title: string }[] = [
  { action: "insert", label: "Insert", title: "Insert at the cursor" },
  { action: "replaceSelection", label: "Replace", title: "Replace the selection" },
  { action: "previewDiff", label: "Diff", title: "Preview as a diff" },
  { action: "newFile", label: "New file", title: "Open in a new file" },
  { action: "copy", label: "Copy", title: "Copy to the clipboard" },
];

function draftKey(sessionId: string, questionId: string): string {
  return `${sessionId}/${questionId}`;
}

/** Runs `callback` on the next frame, or soon if frames are paused (a hidden view). */
function nextFrame(callback: () => void): void {
  let done = false;
  const run = (): void => {
    if (done) return;
    done = true;
    callback();
  };
  requestAnimationFrame(run);
  setTimeout(run, 100);
}

/** The focus target of a question: its answer field. */
function questionFieldKey(questionId: string): string {
  return `field:${questionId}`;
}

export class SessionView {
  readonly element: HTMLElement;
  readonly sessionId: string;
  private session: SessionSnapshot;

  private readonly requestElement = h("div", { class: "turn turn-user" });
  private readonly roundsElement = h("div", { class: "rounds" });
  private readonly assumptionsElement: HTMLDetailsElement;
  private readonly assumptionsSummary = h("summary", { class: "assumptions-summary" });
  private readonly assumptionsList = h("ol", { class: "assumptions-list" });
  private readonly answerSection: HTMLElement;
  private readonly answerBody = h("div", { class: "markdown" });
  private readonly streamingMark = h("span", { class: "streaming-mark", "aria-hidden": "true" });
  private readonly stateNote = h("p", { class: "state-note" });
  private readonly failureElement = h("div", { class: "failure", role: "alert", hidden: true });

  private readonly roundViews = new Map<number, RoundView>();
  /** Questions the user reopened with "Change". */
  readonly editing = new Set<string>();
  private editingAssumption: { index: number; draft: string } | null = null;

  private renderedRequestKey = "";
  private renderedAssumptionsKey = "";
  private renderedFailureKey = "";
  private renderedAnswer: string | null = null;
  private answerFramePending = false;
  private toolbarsEnabled = false;
  /** After an answer or waive, where the focus goes when the state comes back. */
  private focusAfterQuestion: string | null = null;
  private openRoundKey: string | null = null;

  constructor(
    session: SessionSnapshot,
    private readonly scroller: HTMLElement,
  ) {
    this.session = session;
    this.sessionId = session.id;
    this.assumptionsElement = h("details", { class: "assumptions" }, this.assumptionsSummary, this.assumptionsList);
    const answerHeading = uniqueId("answer-heading");
    this.answerSection = h(
      "section",
      { class: "turn turn-assistant answer", "aria-labelledby": answerHeading },
      h("h2", { class: "turn-label", id: answerHeading }, "ClarifyCoder"),
      this.answerBody,
      this.streamingMark,
    );
    this.element = h(
      "article",
      { class: "session", "aria-label": "Conversation" },
      this.requestElement,
      this.roundsElement,
      this.assumptionsElement,
      this.stateNote,
      this.answerSection,
      this.failureElement,
    );
    this.answerBody.addEventListener("click", (event) => this.onAnswerClick(event));
    this.answerBody.addEventListener("keydown", (event) => this.onAnswerKeydown(event));
    this.update(session);
  }

  get snapshot(): SessionSnapshot {
    return this.session;
  }

  update(session: SessionSnapshot): void {
    this.session = session;
    this.renderRequest();
    this.renderRounds();
    this.renderAssumptions();
    this.renderStateNote();
    this.renderAnswerSoon();
    this.renderFailure();
    this.placeFocus();
  }

  /** Streamed text for this session. */
  appendAnswer(text: string): void {
    this.session = { ...this.session, answer: this.session.answer + text };
    this.renderAnswerSoon();
  }

  // ------------------------------------------------------------------------------------------------------------
  // The request.

  private renderRequest(): void {
    const { request, context } = this.session;
    const key = JSON.stringify([request, context.fileName, context.selection?.startLine, context.selection?.endLine]);
    if (key === this.renderedRequestKey) return;
    this.renderedRequestKey = key;
    const where: string[] = [];
    if (context.fileName) where.push(baseName(context.fileName));
    if (context.selection) {
      const { startLine, endLine } = context.selection;
      where.push(startLine === endLine ? `line ${startLine}` : `lines ${startLine}–${endLine}`);
    }
    const headingId = uniqueId("request-heading");
    this.requestElement.setAttribute("aria-labelledby", headingId);
    replaceChildren(
      this.requestElement,
      h("h2", { class: "turn-label", id: headingId }, "You"),
      h("p", { class: "request-text" }, request),
      where.length > 0 ? h("p", { class: "request-context", title: context.fileName ?? "" }, where.join(" · ")) : null,
    );
  }

  // ------------------------------------------------------------------------------------------------------------
  // Questions.

  private renderRounds(): void {
    const { session } = this;
    const byRound = new Map<number, Question[]>();
    for (const question of session.questions) {
      const list = byRound.get(question.round) ?? [];
      list.push(question);
      byRound.set(question.round, list);
    }
    const rounds = [...byRound.keys()].sort((a, b) => a - b);
    const open = openRoundQuestions(session);
    const openRound = open[0]?.round;
    for (const [round, view] of this.roundViews) {
      if (!byRound.has(round)) {
        view.element.remove();
        this.roundViews.delete(round);
      }
    }
    let previous: Element | null = null;
    for (const round of rounds) {
      let view = this.roundViews.get(round);
      if (!view) {
        view = new RoundView(this, round);
        this.roundViews.set(round, view);
      }
      view.update(byRound.get(round) ?? [], round === openRound, rounds.length > 1);
      const expected: Element | null = previous ? previous.nextElementSibling : this.roundsElement.firstElementChild;
      if (expected !== view.element) {
        if (previous) previous.after(view.element);
        else this.roundsElement.prepend(view.element);
      }
      previous = view.element;
    }
  }

  /** The code may be asked for: every open question is answered, waived, or has an unsent answer typed. */
  generateReadiness(): { ready: boolean; remaining: number; unsent: number } {
    const open = openRoundQuestions(this.session);
    let remaining = 0;
    let unsent = 0;
    for (const question of open) {
      if (isSettled(question) && !this.editing.has(question.id)) continue;
      if (this.draftOf(question.id).trim() !== "") unsent += 1;
      else if (!isSettled(question)) remaining += 1;
    }
    return { ready: open.length > 0 && remaining === 0, remaining, unsent };
  }

  draftOf(questionId: string): string {
    return uiState.answerDrafts[draftKey(this.sessionId, questionId)] ?? "";
  }

  setDraft(questionId: string, text: string): void {
    uiState.answerDrafts[draftKey(this.sessionId, questionId)] = text;
    saveUiState();
    this.roundViews.forEach((view) => view.updateGenerate());
  }

  answer(questionId: string, text: string): void {
    const value = text.trim();
    if (value === "") return;
    if (post({ type: "answer", sessionId: this.sessionId, questionId, text: value })) {
      this.setDraft(questionId, "");
      this.editing.delete(questionId);
      this.focusAfterQuestion = questionId;
    }
  }

  waive(questionId: string): void {
    if (post({ type: "waive", sessionId: this.sessionId, questionId })) {
      this.setDraft(questionId, "");
      this.editing.delete(questionId);
      this.focusAfterQuestion = questionId;
    }
  }

  /** Sends the typed-but-unsent answers first, then asks for the code (the host handles messages in order). */
  generate(): void {
    if (!this.generateReadiness().ready) return;
    for (const question of openRoundQuestions(this.session)) {
      const draft = this.draftOf(question.id).trim();
      if (draft !== "" && (!isSettled(question) || this.editing.has(question.id))) this.answer(question.id, draft);
    }
    this.focusAfterQuestion = null;
    post({ type: "generate", sessionId: this.sessionId });
  }

  reopen(questionId: string): void {
    const question = this.session.questions.find((q) => q.id === questionId);
    if (!question) return;
    this.editing.add(questionId);
    if (this.draftOf(questionId) === "" && question.answer) this.setDraft(questionId, question.answer);
    this.renderRounds();
    focusByKey(this.roundsElement, questionFieldKey(questionId));
  }

  cancelReopen(questionId: string): void {
    this.editing.delete(questionId);
    this.setDraft(questionId, "");
    this.renderRounds();
    focusByKey(this.roundsElement, `change:${questionId}`);
  }

  /**
   * Keyboard focus after a state: when the focused control went away because its question was answered, move to the
   * next open question (or Generate); when a new round of questions arrives while the user waits, go to its first.
   */
  private placeFocus(): void {
    const open = openRoundQuestions(this.session);
    const roundKey = open.length > 0 ? `${this.sessionId}#${open[0]?.round ?? 0}` : null;
    const newRound = roundKey !== null && roundKey !== this.openRoundKey;
    this.openRoundKey = roundKey;
    const after = this.focusAfterQuestion;
    this.focusAfterQuestion = null;
    if (open.length === 0) return;
    const composer = document.querySelector<HTMLElement>(".composer-input");
    const waiting = focusIsLost() || (composer !== null && composer.contains(document.activeElement) && uiState.draft === "");
    if (newRound && waiting) {
      const first = open.find((q) => !isSettled(q)) ?? open[0];
      if (first) focusByKey(this.roundsElement, questionFieldKey(first.id));
      return;
    }
    if (after === null || !focusIsLost()) return;
    const index = open.findIndex((q) => q.id === after);
    const ordered = [...open.slice(index + 1), ...open.slice(0, Math.max(0, index))];
    const next = ordered.find((q) => !isSettled(q) || this.editing.has(q.id));
    if (next) focusByKey(this.roundsElement, questionFieldKey(next.id));
    else focusByKey(this.roundsElement, "generate");
  }

  // ------------------------------------------------------------------------------------------------------------
  // Assumptions.

  private renderAssumptions(): void {
    const { assumptions } = this.session;
    const editable = !isBusy(this.session.state);
    if (this.editingAssumption && (this.editingAssumption.index >= assumptions.length || !editable)) {
      this.editingAssumption = null;
    }
    const key = JSON.stringify([assumptions, editable, this.editingAssumption?.index ?? null]);
    if (key === this.renderedAssumptionsKey) return;
    this.renderedAssumptionsKey = key;
    this.assumptionsElement.hidden = assumptions.length === 0;
    setText(
      this.assumptionsSummary,
      assumptions.length === 1 ? "1 assumption" : `${assumptions.length} assumptions`,
    );
    rebuildKeepingFocus(this.assumptionsList, () =>
      assumptions.map((text, index) => this.assumptionItem(text, index, editable)),
    );
  }

  private assumptionItem(text: string, index: number, editable: boolean): HTMLLIElement {
    const editing = this.editingAssumption?.index === index ? this.editingAssumption : null;
    if (!editing) {
      const edit = editable
        ? h(
            "button",
            {
              type: "button",
              class: "link-button",
              "data-focus-key": `assumption-edit:${index}`,
              "aria-label": `Correct assumption ${index + 1}`,
            },
            "Edit",
          )
        : null;
      edit?.addEventListener("click", () => {
        this.editingAssumption = { index, draft: text };
        this.renderAssumptions();
        focusByKey(this.assumptionsList, `assumption-field:${index}`);
      });
      return h("li", { class: "assumption" }, h("span", { class: "assumption-text" }, text), edit);
    }
    const field = h("vscode-textfield", { class: "assumption-field", "data-focus-key": `assumption-field:${index}` });
    field.value = editing.draft;
    field.label = `Correct assumption ${index + 1}`;
    const save = h("vscode-button", { "data-focus-key": `assumption-save:${index}` }, "Save");
    const cancel = h("vscode-button", { secondary: true, "data-focus-key": `assumption-cancel:${index}` }, "Cancel");
    const submit = (): void => {
      const value = field.value.trim();
      if (value === "" || value === text) return close();
      if (post({ type: "correctAssumption", sessionId: this.sessionId, index, text: value })) close();
    };
    const close = (): void => {
      this.editingAssumption = null;
      this.renderAssumptions();
      focusByKey(this.assumptionsList, `assumption-edit:${index}`);
    };
    field.addEventListener("input", () => {
      editing.draft = field.value;
    });
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    save.addEventListener("click", submit);
    cancel.addEventListener("click", close);
    return h("li", { class: "assumption editing" }, field, h("div", { class: "button-row" }, save, cancel));
  }

  // ------------------------------------------------------------------------------------------------------------
  // State notes, the answer, the failure.

  private renderStateNote(): void {
    const { state } = this.session;
    let note = "";
    if (state === "cancelled") note = this.session.answer === "" ? "Stopped before any code was written." : "Stopped. This is what was produced:";
    setText(this.stateNote, note);
    this.stateNote.hidden = note === "";
  }

  private renderAnswerSoon(): void {
    const streaming = this.session.state === "generating";
    this.answerSection.classList.toggle("streaming", streaming);
    this.answerSection.setAttribute("aria-busy", String(streaming));
    this.streamingMark.hidden = !streaming;
    this.answerSection.hidden = this.session.answer === "" && !streaming;
    this.setToolbarsEnabled(!isBusy(this.session.state));
    if (this.session.answer === this.renderedAnswer || this.answerFramePending) return;
    this.answerFramePending = true;
    nextFrame(() => {
      this.answerFramePending = false;
      this.renderAnswer();
    });
  }

  private renderAnswer(): void {
    const text = this.session.answer;
    if (text === this.renderedAnswer) return;
    const stick = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 48;
    const active = document.activeElement;
    const focusKey = active instanceof HTMLElement && this.answerBody.contains(active) ? active.dataset.focusKey : undefined;
    setMarkdown(this.answerBody, text);
    this.renderedAnswer = text;
    this.placeStreamingMark();
    for (const block of this.answerBody.querySelectorAll<HTMLElement>(".code-block")) this.addToolbar(block);
    this.setToolbarsEnabled(!isBusy(this.session.state), true);
    if (focusKey !== undefined) focusByKey(this.answerBody, focusKey);
    if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** The blinking cursor goes at the end of the last paragraph or code block, where the text is growing. */
  private placeStreamingMark(): void {
    const last = this.answerBody.lastElementChild;
    const target = last?.matches(".code-block")
      ? last.querySelector("pre.code code")
      : last?.matches("p, h1, h2, h3, h4, h5, h6")
        ? last
        : null;
    (target ?? this.answerSection).append(this.streamingMark);
  }

  private addToolbar(block: HTMLElement): void {
    const index = Number(block.dataset.blockIndex);
    const header = block.querySelector(".code-header");
    if (!Number.isInteger(index) || !header) return;
    const language = block.querySelector(".code-language")?.textContent ?? "";
    const what = `code block ${index + 1}${language !== "" && language !== "text" ? ` (${language})` : ""}`;
    const toolbar = h("div", { class: "code-toolbar", role: "group", "aria-label": `Actions for ${what}` });
    for (const { action, label, title } of codeActions) {
      toolbar.append(
        h(
          "button",
          {
            type: "button",
            class: "code-tool",
            "data-action": action,
            "data-focus-key": `code:${index}:${action}`,
            title,
            "aria-label": `${title}: ${what}`,
          },
          label,
        ),
      );
    }
    header.append(toolbar);
  }

  private setToolbarsEnabled(enabled: boolean, force = false): void {
    if (enabled === this.toolbarsEnabled && !force) return;
    this.toolbarsEnabled = enabled;
    for (const button of this.answerBody.querySelectorAll<HTMLButtonElement>(".code-tool")) button.disabled = !enabled;
  }

  private onAnswerClick(event: MouseEvent): void {
    const target = event.target instanceof Element ? event.target : null;
    const tool = target?.closest<HTMLButtonElement>(".code-tool");
    if (tool && this.answerBody.contains(tool)) {
      const block = tool.closest<HTMLElement>(".code-block");
      const blockIndex = Number(block?.dataset.blockIndex);
      const action = codeActions.find((a) => a.action === tool.dataset.action)?.action;
      if (!tool.disabled && action && Number.isInteger(blockIndex)) {
        post({ type: "codeAction", sessionId: this.sessionId, blockIndex, action });
      }
      return;
    }
    const link = target?.closest<HTMLElement>(".md-link");
    if (link && this.answerBody.contains(link)) {
      event.preventDefault();
      this.openLink(link);
    }
  }

  private onAnswerKeydown(event: KeyboardEvent): void {
    const target = event.target instanceof HTMLElement ? event.target : null;
    if (event.key === "Enter" && target?.classList.contains("md-link")) {
      event.preventDefault();
      this.openLink(target);
    }
  }

  private openLink(link: HTMLElement): void {
    const url = link.dataset.href ?? "";
    if (isWebLink(url)) post({ type: "openLink", url });
  }

  private renderFailure(): void {
    const { failure, state } = this.session;
    const shown = state === "failed" && failure !== undefined;
    const key = shown ? JSON.stringify(failure) : "";
    if (key === this.renderedFailureKey) return;
    this.renderedFailureKey = key;
    this.failureElement.hidden = !shown;
    if (!shown || !failure) {
      replaceChildren(this.failureElement);
      return;
    }
    const rawId = uniqueId("raw");
    replaceChildren(
      this.failureElement,
      h("h2", { class: "failure-title" }, "Something went wrong"),
      h("p", { class: "failure-message" }, failure.message),
      failure.raw !== undefined && failure.raw !== ""
        ? h(
            "div",
            { class: "failure-raw" },
            h("h3", { class: "failure-raw-label", id: rawId }, "What the model wrote"),
            h("pre", { class: "raw", "aria-labelledby": rawId, tabindex: "0" }, failure.raw),
          )
        : null,
    );
  }
}

/** One round of questions. The open round is a form; earlier rounds are a record. */
class RoundView {
  readonly element: HTMLElement;
  private readonly heading: HTMLElement;
  private readonly list = h("ol", { class: "questions" });
  private readonly footer = h("div", { class: "round-footer" });
  private readonly generateButton = h("vscode-button", { class: "generate", "data-focus-key": "generate" }, "Generate code");
  private readonly hint = h("span", { class: "round-hint", "aria-live": "polite" });
  private readonly items = new Map<string, { element: HTMLLIElement; key: string }>();
  private open = false;

  constructor(
    private readonly owner: SessionView,
    private readonly round: number,
  ) {
    const headingId = uniqueId("round");
    this.heading = h("h2", { class: "round-title", id: headingId });
    this.element = h("section", { class: "round", "aria-labelledby": headingId }, this.heading, this.list);
    this.footer.append(this.generateButton, this.hint);
    this.generateButton.addEventListener("click", () => {
      if (!this.generateButton.disabled) this.owner.generate();
    });
  }

  update(questions: Question[], open: boolean, several: boolean): void {
    this.open = open;
    this.element.classList.toggle("open", open);
    const count = questions.length;
    const what = count === 1 ? "1 question" : `${count} questions`;
    setText(this.heading, several ? `Round ${this.round}: ${what}` : open ? `Before I write code: ${what}` : `Questions`);
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const question of questions) {
      seen.add(question.id);
      const editing = this.owner.editing.has(question.id);
      const key = JSON.stringify([question, open, editing]);
      let item = this.items.get(question.id);
      if (!item || item.key !== key) {
        const element = this.buildItem(question, open, editing);
        const active = document.activeElement;
        const focusKey = item && active instanceof HTMLElement && item.element.contains(active) ? active.dataset.focusKey : undefined;
        if (item) item.element.replaceWith(element);
        item = { element, key };
        this.items.set(question.id, item);
        if (focusKey !== undefined) focusByKey(element, focusKey);
      }
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== item.element) {
        if (previous) previous.after(item.element);
        else this.list.prepend(item.element);
      }
      previous = item.element;
    }
    for (const [id, item] of this.items) {
      if (!seen.has(id)) {
        item.element.remove();
        this.items.delete(id);
      }
    }
    if (open && !this.footer.isConnected) this.element.append(this.footer);
    else if (!open && this.footer.isConnected) this.footer.remove();
    this.updateGenerate();
  }

  updateGenerate(): void {
    if (!this.open) return;
    const { ready, remaining, unsent } = this.owner.generateReadiness();
    this.generateButton.disabled = !ready;
    let hint = "";
    if (remaining > 0) hint = remaining === 1 ? "Answer or skip 1 more question." : `Answer or skip ${remaining} more questions.`;
    else if (unsent > 0) hint = unsent === 1 ? "Your typed answer is sent with it." : "Your typed answers are sent with it.";
    setText(this.hint, hint);
  }

  private buildItem(question: Question, open: boolean, editing: boolean): HTMLLIElement {
    const textId = uniqueId("question");
    const item = h(
      "li",
      { class: "question", "data-question-id": question.id, role: "group", "aria-labelledby": textId },
      h("p", { class: "question-text", id: textId }, question.text),
    );
    if (open && (!isSettled(question) || editing)) {
      item.classList.add("asking");
      item.append(this.form(question, editing));
      return item;
    }
    item.classList.add(question.waived ? "waived" : isSettled(question) ? "answered" : "unanswered");
    const given = question.waived
      ? h("p", { class: "given" }, h("span", { class: "given-label" }, "You decide:"), " the assistant chooses and says so.")
      : question.answer !== undefined && question.answer !== ""
        ? h("p", { class: "given" }, h("span", { class: "given-label" }, "Answer:"), " ", question.answer)
        : h("p", { class: "given" }, h("span", { class: "given-label" }, "Not answered."));
    item.append(given);
    if (open) {
      const change = h(
        "button",
        { type: "button", class: "link-button", "data-focus-key": `change:${question.id}`, "aria-label": `Change the answer to: ${question.text}` },
        "Change",
      );
      change.addEventListener("click", () => this.owner.reopen(question.id));
      given.append(" ", change);
    }
    return item;
  }

  private form(question: Question, editing: boolean): HTMLElement {
    const field = h("vscode-textfield", {
      class: "answer-field",
      placeholder: "Type an answer and press Enter",
      "data-focus-key": questionFieldKey(question.id),
    });
    field.label = `Answer: ${question.text}`;
    field.value = this.owner.draftOf(question.id);
    field.addEventListener("input", () => this.owner.setDraft(question.id, field.value));
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        this.owner.answer(question.id, field.value);
      } else if (event.key === "Escape" && editing) {
        event.preventDefault();
        this.owner.cancelReopen(question.id);
      }
    });
    const choices = h("div", { class: "choices", role: "group", "aria-label": "Suggested answers" });
    question.suggestions.forEach((suggestion, index) => {
      const chip = h(
        "button",
        { type: "button", class: "suggestion", "data-focus-key": `suggestion:${question.id}:${index}`, title: `Answer: ${suggestion}` },
        suggestion,
      );
      chip.addEventListener("click", () => this.owner.answer(question.id, suggestion));
      choices.append(chip);
    });
    const waive = h(
      "button",
      {
        type: "button",
        class: "suggestion waive",
        "data-focus-key": `waive:${question.id}`,
        title: "Let the assistant choose; it will state what it assumed",
        "aria-label": `You decide: ${question.text}`,
      },
      "You decide",
    );
    waive.addEventListener("click", () => this.owner.waive(question.id));
    choices.append(waive);
    return h("div", { class: "question-form" }, field, choices);
  }
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
