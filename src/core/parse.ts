/** Reading model replies: the guided assessment JSON, the native free-text reply, and code blocks in markdown. */
import MarkdownIt from "markdown-it";
import { z } from "zod";
import type { CodeBlock } from "./types.js";
import { nativeCodeAnswerPrefix, nativeQuestionsAnswerPrefix } from "./prompts.js";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const trimmed = z.string().transform((s) => s.trim());

const askReply = z.object({
  decision: z.literal("ask"),
  questions: z
    .array(z.object({ question: trimmed.pipe(z.string().min(1)), suggestions: z.array(trimmed).default([]) }))
    .min(1),
});
const proceedReply = z.object({ decision: z.literal("proceed"), assumptions: z.array(trimmed).default([]) });
const assessmentReply = z.discriminatedUnion("decision", [askReply, proceedReply]);

export type Assessment =
  | { decision: "ask"; questions: { text: string; suggestions: string[] }[] }
  | { decision: "proceed"; assumptions: string[] };

/** Parses a guided assessment. A reply cut off by the token limit or not matching the shape is an error, never a guess. */
export function parseAssessment(text: string, limits: { maxQuestions: number }): Parsed<Assessment> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    const cut = text.trim() === "" ? "the model replied with nothing" : "the reply is not complete JSON (cut off or garbled)";
    return { ok: false, error: `Could not read the model's assessment: ${cut}.` };
  }
  const result = assessmentReply.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
    return { ok: false, error: `The model's assessment has an unexpected shape${where}: ${issue?.message ?? "invalid"}.` };
  }
  const value = result.data;
  if (value.decision === "proceed") {
    return { ok: true, value: { decision: "proceed", assumptions: [...new Set(value.assumptions.filter((a) => a !== ""))] } };
  }
  // Small models repeat themselves: the same question twice is asked once.
  const seen = new Set<string>();
  const distinct = value.questions.filter((q) => {
    const key = q.question.toLowerCase().replace(/\s+/g, " ");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const questions = distinct.slice(0, Math.max(1, limits.maxQuestions)).map((q) => ({
    text: q.question,
    suggestions: [...new Set(q.suggestions.filter((s) => s !== ""))].slice(0, 4),
  }));
  return { ok: true, value: { decision: "ask", questions } };
}

export type NativeReply = { kind: "code"; code: string } | { kind: "questions"; questions: string[] };

/**
 * Classifies a native (fine-tuned) model's reply for the product: its training prefix says which way it went; a
 * reply that contains code is code (we never show code as questions); otherwise the questions are split out.
 */
export function classifyNativeReply(text: string): NativeReply {
  const body = text.trim();
  const blocks = extractCodeBlocks(body);
  if (body.startsWith(nativeCodeAnswerPrefix) || blocks.length > 0) {
    const code = blocks.map((b) => b.code).join("\n\n");
    return { kind: "code", code: code !== "" ? code : body.slice(nativeCodeAnswerPrefix.length).trim() };
  }
  return { kind: "questions", questions: splitQuestions(body) };
}

const listMarker = /^\s*(?:\d+[.)]|[-*•]|Q\d*[:.)])\s+/i;

/** Splits free text into questions: numbered or bulleted items first, else sentences that end with "?". */
export function splitQuestions(text: string): string[] {
  const body = text.replace(nativeQuestionsAnswerPrefix, "").trim();
  if (body === "") return [];
  const lines = body.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  const items: string[] = [];
  for (const line of lines) {
    if (listMarker.test(line)) items.push(line.replace(listMarker, "").trim());
    else if (items.length > 0 && !/[?.:]$/.test(items[items.length - 1] ?? "")) items[items.length - 1] += ` ${line}`;
  }
  if (items.length > 0) return items.filter((q) => q !== "");
  const sentences = body.match(/[^.?!\n]+\?/g) ?? [];
  const questions = sentences.map((s) => s.trim()).filter((s) => s.length > 1);
  return questions.length > 0 ? questions : [body];
}

const markdown = new MarkdownIt();

/** The fenced code blocks of a markdown text, in order, with their language. An unclosed fence (still streaming) counts. */
export function extractCodeBlocks(text: string): CodeBlock[] {
  return markdown
    .parse(text, {})
    .filter((t) => t.type === "fence")
    .map((t) => ({ language: t.info.trim().split(/\s+/)[0] ?? "", code: t.content.replace(/\n$/, "") }));
}
