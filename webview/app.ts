/**
 * The chat view's controller: it keeps what the host last said (`state`, streamed `chunk`s, `reply`s),
 * the composer's draft and the panel state, sends the user's requests, and renders app-view.ts with Lit. The
 * conversation on screen has a controller of its own (session-controller.ts).
 */
import { render } from "lit";
import { dispatch, type HandlerTable } from "../src/core/dispatch.js";
import { isBusy } from "../src/core/rules.js";
import { protocolLimits } from "../src/core/snapshot-schema.js";
import type { SessionSnapshot } from "../src/core/types.js";
import { parseHostMessage, type HostMessage, type Intent, type StateMessage } from "../src/core/webview-protocol.js";
import { appTemplate } from "./app-view.js";
import { focusIsLost } from "./dom.js";
import { request, saveUiState, saveUiStateNow, settleRequest, uiState } from "./host.js";
import { SessionController, type Feedback } from "./session-controller.js";

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

/**
 * The focused control in the conversation is in view: following the conversation's end never scrolls it out (a new
 * round's first answer field sits above the end). Its top is kept in view where the whole does not fit.
 */
function revealFocus(conversation: HTMLElement): void {
  const active = document.activeElement;
  if (!(active instanceof HTMLElement) || !conversation.contains(active)) return;
  const box = active.getBoundingClientRect();
  const view = conversation.getBoundingClientRect();
  if (box.top >= view.top && box.bottom <= view.bottom) return;
  const question = active.closest<HTMLElement>(".question") ?? active;
  question.scrollIntoView({ block: "nearest" });
  if (active.getBoundingClientRect().top < view.top) active.scrollIntoView({ block: "start" });
}

