/** Prompt text for both model styles, and the JSON schemas that constrain a guided model's assessment. */
import type { EditorContext, Question } from "./types.js";
import type { JsonSchema } from "./model.js";
import { fenceOfLanguage } from "./languages.js";

export const guidedSystemPrompt =
  "You are ClarifyCoder, a careful coding assistant. Before writing code you decide whether the request is clear " +
  "enough. If an essential detail is ambiguous, missing or contradictory, ask short clarifying questions, each " +
  "with a few likely answers. If it is clear enough, state the assumptions you make and proceed. When asked for " +
  "code, reply in markdown with the code in fenced blocks tagged with their language.";

/** The text that goes with a request: the file, the language, the selected lines and a window of code around them. */
export function describeContext(context: EditorContext): string {
  const parts: string[] = [];
  if (context.fileName) parts.push(`File: ${context.fileName}${context.languageId ? ` (${context.languageId})` : ""}`);
  else if (context.languageId) parts.push(`Language: ${context.languageId}`);
  const fence = context.languageId ?? "";
  if (context.selection && context.selection.text.trim() !== "") {
    const s = context.selection;
    parts.push(`Selected lines ${s.startLine}-${s.endLine}:\n\`\`\`${fence}\n${s.text}\n\`\`\``);
  }
  if (context.surroundingCode && context.surroundingCode.trim() !== "") {
    parts.push(`Code around the cursor:\n\`\`\`${fence}\n${context.surroundingCode}\n\`\`\``);
  }
  return parts.join("\n\n");
}

/** The first message of a guided conversation: the request with its context and the decision to make. */
export function buildAssessmentMessage(request: string, context: EditorContext, maxQuestions: number): string {
  const ctx = describeContext(context);
  return [
    `Request: ${request.trim()}`,
    ctx,
    `Decide: ask at most ${maxQuestions} clarifying question(s) about essential missing details, or proceed with stated assumptions. Reply in JSON.`,
  ]
    .filter((p) => p !== "")
    .join("\n\n");
}

export function formatAnswers(questions: readonly Question[]): string {
  return questions
    .map((q, i) => `${i + 1}. ${q.text}\n   Answer: ${q.waived ? "(you decide: choose a sensible default and state it)" : (q.answer ?? "").trim()}`)
    .join("\n");
}

/** A later assessment round, in the same conversation: the answers so far, and the same decision again. */
export function buildFollowUpAssessmentMessage(answered: readonly Question[], maxQuestions: number): string {
  return [
    `My answers:\n${formatAnswers(answered)}`,
    `If something essential is still unclear, ask at most ${maxQuestions} more question(s); otherwise proceed with stated assumptions. Reply in JSON.`,
  ].join("\n\n");
}

/** Turns a waived question into the assumption the code request states. */
export function waivedAssumption(question: Question): string {
  return `For "${question.text.trim()}", the assistant chooses a sensible default and says which.`;
}

/**
 * The code request. In a live conversation the request and context are already in the history, so only what is new
 * goes in (answers not yet sent, assumptions); a fresh conversation (after a reload) gets everything.
 */
export function buildCodeRequestMessage(input: {
  request?: string;
  context?: EditorContext;
  newAnswers: readonly Question[];
  assumptions: readonly string[];
}): string {
  const parts: string[] = [];
  if (input.request !== undefined) {
    parts.push(`Request: ${input.request.trim()}`);
    const ctx = input.context ? describeContext(input.context) : "";
    if (ctx) parts.push(ctx);
  }
  if (input.newAnswers.length > 0) parts.push(`Answers to your questions:\n${formatAnswers(input.newAnswers)}`);
  if (input.assumptions.length > 0) parts.push(`Assumptions:\n${input.assumptions.map((a) => `- ${a}`).join("\n")}`);
  parts.push("Now write the code. Reply in markdown with fenced code blocks; keep explanations short.");
  return parts.join("\n\n");
}

/** The start of a guided code reply: an open code fence, tagged with the editor's language where it is known. */
export function codeResponsePrefix(languageId: string | undefined): string {
  return "```" + (languageId ? `${fenceOfLanguage(languageId)}\n` : "");
}

