/** Turns on a conversation: chat, raw completion, the ask/proceed probe, and settling the sequence after a reply. */
import type { ChatHistoryItem, Llama, LlamaChatSession, LlamaContextSequence, LlamaGrammar, Token } from "node-llama-cpp";
import type { JsonSchema, StopReason } from "../../../core/model.js";
import { WorkerError, type ParamsOf, type ResultOf, type TurnOutput } from "../protocol.js";
import { ChunkStream } from "../chunk-stream.js";
import { isDecodeFailure, plainDecodeError } from "../load-errors.js";
import { log, messageOf, type RequestContext } from "./channel.mjs";
import type { Conversation, ConversationPool } from "./conversations.mjs";
import { evaluatePrompt, generateReply, replyRoom, templatedContext } from "./generate.mjs";
import type { Backends } from "./gpu.mjs";
import type { ModelHost } from "./load.mjs";

function stopReasonOf(reason: string): StopReason {
  if (reason === "eogToken" || reason === "maxTokens" || reason === "abort") return reason;
  if (reason === "stopGenerationTrigger" || reason === "customStopTrigger") return "stopString";
  return "other";
}

function meter(sequence: LlamaContextSequence): { input: number; output: number } {
  return { input: sequence.tokenMeter.usedInputTokens, output: sequence.tokenMeter.usedOutputTokens };
}

/** A chat turn as the lean loop or the prefill takes it (see Turns.nextTurn). */
interface NextTurn {
  session: LlamaChatSession;
  history: ChatHistoryItem[];
  prefix: string;
  context: ReturnType<typeof templatedContext>;
  /** The reply's length limit: the turn's own, or less where the context ends first. */
  maxTokens: number;
}

/**
 * Streams a turn's reading of its prompt to the caller (one event a batch; the first says what was held already).
 * While the prompt is read the turn's text stream pauses, so the reply's first word goes out at once.
 */
function readingReporter(request: RequestContext<"chat" | "complete" | "probe">, stream?: ChunkStream): (evaluated: number, total: number) => void {
  return (evaluated, total) => {
    stream?.pause();
    request.emit({ kind: "reading", evaluated, total });
  };
}

export class Turns {
  private readonly grammars = new Map<string, LlamaGrammar>();

  constructor(
    private readonly backends: Backends,
    private readonly host: ModelHost,
    private readonly pool: ConversationPool,
  ) {
    host.onUnload(() => this.grammars.clear());
  }

  async chat(params: ParamsOf<"chat">, request: RequestContext<"chat">): Promise<TurnOutput> {
    const grammar = await this.grammarFor(params.grammar);
    return this.pool.with(params.conversationId, "chat", (c) =>
      this.guarded(c, async () => {
        const session = c.chat;
        if (!session) throw new WorkerError("internal", "The conversation has no chat session.");
        const before = meter(c.sequence);
        const stream = new ChunkStream((text) => request.emit({ kind: "chunk", text }));
        request.phase("evaluating the prompt and generating");
        const reading = readingReporter(request, stream);
        let reply: { text: string; stopReason: StopReason };
        const turn = this.nextTurn(c, params);
        try {
          reply =
            (turn &&
              (grammar ? await this.prefill(c, turn, request.signal, reading) : await this.lean(c, turn, params, request.signal, stream.push, reading))) ??
            (await session
              .promptWithMeta(params.message, {
                maxTokens: turn?.maxTokens ?? params.maxTokens,
                temperature: params.temperature ?? 0,
                ...(params.seed !== undefined ? { seed: params.seed } : {}),
                ...(grammar ? { grammar } : {}),
                ...(params.responsePrefix ? { responsePrefix: params.responsePrefix } : {}),
                signal: request.signal,
                stopOnAbortSignal: true,
                onTextChunk: stream.push,
              })
              .then((result) => ({ text: result.responseText, stopReason: stopReasonOf(result.stopReason) })));
        } finally {
          stream.flush();
        }
        const after = meter(c.sequence);
        c.settling = this.settle(c).catch((error: unknown) => log("warn", `settle: ${messageOf(error)}`));
        return {
          ...reply,
          evaluatedInputTokens: after.input - before.input,
          outputTokens: after.output - before.output,
        };
      }),
    );
  }

