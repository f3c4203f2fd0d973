/**
 * Reading a model's reply the way HumanEvalComm does. Two rules, because their code uses two:
 * - the protocol's branch (`response_2_code_if_no_text`): their pattern `^\s*```.*?\n([\s\S]+?)\n```\s*$` compiled
 *   with `re.M` and applied with `match`, so a reply that STARTS with a fenced block is code, even with prose after it,
 *   and the code is that first block; a reply that starts with anything else goes to the judge as questions;
 * - the code that is tested after the judge's answers (`response_2_code`): the first fenced block anywhere.
 */
import { splitQuestions, type NativeReply } from "../parse.js";

/**
 * HumanEvalComm's code-or-questions pattern. `m` gives `^`/`$` Python's `re.M` meaning (line starts and ends), and
 * `y` anchors it at the reply's start as Python's `re.match` does.
 */
const startsWithCodeBlock = /^\s*```.*?\n([\s\S]+?)\n```\s*$/my;

/** Classifies a first reply the way HumanEvalComm does: one that starts with a fenced block is code; else questions. */
export function classifyFirstReply(text: string): NativeReply {
  startsWithCodeBlock.lastIndex = 0;
  const match = startsWithCodeBlock.exec(text);
  if (match?.[1] !== undefined) return { kind: "code", code: match[1] };
  return { kind: "questions", questions: splitQuestions(text) };
}

const anyFencedBlock = /```.*\n([\s\S]+?)\n```/;

/** The first complete fenced block anywhere in the reply, or undefined when there is none. */
export function firstCodeBlock(text: string): string | undefined {
  return anyFencedBlock.exec(text)?.[1];
}
