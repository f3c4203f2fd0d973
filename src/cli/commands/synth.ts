/**
 * `clarifycoder synth`: rewrites code tasks to be ambiguous, inconsistent or incomplete and asks for the questions
 * that recover them, with a local GGUF model or an OpenAI-compatible endpoint. The output is append-only and
 * resumable: rerunning the same command skips finished items (written or rejected) and continues.
 */
import path from "node:path";
import { defaultFilterOptions } from "../../core/synthesis-filters.js";
import {
  clarifyKinds,
  clarifyRecordSchema,
  defaultSynthSettings,
  runSynthesis,
  synthJobs,
  synthPromptVersion,
  synthRejectionSchema,
  type ClarifyKind,
  type SynthRunResult,
  type SynthSettings,
} from "../../core/synthesis.js";
import { openModel, parseModelSpec, type OpenedModel } from "../../llm/models/open.js";
import { modelRanges, settingRanges } from "../../core/settings.js";
import { JsonlLog } from "../shared/jsonl-log.js";
import { gpuOption, loadFromOptions, modelOptionHelp, numberOption, toolkitRanges, UsageError } from "../shared/options.js";
import { startProgress } from "../shared/progress.js";
import { describeProblem, readTasks } from "../shared/task-files.js";
import type { Command } from "commander";

interface SynthOptions {
  tasks: string;
  model: string;
  out: string;
  rejected?: string;
  kinds?: string;
  limit?: number;
  seed?: number;
  temperature?: number;
  maxTokens?: number;
  maxQuestions?: number;
  concurrency?: number;
  retries?: number;
  gpu?: string;
  threads?: number;
  contextSize?: number;
  modelsDir?: string;
}

/** Exit codes: 0 done, 1 failed (or items the generator failed on), 2 bad options, 130 interrupted. */
const synthExit = { done: 0, failed: 1, usage: 2, interrupted: 130 } as const;

function kindsOf(value: string | undefined): ClarifyKind[] {
  if (value === undefined) return [...clarifyKinds];
  const kinds = value
    .split(",")
    .map((k) => k.trim().toLowerCase())
    .filter((k) => k !== "");
  const unknown = kinds.filter((k) => !(clarifyKinds as readonly string[]).includes(k));
  if (unknown.length > 0 || kinds.length === 0) throw new UsageError(`--kinds takes ${clarifyKinds.join(", ")} (got "${value}").`);
  return [...new Set(kinds)] as ClarifyKind[];
}

interface SynthPlan {
  kinds: ClarifyKind[];
  limit?: number;
  concurrency: number;
  retries: number;
  threads?: number;
  contextSize?: number;
  settings: Omit<SynthSettings, "generator">;
}

function planOf(options: SynthOptions): SynthPlan {
  return {
    kinds: kindsOf(options.kinds),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    concurrency: options.concurrency ?? 4,
    retries: options.retries ?? 5,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.contextSize !== undefined ? { contextSize: options.contextSize } : {}),
    settings: {
      ...defaultSynthSettings,
      temperature: options.temperature ?? defaultSynthSettings.temperature,
      seed: options.seed ?? defaultSynthSettings.seed,
      maxTokens: options.maxTokens ?? defaultSynthSettings.maxTokens,
      filters: { ...defaultFilterOptions, maxQuestions: options.maxQuestions ?? defaultFilterOptions.maxQuestions },
    },
  };
}

