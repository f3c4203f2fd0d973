/**
 * Quality filters for synthesised clarify data. A rewrite must differ enough from the task and must not give away
 * that it was rewritten; the questions must be questions (1 to 5, no answers, no code) that never mention an
 * original; and a rewrite already in the data set is a duplicate. Each rejection carries a reason code and a message.
 */
import { withoutListMarker } from "./parse.js";

export const rejectionReasons = {
  "cut-off": "the reply hit the token limit before it was complete",
  unreadable: "the reply is not the JSON asked for",
  unchanged: "the rewrite is the task unchanged",
  "too-similar": "the rewrite changes too little",
  "too-short": "the rewrite lost most of the task",
  "mentions-original": "it gives away that an original exists",
  "no-questions": "no questions",
  "too-many-questions": "more than the allowed number of questions",
  "not-a-question": "an item is not a question",
  "contains-answer": "a question comes with its answer",
  "contains-code": "a question contains code",
  duplicate: "the same rewrite is already in the data",
} as const;

export type RejectionReason = keyof typeof rejectionReasons;

export type Verdict = { ok: true } | { ok: false; reason: RejectionReason; message: string };

export interface FilterOptions {
  /** A rewrite must change at least this many words... */
  minChangedWords: number;
  /** ...and at least this share of the task's words. */
  minChangedShare: number;
  /** A rewrite must keep at least this share of the task's length in words. */
  minLengthShare: number;
  maxQuestions: number;
}

export const defaultFilterOptions: FilterOptions = { minChangedWords: 2, minChangedShare: 0.02, minLengthShare: 0.3, maxQuestions: 5 };

const reject = (reason: RejectionReason, detail?: string): Verdict => ({
  ok: false,
  reason,
  message: detail ? `${rejectionReasons[reason]}: ${detail}` : rejectionReasons[reason],
});

/** The words of a text, lower-cased (identifiers and numbers count as words; punctuation does not). */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
}

/** The word-level edit distance: how many words were inserted, deleted or replaced. */
export function wordEditDistance(a: readonly string[], b: readonly string[]): number {
  if (a.length < b.length) return wordEditDistance(b, a);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitute, (previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

// Phrases that give the game away. Each counts only where the task itself does not already use it (a task may well
// speak of "the original list").
const revealing: readonly RegExp[] = [
  /\boriginal(?:ly)?\b/gi,
  /\b(?:initial|unmodified|unchanged|earlier|previous|intended|first|second|modified|changed|rewritten|altered|new|updated)\s+(?:version|description|task|problem|statement|prompt|text|wording)\b/gi,
  /\b(?:has|have|was|were|been)\s+(?:modified|rewritten|altered)\b/gi,
];
// A rewrite that names its own kind ("(this task is ambiguous)") labels the data instead of being an example of it.
const labels = /\b(?:ambiguous|ambiguity|inconsistent|inconsistency|incomplete|clarif(?:y|ication))\b/gi;

const normalised = (phrase: string): string => phrase.toLowerCase().replace(/\s+/g, " ");

/** The first revealing phrase that `text` uses more often than the task does, if any. */
export function revealingPhrase(text: string, original: string, patterns: readonly RegExp[] = revealing): string | undefined {
  const inOriginal = new Map<string, number>();
  for (const pattern of patterns) {
    for (const match of original.match(pattern) ?? []) inOriginal.set(normalised(match), (inOriginal.get(normalised(match)) ?? 0) + 1);
  }
  const inText = new Map<string, number>();
  for (const pattern of patterns) {
    for (const match of text.match(pattern) ?? []) {
      const key = normalised(match);
      const n = (inText.get(key) ?? 0) + 1;
      inText.set(key, n);
      if (n > (inOriginal.get(key) ?? 0)) return match;
    }
  }
  return undefined;
}

/** Checks a rewritten task against its original. */
export function checkRewrite(original: string, modified: string, options: FilterOptions = defaultFilterOptions): Verdict {
  if (modified.trim() === original.trim()) return reject("unchanged");
  const before = wordsOf(original);
  const after = wordsOf(modified);
  if (after.length < Math.ceil(before.length * options.minLengthShare)) {
    return reject("too-short", `${after.length} words left of ${before.length}`);
  }
  const changed = wordEditDistance(before, after);
  const needed = Math.max(options.minChangedWords, Math.ceil(before.length * options.minChangedShare));
  if (changed < needed) return reject(changed === 0 ? "unchanged" : "too-similar", `${changed} of ${before.length} words changed, at least ${needed} needed`);
  const phrase = revealingPhrase(modified, original, [...revealing, labels]);
  if (phrase) return reject("mentions-original", `"${phrase}"`);
  return { ok: true };
}

/** Questions as written by the model, tidied: list markers and extra spaces gone, empty and repeated ones dropped. */
export function tidyQuestions(raw: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const item of raw) {
    const text = withoutListMarker(item);
    const key = duplicateKey(text);
    if (text === "" || seen.has(key)) continue;
    seen.add(key);
    out.push(text);
  }
  return out;
}

const codeLine = /^\s*(?:def |class |import |from \S+ import |return\b|print\(|for .+ in .+:|while .+:|if .+:\s*$|elif |else:|try:|except\b)|[;{]\s*$/m;
const answerStart = /^\s*(?:yes|no|answer|a:|it should|it must|assume|the answer)\b/i;

/** Checks one question: one or more sentences ending in "?", no answer after it, no code, nothing revealing. */
export function checkQuestion(question: string, original: string): Verdict {
  if (/```/.test(question) || codeLine.test(question)) return reject("contains-code", `"${question}"`);
  if (/\b(?:answer|a)\s*:/i.test(question)) return reject("contains-answer", `"${question}"`);
  const text = question.trim();
  if (!text.endsWith("?")) return reject("not-a-question", `"${text}"`);
  // "Should it be sorted? Yes. Which order?": a sentence after a question mark that answers it.
  const afterQuestions = text.split("?").slice(1, -1);
  if (afterQuestions.some((part) => answerStart.test(part))) return reject("contains-answer", `"${text}"`);
  const phrase = revealingPhrase(text, original);
  if (phrase) return reject("mentions-original", `"${phrase}" in "${text}"`);
  return { ok: true };
}

/** Checks the list of questions for a rewritten task (already tidied). */
export function checkQuestions(questions: readonly string[], original: string, options: FilterOptions = defaultFilterOptions): Verdict {
  if (questions.length === 0) return reject("no-questions");
  if (questions.length > options.maxQuestions) return reject("too-many-questions", `${questions.length}, at most ${options.maxQuestions}`);
  for (const question of questions) {
    const verdict = checkQuestion(question, original);
    if (!verdict.ok) return verdict;
  }
  return { ok: true };
}

/** The key under which two texts count as the same: case, spacing and punctuation ignored. */
export function duplicateKey(text: string): string {
  return wordsOf(text).join(" ");
}
