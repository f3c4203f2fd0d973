/**
 * ChatController: turns the webview's requests into engine calls and editor actions, answers each request with one
 * reply (accepted, or refused with the reason), and sends the webview the state to render. The engine
 * (ClarifySession) keeps the rules; a forged request meets the same refusal as a real one.
 */
import * as vscode from "vscode";
import { dispatch, type HandlerTable } from "../../core/dispatch.js";
import { canFollowUp, decidesByReadings, isBusy, notCodeKind } from "../../core/rules.js";
import { selectedLines } from "../../core/selection.js";
import { ClarifySession, SessionRefusal, whenAccepted } from "../../core/session.js";
import type { ClarifyModel } from "../../core/model.js";
import type { ClarifySettings, EditorContext, SessionSnapshot } from "../../core/types.js";
import {
  parseWebviewMessage,
  type ContextChip,
  type HostMessage,
  type ModelStatus,
  type ReplyMessage,
  type WebviewMessage,
} from "../../core/webview-protocol.js";
import { applyCodeAction, proposalScheme, type CodeProposals } from "./editor-actions.js";
import { ConversationStore, conversationTitle } from "./conversation-store.js";
import { getConfig, readClarifySettings, Settings } from "../config.js";
import type { CodeRunner } from "../../core/code-runner.js";
import { readingsSandbox } from "../../llm/sandbox/sandbox.js";
import { ChunkStream } from "../../llm/worker/chunk-stream.js";

interface ChatModelSource extends ClarifyModel {
  readonly status: ModelStatus;
  readonly onDidChangeStatus: vscode.Event<unknown>;
  pick(): Promise<boolean>;
  /** Starts loading the chosen model in the background. */
  warmUp(): void;
  /** The prompt style to use: the setting, or the one a catalog model is made for (ClarifyCoder's is native). */
  styleFor?(style: ClarifySettings["style"]): ClarifySettings["style"];
}

/** Lines of code around the cursor that go with a request. */
const surroundingLines = 40;

/** What a handler returns when it accepted a request: nothing, or a note for the user ("Copied."). */
type Accepted = void | { note: string };

function isEditable(editor: vscode.TextEditor): boolean {
  const scheme = editor.document.uri.scheme;
  return scheme !== "output" && scheme !== proposalScheme && scheme !== "vscode-chat-code-block";
}

