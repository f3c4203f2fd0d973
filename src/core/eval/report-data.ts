/**
 * What a report shows, as data: per-category bars for each metric (one series per run), our runs beside
 * HumanEvalComm's published rows, the calibration sweep, and the cost of asking. The HTML writer draws it; the
 * markdown report prints it. All values are percentages.
 */
import { allCategories, categoryLabels, type Category } from "./benchmark.js";
import type { CalibrationResult } from "./calibration.js";
import { judgeHealthRule, type Metrics } from "./metrics.js";
import type { RunSummary } from "./summary.js";

/** HumanEvalComm's published results, all categories together (percent). */
interface PublishedRow {
  model: string;
  pass1Original: number;
  pass1: number;
  testPassRateOriginal: number;
  testPassRate: number;
  communicationRate: number;
  goodQuestionRate: number;
}

export const publishedRows: readonly PublishedRow[] = [
  {
    model: "ChatGPT (gpt-3.5-turbo-0125)",
    pass1Original: 65.58,
    pass1: 31.34,
    testPassRateOriginal: 76.42,
    testPassRate: 49.39,
    communicationRate: 14.21,
    goodQuestionRate: 13.43,
  },
  {
    model: "CodeLlama 13B Instruct",
    pass1Original: 29.88,
    pass1: 19.35,
    testPassRateOriginal: 45.71,
    testPassRate: 37.79,
    communicationRate: 10.16,
    goodQuestionRate: 37.55,
  },
  {
    model: "CodeQwen1.5 Chat",
    pass1Original: 76.83,
    pass1: 47.61,
    testPassRateOriginal: 84.4,
    testPassRate: 62.89,
    communicationRate: 4.82,
    goodQuestionRate: 41.68,
  },
  {
    model: "DeepSeek Coder 6.7B Instruct",
    pass1Original: 71.78,
    pass1: 45.68,
    testPassRateOriginal: 79.44,
    testPassRate: 62.25,
    communicationRate: 30.76,
    goodQuestionRate: 61.42,
  },
  {
    model: "DeepSeek Chat 7B",
    pass1Original: 12.8,
    pass1: 26.32,
    testPassRateOriginal: 13.86,
    testPassRate: 44.52,
    communicationRate: 37.93,
    goodQuestionRate: 58.71,
  },
  {
    model: "Okanagan agent (ChatGPT)",
    pass1Original: 27.45,
    pass1: 39.62,
    testPassRateOriginal: 33.45,
    testPassRate: 56.98,
    communicationRate: 72.73,
    goodQuestionRate: 52.24,
  },
  {
    model: "Okanagan agent (DeepSeek Coder)",
    pass1Original: 21.25,
    pass1: 38.06,
    testPassRateOriginal: 24.3,
    testPassRate: 52.72,
    communicationRate: 82.51,
    goodQuestionRate: 60.13,
  },
];

type MetricKey = "communicationRate" | "noCodeRate" | "goodQuestionRate" | "pass1" | "testPassRate";

const metricLabels: Record<MetricKey, string> = {
  communicationRate: "Communication rate (HumanEvalComm's: judge grade 2 or 3)",
  noCodeRate: "No-code first replies (ours)",
  goodQuestionRate: "Good-question rate",
  pass1: "Pass@1",
  testPassRate: "Test pass rate",
};

const metricKeys: readonly MetricKey[] = ["communicationRate", "noCodeRate", "goodQuestionRate", "pass1", "testPassRate"];

/** What each metric counts, in one sentence each, for the reports. */
export const metricRules =
  "Communication rate (HumanEvalComm's, the headline): share of items whose first questions the judge graded 2 or 3. No-code first replies (ours): share of items whose first reply had no fenced code block (in engine mode: where the engine asked). Good-question rate: share of all items whose first questions the judge graded 3, a 3 counting only when the judge names at least one changed requirement the questions asked about (json replies) and gives a non-empty answer (else it counts as 2). A first reply that starts with a fenced block is code (HumanEvalComm's rule, prose after it or not); any other goes to the judge. Pass@1: share of items whose code passes every test. Test pass rate: mean share of test cases passed.";

