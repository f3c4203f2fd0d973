/** The shared vocabulary of a clarify-first conversation: what the engine holds and what every surface renders. */

/** When to ask: the one list every surface (settings, CLI options, the webview protocol) reads. */
export const askPolicies = ["auto", "always", "never"] as const;
export type AskPolicy = (typeof askPolicies)[number];

/**
 * How `auto` decides whether to ask: by readings (a few candidates run in a sandbox; ask where they disagree, for the
 * languages the sandbox runs) or by the model's probability of asking against the threshold.
 */
export const decideMethods = ["readings", "probe"] as const;
export type DecideMethod = (typeof decideMethods)[number];

/** guided: any instruct model, assessment under a JSON-schema grammar. native: a clarify-aware fine-tuned model. */
export const modelStyles = ["guided", "native"] as const;
export type ModelStyle = (typeof modelStyles)[number];

export interface ClarifySettings {
  askPolicy: AskPolicy;
  /** At most this many questions in one round. */
  maxQuestions: number;
  /** At most this many rounds of questions before the code is requested. */
  maxRounds: number;
  /**
   * In `auto`, ask when the model's probability of "ask" (normalised against "proceed") is at least this.
   * Higher means fewer questions.
   */
  askThreshold: number;
  style: ModelStyle;
  /** Token limits for the two kinds of turn. */
  maxAssessmentTokens: number;
  maxCodeTokens: number;
  temperature: number;
}

export const defaultSettings: ClarifySettings = {
  askPolicy: "auto",
  maxQuestions: 3,
  maxRounds: 2,
  askThreshold: 0.5,
  style: "guided",
  maxAssessmentTokens: 512,
  maxCodeTokens: 1024,
  temperature: 0,
};

export interface SelectionContext {
  text: string;
  /** 1-based, inclusive: the lines the text covers (a selection that ends at column 1 of a line does not cover it). */
  startLine: number;
  endLine: number;
  /** 1-based: the line the cursor is on, where the selection is trimmed around when it does not fit the model. */
  cursorLine?: number;
}

/** What goes with the request from the editor. Every field is optional: a bare request is fine. */
export interface EditorContext {
  languageId?: string;
  fileName?: string;
  selection?: SelectionContext;
  /** A window of code around the cursor or selection. */
  surroundingCode?: string;
}

export interface Question {
  id: string;
  /** The round (1-based) that asked it. */
  round: number;
  text: string;
  /** Up to four short answers the user can pick with one click. */
  suggestions: string[];
  /** The user's answer, once given. */
  answer?: string;
  /** The user left it to the assistant ("you decide"). */
  waived?: boolean;
  /** For a waived question: what the assistant chose, stated as an assumption before it wrote the code. */
  assumed?: string;
}

export interface CodeBlock {
  /** The fence's language tag, or "" when it had none. */
  language: string;
  code: string;
}

export type SessionState = "idle" | "assessing" | "asking" | "generating" | "done" | "cancelled" | "failed";

interface SessionFailure {
  /** Plain words for the user. */
  message: string;
  /** The model's raw text, kept so nothing is lost. */
  raw?: string;
}

/** Why the readings ask about a call: the request's own example disagrees with them, or they disagree with each other. */
export const readingKinds = ["contradiction", "disagreement"] as const;
export type ReadingKind = (typeof readingKinds)[number];

/** What a question drawn from the readings is about: a concrete call, and what "you decide" takes for it. */
export interface ReadingTopic {
  /** The call (a Python expression) the question is about. */
  call: string;
  kind: ReadingKind;
  /** The value the first candidate gives for the call (what "you decide" chooses), where it ran. */
  chosen?: string;
}

/** A readings question's topic, in a saved turn: the question is the turn's question of that id. */
export interface QuestionTopic extends ReadingTopic {
  id: string;
}

/** A candidate solution the readings wrote: its reply as the model wrote it, and whether it stopped at the length limit. */
export interface ReadingCandidate {
  text: string;
  hitLimit?: boolean;
}

/**
 * A turn the readings decided (not the guided assessment): its model history is one exchange, a plain code request and
 * its reply, and its questions (one round) are answered from what is kept here, so a reopened conversation goes on as
 * the live one would.
 */
export interface TurnReadings {
  /**
   * The message of the turn's one exchange, as the model got it: the plain code request the candidates answered, and
   * once the code was asked for, the request that wrote the answer (with the user's answers and the assumptions).
   */
  message: string;
  /**
   * The candidates, the first written at temperature 0, while the code is not asked for yet: the first is the model's
   * reply to `message` then, a question left to the assistant is answered with one, and an answer the new code
   * contradicts brings back one that keeps it. Dropped once the code is asked for.
   */
  candidates?: ReadingCandidate[];
  /** What each of the turn's questions is about, by question id. */
  questions: QuestionTopic[];
}

/**
 * One turn of a conversation: a request and everything the assistant did with it (its rounds of questions, its
 * assumptions, the answer).
 */
export interface Turn {
  request: string;
  /** The editor context as it was sent (trimmed to fit the model's context; see `contextNote`). */
  context: EditorContext;
  /** What of the editor context was left out to fit the model, in words; absent when everything was sent. */
  contextNote?: string;
  /** Every question of every round, in order. */
  questions: Question[];
  /** Rounds of questions asked so far. */
  rounds: number;
  /** Stated when the assistant proceeds, and for each waived question. */
  assumptions: string[];
  /** The probability the model gave to "ask" at the last decision, where it was measured. */
  askProbability?: number;
  /** The code was asked for: every question was settled, or the assistant proceeded without asking. */
  answerRequested?: boolean;
  /** The code turn's reply as streamed so far (markdown). */
  answer: string;
  codeBlocks: CodeBlock[];
  /** The answer stopped at the length limit: Continue writes the rest. */
  hitLimit?: boolean;
  failure?: SessionFailure;
  /** Where the readings decided the turn: what its model history and its questions need (absent: a guided turn). */
  readings?: TurnReadings;
  /**
   * A guided turn's code request as the model got it, where it is not the one its answers and assumptions make
   * (the second, strict try after a reply that was not code; the request after the user corrected an assumption).
   */
  codeMessage?: string;
}

/** An earlier turn of the conversation, as it ended (an unanswered round that the user moved on from ends cancelled). */
export interface PastTurn extends Turn {
  state: "done" | "cancelled" | "failed";
}

/**
 * A serialisable picture of a conversation: the engine holds it, the surfaces render it, storage persists it. The
 * current turn's fields are at the top level (a conversation of one turn has no `earlier`); earlier turns are kept in
 * order in `earlier`.
 */
export interface SessionSnapshot extends Turn {
  id: string;
  /** The state of the conversation (of its current turn). */
  state: SessionState;
  /**
   * While a turn runs and before the model's first word: how far it has read the prompt (tokens evaluated of the
   * total, and how many it held already when this reading began), where the model says.
   */
  reading?: { evaluated: number; total: number; from: number };
  /** The turns before the current one, oldest first. */
  earlier?: PastTurn[];
  createdAt: number;
  updatedAt: number;
}
