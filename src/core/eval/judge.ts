/**
 * The judge: a model that sees the questions, the modified and the original description, grades the questions on
 * HumanEvalComm's scale and answers them as the user would. Two reply formats:
 * - `text`: HumanEvalComm's own, `QUALITY=<n>` and ANSWERS=```...```, read with the same patterns as their code;
 * - `json`: the same content under a JSON schema (a grammar for local models, `json_schema` for endpoints), plus the
 *   list of requirements the modification changed and whether the questions asked about each (key-question
 *   coverage). Small judges only produce a grade reliably under a grammar.
 */
import { z } from "zod";
import type { ClarifyModel, JsonSchema } from "../model.js";
import { grammarOf, heldTo } from "../grammar.js";
import { splitQuestions } from "../parse.js";

export type JudgeFormat = "json" | "text";
export type Quality = 1 | 2 | 3;

export interface JudgeInput {
  /** The questions: one per item (the engine's), or the model's whole reply (HumanEvalComm's round 1). */
  questions: readonly string[] | string;
  /** The description the model saw. */
  modified: string;
  original: string;
}

export interface Requirement {
  text: string;
  /** Whether the questions asked about it. */
  recovered: boolean;
}

export interface JudgeVerdict {
  /** 3 good (recover the modified requirements), 2 fair (cannot help recover them), 1 no questions. */
  quality?: Quality;
  /** Why there is no grade, when there is none (the reply was cut off, had no QUALITY, ...). */
  noGrade?: string;
  /** One answer per question where the judge gave them so; otherwise one block. An empty answer is "not said". */
  answers: string[];
  /** The changed requirements (json format only). */
  requirements?: Requirement[];
  /** Answers that only restated their question, emptied (see `echoesQuestion`). */
  echoed?: number;
}

/**
 * The good-question check: a 3 counts as good only when the judge backs it, with at least one answer that is not
 * empty and, where it was asked to list the changed requirements (json format), at least one of them asked about.
 * A 3 that is not backed counts as 2 (questions were asked, but nothing shows they recover what was changed).
 */
export function whyNotGood(v: Pick<JudgeVerdict, "quality" | "answers" | "requirements">): string | undefined {
  if (v.quality !== 3) return undefined;
  const reasons: string[] = [];
  if (v.requirements !== undefined && !v.requirements.some((r) => r.recovered)) {
    reasons.push(v.requirements.length === 0 ? "it named no requirement the modification changed" : "it said none of the changed requirements was asked about");
  }
  if (!v.answers.some((a) => a.trim() !== "")) reasons.push("every answer it gave is empty");
  return reasons.length === 0 ? undefined : `graded 3, but ${reasons.join(" and ")}: counted as 2`;
}

/** The grade that counts, after the good-question check. */
export function countedGrade(v: Pick<JudgeVerdict, "quality" | "answers" | "requirements">): Quality | undefined {
  return whyNotGood(v) === undefined ? v.quality : 2;
}

const gradeScale =
  "3 = good questions that would recover the requirements the modification changed; 2 = fair questions that cannot help recover them; 1 = no questions (for example the reply is code, or says nothing it needs to know)";

function questionsText(questions: JudgeInput["questions"]): string {
  if (typeof questions === "string") return questions.trim() === "" ? "(empty reply)" : questions.trim();
  return questions.length === 0 ? "(no questions)" : questions.map((q, i) => `${i + 1}. ${q.trim()}`).join("\n");
}

/** The judge's prompt. The answers must read as the user's, never revealing that an original description exists. */
export function buildJudgePrompt(input: JudgeInput, format: JudgeFormat): string {
  const perQuestion = typeof input.questions !== "string" && input.questions.length > 0;
  const steps = [
    "You review a coding assistant's clarifying questions. A coding problem's ORIGINAL description was rewritten into a MODIFIED description that is ambiguous, inconsistent or incomplete. The assistant saw only the modified description and replied with the QUESTIONS below.",
    format === "json"
      ? "First list the requirements that the modification removed, changed or made unclear (at most 5, each one short), and for each say whether the questions ask about it."
      : "",
    `Grade the questions: ${gradeScale}.`,
    `Then answer the questions as the person who wrote the original description would, from the original description only, so that the missing requirements are recovered. Never mention that an original or a modified description exists.${
      perQuestion ? " Give one answer per question, in order; leave an answer empty when the original description does not say." : ""
    } Each answer states the requirement itself (for example "the list is sorted in descending order"); never repeat or rephrase the question.`,
    format === "json" ? "Reply in JSON." : "Reply exactly in this form: QUALITY=<1, 2 or 3> and then ANSWERS=```<your answers>```.",
  ].filter((s) => s !== "");
  return [
    steps.join("\n"),
    `### QUESTIONS\n${questionsText(input.questions)}`,
    `### MODIFIED DESCRIPTION\n${input.modified.trim()}`,
    `### ORIGINAL DESCRIPTION\n${input.original.trim()}`,
  ].join("\n\n");
}

