/**
 * What the engine needs from a model. The llm room implements it over the model worker; tests implement it with a
 * scripted model. Nothing here knows about node-llama-cpp.
 */

/** A JSON schema in the subset that grammar-constrained generation understands. */
export type JsonSchema = { readonly [key: string]: unknown };

export type StopReason = "eogToken" | "stopString" | "maxTokens" | "abort" | "other";

export interface TurnResult {
  text: string;
  stopReason: StopReason;
  /** Input tokens the model evaluated for this turn (its prompt part), as counted by the runtime's token meter. */
  evaluatedInputTokens: number;
  /** Tokens generated. */
  outputTokens: number;
}

/** How far the model has read a turn's prompt: tokens evaluated (what it held already included) of the prompt's total. */
export interface ReadingProgress {
  evaluated: number;
  total: number;
}

/** What a probe may be given besides its text: Stop, and the reading's progress. */
export interface ProbeOptions {
  signal?: AbortSignal;
  onReading?: (progress: ReadingProgress) => void;
}

export interface TurnOptions {
  maxTokens: number;
  temperature?: number;
  /** The sampling seed: with a temperature above 0, the same seed gives the same reply. */
  seed?: number;
  /** Constrain the reply to this JSON schema. */
  grammar?: JsonSchema;
  /** Text the reply is made to start with (it is part of the reply, and streamed first). */
  responsePrefix?: string;
  onChunk?: (text: string) => void;
  /** Told as the prompt is read, before the first word (where the model can say: a local model, a batch at a time). */
  onReading?: (progress: ReadingProgress) => void;
  signal?: AbortSignal;
}

/** One exchange of a chat: a user message and the model's reply to it. */
export interface Exchange {
  user: string;
  model: string;
}

/** One conversation's state inside the model: it keeps its evaluated tokens between turns. */
export interface ModelConversation {
  /**
   * Chat mode: the probabilities the model gives to each option as the next text after `prefix`, at the start of its
   * reply to `message` (the message is not added to the history). Normalised over the options given.
   */
  probe(message: string, prefix: string, options: readonly string[], turn?: ProbeOptions): Promise<Record<string, number>>;
  /** Chat mode: add a user message and generate the reply; both join the history. */
  chat(message: string, options: TurnOptions): Promise<TurnResult>;
  /** Raw mode (no chat template): append text to the transcript and generate its continuation. */
  complete(text: string, options: TurnOptions & { stopStrings?: string[] }): Promise<TurnResult>;
  /**
   * Chat mode: replaces the history after the system prompt with these exchanges (to rewind a turn, or to rebuild a
   * reopened conversation). The model keeps the evaluated tokens the new history starts with.
   */
  setHistory(exchanges: readonly Exchange[]): Promise<void>;
  close(): Promise<void>;
  /**
   * True once the model no longer holds this conversation (the model was unloaded while idle): the engine opens a new
   * one and gives it the history, instead of failing the next turn.
   */
  readonly lost?: boolean;
}

export interface OpenConversationOptions {
  /** chat uses the model's chat template; raw continues plain text (a fine-tuned model's training format). */
  mode: "chat" | "raw";
  systemPrompt?: string;
}

export interface ClarifyModel {
  openConversation(options: OpenConversationOptions): Promise<ModelConversation>;
  /**
   * The loaded model's context size in tokens, where it is known (after the first conversation opened): every
   * request is fitted into it with room for the answer.
   */
  readonly contextSize?: number | undefined;
  /** Counts the tokens of a text in the loaded model's vocabulary (with `contextSize`, for fitting requests). */
  countTokens?(text: string): Promise<number>;
}
