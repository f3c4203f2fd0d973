/**
 * HumanEvalComm's metrics, computed as their code computes them, plus ours beside them and two in the spirit of
 * ClarEval:
 * - communication rate (theirs, the headline): share of items whose first questions the judge graded 2 or 3
 *   (`syntactic_similarity_OER.py`), so it is never below the good-question rate;
 * - no-code rate (ours): share of items whose first reply had no code (paper), or where the engine asked (engine);
 * - good-question rate: share of ALL items whose first questions the judge graded 3 (an item that coded at once
 *   counts as not good);
 * - pass@1: share of items whose one sample passes every test case;
 * - test pass rate: mean over items of passed cases / all cases (an item without code passes none);
 * - turns to code: mean over items that produced code of the turns until it (each round of questions is a turn);
 * - key-question coverage: mean over judged items whose judge listed the changed requirements, of the share the
 *   first round's questions asked about.
 * Grades count after the good-question check (judge.ts's `countedGrade`: a 3 the judge does not back counts as 2).
 * Rows that are errors (not evaluated) are left out and counted apart.
 */
import { allCategories, isModified, type Category } from "./benchmark.js";
import { countedGrade, whyNotGood } from "./judge.js";
import { latestRows, type EvalRow } from "./results.js";

export interface Metrics {
  items: number;
  /** HumanEvalComm's: the first questions graded 2 or 3. */
  communicationRate: number;
  /** Ours: the first reply had no code (absent in summaries written before it was kept). */
  noCodeRate?: number;
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

/** The first round's grade as it counts (after the good-question check). */
const firstGrade = (r: EvalRow): number | undefined => {
  const first = r.judge[0];
  return first === undefined ? undefined : countedGrade(first);
};

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
    communicationRate: done.filter((r) => (firstGrade(r) ?? 0) >= 2).length / done.length,
    noCodeRate: done.filter((r) => r.asked).length / done.length,
    goodQuestionRate: done.filter((r) => firstGrade(r) === 3).length / done.length,
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

/** How far the judge's first-round replies can be trusted. */
export interface JudgeHealth {
  /** First rounds the judge saw. */
  judged: number;
  /** Of those, replies that did not parse to a grade. */
  unparsed: number;
  /** Grades of 3 as the judge gave them. */
  graded3: number;
  /** 3s with no changed requirement asked about (json replies, which list them). */
  threeWithoutRequirement: number;
  /** 3s whose every answer is empty. */
  threeWithoutAnswer: number;
  /** 3s that do not count as good for either reason. */
  threeNotGood: number;
  /** Graded replies whose every answer is empty. */
  emptyAnswers: number;
  /** First-round answers that only restated their question (emptied). */
  echoedAnswers: number;
  reliable: boolean;
  /** Why it is not, in words. */
  warnings: string[];
}

export const judgeHealthRule =
  "the judge is flagged unreliable when more than a quarter of its first-round replies have no usable grade, when at least half of its 3s are not backed by a recovered requirement and an answer, when more than half of its graded replies answer nothing, or when more than a quarter of its answers only restate the question";

/** The judge's health over the first rounds of the evaluated rows, with the rule in `judgeHealthRule`. */
export function judgeHealth(rows: readonly EvalRow[]): JudgeHealth {
  const firsts = rows.filter((r) => r.error === undefined).flatMap((r) => (r.judge[0] ? [r.judge[0]] : []));
  const threes = firsts.filter((j) => j.quality === 3);
  const graded = firsts.filter((j) => j.quality !== undefined);
  const noAnswer = (j: (typeof firsts)[number]): boolean => !j.answers.some((a) => a.trim() !== "");
  const health = {
    judged: firsts.length,
    unparsed: firsts.length - graded.length,
    graded3: threes.length,
    threeWithoutRequirement: threes.filter((j) => j.requirements !== undefined && !j.requirements.some((q) => q.recovered)).length,
    threeWithoutAnswer: threes.filter(noAnswer).length,
    threeNotGood: threes.filter((j) => whyNotGood(j) !== undefined).length,
    emptyAnswers: graded.filter(noAnswer).length,
    echoedAnswers: firsts.reduce((n, j) => n + (j.echoed ?? 0), 0),
  };
  const answersGiven = firsts.reduce((n, j) => n + j.answers.length, 0);
  const warnings: string[] = [];
  if (health.unparsed * 4 > health.judged) warnings.push(`${health.unparsed} of its ${health.judged} first-round replies have no usable grade`);
  if (health.graded3 > 0 && health.threeNotGood * 2 >= health.graded3) {
    warnings.push(`${health.threeNotGood} of its ${health.graded3} grades of 3 name no recovered requirement or give no answer`);
  }
  if (health.emptyAnswers * 2 > graded.length) warnings.push(`${health.emptyAnswers} of its ${graded.length} graded replies answer nothing`);
  if (health.echoedAnswers * 4 > answersGiven && health.echoedAnswers > 0)
    warnings.push(`${health.echoedAnswers} of its ${answersGiven} answers only restate the question`);
  return { ...health, reliable: warnings.length === 0, warnings };
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
