/**
 * HumanEvalComm's metrics, computed as their code computes them, plus two in the spirit of ClarEval:
 * - communication rate: share of items whose first reply had no code;
 * - good-question rate: share of ALL items whose first questions the judge graded 3 (an item that coded at once
 *   counts as not good);
 * - pass@1: share of items whose one sample passes every test case;
 * - test pass rate: mean over items of passed cases / all cases (an item without code passes none);
 * - turns to code: mean over items that produced code of the turns until it (each round of questions is a turn);
 * - key-question coverage: mean over judged items whose judge listed the changed requirements, of the share the
 *   first round's questions asked about.
 * Rows that are errors (not evaluated) are left out and counted apart.
 */
import { allCategories, isModified, type Category } from "./benchmark.js";
import { latestRows, type EvalRow } from "./results.js";

export interface Metrics {
  items: number;
  communicationRate: number;
  goodQuestionRate: number;
  pass1: number;
  testPassRate: number;
  /** Items whose first reply went to the judge. */
  judged: number;
  /** Judge replies without a usable grade, over every round. */
  noGrade: number;
  /** Items where the engine ended in its failed state. */
  failures: number;
  turnsToCode: number | null;
  coverage: number | null;
  /** Items the coverage is averaged over. */
  coverageItems: number;
}

const mean = (values: readonly number[]): number => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);

/** The metrics of a set of evaluated rows; undefined for an empty set. */
export function computeMetrics(rows: readonly EvalRow[]): Metrics | undefined {
  const done = rows.filter((r) => r.error === undefined);
  if (done.length === 0) return undefined;
  const passRate = (r: EvalRow): number => (r.tests.total > 0 ? r.tests.passed / r.tests.total : 0);
  const withCode = done.filter((r) => r.turns !== undefined);
  const covered = done.flatMap((r) => {
    const requirements = r.judge[0]?.requirements ?? [];
    return requirements.length > 0 ? [requirements.filter((q) => q.recovered).length / requirements.length] : [];
  });
  return {
    items: done.length,
    communicationRate: done.filter((r) => r.asked).length / done.length,
    goodQuestionRate: done.filter((r) => r.judge[0]?.quality === 3).length / done.length,
    pass1: done.filter((r) => r.tests.total > 0 && r.tests.passed === r.tests.total).length / done.length,
    testPassRate: mean(done.map(passRate)),
    judged: done.filter((r) => r.judge.length > 0).length,
    noGrade: done.reduce((n, r) => n + r.judge.filter((j) => j.quality === undefined).length, 0),
    failures: done.filter((r) => r.failure !== undefined).length,
    turnsToCode: withCode.length === 0 ? null : mean(withCode.map((r) => r.turns ?? 0)),
    coverage: covered.length === 0 ? null : mean(covered),
    coverageItems: covered.length,
  };
}

export interface MetricsSummary {
  byCategory: Partial<Record<Category, Metrics>>;
  /** Every modified category together (what HumanEvalComm's published rows report). */
  modified?: Metrics;
  /** The original prompts: the same code metrics without ambiguity, so the cost of asking shows. */
  original?: Metrics;
  /** Items that could not be evaluated (their latest row is an error). */
  errors: { id: string; error: string }[];
}

/** Metrics per category and overall, from the rows of a run (the latest row of each item counts). */
export function summarizeRows(rows: readonly EvalRow[]): MetricsSummary {
  const latest = latestRows(rows);
  const byCategory: Partial<Record<Category, Metrics>> = {};
  for (const category of allCategories) {
    const m = computeMetrics(latest.filter((r) => r.category === category));
    if (m) byCategory[category] = m;
  }
  const modified = computeMetrics(latest.filter((r) => isModified(r.category)));
  return {
    byCategory,
    ...(modified ? { modified } : {}),
    ...(byCategory.original ? { original: byCategory.original } : {}),
    errors: latest.filter((r) => r.error !== undefined).map((r) => ({ id: r.id, error: r.error ?? "" })),
  };
}