async function runSynth(options: SynthOptions): Promise<number> {
  const err = (line: string): void => void process.stderr.write(`${line}\n`);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let plan: SynthPlan;
  try {
    plan = planOf(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(error.message);
    return synthExit.usage;
  }
  const { kinds, limit, concurrency, retries, threads, contextSize, settings } = plan;

  const read = await readTasks(options.tasks).catch((error: unknown) => error as Error);
  if (read instanceof Error) {
    err(read.message);
    return synthExit.failed;
  }
  read.problems.forEach((p) => err(describeProblem(p)));
  const tasks = limit === undefined ? read.tasks : read.tasks.slice(0, limit);
  if (tasks.length === 0) {
    err(`No task could be read from ${options.tasks}.`);
    return synthExit.failed;
  }
  const jobs = synthJobs(tasks, kinds);

  const rejectedFile = options.rejected ?? options.out.replace(/(\.jsonl)?$/, ".rejected.jsonl");
  const output = await JsonlLog.open(options.out, { parse: (v) => clarifyRecordSchema.parse(v) });
  const rejections = await JsonlLog.open(rejectedFile, { parse: (v) => synthRejectionSchema.parse(v) });
  for (const [file, opened] of [
    [options.out, output],
    [rejectedFile, rejections],
  ] as const) {
    if (opened.cutBytes > 0) err(`${file}: cut off a half-written last line (${opened.cutBytes} bytes) left by an interrupted run.`);
    if (opened.unreadable.length > 0) err(`${file}: line(s) ${opened.unreadable.join(", ")} are not rows of this format; they are kept and ignored.`);
  }
  const finished = new Set([...output.rows.map((r) => r.id), ...rejections.rows.map((r) => r.id)]);
  const pending = jobs.filter((job) => !finished.has(job.id));
  const closeLogs = async (): Promise<void> => {
    await Promise.all([output.log.close(), rejections.log.close()]);
  };
  const planned = `${jobs.length} items (${tasks.length} tasks x ${kinds.length} kinds)`;
  if (pending.length === 0) {
    out(`Nothing to do: all ${planned} are done in ${options.out} and ${rejectedFile}.`);
    await closeLogs();
    return synthExit.done;
  }
  if (finished.size > 0) out(`Resuming: ${jobs.length - pending.length} of ${planned} already done.`);
  const otherVersions = [...new Set(output.rows.map((r) => r.promptVersion))].filter((v) => v !== synthPromptVersion);
  if (otherVersions.length > 0)
    err(`${options.out} has rows made with prompts ${otherVersions.join(", ")}; new rows use ${synthPromptVersion} (each row records its version).`);

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts > 1) process.exit(synthExit.interrupted);
    err("\nStopping: rows already written stay; rerun the same command to continue. (Ctrl+C again to quit at once)");
    controller.abort();
  };
  process.on("SIGINT", onSigint);

  let progress: ReturnType<typeof startProgress> | undefined;
  let opened: OpenedModel | undefined;
  let result: SynthRunResult | undefined;
  let download: ReturnType<typeof startProgress> | undefined;
  let downloaded = 0;
  try {
    if (parseModelSpec(options.model).kind === "local") out(`Loading ${options.model}...`);
    opened = await openModel(options.model, {
      workerPath: path.join(__dirname, "worker.mjs"),
      load: loadFromOptions({ gpu: options.gpu, threads, contextSize, modelsDirectory: options.modelsDir }),
      endpoint: {
        concurrency,
        retries,
        onRetry: ({ attempt, waitMs, reason }) => (progress ?? { log: err }).log(`retry ${attempt} in ${(waitMs / 1000).toFixed(1)} s: ${reason}`),
      },
      onLoadProgress: (event) => {
        if (event.kind !== "download" || event.total <= 0) return;
        // Counted in MB, so the rate reads as MB/s.
        download ??= startProgress({ label: "download (MB)", total: Math.ceil(event.total / 1e6) });
        const megabytes = Math.floor(event.loaded / 1e6);
        if (megabytes > downloaded) download.tick(megabytes - downloaded);
        downloaded = Math.max(downloaded, megabytes);
      },
      log: (level, message) => {
        if (level === "error") err(`model worker: ${message}`);
      },
    });
    download?.stop();
    download = undefined;
    const local = opened.spec.kind === "local";
    if (local && options.concurrency !== undefined && concurrency > 1) err("A local model generates one item at a time; --concurrency applies to endpoints.");
    out(`Generator: ${opened.label} (prompts ${synthPromptVersion}, seed ${settings.seed}, temperature ${settings.temperature}).`);
    progress = startProgress({ label: "synth", total: jobs.length, done: jobs.length - pending.length });
    const bar = progress;
    result = await runSynthesis({
      model: opened.model,
      jobs: pending,
      settings: { ...settings, generator: opened.label },
      concurrency: local ? 1 : concurrency,
      accepted: output.rows,
      signal: controller.signal,
      onOutcome: async (job, outcome) => {
        if (outcome.status === "accepted") await output.log.append(outcome.record);
        else if (outcome.status === "rejected") {
          await rejections.log.append(outcome.rejection);
          bar.log(`rejected ${job.id} (${outcome.rejection.step}): ${outcome.rejection.message}`);
        } else bar.log(`failed ${job.id}: ${outcome.error}`);
        bar.tick();
      },
    });
  } catch (error) {
    err(error instanceof Error ? error.message : String(error));
    return synthExit.failed;
  } finally {
    download?.stop();
    progress?.stop();
    process.off("SIGINT", onSigint);
    await closeLogs();
    await opened?.close();
  }

  const done = jobs.length - pending.length + result.accepted + result.rejected;
  out(
    `${result.accepted} written to ${options.out}, ${result.rejected} rejected (see ${rejectedFile}), ${result.failed} failed; ` +
      `${done} of ${planned} done.`,
  );
  if (result.stopped?.reason === "interrupted") {
    out("Interrupted: rerun the same command to continue.");
    return synthExit.interrupted;
  }
  if (result.stopped?.reason === "failing") {
    err(`Stopped: the generator failed on several items in a row. Last error: ${result.stopped.error}`);
    return synthExit.failed;
  }
  if (result.failed > 0) {
    err(`The generator failed on ${result.failed} item(s); rerun the same command to try them again.`);
    return synthExit.failed;
  }
  return synthExit.done;
}

