/**
 * The streaming code turn's generation loop: the chat template's text for the history, then node-llama-cpp's own
 * sequence evaluation, token by token, with as little work per token as the stream needs (one detokenization, the
 * stop checks, no per-token message). LlamaChatSession does much more per token (segments, function calls, a
 * stream regulator): on the tiny model on one CPU thread it took 506 µs per token where a bare evaluation loop took
 * 494 and this loop 492 (the least of 10 runs each), a fixed cost of about 2.5% at that speed, most of the 3% a
 * stack may add. Its history is kept in step afterwards, so the next turn (and the grammar-constrained ones, which
 * still use it) see the same conversation.
 *
 * Sampling is the session's: the same temperature and seed, and no repeat penalty. LlamaChatSession's default "repeat
 * penalty" names the last 64 tokens but sets no penalty, so llama.cpp's sampler keeps its 1.0 (off): it only costs the
 * token list built, copied and compared on every token (about 2% of a token at 1,000 tokens per second). The loop
 * leaves it out, with the same tokens as the session's (a real-model test compares the two).
 */
import type { ChatHistoryItem, ChatWrapper, LlamaContextSequence, LlamaModel, LlamaText, Token } from "node-llama-cpp";
import type { StopReason } from "../../../core/model.js";
import { pendingTriggerLength } from "../stop-texts.js";

/** Enough earlier tokens for the detokenizer to place spaces right (node-llama-cpp keeps about as many). */
const detokenizerTrail = 16;

interface StopTriggers {
  /** Texts that end the reply when they appear in it (they are not part of it). */
  texts: string[];
  /** Token sequences that end the reply (special tokens such as <|im_end|>, one token each). */
  tokens: Token[][];
}

/** The chat wrapper's stop triggers, split into plain texts and special-token sequences. */
function stopTriggersOf(triggers: readonly LlamaText[], model: LlamaModel): StopTriggers {
  const out: StopTriggers = { texts: [], tokens: [] };
  for (const trigger of triggers) {
    if (trigger.values.every((v) => typeof v === "string")) {
      const text = trigger.values.join("");
      if (text !== "") out.texts.push(text);
    } else {
      const tokens = trigger.tokenize(model.tokenizer);
      if (tokens.length > 0) out.tokens.push(tokens);
    }
  }
  return out;
}

interface LeanChatTurn {
  model: LlamaModel;
  sequence: LlamaContextSequence;
  chatWrapper: ChatWrapper;
  /** The history so far, the new user message, and the model's reply (with its prefix, if any) last. */
  history: ChatHistoryItem[];
  responsePrefix: string;
  maxTokens: number;
  temperature: number;
  /** Sampling seed (with a temperature above 0), for repeatable runs. */
  seed?: number;
  signal: AbortSignal;
  onText: (text: string) => void;
  /** The prompt read so far (see evaluatePrompt). */
  onReading?: (evaluated: number, total: number) => void;
}

/**
 * How many tokens a reply after a prompt of `promptTokens` may have: `maxTokens`, or fewer where the context ends
 * first, so that a reply that reaches the context's end stops there with "maxTokens" (its length limit) instead of
 * shifting the context under the conversation. Undefined when the prompt leaves less room than a reply needs (the
 * smaller of `maxTokens` and an eighth of the context): LlamaChatSession, which can drop old history to make room,
 * takes those turns.
 */
export function replyRoom(promptTokens: number, maxTokens: number, contextSize: number): number | undefined {
  // The last generated token is never evaluated, but the next turn (and settling) evaluates it: keep its cell.
  const room = contextSize - promptTokens - 1;
  return room >= Math.min(maxTokens, Math.ceil(contextSize / 8)) && room > 0 ? Math.min(maxTokens, room) : undefined;
}

/** The tokens of the history as the chat template spells it, and its stop triggers. */
export function templatedContext(turn: Pick<LeanChatTurn, "model" | "chatWrapper" | "history">): { tokens: Token[]; stops: StopTriggers } {
  const { contextText, stopGenerationTriggers } = turn.chatWrapper.generateContextState({ chatHistory: turn.history });
  return { tokens: contextText.tokenize(turn.model.tokenizer), stops: stopTriggersOf(stopGenerationTriggers, turn.model) };
}

