/**
 * Deciding by readings (after ClarifyGPT, FSE 2024): the model writes a few candidate solutions to the request, they
 * run on concrete calls (the request's own examples and a few inputs the model picks), and the assistant asks only
 * where the readings disagree, with the disagreement itself as the question: a concrete call and the results the
 * readings give, as the suggested answers. Where they agree, the request was clear enough and the first candidate,
 * written as the bare model would write it, is the answer. Pure: the model and the runner are the caller's.
 */
import type { CallOutcome } from "./code-runner.js";
import { z } from "zod";
import { grammarOf, heldTo } from "./grammar.js";
import type { JsonSchema } from "./model.js";
import type { ReadingTopic } from "./types.js";

/** An example the request itself gives: a call and the value it should have (both Python expressions). */
interface RequestExample {
  call: string;
  expected: string;
}

/** A question drawn from the readings, with the call it is about and what each reading gives. */
export interface ReadingQuestion extends ReadingTopic {
  text: string;
  suggestions: string[];
}

/** A decision, and what made it: the request's examples, or (where they do not decide) the calls the model picked. */
type ReadingsDecision = ({ decision: "proceed"; candidate: number } | { decision: "ask"; questions: ReadingQuestion[] }) & {
  reason: string;
  by: "examples" | "calls";
};