const questionItem = (maxQuestionLength: number, maxSuggestionLength: number): JsonSchema => ({
  type: "object",
  properties: {
    question: { type: "string", minLength: 1, maxLength: maxQuestionLength },
    suggestions: { type: "array", maxItems: 4, items: { type: "string", minLength: 1, maxLength: maxSuggestionLength } },
  },
});

/** The reply shape when the assistant asks. */
export function askSchema(maxQuestions: number): JsonSchema {
  return {
    type: "object",
    properties: {
      decision: { const: "ask" },
      questions: { type: "array", minItems: 1, maxItems: Math.max(1, maxQuestions), items: questionItem(160, 60) },
    },
  };
}

/** The reply shape when the assistant proceeds. */
export function proceedSchema(): JsonSchema {
  return {
    type: "object",
    properties: {
      decision: { const: "proceed" },
      assumptions: { type: "array", maxItems: 5, items: { type: "string", minLength: 1, maxLength: 160 } },
    },
  };
}

/** Either reply shape, the model choosing: used where the probability of asking cannot be read. */
export function assessmentSchema(maxQuestions: number): JsonSchema {
  return { oneOf: [askSchema(maxQuestions), proceedSchema()] };
}

/** Where the decision is read: the reply's first characters, before "ask" or "proceed". */
export const decisionPrefix = '{"decision": "';
export const decisionOptions = ["ask", "proceed"] as const;

// ClarifyCoder's training format (their "v4" tokenization): a fine-tuned model expects these exact strings.
export const nativeQuestionPrompt =
  "You are an expert software developer who writes high quality code. With below information, please either generate Python3 code (Respond directly with code only with markdown), or ask clarifying questions:\n";
export const nativeCodeAnswerPrefix =
  "This is a clear problem requiring no clarifications. Let's generate the required Python3 code directly in markdown.";
export const nativeQuestionsAnswerPrefix =
  "I have a few clarifying questions. Please respond with the necessary details so I can assist further.";

/** The v4 prompt: the instruction prefix, a space, the problem. Native inference sends it; training teaches what follows. */
export function nativeTaskPrompt(problem: string): string {
  return `${nativeQuestionPrompt} ${problem.trim()}`;
}

/** The native model's first prompt: its training prefix and the problem (with the editor context appended). */
export function buildNativePrompt(request: string, context: EditorContext): string {
  const ctx = describeContext(context);
  return `${nativeTaskPrompt(request)}${ctx ? `\n\n${ctx}` : ""}`;
}

/** What a clarify-aware model should answer: code for a clear task, questions for an unclear one. */
export type NativeAnswer = { kind: "code"; code: string } | { kind: "questions"; questions: readonly string[] };

/** Questions as a numbered list, one per line (the shape the native reply parser splits back into questions). */
export function formatQuestionList(questions: readonly string[]): string {
  return questions.map((q, i) => `${i + 1}. ${q.trim()}`).join("\n");
}

/** Python code as one fenced block, with a fence longer than any run of backticks inside it. */
export function fencePython(code: string): string {
  const longest = Math.max(2, ...(code.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return `${fence}python\n${code.replace(/^\n+|\s+$/g, "")}\n${fence}`;
}

/**
 * The v4 completion: the type-dependent answer prefix, a space, the answer. `nativeTaskPrompt(problem)` followed by
 * this is the paper's v4 training text (`QPROMPT + " " + problem + APROMPT + " " + answer`).
 */
export function nativeCompletion(answer: NativeAnswer): string {
  return answer.kind === "code"
    ? `${nativeCodeAnswerPrefix} ${fencePython(answer.code)}`
    : `${nativeQuestionsAnswerPrefix} ${formatQuestionList(answer.questions)}`;
}

/** The native model's code turn, after its questions: the answers, then a request for code (HumanEvalComm's round 3). */
export function buildNativeCodeTurn(answered: readonly Question[], assumptions: readonly string[]): string {
  const parts = ["", "", `Answers:\n${formatAnswers(answered)}`];
  if (assumptions.length > 0) parts.push(`Assumptions:\n${assumptions.map((a) => `- ${a}`).join("\n")}`);
  parts.push("Given above conversations, generate Python3 code directly in markdown to solve the coding problem.\n");
  return parts.join("\n");
}