  /**
   * Runs a turn's work on a conversation's sequence. A failed evaluation (llama.cpp's decode) is reported with
   * llama.cpp's reason rather than node-llama-cpp's "Eval has failed", and the conversation gives up the sequence it
   * left in an unknown state: its next turn rebuilds it, with its history, on an empty one.
   */
  private async guarded<T>(c: Conversation, work: () => Promise<T>): Promise<T> {
    const mark = this.backends.logMark();
    try {
      return await work();
    } catch (error) {
      if (error instanceof WorkerError || !isDecodeFailure(error)) throw error;
      const message = plainDecodeError(error, this.backends.logSince(mark));
      log("warn", message);
      await this.pool.reset(c);
      throw new WorkerError(/KV slot/.test(messageOf(error)) ? "context-full" : "internal", message);
    }
  }

  /**
   * The chat turn about to run as the chat template spells it: the history, the new message and the reply's start, and
   * the reply's length limit (at most what the context has left, see replyRoom). Undefined when the history leaves too
   * little room for a reply: the session, which can make room, takes it.
   */
  private nextTurn(c: Conversation, params: ParamsOf<"chat">): NextTurn | undefined {
    const session = c.chat;
    const l = this.host.require();
    if (!session) return undefined;
    const prefix = params.responsePrefix ?? "";
    const history: ChatHistoryItem[] = [
      ...session.getChatHistory(),
      { type: "user", text: params.message },
      { type: "model", response: prefix ? [prefix] : [] },
    ];
    const context = templatedContext({ model: l.model, chatWrapper: session.chatWrapper, history });
    const maxTokens = replyRoom(context.tokens.length, params.maxTokens, l.context.contextSize);
    if (maxTokens === undefined) return undefined;
    return { session, history, prefix, context, maxTokens };
  }

  /** A reply without a grammar, through the lean loop (see generate.mts), its history then given to the chat session. */
  private async lean(
    c: Conversation,
    turn: NextTurn,
    params: ParamsOf<"chat">,
    signal: AbortSignal,
    onText: (text: string) => void,
    onReading: (evaluated: number, total: number) => void,
  ): Promise<{ text: string; stopReason: StopReason }> {
    const { session, history, prefix, context } = turn;
    const reply = await generateReply(
      {
        model: this.host.require().model,
        sequence: c.sequence,
        chatWrapper: session.chatWrapper,
        history,
        responsePrefix: prefix,
        maxTokens: turn.maxTokens,
        temperature: params.temperature ?? 0,
        ...(params.seed !== undefined ? { seed: params.seed } : {}),
        signal,
        onText,
        onReading,
      },
      context,
    );
    const text = prefix + reply.text;
    session.setChatHistory([...history.slice(0, -1), { type: "model", response: [text] }]);
    return { text, stopReason: reply.stopReason };
  }

  /**
   * A grammar turn's prompt evaluated before the session takes the turn, a batch at a time, so that Stop ends it
   * within a batch (see evaluatePrompt). Stopped: the turn ends there, its message in the history with an empty reply.
   * Undefined otherwise: the session takes the turn.
   */
  private async prefill(
    c: Conversation,
    turn: NextTurn,
    signal: AbortSignal,
    onReading: (evaluated: number, total: number) => void,
  ): Promise<{ text: string; stopReason: StopReason } | undefined> {
    if (await evaluatePrompt(c.sequence, turn.context.tokens, signal, onReading)) return undefined;
    turn.session.setChatHistory(turn.history);
    return { text: turn.prefix, stopReason: "abort" };
  }

