/**
 * One conversation on screen, turn after turn, as Lit templates over its controller (session-controller.ts): each
 * turn's request, its rounds of questions (an inline form for the open round of the current turn), its assumptions,
 * the streamed answer with a toolbar per code block, a failure; and for the current turn, Edit, Continue and
 * Regenerate. Lit keeps each question's elements by its id (`repeat`), so typing in one answer field
 * survives a state for another; every button calls the controller, which asks the host.
 */
import { html, nothing, type TemplateResult } from "lit";
import { live } from "lit/directives/live.js";
import { repeat } from "lit/directives/repeat.js";
import {
  answerCode,
  askingStatus,
  assumedSentence,
  canContinue,
  canRegenerate,
  conversationTurns,
  isBusy,
  isSettled,
  openRoundQuestions,
} from "../src/core/rules.js";
import type { Question, SessionState, Turn } from "../src/core/types.js";
import { answerBody, codeActions } from "./answer-body.js";
import { controlKey, questionFieldKey, type Feedback, type SessionController } from "./session-controller.js";

interface TextInput extends HTMLElement {
  value: string;
}

const valueOf = (event: Event): string => (event.currentTarget as TextInput).value;

function feedbackLine(feedback: Feedback | undefined, className: string): TemplateResult | typeof nothing {
  if (!feedback) return nothing;
  return html`<p class="${className} feedback-${feedback.level}" role=${feedback.level === "error" ? "alert" : "status"}>${feedback.text}</p>`;
}

/** Where a turn sits in the conversation: its index, and whether it is the current one (the one the user can act on). */
interface TurnPlace {
  index: number;
  current: boolean;
}

type ShownTurn = Turn & { state: SessionState };

export function sessionTemplate(c: SessionController): TemplateResult {
  const turns = conversationTurns(c.snapshot);
  return html`<article class="session" aria-label="Conversation">
    ${repeat(
      turns,
      (_turn, index) => index,
      (turn, index) => turnTemplate(c, turn, { index, current: index === turns.length - 1 }),
    )}
  </article>`;
}

/** One turn: the request, its rounds of questions, its assumptions, the answer, and how it ended. */
function turnTemplate(c: SessionController, turn: ShownTurn, place: TurnPlace): TemplateResult {
  const rounds = [...new Set(turn.questions.map((q) => q.round))].sort((a, b) => a - b);
  const openRound = place.current ? openRoundQuestions(c.snapshot)[0]?.round : undefined;
  return html`<section class="turn-group ${place.current ? "current" : "past"}" aria-label=${`Turn ${place.index + 1}`} data-turn=${place.index}>
    ${requestTemplate(c, turn, place)}
    <div class="rounds">
      ${repeat(
        rounds,
        (round) => round,
        (round) =>
          roundTemplate(
            c,
            round,
            turn.questions.filter((q) => q.round === round),
            round === openRound,
            rounds.length > 1,
            place,
          ),
      )}
    </div>
    ${assumptionsTemplate(c, turn, place)} ${stateNote(turn, place)} ${answerTemplate(c, turn, place)} ${failureTemplate(c, turn, place)}
    ${place.current ? turnActions(c) : nothing}
  </section>`;
}

function requestTemplate(c: SessionController, turn: ShownTurn, place: TurnPlace): TemplateResult {
  const { request, context } = turn;
  const where: string[] = [];
  if (context.fileName) where.push(baseName(context.fileName));
  if (context.selection) {
    const { startLine, endLine } = context.selection;
    where.push(startLine === endLine ? `line ${startLine}` : `lines ${startLine}–${endLine}`);
  }
  const heading = `request-heading-${place.index}`;
  const editing = place.current && c.editingRequest !== null;
  const editable = place.current && canRegenerate(c.snapshot);
  return html`<section class="turn turn-user" aria-labelledby=${heading}>
    <h2 class="turn-label" id=${heading}>You</h2>
    ${
      editing
        ? requestEditor(c)
        : html`<p class="request-text">${request}</p>
          ${
            editable
              ? html`<button
                type="button"
                class="link-button request-edit"
                data-focus-key="request-edit"
                aria-label="Edit this request and send it again"
                @click=${() => c.startEditingRequest()}
              >Edit</button>`
              : nothing
          }`
    }
    ${where.length > 0 ? html`<p class="request-context" title=${context.fileName ?? ""}>${where.join(" · ")}</p>` : nothing}
    ${turn.contextNote !== undefined ? html`<p class="context-note" role="note">${turn.contextNote}</p>` : nothing}
  </section>`;
}

