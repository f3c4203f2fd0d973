/**
 * `clarifycoder mix`: the original tasks (with their reference solutions) and the clarify set mixed at a ratio, split
 * into train and validation, written as chat JSONL, as the paper's v4 text and as the authors' `{problem, answer, type}`
 * records, with ready TRL and axolotl configs for both loss variants on the v4 and the chat data. `--paper` picks the
 * paper's mix (20:80 unless --ratio says otherwise, their never-repeating split), loss (every token) and format (raw
 * code) together.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { formatRatio, mixExamples, parseRatio, samplingModes, type Mix, type Sampling } from "../../core/mixing.js";
import { clarifyRecordSchema, type ClarifyRecord } from "../../core/synthesis.js";
import {
  axolotlConfig,
  chatRow,
  clarifyExample,
  codeFormats,
  configFile,
  lossLabels,
  lossVariants,
  originalExample,
  paperLoss,
  paperRecord,
  trlConfig,
  v4Row,
  type CodeFormat,
  type ConfigData,
  type LossVariant,
  type TrainingExample,
  type TrainingSetup,
} from "../../core/training-export.js";
import { numberOption, repeatableOption, toolkitRanges } from "../shared/options.js";
import { describeProblem, readTasks } from "../shared/task-files.js";
import { Option, type Command } from "commander";

interface MixOptions {
  tasks: string;
  clarify: string[];
  /** Required unless --paper (which defaults to 20:80, the released adapters' split). */
  ratio?: string;
  /** Required unless --paper (which means paper-oversample). */
  sampling?: string;
  /** The paper's mix, loss and format together. */
  paper?: boolean;
  /** fenced (default) or raw (the paper's; the default with --paper). */
  codeFormat?: string;
  out: string;
  validation?: number;
  seed?: number;
  baseModel?: string;
  maxLength?: number;
}

const defaultBaseModel = "deepseek-ai/deepseek-coder-6.7b-instruct";

/** The clarify records of a synth output file; unreadable lines are reported by line number. */
async function readClarify(file: string): Promise<{ records: ClarifyRecord[]; problems: string[] }> {
  const text = await readFile(file, "utf8");
  const records: ClarifyRecord[] = [];
  const problems: string[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    let parsed;
    try {
      parsed = clarifyRecordSchema.safeParse(JSON.parse(line));
    } catch {
      problems.push(`skipped ${path.basename(file)}:${index + 1}: not valid JSON.`);
      return;
    }
    if (parsed.success) records.push(parsed.data);
    else
      problems.push(
        `skipped ${path.basename(file)}:${index + 1}: not a clarify record (${parsed.error.issues[0]?.path.join(".") || "shape"}: ${parsed.error.issues[0]?.message ?? "invalid"}).`,
      );
  });
  return { records, problems };
}

