/**
 * Reading a model's reply the way HumanEvalComm does. Two rules, because their code uses two:
 * - the protocol's branch: a reply is code only when it is entirely one fenced block, otherwise it goes to the judge
 *   as questions;
 * - the code that is tested, and the communication rate: the first fenced block anywhere in the reply.
 */
import { splitQuestions, type NativeReply } from "../parse.js";

/** HumanEvalComm's rule: a reply counts as code only when it is entirely one fenced code block. */
const wholeReplyIsCode = /^\s*```.*?\n([\s\S]+?)\n```\s*$/;

/** Classifies a reply the way HumanEvalComm does: exactly one fenced block is code; anything else is questions. */
export function classifyReplyStrict(text: string): NativeReply {
  const match = wholeReplyIsCode.exec(text);
  if (match?.[1] !== undefined) return { kind: "code", code: match[1] };
  return { kind: "questions", questions: splitQuestions(text) };
}

const anyFencedBlock = /```.*\n([\s\S]+?)\n```/;

/** The first complete fenced block anywhere in the reply, or undefined when there is none. */
export function firstCodeBlock(text: string): string | undefined {
  return anyFencedBlock.exec(text)?.[1];
}