export class App {
  /** What the host last sent, or null until it has. */
  state: StateMessage | null = null;
  /** The conversation on screen. */
  session: SessionController | null = null;
  /** A refusal that belongs to no control on screen, shown until dismissed. */
  notice: string | null = null;
  /** The host's answer to the last send (a refusal, shown under the composer). */
  sendFeedback: Feedback | null = null;
  sendPending = false;
  private framePending = false;
  /** The conversation and turn on screen at the last render (a new one scrolls into view). */
  private shownTurns: string | null = null;
  /** Since when the conversation on screen has been busy (its id and state), for the status line's elapsed time. */
  private busySince: { key: string; at: number } | null = null;
  private busyTicker: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly root: HTMLElement) {
    window.addEventListener("message", (event: MessageEvent<unknown>) => this.receive(event.data));
    window.addEventListener("pagehide", () => saveUiStateNow());
    this.renderNow();
    void request({ type: "ready" });
  }

  /** Every host message goes through the protocol's parser; anything else is dropped with one log line. */
  receive(data: unknown): void {
    const parsed = parseHostMessage(data);
    if (!parsed.ok) {
      console.warn(`[ClarifyCoder] dropped a message from the host: ${parsed.error}`);
      return;
    }
    try {
      dispatch(this.handlers, parsed.message);
    } catch (error) {
      console.error("[ClarifyCoder] failed to render a host message", error);
    }
  }

  private readonly handlers: HandlerTable<HostMessage, void> = {
    state: (message) => {
      this.state = message;
      this.showSession(message.session);
      this.trackBusy();
      this.renderNow();
    },
    chunk: (message) => {
      if (this.session?.sessionId !== message.sessionId) return;
      this.session.appendAnswer(message.text);
      this.renderSoon();
    },
    focusComposer: (message) => {
      if (message.draft !== undefined) this.setDraft(message.draft);
      this.renderNow();
      this.focusComposer();
    },
    reply: (message) => settleRequest(message),
  };

  private showSession(snapshot: SessionSnapshot | null): void {
    if (this.session && this.session.sessionId !== snapshot?.id) {
      this.session.dispose();
      this.session = null;
    }
    if (!snapshot) return;
    if (this.session) this.session.update(snapshot);
    else this.session = new SessionController(snapshot, () => this.renderNow());
  }

  /** How long the current turn has been in its busy state (reading or writing), in ms. */
  busyFor(): number {
    return this.busySince ? Date.now() - this.busySince.at : 0;
  }

  /** Keeps the busy clock: a new busy state starts it, and the status line is redrawn each second while it runs. */
  private trackBusy(): void {
    const session = this.session?.snapshot;
    const key = session && isBusy(session.state) ? `${session.id}#${session.earlier?.length ?? 0}#${session.state}` : null;
    if (key === null) {
      this.busySince = null;
      clearInterval(this.busyTicker);
      this.busyTicker = undefined;
      return;
    }
    if (this.busySince?.key !== key) this.busySince = { key, at: Date.now() };
    this.busyTicker ??= setInterval(() => this.renderSoon(), 1_000);
  }

  get busy(): boolean {
    const session = this.session?.snapshot;
    return session !== undefined && isBusy(session.state);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Rendering.

  /** Renders now (a new state: the focus is placed against what is on screen). */
  renderNow(): void {
    const hadFocus = this.root.contains(document.activeElement);
    // The conversation follows its end while the user is there, and shows a new turn (a follow-up) when one starts.
    const scroller = this.root.querySelector<HTMLElement>(".conversation");
    const atEnd = scroller === null || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
    const turns = this.session ? `${this.session.sessionId}#${this.session.snapshot.earlier?.length ?? 0}` : null;
    const newTurn = turns !== null && turns !== this.shownTurns;
    this.shownTurns = turns;
    render(appTemplate(this), this.root);
    const conversation = this.root.querySelector<HTMLElement>(".conversation");
    if (conversation && (atEnd || newTurn)) {
      conversation.scrollTop = conversation.scrollHeight;
      // The toolkit's buttons lay themselves out a moment later: follow the end once more then.
      nextFrame(() => {
        conversation.scrollTop = conversation.scrollHeight;
        revealFocus(conversation);
      });
    }
    if (this.session && conversation) this.session.placeFocus(conversation);
    if (conversation) revealFocus(conversation);
    // The focused control went away (e.g. Generate once the code is being written): the composer is home.
    if (hadFocus && focusIsLost()) this.focusComposer();
  }

  /** Renders on the next frame, once however many changes (streamed chunks) arrive before it. */
  renderSoon(): void {
    if (this.framePending) return;
    this.framePending = true;
    nextFrame(() => {
      this.framePending = false;
      this.renderNow();
    });
  }

  focusComposer(): void {
    this.root.querySelector<HTMLElement>(".composer-input")?.focus();
  }

  // ------------------------------------------------------------------------------------------------------------
  // What the user does.

  setDraft(text: string): void {
    uiState.draft = text;
    saveUiState();
  }

  onComposerInput(text: string): void {
    this.setDraft(text);
    if (this.sendFeedback) this.sendFeedback = null;
    this.renderSoon();
  }

  toggleHistory(): void {
    uiState.historyOpen = !uiState.historyOpen;
    saveUiState();
    this.renderNow();
    if (uiState.historyOpen) this.root.querySelector<HTMLElement>(".history-list button")?.focus();
  }

  /** Opens a conversation from the history; the list closes once the host has it on screen. */
  async openFromHistory(id: string): Promise<void> {
    const outcome = await request({ type: "openSession", id });
    if (!outcome.ok) {
      this.showNotice(outcome.error);
      return;
    }
    uiState.historyOpen = false;
    saveUiState();
    this.renderNow();
    this.focusComposer();
  }

  /** Focuses the first action of the newest answer's first code block (Alt+Up from the composer). */
  focusNewestActions(): boolean {
    const turns = this.root.querySelectorAll<HTMLElement>(".turn-group");
    for (const turn of [...turns].reverse()) {
      const tool = turn.querySelector<HTMLButtonElement>(".code-tool:not(:disabled)");
      if (tool) {
        tool.focus();
        tool.scrollIntoView({ block: "nearest" });
        return true;
      }
    }
    return false;
  }

  canSend(): { ok: boolean; why: string } {
    if (this.state === null) return { ok: false, why: "Connecting…" };
    if (this.busy) return { ok: false, why: "Working… Escape or Stop to cancel." };
    if (this.sendPending) return { ok: false, why: "Sending…" };
    const model = this.state.model;
    // A chosen model that is loading, not loaded yet, or failed last time: the host loads it for the request.
    if (model.status !== "ready" && model.label === undefined) return { ok: false, why: "Choose a model first." };
    const text = uiState.draft.trim();
    if (text.length > protocolLimits.text) return { ok: false, why: "The request is too long." };
    return { ok: text !== "", why: "Enter to send, Shift+Enter for a new line." };
  }

  /** Sends the composer's request; its text is cleared once the host has taken it, and stays (with the reason) if refused. */
  async send(): Promise<void> {
    if (!this.canSend().ok) return;
    const text = uiState.draft.trim();
    this.sendPending = true;
    this.sendFeedback = null;
    this.renderNow();
    const outcome = await request({ type: "send", text });
    this.sendPending = false;
    if (outcome.ok) {
      if (uiState.draft.trim() === text) this.setDraft("");
      saveUiStateNow();
    } else {
      this.sendFeedback = { level: "error", text: outcome.error };
    }
    this.renderNow();
  }

  stop(): void {
    const session = this.session?.snapshot;
    if (session && isBusy(session.state)) void this.ask({ type: "stop", sessionId: session.id });
  }

  /** A request whose refusal belongs to no control on screen: a refusal becomes a notice. */
  async ask(intent: Intent): Promise<void> {
    const outcome = await request(intent);
    if (!outcome.ok) this.showNotice(outcome.error);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Notices.

  showNotice(text: string): void {
    this.notice = text;
    this.renderNow();
  }

  dismissNotice(refocus: boolean): void {
    this.notice = null;
    this.renderNow();
    if (refocus) this.focusComposer();
  }
}
