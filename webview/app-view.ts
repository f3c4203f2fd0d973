/**
 * The chat view as Lit templates over its controller (app.ts): header (model, history; New chat is in the view's title
 * bar), the conversation (or the empty state), a live status line, and the composer with its context chips.
 */
import { html, nothing, type TemplateResult } from "lit";
import { live } from "lit/directives/live.js";
import { repeat } from "lit/directives/repeat.js";
import { answerCode, isBusy, openRoundQuestions, sessionStatus } from "../src/core/rules.js";
import type { ContextChip, HistoryEntry, ModelStatus, StateMessage } from "../src/core/webview-protocol.js";
import type { App } from "./app.js";
import { uiState } from "./host.js";
import { sessionTemplate } from "./session-view.js";

export function appTemplate(app: App): TemplateResult {
  return html`
    <header class="topbar">
      ${modelButton(app)}
      <div class="topbar-actions">
        <vscode-button
          secondary
          class="history-toggle"
          aria-controls="history"
          aria-expanded=${String(uiState.historyOpen)}
          @click=${() => app.toggleHistory()}
          >History</vscode-button
        >
      </div>
    </header>
    ${historyPanel(app)} ${progressBar(app)} ${modelDetail(app)}
    <div class="notice-area">${noticeTemplate(app)}${modelErrorBanner(app)}</div>
    ${demoNotice(app)}
    <main class="conversation" tabindex="-1">${app.session ? sessionTemplate(app.session) : emptyState(app)}</main>
    <div class="status-line" role="status" aria-live="polite">${statusText(app)}</div>
    ${composer(app)}
  `;
}

// ---------------------------------------------------------------------------------------------------------------
// Header: model and history.

function modelLabel(state: StateMessage | null): string {
  if (state === null) return "Connecting…";
  const model = state.model;
  const name = model.label ?? "model";
  // Where it runs ("on this machine", "served at 127.0.0.1:11434"), with its name.
  const placed = model.where ? `${name} ${model.where}` : name;
  switch (model.status) {
    case "none":
      // A chosen model that is not loaded yet loads with the first request.
      return model.label ? placed : "No model selected";
    case "loading": {
      const verb = model.downloading ? "Downloading" : "Loading";
      return model.progress !== undefined ? `${verb} ${name}… ${Math.round(model.progress * 100)}%` : `${verb} ${name}…`;
    }
    case "ready":
      return model.backend ? `${placed} · ${model.backend}` : placed;
    case "error":
      return model.label ? `${name}: failed` : "Model failed";
  }
}

/** With a conversation on screen, a model that failed to load says so there too (not only on a new chat's page). */
function modelErrorBanner(app: App): TemplateResult | typeof nothing {
  const model = app.state?.model;
  if (!app.session || model?.status !== "error") return nothing;
  // The turn that failed on it already says so, with the same button: the message is not shown twice.
  const failure = app.session.snapshot.state === "failed" ? app.session.snapshot.failure?.message : undefined;
  if (failure !== undefined && model.error !== undefined && failure.includes(model.error)) return nothing;
  return html`<div class="notice notice-error model-error" role="alert">
    <span class="notice-text">The model could not be loaded: ${model.error ?? "unknown error."}</span>
    <vscode-button secondary class="pick-model" data-focus-key="banner-pick-model" @click=${() => void app.ask({ type: "pickModel" })}
      >Choose another model</vscode-button
    >
  </div>`;
}

function modelButton(app: App): TemplateResult {
  const model: ModelStatus = app.state?.model ?? { status: "none" };
  const label = modelLabel(app.state);
  return html`<button
    type="button"
    class="model-button"
    data-focus-key="model"
    title=${model.status === "error" && model.error ? `${label}: ${model.error}` : label}
    aria-label="Model: ${label}. Choose a model"
    @click=${() => void app.ask({ type: "pickModel" })}
  >
    <span class="model-dot" aria-hidden="true" data-status=${app.state === null ? "loading" : model.status}></span><span class="model-label"
      >${label}</span
    >
  </button>`;
}

function progressBar(app: App): TemplateResult {
  const model = app.state?.model;
  const loading = model?.status === "loading";
  const known = loading && model.progress !== undefined;
  return html`<vscode-progress-bar
    class="progress"
    aria-label="Working"
    ?hidden=${!(loading || app.busy)}
    .indeterminate=${!known}
    .value=${known ? (model.progress ?? 0) * 100 : 0}
    .max=${100}
  ></vscode-progress-bar>`;
}

/** While the model downloads or loads: the bytes, speed and time left, in words. */
function modelDetail(app: App): TemplateResult | typeof nothing {
  const model = app.state?.model;
  if (model?.status !== "loading" || !model.detail) return nothing;
  return html`<p class="model-detail">${model.detail}</p>`;
}

