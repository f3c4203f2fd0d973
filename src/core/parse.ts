/** Reading model replies: the guided assessment JSON, the native free-text reply, and code blocks in markdown. */
import MarkdownIt from "markdown-it";
import { z } from "zod";
import type { CodeBlock } from "./types.js";
import type { JsonSchema } from "./model.js";
import { grammarOf, heldTo } from "./grammar.js";
import { assessmentLengths, nativeCodeAnswerPrefix, nativeQuestionsAnswerPrefix, type AssessmentLengths } from "./prompts.js";

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const trimmed = z.string().transform((s) => s.trim());

/** A text the grammar holds to between 1 and `cap` characters, read trimmed. */
const text = (cap: number): z.ZodType<string, string> => heldTo(trimmed, { minLength: 1, maxLength: cap });

/** The reply shape when the assistant asks: its questions (at most `maxQuestions`, at least one), each with suggested answers. */
function askReply(maxQuestions: number, lengths: AssessmentLengths = assessmentLengths) {
  const question = z.object({
    question: heldTo(trimmed.pipe(z.string().min(1)), { minLength: 1, maxLength: lengths.question }),
    suggestions: heldTo(z.array(text(lengths.suggestion)), { maxItems: 4 }).default([]),
  });
  return z.object({ decision: z.literal("ask"), questions: heldTo(z.array(question).min(1), { maxItems: Math.max(1, maxQuestions) }) });
}

/** The reply shape when the assistant proceeds: the assumptions it makes. */
function proceedReply(lengths: AssessmentLengths = assessmentLengths) {
  return z.object({ decision: z.literal("proceed"), assumptions: heldTo(z.array(text(lengths.assumption)), { maxItems: 5 }).default([]) });
}

const assessmentReply = (maxQuestions: number, lengths?: AssessmentLengths) =>
  z.discriminatedUnion("decision", [askReply(maxQuestions, lengths), proceedReply(lengths)]);

/** The grammar of a reply that asks. */
export const askSchema = (maxQuestions: number): JsonSchema => grammarOf(askReply(maxQuestions));
/** The grammar of a reply that proceeds. */
export const proceedSchema = (): JsonSchema => grammarOf(proceedReply());
/** Either reply, the model choosing: used where the probability of asking cannot be read. */
export const assessmentSchema = (maxQuestions: number): JsonSchema => grammarOf(assessmentReply(maxQuestions));

export type Assessment = { decision: "ask"; questions: { text: string; suggestions: string[] }[] } | { decision: "proceed"; assumptions: string[] };

const listMarker = /^\s*(?:\d+[.)]|[-*•]|Q\d*[:.)])\s+/i;

/** Text without a leading list marker ("1. ", "2) ", "- ", "Q3: "): small models number what they list. */
export function withoutListMarker(text: string): string {
  return text.replace(listMarker, "").trim();
}

/**
 * What two questions (or assumptions) are compared by: the words, without numbering, punctuation, case or spacing.
 * "1. The log line is in JSON format." and "2) the log line is in JSON format" are the same.
 */
export function comparisonKey(text: string): string {
  return withoutListMarker(text)
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/** Small words a sentence does not end on: a text cut after one of them is cut back further. */
const danglingWords = new Set(
  "a an the and or but nor of to in on at for with by from as that which who whom whose is are was were be been being it its this these those than then if so such into onto via per".split(
    " ",
  ),
);

/**
 * A text the grammar cut at its length cap ends cleanly: at its last sentence end when that keeps most of it, else at
 * a whole word (never on "the", "to", "is" ...) with an ellipsis. A text under the cap is returned as it is.
 */
export function endCleanly(text: string, cap: number): string {
  const value = text.trim();
  // Byte-level tokens make the grammar's cap inexact: a text within a few characters of it is taken as cut.
  if (value.length < cap - 3) return value;
  const sentenceEnd = Math.max(value.lastIndexOf(". "), value.lastIndexOf("? "), value.lastIndexOf("! "));
  if (sentenceEnd >= value.length / 2) return value.slice(0, sentenceEnd + 1);
  const words = value.split(/\s+/);
  words.pop(); // the last word may itself be cut
  while (words.length > 1 && danglingWords.has((words[words.length - 1] ?? "").toLowerCase().replace(/[^\p{L}]/gu, ""))) words.pop();
  const kept = words.join(" ").replace(/[\s,;:.\-–—(]+$/u, "");
  return kept === "" ? value : `${kept}…`;
}

/**
 * Texts the grammar cut at `cap` whose rest the model wrote as the next item (the rest of a sentence: in lower case,
 * ending it, as "Return the number" then "itself."; an option such as "ascending" stands alone), joined back into one, so that one suggestion is not shown as two chips. Each
 * text is then ended cleanly at the caps of its parts together.
 */
export function joinCutTexts(texts: readonly string[], cap: number): string[] {
  const joined: string[][] = [];
  for (const raw of texts) {
    const text = withoutListMarker(raw);
    const parts = joined[joined.length - 1];
    const cut = (parts?.[parts.length - 1]?.length ?? 0) >= cap - 3;
    if (parts && cut && /^\p{Ll}/u.test(text) && /[.!?]$/.test(text)) parts.push(text);
    else joined.push([text]);
  }
  return joined.map((parts) => endCleanly(parts.join(" "), cap * parts.length));
}

/** Keeps the first of each group of texts that compare equal (see `comparisonKey`), and drops empty ones. */
export function distinctTexts(texts: readonly string[], seen: Set<string> = new Set()): string[] {
  const kept: string[] = [];
  for (const text of texts) {
    const key = comparisonKey(text);
    if (key === "" || seen.has(key)) continue;
    seen.add(key);
    kept.push(text);
  }
  return kept;
}

/** Parses a guided assessment. A reply cut off by the token limit or not matching the shape is an error, never a guess. */
export function parseAssessment(text: string, limits: { maxQuestions: number; lengths?: AssessmentLengths }): Parsed<Assessment> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    const cut = text.trim() === "" ? "the model replied with nothing" : "the reply is not complete JSON (cut off or garbled)";
    return { ok: false, error: `Could not read the model's assessment: ${cut}.` };
  }
  const result = assessmentReply(limits.maxQuestions, limits.lengths).safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
    return { ok: false, error: `The model's assessment has an unexpected shape${where}: ${issue?.message ?? "invalid"}.` };
  }
  const value = result.data;
  const clean = (s: string, cap: number | undefined): string => (cap === undefined ? withoutListMarker(s) : endCleanly(withoutListMarker(s), cap));
  if (value.decision === "proceed") {
    const assumptions = value.assumptions.map((a) => clean(a, limits.lengths?.assumption));
    return { ok: true, value: { decision: "proceed", assumptions: distinctTexts(assumptions) } };
  }
  // Small models repeat themselves: the same question twice is asked once.
  const seen = new Set<string>();
  const distinct = value.questions
    .map((q) => ({ text: clean(q.question, limits.lengths?.question), suggestions: q.suggestions }))
    .filter((q) => distinctTexts([q.text], seen).length > 0);
  const questions = distinct.slice(0, Math.max(1, limits.maxQuestions)).map((q) => ({
    text: q.text,
    suggestions: distinctTexts(
      limits.lengths?.suggestion === undefined ? q.suggestions.map((s) => clean(s, undefined)) : joinCutTexts(q.suggestions, limits.lengths.suggestion),
    ).slice(0, 4),
  }));
  return { ok: true, value: { decision: "ask", questions } };
}

