/** The shared vocabulary of a clarify-first conversation: what the engine holds and what every surface renders. */

export type AskPolicy = "auto" | "always" | "never";

/** guided: any instruct model, assessment under a JSON-schema grammar. native: a clarify-aware fine-tuned model. */
export type ModelStyle = "guided" | "native";

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
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
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
}

export interface CodeBlock {
  /** The fence's language tag, or "" when it had none. */
  language: string;
  code: string;
}

export type SessionState = "idle" | "assessing" | "asking" | "generating" | "done" | "cancelled" | "failed";

export interface SessionFailure {
  /** Plain words for the user. */
  message: string;
  /** The model's raw text, kept so nothing is lost. */
  raw?: string;
}

/** A serialisable picture of a conversation: the engine holds it, the surfaces render it, storage persists it. */
export interface SessionSnapshot {
  id: string;
  state: SessionState;
  request: string;
  context: EditorContext;
  /** Every question of every round, in order. */
  questions: Question[];
  /** Rounds of questions asked so far. */
  rounds: number;
  /** Stated when the assistant proceeds, and for each waived question. */
  assumptions: string[];
  /** The probability the model gave to "ask" at the last decision, where it was measured. */
  askProbability?: number;
  /** The code turn's reply as streamed so far (markdown). */
  answer: string;
  codeBlocks: CodeBlock[];
  failure?: SessionFailure;
  createdAt: number;
  updatedAt: number;
}
