/**
 * ClarifySession: one clarify-first conversation, turn after turn, as a state machine.
 *
 *   idle -> assessing -> (asking -> [answers] -> assessing)* -> generating -> done
 *
 * with `cancelled` and `failed` reachable from every busy state. A finished turn (done, stopped, failed, or questions
 * the user moved on from) can be followed up: the next message is a new turn of the same conversation, in the same
 * model conversation, so the model sees everything so far and evaluates only the new tokens. The current turn can be
 * regenerated (optionally with another ask policy), continued after a stop or the length limit, or sent again with its
 * request edited. The session holds the truth; surfaces render its snapshots and send intents. In every turn it
 * refuses to request code while any question is open, whatever its caller says.
 */
import { answerReserve, fitContext, RequestTooLarge, tokensPerMessage, tooLargeMessage } from "./budget.js";
import { guidedCodeRequest, rebuildHistory, type CodeRequest } from "./history.js";
import type { ClarifyModel, Exchange, ModelConversation, ReadingProgress, TurnResult } from "./model.js";
import type {
  AskPolicy,
  ClarifySettings,
  EditorContext,
  PastTurn,
  Question,
  QuestionTopic,
  ReadingCandidate,
  SessionSnapshot,
  SessionState,
  TurnReadings,
} from "./types.js";
import {
  assessmentLengths,
  buildAssessmentMessage,
  buildChoicesMessage,
  buildCodeRequestMessage,
  buildFollowUpAssessmentMessage,
  buildNativeCodeTurn,
  buildNativePrompt,
  buildPlainCodeMessage,
  choiceAssumption,
  codeResponsePrefix,
  decisionOptions,
  decisionPrefix,
  guidedSystemPrompt,
  nativeCodeAnswerPrefix,
  nativeQuestionsAnswerPrefix,
  waivedAssumption,
} from "./prompts.js";
import {
  askSchema,
  assessmentSchema,
  choicesSchema,
  classifyNativeReply,
  comparisonKey,
  distinctTexts,
  extractCodeBlocks,
  isProtocolReply,
  parseAssessment,
  parseChoices,
  proceedSchema,
  protocolReplyStart,
  type Assessment,
} from "./parse.js";
import type { CallOutcome, CodeRunner } from "./code-runner.js";
import { fenceOfLanguage } from "./languages.js";
import {
  buildCallsMessage,
  callsSchema,
  clarificationOf,
  decideReadings,
  entryPointOf,
  isPlaceholderCode,
  parseCalls,
  requestExamples,
  requestPreamble,
} from "./readings.js";
import { canContinue, canFollowUp, canGenerate, canRegenerate, conversationTurns, isBusy, openQuestions } from "./rules.js";

/** An intent the session will not carry out in its current state (a forged or stale message, say). */
export class SessionRefusal extends Error {
  override name = "SessionRefusal";
}

/** The turn was stopped: it ends at once, whatever the model is still doing. */
class TurnStopped extends Error {
  override name = "TurnStopped";
}

/**
 * Resolves as soon as a turn the session was asked for is accepted (running), or rejects with its refusal.
 * Every turn method (`start`, `followUp`, `submitAnswers`, `regenerate`, `continueAnswer`, `editRequest`,
 * `correctAssumption`) makes all its checks before its first `await`, so a refused turn is already rejected when it
 * is returned; an accepted one is running. What the turn does later (it ends done, cancelled or failed) shows in the
 * session's state, not here.
 */
export function whenAccepted(turn: Promise<void>): Promise<void> {
  return Promise.race([turn, Promise.resolve()]);
}

interface ClarifySessionOptions {
  id?: string;
  now?: () => number;
  /**
   * Runs candidate code on concrete calls. Given one for the request's language, `auto` decides by readings
   * (readings.ts): candidates that disagree are asked about; otherwise the model's probability of asking decides.
   */
  runner?: CodeRunner;
}

/** How many candidate solutions the readings compare, and how the ones after the first are sampled. */
const readingCandidates = 3;
const readingTemperature = 0.8;
/** A candidate's length limit: a function, not an essay. */
const readingMaxTokens = 512;

