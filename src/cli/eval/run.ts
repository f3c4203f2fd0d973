/**
 * `clarifycoder eval`: HumanEvalComm end to end. Reads the benchmark, picks the items, runs each through the
 * protocol (paper or engine) with the judge, tests the code in the sandbox, and appends one row per item to
 * results.jsonl as it finishes. A second run in the same folder picks up where the first stopped: finished items are
 * never asked again; items that could not be evaluated are retried. Then summary.json, report.md and report.html.
 *
 * `clarifycoder eval report <run folders...>`: one report with several runs side by side.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { allCategories, isCategory, promptPreamble, readBenchmark, selectItems, type Category, type EvalItem } from "../../core/eval/benchmark.js";
import type { JudgeFormat } from "../../core/eval/judge.js";
import { runItem, type ModeSettings } from "../../core/eval/protocol.js";
import { answerSources, isAnswerSource, type AnswerSource } from "../../core/eval/reference-answers.js";
import { buildReportData, judgeWarnings, reportMarkdown } from "../../core/eval/report-data.js";
import { finishedIds, inItemOrder, latestRows, readEvalRow, type EvalRow } from "../../core/eval/results.js";
import { buildRunSummary, manifestDifferences, type RunManifest, type RunSummary } from "../../core/eval/summary.js";
import { readSettings } from "../../core/settings.js";
import { decideMethods, type ClarifySettings } from "../../core/types.js";
import { openModel, parseModelSpec, type OpenedModel } from "../../llm/models/open.js";
import type { LoadParams } from "../../llm/worker/protocol.js";
import { JsonlLog, parseJsonl } from "../shared/jsonl-log.js";
import { loadFromOptions, UsageError, type EngineOptions } from "../shared/options.js";
import { startProgress } from "../shared/progress.js";
import { renderReportHtml } from "./html.js";
import { versusText, type RunRows } from "../../core/eval/versus.js";
import { PythonSandbox } from "../../llm/sandbox/sandbox.js";

/** The options as commander hands them over (numbers already in their ranges), plus what tests set directly. */
export interface EvalOptions extends EngineOptions {
  benchmark: string;
  model: string;
  judge: string;
  out: string;
  mode?: string;
  categories?: string;
  limit?: number;
  seed?: number;
  concurrency?: number;
  judgeFormat?: string;
  judgeMaxTokens?: number;
  temperature?: number;
  caseTimeout?: number;
  memory?: number;
  python?: string;
  network?: boolean;
  /** Run the tested code unconfined where bubblewrap cannot confine it (`--unsafe-no-sandbox`). */
  unsafeNoSandbox?: boolean;
  /** Engine mode, `--ask auto`: decide by readings (candidates run in the sandbox) or by the model's probability. */
  decide?: string;
  /** Who answers the questions: the judge alone, or the reference solution where a question names a call. */
  answers?: string;
  maxClearAsk?: number;
  /** Run the tests again on the stored code of finished items (no model calls), e.g. after a sandbox change. */
  retest?: boolean;
  /** The bundled model worker (default: next to the CLI bundle). */
  workerPath?: string;
  /** Where progress and messages go (default stderr/stdout). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WriteStream;
  /** For tests: stops the run as Ctrl-C would. */
  signal?: AbortSignal;
}

/** The defaults of eval's numeric options (the command line shows them in its help). */
export const evalDefaults = { seed: 0, maxTokens: 1024, temperature: 0, judgeMaxTokens: 512, caseTimeout: 3, memory: 1024, maxClearAsk: 0.1 } as const;

function parseCategories(value: string | undefined): Category[] {
  if (value === undefined || value.trim() === "" || value.trim() === "all") return [...allCategories];
  const wanted = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = wanted.filter((c) => !isCategory(c));
  if (unknown.length > 0)
    throw new UsageError(
      `Unknown categor${unknown.length > 1 ? "ies" : "y"} ${unknown.map((u) => `"${u}"`).join(", ")}: use ${allCategories.join(", ")} (or all).`,
    );
  return allCategories.filter((c) => wanted.includes(c));
}

interface Plan {
  mode: ModeSettings;
  judgeFormat: JudgeFormat;
  judgeMaxTokens: number;
  categories: Category[];
  limit?: number;
  seed: number;
  concurrency: number;
  caseTimeoutMs: number;
  memoryMb: number;
  maxClearAskRate: number;
  /** Whether the engine gets the sandbox to decide by readings. */
  readings: boolean;
  answers: AnswerSource;
  load: Omit<LoadParams, "model">;
}

