/**
 * The rounds of one evaluated item, in two modes:
 * - paper: HumanEvalComm's protocol on the raw model. Round 1 sends their prompt; a reply that starts with a fenced
 *   block is the code (their rule, see reply.ts); anything else goes to the judge, whose answers come back in round 3
 *   with a request for code.
 * - engine: our own ClarifySession (guided or native, with its settings) on the same model, with the judge answering
 *   each round of its questions (an empty answer waives the question), so the product itself is measured.
 * The sandbox that runs the code is passed in, so this file stays pure.
 */
import type { ClarifyModel, ModelConversation, OpenConversationOptions, TurnOptions, TurnResult } from "../model.js";
import type { CodeRunner } from "../code-runner.js";
import { ClarifySession } from "../session.js";
import type { ClarifySettings, CodeBlock } from "../types.js";
import type { EvalItem } from "./benchmark.js";
import { referenceAnswers, referenceAnswersInText, referenceSentence, type ReferenceAnswer } from "./reference-answers.js";
import { askJudge, whyNotGood, type JudgeFormat, type JudgeInput, type JudgeVerdict } from "./judge.js";
import { classifyFirstReply, firstCodeBlock } from "./reply.js";
import type { EvalMode, EvalRow, Exchange, JudgeRound, TestOutcome } from "./results.js";

/** HumanEvalComm's round-1 prompt, before the problem. */
const paperPromptPrefix =
  "You are an expert software developer who writes high quality code. With below information, please either generate Python3 code (Respond directly with code only with markdown), or ask clarifying questions: \n ";
/**
 * HumanEvalComm's round-1 prompt for an original (clear) problem: code only, no invitation to ask. Their HumanEval
 * columns were measured with it, so the originals' figures compare with those.
 */
const paperOriginalPromptPrefix =
  "You are an expert software developer who writes high quality code. With below information, please generate Python3 code (Respond directly with code only with markdown): \n ";
/** HumanEvalComm's round-3 request, after the judge's answers. */
const paperCodeRequest = "\n Given above conversations, generate Python code directly (Markdown) to solve the coding problem:\n";

type TestRunner = (code: string, item: EvalItem) => Promise<TestOutcome>;

interface ItemContext {
  model: ClarifyModel;
  judge: ClarifyModel;
  judgeFormat: JudgeFormat;
  judgeMaxTokens: number;
  runTests: TestRunner;
  /** Runs candidate code for the engine's readings (the sandbox); without it the engine decides by the model's probability. */
  runner?: CodeRunner;
  /** Given (the sandbox), questions about concrete calls are answered by the reference solution (`--answers reference`). */
  reference?: CodeRunner;
  now?: () => number;
  signal?: AbortSignal;
}

export interface PaperSettings {
  maxTokens: number;
  temperature: number;
}

export type ModeSettings = { mode: "paper"; paper: PaperSettings } | { mode: "engine"; engine: ClarifySettings };

/**
 * Wraps a model so that every call it answers is written down, in order, with its time. Everything else the engine
 * asks of a model (its context size, counting tokens, a lost conversation) goes through, so the engine measured is
 * the product's.
 */
class RecordingModel implements ClarifyModel {
  readonly countTokens?: (text: string) => Promise<number>;

  constructor(
    private readonly inner: ClarifyModel,
    private readonly who: Exchange["who"],
    private readonly log: Exchange[],
    private readonly now: () => number,
  ) {
    const count = inner.countTokens?.bind(inner);
    if (count) this.countTokens = count;
  }

  get contextSize(): number | undefined {
    return this.inner.contextSize;
  }