  async complete(params: ParamsOf<"complete">, request: RequestContext<"complete">): Promise<TurnOutput> {
    const grammar = await this.grammarFor(params.grammar);
    return this.pool.with(params.conversationId, "raw", (c) =>
      this.guarded(c, async () => {
        const completion = c.completion;
        if (!completion) throw new WorkerError("internal", "The conversation has no completion.");
        c.transcript += params.text;
        const before = meter(c.sequence);
        const stream = new ChunkStream((text) => request.emit({ kind: "chunk", text }));
        request.phase("evaluating the prompt and generating");
        // Tokenized here as LlamaCompletion would, so that the prompt is evaluated a batch at a time (Stop ends it within
        // a batch) and the completion then finds it all in the sequence.
        const model = this.host.require().model;
        const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
        const input = model.tokenize(c.transcript, false, bos !== null ? "trimLeadingSpace" : undefined);
        const tokens = bos !== null ? [bos, ...input] : input;
        const room = tokens.length > 0 ? replyRoom(tokens.length, params.maxTokens, this.host.require().context.contextSize) : undefined;
        const fits = room !== undefined;
        if (fits && !(await evaluatePrompt(c.sequence, tokens, request.signal, readingReporter(request, stream)))) {
          return { text: "", stopReason: "abort", evaluatedInputTokens: meter(c.sequence).input - before.input, outputTokens: 0 };
        }
        const result = await completion
          .generateCompletionWithMeta(fits ? input : c.transcript, {
            maxTokens: room ?? params.maxTokens,
            temperature: params.temperature ?? 0,
            ...(params.seed !== undefined ? { seed: params.seed } : {}),
            ...(grammar ? { grammar } : {}),
            ...(params.stopStrings && params.stopStrings.length > 0 ? { customStopTriggers: params.stopStrings } : {}),
            signal: request.signal,
            stopOnAbortSignal: true,
            onTextChunk: stream.push,
          })
          .finally(() => stream.flush());
        c.transcript += result.response;
        const after = meter(c.sequence);
        return {
          text: result.response,
          stopReason: stopReasonOf(result.metadata.stopReason),
          evaluatedInputTokens: after.input - before.input,
          outputTokens: after.output - before.output,
        };
      }),
    );
  }

  /**
   * The probabilities of each option as the next text after `prefix` at the start of the model's reply to `message`.
   * Evaluated on the conversation's own sequence, so the reply that follows reuses these tokens.
   */
  probe(params: ParamsOf<"probe">, request: RequestContext<"probe">): Promise<ResultOf<"probe">> {
    request.phase("evaluating the prompt (the ask-or-proceed probe)");
    return this.pool.with(params.conversationId, "chat", (c) => this.guarded(c, () => this.probeOn(c, params, request.signal, readingReporter(request))));
  }

  /**
   * Replaces the history after the system prompt (a rewound turn, a reopened conversation). The next turn evaluates
   * from the first token where the new history differs; settling brings the sequence in line meanwhile.
   */
  setHistory(params: ParamsOf<"setHistory">): Promise<ResultOf<"setHistory">> {
    return this.pool.with(params.conversationId, "chat", async (c) => {
      const session = c.chat;
      if (!session) throw new WorkerError("internal", "The conversation has no chat session.");
      const system = session.getChatHistory().filter((item) => item.type === "system");
      const exchanges = params.exchanges.flatMap((e): ChatHistoryItem[] => [
        { type: "user", text: e.user },
        { type: "model", response: [e.model] },
      ]);
      session.setChatHistory([...system, ...exchanges]);
      c.settling = this.settle(c).catch((error: unknown) => log("warn", `settle: ${messageOf(error)}`));
      return { messages: exchanges.length };
    });
  }

  usage(params: ParamsOf<"usage">): Promise<ResultOf<"usage">> {
    return this.pool.with(params.conversationId, "any", async (c) => ({
      inputTokens: c.sequence.tokenMeter.usedInputTokens,
      outputTokens: c.sequence.tokenMeter.usedOutputTokens,
      settledTokens: c.settledTokens,
    }));
  }