function readingsOf(decide: string | undefined, mode: string): boolean {
  if (decide === undefined) return mode === "engine";
  if (!(decideMethods as readonly string[]).includes(decide)) throw new UsageError(`--decide must be ${decideMethods.join(" or ")} (got "${decide}").`);
  if (mode !== "engine") throw new UsageError("--decide only applies with --mode engine.");
  return decide === "readings";
}

/** Checks every option before anything slow starts: a typo should not cost an hour. */
export function planOf(o: EvalOptions): Plan {
  const missing = (["benchmark", "model", "judge", "out"] as const).filter((k) => typeof o[k] !== "string" || o[k].trim() === "");
  if (missing.length > 0)
    throw new UsageError(`Missing ${missing.map((k) => `--${k}`).join(", ")}: eval needs the benchmark file, the model, the judge and an output folder.`);
  const modeName = o.mode ?? "paper";
  if (modeName !== "paper" && modeName !== "engine") throw new UsageError(`--mode must be paper or engine (got "${modeName}").`);
  const judgeFormat = o.judgeFormat ?? "json";
  if (judgeFormat !== "json" && judgeFormat !== "text") throw new UsageError(`--judge-format must be json or text (got "${judgeFormat}").`);
  const maxTokens = o.maxTokens ?? evalDefaults.maxTokens;
  const temperature = o.temperature ?? evalDefaults.temperature;
  let mode: ModeSettings;
  if (modeName === "engine") {
    const { settings, problems } = readSettings({
      style: o.style,
      askPolicy: o.ask,
      askThreshold: o.threshold,
      maxQuestions: o.maxQuestions,
      maxRounds: o.maxRounds,
      maxCodeTokens: maxTokens,
      temperature,
    });
    if (problems.length > 0) throw new UsageError(`Invalid engine settings: ${problems.join(" ")}`);
    mode = { mode: "engine", engine: settings satisfies ClarifySettings };
  } else {
    const engineOnly = (["style", "ask", "threshold", "maxQuestions", "maxRounds"] as const).filter((k) => o[k] !== undefined);
    if (engineOnly.length > 0)
      throw new UsageError(`${engineOnly.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ")} only apply with --mode engine.`);
    mode = { mode: "paper", paper: { maxTokens, temperature } };
  }
  const answers = o.answers ?? "judge";
  if (!isAnswerSource(answers)) throw new UsageError(`--answers must be ${answerSources.join(" or ")} (got "${answers}").`);
  const limit = o.limit;
  const endpoint = parseModelSpec(o.model).kind === "endpoint";
  const concurrency = o.concurrency ?? (endpoint ? 8 : 1);
  return {
    mode,
    judgeFormat,
    judgeMaxTokens: o.judgeMaxTokens ?? evalDefaults.judgeMaxTokens,
    categories: parseCategories(o.categories),
    ...(limit !== undefined ? { limit } : {}),
    seed: o.seed ?? evalDefaults.seed,
    concurrency,
    caseTimeoutMs: (o.caseTimeout ?? evalDefaults.caseTimeout) * 1000,
    memoryMb: o.memory ?? evalDefaults.memory,
    maxClearAskRate: o.maxClearAsk ?? evalDefaults.maxClearAsk,
    readings: readingsOf(o.decide, modeName),
    answers,
    load: loadFromOptions({
      gpu: o.gpu,
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(o.contextSize !== undefined ? { contextSize: o.contextSize } : {}),
      // One sequence for each item's conversation and one for its judge, per item in flight.
      sequences: Math.max(2, concurrency * 2),
    }),
  };
}

/** The readable rows of a results.jsonl text (a half-written last line is skipped). */
const readRows = (text: string): EvalRow[] => parseJsonl(text, readEvalRow).rows;

/** A model as a resumed run must find it again: the file, or the endpoint's model name wherever it is served. */
function modelIdentity(spec: string): string {
  const parsed = parseModelSpec(spec);
  return parsed.kind === "local" ? parsed.model : `endpoint model ${parsed.model ?? "(the first the server lists)"}`;
}

const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, "utf8")) as T;

