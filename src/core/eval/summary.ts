/** What a run was (run.json) and what it found (summary.json), built from its rows. */
import type { ClarifySettings } from "../types.js";
import type { Category, MalformedRow } from "./benchmark.js";
import { calibrate, type CalibrationResult } from "./calibration.js";
import type { JudgeFormat } from "./judge.js";
import { judgeHealth, summarizeRows, type JudgeHealth, type MetricsSummary } from "./metrics.js";
import type { PaperSettings } from "./protocol.js";
import type { AnswerSource } from "./reference-answers.js";
import { latestRows, type EvalMode, type EvalRow } from "./results.js";

export interface RunManifest {
  version: 1;
  benchmark: { file: string; sha256: string; problems: number };
  mode: EvalMode;
  modelSpec: string;
  judgeSpec: string;
  /** What identifies the models across runs: a file's path, or an endpoint's model name (its address may change). */
  modelId: string;
  judgeId: string;
  judgeFormat: JudgeFormat;
  judgeMaxTokens: number;
  paper?: PaperSettings;
  engine?: ClarifySettings;
  /** Engine mode: the engine decided by readings (it had the sandbox to run candidates in). */
  readings?: boolean;
  /** `reference`: questions about concrete calls were answered by the reference solution (absent: by the judge). */
  answers?: AnswerSource;
  categories: Category[];
  limit?: number;
  seed: number;
  /** How the models were named when the run started (file name, or endpoint model at its URL). */
  modelLabel: string;
  judgeLabel: string;
  createdAt: string;
}

/** The settings that make two runs the same run: a resumed run must match them. */
export function manifestDifferences(a: RunManifest, b: RunManifest): string[] {
  const keys = [
    "mode",
    "modelId",
    "judgeId",
    "judgeFormat",
    "judgeMaxTokens",
    "paper",
    "engine",
    "readings",
    "answers",
    "categories",
    "limit",
    "seed",
  ] as const;
  const differences = keys
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])} then, ${JSON.stringify(b[k])} now`);
  if (a.benchmark.sha256 !== b.benchmark.sha256) differences.unshift("the benchmark file's content changed");
  return differences;
}

export interface SandboxInfo {
  python: string;
  /** "isolated (...)" or why not. */
  network: string;
  caseTimeoutMs: number;
  memoryMb: number;
}

export interface RunSummary {
  /** A short name for the run in reports (its folder's name). */
  name: string;
  manifest: RunManifest;
  items: { planned: number; evaluated: number; errors: number };
  metrics: MetricsSummary;
  /** How far the judge can be trusted (absent in summaries written before it was kept). */
  judgeHealth?: JudgeHealth;
  calibration: CalibrationResult;
  malformedRows: MalformedRow[];
  sandbox: SandboxInfo;
  /** Mean seconds per evaluated item, and per part of it. */
  seconds: { item: number; model: number; judge: number; tests: number };
}

interface SummaryInput {
  name: string;
  manifest: RunManifest;
  rows: readonly EvalRow[];
  planned: number;
  malformedRows: MalformedRow[];
  sandbox: SandboxInfo;
  maxClearAskRate?: number;
}

export function buildRunSummary(input: SummaryInput): RunSummary {
  const latest = latestRows(input.rows);
  const done = latest.filter((r) => r.error === undefined);
  const meanSeconds = (pick: (r: EvalRow) => number): number => (done.length === 0 ? 0 : done.reduce((n, r) => n + pick(r), 0) / done.length / 1000);
  const engine = input.manifest.engine;
  const samples = done.flatMap((r) => (r.askProbability === undefined ? [] : [{ p: r.askProbability, clear: r.category === "original" }]));
  return {
    name: input.name,
    manifest: input.manifest,
    items: { planned: input.planned, evaluated: done.length, errors: latest.length - done.length },
    metrics: summarizeRows(latest),
    judgeHealth: judgeHealth(latest),
    calibration: calibrate(samples, {
      ...(input.maxClearAskRate !== undefined ? { maxClearAskRate: input.maxClearAskRate } : {}),
      ...(engine && engine.askPolicy === "auto" ? { current: engine.askThreshold } : {}),
    }),
    malformedRows: input.malformedRows,
    sandbox: input.sandbox,
    seconds: {
      item: meanSeconds((r) => r.ms.total),
      model: meanSeconds((r) => r.ms.model),
      judge: meanSeconds((r) => r.ms.judge),
      tests: meanSeconds((r) => r.ms.tests),
    },
  };
}
