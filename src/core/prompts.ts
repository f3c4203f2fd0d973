/** Prompt text for both model styles (the reply shapes and their grammars are in parse.ts). */
import type { EditorContext, Question } from "./types.js";
import { fenceOfLanguage } from "./languages.js";
import { assumedSentence, statedChoice } from "./rules.js";

export const guidedSystemPrompt =
  "You are ClarifyCoder, a careful coding assistant. Before writing code you decide whether the request is clear " +
  "enough. If an essential detail is ambiguous, missing or contradictory, ask short clarifying questions, each " +
  "with a few likely answers of a few words; never ask again what was already asked or answered. If it is clear " +
  "enough, state the assumptions you make and proceed. When asked for code, reply in markdown with the code in " +
  "fenced blocks tagged with their language.";

/** The longest question, suggestion and assumption a guided reply may hold (the grammar's caps; parsing trims at them). */
export interface AssessmentLengths {
  question: number;
  suggestion: number;
  assumption: number;
}

/** Generous enough that a real answer is rarely cut; one that is cut is ended cleanly (parse.ts `endCleanly`). */
export const assessmentLengths: AssessmentLengths = { question: 200, suggestion: 100, assumption: 200 };

/** The editor context holds code (a selection, or the code around the cursor), not only a file name or language. */
function hasCode(context: EditorContext): boolean {
  return (context.selection?.text.trim() ?? "") !== "" || (context.surroundingCode?.trim() ?? "") !== "";
}

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

/**
 * The message that opens a turn of a guided conversation: the request first, the editor context after it as
 * reference only (a request may have nothing to do with the open file), then the decision to make. A follow-up is
 * decided in the light of the conversation so far.
 */
export function buildAssessmentMessage(request: string, context: EditorContext, maxQuestions: number, options: { followUp?: boolean } = {}): string {
  const ctx = describeContext(context);
  const decide = options.followUp
    ? `Decide about this follow-up request, given the conversation so far: ask at most ${maxQuestions} clarifying question(s) about essential details it leaves open (never one that was already asked or answered), or proceed with stated assumptions. Reply in JSON.`
    : `Decide about the request (not the editor context): ask at most ${maxQuestions} clarifying question(s) about essential missing details, or proceed with stated assumptions. Reply in JSON.`;
  return [
    `${options.followUp ? "Follow-up request" : "Request"}: ${request.trim()}`,
    ctx === "" ? "" : `Editor context, for reference only (it may have nothing to do with the request):\n${ctx}`,
    decide,
  ]
    .filter((p) => p !== "")
    .join("\n\n");
}

/**
 * The user's answers as the model reads them. A waived question says plainly that the choice is the model's (in words
 * it cannot mistake for an answer to copy), or the choice it already made; every text is one normalised line.
 */
export function formatAnswers(questions: readonly Question[]): string {
  const line = (text: string): string => text.replace(/\s+/g, " ").trim();
  const given = (q: Question): string => {
    if (!q.waived) return line(q.answer ?? "");
    const chosen = q.assumed !== undefined ? statedChoice(q.assumed) : undefined;
    return chosen !== undefined ? `you decided: ${chosen}` : "you decide (pick the answer yourself when you write the code)";
  };
  return questions.map((q, i) => `${i + 1}. ${line(q.text)}\n   Answer: ${given(q)}`).join("\n");
}

/** A later assessment round, in the same conversation: the answers so far, and the same decision again. */
export function buildFollowUpAssessmentMessage(answered: readonly Question[], maxQuestions: number): string {
  return [
    `My answers:\n${formatAnswers(answered)}`,
    `If something essential is still unclear, ask at most ${maxQuestions} more question(s), never one already asked or answered; otherwise proceed with stated assumptions. Reply in JSON.`,
  ].join("\n\n");
}

/** Turns a waived question into the assumption the code request states. */
export function waivedAssumption(question: Pick<Question, "text">): string {
  return `For "${question.text.replace(/\s+/g, " ").trim()}", the assistant chooses a sensible default and says which.`;
}

/**
 * The question the assistant was left to decide, with what it chose: an assumption the answer states, the choice
 * normalised (`statedChoice`); a choice that is none (our instruction echoed back) leaves it to the code.
 */
export function choiceAssumption(question: Pick<Question, "text">, choice: string): string {
  const sentence = assumedSentence(choice);
  if (sentence === undefined) return waivedAssumption(question);
  return `You left "${question.text.replace(/\s+/g, " ").trim()}" to me: ${sentence}`;
}

/** Asks the model to choose an answer to each question the user left to it, before it writes the code. */
export function buildChoicesMessage(questions: readonly Pick<Question, "text">[]): string {
  return [
    "You decide these: choose a sensible answer to each question, in order, and reply in JSON.",
    questions.map((q, i) => `${i + 1}. ${q.text.trim()}`).join("\n"),
  ].join("\n\n");
}

/** The choices as the model writes them (used to rebuild a reopened conversation's history). */
export function choicesReplyText(choices: readonly string[]): string {
  return JSON.stringify({ choices });
}