/**
 * Evaluates a long prompt on the sequence a batch at a time, reusing what the sequence already holds, and leaves the
 * last batch (at most) to the turn's own evaluation, which generates from it. node-llama-cpp evaluates a prompt in one
 * call that nothing can stop, so Stop during a long prompt (a 5,000-line selection) would leave the worker busy for
 * all of it; this way it stops within a batch. False when `signal` stopped it. `onBatch` is called after each batch.
 */
export async function evaluatePrompt(
  sequence: LlamaContextSequence,
  tokens: readonly Token[],
  signal: AbortSignal,
  onBatch?: (evaluated: number, total: number) => void,
): Promise<boolean> {
  if (signal.aborted) return false;
  await sequence.adaptStateToTokens(tokens.slice(0, -1), false);
  const batch = Math.max(1, sequence.context.batchSize);
  onBatch?.(sequence.nextTokenIndex, tokens.length);
  for (let at = sequence.nextTokenIndex; tokens.length - at > batch; at += batch) {
    await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(at, at + batch));
    onBatch?.(sequence.nextTokenIndex, tokens.length);
    if (signal.aborted) return false;
  }
  return true;
}

/** Generates the reply to `turn.history` on its sequence, streaming text; returns the reply without its prefix. */
export async function generateReply(turn: LeanChatTurn, context: { tokens: Token[]; stops: StopTriggers }): Promise<{ text: string; stopReason: StopReason }> {
  const { model, sequence, signal } = turn;
  const input = [...context.tokens];
  const last = input.pop();
  if (last === undefined) return { text: "", stopReason: "other" };
  const trail: Token[] = input.slice(-detokenizerTrail);
  const generated: Token[] = [];
  let partial: Token[] = [];
  let held = "";
  let text = "";
  let stopReason: StopReason = "maxTokens";
  const emit = (piece: string): void => {
    if (piece === "") return;
    text += piece;
    turn.onText(piece);
  };
  if (turn.responsePrefix !== "") turn.onText(turn.responsePrefix);
  if (!(await evaluatePrompt(sequence, context.tokens, signal, turn.onReading))) return { text: "", stopReason: "abort" };
  const fresh = [...input.slice(sequence.nextTokenIndex), last];
  const evaluation = sequence.evaluate(fresh, {
    temperature: turn.temperature,
    ...(turn.seed !== undefined ? { seed: turn.seed } : {}),
    yieldEogToken: true,
  });
  for await (const token of evaluation) {
    if (model.isEogToken(token)) {
      stopReason = "eogToken";
      break;
    }
    generated.push(token);
    if (context.stops.tokens.some((stop) => stop.length <= generated.length && stop.every((t, i) => generated[generated.length - stop.length + i] === t))) {
      stopReason = "stopString";
      break;
    }
    partial.push(token);
    const piece = model.detokenize(partial, false, trail);
    // A character split across tokens: wait for the rest of its bytes.
    if (piece.endsWith("\uFFFD") && partial.length < 4 && generated.length < turn.maxTokens) continue;
    trail.push(...partial);
    if (trail.length > detokenizerTrail) trail.splice(0, trail.length - detokenizerTrail);
    partial = [];
    held += piece;
    const hit = context.stops.texts.map((t) => held.indexOf(t)).filter((i) => i >= 0);
    if (hit.length > 0) {
      emit(held.slice(0, Math.min(...hit)));
      held = "";
      stopReason = "stopString";
      break;
    }
    const keep = pendingTriggerLength(held, context.stops.texts);
    emit(held.slice(0, held.length - keep));
    held = held.slice(held.length - keep);
    if (signal.aborted) {
      stopReason = "abort";
      break;
    }
    if (generated.length >= turn.maxTokens) break;
  }
  if (stopReason !== "stopString") emit(held + (partial.length > 0 ? model.detokenize(partial, false, trail) : ""));
  return { text, stopReason };
}