  tokenize(params: ParamsOf<"tokenize">): ResultOf<"tokenize"> {
    return { count: this.host.require().model.tokenize(params.text, params.special === true).length };
  }

  private async probeOn(
    c: Conversation,
    params: ParamsOf<"probe">,
    signal: AbortSignal,
    onReading: (evaluated: number, total: number) => void,
  ): Promise<ResultOf<"probe">> {
    const session = c.chat;
    const l = this.host.require();
    if (!session) throw new WorkerError("internal", "The conversation has no chat session.");
    const history = [...session.getChatHistory(), { type: "user" as const, text: params.message }, { type: "model" as const, response: [] }];
    const { contextText } = session.chatWrapper.generateContextState({ chatHistory: history });
    const tokens: Token[] = [...contextText.tokenize(l.model.tokenizer), ...l.model.tokenize(params.prefix, false, "trimLeadingSpace")];
    if (tokens.length >= l.context.contextSize) throw new WorkerError("context-full", "The request does not fit in the model's context.");
    if (tokens.length === 0) throw new WorkerError("bad-request", "Nothing to evaluate.");
    if (!(await evaluatePrompt(c.sequence, tokens, signal, onReading))) throw new WorkerError("cancelled", "Stopped.");
    const last = tokens.pop() as Token;
    const fresh = [...tokens.slice(c.sequence.nextTokenIndex), last];
    const iterator = c.sequence.evaluateWithMetadata(fresh, { probabilities: true }, { temperature: 0 });
    const first = await iterator.next();
    await iterator.return();
    const probabilities = first.done ? undefined : first.value.probabilities;
    const mass: Record<string, number> = {};
    for (const option of params.options) mass[option] = 0;
    if (probabilities) {
      for (const [token, p] of probabilities) {
        if (p < 1e-6) continue;
        const text = l.model.detokenize([token]);
        if (text === "") continue;
        for (const option of params.options) if (option.startsWith(text)) mass[option] = (mass[option] ?? 0) + p;
      }
    }
    const total = Object.values(mass).reduce((a, b) => a + b, 0);
    for (const option of params.options) mass[option] = total > 0 ? (mass[option] ?? 0) / total : 1 / params.options.length;
    return { probabilities: mass };
  }

  /**
   * After a reply, brings the sequence in line with how the next turn will spell the history. A reply generated under
   * a grammar is often not in the tokenizer's canonical tokens, so the next turn would re-evaluate it from the first
   * difference; doing it now, while the user reads and answers, keeps the next turn down to its new tokens.
   */
  private async settle(c: Conversation): Promise<void> {
    const l = this.host.loaded;
    if (!l || !c.chat || c.evicted) return;
    // Busy while it works, so no other conversation takes the sequence from under it.
    c.busy += 1;
    try {
      const { contextText } = c.chat.chatWrapper.generateContextState({ chatHistory: c.chat.getChatHistory() });
      const tokens = contextText.tokenize(l.model.tokenizer);
      // Leave the last token to the next turn: generation needs at least one token to evaluate.
      tokens.pop();
      await c.sequence.adaptStateToTokens(tokens, false);
      const missing = tokens.slice(c.sequence.nextTokenIndex);
      if (missing.length === 0) return;
      const before = c.sequence.tokenMeter.usedInputTokens;
      await c.sequence.evaluateWithoutGeneratingNewTokens(missing);
      c.settledTokens += c.sequence.tokenMeter.usedInputTokens - before;
    } finally {
      c.busy -= 1;
    }
  }

  private async grammarFor(schema: JsonSchema | undefined): Promise<LlamaGrammar | undefined> {
    if (!schema) return undefined;
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      const l = await this.backends.ensure(this.backends.choice ?? "auto", this.host.loaded !== undefined);
      // The schema's type is node-llama-cpp's own; the engine builds it from that subset.
      g = await l.createGrammarForJsonSchema(schema as Parameters<Llama["createGrammarForJsonSchema"]>[0]);
      this.grammars.set(key, g);
    }
    return g;
  }
}
