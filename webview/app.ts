/**
 * The chat view: header (model, history, new chat), the conversation, a live status line, and the composer with its
 * context chips. It renders what the host sends (`state`, `chunk`, `focusComposer`, `notice`) and posts intents.
 */
import type { SessionSnapshot } from "../src/core/types.js";
import {
  isBusy,
  openRoundQuestions,
  parseHostMessage,
  protocolLimits,
  type ContextChip,
  type HistoryEntry,
  type HostMessage,
  type ModelStatus,
  type NoticeMessage,
  type StateMessage,
} from "../src/core/webview-protocol.js";
import { focusIsLost, h, rebuildKeepingFocus, replaceChildren, setText } from "./dom.js";
import { post, saveUiState, saveUiStateNow, uiState } from "./host.js";
import { SessionView } from "./session-view.js";

export class App {
  private state: StateMessage | null = null;

  private readonly modelButton = h("button", { type: "button", class: "model-button", "data-focus-key": "model" });
  private readonly modelDot = h("span", { class: "model-dot", "aria-hidden": "true" });
  private readonly modelLabel = h("span", { class: "model-label" });
  private readonly historyButton = h(
    "vscode-button",
    { secondary: true, "aria-controls": "history", "aria-expanded": "false", class: "history-toggle" },
    "History",
  );
  private readonly newChatButton = h("vscode-button", { secondary: true, class: "new-chat" }, "New chat");
  private readonly historyPanel = h("section", { id: "history", class: "history", "aria-label": "Conversation history" });
  private readonly historyList = h("ul", { class: "history-list" });
  private readonly noticeArea = h("div", { class: "notice-area" });
  private readonly progress = h("vscode-progress-bar", { class: "progress", "aria-label": "Working" });
  private readonly scroller = h("main", { class: "conversation", tabindex: "-1" });
  private readonly emptyState = h("div", { class: "empty-state" });
  private readonly statusLine = h("div", { class: "status-line", role: "status", "aria-live": "polite" });
  private readonly chips = h("ul", { class: "context-chips", "aria-label": "Context sent with your next request" });
  private readonly input = h("vscode-textarea", { class: "composer-input", rows: "3", resize: "none" });
  private readonly sendButton = h("vscode-button", { class: "send" }, "Send");
  private readonly stopButton = h("vscode-button", { class: "stop", secondary: true }, "Stop");
  private readonly composerHint = h("span", { class: "composer-hint", id: "composer-hint" });