function requestEditor(c: SessionController): TemplateResult {
  const editing = c.editingRequest;
  return html`<div class="request-editor" aria-busy=${c.pending.has(controlKey.editRequest) ? "true" : "false"}>
    <vscode-textarea
      class="request-field"
      rows="3"
      resize="none"
      data-focus-key="request-field"
      .label=${"Edit the request"}
      .value=${live(editing?.draft ?? "")}
      @input=${(event: Event) => {
        if (editing) editing.draft = valueOf(event);
      }}
      @keydown=${(event: KeyboardEvent) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          void c.sendEditedRequest();
        } else if (event.key === "Escape") {
          event.preventDefault();
          c.cancelEditingRequest();
        }
      }}
    ></vscode-textarea>
    <div class="button-row">
      <vscode-button class="request-send" data-focus-key="request-send" @click=${() => void c.sendEditedRequest()}>Send</vscode-button>
      <vscode-button secondary class="request-cancel" data-focus-key="request-cancel" @click=${() => c.cancelEditingRequest()}>Cancel</vscode-button>
    </div>
    ${feedbackLine(c.feedback.get(controlKey.editRequest), "request-feedback")}
  </div>`;
}

/** What the user can do with the current turn once it has run: continue a stopped answer, or run it again. */
function turnActions(c: SessionController): TemplateResult | typeof nothing {
  const session = c.snapshot;
  if (!canRegenerate(session) || session.state === "asking") return nothing;
  const more = c.regenerateMenuOpen;
  return html`<div class="turn-actions" role="group" aria-label="This answer" aria-busy=${c.pending.has(controlKey.turnActions) ? "true" : "false"}>
    ${
      canContinue(session)
        ? html`<vscode-button class="continue" data-focus-key="continue" title="Write the rest of the answer" @click=${() => c.continueAnswer()}
          >Continue</vscode-button
        >`
        : nothing
    }
    <vscode-button
      secondary
      class="regenerate"
      data-focus-key="regenerate"
      title="Write this answer again"
      @click=${() => c.regenerate()}
      >${session.state === "failed" ? "Try again" : "Regenerate"}</vscode-button
    >
    <button
      type="button"
      class="icon-button regenerate-more"
      data-focus-key="regenerate-more"
      aria-expanded=${String(more)}
      aria-controls="regenerate-menu"
      aria-label="More ways to regenerate"
      title="Regenerate asking questions first, or without questions"
      @click=${() => c.toggleRegenerateMenu()}
    >⋯</button>
    ${
      session.state === "failed"
        ? html`<vscode-button secondary class="pick-model" data-focus-key="failure-pick-model" @click=${() => c.pickModel()}>Choose another model</vscode-button>`
        : nothing
    }
    <div class="regenerate-menu" id="regenerate-menu" role="group" aria-label="Regenerate" ?hidden=${!more}>
      <button type="button" class="link-button regenerate-ask" data-focus-key="regenerate-ask" @click=${() => c.regenerate("always")}>
        Regenerate, asking me questions first
      </button>
      <button type="button" class="link-button regenerate-no-ask" data-focus-key="regenerate-no-ask" @click=${() => c.regenerate("never")}>
        Regenerate without questions
      </button>
    </div>
    ${feedbackLine(c.feedback.get(controlKey.turnActions), "turn-feedback")}
  </div>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Questions.

function roundTemplate(c: SessionController, round: number, questions: Question[], open: boolean, several: boolean, place: TurnPlace): TemplateResult {
  const what = questions.length === 1 ? "1 question" : `${questions.length} questions`;
  const title = several ? `Round ${round}: ${what}` : open ? `Before I write code: ${what}` : "Questions";
  const id = place.current ? `round-${round}` : `round-t${place.index}-${round}`;
  return html`<section class="round ${open ? "open" : ""}" aria-labelledby=${id}>
    <h2 class="round-title" id=${id}>${title}</h2>
    <ol class="questions">
      ${repeat(
        questions,
        (q) => q.id,
        (q) => questionTemplate(c, q, open),
      )}
    </ol>
    ${open ? roundFooter(c) : nothing}
  </section>`;
}

function roundFooter(c: SessionController): TemplateResult {
  const { ready, remaining, unsent } = c.generateReadiness();
  let hint = "";
  if (remaining > 0) hint = askingStatus(remaining);
  else if (unsent > 0) hint = unsent === 1 ? "Your typed answer is sent with it." : "Your typed answers are sent with it.";
  return html`<div class="round-footer">
    <vscode-button
      class="generate"
      data-focus-key="generate"
      ?disabled=${!ready}
      aria-busy=${c.pending.has(controlKey.generate) ? "true" : "false"}
      @click=${(event: Event) => {
        if (!(event.currentTarget as HTMLElement).hasAttribute("disabled")) c.generate();
      }}
      >Generate code</vscode-button
    >
    <span class="round-hint" aria-live="polite">${hint}</span>
    ${feedbackLine(c.feedback.get(controlKey.generate), "round-feedback")}
  </div>`;
}

function questionTemplate(c: SessionController, q: Question, open: boolean): TemplateResult {
  const editing = c.editing.has(q.id);
  const asking = open && (!isSettled(q) || editing);
  const state = asking ? "asking" : q.waived ? "waived" : isSettled(q) ? "answered" : "unanswered";
  const key = controlKey.question(q.id);
  return html`<li
    class="question ${state}"
    data-question-id=${q.id}
    role="group"
    aria-labelledby="question-${q.id}"
    aria-busy=${c.pending.has(key) ? "true" : "false"}
  >
    <p class="question-text" id="question-${q.id}">${q.text}</p>
    ${asking ? questionForm(c, q, editing) : givenTemplate(c, q, open)} ${feedbackLine(c.feedback.get(key), "question-feedback")}
  </li>`;
}

function givenTemplate(c: SessionController, q: Question, open: boolean): TemplateResult {
  const change = open
    ? html` <button
          type="button"
          class="link-button"
          data-focus-key="change:${q.id}"
          aria-label="Change the answer to: ${q.text}"
          @click=${() => c.reopen(q.id)}
        >Change</button>`
    : nothing;
  const assumed = q.waived && q.assumed !== undefined ? assumedSentence(q.assumed) : undefined;
  if (assumed !== undefined) return html`<p class="given"><span class="given-label">You decide:</span> ${assumed}${change}</p>`;
  if (q.waived) return html`<p class="given"><span class="given-label">You decide:</span> the assistant chooses and says so.${change}</p>`;
  if (q.answer !== undefined && q.answer !== "") return html`<p class="given"><span class="given-label">Answer:</span> ${q.answer}${change}</p>`;
  return html`<p class="given"><span class="given-label">Not answered.</span>${change}</p>`;
}

function questionForm(c: SessionController, q: Question, editing: boolean): TemplateResult {
  const onKeydown = (event: KeyboardEvent): void => {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      void c.answer(q.id, valueOf(event));
    } else if (event.key === "Escape" && editing) {
      event.preventDefault();
      c.cancelReopen(q.id);
    }
  };
  return html`<div class="question-form">
    <vscode-textfield
      class="answer-field"
      placeholder="Type an answer and press Enter"
      data-focus-key=${questionFieldKey(q.id)}
      .label=${`Answer: ${q.text}`}
      .value=${live(c.draftOf(q.id))}
      @input=${(event: Event) => c.setDraft(q.id, valueOf(event))}
      @keydown=${onKeydown}
    ></vscode-textfield>
    <div class="choices" role="group" aria-label="Suggested answers">
      ${q.suggestions.map(
        (suggestion, index) =>
          html`<button
            type="button"
            class="suggestion"
            data-focus-key="suggestion:${q.id}:${index}"
            title=${suggestion.endsWith("…") ? `Cut short: puts "${suggestion.slice(0, -1)}" in the field to finish` : `Answer: ${suggestion}`}
            @click=${() => (suggestion.endsWith("…") ? c.startAnswer(q.id, suggestion.slice(0, -1).trimEnd()) : void c.answer(q.id, suggestion))}
          >${suggestion}</button>`,
      )}
      <button
        type="button"
        class="suggestion waive"
        data-focus-key="waive:${q.id}"
        title="Let the assistant choose; it will state what it assumed"
        aria-label="You decide: ${q.text}"
        @click=${() => void c.waive(q.id)}
      >You decide</button>
    </div>
  </div>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Assumptions.

function assumptionsTemplate(c: SessionController, turn: ShownTurn, place: TurnPlace): TemplateResult {
  const { assumptions, state } = turn;
  const editable = place.current && !isBusy(state);
  return html`<details class="assumptions" ?hidden=${assumptions.length === 0}>
    <summary class="assumptions-summary">${assumptions.length === 1 ? "1 assumption" : `${assumptions.length} assumptions`}</summary>
    <ol class="assumptions-list">
      ${assumptions.map((text, index) =>
        editable && c.editingAssumption?.index === index ? assumptionEditor(c, index) : assumptionItem(c, text, index, editable),
      )}
    </ol>
  </details>`;
}

function assumptionItem(c: SessionController, text: string, index: number, editable: boolean): TemplateResult {
  return html`<li class="assumption">
    <span class="assumption-text">${text}</span>${
      editable
        ? html`<button
          type="button"
          class="link-button"
          data-focus-key="assumption-edit:${index}"
          aria-label="Correct assumption ${index + 1}"
          @click=${() => c.editAssumption(index)}
        >Edit</button>`
        : nothing
    }
    ${feedbackLine(c.feedback.get(controlKey.assumption(index)), "assumption-feedback")}
  </li>`;
}

function assumptionEditor(c: SessionController, index: number): TemplateResult {
  const editing = c.editingAssumption;
  const submit = (): void => void c.correctAssumption(index, editing?.draft ?? "");
  return html`<li class="assumption editing" aria-busy=${c.pending.has(controlKey.assumption(index)) ? "true" : "false"}>
    <vscode-textfield
      class="assumption-field"
      data-focus-key="assumption-field:${index}"
      .label=${`Correct assumption ${index + 1}`}
      .value=${live(editing?.draft ?? "")}
      @input=${(event: Event) => {
        if (editing) editing.draft = valueOf(event);
      }}
      @keydown=${(event: KeyboardEvent) => {
        if (event.key === "Enter" && !event.isComposing) {
          event.preventDefault();
          submit();
        } else if (event.key === "Escape") {
          event.preventDefault();
          c.closeAssumption(index);
        }
      }}
    ></vscode-textfield>
    <div class="button-row">
      <vscode-button data-focus-key="assumption-save:${index}" @click=${submit}>Save</vscode-button>
      <vscode-button secondary data-focus-key="assumption-cancel:${index}" @click=${() => c.closeAssumption(index)}>Cancel</vscode-button>
    </div>
    ${feedbackLine(c.feedback.get(controlKey.assumption(index)), "assumption-feedback")}
  </li>`;
}

// ---------------------------------------------------------------------------------------------------------------
// State note, the answer, the failure.

function stateNote(turn: ShownTurn, place: TurnPlace): TemplateResult | typeof nothing {
  const { state, answer, questions } = turn;
  if (state !== "cancelled") return nothing;
  if (!place.current && answer === "" && questions.some((q) => !isSettled(q))) {
    return html`<p class="state-note">Not answered: the conversation went on.</p>`;
  }
  return html`<p class="state-note">${answer === "" ? "Stopped before any code was written." : "Stopped. This is what was produced:"}</p>`;
}

function answerTemplate(c: SessionController, turn: ShownTurn, place: TurnPlace): TemplateResult {
  const { state, answer, codeBlocks } = turn;
  const streaming = place.current && state === "generating";
  const turnIndex = place.current ? undefined : place.index;
  const feedback = new Map<number, Feedback>();
  codeBlocks.forEach((_, index) => {
    const said = c.feedback.get(controlKey.code(index, turnIndex));
    if (said) feedback.set(index, said);
  });
  const onClick = (event: MouseEvent): void => {
    const target = event.target instanceof Element ? event.target : null;
    const tool = target?.closest<HTMLButtonElement>(".code-tool");
    if (tool) {
      const blockIndex = Number(tool.closest<HTMLElement>(".code-block")?.dataset.blockIndex);
      const action = codeActions.find((a) => a.action === tool.dataset.action)?.action;
      if (!tool.disabled && action && Number.isInteger(blockIndex)) c.codeAction(blockIndex, action, turnIndex);
      return;
    }
    const link = target?.closest<HTMLElement>(".md-link");
    if (link) {
      event.preventDefault();
      c.openLink(link.dataset.href ?? "");
    }
  };
  const onKeydown = (event: KeyboardEvent): void => {
    const target = event.target instanceof HTMLElement ? event.target : null;
    if (event.key === "Enter" && target?.classList.contains("md-link")) {
      event.preventDefault();
      c.openLink(target.dataset.href ?? "");
    }
  };
  const heading = `answer-heading-${place.index}`;
  const notCode = new Map(answerCode(turn).notCode.map((b) => [b.index, b.kind] as const));
  const limit = turn.hitLimit === true && !streaming;
  return html`<section
    class="turn turn-assistant answer ${streaming ? "streaming" : ""}"
    aria-labelledby=${heading}
    aria-busy=${streaming ? "true" : "false"}
    ?hidden=${answer === "" && !streaming}
  >
    <h2 class="turn-label" id=${heading}>ClarifyCoder</h2>
    <div
      class="markdown"
      @click=${onClick}
      @keydown=${onKeydown}
      ${answerBody(answer, {
        streaming,
        actionsEnabled: !isBusy(c.snapshot.state),
        feedback,
        notCode,
        ...(turnIndex !== undefined ? { focusPrefix: `t${turnIndex}:` } : {}),
      })}
    ></div>
    ${limit ? html`<p class="state-note limit-note">The answer stopped at the length limit.${place.current ? " Continue writes the rest." : ""}</p>` : nothing}
  </section>`;
}

function failureTemplate(c: SessionController, turn: ShownTurn, place: TurnPlace): TemplateResult | typeof nothing {
  const { failure, state } = turn;
  if (state !== "failed" || failure === undefined) return nothing;
  const raw = failure.raw !== undefined && failure.raw !== "" ? failure.raw : undefined;
  const rawId = `failure-raw-${place.index}`;
  return html`<div class="failure" role=${place.current ? "alert" : nothing}>
    <h2 class="failure-title">Something went wrong</h2>
    <p class="failure-message">${failure.message}</p>
    ${
      raw !== undefined
        ? html`<div class="failure-raw">
          <h3 class="failure-raw-label" id=${rawId}>What the model wrote</h3>
          <pre class="raw" aria-labelledby=${rawId} tabindex="0">${raw}</pre>
        </div>`
        : nothing
    }
  </div>`;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