  async openConversation(options: OpenConversationOptions): Promise<ModelConversation> {
    const c = await this.inner.openConversation(options);
    const timed = async <T>(
      kind: Exchange["kind"],
      sent: string,
      call: () => Promise<T>,
      reply: (value: T) => string,
      stop?: (value: T) => string,
    ): Promise<T> => {
      const start = this.now();
      const value = await call();
      this.log.push({ who: this.who, kind, sent, reply: reply(value), ms: this.now() - start, ...(stop ? { stopReason: stop(value) } : {}) });
      return value;
    };
    const text = (r: TurnResult): string => r.text;
    const stop = (r: TurnResult): string => r.stopReason;
    return {
      probe: (message, prefix, opts, turn) =>
        timed(
          "probe",
          message,
          () => c.probe(message, prefix, opts, turn),
          (p) => JSON.stringify(p),
        ),
      chat: (message: string, turn: TurnOptions) => timed("chat", message, () => c.chat(message, turn), text, stop),
      complete: (sent: string, turn: TurnOptions & { stopStrings?: string[] }) => timed("complete", sent, () => c.complete(sent, turn), text, stop),
      setHistory: (exchanges) => c.setHistory(exchanges),
      close: () => c.close(),
      get lost() {
        return c.lost === true;
      },
    };
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A judge call that threw, told apart from the model's. */
class JudgeCallFailed extends Error {
  override name = "JudgeCallFailed";
}

/**
 * How a request too large for a model's context reads, wherever it was refused: the engine's own budget
 * (budget.ts's tooLargeMessage), node-llama-cpp, llama.cpp's server, vLLM and OpenAI-style endpoints.
 */
const contextOverflowPatterns = [
  /too long for the model/i,
  /context size is too small/i,
  /exceeds? the available context size/i,
  /maximum context length/i,
  /context_length_exceeded/i,
  /exceed(?:s|ed)? (?:the )?(?:model's )?context (?:window|length|size)/i,
];

/**
 * Whether a call's error says the request does not fit the model's context. Such a request fails the same way every
 * time, so it is an outcome of the item (a failure, counted), not an error to retry on the next run.
 */
export function isContextOverflow(message: string): boolean {
  return contextOverflowPatterns.some((p) => p.test(message));
}

const judgeRound = (v: JudgeVerdict): JudgeRound => {
  const notGood = whyNotGood(v);
  return {
    ...(v.quality !== undefined ? { quality: v.quality } : {}),
    ...(v.noGrade !== undefined ? { noGrade: v.noGrade } : {}),
    ...(notGood !== undefined ? { notGood } : {}),
    answers: v.answers,
    ...(v.requirements ? { requirements: v.requirements } : {}),
    ...(v.echoed ? { echoed: v.echoed } : {}),
  };
};

/** The code the engine produced: its first Python (or untagged) block, else its first block. */
export function pickCode(blocks: readonly CodeBlock[]): string {
  const python = blocks.find((b) => ["python", "py", "python3", ""].includes(b.language.toLowerCase()));
  return (python ?? blocks[0])?.code ?? "";
}

/**
 * The answer the engine gets for question `index` of `count`: the judge's own answer to it when it gave one per
 * question; a single block goes to the first question (the others point to it); nothing means "you decide".
 */
export function answerFor(answers: readonly string[], index: number, count: number): string | undefined {
  const given = answers.map((a) => a.trim());
  if (given.length === count) return given[index] === "" ? undefined : given[index];
  const block = given.filter((a) => a !== "").join("\n");
  if (block === "") return undefined;
  return index === 0 ? block : "See the answer to question 1.";
}

interface Draft {
  asked: boolean;
  askProbability?: number;
  questions: string[];
  judge: JudgeRound[];
  code: string;
  turns?: number;
  failure?: string;
}

/** Runs one item to a result row. A model or judge call that throws gives a row with `error` (retried later). */
export async function runItem(item: EvalItem, mode: ModeSettings, ctx: ItemContext): Promise<EvalRow> {
  const now = ctx.now ?? Date.now;
  const started = now();
  const exchanges: Exchange[] = [];
  const model = new RecordingModel(ctx.model, "model", exchanges, now);
  const judgeModel = new RecordingModel(ctx.judge, "judge", exchanges, now);
  const judge = (input: JudgeInput): Promise<JudgeVerdict> =>
    askJudge(judgeModel, input, {
      format: ctx.judgeFormat,
      maxTokens: ctx.judgeMaxTokens,
      temperature: mode.mode === "paper" ? mode.paper.temperature : mode.engine.temperature,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    }).catch((e: unknown) => {
      throw new JudgeCallFailed(messageOf(e));
    });
  let draft: Draft;
  let error: string | undefined;
  try {
    draft =
      mode.mode === "paper"
        ? await paperRounds(item, model, judge, mode.paper, ctx.signal, ctx.reference)
        : await engineRounds(item, model, judge, mode.engine, ctx.signal, ctx.runner, ctx.reference);
  } catch (e) {
    if (ctx.signal?.aborted) throw e;
    const message = messageOf(e);
    const who = e instanceof JudgeCallFailed ? "the judge" : "the model";
    if (isContextOverflow(message))
      draft = { asked: false, questions: [], judge: [], code: "", failure: `A request to ${who} does not fit its context: ${message}` };
    else {
      error = message;
      draft = { asked: false, questions: [], judge: [], code: "" };
    }
  }
  const spent = (who: Exchange["who"]): number => exchanges.filter((x) => x.who === who).reduce((n, x) => n + x.ms, 0);
  const testStart = now();
  const tests = error === undefined ? await ctx.runTests(draft.code, item) : { passed: 0, total: item.tests.length, statuses: item.tests.map(() => "not run") };
  const testMs = error === undefined ? now() - testStart : 0;
  const evalMode: EvalMode = mode.mode;
  return {
    id: item.id,
    name: item.name,
    category: item.category,
    mode: evalMode,
    asked: draft.asked,
    ...(draft.askProbability !== undefined ? { askProbability: draft.askProbability } : {}),
    questions: draft.questions,
    judge: draft.judge,
    code: draft.code,
    tests,
    ...(draft.turns !== undefined ? { turns: draft.turns } : {}),
    exchanges,
    ms: { model: spent("model"), judge: spent("judge"), tests: testMs, total: now() - started },
    ...(draft.failure !== undefined ? { failure: draft.failure } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}

async function paperRounds(
  item: EvalItem,
  model: ClarifyModel,
  judge: (input: JudgeInput) => Promise<JudgeVerdict>,
  settings: PaperSettings,
  signal: AbortSignal | undefined,
  reference: CodeRunner | undefined,
): Promise<Draft> {
  // No system prompt: HumanEvalComm sends the one user message.
  const conversation = await model.openConversation({ mode: "chat", systemPrompt: "" });
  const turn = { maxTokens: settings.maxTokens, temperature: settings.temperature, ...(signal ? { signal } : {}) };
  try {
    const first = await conversation.chat((item.category === "original" ? paperOriginalPromptPrefix : paperPromptPrefix) + item.prompt, turn);
    const asked = firstCodeBlock(first.text) === undefined;
    const read = classifyFirstReply(first.text);
    if (read.kind === "code") return { asked, questions: [], judge: [], code: read.code, turns: 1 };
    const verdict = await judge({ questions: first.text, modified: item.prompt, original: item.original });
    const known = reference ? await referenceAnswersInText(first.text, item, reference) : [];
    const answers = [...verdict.answers.filter((a) => a.trim() !== ""), ...known.map(referenceSentence)].join("\n");
    const third = await conversation.chat(answers + paperCodeRequest, turn);
    const code = firstCodeBlock(third.text);
    const round = { ...judgeRound(verdict), ...(known.length > 0 ? { reference: known } : {}) };
    return { asked, questions: read.questions, judge: [round], code: code ?? "", ...(code !== undefined ? { turns: 2 } : {}) };
  } finally {
    await conversation.close().catch(() => undefined);
  }
}

async function engineRounds(
  item: EvalItem,
  model: ClarifyModel,
  judge: (input: JudgeInput) => Promise<JudgeVerdict>,
  settings: ClarifySettings,
  signal: AbortSignal | undefined,
  runner: CodeRunner | undefined,
  reference: CodeRunner | undefined,
): Promise<Draft> {
  const session = new ClarifySession(model, settings, runner ? { runner } : {});
  const stop = (): void => session.cancel();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    // The guided style is told the language as the editor would; the native style gets its training format exactly.
    await session.start(item.prompt, settings.style === "guided" ? { languageId: "python" } : {});
    const first = session.snapshot();
    const asked = first.state === "asking";
    const rounds: JudgeRound[] = [];
    while (session.state === "asking") {
      const open = session.openQuestions();
      const verdict = await judge({ questions: open.map((q) => q.text), modified: item.prompt, original: item.original });
      const known = reference
        ? await referenceAnswers(
            open.map((q) => q.text),
            item,
            reference,
          )
        : [];
      const given = known.filter((k): k is ReferenceAnswer => k !== undefined);
      rounds.push({ ...judgeRound(verdict), ...(given.length > 0 ? { reference: given } : {}) });
      open.forEach((q, i) => {
        const answer = known[i]?.value ?? answerFor(verdict.answers, i, open.length);
        if (answer === undefined) session.waiveQuestion(q.id);
        else session.answerQuestion(q.id, answer);
      });
      await session.submitAnswers();
    }
    const snap = session.snapshot();
    if (snap.state === "cancelled") throw new Error("The conversation was stopped.");
    // A failure without the model's text is a call that threw (a lost connection, a crashed worker): not an outcome.
    if (snap.state === "failed" && snap.failure?.raw === undefined) throw new Error(snap.failure?.message ?? "The engine failed.");
    const code = snap.state === "done" ? pickCode(snap.codeBlocks) : "";
    return {
      asked,
      ...(first.askProbability !== undefined ? { askProbability: first.askProbability } : {}),
      questions: first.questions.map((q) => q.text),
      judge: rounds,
      code,
      ...(code !== "" ? { turns: snap.rounds + 1 } : {}),
      ...(snap.state === "failed" ? { failure: snap.failure?.message ?? "failed" } : {}),
    };
  } finally {
    signal?.removeEventListener("abort", stop);
    await session.dispose();
  }
}