/** A small demo model is in use: say so, and how to choose a real one. */
function demoNotice(app: App): TemplateResult | typeof nothing {
  const model = app.state?.model;
  if (!model?.demo) return nothing;
  return html`<div class="demo-notice" role="note">
    <span class="demo-text"
      >This is a small demo model: it holds a conversation but writes poor code. Choose a real model for real work (the
      picker recommends one for this machine).</span
    >
    <vscode-button secondary class="pick-real-model" data-focus-key="pick-real-model" @click=${() => void app.ask({ type: "pickModel" })}
      >Choose a model</vscode-button
    >
  </div>`;
}

function historyPanel(app: App): TemplateResult {
  const history: HistoryEntry[] = app.state?.history ?? [];
  const current = app.session?.sessionId ?? null;
  return html`<section id="history" class="history" aria-label="Conversation history" ?hidden=${!uiState.historyOpen}>
    <h2 class="section-title">History</h2>
    <ul class="history-list">
      ${
        !uiState.historyOpen
          ? nothing
          : history.length === 0
            ? html`<li class="history-empty">No conversations yet.</li>`
            : repeat(
                history,
                (entry) => entry.id,
                (entry) => historyItem(app, entry, entry.id === current),
              )
      }
    </ul>
  </section>`;
}

function historyItem(app: App, entry: HistoryEntry, current: boolean): TemplateResult {
  const title = entry.title.trim() === "" ? "Untitled" : entry.title;
  return html`<li class="history-item ${current ? "current" : ""}">
    <button
      type="button"
      class="history-open"
      data-focus-key="history-open:${entry.id}"
      aria-current=${current ? "true" : nothing}
      title=${title}
      @click=${() => app.openFromHistory(entry.id)}
    >
      <span class="history-title">${title}</span><span class="history-time"
        >${entry.turns !== undefined && entry.turns > 1 ? `${entry.turns} turns · ` : ""}${relativeTime(entry.updatedAt)}</span
      >
    </button>
    <button
      type="button"
      class="icon-button history-delete"
      data-focus-key="history-delete:${entry.id}"
      aria-label="Delete conversation: ${title}"
      title="Delete"
      @click=${() => void app.ask({ type: "deleteSession", id: entry.id })}
    >✕</button>
  </li>`;
}

function noticeTemplate(app: App): TemplateResult | typeof nothing {
  const notice = app.notice;
  if (notice === null) return nothing;
  return html`<div class="notice notice-warning" role="status">
    <span class="notice-text">${notice}</span><button
      type="button"
      class="icon-button notice-dismiss"
      aria-label="Dismiss"
      @click=${() => app.dismissNotice(true)}
    >✕</button>
  </div>`;
}

// ---------------------------------------------------------------------------------------------------------------
// The empty state.

function emptyState(app: App): TemplateResult {
  const state = app.state;
  if (state === null) return html`<div class="empty-state"><p class="empty-text">Connecting to ClarifyCoder…</p></div>`;
  const model = state.model;
  const pick = (label: string): TemplateResult =>
    html`<vscode-button class="pick-model" data-focus-key="pick-model" @click=${() => void app.ask({ type: "pickModel" })}>${label}</vscode-button>`;
  let content: TemplateResult;
  switch (model.label !== undefined && model.status === "none" ? "ready" : model.status) {
    case "none":
      content = html`<h2 class="empty-title">Choose a model to start</h2>
        <p class="empty-text">ClarifyCoder runs a local GGUF model on your machine. Nothing you type leaves it.</p>
        ${pick("Choose a model")}`;
      break;
    case "loading":
      content = html`<h2 class="empty-title">${model.downloading ? "Downloading" : "Loading"} ${model.label ?? "the model"}…</h2>
        <p class="empty-text">You can type your request meanwhile.</p>`;
      break;
    case "error":
      content = html`<h2 class="empty-title">The model could not be loaded</h2>
        <p class="empty-text error-text">${model.error ?? "Unknown error."}</p>
        ${pick("Choose another model")}`;
      break;
    default:
      content = html`<h2 class="empty-title">What should we build?</h2>
        <p class="empty-text">
          Describe the code you want. When the request is ambiguous, ClarifyCoder asks a few short questions first; otherwise
          it states its assumptions and writes the code.
        </p>
        ${
          model.demo && model.status === "none"
            ? html`<p class="empty-text demo-download">The demo model (about 100 MB) is downloaded with your first request.</p>`
            : nothing
        }`;
  }
  return html`<div class="empty-state">${content}</div>`;
}

