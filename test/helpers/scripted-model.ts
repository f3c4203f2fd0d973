/** A ClarifyModel that replies from a script and records every call: the engine's tests need no real model. */
import type { ClarifyModel, Exchange, ModelConversation, OpenConversationOptions, TurnOptions, TurnResult } from "../../src/core/model.js";

export type ScriptedReply =
  | string
  | { text: string; stopReason?: TurnResult["stopReason"]; chunks?: string[] }
  /** Streams `chunks` then waits until the turn is cancelled. */
  | { hangAfter: string[] }
  /** Never answers, not even when cancelled (a model busy evaluating a long prompt), until `release()`. */
  | { stuck: true }
  | { error: string };

export interface RecordedCall {
  kind: "probe" | "chat" | "complete";
  conversation: number;
  text: string;
  grammar?: unknown;
  responsePrefix?: string;
  temperature?: number;
  seed?: number;
}

export interface ScriptedModelOptions {
  /** The context size the model reports (none: requests are not fitted). */
  contextSize?: number;
  /** Characters per token for `countTokens` (default 4). */
  charsPerToken?: number;
}

export class ScriptedModel implements ClarifyModel {
  readonly calls: RecordedCall[] = [];
  readonly opened: OpenConversationOptions[] = [];
  /** Each conversation's history as the model holds it: what chat turns added, and what setHistory put there. */
  readonly histories: Exchange[][] = [];
  /** Every setHistory call: the conversation and the exchanges. */
  readonly historySets: { conversation: number; exchanges: Exchange[] }[] = [];
  closed = 0;
  /** Conversations opened before this count are lost (as after the model was unloaded while idle). */
  private lostBefore = 0;
  private releases: (() => void)[] = [];

  constructor(
    private readonly replies: ScriptedReply[],
    /** The probe's answer; a string makes the probe fail with that message. */
    private readonly askProbability: number | string = 0.5,
    private readonly options: ScriptedModelOptions = {},
  ) {}

  get contextSize(): number | undefined {
    return this.options.contextSize;
  }

  async countTokens(text: string): Promise<number> {
    return Math.ceil(text.length / (this.options.charsPerToken ?? 4));
  }

  /** Every conversation open now is lost, as when the model is unloaded while idle. */
  loseConversations(): void {
    this.lostBefore = this.opened.length;
  }

  /** Lets every `stuck` reply finish (as aborted, with no text). */
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    this.opened.push(options);
    const index = this.opened.length;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read by the conversation's `lost` getter
    const model = this;
    const history: Exchange[] = [];
    this.histories[index] = history;
    const take = async (kind: RecordedCall["kind"], text: string, turn: TurnOptions): Promise<TurnResult> => {
      this.calls.push({
        kind,
        conversation: index,
        text,
        ...(turn.grammar ? { grammar: turn.grammar } : {}),
        ...(turn.responsePrefix !== undefined ? { responsePrefix: turn.responsePrefix } : {}),
        ...(turn.temperature !== undefined ? { temperature: turn.temperature } : {}),
        ...(turn.seed !== undefined ? { seed: turn.seed } : {}),
      });
      const reply = this.replies.shift();
      if (reply === undefined) throw new Error(`The script ran out of replies at ${kind}: ${text.slice(0, 60)}`);
      const result = await play(reply, turn, (release) => this.releases.push(release));
      // Like node-llama-cpp's chat session: an exchange joins the history when the turn returns, even when stopped.
      if (kind === "chat") history.push({ user: text, model: result.text });
      return result;
    };
    return {
      probe: async (message, prefix, options) => {
        this.calls.push({ kind: "probe", conversation: index, text: `${message}|${prefix}|${options.join(",")}` });
        if (typeof this.askProbability === "string") throw new Error(this.askProbability);
        return { ask: this.askProbability, proceed: 1 - this.askProbability };
      },
      chat: (message, turn) => take("chat", message, turn),
      complete: (text, turn) => take("complete", text, turn),
      setHistory: async (exchanges) => {
        this.historySets.push({ conversation: index, exchanges: exchanges.map((e) => ({ ...e })) });
        history.splice(0, history.length, ...exchanges.map((e) => ({ ...e })));
      },
      close: async () => {
        this.closed += 1;
      },
      get lost() {
        return index <= model.lostBefore;
      },
    };
  }
}

async function play(reply: ScriptedReply, turn: TurnOptions, onStuck: (release: () => void) => void): Promise<TurnResult> {
  if (typeof reply === "string") reply = { text: reply };
  if ("error" in reply) throw new Error(reply.error);
  if ("stuck" in reply) {
    await new Promise<void>((resolve) => onStuck(resolve));
    return { text: "", stopReason: "abort", evaluatedInputTokens: 0, outputTokens: 0 };
  }
  // Like node-llama-cpp: a response prefix is streamed first and is part of the reply.
  const prefix = turn.responsePrefix ?? "";
  if (prefix !== "") turn.onChunk?.(prefix);
  if ("hangAfter" in reply) {
    for (const c of reply.hangAfter) turn.onChunk?.(c);
    await new Promise<void>((resolve) => {
      if (turn.signal?.aborted) return resolve();
      turn.signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    const text = prefix + reply.hangAfter.join("");
    return { text, stopReason: "abort", evaluatedInputTokens: 0, outputTokens: reply.hangAfter.length };
  }
  for (const c of reply.chunks ?? [reply.text]) turn.onChunk?.(c);
  return { text: prefix + reply.text, stopReason: reply.stopReason ?? "eogToken", evaluatedInputTokens: 10, outputTokens: 5 };
}

export const askReply = (...questions: string[]): string =>
  JSON.stringify({ decision: "ask", questions: questions.map((q) => ({ question: q, suggestions: [`${q} A`, `${q} B`] })) });
export const proceedReply = (...assumptions: string[]): string => JSON.stringify({ decision: "proceed", assumptions });
export const choicesReply = (...choices: string[]): string => JSON.stringify({ choices });
