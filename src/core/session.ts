/**
 * ClarifySession: one clarify-first conversation as a state machine.
 *
 *   idle -> assessing -> (asking -> [answers] -> assessing)* -> generating -> done
 *
 * with `cancelled` and `failed` reachable from every busy state. The session holds the truth; surfaces render its
 * snapshots and send intents. It refuses to request code while any question is open, whatever its caller says.
 */
import type { ClarifyModel, ModelConversation, TurnResult } from "./model.js";
import type { ClarifySettings, EditorContext, Question, SessionSnapshot, SessionState } from "./types.js";
import {
  askSchema,
  assessmentSchema,
  buildAssessmentMessage,
  buildCodeRequestMessage,
  buildFollowUpAssessmentMessage,
  buildNativeCodeTurn,
  buildNativePrompt,
  decisionOptions,
  decisionPrefix,
  guidedSystemPrompt,
  nativeCodeAnswerPrefix,
  nativeQuestionsAnswerPrefix,
  codeResponsePrefix,
  proceedSchema,
  waivedAssumption,
} from "./prompts.js";
import { classifyNativeReply, extractCodeBlocks, parseAssessment, type Assessment } from "./parse.js";
import { canGenerate, isBusy, openQuestions } from "./rules.js";

/** An intent the session will not carry out in its current state (a forged or stale message, say). */
export class SessionRefusal extends Error {
  override name = "SessionRefusal";
}

/**
 * Resolves as soon as a turn the session was asked for is accepted (running), or rejects with its refusal.
 * Every turn method (`start`, `submitAnswers`, `correctAssumption`) makes all its checks before its first `await`,
 * so a refused turn is already rejected when it is returned; an accepted one is running. What the turn does later
 * (it ends done, cancelled or failed) shows in the session's state, not here.
 */
export function whenAccepted(turn: Promise<void>): Promise<void> {
  return Promise.race([turn, Promise.resolve()]);
}

export interface ClarifySessionOptions {
  id?: string;
  now?: () => number;
}

export class ClarifySession {
  private snap: SessionSnapshot;
  private conversation: ModelConversation | undefined;
  /** Questions whose answers the model has already seen in this conversation. */
  private readonly answersSent = new Set<string>();
  private running: AbortController | undefined;
  private readonly changeListeners = new Set<(snapshot: SessionSnapshot) => void>();
  private readonly chunkListeners = new Set<(text: string) => void>();
  private readonly now: () => number;

  constructor(
    private readonly model: ClarifyModel,
    private readonly settings: ClarifySettings,
    options: ClarifySessionOptions = {},
  ) {
    this.now = options.now ?? Date.now;
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

  /** Picks up a saved conversation. One that was busy when it was saved (a reload mid-turn) comes back cancelled. */
  static restore(model: ClarifyModel, settings: ClarifySettings, saved: SessionSnapshot, options: ClarifySessionOptions = {}): ClarifySession {
    const session = new ClarifySession(model, settings, { ...options, id: saved.id });
    session.snap = structuredClone(saved);
    if (isBusy(saved.state)) session.snap.state = "cancelled";
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

  /** Questions of any round that are neither answered nor waived. */
  openQuestions(): Question[] {
    return openQuestions(this.snap);
  }

  /** Whether code (or the next round) may be requested now: asking, and every question answered or waived. */
  canSubmitAnswers(): boolean {
    return canGenerate(this.snap);
  }

  async start(request: string, context: EditorContext = {}): Promise<void> {
    if (this.snap.state !== "idle") throw new SessionRefusal("This conversation has already started.");
    if (request.trim() === "") throw new SessionRefusal("The request is empty.");
    this.snap.request = request;
    this.snap.context = structuredClone(context);
    await this.run("assessing", async (signal) => {
      this.conversation = await this.model.openConversation(
        this.settings.style === "native" ? { mode: "raw" } : { mode: "chat", systemPrompt: guidedSystemPrompt },
      );
      if (this.settings.style === "native") return this.assessNative(signal);
      const message = buildAssessmentMessage(request, context, this.settings.maxQuestions);
      const forced = this.settings.askPolicy === "always" ? "ask" : this.settings.askPolicy === "never" ? "proceed" : undefined;
      return this.assessGuided(message, forced, signal);
    });
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
    if (this.settings.style === "guided" && this.conversation && this.snap.rounds < this.settings.maxRounds) {
      const answered = this.unsentAnswers();
      await this.run("assessing", async (signal) => {
        answered.forEach((q) => this.answersSent.add(q.id));
        return this.assessGuided(buildFollowUpAssessmentMessage(answered, this.settings.maxQuestions), undefined, signal);
      });
      return;
    }
    await this.run("generating", (signal) => this.generate(signal));
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
    await this.run("generating", async (signal) => {
      // A fresh conversation, so the earlier answer does not colour the new one.
      await this.closeConversation();
      return this.generate(signal);
    });
  }

  /** Stops the turn in progress; what was produced so far is kept. */
  cancel(): void {
    this.running?.abort();
  }

  async dispose(): Promise<void> {
    this.cancel();
    await this.closeConversation();
    this.changeListeners.clear();
    this.chunkListeners.clear();
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
      }
    } finally {
      this.running = undefined;
      this.changed();
    }
  }

