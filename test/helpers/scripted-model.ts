/** A ClarifyModel that replies from a script and records every call: the engine's tests need no real model. */
import type { ClarifyModel, ModelConversation, OpenConversationOptions, TurnOptions, TurnResult } from "../../src/core/model.js";

export type ScriptedReply =
  | string
  | { text: string; stopReason?: TurnResult["stopReason"]; chunks?: string[] }
  /** Streams `chunks` then waits until the turn is cancelled. */
  | { hangAfter: string[] }
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

export class ScriptedModel implements ClarifyModel {
  readonly calls: RecordedCall[] = [];
  readonly opened: OpenConversationOptions[] = [];
  closed = 0;

  constructor(
    private readonly replies: ScriptedReply[],
    /** The probe's answer; a string makes the probe fail with that message. */
    private readonly askProbability: number | string = 0.5,
  ) {}

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    this.opened.push(options);
    const index = this.opened.length;
    const take = (kind: RecordedCall["kind"], text: string, turn: TurnOptions): Promise<TurnResult> => {
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
      return play(reply, turn);
    };
    return {
      probe: async (message, prefix, options) => {
        this.calls.push({ kind: "probe", conversation: index, text: `${message}|${prefix}|${options.join(",")}` });
        if (typeof this.askProbability === "string") throw new Error(this.askProbability);
        return { ask: this.askProbability, proceed: 1 - this.askProbability };
      },
      chat: (message, turn) => take("chat", message, turn),
      complete: (text, turn) => take("complete", text, turn),
      close: async () => {
        this.closed += 1;
      },
    };
  }
}

async function play(reply: ScriptedReply, turn: TurnOptions): Promise<TurnResult> {
  if (typeof reply === "string") reply = { text: reply };
  if ("error" in reply) throw new Error(reply.error);
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