/** Registers `clarifycoder synth` on the command line. */
export function registerSynth(program: Command): void {
  program
    .command("synth")
    .description("Rewrite code tasks to be ambiguous, inconsistent or incomplete, with the clarifying questions that recover them (resumable).")
    .requiredOption("-t, --tasks <path>", "an APPS folder (a folder per problem with question.txt), or APPS- or HumanEval-style JSONL")
    .requiredOption("-m, --model <model>", `the generator: ${modelOptionHelp}`)
    .requiredOption("-o, --out <file.jsonl>", "where rows are appended (rerun to resume)")
    .option("--rejected <file.jsonl>", "where rejected items go, with their reasons (default: <out>.rejected.jsonl)")
    .option("--kinds <list>", "which rewrites, comma-separated (default: ambiguous,inconsistent,incomplete)")
    .addOption(numberOption("--limit <n>", "only the first n tasks", toolkitRanges.limit))
    .addOption(numberOption("--seed <n>", "the run's seed: each turn's sampling seed derives from it (default 1)", toolkitRanges.seed))
    .addOption(numberOption("--temperature <t>", "sampling temperature (default 0.1, as in the paper)", settingRanges.temperature))
    .addOption(numberOption("--max-tokens <n>", "at most this many tokens per reply (default 1536)", settingRanges.maxCodeTokens))
    .addOption(numberOption("--max-questions <n>", "at most this many questions per item (default 5)", settingRanges.maxQuestions))
    .addOption(numberOption("--concurrency <n>", "endpoint requests at once (default 4; a local model runs one at a time)", toolkitRanges.concurrency))
    .addOption(numberOption("--retries <n>", "retries of a failed endpoint request, with backoff (default 5)", toolkitRanges.retries))
    .addOption(gpuOption("where a local model runs"))
    .addOption(numberOption("--threads <n>", "CPU threads (local models)", modelRanges.threads))
    .addOption(numberOption("--context-size <n>", "context size in tokens (local models)", modelRanges.contextSize))
    .option("--models-dir <dir>", "where downloaded models are kept")
    .action(async (options: SynthOptions) => {
      process.exitCode = await runSynth(options);
    });
}