  private async assessGuided(message: string, forced: "ask" | "proceed" | undefined, signal: AbortSignal): Promise<void> {
    const conversation = this.requireConversation();
    let decision: "ask" | "proceed" | "model" | undefined = forced;
    if (decision === undefined) {
      try {
        const p = await conversation.probe(message, decisionPrefix, decisionOptions);
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
    const result = await conversation.chat(message, {
      maxTokens: this.settings.maxAssessmentTokens,
      temperature: this.settings.temperature,
      grammar,
      signal,
    });
    if (result.stopReason === "abort") return;
    const parsed = parseAssessment(result.text, { maxQuestions: this.settings.maxQuestions });
    if (!parsed.ok) return this.fail(result, parsed.error);
    await this.applyAssessment(parsed.value, signal);
  }

  private async assessNative(signal: AbortSignal): Promise<void> {
    const conversation = this.requireConversation();
    const forcedPrefix =
      this.settings.askPolicy === "always" ? nativeQuestionsAnswerPrefix : this.settings.askPolicy === "never" ? nativeCodeAnswerPrefix : "";
    const result = await conversation.complete(buildNativePrompt(this.snap.request, this.snap.context) + forcedPrefix, {
      maxTokens: this.settings.maxCodeTokens,
      temperature: this.settings.temperature,
      signal,
    });
    if (result.stopReason === "abort") return;
    const reply = forcedPrefix + result.text;
    const classified = classifyNativeReply(reply);
    if (classified.kind === "code") {
      this.snap.answer = reply.replace(nativeCodeAnswerPrefix, "").trim();
      this.snap.codeBlocks = extractCodeBlocks(this.snap.answer);
      if (this.snap.codeBlocks.length === 0) this.snap.codeBlocks = [{ language: "python", code: classified.code }];
      this.snap.state = "done";
      return;
    }
    if (classified.questions.length === 0) return this.fail(result, "The model's reply was neither code nor questions.");
    await this.applyAssessment({ decision: "ask", questions: classified.questions.map((text) => ({ text, suggestions: [] })) }, signal);
  }

  private async applyAssessment(assessment: Assessment, signal: AbortSignal): Promise<void> {
    if (assessment.decision === "ask") {
      this.snap.rounds += 1;
      const round = this.snap.rounds;
      assessment.questions.slice(0, this.settings.maxQuestions).forEach((q, i) => {
        this.snap.questions.push({ id: `r${round}q${i + 1}`, round, text: q.text, suggestions: q.suggestions });
      });
      this.snap.state = "asking";
      return;
    }
    this.snap.assumptions.push(...assessment.assumptions);
    this.snap.state = "generating";
    this.changed();
    await this.generate(signal);
  }

  private async generate(signal: AbortSignal): Promise<void> {
    const open = this.openQuestions();
    if (open.length > 0) throw new SessionRefusal("Code cannot be requested while a question is open.");
    const waived = this.snap.questions.filter((q) => q.waived).map(waivedAssumption);
    const assumptions = [...this.snap.assumptions, ...waived.filter((a) => !this.snap.assumptions.includes(a))];
    this.snap.answer = "";
    this.snap.codeBlocks = [];
    const onChunk = (text: string): void => {
      this.snap.answer += text;
      for (const listener of this.chunkListeners) listener(text);
    };
    let result: TurnResult;
    if (this.settings.style === "native") {
      const fresh = this.conversation === undefined;
      const conversation = fresh ? await this.openFresh("raw") : this.requireConversation();
      const prefix = fresh ? buildNativePrompt(this.snap.request, this.snap.context) : "";
      const answered = this.snap.questions.filter((q) => q.round === this.snap.rounds);
      const text = prefix + buildNativeCodeTurn(answered, assumptions) + nativeCodeAnswerPrefix;
      result = await conversation.complete(text, { maxTokens: this.settings.maxCodeTokens, temperature: this.settings.temperature, onChunk, signal });
    } else {
      const fresh = this.conversation === undefined;
      const conversation = fresh ? await this.openFresh("chat") : this.requireConversation();
      const newAnswers = fresh ? this.snap.questions : this.unsentAnswers();
      const message = buildCodeRequestMessage({
        ...(fresh ? { request: this.snap.request, context: this.snap.context } : {}),
        newAnswers,
        assumptions,
      });
      newAnswers.forEach((q) => this.answersSent.add(q.id));
      result = await conversation.chat(message, {
        maxTokens: this.settings.maxCodeTokens,
        temperature: this.settings.temperature,
        // Opening the fence keeps the reply on code, even for a small model whose history is the JSON assessment.
        responsePrefix: codeResponsePrefix(this.snap.context.languageId),
        onChunk,
        signal,
      });
    }
    // The streamed pieces and the final text agree; the final text wins if a runtime trims or repairs anything.
    if (result.text !== "" || this.snap.answer === "") this.snap.answer = result.text;
    this.snap.codeBlocks = extractCodeBlocks(this.snap.answer);
    if (result.stopReason === "abort") return;
    if (this.snap.answer.trim() === "") return this.fail(result, "The model produced no answer.");
    this.snap.state = "done";
  }

  private async openFresh(mode: "chat" | "raw"): Promise<ModelConversation> {
    this.conversation = await this.model.openConversation(mode === "chat" ? { mode, systemPrompt: guidedSystemPrompt } : { mode });
    this.answersSent.clear();
    return this.conversation;
  }

  private requireConversation(): ModelConversation {
    if (!this.conversation) throw new Error("The model conversation is not open.");
    return this.conversation;
  }

  private async closeConversation(): Promise<void> {
    const c = this.conversation;
    this.conversation = undefined;
    this.answersSent.clear();
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
