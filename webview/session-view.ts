/**
 * One conversation on screen, as Lit templates over its controller (session-controller.ts): the request, the rounds
 * of questions (an inline form for the open round), the assumptions, the streamed answer with a toolbar per code
 * block, and a failure. Lit keeps each question's elements by its id (`repeat`), so typing in one answer field
 * survives a state for another; every button calls the controller, which asks the host.
 */
import { html, nothing, type TemplateResult } from "lit";
import { live } from "lit/directives/live.js";
import { repeat } from "lit/directives/repeat.js";
import { isBusy, isSettled, openRoundQuestions } from "../src/core/rules.js";
import type { Question } from "../src/core/types.js";
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

export function sessionTemplate(c: SessionController): TemplateResult {
  const session = c.snapshot;
  const rounds = [...new Set(session.questions.map((q) => q.round))].sort((a, b) => a - b);
  const openRound = openRoundQuestions(session)[0]?.round;
  return html`<article class="session" aria-label="Conversation">
    ${requestTemplate(c)}
    <div class="rounds">
      ${repeat(
        rounds,
        (round) => round,
        (round) => roundTemplate(c, round, session.questions.filter((q) => q.round === round), round === openRound, rounds.length > 1),
      )}
    </div>
    ${assumptionsTemplate(c)} ${stateNote(c)} ${answerTemplate(c)} ${failureTemplate(c)}
  </article>`;
}

function requestTemplate(c: SessionController): TemplateResult {
  const { request, context } = c.snapshot;
  const where: string[] = [];
  if (context.fileName) where.push(baseName(context.fileName));
  if (context.selection) {
    const { startLine, endLine } = context.selection;
    where.push(startLine === endLine ? `line ${startLine}` : `lines ${startLine}–${endLine}`);
  }
  return html`<section class="turn turn-user" aria-labelledby="request-heading">
    <h2 class="turn-label" id="request-heading">You</h2>
    <p class="request-text">${request}</p>
    ${where.length > 0 ? html`<p class="request-context" title=${context.fileName ?? ""}>${where.join(" · ")}</p>` : nothing}
  </section>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Questions.

function roundTemplate(c: SessionController, round: number, questions: Question[], open: boolean, several: boolean): TemplateResult {
  const what = questions.length === 1 ? "1 question" : `${questions.length} questions`;
  const title = several ? `Round ${round}: ${what}` : open ? `Before I write code: ${what}` : "Questions";
  return html`<section class="round ${open ? "open" : ""}" aria-labelledby="round-${round}">
    <h2 class="round-title" id="round-${round}">${title}</h2>
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
  if (remaining > 0) hint = remaining === 1 ? "Answer or skip 1 more question." : `Answer or skip ${remaining} more questions.`;
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
            title="Answer: ${suggestion}"
            @click=${() => void c.answer(q.id, suggestion)}
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

function assumptionsTemplate(c: SessionController): TemplateResult {
  const { assumptions, state } = c.snapshot;
  const editable = !isBusy(state);
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
    <span class="assumption-text">${text}</span>${editable
      ? html`<button
          type="button"
          class="link-button"
          data-focus-key="assumption-edit:${index}"
          aria-label="Correct assumption ${index + 1}"
          @click=${() => c.editAssumption(index)}
        >Edit</button>`
      : nothing}
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

function stateNote(c: SessionController): TemplateResult | typeof nothing {
  const { state, answer } = c.snapshot;
  if (state !== "cancelled") return nothing;
  return html`<p class="state-note">${answer === "" ? "Stopped before any code was written." : "Stopped. This is what was produced:"}</p>`;
}

function answerTemplate(c: SessionController): TemplateResult {
  const { state, answer, codeBlocks } = c.snapshot;
  const streaming = state === "generating";
  const feedback = new Map<number, Feedback>();
  codeBlocks.forEach((_, index) => {
    const said = c.feedback.get(controlKey.code(index));
    if (said) feedback.set(index, said);
  });
  const onClick = (event: MouseEvent): void => {
    const target = event.target instanceof Element ? event.target : null;
    const tool = target?.closest<HTMLButtonElement>(".code-tool");
    if (tool) {
      const blockIndex = Number(tool.closest<HTMLElement>(".code-block")?.dataset.blockIndex);
      const action = codeActions.find((a) => a.action === tool.dataset.action)?.action;
      if (!tool.disabled && action && Number.isInteger(blockIndex)) c.codeAction(blockIndex, action);
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
  return html`<section
    class="turn turn-assistant answer ${streaming ? "streaming" : ""}"
    aria-labelledby="answer-heading"
    aria-busy=${streaming ? "true" : "false"}
    ?hidden=${answer === "" && !streaming}
  >
    <h2 class="turn-label" id="answer-heading">ClarifyCoder</h2>
    <div
      class="markdown"
      @click=${onClick}
      @keydown=${onKeydown}
      ${answerBody(answer, { streaming, actionsEnabled: !isBusy(state), feedback })}
    ></div>
  </section>`;
}

function failureTemplate(c: SessionController): TemplateResult | typeof nothing {
  const { failure, state } = c.snapshot;
  if (state !== "failed" || failure === undefined) return nothing;
  const raw = failure.raw !== undefined && failure.raw !== "" ? failure.raw : undefined;
  return html`<div class="failure" role="alert">
    <h2 class="failure-title">Something went wrong</h2>
    <p class="failure-message">${failure.message}</p>
    ${raw !== undefined
      ? html`<div class="failure-raw">
          <h3 class="failure-raw-label" id="failure-raw">What the model wrote</h3>
          <pre class="raw" aria-labelledby="failure-raw" tabindex="0">${raw}</pre>
        </div>`
      : nothing}
  </div>`;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