interface BarGroup {
  /** "1a", ..., "modified" (all of them), "original". */
  label: string;
  title: string;
  /** One per run, in percent; null where the run has no items there. */
  values: (number | null)[];
}

export interface CategoryChart {
  metric: MetricKey;
  title: string;
  groups: BarGroup[];
}

interface ReferenceBar {
  label: string;
  value: number;
  ours: boolean;
}

export interface ReferenceChart {
  title: string;
  bars: ReferenceBar[];
}

interface CostRow {
  run: string;
  clearAskRate: number | null;
  pass1Original: number | null;
  pass1Modified: number | null;
  testPassRateOriginal: number | null;
  testPassRateModified: number | null;
  turnsToCode: number | null;
  coverage: number | null;
  coverageItems: number;
}

export interface ReportData {
  runs: RunSummary[];
  series: string[];
  categoryCharts: CategoryChart[];
  referenceCharts: ReferenceChart[];
  calibrations: { run: string; calibration: CalibrationResult }[];
  cost: CostRow[];
}

const pct = (x: number | null | undefined): number | null => (x === null || x === undefined ? null : Math.round(x * 10000) / 100);

/** The columns of a category chart: each category any run has, then every modified one together. */
function groupsOf(runs: readonly RunSummary[], metric: MetricKey): BarGroup[] {
  const present = allCategories.filter((c) => runs.some((r) => r.metrics.byCategory[c] !== undefined));
  const column = (label: string, title: string, pick: (r: RunSummary) => Metrics | undefined): BarGroup => ({
    label,
    title,
    values: runs.map((r) => pct(pick(r)?.[metric])),
  });
  const modified = present.filter((c): c is Exclude<Category, "original"> => c !== "original");
  const groups = modified.map((c) => column(c, categoryLabels[c], (r) => r.metrics.byCategory[c]));
  if (modified.length > 0) groups.push(column("modified", "every modified category together", (r) => r.metrics.modified));
  if (present.includes("original")) groups.push(column("original", categoryLabels.original, (r) => r.metrics.original));
  return groups;
}

/** Our runs beside the published rows, for each metric the paper reports (modified prompts, and original for code). */
function referenceCharts(runs: readonly RunSummary[]): ReferenceChart[] {
  const chart = (title: string, published: (p: PublishedRow) => number, ours: (r: RunSummary) => number | null): ReferenceChart => ({
    title,
    bars: [
      ...runs.flatMap((r) => {
        const v = ours(r);
        return v === null ? [] : [{ label: r.name, value: v, ours: true }];
      }),
      ...publishedRows.map((p) => ({ label: p.model, value: published(p), ours: false })),
    ],
  });
  return [
    chart(
      "Communication rate (modified prompts)",
      (p) => p.communicationRate,
      (r) => pct(r.metrics.modified?.communicationRate),
    ),
    chart(
      "Good-question rate (modified prompts)",
      (p) => p.goodQuestionRate,
      (r) => pct(r.metrics.modified?.goodQuestionRate),
    ),
    chart(
      "Pass@1 (modified prompts)",
      (p) => p.pass1,
      (r) => pct(r.metrics.modified?.pass1),
    ),
    chart(
      "Test pass rate (modified prompts)",
      (p) => p.testPassRate,
      (r) => pct(r.metrics.modified?.testPassRate),
    ),
    chart(
      "Pass@1 (original prompts)",
      (p) => p.pass1Original,
      (r) => pct(r.metrics.original?.pass1),
    ),
    chart(
      "Test pass rate (original prompts)",
      (p) => p.testPassRateOriginal,
      (r) => pct(r.metrics.original?.testPassRate),
    ),
  ];
}

