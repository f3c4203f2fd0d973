/**
 * The conversation pool: each conversation keeps a context sequence (its evaluated tokens) between turns. When every
 * sequence is taken, the least recently used idle conversation gives its own up, keeping its history to rebuild it.
 *
 * A sequence goes back to the context only when nothing runs on it any more (no turn, no settling) and the pool waits
 * until the context has it back: llama.cpp clears a sequence's cells when it is given back, and an evaluation still
 * queued on it would write cells the next conversation to get the sequence does not know of (its first turn then fails
 * with "inconsistent sequence positions").
 */
import { LlamaChatSession, LlamaCompletion, type ChatHistoryItem, type LlamaContextSequence } from "node-llama-cpp";
import { WorkerError, type ParamsOf, type ResultOf } from "../protocol.js";
import { watchProgress } from "./channel.mjs";
import type { LoadedModel, ModelHost } from "./load.mjs";

export interface Conversation {
  id: string;
  mode: "chat" | "raw";
  systemPrompt?: string;
  /** The sequence and session below are valid while not evicted. */
  sequence: LlamaContextSequence;
  chat?: LlamaChatSession;
  completion?: LlamaCompletion;
  /** Another conversation took its sequence; its history is kept to rebuild it on its next turn. */
  evicted: boolean;
  savedHistory?: ChatHistoryItem[];
  /** Turns (and settling) running on the sequence: a busy conversation is never evicted. */
  busy: number;
  /** The turns running now (see `with`): closing waits for them. */
  running: Set<Promise<unknown>>;
  /** Raw mode: the whole text so far. */
  transcript: string;
  /** Background work on the sequence after a reply (see settle); the next turn waits for it. */
  settling: Promise<void>;
  /** Input tokens evaluated by settle, outside any turn. */
  settledTokens: number;
  lastUsed: number;
}

/** Conversations beyond this many (closed by nobody) are forgotten, least recently used first. */
const conversationLimit = 64;

export class ConversationPool {
  private readonly conversations = new Map<string, Conversation>();
  private next = 1;
  /** Sequences on their way back to the context: a conversation that needs one waits for them first. */
  private readonly returning = new Set<Promise<void>>();

  constructor(private readonly host: ModelHost) {
    host.onUnload(() => {
      for (const c of this.conversations.values()) void this.dispose(c);
      this.conversations.clear();
    });
    // Tokens evaluated on any live sequence are progress for the parent's watchdog.
    watchProgress(() => {
      let tokens = 0;
      for (const c of this.conversations.values()) {
        if (!c.evicted) tokens += c.sequence.tokenMeter.usedInputTokens + c.sequence.tokenMeter.usedOutputTokens;
      }
      return tokens;
    });
  }

  async open(params: ParamsOf<"openConversation">): Promise<ResultOf<"openConversation">> {
    const l = this.host.require();
    const id = `c${this.next++}`;
    const c = {
      id,
      mode: params.mode,
      transcript: "",
      lastUsed: Date.now(),
      settling: Promise.resolve(),
      settledTokens: 0,
      evicted: true,
      busy: 0,
      running: new Set(),
      ...(params.systemPrompt !== undefined ? { systemPrompt: params.systemPrompt } : {}),
    } as Conversation;
    await this.makeLive(c, l);
    this.conversations.set(id, c);
    if (this.conversations.size > conversationLimit) {
      const forgotten = [...this.conversations.values()].filter((x) => x.busy === 0).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (forgotten) {
        this.conversations.delete(forgotten.id);
        void this.release(forgotten);
      }
    }
    return { conversationId: id };
  }

  /** Closes a conversation: no new turn can start on it; its sequence goes back once its running work has ended. */
  async close(params: ParamsOf<"closeConversation">): Promise<ResultOf<"closeConversation">> {
    const c = this.conversations.get(params.conversationId);
    if (!c) return { closed: false };
    this.conversations.delete(params.conversationId);
    await this.release(c);
    return { closed: true };
  }