// ---------------------------------------------------------------------------------------------------------------
// The composer.

/** A context chip is a toggle: on, it goes with the next request; off, it stays in view, struck through, and does not. */
function chipItem(app: App, chip: ContextChip): TemplateResult {
  const kind = chip.kind === "selection" ? "Selection" : chip.kind === "file" ? "File" : "Context";
  const on = chip.off !== true;
  const what = chip.description ?? chip.label;
  return html`<li class="context-chip kind-${chip.kind} ${on ? "on" : "off"}">
    <button
      type="button"
      class="chip-toggle"
      data-focus-key="chip:${chip.id}"
      aria-pressed=${String(on)}
      aria-label="${kind}: ${what}. ${on ? "Sent with your request" : "Not sent"}"
      title=${on ? `${what}: sent with your request. Click to leave it out.` : `${what}: left out. Click to send it with your request.`}
      @click=${() => void app.ask(on ? { type: "removeContext", chipId: chip.id } : { type: "includeContext", chipId: chip.id })}
    >
      <span class="chip-state" aria-hidden="true">${on ? "✓" : "○"}</span><span class="chip-kind">${kind}</span><span class="chip-label"
        >${chip.label}</span
      >
    </button>
  </li>`;
}

function composer(app: App): TemplateResult {
  const chips: ContextChip[] = app.state?.context.chips ?? [];
  const busy = app.busy;
  const { ok, why } = app.canSend();
  const session = app.session?.snapshot;
  const placeholder =
    session && session.state === "asking" && openRoundQuestions(session).length > 0
      ? "Answer the questions above, or say what to do instead"
      : session && session.state !== "idle"
        ? "Ask a follow-up (New chat starts over)"
        : "Describe the code you want";
  const onKeydown = (event: KeyboardEvent): void => {
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey && !event.isComposing) {
      event.preventDefault();
      void app.send();
    } else if (event.key === "ArrowUp" && event.altKey && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
      // The newest answer's actions, without Shift+Tab through the conversation.
      if (app.focusNewestActions()) event.preventDefault();
    } else if (event.key === "Escape" && app.busy) {
      event.preventDefault();
      app.stop();
    }
  };
  const feedback = app.sendFeedback;
  return html`<footer class="composer">
    <ul class="context-chips" aria-label="Context for your next request" ?hidden=${chips.length === 0}>
      ${repeat(
        chips,
        (chip) => chip.id,
        (chip) => chipItem(app, chip),
      )}
    </ul>
    ${feedback ? html`<p class="composer-feedback feedback-error" role="alert">${feedback.text}</p>` : nothing}
    <vscode-textarea
      class="composer-input"
      rows="3"
      resize="none"
      aria-describedby="composer-hint"
      .label=${"Request"}
      .placeholder=${placeholder}
      .value=${live(uiState.draft)}
      @input=${(event: Event) => app.onComposerInput((event.currentTarget as HTMLElement & { value: string }).value)}
      @keydown=${onKeydown}
    ></vscode-textarea>
    <div class="composer-bar">
      <span class="composer-hint" id="composer-hint">${why}</span>
      <vscode-button class="stop" secondary ?hidden=${!busy} @click=${() => app.stop()}>Stop</vscode-button>
      <vscode-button class="send" ?hidden=${busy} ?disabled=${!ok} @click=${() => void app.send()}>Send</vscode-button>
    </div>
  </footer>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Status.

/** One short sentence for the live region: what is happening now (the conversation's status, rules.ts). */
export function statusText(app: App): string {
  const state = app.state;
  if (state === null) return "";
  const session = state.session;
  if (state.model.status === "loading" && !session) return "Loading the model…";
  if (!session) return "";
  const controller = app.session?.sessionId === session.id ? app.session : null;
  const remaining = controller ? controller.generateReadiness().remaining : undefined;
  const running = controller && isBusy(controller.snapshot.state) ? { elapsedMs: app.busyFor(), written: controller.snapshot.answer.length } : undefined;
  const text = sessionStatus(controller?.snapshot ?? session, { ...(remaining !== undefined ? { remaining } : {}), ...(running ? { running } : {}) });
  return session.state === "done" && answerCode(session).code.length > 0 ? `${text} Alt+↑ goes to its actions.` : text;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

function relativeTime(timestamp: number): string {
  const minutes = Math.round((timestamp - Date.now()) / 60_000);
  if (Math.abs(minutes) < 1) return "just now";
  if (Math.abs(minutes) < 60) return relative.format(minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 24) return relative.format(hours, "hour");
  const days = Math.round(hours / 24);
  if (Math.abs(days) < 7) return relative.format(days, "day");
  return new Date(timestamp).toLocaleDateString();
}