export function buildReportData(runs: readonly RunSummary[]): ReportData {
  return {
    runs: [...runs],
    series: runs.map((r) => r.name),
    categoryCharts: metricKeys.map((metric) => ({ metric, title: metricLabels[metric], groups: groupsOf(runs, metric) })),
    referenceCharts: referenceCharts(runs),
    calibrations: runs.map((r) => ({ run: r.name, calibration: r.calibration })),
    cost: runs.map((r) => ({
      run: r.name,
      clearAskRate: pct(r.metrics.original?.noCodeRate),
      pass1Original: pct(r.metrics.original?.pass1),
      pass1Modified: pct(r.metrics.modified?.pass1),
      testPassRateOriginal: pct(r.metrics.original?.testPassRate),
      testPassRateModified: pct(r.metrics.modified?.testPassRate),
      turnsToCode: r.metrics.modified?.turnsToCode ?? null,
      coverage: pct(r.metrics.modified?.coverage),
      coverageItems: r.metrics.modified?.coverageItems ?? 0,
    })),
  };
}

/** How a run is described in one line: mode, style and settings, model and judge. */
export function describeRun(run: RunSummary): string {
  const m = run.manifest;
  const how =
    m.mode === "engine" && m.engine
      ? `engine, ${m.engine.style} style, ask ${m.engine.askPolicy}${m.engine.askPolicy === "auto" ? ` at ${m.engine.askThreshold}` : ""}, up to ${m.engine.maxQuestions} questions x ${m.engine.maxRounds} rounds`
      : "paper protocol (HumanEvalComm's three rounds)";
  return `${how}; model ${m.modelLabel}; judge ${m.judgeLabel} (${m.judgeFormat} replies); ${run.items.evaluated} items${m.limit !== undefined ? ` (at most ${m.limit} per category, seed ${m.seed})` : ""}`;
}

/** One warning per run whose judge looks unreliable (see `judgeHealthRule`). */
export function judgeWarnings(runs: readonly RunSummary[]): string[] {
  return runs.flatMap((r) =>
    r.judgeHealth && !r.judgeHealth.reliable
      ? [
          `the judge of ${r.name} looks unreliable: ${r.judgeHealth.warnings.join("; ")}. Its communication and good-question rates measure the judge more than the questions; use a stronger judge.`,
        ]
      : [],
  );
}

export const judgeHealthHead = [
  "run",
  "first rounds judged",
  "no usable grade",
  "grades of 3",
  "3s without a recovered requirement",
  "3s with every answer empty",
  "graded replies answering nothing",
  "reliable",
] as const;

/** A run's judge-health row, as plain text cells. */
export function judgeHealthCells(run: RunSummary): string[] {
  const h = run.judgeHealth;
  if (!h) return [run.name, "–", "–", "–", "–", "–", "–", "not recorded"];
  const reliable = h.judged === 0 ? "nothing judged" : h.reliable ? "yes" : "no";
  return [
    run.name,
    String(h.judged),
    String(h.unparsed),
    String(h.graded3),
    String(h.threeWithoutRequirement),
    String(h.threeWithoutAnswer),
    String(h.emptyAnswers),
    reliable,
  ];
}

export const smallSampleNote = "With fewer than 20 prompts of a kind this is a rough suggestion: a larger --limit makes it firm.";

export const fmt = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined ? "–" : x.toFixed(digits));

