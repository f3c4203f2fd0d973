/**
 * A user who knows what their function returns (`eval --answers reference`): a question about a concrete call of the
 * problem's function gets the value the benchmark's reference solution returns for that call, run in the sandbox.
 * This is TiCoder's simulated user, who answers questions about examples rightly; a small judge model leaves such
 * answers empty. Questions that name no call keep the judge's answers, and the judge's grades are its own.
 */
import type { CallOutcome, CodeRunner } from "../code-runner.js";
import { callsIn, definedFunctions } from "../readings.js";
import type { EvalItem } from "./benchmark.js";

/** What the reference gave for one call. */
export interface ReferenceAnswer {
  call: string;
  /** The value's Python repr, or the error the call raised (`raises ValueError: ...`). */
  value: string;
}

/** How answers are given: by the judge alone (HumanEvalComm's protocol), or with the reference for concrete calls. */
export const answerSources = ["judge", "reference"] as const;
export type AnswerSource = (typeof answerSources)[number];

export function isAnswerSource(value: string): value is AnswerSource {
  return (answerSources as readonly string[]).includes(value);
}

/** The names a question may call the function by: the entry point, and what the modified prompt calls it (`candidate`). */
function functionNames(item: Pick<EvalItem, "prompt" | "entryPoint">): string[] {
  return [item.entryPoint, ...definedFunctions(item.prompt), "candidate"];
}

function shownOutcome(outcome: CallOutcome | undefined): string | undefined {
  if (outcome === undefined) return undefined;
  return outcome.ok ? outcome.value : `raises ${outcome.error}`;
}

/** Runs `calls` on the reference solution, under every name a question may use for its function. */
async function runReference(
  item: Pick<EvalItem, "prompt" | "entryPoint" | "solution">,
  calls: readonly string[],
  runner: CodeRunner,
): Promise<ReferenceAnswer[]> {
  if (item.solution === undefined || calls.length === 0) return [];
  const aliases = functionNames(item)
    .filter((n) => n !== item.entryPoint)
    .map((n) => `${n} = ${item.entryPoint}`);
  const outcomes = await runner.callAll({ code: [item.solution, ...new Set(aliases)].join("\n"), calls });
  return calls.flatMap((call, i) => {
    const value = shownOutcome(outcomes[i]);
    return value === undefined ? [] : [{ call, value }];
  });
}

/** For each question, the reference's answer to the first call it names, or undefined where it names none. */
export async function referenceAnswers(
  questions: readonly string[],
  item: Pick<EvalItem, "prompt" | "entryPoint" | "solution">,
  runner: CodeRunner,
): Promise<(ReferenceAnswer | undefined)[]> {
  const names = functionNames(item);
  const firstCalls = questions.map((q) => callsIn(q, names)[0]);
  const known = await runReference(item, [...new Set(firstCalls.filter((c): c is string => c !== undefined))], runner);
  return firstCalls.map((call) => known.find((k) => k.call === call));
}

/** Every call a free-text reply names (the paper protocol's questions are one text), with the reference's value. */
export async function referenceAnswersInText(
  text: string,
  item: Pick<EvalItem, "prompt" | "entryPoint" | "solution">,
  runner: CodeRunner,
): Promise<ReferenceAnswer[]> {
  return runReference(item, callsIn(text, functionNames(item)).slice(0, 8), runner);
}

/** A reference answer as a sentence, for a free-text answer block. */
export function referenceSentence(answer: ReferenceAnswer): string {
  return answer.value.startsWith("raises ") ? `\`${answer.call}\` ${answer.value}.` : `\`${answer.call}\` returns ${answer.value}.`;
}
