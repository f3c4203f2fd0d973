/**
 * One evaluated item, as a line of results.jsonl: every reply, the judge's grades and answers, the test outcome and
 * the timings. The schema reads rows back for a resumed run and for reports.
 */
import { z } from "zod";
import { allCategories, type Category } from "./benchmark.js";
import type { Quality, Requirement } from "./judge.js";

export type EvalMode = "paper" | "engine";

/** One model call, in order: who was asked, what was sent, what came back. */
export interface Exchange {
  who: "model" | "judge";
  kind: "probe" | "chat" | "complete";
  sent: string;
  reply: string;
  ms: number;
  stopReason?: string;
}

export interface JudgeRound {
  /** The grade as the judge gave it (the metrics count it after the good-question check, judge.ts's countedGrade). */
  quality?: Quality;
  noGrade?: string;
  /** Why the judge's 3 does not count as good, when it does not. */
  notGood?: string;
  answers: string[];
  requirements?: Requirement[];
  /** Answers that only restated their question, emptied before they were given to the model. */
  echoed?: number;
  /** With `--answers reference`: the calls the questions named, answered by the reference solution in the judge's stead. */
  reference?: { call: string; value: string }[];
}

export interface TestOutcome {
  passed: number;
  total: number;
  /** One per test case: "passed", or why not ("wrong: got 3", "error: ZeroDivisionError: ...", "timeout", "no code"). */
  statuses: string[];
}

export interface EvalRow {
  id: string;
  name: string;
  category: Category;
  mode: EvalMode;
  /** Communication: the first reply had no code (paper), or the engine asked (engine). */
  asked: boolean;
  /** The probability the guided engine gave to asking on the first turn, where it was measured. */
  askProbability?: number;
  /** The first round's questions. */
  questions: string[];
  /** One per round of questions the judge saw; the first is graded for the good-question rate. */
  judge: JudgeRound[];
  /** The code that was tested ("" when the model never produced any). */
  code: string;
  tests: TestOutcome;
  /** Turns until the code (each round of questions is one, the code is one); absent when no code came. */
  turns?: number;
  exchanges: Exchange[];
  ms: { model: number; judge: number; tests: number; total: number };
  /** The engine ended in its failed state (an outcome of the product, counted, not retried). */
  failure?: string;
  /** The item could not be evaluated (a model or judge call threw): not counted, and retried on the next run. */
  error?: string;
}

const quality = z.union([z.literal(1), z.literal(2), z.literal(3)]);
const rowSchema = z.object({
  id: z.string(),
  name: z.string(),
  category: z.enum(allCategories as [Category, ...Category[]]),
  mode: z.enum(["paper", "engine"]),
  asked: z.boolean(),
  askProbability: z.number().optional(),
  questions: z.array(z.string()),
  judge: z.array(
    z.object({
      quality: quality.optional(),
      noGrade: z.string().optional(),
      notGood: z.string().optional(),
      answers: z.array(z.string()),
      requirements: z.array(z.object({ text: z.string(), recovered: z.boolean() })).optional(),
      echoed: z.number().int().nonnegative().optional(),
      reference: z.array(z.object({ call: z.string(), value: z.string() })).optional(),
    }),
  ),
  code: z.string(),
  tests: z.object({ passed: z.number().int().min(0), total: z.number().int().min(0), statuses: z.array(z.string()) }),
  turns: z.number().int().min(1).optional(),
  exchanges: z.array(
    z.object({
      who: z.enum(["model", "judge"]),
      kind: z.enum(["probe", "chat", "complete"]),
      sent: z.string(),
      reply: z.string(),
      ms: z.number(),
      stopReason: z.string().optional(),
    }),
  ),
  ms: z.object({ model: z.number(), judge: z.number(), tests: z.number(), total: z.number() }),
  failure: z.string().optional(),
  error: z.string().optional(),
});

/** A stored row, or undefined when the value is not one. */
export function readEvalRow(value: unknown): EvalRow | undefined {
  const parsed = rowSchema.safeParse(value);
  return parsed.success ? (parsed.data as EvalRow) : undefined;
}

/** The latest row for each item (a retried item appends a newer row). */
export function latestRows(rows: readonly EvalRow[]): EvalRow[] {
  const byId = new Map<string, EvalRow>();
  for (const r of rows) {
    byId.delete(r.id);
    byId.set(r.id, r);
  }
  return [...byId.values()];
}

/** Rows in a stable reading order: by problem (numbers in names counted as numbers), then category. */
export function inItemOrder(rows: readonly EvalRow[]): EvalRow[] {
  const rank = (c: Category): number => allCategories.indexOf(c);
  return [...rows].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }) || rank(a.category) - rank(b.category));
}

/** Items that are finished: their latest row is an outcome, not an error. */
export function finishedIds(rows: readonly EvalRow[]): Set<string> {
  return new Set(
    latestRows(rows)
      .filter((r) => r.error === undefined)
      .map((r) => r.id),
  );
}