/** Where a reply's first fenced block closes (just after its closing fence), if it does. */
function closedBlockEnd(text: string): number | undefined {
  const open = text.indexOf("```");
  if (open < 0) return undefined;
  const body = text.indexOf("\n", open);
  if (body < 0) return undefined;
  const close = /\n[ \t]*```/.exec(text.slice(body));
  return close ? body + close.index + close[0].length : undefined;
}

/** How many calls the model is asked for beyond the request's own examples. */
const readingCalls = 4;

/**
 * The current turn's readings as the session works with them: where their exchange sits in the history, the plain code
 * request the candidates answered, the candidates and their code, and the lines they run after. Made from what the turn
 * keeps (`readingsTurn`), live and in a reopened conversation alike; what each question is about is the turn's own.
 */
interface ReadingsTurn {
  at: number;
  message: string;
  candidates: ReadingCandidate[];
  codes: string[];
  preamble: string;
}

function readingsTurn(readings: TurnReadings, request: string, at: number): ReadingsTurn {
  const candidates = readings.candidates ?? [];
  return {
    at,
    message: readings.message,
    candidates,
    codes: candidates.map((c) => extractCodeBlocks(c.text)[0]?.code ?? ""),
    preamble: requestPreamble(request),
  };
}

/** How a regenerated reply is sampled: the same settings at temperature 0 would write the same reply again. */
const regenerateTemperature = 0.7;

export class ClarifySession {
  private snap: SessionSnapshot;
  private conversation: ModelConversation | undefined;
  /** Guided style: the model's history, exchange by exchange, as it is (or must be made) in the model conversation. */
  private history: Exchange[] = [];
  /** The model conversation may hold something else than `history` (a turn was stopped or rewound): set it first. */
  private historyStale = false;
  /** Where the current turn's exchanges start in `history`. */
  private turnStart = 0;
  /** The current turn's code request, once it was made. */
  private codeRequest: CodeRequest | undefined;
  /** Questions whose answers the model has already seen in this conversation. */
  private readonly answersSent = new Set<string>();
  /** Native style: the raw text of the current turn up to where its answer starts. */
  private nativePrompt = "";
  private running: AbortController | undefined;
  /** A model call that a Stop left running (a long prompt being evaluated): the next call waits for it. */
  private inflight: Promise<unknown> = Promise.resolve();
  private readonly changeListeners = new Set<(snapshot: SessionSnapshot) => void>();
  private readonly chunkListeners = new Set<(text: string) => void>();
  private readonly now: () => number;
  private readonly runner: CodeRunner | undefined;
  /** The current turn was decided by readings (its candidates and questions), where it was. */
  private readings: ReadingsTurn | undefined;

  constructor(
    private readonly model: ClarifyModel,
    private settings: ClarifySettings,
    options: ClarifySessionOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.runner = options.runner;
    const t = this.now();
    this.snap = {
      id: options.id ?? globalThis.crypto.randomUUID(),
      state: "idle",
      request: "",
      context: {},
      questions: [],
      rounds: 0,
      assumptions: [],
      answer: "",
      codeBlocks: [],
      createdAt: t,
      updatedAt: t,
    };
  }

  /**
   * Picks up a saved conversation, to continue it. One that was busy when it was saved (a reload mid-turn) comes back
   * cancelled. The model's side of it is rebuilt from what was saved when the next turn needs it.
   */
  static restore(model: ClarifyModel, settings: ClarifySettings, saved: SessionSnapshot, options: ClarifySessionOptions = {}): ClarifySession {
    const session = new ClarifySession(model, settings, { ...options, id: saved.id });
    session.snap = structuredClone(saved);
    if (isBusy(saved.state)) session.snap.state = "cancelled";
    if (settings.style === "native" && session.snap.answerRequested === true) {
      session.nativePrompt = buildNativePrompt(session.nativeProblem(), session.snap.context) + nativeCodeAnswerPrefix;
    }
    if (settings.style === "guided") {
      const rebuilt = rebuildHistory(session.snap, settings);
      session.history = rebuilt.exchanges;
      session.turnStart = rebuilt.turnStart;
      session.codeRequest = rebuilt.codeRequest;
      for (const id of rebuilt.sentQuestionIds) session.answersSent.add(id);
      const readings = session.snap.readings;
      if (readings) session.readings = readingsTurn(readings, session.snap.request, rebuilt.turnStart);
    }
    return session;
  }

  get id(): string {
    return this.snap.id;
  }

  get state(): SessionState {
    return this.snap.state;
  }

  snapshot(): SessionSnapshot {
    return structuredClone(this.snap);
  }

  onChange(listener: (snapshot: SessionSnapshot) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Text as the code answer streams in (the snapshot's `answer` grows by exactly these pieces). */
  onChunk(listener: (text: string) => void): () => void {
    this.chunkListeners.add(listener);
    return () => this.chunkListeners.delete(listener);
  }

  /**
   * Settings for the turns to come: the user may change them between turns. The model style stays the conversation's
   * own (its history is in that style's format).
   */
  useSettings(settings: ClarifySettings): void {
    this.settings = { ...settings, style: this.settings.style };
  }

  /** Questions of any round that are neither answered nor waived. */
  openQuestions(): Question[] {
    return openQuestions(this.snap);
  }

  /** Whether code (or the next round) may be requested now: asking, and every question answered or waived. */
  canSubmitAnswers(): boolean {
    return canGenerate(this.snap);
  }

  // --------------------------------------------------------------------------------------------------------------
  // Turns.

  /** The first turn. */
  async start(request: string, context: EditorContext = {}): Promise<void> {
    if (this.snap.state !== "idle") throw new SessionRefusal("This conversation has already started.");
    if (request.trim() === "") throw new SessionRefusal("The request is empty.");
    this.snap.request = request;
    this.snap.context = structuredClone(context);
    await this.run("assessing", (signal) => this.assessTurn(signal));
  }

  /**
   * The next turn: a new request in the same conversation, once the current turn has finished (or is asking: its
   * open questions are left unanswered, and the new message is what the user said instead).
   */
  async followUp(request: string, context: EditorContext = {}): Promise<void> {
    this.refuseUnless(canFollowUp(this.snap.state), "This conversation has not started yet.");
    if (request.trim() === "") throw new SessionRefusal("The request is empty.");
    this.archiveTurn();
    this.snap.request = request;
    this.snap.context = structuredClone(context);
    await this.run("assessing", (signal) => this.assessTurn(signal));
  }

  /** A message from the composer: the first turn, or the next one. */
  send(request: string, context: EditorContext = {}): Promise<void> {
    return this.snap.state === "idle" ? this.start(request, context) : this.followUp(request, context);
  }

  answerQuestion(questionId: string, text: string): void {
    const q = this.questionToChange(questionId);
    if (text.trim() === "") throw new SessionRefusal("An answer cannot be empty; waive the question to leave it to the assistant.");
    q.answer = text.trim();
    delete q.waived;
    this.changed();
  }

  waiveQuestion(questionId: string): void {
    const q = this.questionToChange(questionId);
    q.waived = true;
    delete q.answer;
    this.changed();
  }

  /**
   * The user's "go on": every question is answered or waived. Asks the model again while rounds remain (it may ask
   * once more or proceed), else requests the code.
   */
  async submitAnswers(): Promise<void> {
    if (this.snap.state !== "asking") throw new SessionRefusal("There are no open questions to answer.");
    const open = this.openQuestions();
    if (open.length > 0) {
      throw new SessionRefusal(`Answer or waive every question first (${open.length} still open: "${open[0]?.text ?? ""}").`);
    }
    if (this.settings.style === "guided" && this.readings === undefined && this.snap.rounds < this.settings.maxRounds) {
      const answered = this.unsentAnswers();
      await this.run("assessing", async (signal) => {
        answered.forEach((q) => this.answersSent.add(q.id));
        return this.assessGuided(buildFollowUpAssessmentMessage(answered, this.settings.maxQuestions), undefined, this.settings.temperature, signal);
      });
      return;
    }
    await this.run("generating", (signal) => this.generate(signal, this.settings.temperature));
  }

  /**
   * Runs the current turn again. With an ask policy, from its start (its questions and assumptions are decided
   * afresh: "ask me first", or "don't ask"); without one, only its answer where the code was already asked for. The
   * reply is sampled anew, so it differs.
   */
  async regenerate(options: { askPolicy?: AskPolicy } = {}): Promise<void> {
    this.refuseUnless(canRegenerate(this.snap), "There is nothing to regenerate yet.");
    const code = this.codeRequest;
    if (options.askPolicy === undefined && this.snap.answerRequested === true && code !== undefined && this.settings.style === "guided") {
      this.rewindTo(code.at);
      this.clearAnswer();
      await this.run("generating", (signal) => this.writeCode(signal, code, regenerateTemperature));
      return;
    }
    this.restartTurn();
    const policy = options.askPolicy;
    await this.run("assessing", (signal) => this.assessTurn(signal, { ...(policy ? { policy } : {}), temperature: regenerateTemperature }));
  }

  /** Writes the rest of an answer that stopped early (Stop, or the length limit): the stopped text, then the rest. */
  async continueAnswer(): Promise<void> {
    this.refuseUnless(canContinue(this.snap), "There is no stopped answer to continue.");
    const code = this.codeRequest;
    if (this.settings.style === "guided" && code === undefined) throw new SessionRefusal("There is no stopped answer to continue.");
    delete this.snap.hitLimit;
    await this.run("generating", (signal) => (code && this.settings.style === "guided" ? this.continueGuided(signal, code) : this.continueNative(signal)));
  }

  /** Sends the current turn's request again with new text (the same editor context), as if it had been sent so. */
  async editRequest(text: string): Promise<void> {
    this.refuseUnless(canRegenerate(this.snap), "There is no request to edit yet.");
    if (text.trim() === "") throw new SessionRefusal("The request is empty.");
    this.restartTurn();
    this.snap.request = text;
    await this.run("assessing", (signal) => this.assessTurn(signal));
  }

  /** Corrects one of the assumptions the assistant stated, and requests the code again with it. */
  async correctAssumption(index: number, text: string): Promise<void> {
    if (!["done", "cancelled", "failed"].includes(this.snap.state)) {
      throw new SessionRefusal("Assumptions can be corrected once the answer is finished.");
    }
    if (!Number.isInteger(index) || index < 0 || index >= this.snap.assumptions.length) {
      throw new SessionRefusal(`There is no assumption number ${index + 1}.`);
    }
    if (text.trim() === "") throw new SessionRefusal("A corrected assumption cannot be empty.");
    this.snap.assumptions[index] = text.trim();
    const code = this.codeRequest;
    if (this.settings.style === "guided" && code !== undefined) {
      this.rewindTo(code.at);
      this.clearAnswer();
      // A turn the readings decided has one exchange, rewound here: its request says everything again, plainly.
      const corrected: CodeRequest = {
        ...code,
        message: this.snap.readings
          ? this.readingsCodeMessage(this.readingsAnswers().clarifications)
          : buildCodeRequestMessage({ newAnswers: code.answers, assumptions: this.snap.assumptions, corrected: true }),
      };
      this.useCodeRequest(corrected);
      await this.run("generating", (signal) => this.writeCode(signal, corrected, this.settings.temperature));
      return;
    }
    // Native, or no code request yet: a fresh model conversation, so the earlier answer does not colour the new one.
    this.clearAnswer();
    await this.run("generating", async (signal) => {
      await this.closeConversation();
      return this.generate(signal, this.settings.temperature);
    });
  }

  /** Stops the turn in progress at once; what was produced so far is kept. */
  cancel(): void {
    this.running?.abort();
  }

  async dispose(): Promise<void> {
    this.cancel();
    await this.closeConversation();
    this.changeListeners.clear();
    this.chunkListeners.clear();
  }

  // --------------------------------------------------------------------------------------------------------------
  // The current turn's fields.

  private refuseUnless(allowed: boolean, why: string): void {
    if (allowed) return;
    if (isBusy(this.snap.state) || this.running) throw new SessionRefusal("The assistant is busy; stop it first.");
    throw new SessionRefusal(why);
  }

  private questionToChange(questionId: string): Question {
    if (this.snap.state !== "asking") throw new SessionRefusal("There are no open questions to answer.");
    const q = this.snap.questions.find((x) => x.id === questionId);
    if (!q) throw new SessionRefusal(`There is no question "${questionId}" in this conversation.`);
    if (q.round !== this.snap.rounds) throw new SessionRefusal("That question belongs to an earlier round.");
    return q;
  }

  private unsentAnswers(): Question[] {
    return this.snap.questions.filter((q) => !this.answersSent.has(q.id));
  }

  /** Moves the current turn into the conversation's earlier turns and clears the way for the next one. */
  private archiveTurn(): void {
    const { id: _id, state, earlier, createdAt: _c, updatedAt: _u, ...turn } = this.snap;
    const ended: PastTurn["state"] = state === "done" || state === "failed" ? state : "cancelled";
    this.snap.earlier = [...(earlier ?? []), { ...structuredClone(turn), state: ended }];
    this.snap.context = {};
    delete this.snap.contextNote;
    this.turnStart = this.history.length;
    this.restartTurn();
  }

  /** Clears what the assistant did in the current turn (its request and context stay), and rewinds the model to it. */
  private restartTurn(): void {
    // The turn's questions go; a new one may reuse their ids, and its answers are new to the model.
    for (const q of this.snap.questions) this.answersSent.delete(q.id);
    this.snap.questions = [];
    this.snap.rounds = 0;
    this.snap.assumptions = [];
    delete this.snap.askProbability;
    delete this.snap.answerRequested;
    this.clearAnswer();
    this.rewindTo(this.turnStart);
    this.codeRequest = undefined;
    this.readings = undefined;
    delete this.snap.readings;
    delete this.snap.codeMessage;
  }

  private clearAnswer(): void {
    this.snap.answer = "";
    this.snap.codeBlocks = [];
    delete this.snap.hitLimit;
    delete this.snap.failure;
  }

  /**
   * The current turn's code request from now on. A turn the readings decided keeps its message (its one exchange is
   * this request and the answer), and lets its candidates go: nothing needs them once the code is asked for.
   */
  private useCodeRequest(request: CodeRequest): CodeRequest {
    this.codeRequest = request;
    const readings = this.snap.readings;
    if (readings) {
      readings.message = request.message;
      delete readings.candidates;
      return request;
    }
    // Saved where a reopened conversation could not make it again from the turn's answers and assumptions.
    if (request.message === guidedCodeRequest(request.answers, this.snap.assumptions)) delete this.snap.codeMessage;
    else this.snap.codeMessage = request.message;
    return request;
  }

  /** Forgets the model's history from exchange `index` on; the model conversation is brought in line before its next turn. */
  private rewindTo(index: number): void {
    if (index >= this.history.length) return;
    this.history.length = index;
    this.historyStale = true;
  }

  // --------------------------------------------------------------------------------------------------------------
  // Running a turn.

  /**
   * Runs one model turn in a busy state, turning cancellation and errors into states rather than exceptions.
   * Not async: a refusal throws to the caller synchronously (see `whenAccepted`).
   */
  private run(state: SessionState, turn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.running) throw new SessionRefusal("The assistant is busy; stop it first.");
    const controller = new AbortController();
    this.running = controller;
    this.snap.state = state;
    delete this.snap.failure;
    this.changed();
    return this.finish(controller, turn);
  }

  private async finish(controller: AbortController, turn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    try {
      await turn(controller.signal);
      if (controller.signal.aborted && isBusy(this.snap.state)) this.snap.state = "cancelled";
    } catch (error) {
      if (controller.signal.aborted) {
        this.snap.state = "cancelled";
      } else {
        this.snap.state = "failed";
        this.snap.failure = { message: error instanceof Error ? error.message : String(error) };
        // The model failed (its worker may have crashed): the next turn opens a fresh conversation and sets its history.
        if (!(error instanceof RequestTooLarge) && !(error instanceof SessionRefusal)) void this.closeConversation();
      }
    } finally {
      this.running = undefined;
      delete this.snap.reading;
      this.changed();
    }
  }

  /** The prompt's reading, as the model reports it: a new prompt (fewer tokens read than before) starts a new reading. */
  private readonly onReading = (p: ReadingProgress): void => {
    const r = this.snap.reading;
    const fresh = r === undefined || p.evaluated < r.evaluated || p.total !== r.total;
    this.snap.reading = { evaluated: p.evaluated, total: p.total, from: fresh ? p.evaluated : r.from };
    this.changed();
  };

  /**
   * Waits for a model call, or for Stop, whichever comes first: a Stop ends the turn at once, even while the model is
   * still evaluating a long prompt. The call is left to finish in the model; the next one waits for it there.
   */
  private track<T>(signal: AbortSignal, call: Promise<T>): Promise<T> {
    // Only the waiting is kept, not the results (which would otherwise chain every reply the session ever got).
    this.inflight = Promise.allSettled([this.inflight, call]).then(() => undefined);
    if (signal.aborted) return Promise.reject(new TurnStopped());
    return new Promise<T>((resolve, reject) => {
      const stop = (): void => reject(new TurnStopped());
      signal.addEventListener("abort", stop, { once: true });
      call.then(
        (value) => {
          signal.removeEventListener("abort", stop);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener("abort", stop);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /**
   * The model conversation, open (which loads the model) and holding `history`, once a call a Stop left running has
   * finished. Guided conversations are chats; native ones are raw text.
   */
  private ready(signal: AbortSignal): Promise<ModelConversation> {
    const previous = this.inflight;
    const guided = this.settings.style === "guided";
    const open = async (): Promise<ModelConversation> => {
      await previous;
      if (this.conversation?.lost) {
        void this.conversation.close().catch(() => undefined);
        this.conversation = undefined;
      }
      if (!this.conversation) {
        this.conversation = await this.model.openConversation(guided ? { mode: "chat", systemPrompt: guidedSystemPrompt } : { mode: "raw" });
        if (guided && this.history.length > 0) this.historyStale = true;
      }
      if (guided && this.historyStale) {
        await this.conversation.setHistory([...this.history]);
        this.historyStale = false;
      }
      return this.conversation;
    };
    return this.track(signal, open());
  }

  /** A turn's first step: fit the request into the model's context, then the assessment (ask, or proceed to code). */
  private async assessTurn(signal: AbortSignal, options: { policy?: AskPolicy; temperature?: number } = {}): Promise<void> {
    const temperature = options.temperature ?? this.settings.temperature;
    const policy = options.policy ?? this.settings.askPolicy;
    if (this.settings.style === "native") return this.assessNative(policy, temperature, signal);
    const language = this.readingsLanguage();
    const followUp = (this.snap.earlier?.length ?? 0) > 0;
    // Fitted first, as the message this turn sends: a request that cannot fit is refused before it takes any of the
    // model's sequences.
    if (policy === "auto" && language !== undefined) {
      await this.fitTurn(signal, buildPlainCodeMessage({ request: this.snap.request, context: {} }));
      return this.assessByReadings(language, temperature, signal);
    }
    await this.fitTurn(signal, buildAssessmentMessage(this.snap.request, {}, this.settings.maxQuestions, { followUp }));
    const message = buildAssessmentMessage(this.snap.request, this.snap.context, this.settings.maxQuestions, { followUp });
    const forced = policy === "always" ? "ask" : policy === "never" ? "proceed" : undefined;
    return this.assessGuided(message, forced, temperature, signal);
  }

  /**
   * Fits the turn into the model's context window with room for the answer: the request whole (a request that cannot
   * fit fails the turn with a clear message), the editor context with what is left, as `fitContext` chooses.
   */
  private async fitTurn(signal: AbortSignal, bare: string): Promise<void> {
    const countTokens = this.model.countTokens?.bind(this.model);
    if (!countTokens) return;
    const count = (text: string): Promise<number> => this.track(signal, countTokens(text));
    // Counting loads the model where it is not loaded yet; its context size is known after that.
    const requestTokens = await count(bare);
    const size = this.model.contextSize;
    if (size === undefined) return;
    const spoken = [guidedSystemPrompt, ...this.history.flatMap((e) => [e.user, e.model])].join("\n");
    const historyTokens = (await count(spoken)) + tokensPerMessage * (1 + 2 * this.history.length);
    const available = size - historyTokens - answerReserve(this.settings, size) - 2 * tokensPerMessage;
    if (requestTokens > available) {
      throw new RequestTooLarge(tooLargeMessage({ requestTokens, available, contextSize: size, historyTokens }));
    }
    // The context's heading in the message ("Editor context, for reference only ...") costs a few tokens of its own.
    const fitted = await fitContext(this.snap.context, available - requestTokens - 24, count);
    this.snap.context = fitted.context;
    if (fitted.note !== undefined) this.snap.contextNote = fitted.note;
    else delete this.snap.contextNote;
    this.changed();
  }

  private async assessGuided(message: string, forced: "ask" | "proceed" | undefined, temperature: number, signal: AbortSignal): Promise<void> {
    const conversation = await this.ready(signal);
    let decision: "ask" | "proceed" | "model" | undefined = forced;
    if (decision === undefined) {
      try {
        const p = await this.track(signal, conversation.probe(message, decisionPrefix, decisionOptions, { signal, onReading: this.onReading }));
        this.snap.askProbability = p.ask ?? 0;
        decision = this.snap.askProbability >= this.settings.askThreshold ? "ask" : "proceed";
      } catch (error) {
        if (signal.aborted) throw error;
        // Some chat templates cannot be probed: the model then chooses under a grammar that allows both replies.
        decision = "model";
      }
    }
    const grammar =
      decision === "ask" ? askSchema(this.settings.maxQuestions) : decision === "proceed" ? proceedSchema() : assessmentSchema(this.settings.maxQuestions);
    const result = await this.chat(conversation, message, { maxTokens: this.settings.maxAssessmentTokens, temperature, grammar, signal }, signal);
    const parsed = parseAssessment(result.text, { maxQuestions: this.settings.maxQuestions, lengths: assessmentLengths });
    if (!parsed.ok) return this.fail(result, parsed.error);
    await this.applyAssessment(parsed.value, signal);
  }

  /** The request's language where the runner runs it (a first turn's readings need code they can run), else undefined. */
  private readingsLanguage(): string | undefined {
    if (!this.runner) return undefined;
    const id = this.snap.context.languageId ?? this.earlierLanguage() ?? (/\bpython\b|\bdef\s+\w+\(/i.test(this.snap.request) ? "python" : undefined);
    if (id === undefined) return undefined;
    const fence = fenceOfLanguage(id);
    return this.runner.languages.includes(fence) ? fence : undefined;
  }

  /**
   * The readings decide (readings.ts): a few candidates, written from one plain code request, run on the request's
   * examples and a few calls the model picks. Where they agree the first fitting candidate is the answer at once;
   * where they disagree, the disagreement is the question.
   */
  private async assessByReadings(language: string, temperature: number, signal: AbortSignal): Promise<void> {
    const runner = this.runner;
    if (!runner) return;
    const at = this.history.length;
    const context = { ...this.snap.context, languageId: this.snap.context.languageId ?? language };
    const message = buildPlainCodeMessage({ request: this.snap.request, context });
    const prefix = codeResponsePrefix(context.languageId);
    const candidates: ReadingCandidate[] = [];
    for (let k = 0; k < readingCandidates; k++) {
      this.rewindTo(at);
      const conversation = await this.ready(signal);
      const t = k === 0 ? temperature : Math.max(temperature, readingTemperature);
      const result = await this.candidate(conversation, message, { temperature: t, seed: k + 1, prefix }, signal);
      candidates.push({ text: result.text, ...(result.stopReason === "maxTokens" ? { hitLimit: true } : {}) });
    }
    // Kept with the turn, so that a reopened conversation has its readings too.
    const readings: TurnReadings = { message, candidates, questions: [] };
    this.snap.readings = readings;
    const turn = readingsTurn(readings, this.snap.request, at);
    this.readings = turn;
    const first = candidates[0]?.text ?? "";
    const entry = entryPointOf(this.snap.request, turn.codes[0] ?? "");
    if (entry !== undefined) {
      const examples = requestExamples(this.snap.request, entry);
      const exampleCalls = examples.map((e) => e.call);
      const run = (calls: readonly string[]): Promise<CallOutcome[][]> =>
        this.track(signal, Promise.all(turn.codes.map((code) => runner.callAll({ code, preamble: turn.preamble, calls }))));
      const [expectedOutcomes, onExamples] = await Promise.all([
        this.track(signal, runner.callAll({ code: "", preamble: turn.preamble, calls: examples.map((e) => e.expected) })),
        run(exampleCalls),
      ]);
      const expected = expectedOutcomes.map((o) => (o.ok ? o.value : undefined));
      const decide = (calls: readonly string[], outcomes: readonly CallOutcome[][]) =>
        decideReadings({ calls, examples: examples.length, expected, outcomes, maxQuestions: this.settings.maxQuestions });
      let decision = decide(exampleCalls, onExamples);
      if (decision.by === "calls") {
        // The examples do not decide (there are none, or no candidate runs on them): the model names calls to try,
        // after the first candidate in the same conversation (its tokens are evaluated already).
        this.rewindTo(at);
        this.history.push({ user: message, model: first });
        this.historyStale = true;
        const conversation = await this.ready(signal);
        const callsReply = await this.chat(
          conversation,
          buildCallsMessage(entry, readingCalls),
          { maxTokens: this.settings.maxAssessmentTokens, temperature: 0, grammar: callsSchema(readingCalls), signal },
          signal,
        );
        const picked = [...new Set(parseCalls(callsReply.text, entry, readingCalls).filter((c) => !exampleCalls.includes(c)))];
        const onPicked = picked.length > 0 ? await run(picked) : [];
        decision = decide(
          [...exampleCalls, ...picked],
          onExamples.map((o, i) => [...o, ...(onPicked[i] ?? [])]),
        );
      }
      if (decision.decision === "ask") {
        this.rewindTo(at);
        this.history.push({ user: message, model: first });
        await this.applyAssessment({ decision: "ask", questions: decision.questions.map((q) => ({ text: q.text, suggestions: q.suggestions })) }, signal);
        // What each question asked is about, by its id (a question asked before in the conversation is not asked again).
        readings.questions = this.snap.questions.flatMap((q): QuestionTopic[] => {
          const about = q.round === this.snap.rounds ? decision.questions.find((d) => d.text === q.text) : undefined;
          return about ? [{ id: q.id, call: about.call, kind: about.kind, ...(about.chosen !== undefined ? { chosen: about.chosen } : {}) }] : [];
        });
        return;
      }
      return this.answerWithCandidate(turn, decision.candidate);
    }
    return this.answerWithCandidate(turn, 0);
  }

  /**
   * One candidate: the code request's reply up to the end of its first code block (what follows is prose the
   * readings do not need, and on a CPU every token counts).
   */
  private async candidate(
    conversation: ModelConversation,
    message: string,
    o: { temperature: number; seed: number; prefix: string },
    signal: AbortSignal,
  ): Promise<TurnResult> {
    const enough = new AbortController();
    const stop = (): void => enough.abort();
    signal.addEventListener("abort", stop, { once: true });
    let text = "";
    const onChunk = (piece: string): void => {
      text += piece;
      // The prefix is part of the reply (streamed first, where the runtime streams it).
      if (closedBlockEnd(text.startsWith(o.prefix) ? text : o.prefix + text) !== undefined) enough.abort();
    };
    try {
      const result = await this.chat(
        conversation,
        message,
        {
          maxTokens: Math.min(this.settings.maxCodeTokens, readingMaxTokens),
          temperature: o.temperature,
          seed: o.seed,
          responsePrefix: o.prefix,
          onChunk,
          signal: enough.signal,
        },
        signal,
      );
      if (signal.aborted) throw new TurnStopped();
      const full = result.text.startsWith(o.prefix) ? result.text : o.prefix + result.text;
      const end = closedBlockEnd(full);
      const kept = end === undefined ? full : full.slice(0, end);
      this.history[this.history.length - 1] = { user: message, model: kept };
      this.historyStale = true;
      return { ...result, text: kept, stopReason: end === undefined ? result.stopReason : "stopString" };
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }

  /** A candidate already written becomes the answer (the first one that is not a placeholder, from `preferred` on). */
  private answerWithCandidate(turn: ReadingsTurn, preferred: number): void {
    const order = [preferred, ...turn.codes.map((_, i) => i).filter((i) => i !== preferred)];
    const chosen = order.find((i) => !isPlaceholderCode(turn.codes[i] ?? "")) ?? preferred;
    const candidate = turn.candidates[chosen];
    const text = candidate?.text ?? "";
    this.rewindTo(turn.at);
    this.history.push({ user: turn.message, model: text });
    this.historyStale = true;
    this.useCodeRequest({ message: turn.message, at: turn.at, answers: [] });
    this.snap.answerRequested = true;
    this.snap.state = "generating";
    this.clearAnswer();
    this.changed();
    this.snap.answer = text;
    for (const listener of this.chunkListeners) listener(text);
    this.finishAnswer({ text, stopReason: candidate?.hitLimit === true ? "maxTokens" : "eogToken", evaluatedInputTokens: 0, outputTokens: 0 });
  }

  private readingTopic(question: Question): QuestionTopic | undefined {
    return this.snap.readings?.questions.find((t) => t.id === question.id);
  }

  /** The user's answers to the readings' questions, as the code request's clarifications, and those about a call. */
  private readingsAnswers(): { clarifications: string[]; concrete: { call: string; answer: string }[] } {
    const clarifications: string[] = [];
    const concrete: { call: string; answer: string }[] = [];
    for (const q of this.snap.questions) {
      if (q.round !== this.snap.rounds || q.waived === true || q.answer === undefined) continue;
      const about = this.readingTopic(q);
      clarifications.push(about ? clarificationOf(about, q.answer) : `${q.text} ${q.answer}`);
      if (about) concrete.push({ call: about.call, answer: q.answer });
    }
    return { clarifications, concrete };
  }

  /** The readings' code request: the request, the user's answers and the assumptions, in one plain message. */
  private readingsCodeMessage(clarifications: readonly string[]): string {
    const context = { ...this.snap.context, languageId: this.snap.context.languageId ?? "python" };
    return buildPlainCodeMessage({ request: this.snap.request, context, clarifications, assumptions: this.snap.assumptions });
  }

  /**
   * The code after the readings' questions: the request with the user's answers in one plain message. Questions left
   * to the assistant take the first candidate's result, stated; when nothing was answered that candidate stands.
   * Code that contradicts an answer that is a concrete value (run) gives way to a candidate that keeps every one.
   */
  private async generateFromReadings(turn: ReadingsTurn, signal: AbortSignal, temperature: number): Promise<void> {
    const asked = this.snap.questions.filter((q) => q.round === this.snap.rounds);
    const stated: string[] = [];
    for (const q of asked) {
      if (q.waived !== true) continue;
      const about = this.readingTopic(q);
      if (about?.chosen !== undefined) {
        q.assumed = about.chosen;
        stated.push(choiceAssumption(q, `\`${about.call}\` returns ${about.chosen}`));
      } else stated.push(waivedAssumption(q));
    }
    this.snap.assumptions = distinctTexts([...this.snap.assumptions, ...stated]);
    const { clarifications, concrete } = this.readingsAnswers();
    if (clarifications.length === 0) return this.answerWithCandidate(turn, 0);
    const message = this.readingsCodeMessage(clarifications);
    this.rewindTo(turn.at);
    const request = this.useCodeRequest({ message, at: turn.at, answers: asked.filter((q) => q.answer !== undefined) });
    asked.forEach((q) => this.answersSent.add(q.id));
    await this.writeCode(signal, request, temperature);
    if (this.snap.state !== "done" || !this.runner || concrete.length === 0) return;
    const runner = this.runner;
    // Answers that are values (a literal the runner can read) are checked against the new code, run.
    const values = await this.track(signal, runner.callAll({ code: "", preamble: turn.preamble, calls: concrete.map((c) => c.answer) }));
    const checks = concrete.flatMap((c, i) => {
      const v = values[i];
      return v?.ok ? [{ call: c.call, value: v.value }] : [];
    });
    const code = this.snap.codeBlocks[0]?.code ?? "";
    if (checks.length === 0 && !isPlaceholderCode(code)) return;
    const keeps = async (candidate: string): Promise<boolean> => {
      if (candidate.trim() === "" || isPlaceholderCode(candidate)) return false;
      const got = await this.track(signal, runner.callAll({ code: candidate, preamble: turn.preamble, calls: checks.map((c) => c.call) }));
      return checks.every((c, i) => {
        const o = got[i];
        return o?.ok === true && o.value === c.value;
      });
    };
    if (await keeps(code)) return;
    for (let i = 0; i < turn.codes.length; i++) {
      if (!(await keeps(turn.codes[i] ?? ""))) continue;
      const text = turn.candidates[i]?.text ?? "";
      this.history[this.history.length - 1] = { user: message, model: text };
      this.historyStale = true;
      this.snap.answer = text;
      this.snap.codeBlocks = extractCodeBlocks(text);
      return;
    }
  }

  /** One chat exchange, recorded in `history` once the model has it; a stopped or failed one leaves the model to be set again. */
  private async chat(
    conversation: ModelConversation,
    message: string,
    options: Parameters<ModelConversation["chat"]>[1],
    signal: AbortSignal,
  ): Promise<TurnResult> {
    try {
      const result = await this.track(signal, conversation.chat(message, { onReading: this.onReading, ...options }));
      this.history.push({ user: message, model: result.text });
      return result;
    } catch (error) {
      this.historyStale = true;
      throw error;
    }
  }

  private async assessNative(policy: AskPolicy, temperature: number, signal: AbortSignal): Promise<void> {
    // Each native turn is its own raw text (the model's training format is one problem, one reply).
    await this.closeConversation();
    const conversation = await this.ready(signal);
    const forcedPrefix = policy === "always" ? nativeQuestionsAnswerPrefix : policy === "never" ? nativeCodeAnswerPrefix : "";
    const prompt = buildNativePrompt(this.nativeProblem(), this.snap.context) + forcedPrefix;
    const result = await this.track(
      signal,
      conversation.complete(prompt, { maxTokens: this.settings.maxCodeTokens, temperature, onReading: this.onReading, signal }),
    );
    const reply = forcedPrefix + result.text;
    const classified = classifyNativeReply(reply);
    if (classified.kind === "code") {
      this.nativePrompt = prompt.slice(0, prompt.length - forcedPrefix.length) + nativeCodeAnswerPrefix;
      this.snap.answerRequested = true;
      this.snap.answer = reply.replace(nativeCodeAnswerPrefix, "").trim();
      this.snap.codeBlocks = extractCodeBlocks(this.snap.answer);
      if (this.snap.codeBlocks.length === 0) this.snap.codeBlocks = [{ language: "python", code: classified.code }];
      this.snap.hitLimit = result.stopReason === "maxTokens";
      this.snap.state = "done";
      return;
    }
    this.nativePrompt = prompt + result.text;
    if (classified.questions.length === 0) return this.fail(result, "The model's reply was neither code nor questions.");
    await this.applyAssessment({ decision: "ask", questions: classified.questions.map((text) => ({ text, suggestions: [] })) }, signal);
  }

  /** The native model's problem: the request, after the earlier turns' requests and answers where it follows them up. */
  private nativeProblem(): string {
    const earlier = this.snap.earlier ?? [];
    if (earlier.length === 0) return this.snap.request;
    const before = earlier.map((t) => `${t.request.trim()}${t.answer.trim() !== "" ? `\n\n${t.answer.trim()}` : ""}`).join("\n\n");
    return `${before}\n\nFollow-up: ${this.snap.request.trim()}`;
  }

  private async applyAssessment(assessment: Assessment, signal: AbortSignal): Promise<void> {
    if (assessment.decision === "ask") {
      // Never ask again what was asked (or answered) before, in this turn or an earlier one.
      const asked = new Set(conversationTurns(this.snap).flatMap((t) => t.questions.map((q) => comparisonKey(q.text))));
      const fresh = assessment.questions.filter((q) => distinctTexts([q.text], asked).length > 0);
      if (fresh.length > 0) {
        this.snap.rounds += 1;
        const round = this.snap.rounds;
        const turnPrefix = (this.snap.earlier?.length ?? 0) > 0 ? `t${(this.snap.earlier?.length ?? 0) + 1}` : "";
        fresh.slice(0, this.settings.maxQuestions).forEach((q, i) => {
          this.snap.questions.push({ id: `${turnPrefix}r${round}q${i + 1}`, round, text: q.text, suggestions: q.suggestions });
        });
        this.snap.state = "asking";
        return;
      }
      // Every question was one already asked: there is nothing new to ask, so the answers so far stand.
    } else {
      this.snap.assumptions = distinctTexts([...this.snap.assumptions, ...assessment.assumptions]);
    }
    this.snap.state = "generating";
    this.changed();
    await this.generate(signal, this.settings.temperature);
  }

  /** The code turn: the rule first (no open question), then the choices for waived questions, then the code. */
  private async generate(signal: AbortSignal, temperature: number): Promise<void> {
    const open = this.openQuestions();
    if (open.length > 0) throw new SessionRefusal("Code cannot be requested while a question is open.");
    this.snap.answerRequested = true;
    this.clearAnswer();
    if (this.settings.style === "native") return this.generateNative(signal, temperature);
    if (this.readings !== undefined) return this.generateFromReadings(this.readings, signal, temperature);
    const conversation = await this.ready(signal);
    await this.chooseForWaived(conversation, signal);
    const newAnswers = this.unsentAnswers();
    newAnswers.forEach((q) => this.answersSent.add(q.id));
    const request = this.useCodeRequest({ message: guidedCodeRequest(newAnswers, this.snap.assumptions), at: this.history.length, answers: newAnswers });
    return this.writeCode(signal, request, temperature);
  }

  /**
   * The questions the user left to the assistant come back as stated assumptions, as the form promises: the model
   * chooses an answer to each (under a grammar), and the code is written with those choices.
   */
  private async chooseForWaived(conversation: ModelConversation, signal: AbortSignal): Promise<void> {
    const waived = this.snap.questions.filter((q) => q.waived === true && q.assumed === undefined);
    if (waived.length === 0) return;
    const result = await this.chat(
      conversation,
      buildChoicesMessage(waived),
      { maxTokens: this.settings.maxAssessmentTokens, temperature: this.settings.temperature, grammar: choicesSchema(waived.length), signal },
      signal,
    );
    const choices = parseChoices(result.text, waived.length, assessmentLengths.suggestion);
    const stated = waived.map((q, i) => {
      const choice = choices.ok ? choices.value[i] : undefined;
      if (choice === undefined) return waivedAssumption(q);
      q.assumed = choice;
      return choiceAssumption(q, choice);
    });
    this.snap.assumptions = distinctTexts([...this.snap.assumptions, ...stated]);
    this.changed();
  }

  /**
   * Asks for the code and streams it in. A reply that is our own protocol (the assessment JSON again) is never taken
   * for code: the request is tried once more, plainly, and then the turn fails.
   */
  private async writeCode(signal: AbortSignal, request: CodeRequest, temperature: number): Promise<void> {
    const conversation = await this.ready(signal);
    let result = await this.streamAnswer(conversation, request, { temperature }, signal);
    if (isProtocolReply(this.snap.answer)) {
      this.rewindTo(request.at);
      this.clearAnswer();
      this.changed();
      const strict: CodeRequest = {
        ...request,
        message: buildCodeRequestMessage({ newAnswers: request.answers, assumptions: this.snap.assumptions, strict: true }),
      };
      this.useCodeRequest(strict);
      result = await this.streamAnswer(await this.ready(signal), strict, { temperature: Math.max(temperature, regenerateTemperature) }, signal);
      if (isProtocolReply(this.snap.answer)) {
        const raw = this.snap.answer;
        this.clearAnswer();
        return this.fail(
          { ...result, text: raw },
          "The model answered with its assessment (JSON) again instead of writing code. Try again, or choose another model.",
        );
      }
    }
    this.finishAnswer(result);
  }

  /** Continue: the same code request, the reply made to start with the stopped text; only the rest streams in. */
  private async continueGuided(signal: AbortSignal, request: CodeRequest): Promise<void> {
    this.rewindTo(request.at);
    const conversation = await this.ready(signal);
    const result = await this.streamAnswer(conversation, request, { temperature: this.settings.temperature, continueFrom: this.snap.answer }, signal);
    this.finishAnswer(result);
  }

  private async streamAnswer(
    conversation: ModelConversation,
    request: CodeRequest,
    options: { temperature: number; continueFrom?: string },
    signal: AbortSignal,
  ): Promise<TurnResult> {
    const stopped = options.continueFrom;
    // Opening the fence keeps the reply on code, even for a small model whose history is the JSON assessment.
    const responsePrefix = stopped ?? codeResponsePrefix(this.snap.context.languageId ?? this.earlierLanguage());
    // On Continue the stopped text is on screen already: the model streams it first, and it is skipped.
    let skip = stopped?.length ?? 0;
    // What could still be our own protocol (a small model's JSON assessment again) is held back until it cannot be:
    // such a reply is never shown as an answer, only retried (writeCode).
    let held = stopped === undefined ? "" : undefined;
    let protocolFound = false;
    const onChunk = (text: string): void => {
      if (signal.aborted) return;
      let piece = text;
      if (skip > 0) {
        const dropped = Math.min(skip, piece.length);
        skip -= dropped;
        piece = piece.slice(dropped);
      }
      if (held !== undefined) {
        held += piece;
        // Once it starts as the protocol it is held whole (the final text decides), without looking again.
        const start = protocolFound ? "protocol" : protocolReplyStart(held);
        if (start !== "no") {
          protocolFound = start === "protocol";
          return;
        }
        piece = held;
        held = undefined;
      }
      if (piece === "") return;
      this.snap.answer += piece;
      for (const listener of this.chunkListeners) listener(piece);
    };
    try {
      const result = await this.track(
        signal,
        conversation.chat(request.message, {
          maxTokens: this.settings.maxCodeTokens,
          temperature: options.temperature,
          responsePrefix,
          onChunk,
          onReading: this.onReading,
          signal,
        }),
      );
      this.history.push({ user: request.message, model: result.text });
      // The streamed pieces and the final text agree; the final text wins if a runtime trims or repairs anything.
      if (result.text !== "") this.snap.answer = result.text;
      // Its code blocks are read once the caller knows what the answer is (finishAnswer).
      return result;
    } catch (error) {
      // What was on screen when it stopped is what the model wrote: Continue goes on from there.
      if (signal.aborted) this.history.push({ user: request.message, model: this.snap.answer });
      this.historyStale = true;
      this.snap.codeBlocks = extractCodeBlocks(this.snap.answer);
      throw error;
    }
  }

  private finishAnswer(result: TurnResult): void {
    this.snap.codeBlocks = extractCodeBlocks(this.snap.answer);
    if (result.stopReason === "abort") return;
    if (this.snap.answer.trim() === "") return this.fail(result, "The model produced no answer.");
    if (result.stopReason === "maxTokens") this.snap.hitLimit = true;
    this.snap.state = "done";
  }

  /** The language of the turn before, for a follow-up sent without editor context ("now add tests"). */
  private earlierLanguage(): string | undefined {
    return [...(this.snap.earlier ?? [])].reverse().find((t) => t.context.languageId !== undefined)?.context.languageId;
  }

  private async generateNative(signal: AbortSignal, temperature: number): Promise<void> {
    const fresh = this.conversation === undefined;
    const conversation = await this.ready(signal);
    const waived = this.snap.questions.filter((q) => q.waived).map(waivedAssumption);
    const assumptions = [...this.snap.assumptions, ...waived.filter((a) => !this.snap.assumptions.includes(a))];
    const answered = this.snap.questions.filter((q) => q.round === this.snap.rounds);
    const prefix = fresh ? buildNativePrompt(this.nativeProblem(), this.snap.context) : "";
    const text = prefix + buildNativeCodeTurn(answered, assumptions) + nativeCodeAnswerPrefix;
    this.nativePrompt = (fresh ? "" : this.nativePrompt) + text;
    const result = await this.streamNative(conversation, text, temperature, signal);
    this.finishAnswer(result);
  }

  /** Native Continue: the turn's raw text and the stopped answer, in a fresh model conversation, continued. */
  private async continueNative(signal: AbortSignal): Promise<void> {
    await this.closeConversation();
    const conversation = await this.ready(signal);
    const stopped = this.snap.answer;
    const result = await this.streamNative(conversation, `${this.nativePrompt}\n${stopped}`, this.settings.temperature, signal);
    this.snap.answer = stopped + result.text;
    this.finishAnswer(result);
  }

  private async streamNative(conversation: ModelConversation, text: string, temperature: number, signal: AbortSignal): Promise<TurnResult> {
    const onChunk = (piece: string): void => {
      if (signal.aborted) return;
      this.snap.answer += piece;
      for (const listener of this.chunkListeners) listener(piece);
    };
    const before = this.snap.answer;
    const result = await this.track(
      signal,
      conversation.complete(text, { maxTokens: this.settings.maxCodeTokens, temperature, onChunk, onReading: this.onReading, signal }),
    );
    if (result.text !== "") this.snap.answer = before + result.text;
    return result;
  }

  private async closeConversation(): Promise<void> {
    const c = this.conversation;
    this.conversation = undefined;
    await c?.close().catch(() => undefined);
  }

  private fail(result: TurnResult, message: string): void {
    const limit = result.stopReason === "maxTokens" ? ` (it stopped at the limit of ${result.outputTokens} tokens)` : "";
    this.snap.state = "failed";
    this.snap.failure = { message: message + limit, raw: result.text };
  }

  private changed(): void {
    this.snap.updatedAt = this.now();
    const snapshot = this.snapshot();
    for (const listener of this.changeListeners) listener(snapshot);
  }
}