/** Plain-text cells: a model's words must not become markdown structure (a table row, a link, HTML). */
export function mdCell(text: string): string {
  return text.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`).replace(/\r?\n/g, " ");
}

export function reportMarkdown(data: ReportData): string {
  const lines: string[] = ["# HumanEvalComm evaluation", ""];
  for (const run of data.runs) lines.push(`- **${mdCell(run.name)}**: ${mdCell(describeRun(run))}`);
  lines.push("");
  for (const w of judgeWarnings(data.runs)) lines.push(`> **Warning:** ${mdCell(w)}`, "");
  lines.push(metricRules, "");
  for (const chart of data.categoryCharts) {
    lines.push(`## ${chart.title} (%)`, "", `| category | ${data.series.map(mdCell).join(" | ")} |`, `| --- |${data.series.map(() => " ---: |").join("")}`);
    for (const g of chart.groups) lines.push(`| ${g.label} (${g.title}) | ${g.values.map((v) => fmt(v)).join(" | ")} |`);
    lines.push("");
  }
  lines.push(
    "## Beside the published results (%)",
    "",
    "| | " + data.referenceCharts.map((c) => c.title).join(" | ") + " |",
    "| --- |" + data.referenceCharts.map(() => " ---: |").join(""),
  );
  const labels = [...new Set(data.referenceCharts.flatMap((c) => c.bars.map((b) => b.label)))];
  for (const label of labels) {
    const ours = data.series.includes(label);
    const cells = data.referenceCharts.map((c) => fmt(c.bars.find((b) => b.label === label)?.value));
    lines.push(`| ${ours ? `**${mdCell(label)}**` : mdCell(label)} | ${cells.join(" | ")} |`);
  }
  lines.push(
    "",
    "## The cost of asking",
    "",
    "| run | asks on clear prompts % | pass@1 original % | pass@1 modified % | test pass rate original % | modified % | turns to code | key-question coverage % (items) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const c of data.cost) {
    lines.push(
      `| ${mdCell(c.run)} | ${fmt(c.clearAskRate)} | ${fmt(c.pass1Original)} | ${fmt(c.pass1Modified)} | ${fmt(c.testPassRateOriginal)} | ${fmt(c.testPassRateModified)} | ${fmt(c.turnsToCode, 2)} | ${fmt(c.coverage)} (${c.coverageItems}) |`,
    );
  }
  lines.push("", "## Ask threshold", "");
  for (const { run, calibration } of data.calibrations) {
    if ("unavailable" in calibration) {
      lines.push(`- **${mdCell(run)}**: no calibration (${calibration.unavailable}).`);
      continue;
    }
    const s = calibration.suggestion;
    lines.push(
      `- **${mdCell(run)}**: suggested \`clarifycoder.askThreshold\` = **${s.threshold.toFixed(3)}**: asks on ${fmt(s.modifiedAskRate * 100)}% of modified and ${fmt(s.clearAskRate * 100)}% of original prompts (${calibration.modifiedItems} and ${calibration.clearItems} prompts); in settings.json \`"clarifycoder.askThreshold": ${s.threshold}\`. Rule: ${calibration.rule}.${
        s.separates ? "" : " On this sample the probability of asking does not separate unclear from clear prompts, so no threshold helps much."
      }${calibration.smallSample ? ` ${smallSampleNote}` : ""}${calibration.current ? ` The run's own threshold ${calibration.current.threshold} asks on ${fmt(calibration.current.modifiedAskRate * 100)}% and ${fmt(calibration.current.clearAskRate * 100)}%.` : ""}`,
    );
  }
  lines.push(
    "",
    "## The judge's health",
    "",
    `Rule: ${judgeHealthRule}.`,
    "",
    `| ${judgeHealthHead.join(" | ")} |`,
    `| --- |${judgeHealthHead
      .slice(1)
      .map(() => " ---: |")
      .join("")}`,
  );
  for (const run of data.runs) lines.push(`| ${judgeHealthCells(run).map(mdCell).join(" | ")} |`);
  lines.push(
    "",
    "## Counts",
    "",
    "| run | items | errors (retried on the next run) | judge replies without a grade | engine failures | malformed benchmark rows | network in the sandbox | s per item (model / judge / tests) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  );
  for (const run of data.runs) {
    const noGrade = Object.values(run.metrics.byCategory).reduce((n, m) => n + (m?.noGrade ?? 0), 0);
    const failures = Object.values(run.metrics.byCategory).reduce((n, m) => n + (m?.failures ?? 0), 0);
    const s = run.seconds;
    lines.push(
      `| ${mdCell(run.name)} | ${run.items.evaluated}/${run.items.planned} | ${run.items.errors} | ${noGrade} | ${failures} | ${run.malformedRows.length} | ${mdCell(run.sandbox.network)} | ${fmt(s.item)} (${fmt(s.model)} / ${fmt(s.judge)} / ${fmt(s.tests)}) |`,
    );
  }
  for (const run of data.runs) {
    if (run.malformedRows.length === 0) continue;
    lines.push(
      "",
      `Malformed rows in ${mdCell(run.manifest.benchmark.file)}: ${run.malformedRows
        .slice(0, 20)
        .map((m) => `line ${m.line} (${mdCell(m.reason)})`)
        .join("; ")}${run.malformedRows.length > 20 ? "; ..." : ""}.`,
    );
  }
  return `${lines.join("\n")}\n`;
}