/**
 * The code request. The request and context are already in the conversation, so only what is new goes in: answers
 * not yet sent, and the assumptions (the answer states them). `strict` is the second try after a reply that was not
 * code; `corrected` says the assumptions replace those stated before.
 */
export function buildCodeRequestMessage(input: {
  newAnswers: readonly Question[];
  assumptions: readonly string[];
  strict?: boolean;
  corrected?: boolean;
}): string {
  const parts: string[] = [];
  if (input.newAnswers.length > 0) parts.push(`Answers to your questions:\n${formatAnswers(input.newAnswers)}`);
  if (input.assumptions.length > 0) {
    const title = input.corrected ? "Assumptions, as corrected by the user (they replace the ones stated before)" : "Assumptions";
    parts.push(`${title}:\n${input.assumptions.map((a) => `- ${a}`).join("\n")}`);
  }
  parts.push(
    input.assumptions.length > 0
      ? "Now write the code. Reply in markdown with fenced code blocks; state the assumptions briefly; keep explanations short."
      : "Now write the code. Reply in markdown with fenced code blocks; keep explanations short.",
  );
  if (input.strict) parts.push("Reply with the code itself in a fenced code block, not with JSON and not with a decision.");
  return parts.join("\n\n");
}

/** The start of a guided code reply: an open code fence, tagged with the editor's language where it is known. */
export function codeResponsePrefix(languageId: string | undefined): string {
  return "```" + (languageId ? `${fenceOfLanguage(languageId)}\n` : "");
}

/** An assessment as the model writes it (used to rebuild a reopened conversation's history). */
export function assessmentReplyText(
  assessment: { decision: "ask"; questions: readonly Pick<Question, "text" | "suggestions">[] } | { decision: "proceed"; assumptions: readonly string[] },
): string {
  return assessment.decision === "ask"
    ? JSON.stringify({ decision: "ask", questions: assessment.questions.map((q) => ({ question: q.text, suggestions: q.suggestions })) })
    : JSON.stringify({ decision: "proceed", assumptions: assessment.assumptions });
}

/** Where the decision is read: the reply's first characters, before "ask" or "proceed". */
export const decisionPrefix = '{"decision": "';
export const decisionOptions = ["ask", "proceed"] as const;

// ClarifyCoder's training format (their "v4" tokenization): a fine-tuned model expects these exact strings.
export const nativeQuestionPrompt =
  "You are an expert software developer who writes high quality code. With below information, please either generate Python3 code (Respond directly with code only with markdown), or ask clarifying questions:\n";
export const nativeCodeAnswerPrefix = "This is a clear problem requiring no clarifications. Let's generate the required Python3 code directly in markdown.";
export const nativeQuestionsAnswerPrefix = "I have a few clarifying questions. Please respond with the necessary details so I can assist further.";

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

/**
 * The code request as one plain message, shaped like the best prompt for the bare model (HumanEvalComm's code-only
 * one): the request whole, the editor context after it as reference, then what the user settled (answers that
 * override the request where they contradict it) and what the assistant assumed.
 *
 * Where the context holds code (the open file around the cursor, a selection), the request comes last instead, in
 * the closing instruction: after the request, a small model read a whole file as what to write and gave it back
 * unchanged. Qwen2.5-Coder-0.5B with a 20-line Python file open answered "write hello world in python", "write a
 * function that removes the duplicates" and "sort users by their score ..." with the file as it was; with the
 * request last it wrote `print("Hello, World!")`, and the other two as changes to the file's `main`.
 */
export function buildPlainCodeMessage(input: {
  request: string;
  context: EditorContext;
  clarifications?: readonly string[];
  assumptions?: readonly string[];
}): string {
  const ctx = describeContext(input.context);
  const language = input.context.languageId ? fenceOfLanguage(input.context.languageId) : undefined;
  const requestLast = hasCode(input.context);
  const parts = [
    `You are an expert software developer who writes high quality code. With below information, please generate ${language === "python" ? "Python3 " : ""}code (Respond directly with code only with markdown):`,
  ];
  if (!requestLast) parts.push(input.request.trim());
  if (ctx !== "") parts.push(`Editor context, for reference only (it may have nothing to do with the request):\n${ctx}`);
  if ((input.clarifications ?? []).length > 0) {
    parts.push(
      `The user's answers (they take precedence over anything above that contradicts them):\n${(input.clarifications ?? []).map((c) => `- ${c}`).join("\n")}`,
    );
  }
  if ((input.assumptions ?? []).length > 0) parts.push(`Assumptions:\n${(input.assumptions ?? []).map((a) => `- ${a}`).join("\n")}`);
  const settled = (input.clarifications ?? []).length > 0 || (input.assumptions ?? []).length > 0;
  parts.push(
    requestLast
      ? `Write the complete code for this request in one fenced block (use the editor context only where the request needs it${settled ? "; the answers and assumptions above hold" : ""}):\n${input.request.trim()}`
      : "Write the complete code in one fenced block.",
  );
  return parts.join("\n\n");
}