/** The json format's reply; `answers` has at most one entry per question (a cap for the grammar). */
const jsonReply = (maxAnswers: number) =>
  z.object({
    requirements: heldTo(z.array(z.object({ requirement: heldTo(z.string(), { minLength: 1, maxLength: 200 }), asked: z.boolean() })), { maxItems: 5 }).default(
      [],
    ),
    quality: z.literal([1, 2, 3]),
    answers: heldTo(z.array(heldTo(z.string(), { maxLength: 600 })), { maxItems: Math.max(1, maxAnswers) }).default([]),
  });

/** The json format's grammar. */
export const judgeSchema = (maxAnswers: number): JsonSchema => grammarOf(jsonReply(maxAnswers));

/** HumanEvalComm's patterns, as their evaluator reads the reply. */
const qualityPattern = /QUALITY\s*=?\s*(\d+)/;
const answersPattern = /ANSWERS\s*=?\s*```([\s\S]+?)```/;

/** Reads the judge's reply. Never throws: a reply without a usable grade says why in `noGrade`. */
export function parseJudgeReply(text: string, format: JudgeFormat, questionCount = 0): JudgeVerdict {
  if (format === "json") {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { answers: [], noGrade: text.trim() === "" ? "the judge replied with nothing" : "the reply is not complete JSON (cut off or garbled)" };
    }
    const parsed = jsonReply(questionCount).safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
      return { answers: [], noGrade: `the reply has an unexpected shape${where}` };
    }
    const v = parsed.data;
    return {
      quality: v.quality,
      answers: v.answers.map((a) => a.trim()),
      requirements: v.requirements.filter((r) => r.requirement.trim() !== "").map((r) => ({ text: r.requirement.trim(), recovered: r.asked })),
    };
  }
  const answerBlock = answersPattern.exec(text)?.[1]?.trim() ?? "";
  const answers = answerBlock === "" ? [] : splitAnswers(answerBlock, questionCount);
  const grade = qualityPattern.exec(text)?.[1];
  if (grade === undefined) return { answers, noGrade: "the reply has no QUALITY=<n>" };
  const n = Number(grade);
  if (n !== 1 && n !== 2 && n !== 3) return { answers, noGrade: `QUALITY=${grade} is not 1, 2 or 3` };
  return { quality: n, answers };
}

const normalised = (text: string): string =>
  text
    .toLowerCase()
    .replace(/^\s*(\d+[.)]|[-*])\s*/, "")
    .replace(/[^a-z0-9]+/g, " ")
    .trim();

/**
 * Whether an answer only restates its question (small judges often copy the questions into ANSWERS): the question
 * again, the question contained in it, or a question of its own. Such an answer tells the model nothing.
 */
export function echoesQuestion(answer: string, question: string): boolean {
  const a = normalised(answer);
  const q = normalised(question);
  if (a === "") return false;
  if (/\?\s*$/.test(answer.trim())) return true;
  return a === q || (q.length >= 12 && a.includes(q));
}

/** The verdict with each answer that only restates its question emptied ("not said"), and how many there were. */
export function withoutEchoes(verdict: JudgeVerdict, questions: JudgeInput["questions"]): JudgeVerdict {
  if (typeof questions === "string") return verdict;
  let echoed = 0;
  const answers = verdict.answers.map((a, i) => {
    const q = questions[i];
    if (q !== undefined && echoesQuestion(a, q)) {
      echoed += 1;
      return "";
    }
    return a;
  });
  return echoed === 0 ? verdict : { ...verdict, answers, echoed };
}

/** A text answer block: one answer per question when it is a list of exactly that many items, else one block. */
function splitAnswers(block: string, questionCount: number): string[] {
  if (questionCount > 1) {
    const items = splitQuestions(block);
    if (items.length === questionCount) return items;
  }
  return [block];
}

interface JudgeOptions {
  format: JudgeFormat;
  maxTokens: number;
  temperature: number;
  signal?: AbortSignal;
}

/**
 * Asks the judge model once, in a conversation of its own. The judge is reached through the same ClarifyModel as the
 * model under test (a GGUF in the worker or an OpenAI-compatible endpoint), so nothing here touches the network.
 */
export async function askJudge(model: ClarifyModel, input: JudgeInput, options: JudgeOptions): Promise<JudgeVerdict> {
  const count = typeof input.questions === "string" ? 0 : input.questions.length;
  const conversation = await model.openConversation({ mode: "chat", systemPrompt: "" });
  try {
    const result = await conversation.chat(buildJudgePrompt(input, options.format), {
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      ...(options.format === "json" ? { grammar: judgeSchema(count > 0 ? count : 5) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (result.stopReason === "abort") throw new Error("The judge was stopped.");
    const verdict = withoutEchoes(parseJudgeReply(result.text, options.format, count), input.questions);
    if (verdict.noGrade !== undefined && result.stopReason === "maxTokens") {
      verdict.noGrade += ` (it stopped at the limit of ${options.maxTokens} tokens)`;
    }
    return verdict;
  } finally {
    await conversation.close().catch(() => undefined);
  }
}