export class ChatController implements vscode.Disposable {
  private view: { postMessage(message: HostMessage): Thenable<boolean> } | undefined;
  private readonly live = new Map<string, ClarifySession>();
  private sandbox: Promise<CodeRunner | undefined> | undefined;
  private sandboxReady: CodeRunner | undefined;
  /** Read from the store when first needed, not at activation. */
  private activeIdValue: string | undefined | null = null;
  /** The text editor the user was last in: the webview has the focus when its buttons are pressed. */
  private editor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;
  /** Context chips the user turned off (by id): shown, not sent. */
  private readonly chipsOff = new Set<string>();
  private readonly busyListeners = new Set<(busy: boolean) => void>();
  /** The active conversation's text on its way to the view (see postChunk). */
  private streamed: { sessionId: string; stream: ChunkStream } | undefined;
  private busy = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly model: ChatModelSource,
    private readonly store: ConversationStore,
    private readonly proposals: CodeProposals,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e && isEditable(e)) {
          this.editor = e;
          this.postState();
        }
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor === this.editor) this.postStateSoon();
      }),
      model.onDidChangeStatus(() => this.postState()),
    );
  }

  /** Whether the conversation on screen is running a turn (for the Stop button in the view's title). */
  onBusyChange(listener: (busy: boolean) => void): () => void {
    this.busyListeners.add(listener);
    return () => this.busyListeners.delete(listener);
  }

  /** The view to talk to (or none while it is hidden and disposed). */
  attach(view: { postMessage(message: HostMessage): Thenable<boolean> } | undefined): void {
    this.view = view;
    // Opening the chat is the sign it is about to be used: the model loads while the user types.
    if (view) {
      this.model.warmUp();
      void this.readingsRunner(this.modelSettings());
    }
  }

  /** The conversation on screen; remembered across window reloads. */
  private get activeId(): string | undefined {
    if (this.activeIdValue === null) this.activeIdValue = this.store.activeId;
    return this.activeIdValue;
  }

  private set activeId(id: string | undefined) {
    this.activeIdValue = id;
    void this.store.setActiveId(id);
  }

  get activeSession(): ClarifySession | undefined {
    return this.activeId ? this.live.get(this.activeId) : undefined;
  }

  /**
   * Checks a raw message from the webview, drops it with a log line if it is malformed, else carries it out and
   * answers it with a reply (also returned, for tests).
   */
  async receive(raw: unknown): Promise<ReplyMessage | undefined> {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.log.warn(`Dropped a message from the chat view: ${parsed.error}`);
      return undefined;
    }
    const reply = await this.carryOut(parsed.message);
    void this.view?.postMessage(reply);
    return reply;
  }

  private async carryOut(message: WebviewMessage): Promise<ReplyMessage> {
    const { requestId } = message;
    try {
      const accepted = await dispatch(this.handlers, message);
      return { type: "reply", requestId, ok: true, ...(accepted ? { message: accepted.note } : {}) };
    } catch (error) {
      if (!(error instanceof SessionRefusal)) this.log.error(`${message.type}: ${error instanceof Error ? error.message : String(error)}`);
      return { type: "reply", requestId, ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  /** One handler per request; each resolves once the request is accepted (a turn has started), or throws the refusal. */
  private readonly handlers: HandlerTable<WebviewMessage, Promise<Accepted> | Accepted> = {
    ready: () => this.postState(),
    send: (m) => this.send(m.text),
    answer: (m) => this.session(m.sessionId).answerQuestion(m.questionId, m.text),
    waive: (m) => this.session(m.sessionId).waiveQuestion(m.questionId),
    generate: (m) => whenAccepted(this.session(m.sessionId).submitAnswers()),
    stop: (m) => this.live.get(m.sessionId)?.cancel(),
    correctAssumption: (m) => whenAccepted(this.session(m.sessionId).correctAssumption(m.index, m.text)),
    removeContext: (m) => {
      this.chipsOff.add(m.chipId);
      this.postState();
    },
    includeContext: (m) => {
      this.chipsOff.delete(m.chipId);
      this.postState();
    },
    regenerate: (m) => whenAccepted(this.nextTurnOf(m.sessionId).regenerate(m.askPolicy ? { askPolicy: m.askPolicy } : {})),
    continue: (m) => whenAccepted(this.nextTurnOf(m.sessionId).continueAnswer()),
    editRequest: (m) => whenAccepted(this.nextTurnOf(m.sessionId).editRequest(m.text)),
    codeAction: async (m) => {
      const snapshot = this.snapshotOf(m.sessionId);
      const turn = m.turn === undefined ? snapshot : snapshot?.earlier?.[m.turn];
      const block = turn?.codeBlocks[m.blockIndex];
      if (!block) throw new SessionRefusal(`There is no code block ${m.blockIndex + 1} in that conversation.`);
      const kind = notCodeKind(block, turn?.context.languageId);
      if (kind !== undefined && m.action !== "copy")
        throw new SessionRefusal(`Code block ${m.blockIndex + 1} is ${kind}, not code: it is not put in the editor.`);
      const note = await applyCodeAction(m.action, block, this.liveEditor(), this.proposals);
      return m.action === "copy" ? { note: "Copied." } : note !== undefined ? { note } : undefined;
    },
    newChat: () => this.newChat(),
    openSession: (m) => this.open(m.id),
    deleteSession: (m) => this.delete(m.id),
    pickModel: async () => {
      await this.model.pick();
    },
    openLink: async (m) => {
      await vscode.env.openExternal(vscode.Uri.parse(m.url, true));
    },
  };

  newChat(): void {
    this.activeId = undefined;
    this.postState();
  }

  stop(): void {
    this.activeSession?.cancel();
  }

  /**
   * Puts the editor's selection in context and the cursor in the composer, in a new chat: a question about the
   * selection starts its own conversation (the one on screen stays in the history).
   */
  askAboutSelection(editor: vscode.TextEditor | undefined): void {
    if (editor) {
      this.editor = editor;
      this.chipsOff.delete(this.selectionChipId());
      if (!editor.selection.isEmpty) this.activeId = undefined;
    }
    this.postState();
    void this.view?.postMessage({ type: "focusComposer" });
  }

  focusComposer(): void {
    void this.view?.postMessage({ type: "focusComposer" });
  }

  /**
   * A message from the composer: the next turn of the conversation on screen (it has started and nothing runs), or
   * the first turn of a new one.
   */
  private async send(text: string): Promise<void> {
    const settings = this.modelSettings();
    const onScreen = this.activeId ? this.snapshotOf(this.activeId) : undefined;
    if (onScreen && onScreen.state !== "idle") {
      const session = this.session(onScreen.id);
      if (canFollowUp(session.state)) session.useSettings(settings);
      await whenAccepted(session.followUp(text, this.editorContext()));
      return;
    }
    const runner = await this.readingsRunner(settings);
    const session = new ClarifySession(this.model, settings, runner ? { runner } : {});
    this.track(session);
    this.activeId = session.id;
    await whenAccepted(session.start(text, this.editorContext()));
  }

  /**
   * The sandbox the engine runs candidates in to decide by readings (the `decide` setting), made once, when the chat
   * is first shown or asked; where Python or bubblewrap is missing, the probe decides, and the log says why.
   */
  private async readingsRunner(settings: ClarifySettings): Promise<CodeRunner | undefined> {
    if (!decidesByReadings(getConfig(Settings.decide), settings)) return undefined;
    this.sandbox ??= readingsSandbox((sentence) => this.log.info(sentence)).then((sandbox) => (this.sandboxReady = sandbox));
    return this.sandbox;
  }

  /** The settings, with the prompt style the model asks for (ClarifyCoder's own is native) unless the setting says otherwise. */
  private modelSettings(): ClarifySettings {
    const { settings, problems } = readClarifySettings();
    for (const p of problems) this.log.warn(`Setting ${p}`);
    settings.style = this.model.styleFor?.(settings.style) ?? settings.style;
    return settings;
  }

  /** A conversation about to run another turn (Regenerate, Continue, Edit), with the settings as they are now. */
  private nextTurnOf(id: string): ClarifySession {
    const settings = this.modelSettings();
    const session = this.session(id);
    if (canFollowUp(session.state)) session.useSettings(settings);
    return session;
  }

  private track(session: ClarifySession): void {
    this.live.set(session.id, session);
    session.onChange((snapshot) => {
      void this.store.save(snapshot);
      if (snapshot.id === this.activeId) this.postState();
    });
    session.onChunk((text) => {
      if (session.id === this.activeId) this.postChunk(session.id, text);
    });
  }

  /**
   * Streams text to the view at most once per `streamIntervalMs` (ChunkStream: the first piece at once): a fast model
   * writes hundreds of tokens a second, and a message per token queued up in front of everything else on its way to
   * the view, Stop's "Stopped." included. Another conversation's text first sends what the last one left waiting.
   */
  private postChunk(sessionId: string, text: string): void {
    if (this.streamed?.sessionId !== sessionId) {
      this.streamed?.stream.flush();
      this.streamed = { sessionId, stream: new ChunkStream((piece) => void this.view?.postMessage({ type: "chunk", sessionId, text: piece })) };
    }
    this.streamed.stream.push(text);
  }

  private open(id: string): void {
    if (!this.live.has(id)) {
      const saved = this.store.get(id);
      if (!saved) throw new SessionRefusal("That conversation no longer exists.");
      const settings = this.modelSettings();
      // Made when the chat was shown (see attach), so a conversation reopened there decides as a new one does.
      const runner = decidesByReadings(getConfig(Settings.decide), settings) ? this.sandboxReady : undefined;
      this.track(ClarifySession.restore(this.model, settings, saved, runner ? { runner } : {}));
    }
    this.activeId = id;
    this.postState();
  }

  private async delete(id: string): Promise<void> {
    const saved = this.store.get(id);
    if (!saved && !this.live.has(id)) return;
    const title = saved ? conversationTitle(saved) : "this conversation";
    const choice = await vscode.window.showWarningMessage(`Delete the conversation "${title}"?`, { modal: true }, "Delete");
    if (choice !== "Delete") return;
    const live = this.live.get(id);
    this.live.delete(id);
    await live?.dispose();
    await this.store.delete(id);
    if (this.activeId === id) this.activeId = undefined;
    this.postState();
  }

  /** A live session by id, restoring a saved one so that an answer after a reload still lands. */
  private session(id: string): ClarifySession {
    const live = this.live.get(id);
    if (live) return live;
    this.open(id);
    const restored = this.live.get(id);
    if (!restored) throw new SessionRefusal("That conversation no longer exists.");
    return restored;
  }

  private snapshotOf(id: string): SessionSnapshot | undefined {
    return this.live.get(id)?.snapshot() ?? this.store.get(id);
  }

  private liveEditor(): vscode.TextEditor | undefined {
    // The side bar having the focus leaves the active editor as it was; a diff of a proposal is not a target.
    const active = vscode.window.activeTextEditor;
    if (active && isEditable(active)) return active;
    const editor = this.editor;
    if (!editor || editor.document.isClosed) return undefined;
    // The editor object goes stale when its tab is hidden; find the visible one showing the same document.
    return vscode.window.visibleTextEditors.find((e) => e.document === editor.document) ?? editor;
  }

  private selectionChipId(): string {
    const e = this.editor;
    if (!e) return "selection";
    const s = e.selection;
    return `selection:${e.document.uri.toString()}:${s.start.line}:${s.end.line}:${s.end.character === 0 ? 0 : 1}`;
  }

  /** The chips above the composer: the file, and the selection when there is one; each on unless the user turned it off. */
  private chips(): ContextChip[] {
    const e = this.editor;
    if (!e || e.document.isClosed) return [];
    const name = e.document.uri.path.split("/").pop() ?? e.document.uri.path;
    const chips: ContextChip[] = [];
    const fileId = `file:${e.document.uri.toString()}`;
    const off = (id: string): { off?: true } => (this.chipsOff.has(id) ? { off: true } : {});
    chips.push({ id: fileId, kind: "file", label: name, description: vscode.workspace.asRelativePath(e.document.uri), ...off(fileId) });
    if (!e.selection.isEmpty) {
      const id = this.selectionChipId();
      const { startLine, endLine } = selectedLines(e.selection.start, e.selection.end);
      const lines = startLine === endLine ? `${startLine}` : `${startLine}-${endLine}`;
      chips.push({
        id,
        kind: "selection",
        label: `${name}:${lines}`,
        description: `Selected ${startLine === endLine ? "line" : "lines"} ${lines} of ${name}`,
        ...off(id),
      });
    }
    return chips;
  }

  /** The context of the next request: only what the chips that are on say. */
  private editorContext(): EditorContext {
    const e = this.editor;
    if (!e || e.document.isClosed) return {};
    const chips = this.chips().filter((c) => c.off !== true);
    const withFile = chips.some((c) => c.kind === "file");
    const withSelection = chips.some((c) => c.kind === "selection");
    const context: EditorContext = {};
    if (withFile || withSelection) {
      context.languageId = e.document.languageId;
      context.fileName = vscode.workspace.asRelativePath(e.document.uri);
    }
    if (withSelection) {
      const { startLine, endLine } = selectedLines(e.selection.start, e.selection.end);
      // Whole lines selected end at column 1 of the next line: that line's (empty) start is not part of the text.
      const end = e.selection.end.character === 0 && endLine < e.selection.end.line + 1 ? e.document.lineAt(endLine - 1).range.end : e.selection.end;
      context.selection = {
        text: e.document.getText(new vscode.Range(e.selection.start, end)),
        startLine,
        endLine,
        cursorLine: e.selection.active.line + 1,
      };
    }
    if (withFile) {
      const line = e.selection.active.line;
      const from = Math.max(0, line - surroundingLines);
      const to = Math.min(e.document.lineCount - 1, line + surroundingLines);
      context.surroundingCode = e.document.getText(new vscode.Range(from, 0, to, e.document.lineAt(to).text.length));
    }
    return context;
  }

  private pending: NodeJS.Timeout | undefined;

  /** Selections change with every cursor move: the chips follow them a moment later, once. */
  private postStateSoon(): void {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => {
      this.chipsOff.delete(this.selectionChipId());
      this.postState();
    }, 150);
  }

  postState(): void {
    // The state carries the whole answer so far: text still waiting to be streamed is in it.
    this.streamed?.stream.discard();
    this.streamed = undefined;
    const active = this.activeSession?.snapshot() ?? (this.activeId ? this.store.get(this.activeId) : undefined) ?? null;
    const busy = active !== null && isBusy(active.state);
    if (busy !== this.busy) {
      this.busy = busy;
      for (const l of this.busyListeners) l(busy);
    }
    if (!this.view) return;
    const history = this.store.list().map((s) => ({ id: s.id, title: conversationTitle(s), updatedAt: s.updatedAt, turns: (s.earlier?.length ?? 0) + 1 }));
    void this.view.postMessage({ type: "state", session: active, history, model: this.model.status, context: { chips: this.chips() } });
  }

  dispose(): void {
    clearTimeout(this.pending);
    this.streamed?.stream.discard();
    for (const s of this.live.values()) void s.dispose();
    this.live.clear();
    for (const d of this.disposables) d.dispose();
  }
}
