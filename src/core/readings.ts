/**
 * Deciding by readings (after ClarifyGPT, FSE 2024): the model writes a few candidate solutions to the request, they
 * run on concrete calls (the request's own examples and a few inputs the model picks), and the assistant asks only
 * where the readings disagree, with the disagreement itself as the question: a concrete call and the results the
 * readings give, as the suggested answers. Where they agree, the request was clear enough and the first candidate,
 * written as the bare model would write it, is the answer. Pure: the model and the runner are the caller's.
 */
import type { CallOutcome } from "./code-runner.js";
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

type ReadingsDecision = { decision: "proceed"; candidate: number; reason: string } | { decision: "ask"; questions: ReadingQuestion[]; reason: string };

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

const arrow = /^(.*\S)\s*(?:==|➞|->|=>|→|returns?|should return|gives?|is)\s+(.+)$/;

/** Whether a text has the balanced brackets and quotes of one Python expression (a cheap filter, not a parser). */
function balanced(text: string): boolean {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if ("([{".includes(c ?? "")) depth++;
    else if (")]}".includes(c ?? "")) depth--;
    if (depth < 0) return false;
  }
  return depth === 0 && quote === undefined;
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

/**
 * The examples a request gives for `entry`: doctest lines (`>>> f(x)` and the value on the next line) and
 * one-line forms such as `f(x) == y`, `f(x) ➞ y`, `f(x) -> y`, `f(x) returns y`.
 */
export function requestExamples(request: string, entry: string): RequestExample[] {
  const lines = request.split("\n").map((l) => l.trim());
  const found: RequestExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.startsWith(">>>")) {
      const call = leadingCall(line.slice(3).trim(), entry);
      const next = lines[i + 1] ?? "";
      if (call !== undefined && call === line.slice(3).trim() && next !== "" && !next.startsWith(">>>") && balanced(next)) {
        found.push({ call, expected: next });
      }
      continue;
    }
    // A definition's signature (`def f(x: int) -> int:`) is no example.
    if (/^(?:async\s+)?(?:def|class)\s/.test(line) || line.startsWith("#")) continue;
    const call = leadingCall(line, entry);
    if (call === undefined) continue;
    const rest = line.slice(line.indexOf(call) + call.length).trim();
    const m = arrow.exec(`${call} ${rest}`);
    const expected = m?.[2]?.trim().replace(/[.,;]$/, "");
    if (m && m[1]?.trim() === call && expected !== undefined && expected !== "" && balanced(expected)) found.push({ call, expected });
  }
  const seen = new Set<string>();
  return found.filter((e) => (seen.has(e.call) ? false : (seen.add(e.call), true))).slice(0, 8);
}

/** The message that asks the model for calls to try the function on. */
export function buildCallsMessage(entry: string, count: number): string {
  return (
    `Give ${count} different calls of \`${entry}\` with concrete Python literal arguments that test what the request leaves open: ` +
    "edge cases (empty or single inputs, ties, negatives, boundaries) where two readings of the request would return different results. " +
    `Each call is one Python expression starting with ${entry}(. Reply in JSON.`
  );
}

export function callsSchema(count: number): JsonSchema {
  return {
    type: "object",
    properties: { calls: { type: "array", minItems: 1, maxItems: count, items: { type: "string", minLength: 3, maxLength: 120 } } },
  };
}

/** The model's calls, kept where each is one balanced call of `entry` and nothing else. */
export function parseCalls(text: string, entry: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const calls = typeof value === "object" && value !== null && Array.isArray((value as { calls?: unknown }).calls) ? (value as { calls: unknown[] }).calls : [];
  return calls
    .filter((c): c is string => typeof c === "string")
    .map((c) => c.trim())
    .filter((c) => leadingCall(c, entry) === c);
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
 * - A candidate that gives every example its value fits the request; the first that fits is the answer, unless
 *   the fitting candidates disagree on another call (then that call is asked about).
 * - No candidate fits: the examples contradict the description as the model reads it; the first example the first
 *   candidate gets wrong is asked about (the example's value, or what the description gives).
 * - Without examples, candidates that disagree on a call are asked about.
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
  const fits = outcomes.map((_, i) => checkable.every((j) => valueOf(i, j) === expected[j]));
  const fitting = outcomes.map((_, i) => i).filter((i) => fits[i]);
  const questions: ReadingQuestion[] = [];
  let reason: string;
  if (checkable.length > 0 && fitting.length === 0) {
    const wrong = checkable.find((j) => valueOf(0, j) !== undefined && valueOf(0, j) !== expected[j]);
    if (wrong !== undefined) {
      const call = calls[wrong] ?? "";
      const said = expected[wrong] ?? "";
      const got = valueOf(0, wrong) ?? "";
      questions.push({
        kind: "contradiction",
        call,
        chosen: got,
        text: `The example says \`${shownCall(call)}\` returns \`${shown(said)}\`, but the description, as I read it, gives \`${shown(got)}\`. Which is right?`,
        suggestions: [shown(said), shown(got)],
      });
      reason = `no candidate gives the request's examples their values (${call}: ${said} expected, ${got} written)`;
    } else {
      reason = "no candidate runs on the request's examples";
    }
  } else {
    reason = checkable.length > 0 ? `candidate ${fitting[0] ?? 0} gives every example its value` : "no examples to check";
  }
  // Among the candidates that fit (all of them, without examples), a call they answer differently is a question.
  const pool = fitting.length > 0 ? fitting : outcomes.map((_, i) => i);
  for (let j = examples; j < calls.length && questions.length < input.maxQuestions; j++) {
    const values = pool.map((i) => valueOf(i, j)).filter((v): v is string => v !== undefined);
    const distinct = [...new Set(values)];
    if (distinct.length < 2) continue;
    const call = calls[j] ?? "";
    const first = valueOf(pool[0] ?? 0, j);
    const ordered = first !== undefined ? [first, ...distinct.filter((v) => v !== first)] : distinct;
    questions.push({
      kind: "disagreement",
      call,
      ...(first !== undefined ? { chosen: first } : {}),
      text: `What should \`${shownCall(call)}\` return?`,
      suggestions: ordered.slice(0, 3).map(shown),
    });
  }
  if (questions.length === 0) {
    return { decision: "proceed", candidate: fitting[0] ?? 0, reason: `${reason}; the readings agree on every call` };
  }
  const disagreements = questions.filter((q) => q.kind === "disagreement").length;
  return {
    decision: "ask",
    questions: questions.slice(0, input.maxQuestions),
    reason: disagreements > 0 ? `${reason}; the readings disagree on ${disagreements} call(s)` : reason,
  };
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