  /**
   * A decode failure left the sequence in a state its session may not know: the conversation gives it up (its history
   * is kept) and its next turn rebuilds it on a sequence of its own, empty.
   */
  reset(c: Conversation): Promise<void> {
    return this.track(this.evict(c));
  }

  /** Waits for a forgotten or closed conversation's turns and settling to end, then gives its sequence back. */
  private async release(c: Conversation): Promise<void> {
    while (c.running.size > 0) await Promise.allSettled([...c.running]);
    await c.settling;
    await this.track(this.dispose(c));
  }

  /** Counts a sequence as on its way back until the context has it. */
  private track(returning: Promise<void>): Promise<void> {
    const tracked = returning.finally(() => this.returning.delete(tracked));
    this.returning.add(tracked);
    return tracked;
  }

  /**
   * Runs a turn on a conversation: rebuilt first if another conversation took its sequence, and counted busy (so it
   * is not evicted) until the turn ends.
   */
  async with<T>(id: string, mode: "chat" | "raw" | "any", turn: (c: Conversation) => Promise<T>): Promise<T> {
    const c = this.conversations.get(id);
    if (!c)
      throw new WorkerError("unknown-conversation", `The conversation ${id} is not open in the model worker (it may have been closed or the model reloaded).`);
    if (mode !== "any" && c.mode !== mode) throw new WorkerError("bad-request", `The conversation ${id} is in ${c.mode} mode.`);
    c.lastUsed = Date.now();
    c.busy += 1;
    const run = (async () => {
      await c.settling;
      if (c.evicted) await this.makeLive(c, this.host.require());
      return await turn(c);
    })();
    c.running.add(run);
    try {
      return await run;
    } finally {
      c.running.delete(run);
      c.busy -= 1;
    }
  }

  /** Lets a conversation's sequence go; resolves once the context has it back (it waits while the context evaluates). */
  private dispose(c: Conversation): Promise<void> {
    if (c.evicted) return Promise.resolve();
    c.chat?.dispose({ disposeSequence: false });
    c.completion?.dispose({ disposeSequence: false });
    c.evicted = true;
    return c.sequence.dispose();
  }

  /** Gives a conversation's sequence to another: its history is kept, and its next turn rebuilds it (re-evaluating). */
  private evict(c: Conversation): Promise<void> {
    if (c.evicted) return Promise.resolve();
    if (c.chat) c.savedHistory = c.chat.getChatHistory();
    return this.dispose(c);
  }

  /** A sequence for a conversation; when all are taken, the least recently used idle conversation gives its own up. */
  private async takeSequence(l: LoadedModel, forConversation: Conversation): Promise<LlamaContextSequence> {
    // A sequence given back is cleared by the context; wait for that rather than take another meanwhile.
    while (this.returning.size > 0) await Promise.allSettled([...this.returning]);
    if (l.context.sequencesLeft === 0) {
      const idle = [...this.conversations.values()].filter((c) => c !== forConversation && !c.evicted && c.busy === 0);
      const oldest = idle.sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!oldest) throw new WorkerError("busy", "Every context sequence is busy with another conversation; stop one or wait for it.");
      // The sequence comes back to the context asynchronously (after the evaluation running on the context, if any).
      await this.track(this.evict(oldest));
    }
    return l.context.getSequence();
  }

  /** Gives a conversation a sequence and a session, rebuilding its history if it was evicted. */
  private async makeLive(c: Conversation, l: LoadedModel): Promise<void> {
    c.sequence = await this.takeSequence(l, c);
    if (c.mode === "chat") {
      c.chat = new LlamaChatSession({
        contextSequence: c.sequence,
        chatWrapper: l.chatWrapper,
        ...(c.systemPrompt !== undefined ? { systemPrompt: c.systemPrompt } : {}),
        autoDisposeSequence: false,
      });
      if (c.savedHistory) c.chat.setChatHistory(c.savedHistory);
    } else {
      c.completion = new LlamaCompletion({ contextSequence: c.sequence, autoDisposeSequence: false });
    }
    c.evicted = false;
    delete c.savedHistory;
  }
}