const jsonl = (rows: readonly unknown[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

const configHeader = (tool: string, variant: LossVariant, data: ConfigData, command: string, evaluate: boolean): string =>
  `# ${tool}, ${lossLabels[variant]}, on the ${data === "chat" ? "chat messages" : "v4 data"} of this folder. Run from this folder on a GPU machine:\n#   ${command}\n` +
  `# LoRA and schedule as in the ClarifyCoder paper. Set the base model to train another; bf16 needs an Ampere or newer GPU (else use fp16).\n` +
  (evaluate ? "" : "# No validation split (--validation 0): this config does not evaluate.\n") +
  (data === "chat" && variant === "answer-only"
    ? `# ${tool === "TRL SFT" ? "assistant_only_loss needs a chat template that marks the assistant's part ({% generation %})" : "roles_to_train picks the assistant's turns"}.\n`
    : "");

async function runMix(options: MixOptions): Promise<number> {
  const err = (line: string): void => void process.stderr.write(`${line}\n`);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let ratio, validationShare, seed, maxLength, sampling: Sampling, codeFormat: CodeFormat;
  try {
    if (options.ratio === undefined && !options.paper) throw new Error("--ratio is required (such as 20:80), or --paper for the paper's 20:80.");
    ratio = parseRatio(options.ratio ?? "20:80");
    const samplingText = options.sampling ?? (options.paper ? "paper-oversample" : undefined);
    if (samplingText === undefined) throw new Error(`--sampling is required (${samplingModes.join(", ")}), or --paper for the paper's.`);
    if (!samplingModes.includes(samplingText as Sampling)) throw new Error(`--sampling must be ${samplingModes.join(", ")} (got "${samplingText}").`);
    if (options.paper && samplingText !== "paper-oversample")
      throw new Error(`--paper takes the paper's sampling (paper-oversample); drop --sampling ${samplingText}, or --paper.`);
    sampling = samplingText as Sampling;
    const formatText = options.codeFormat ?? (options.paper ? "raw" : "fenced");
    if (!(codeFormats as readonly string[]).includes(formatText)) throw new Error(`--code-format must be ${codeFormats.join(" or ")} (got "${formatText}").`);
    codeFormat = formatText as CodeFormat;
    validationShare = options.validation ?? 0.1;
    // A share of 1 would leave nothing to train on.
    if (validationShare === 1) throw new Error(`--validation must be less than 1 (got "${options.validation}").`);
    seed = options.seed ?? 1;
    maxLength = options.maxLength ?? 2048;
  } catch (error) {
    err((error as Error).message);
    return 2;
  }

  let tasks;
  const clarify: ClarifyRecord[] = [];
  try {
    tasks = await readTasks(options.tasks);
    tasks.problems.forEach((p) => err(describeProblem(p)));
    for (const file of options.clarify) {
      const read = await readClarify(file);
      read.problems.forEach(err);
      clarify.push(...read.records);
    }
  } catch (error) {
    err(error instanceof Error ? error.message : String(error));
    return 1;
  }
  const originals = tasks.tasks.map(originalExample).filter((e): e is TrainingExample => e !== undefined);
  const withoutSolution = tasks.tasks.length - originals.length;
  // A record made twice (two synth files) counts once.
  const clarifyExamples = [...new Map(clarify.map((r) => [r.id, clarifyExample(r)])).values()];
  if (originals.length + clarifyExamples.length === 0) {
    err("Nothing to mix: no task with a solution and no clarify record.");
    return 1;
  }

  const mix: Mix<TrainingExample> = mixExamples({
    original: originals,
    clarify: clarifyExamples,
    sourceOf: (e) => e.source,
    ratio,
    sampling,
    validationShare,
    seed,
  });

  // No validation split at all with --validation 0: empty files would be read as an empty split to evaluate on.
  const evaluate = validationShare > 0;
  const setup: TrainingSetup = { baseModel: options.baseModel ?? defaultBaseModel, maxLength, seed, v4Dir: "v4", chatDir: "chat", evaluate };
  const files: [string, string][] = [];
  for (const split of evaluate ? (["train", "validation"] as const) : (["train"] as const)) {
    const examples = mix[split].examples;
    files.push(
      [`chat/${split}.jsonl`, jsonl(examples.map((e) => chatRow(e, codeFormat)))],
      [`v4/${split}.jsonl`, jsonl(examples.map((e) => v4Row(e, codeFormat)))],
      [`paper/${split}.jsonl`, jsonl(examples.map(paperRecord))],
    );
  }
  for (const data of ["v4", "chat"] as const) {
    for (const variant of lossVariants) {
      const trlFile = configFile("trl", variant, data);
      const axolotlFile = configFile("axolotl", variant, data);
      files.push(
        [trlFile, configHeader("TRL SFT", variant, data, `trl sft --config ${trlFile}`, evaluate) + stringify(trlConfig(variant, setup, data))],
        [axolotlFile, configHeader("axolotl", variant, data, `axolotl train ${axolotlFile}`, evaluate) + stringify(axolotlConfig(variant, setup, data))],
      );
    }
  }
  const summary = {
    ratio: formatRatio(ratio),
    sampling,
    paper: options.paper === true,
    codeFormat,
    paperLoss,
    seed,
    validationShare,
    inputs: {
      tasks: tasks.tasks.length,
      withoutSolution,
      clarifyRecords: clarifyExamples.length,
      promptVersions: [...new Set(clarify.map((r) => r.promptVersion))],
    },
    train: {
      original: mix.train.original,
      clarify: mix.train.clarify,
      total: mix.train.examples.length,
      tasks: mix.train.sources,
      available: mix.train.available,
    },
    validation: {
      original: mix.validation.original,
      clarify: mix.validation.clarify,
      total: mix.validation.examples.length,
      tasks: mix.validation.sources,
      available: mix.validation.available,
    },
  };
  files.push(["mix.json", `${JSON.stringify(summary, null, 2)}\n`]);
  try {
    for (const [name, text] of files) {
      const file = path.join(options.out, name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
    }
  } catch (error) {
    err(`Could not write ${options.out}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }

  out(
    `Mix ${formatRatio(ratio)} (original:clarify, ${sampling}), seed ${seed}, from ${tasks.tasks.length} tasks (${withoutSolution} without a solution) and ${clarifyExamples.length} clarify records:`,
  );
  for (const split of ["train", "validation"] as const) {
    const s = mix[split];
    out(
      `  ${split.padEnd(10)} ${String(s.original).padStart(5)} original + ${String(s.clarify).padStart(5)} clarify = ${String(s.examples.length).padStart(5)} examples` +
        ` from ${s.sources} tasks (had ${s.available.original} + ${s.available.clarify})`,
    );
  }
  const splits = evaluate ? "train.jsonl, validation.jsonl" : "train.jsonl only: --validation 0, configs without evaluation";
  out(
    `Wrote ${options.out}: chat/, v4/ and paper/ ({problem, answer, type}) (${splits}; code ${codeFormat}), configs/ (TRL and axolotl, on v4 and chat, ${lossVariants.join(" and ")}), mix.json.`,
  );
  out(
    `Train on a GPU machine with ${lossLabels[paperLoss]}: cd ${options.out} && trl sft --config ${configFile("trl", paperLoss)} (or: axolotl train ${configFile("axolotl", paperLoss)})`,
  );
  return 0;
}

/** Registers `clarifycoder mix` on the command line. */
export function registerMix(program: Command): void {
  program
    .command("mix")
    .description("Mix the original tasks with the clarify set at a ratio, split it, and export it for fine-tuning (chat and v4 text, TRL and axolotl configs).")
    .requiredOption("-t, --tasks <path>", "the tasks, with reference solutions (same layouts as synth)")
    .addOption(repeatableOption("-c, --clarify <file.jsonl>", "a synth output file (repeat the option for more)").makeOptionMandatory())
    .option("-r, --ratio <original:clarify>", "such as 20:80 (required unless --paper, which takes 20:80)")
    .addOption(
      new Option(
        "-s, --sampling <mode>",
        "meet the ratio by dropping from the larger share, repeating the smaller, or as the paper's script (never repeats); required unless --paper",
      ).choices(["downsample", "oversample", "paper-oversample"]),
    )
    .option("--paper", "the paper's mix (20:80 unless --ratio, paper-oversample), loss (every token) and format (raw code) together")
    .addOption(
      new Option("--code-format <format>", "an original's code in the answers: fenced (default) or raw (the paper's, the default with --paper)").choices([
        "fenced",
        "raw",
      ]),
    )
    .requiredOption("-o, --out <folder>", "where the export goes")
    .addOption(numberOption("--validation <share>", "share of tasks held out for validation (default 0.1)", toolkitRanges.share))
    .addOption(numberOption("--seed <n>", "seed for the split and the sampling (default 1)", toolkitRanges.seed))
    .option("--base-model <id>", `the model the configs train (default ${defaultBaseModel})`)
    .addOption(numberOption("--max-length <n>", "sequence length in the configs (default 2048)", toolkitRanges.maxLength))
    .action(async (options: MixOptions) => {
      process.exitCode = await runMix(options);
    });
}