/** The functions a piece of Python code defines at its top level, in order. */
export function definedFunctions(code: string): string[] {
  return [...code.matchAll(/^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(/gm)].map((m) => m[1] ?? "").filter((n) => n !== "");
}

/**
 * The function the request is about: the last function the request's own code defines (a stub to complete), else
 * the first the candidate defines that the request names, else the candidate's last one.
 */
export function entryPointOf(request: string, candidate: string): string | undefined {
  const inRequest = definedFunctions(request);
  const own = definedFunctions(candidate);
  const stub = inRequest.at(-1);
  if (stub !== undefined && own.includes(stub)) return stub;
  return own.find((n) => new RegExp(`\\b${n}\\b`).test(request)) ?? own.at(-1);
}

/** The lines a request's code imports with (`from typing import List`), put before a candidate when it runs. */
export function requestPreamble(request: string): string {
  const imports = request.split("\n").filter((l) => /^(?:from\s+\S+\s+import\s+.+|import\s+\S.*)$/.test(l.trim()) && !/^\s/.test(l));
  return ["from typing import *", ...imports].join("\n");
}

/** What joins a call to its value in a one-line example: `f(x) == y`, `f(x) ==> y`, `f(x) ➞ y`, `f(x) returns y`, `f(x) # => y`. */
const arrow = /^(?:#\s*)?(?:==>|=>|==|->|➞|→|=(?!=)|(?:returns?|should return|should be|gives?|is)\b)\s*(.+)$/;
/** Where an example's value is said after its arguments: `... the output should be y`, `... the result is y`, `... => y`. */
const resultSaid = /(?:^|\s|,)(?:the\s+)?(?:output|result)\s+(?:should\s+be|is|will\s+be)\s*:?\s*(.+)$|\s*(?:==>|=>|->|➞)\s*(.+)$/i;
/** A line that gives a value by itself: `Output: y`. */
const outputLine = /^output\s*:\s*(.+)$/i;

/**
 * Walks a text's characters outside Python string quotes, telling `visit` each one and its index; `visit` returns
 * false to stop there. Gives whether the text ends outside quotes.
 */
function outsideQuotes(text: string, visit: (c: string, i: number) => boolean): boolean {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? "";
    if (quote !== undefined) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (!visit(c, i)) return true;
  }
  return quote === undefined;
}

/** Whether a text has the balanced brackets and quotes of one Python expression (a cheap filter, not a parser). */
function balanced(text: string): boolean {
  let depth = 0;
  const closed = outsideQuotes(text, (c) => {
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    return depth >= 0;
  });
  return closed && depth === 0;
}

/** The call at the start of a text (`f(1, [2, 3])`), where the text starts with a call of `entry`. */
function leadingCall(text: string, entry: string): string | undefined {
  const start = text.indexOf(`${entry}(`);
  if (start < 0) return undefined;
  for (let end = text.indexOf(")", start); end >= 0; end = text.indexOf(")", end + 1)) {
    const call = text.slice(start, end + 1);
    if (balanced(call)) return call;
  }
  return undefined;
}

/** Every call of one of `names` in a text (`f(1, [2, 3])`), each once, in the order they appear. */
export function callsIn(text: string, names: readonly string[]): string[] {
  const found: { at: number; call: string }[] = [];
  for (const name of new Set(names)) {
    for (const m of text.matchAll(new RegExp(`(?<![\\w.])${name}\\(`, "g"))) {
      const call = leadingCall(text.slice(m.index), name);
      if (call !== undefined) found.push({ at: m.index, call });
    }
  }
  return [...new Set(found.sort((a, b) => a.at - b.at).map((f) => f.call))];
}

/** A text up to its first `#` outside quotes (a comment after an example's value), trimmed. */
function withoutComment(text: string): string {
  let end = text.length;
  outsideQuotes(text, (c, i) => (c === "#" ? ((end = i), false) : true));
  return text.slice(0, end).trim();
}

const spelled: Record<string, string> = { true: "True", false: "False", null: "None", none: "None" };

/** An example's value as written (`true` as Python spells it), or undefined where it is not one balanced expression. */
function valueOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const written = withoutComment(text)
    .replace(/[.,;]$/, "")
    .trim();
  // A worked value ends in what it comes to: `19 - 5 - 6 = 8` is 8.
  const value = /^[^"'=]*[^"'=<>!]\s=\s*([^=]+)$/.exec(written)?.[1]?.trim() ?? written;
  return value !== "" && balanced(value) ? (spelled[value] ?? value) : undefined;
}

/** Whether a call's arguments are literals only (`f(n)` or `f(abc)` is a formula or a word, not an example). */
function literalArguments(call: string, entry: string): boolean {
  const code = call.slice(entry.length).replace(/(["'])(?:\\.|(?!\1).)*\1/g, "''");
  return [...code.matchAll(/[A-Za-z_]\w*/g)].every((m) => /^(?:True|False|None|inf|nan)$/.test(m[0]) || /\d/.test(code[(m.index ?? 0) - 1] ?? ""));
}

/** The parameter names of `entry` where the request's code defines it (`def f(a, b: int = 1, *rest)` gives a, b, rest). */
export function parametersOf(request: string, entry: string): string[] {
  const m = new RegExp(`^[ \\t]*(?:async\\s+)?def\\s+${entry}\\s*\\(`, "m").exec(request);
  if (!m) return [];
  const names: string[] = [];
  let depth = 0;
  let part = "";
  for (const c of request.slice(m.index + m[0].length)) {
    if (depth === 0 && (c === "," || c === ")")) {
      const name = /^\**\s*([A-Za-z_]\w*)/.exec(part.trim())?.[1];
      if (name !== undefined && name !== "self") names.push(name);
      part = "";
      if (c === ")") break;
      continue;
    }
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    part += c;
  }
  return names;
}

/**
 * An example given by its arguments' names: `For lst = [1, 2] the output should be 3`, or `Input: arr = [1], k = 1`
 * with `Output: [1]` on the next line. Every parameter must be named; the call passes them in order.
 */
function namedExample(line: string, next: string | undefined, entry: string, parameters: readonly string[]): RequestExample | undefined {
  if (parameters.length === 0) return undefined;
  const at = parameters.map((p) => {
    const m = new RegExp(`(?<![\\w.])${p}\\s*=(?!=)\\s*`).exec(line);
    return m ? { name: p, start: m.index, value: m.index + m[0].length } : undefined;
  });
  if (at.some((a) => a === undefined)) return undefined;
  const placed = at.filter((a): a is NonNullable<typeof a> => a !== undefined).sort((a, b) => a.start - b.start);
  const values = new Map<string, string>();
  let said: string | undefined;
  for (const [k, a] of placed.entries()) {
    let text = line.slice(a.value, placed[k + 1]?.start ?? line.length);
    if (k === placed.length - 1) {
      const result = resultSaid.exec(text);
      if (result) {
        said = result[1] ?? result[2];
        text = text.slice(0, result.index);
      }
    }
    const value = valueOf(text.trim().replace(/,$/, ""));
    if (value === undefined) return undefined;
    values.set(a.name, value);
  }
  const expected = valueOf(said ?? outputLine.exec(next ?? "")?.[1]);
  if (expected === undefined) return undefined;
  return { call: `${entry}(${parameters.map((p) => values.get(p) ?? "").join(", ")})`, expected };
}

/**
 * The examples a request gives for `entry`: doctest lines (`>>> f(x)` and the value on the next line), one-line
 * forms such as `f(x) == y`, `f(x) ==> y`, `f(x) ➞ y`, `f(x) -> y`, `f(x) returns y`, `f(x) = y` (after `>>>` or
 * `assert` too), and examples by argument name (`For x = 1 the output should be 2`; `Input: x = 1` then `Output: 2`).
 */
export function requestExamples(request: string, entry: string): RequestExample[] {
  const lines = request.split("\n").map((l) => l.trim());
  const parameters = parametersOf(request, entry);
  const found: RequestExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const next = lines.slice(i + 1).find((l) => l !== "");
    // A definition's signature (`def f(x: int) -> int:`) is no example.
    if (/^(?:async\s+)?(?:def|class)\s/.test(raw) || raw.startsWith("#")) continue;
    const line = raw.replace(/^(?:>>>|assert\b)\s*/, "");
    const call = leadingCall(line, entry);
    if (call === undefined) {
      const named = namedExample(line, next, entry, parameters);
      if (named) found.push(named);
      continue;
    }
    const rest = line.slice(line.indexOf(call) + call.length).trim();
    if (raw.startsWith(">>>") && rest === "") {
      // A doctest: the value is the next line.
      const value = lines[i + 1] ?? "";
      if (value !== "" && !value.startsWith(">>>") && balanced(value)) found.push({ call, expected: spelled[value] ?? value });
      continue;
    }
    const expected = valueOf(arrow.exec(rest)?.[1]);
    if (expected !== undefined) found.push({ call, expected });
  }
  const seen = new Set<string>();
  return found.filter((e) => literalArguments(e.call, entry) && (seen.has(e.call) ? false : (seen.add(e.call), true))).slice(0, 8);
}

/** The message that asks the model for calls to try the function on. */
export function buildCallsMessage(entry: string, count: number): string {
  return (
    `Give ${count} different calls of \`${entry}\` with concrete Python literal arguments that test what the request leaves open: ` +
    "edge cases (empty or single inputs, ties, negatives, boundaries) where two readings of the request would return different results. " +
    `Each call is one Python expression starting with ${entry}(. Reply in JSON.`
  );
}

/** The reply with the calls: at least one, at most `count`, each a short expression. */
const callsReply = (count: number) => z.object({ calls: heldTo(z.array(heldTo(z.string(), { minLength: 3, maxLength: 120 })).min(1), { maxItems: count }) });

/** The grammar of the calls reply. */
export const callsSchema = (count: number): JsonSchema => grammarOf(callsReply(count));

/** The model's calls, kept where each is one balanced call of `entry` and nothing else. */
export function parseCalls(text: string, entry: string, count: number): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const read = callsReply(count).safeParse(value);
  if (!read.success) return [];
  return read.data.calls.map((c) => c.trim()).filter((c) => leadingCall(c, entry) === c);
}

/** Code that is only a placeholder (the stub again, `pass`, `...`, "your implementation here") is no answer. */
export function isPlaceholderCode(code: string): boolean {
  if (/your (?:implementation|code) here|implement (?:this|me)|TODO: implement/i.test(code)) return true;
  const body = code
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#") && !/^(?:from|import)\s/.test(l) && !/^(?:async\s+)?def\s/.test(l) && !/^@/.test(l));
  const statements = body.filter((l) => !/^("""|''')/.test(l) && !/("""|''')$/.test(l));
  // A docstring alone, or `pass` / `...` / `raise NotImplementedError`.
  return statements.every((l) => /^(?:pass|\.\.\.|raise NotImplementedError(?:\(.*\))?)$/.test(l)) || statements.length === 0;
}

const shown = (value: string): string => (value.length > 60 ? `${value.slice(0, 57)}...` : value);
/** A call in a question is shown whole up to a long limit: a question about a call the user cannot read is no question. */
const shownCall = (call: string): string => (call.length > 240 ? `${call.slice(0, 237)}...` : call);

/** Outcomes of one candidate on the calls, by call. */
type CandidateOutcomes = readonly CallOutcome[];

/**
 * The decision. `outcomes[i][j]` is candidate i on call j; the first `examples.length` calls are the request's
 * examples, whose expected values (as the runner showed them) are `expected`. Candidate 0 is the one written at
 * temperature 0, as the bare model would.
 *
 * - With examples, they are the request's own tests: the candidate that gives the most of them their values is the
 *   best. Where it gives at least half of them their values, the request is read as the examples say and it is the
 *   answer (a small model's samples disagree on inputs nobody asked about far more often than the request is unclear).
 * - Where even the best gives fewer than half, the examples contradict the description as the model reads it: each
 *   example it gets wrong (up to `maxQuestions`) is asked about, the example's value against the description's.
 * - Without examples (or where no candidate runs on them), candidates that disagree on a call are asked about.
 *
 * Tuned on the benchmark's seed-0 sample (README, "How the engine decides"); the held-out samples report it.
 */
export function decideReadings(input: {
  calls: readonly string[];
  examples: number;
  expected: readonly (string | undefined)[];
  outcomes: readonly CandidateOutcomes[];
  maxQuestions: number;
}): ReadingsDecision {
  const { calls, examples, expected, outcomes } = input;
  const valueOf = (i: number, j: number): string | undefined => {
    const o = outcomes[i]?.[j];
    return o?.ok ? o.value : undefined;
  };
  const checkable = Array.from({ length: examples }, (_, j) => j).filter((j) => expected[j] !== undefined);
  const scores = outcomes.map((_, i) => checkable.filter((j) => valueOf(i, j) === expected[j]).length);
  const top = Math.max(0, ...scores);
  const best = Math.max(0, scores.indexOf(top));
  if (checkable.length > 0 && 2 * top >= checkable.length) {
    return {
      decision: "proceed",
      candidate: best,
      by: "examples",
      reason: `candidate ${best} gives ${top} of the request's ${checkable.length} example(s) their values`,
    };
  }
  const questions: ReadingQuestion[] = [];
  if (checkable.length > 0) {
    for (const j of checkable) {
      const got = valueOf(best, j);
      if (got === undefined || got === expected[j] || questions.length >= input.maxQuestions) continue;
      const call = calls[j] ?? "";
      const said = expected[j] ?? "";
      questions.push({
        kind: "contradiction",
        call,
        chosen: got,
        text: `The example says \`${shownCall(call)}\` returns \`${shown(said)}\`, but the description, as I read it, gives \`${shown(got)}\`. Which is right?`,
        suggestions: [shown(said), shown(got)],
      });
    }
    if (questions.length > 0) {
      return {
        decision: "ask",
        questions,
        by: "examples",
        reason: `the best candidate gives only ${top} of the request's ${checkable.length} example(s) their values (${questions[0]?.call ?? ""}: ${expected[checkable[0] ?? 0] ?? ""} expected)`,
      };
    }
  }
  const reason = checkable.length > 0 ? "no candidate runs on the request's examples" : "no examples to check";
  for (let j = examples; j < calls.length && questions.length < input.maxQuestions; j++) {
    const values = outcomes.map((_, i) => valueOf(i, j)).filter((v): v is string => v !== undefined);
    const distinct = [...new Set(values)];
    if (distinct.length < 2) continue;
    const call = calls[j] ?? "";
    const first = valueOf(0, j);
    const ordered = first !== undefined ? [first, ...distinct.filter((v) => v !== first)] : distinct;
    questions.push({
      kind: "disagreement",
      call,
      ...(first !== undefined ? { chosen: first } : {}),
      text: `What should \`${shownCall(call)}\` return?`,
      suggestions: ordered.slice(0, 3).map(shown),
    });
  }
  if (questions.length === 0) return { decision: "proceed", candidate: best, by: "calls", reason: `${reason}; the readings agree on every call` };
  return { decision: "ask", questions, by: "calls", reason: `${reason}; the readings disagree on ${questions.length} call(s)` };
}

/** A user's answer as a clarification the code request carries. */
export function clarificationOf(question: Pick<ReadingQuestion, "call" | "kind">, answer: string): string {
  const a = answer.trim().replace(/\.$/, "");
  // "raises ValueError: ..." (or "it raises ...") is an error to raise, not a value to return.
  const raised = /^(?:it\s+)?raises?\s+(.+)$/i.exec(a)?.[1];
  const must = raised !== undefined ? `must raise ${raised}` : `must return ${a}`;
  return question.kind === "contradiction"
    ? `\`${question.call}\` ${must} (this overrides any example in the request that says otherwise).`
    : `\`${question.call}\` ${must}.`;
}