/** The choices: exactly one short answer per question left to the assistant. */
const choicesReply = (count: number) =>
  z.object({ choices: z.array(heldTo(trimmed.pipe(z.string().min(1)), { minLength: 1, maxLength: assessmentLengths.suggestion })).length(count) });

/** The grammar of the choices for `count` questions. */
export const choicesSchema = (count: number): JsonSchema => grammarOf(choicesReply(count));

/** Parses the model's choices for the questions left to it: exactly `count` of them, each ended cleanly at `cap`. */
export function parseChoices(text: string, count: number, cap: number): Parsed<string[]> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: "The model's choices are not complete JSON." };
  }
  const result = choicesReply(count).safeParse(json);
  if (!result.success) return { ok: false, error: `The model did not make one choice for each of the ${count} question(s) left to it.` };
  return { ok: true, value: result.data.choices.map((c) => endCleanly(withoutListMarker(c), cap)) };
}

const protocolStart = /^\s*\{\s*"decision"\s*:\s*"(?:ask|proceed)"/;

/**
 * Where a code reply still streaming in (the fence opened for it included) stands against our protocol, so that the
 * view waits before showing it: "protocol" once its text, after the fence and a stray `json` line, starts as
 * `{"decision": "ask"` or `{"decision": "proceed"` (it stays so as it grows); "maybe" while that text is empty or a
 * start of one of them; "no" otherwise. Usually the first piece of code settles it.
 */
export function protocolReplyStart(text: string): "protocol" | "maybe" | "no" {
  const body = text
    .replace(/^\s*```[^\n]*\n/, "")
    .replace(/^\s*json\s*\n/i, "")
    .trimStart();
  if (protocolStart.test(body)) return "protocol";
  const compact = body.replace(/\s+/g, "");
  return ['{"decision":"ask"', '{"decision":"proceed"'].some((start) => compact.length <= start.length && start.startsWith(compact)) ? "maybe" : "no";
}

/**
 * A code reply that is our own protocol instead of code: the assessment JSON again (`{"decision": "proceed", ...}`),
 * bare or in a code block of any language (the reply may start inside the fence we opened for it).
 */
export function isProtocolReply(text: string): boolean {
  // A model that meant to open a json fence inside the one opened for it writes "json" as the block's first line.
  const candidates = [text, ...extractCodeBlocks(text).map((b) => b.code)].map((c) => c.replace(/^\s*json\s*\n/i, ""));
  return candidates.some((candidate) => {
    if (!protocolStart.test(candidate)) return false;
    try {
      const value: unknown = JSON.parse(candidate);
      return (
        typeof value === "object" &&
        value !== null &&
        !Array.isArray(value) &&
        Object.keys(value).every((k) => ["decision", "questions", "assumptions"].includes(k))
      );
    } catch {
      // Cut off at the length limit, or followed by prose: the start alone says what it is.
      return true;
    }
  });
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

/** Splits free text into questions: numbered or bulleted items first, else sentences that end with "?". */
export function splitQuestions(text: string): string[] {
  const body = text.replace(nativeQuestionsAnswerPrefix, "").trim();
  if (body === "") return [];
  const lines = body
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const items: string[] = [];
  for (const line of lines) {
    if (listMarker.test(line)) items.push(withoutListMarker(line));
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