  private sessionView: SessionView | null = null;
  private renderedHistoryKey = "";
  private renderedChipsKey = "";
  private renderedEmptyKey = "";
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly root: HTMLElement) {
    this.modelButton.append(this.modelDot, this.modelLabel);
    this.historyPanel.append(h("h2", { class: "section-title" }, "History"), this.historyList);
    this.historyPanel.hidden = !uiState.historyOpen;
    this.input.label = "Request";
    this.input.placeholder = "Describe the code you want";
    this.input.setAttribute("aria-describedby", "composer-hint");
    this.input.value = uiState.draft;
    this.progress.indeterminate = true;
    this.progress.hidden = true;

    const composer = h(
      "footer",
      { class: "composer" },
      this.chips,
      this.input,
      h("div", { class: "composer-bar" }, this.composerHint, this.stopButton, this.sendButton),
    );
    replaceChildren(
      root,
      h(
        "header",
        { class: "topbar" },
        this.modelButton,
        h("div", { class: "topbar-actions" }, this.historyButton, this.newChatButton),
      ),
      this.historyPanel,
      this.progress,
      this.noticeArea,
      this.scroller,
      this.statusLine,
      composer,
    );
    this.scroller.append(this.emptyState);

    this.modelButton.addEventListener("click", () => post({ type: "pickModel" }));
    this.historyButton.addEventListener("click", () => this.toggleHistory());
    this.newChatButton.addEventListener("click", () => post({ type: "newChat" }));
    this.sendButton.addEventListener("click", () => this.send());
    this.stopButton.addEventListener("click", () => this.stop());
    this.input.addEventListener("input", () => {
      uiState.draft = this.input.value;
      saveUiState();
      this.renderComposer();
    });
    this.input.addEventListener("keydown", (event) => this.onComposerKeydown(event));
    window.addEventListener("message", (event: MessageEvent<unknown>) => this.receive(event.data));
    window.addEventListener("pagehide", () => saveUiStateNow());

    this.renderAll();
    post({ type: "ready" });
  }

  /** Every host message goes through the protocol's parser; anything else is dropped with one log line. */
  receive(data: unknown): void {
    const parsed = parseHostMessage(data);
    if (!parsed.ok) {
      console.warn(`[ClarifyCoder] dropped a message from the host: ${parsed.error}`);
      return;
    }
    try {
      this.handle(parsed.message);
    } catch (error) {
      console.error("[ClarifyCoder] failed to render a host message", error);
    }
  }

  private handle(message: HostMessage): void {
    switch (message.type) {
      case "state":
        this.state = message;
        this.renderAll();
        return;
      case "chunk":
        if (this.sessionView && this.sessionView.sessionId === message.sessionId && this.state?.session) {
          this.sessionView.appendAnswer(message.text);
          this.state = { ...this.state, session: this.sessionView.snapshot };
        }
        return;
      case "focusComposer":
        if (message.draft !== undefined) {
          this.input.value = message.draft;
          uiState.draft = message.draft;
          saveUiState();
          this.renderComposer();
        }
        this.input.focus();
        return;
      case "notice":
        this.showNotice(message);
        return;
    }
  }

  private get session(): SessionSnapshot | null {
    return this.state?.session ?? null;
  }

  private get busy(): boolean {
    const session = this.session;
    return session !== null && isBusy(session.state);
  }

  private renderAll(): void {
    const hadFocus = this.root.contains(document.activeElement);
    this.renderModel();
    this.renderHistory();
    this.renderConversation();
    this.renderChips();
    this.renderComposer();
    this.renderStatus();
    // The focused control went away (e.g. Generate once the code is being written): the composer is home.
    if (hadFocus && focusIsLost()) this.input.focus();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Header: model and history.

  private renderModel(): void {
    const model: ModelStatus = this.state?.model ?? { status: "none" };
    const name = model.label ?? "model";
    let label: string;
    switch (model.status) {
      case "none":
        // A chosen model that is not loaded yet loads with the first request.
        label = model.label ? name : "No model selected";
        break;
      case "loading":
        label = model.progress !== undefined ? `Loading ${name}… ${Math.round(model.progress * 100)}%` : `Loading ${name}…`;
        break;
      case "ready":
        label = model.backend ? `${name} · ${model.backend}` : name;
        break;
      case "error":
        label = "Model failed to load";
        break;
    }
    if (this.state === null) label = "Connecting…";
    setText(this.modelLabel, label);
    this.modelDot.dataset.status = this.state === null ? "loading" : model.status;
    this.modelButton.title = model.status === "error" && model.error ? `${label}: ${model.error}` : label;
    this.modelButton.setAttribute("aria-label", `Model: ${label}. Choose a model`);

    const loading = model.status === "loading";
    const showProgress = loading || this.busy;
    this.progress.hidden = !showProgress;
    if (loading && model.progress !== undefined) {
      this.progress.indeterminate = false;
      this.progress.value = model.progress * 100;
      this.progress.max = 100;
    } else {
      this.progress.indeterminate = true;
    }
  }

  private toggleHistory(): void {
    uiState.historyOpen = !uiState.historyOpen;
    saveUiState();
    this.renderHistory();
    if (uiState.historyOpen) this.historyList.querySelector<HTMLElement>("button")?.focus();
  }

  private renderHistory(): void {
    this.historyPanel.hidden = !uiState.historyOpen;
    this.historyButton.setAttribute("aria-expanded", String(uiState.historyOpen));
    if (!uiState.historyOpen) return;
    const history: HistoryEntry[] = this.state?.history ?? [];
    const current = this.session?.id ?? null;
    const key = JSON.stringify([history, current, Math.floor(Date.now() / 60_000)]);
    if (key === this.renderedHistoryKey) return;
    this.renderedHistoryKey = key;
    rebuildKeepingFocus(this.historyList, () => {
      if (history.length === 0) return [h("li", { class: "history-empty" }, "No conversations yet.")];
      return history.map((entry) => this.historyItem(entry, entry.id === current));
    });
  }

  private historyItem(entry: HistoryEntry, current: boolean): HTMLLIElement {
    const title = entry.title.trim() === "" ? "Untitled" : entry.title;
    const open = h(
      "button",
      {
        type: "button",
        class: "history-open",
        "data-focus-key": `history-open:${entry.id}`,
        "aria-current": current ? "true" : null,
        title,
      },
      h("span", { class: "history-title" }, title),
      h("span", { class: "history-time" }, relativeTime(entry.updatedAt)),
    );
    const remove = h(
      "button",
      {
        type: "button",
        class: "icon-button history-delete",
        "data-focus-key": `history-delete:${entry.id}`,
        "aria-label": `Delete conversation: ${title}`,
        title: "Delete",
      },
      "✕",
    );
    open.addEventListener("click", () => post({ type: "openSession", id: entry.id }));
    remove.addEventListener("click", () => post({ type: "deleteSession", id: entry.id }));
    return h("li", { class: current ? "history-item current" : "history-item" }, open, remove);
  }

  // ------------------------------------------------------------------------------------------------------------
  // The conversation.

  private renderConversation(): void {
    const session = this.session;
    if (!session) {
      if (this.sessionView) {
        this.sessionView.element.remove();
        this.sessionView = null;
      }
      this.renderEmptyState();
      return;
    }
    this.emptyState.hidden = true;
    if (this.sessionView && this.sessionView.sessionId !== session.id) {
      this.sessionView.element.remove();
      this.sessionView = null;
    }
    if (!this.sessionView) {
      this.sessionView = new SessionView(session, this.scroller);
      this.scroller.append(this.sessionView.element);
    } else {
      this.sessionView.update(session);
    }
  }

  private renderEmptyState(): void {
    const model: ModelStatus = this.state?.model ?? { status: "none" };
    const key = this.state === null ? "connecting" : JSON.stringify(model);
    this.emptyState.hidden = false;
    if (key === this.renderedEmptyKey) return;
    this.renderedEmptyKey = key;
    const pick = (label: string): HTMLElement => {
      const button = h("vscode-button", { class: "pick-model", "data-focus-key": "pick-model" }, label);
      button.addEventListener("click", () => post({ type: "pickModel" }));
      return button;
    };
    rebuildKeepingFocus(this.emptyState, () => {
      if (this.state === null) return [h("p", { class: "empty-text" }, "Connecting to ClarifyCoder…")];
      switch (model.label !== undefined && model.status === "none" ? "ready" : model.status) {
        case "none":
          return [
            h("h2", { class: "empty-title" }, "Choose a model to start"),
            h(
              "p",
              { class: "empty-text" },
              "ClarifyCoder runs a local GGUF model on your machine. Nothing you type leaves it.",
            ),
            pick("Choose a model"),
          ];
        case "loading":
          return [
            h("h2", { class: "empty-title" }, `Loading ${model.label ?? "the model"}…`),
            h("p", { class: "empty-text" }, "You can type your request meanwhile."),
          ];
        case "error":
          return [
            h("h2", { class: "empty-title" }, "The model could not be loaded"),
            h("p", { class: "empty-text error-text" }, model.error ?? "Unknown error."),
            pick("Choose another model"),
          ];
        case "ready":
          return [
            h("h2", { class: "empty-title" }, "What should we build?"),
            h(
              "p",
              { class: "empty-text" },
              "Describe the code you want. When the request is ambiguous, ClarifyCoder asks a few short questions " +
                "first; otherwise it states its assumptions and writes the code.",
            ),
          ];
      }
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // The composer.

  private renderChips(): void {
    const chips: ContextChip[] = this.state?.context.chips ?? [];
    const key = JSON.stringify(chips);
    if (key === this.renderedChipsKey) return;
    this.renderedChipsKey = key;
    this.chips.hidden = chips.length === 0;
    rebuildKeepingFocus(this.chips, () => chips.map((chip) => this.chipItem(chip)));
  }

  private chipItem(chip: ContextChip): HTMLLIElement {
    const remove = h(
      "button",
      {
        type: "button",
        class: "icon-button chip-remove",
        "data-focus-key": `chip:${chip.id}`,
        "aria-label": `Remove context: ${chip.description ?? chip.label}`,
        title: "Remove",
      },
      "✕",
    );
    remove.addEventListener("click", () => {
      // The chip goes when the host's next state says so; keep the focus in the composer meanwhile.
      this.input.focus();
      post({ type: "removeContext", chipId: chip.id });
    });
    return h(
      "li",
      { class: `context-chip kind-${chip.kind}`, title: chip.description ?? chip.label },
      h("span", { class: "chip-kind" }, chip.kind === "selection" ? "Selection" : chip.kind === "file" ? "File" : "Context"),
      h("span", { class: "chip-label" }, chip.label),
      remove,
    );
  }

  private canSend(): { ok: boolean; why: string } {
    if (this.state === null) return { ok: false, why: "Connecting…" };
    if (this.busy) return { ok: false, why: "Working… Escape or Stop to cancel." };
    const model = this.state.model;
    // A chosen model that is not loaded (or failed last time) is loaded again by the host on the next request.
    const sendable = model.status === "ready" || (model.label !== undefined && (model.status === "none" || model.status === "error"));
    if (!sendable) {
      return { ok: false, why: model.status === "loading" ? "Waiting for the model…" : "Choose a model first." };
    }
    const text = uiState.draft.trim();
    if (text.length > protocolLimits.text) return { ok: false, why: "The request is too long." };
    return { ok: text !== "", why: "Enter to send, Shift+Enter for a new line." };
  }

  private renderComposer(): void {
    const busy = this.busy;
    const { ok, why } = this.canSend();
    this.sendButton.hidden = busy;
    this.stopButton.hidden = !busy;
    this.sendButton.disabled = !ok;
    setText(this.composerHint, why);
    const placeholder = this.session && this.session.state === "asking" && openRoundQuestions(this.session).length > 0
      ? "Answer the questions above, or describe something new"
      : "Describe the code you want";
    if (this.input.placeholder !== placeholder) this.input.placeholder = placeholder;
  }

  private onComposerKeydown(event: KeyboardEvent): void {
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    } else if (event.key === "Escape" && this.busy) {
      event.preventDefault();
      this.stop();
    }
  }

  private send(): void {
    if (!this.canSend().ok) return;
    if (post({ type: "send", text: uiState.draft.trim() })) {
      uiState.draft = "";
      this.input.value = "";
      saveUiStateNow();
      this.renderComposer();
    }
  }

  private stop(): void {
    const session = this.session;
    if (session && isBusy(session.state)) post({ type: "stop", sessionId: session.id });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Status and notices.

  private renderStatus(): void {
    setText(this.statusLine, statusText(this.state));
  }

  private showNotice(notice: NoticeMessage): void {
    clearTimeout(this.noticeTimer);
    const dismiss = h("button", { type: "button", class: "icon-button notice-dismiss", "aria-label": "Dismiss" }, "✕");
    const element = h(
      "div",
      { class: `notice notice-${notice.level}`, role: notice.level === "error" ? "alert" : "status" },
      h("span", { class: "notice-text" }, notice.text),
      dismiss,
    );
    dismiss.addEventListener("click", () => {
      element.remove();
      this.input.focus();
    });
    replaceChildren(this.noticeArea, element);
    if (notice.level === "info") this.noticeTimer = setTimeout(() => element.remove(), 8_000);
  }
}

/** One short sentence for the live region: what is happening now. */
export function statusText(state: StateMessage | null): string {
  if (state === null) return "";
  const session = state.session;
  if (state.model.status === "loading" && !session) return "Loading the model…";
  if (!session) return "";
  switch (session.state) {
    case "idle":
      return "";
    case "assessing":
      return "Reading your request…";
    case "asking": {
      const open = openRoundQuestions(session).length;
      return open === 1 ? "1 question before writing code." : `${open} questions before writing code.`;
    }
    case "generating":
      return "Writing code…";
    case "done": {
      const blocks = session.codeBlocks.length;
      return blocks === 0 ? "Done." : blocks === 1 ? "Done: 1 code block." : `Done: ${blocks} code blocks.`;
    }
    case "cancelled":
      return "Stopped.";
    case "failed":
      return "Failed.";
  }
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