/** Writes summary.json, report.md and report.html for the given runs into `dir`. */
async function writeReports(dir: string, summaries: RunSummary[], rowsByRun: { run: string; rows: EvalRow[] }[], htmlName = "report.html"): Promise<string> {
  const data = buildReportData(summaries);
  await writeFile(path.join(dir, htmlName.replace(/\.html?$/i, "") + ".md"), reportMarkdown(data));
  const html = path.join(dir, htmlName);
  await writeFile(html, renderReportHtml(data, rowsByRun));
  return html;
}

const pct = (x: number | undefined): string => (x === undefined ? "-" : `${(x * 100).toFixed(1)}%`);

export async function runEval(o: EvalOptions): Promise<number> {
  const out = o.stdout ?? process.stdout;
  const err = o.stderr ?? process.stderr;
  const say = (line: string): void => void out.write(`${line}\n`);
  const warn = (line: string): void => void err.write(`${line}\n`);
  const plan = planOf(o);

  if (!existsSync(o.benchmark)) throw new Error(`The benchmark file ${o.benchmark} does not exist.`);
  const text = await readFile(o.benchmark, "utf8");
  const benchmark = readBenchmark(text);
  if (benchmark.malformed.length > 0) {
    const first = benchmark.malformed
      .slice(0, 3)
      .map((m) => `line ${m.line}: ${m.reason}`)
      .join("; ");
    warn(
      `${benchmark.malformed.length} malformed row(s) in ${o.benchmark} skipped (${first}${benchmark.malformed.length > 3 ? "; ..." : ""}); all are listed in summary.json.`,
    );
  }
  if (benchmark.problems.length === 0) throw new Error(`${o.benchmark} has no usable HumanEvalComm rows.`);
  const items = selectItems(benchmark.problems, { categories: plan.categories, ...(plan.limit !== undefined ? { limit: plan.limit } : {}), seed: plan.seed });
  if (items.length === 0) throw new Error(`${o.benchmark} has no prompts in the categories ${plan.categories.join(", ")}.`);

  await mkdir(o.out, { recursive: true });
  const manifestFile = path.join(o.out, "run.json");
  const manifest: RunManifest = {
    version: 1,
    benchmark: { file: path.basename(o.benchmark), sha256: createHash("sha256").update(text).digest("hex"), problems: benchmark.problems.length },
    mode: plan.mode.mode,
    modelSpec: o.model,
    judgeSpec: o.judge,
    modelId: modelIdentity(o.model),
    judgeId: modelIdentity(o.judge),
    judgeFormat: plan.judgeFormat,
    judgeMaxTokens: plan.judgeMaxTokens,
    ...(plan.mode.mode === "paper" ? { paper: plan.mode.paper } : { engine: plan.mode.engine, readings: plan.readings }),
    ...(plan.answers !== "judge" ? { answers: plan.answers } : {}),
    categories: plan.categories,
    ...(plan.limit !== undefined ? { limit: plan.limit } : {}),
    seed: plan.seed,
    modelLabel: o.model,
    judgeLabel: o.judge,
    createdAt: new Date().toISOString(),
  };
  let stored: RunManifest | undefined;
  if (existsSync(manifestFile)) {
    stored = await readJson<RunManifest>(manifestFile);
    const differences = manifestDifferences(stored, manifest);
    if (differences.length > 0)
      throw new Error(`${o.out} holds a run with other settings (${differences.join("; ")}). Use another --out folder, or the same settings to resume it.`);
  }

  const opened = await JsonlLog.open<EvalRow>(path.join(o.out, "results.jsonl"), { parse: readEvalRow });
  if (opened.cutBytes > 0) warn(`results.jsonl ended in a half-written line (${opened.cutBytes} bytes, from an interrupted run): removed.`);
  if (opened.unreadable.length > 0)
    warn(`results.jsonl has ${opened.unreadable.length} unreadable line(s) (${opened.unreadable.slice(0, 5).join(", ")}): their items are evaluated again.`);
  const rows: EvalRow[] = [...opened.rows];
  const finished = finishedIds(rows);
  const todo = items.filter((i) => !finished.has(i.id));
  if (finished.size > 0) say(`Resuming: ${items.length - todo.length} of ${items.length} items are already done.`);

  const sandbox = await PythonSandbox.create({
    caseTimeoutMs: plan.caseTimeoutMs,
    memoryMb: plan.memoryMb,
    ...(o.python ? { python: o.python } : {}),
    ...(o.network === false ? { isolateNetwork: false } : {}),
    ...(o.unsafeNoSandbox === true ? { allowUnconfined: true } : {}),
  });
  if (!sandbox.info.network.startsWith("isolated")) warn(`Sandbox: network ${sandbox.info.network}.`);

  if (o.retest) {
    const byId = new Map(items.map((i) => [i.id, i]));
    const stored = latestRows(rows).filter((r) => r.error === undefined && byId.has(r.id));
    const progress = startProgress({ label: "retest", total: stored.length, stream: err });
    let changed = 0;
    await Promise.all(
      stored.map(async (r) => {
        const item = byId.get(r.id) as EvalItem;
        const start = Date.now();
        const tests = await sandbox.run(r.code, { ...item, preamble: promptPreamble(item.original, item.entryPoint) });
        progress.tick();
        if (JSON.stringify(tests) === JSON.stringify(r.tests)) return;
        changed += 1;
        const updated: EvalRow = { ...r, tests, ms: { ...r.ms, tests: Date.now() - start } };
        await opened.log.append(updated);
        rows.push(updated);
      }),
    );
    progress.stop();
    say(`Tested the stored code of ${stored.length} items again: ${changed} outcome(s) changed.`);
  }

  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    warn("\nStopping after the items in progress are cut short; finished items are saved (Ctrl+C again to quit now).");
    controller.abort();
  };
  o.signal?.addEventListener("abort", () => controller.abort(), { once: true });
  process.on("SIGINT", onSigint);
  const models: OpenedModel[] = [];
  try {
    if (todo.length > 0) {
      const workerPath = o.workerPath ?? path.join(__dirname, "worker.mjs");
      const open = (spec: string): Promise<OpenedModel> =>
        openModel(spec, {
          workerPath,
          load: plan.load,
          endpoint: {
            concurrency: plan.concurrency,
            onRetry: ({ attempt, waitMs, reason }) => warn(`retry ${attempt} in ${Math.round(waitMs)} ms: ${reason}`),
          },
          log: (level, message) => {
            if (level === "error") warn(`model worker: ${message}`);
          },
        });
      say(`Loading ${o.model}...`);
      const model = await open(o.model);
      models.push(model);
      // The same model as its own judge shares one worker (one copy in memory).
      const judge = o.judge === o.model ? model : await open(o.judge);
      if (judge !== model) models.push(judge);
      manifest.modelLabel = model.label;
      manifest.judgeLabel = judge.label;
      if (!stored) await writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
      say(`${plan.mode.mode} mode: ${todo.length} items to evaluate with ${model.label}, judged by ${judge.label}.`);
      const progress = startProgress({ label: "eval", total: items.length, done: items.length - todo.length, stream: err });
      const limit = pLimit(plan.concurrency);
      const evaluate = async (item: EvalItem): Promise<void> => {
        if (controller.signal.aborted) return;
        try {
          const row = await runItem(item, plan.mode, {
            model: model.model,
            judge: judge.model,
            judgeFormat: plan.judgeFormat,
            judgeMaxTokens: plan.judgeMaxTokens,
            runTests: (code, it) => sandbox.run(code, { ...it, preamble: promptPreamble(it.original, it.entryPoint) }),
            ...(plan.readings ? { runner: sandbox } : {}),
            ...(plan.answers === "reference" ? { reference: sandbox } : {}),
            signal: controller.signal,
          });
          await opened.log.append(row);
          rows.push(row);
          if (row.error !== undefined) progress.log(`${item.id}: not evaluated (${row.error})`);
          progress.tick();
        } catch (error) {
          if (!controller.signal.aborted) progress.log(`${item.id}: ${error instanceof Error ? error.message : String(error)}`);
        }
      };
      await Promise.all(todo.map((item) => limit(() => evaluate(item))));
      progress.stop();
    } else if (!stored) {
      await writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    }
  } finally {
    process.off("SIGINT", onSigint);
    await opened.log.close();
    for (const m of models) await m.close().catch(() => undefined);
  }

  const finalManifest = stored ?? manifest;
  const wanted = new Set(items.map((i) => i.id));
  const runRows = inItemOrder(latestRows(rows).filter((r) => wanted.has(r.id)));
  const summary = buildRunSummary({
    name: path.basename(path.resolve(o.out)),
    manifest: finalManifest,
    rows: runRows,
    planned: items.length,
    malformedRows: benchmark.malformed,
    sandbox: sandbox.info,
    maxClearAskRate: plan.maxClearAskRate,
  });
  await writeFile(path.join(o.out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const html = await writeReports(o.out, [summary], [{ run: summary.name, rows: runRows }]);

  const m = summary.metrics;
  say(
    `Modified prompts (${m.modified?.items ?? 0}): communication ${pct(m.modified?.communicationRate)}, good questions ${pct(m.modified?.goodQuestionRate)}, pass@1 ${pct(m.modified?.pass1)}, test pass rate ${pct(m.modified?.testPassRate)}. No-code first replies (ours): ${pct(m.modified?.noCodeRate)}.`,
  );
  if (m.original)
    say(
      `Original prompts (${m.original.items}): asks ${pct(m.original.noCodeRate)}, pass@1 ${pct(m.original.pass1)}, test pass rate ${pct(m.original.testPassRate)}.`,
    );
  for (const w of judgeWarnings([summary])) warn(`Warning: ${w}`);
  if (!("unavailable" in summary.calibration))
    say(`Suggested clarifycoder.askThreshold for this model: ${summary.calibration.suggestion.threshold.toFixed(3)}.`);
  say(`Report: ${html}`);
  if (controller.signal.aborted) {
    warn(`Stopped: ${summary.items.evaluated} of ${items.length} items are done; run the same command again to go on.`);
    return 130;
  }
  if (summary.items.evaluated < items.length) {
    warn(`${items.length - summary.items.evaluated} item(s) could not be evaluated (see summary.json); run the same command again to retry them.`);
    return 1;
  }
  return 0;
}

/** How an engine run decided to ask, in words (the method and the threshold used). */
function decisionOf(manifest: RunManifest): string {
  const e = manifest.engine;
  if (!e) return "bare model";
  if (e.askPolicy !== "auto") return `ask ${e.askPolicy}`;
  if (e.style === "native") return "native style: the fine-tuned model's reply is code or questions";
  return manifest.readings === true
    ? "decided by readings (candidates run on the request's examples and the model's calls)"
    : `decided by the ask probability, threshold ${e.askThreshold}`;
}

/** `eval report`: several runs side by side in one report. */
export async function runEvalReport(folders: readonly string[], options: { out: string; stdout?: NodeJS.WritableStream }): Promise<number> {
  const summaries: RunSummary[] = [];
  const tables: { run: string; rows: EvalRow[] }[] = [];
  const names = new Set<string>();
  for (const folder of folders) {
    const file = path.join(folder, "summary.json");
    if (!existsSync(file)) throw new Error(`${folder} has no summary.json: is it the --out folder of an eval run?`);
    const summary = await readJson<RunSummary>(file);
    // Two runs with the same folder name get told apart.
    let name = summary.name;
    for (let n = 2; names.has(name); n++) name = `${summary.name} (${n})`;
    names.add(name);
    summaries.push({ ...summary, name });
    const results = path.join(folder, "results.jsonl");
    // Read only: the run may still be going on in that folder.
    if (existsSync(results)) tables.push({ run: name, rows: inItemOrder(latestRows(readRows(await readFile(results, "utf8")))) });
  }
  const target = path.resolve(options.out);
  await mkdir(path.dirname(target), { recursive: true });
  const html = await writeReports(path.dirname(target), summaries, tables, path.basename(target));
  const out = options.stdout ?? process.stdout;
  // A bare run beside an engine run: the engine's four promises, measured on the items both finished.
  const runOf = (mode: "paper" | "engine"): RunRows | undefined => {
    const i = summaries.findIndex((x) => x.manifest.mode === mode);
    const summary = summaries[i];
    const table = tables.find((t) => t.run === summary?.name);
    if (!summary || !table) return undefined;
    const judge = summary.manifest.judgeLabel + (summary.manifest.answers === "reference" ? " (calls answered by the reference solution)" : "");
    return { name: summary.name, rows: table.rows, judge, decision: decisionOf(summary.manifest) };
  };
  const bare = runOf("paper");
  const engine = runOf("engine");
  if (bare && engine) {
    const answersOf = (mode: "paper" | "engine"): AnswerSource => summaries.find((x) => x.manifest.mode === mode)?.manifest.answers ?? "judge";
    if (answersOf("paper") !== answersOf("engine"))
      out.write(`Note: the two runs were answered differently (bare: --answers ${answersOf("paper")}, engine: --answers ${answersOf("engine")}).\n`);
    out.write(`${versusText(bare, engine)}\n\n`);
  }
  out.write(`Report: ${html}\n`);
  return 0;
}
