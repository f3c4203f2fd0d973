/**
 * `clarifycoder mix`: the original tasks (with their reference solutions) and the clarify set mixed at a ratio, split
 * into train and validation, written as chat JSONL and as the paper's v4 text, with ready TRL and axolotl configs for
 * both loss variants.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { formatRatio, mixExamples, parseRatio, samplingModes, type Mix, type Sampling } from "../core/mixing.js";
import { clarifyRecordSchema, type ClarifyRecord } from "../core/synthesis.js";
import {
  axolotlConfig,
  chatRow,
  clarifyExample,
  lossVariants,
  originalExample,
  trlConfig,
  v4Row,
  type TrainingExample,
  type TrainingSetup,
} from "../core/training-export.js";
import { numberFromText, toolkitRanges } from "./options.js";
import { describeProblem, readTasks } from "./task-files.js";

export interface MixOptions {
  tasks: string;
  clarify: string[];
  ratio: string;
  sampling: string;
  out: string;
  validation?: string;
  seed?: string;
  baseModel?: string;
  maxLength?: string;
}

export const defaultBaseModel = "deepseek-ai/deepseek-coder-6.7b-instruct";

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
    else problems.push(`skipped ${path.basename(file)}:${index + 1}: not a clarify record (${parsed.error.issues[0]?.path.join(".") || "shape"}: ${parsed.error.issues[0]?.message ?? "invalid"}).`);
  });
  return { records, problems };
}

const jsonl = (rows: readonly unknown[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

const configHeader = (tool: string, variant: string, command: string): string =>
  `# ${tool}, ${variant} loss, on the v4 data of this folder. Run from this folder on a GPU machine:\n#   ${command}\n` +
  `# LoRA and schedule as in the ClarifyCoder paper. Set the base model to train another; bf16 needs an Ampere or newer GPU (else use fp16).\n`;

export async function runMix(options: MixOptions): Promise<number> {
  const err = (line: string): void => void process.stderr.write(`${line}\n`);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let ratio, validationShare, seed, maxLength;
  try {
    ratio = parseRatio(options.ratio);
    if (!samplingModes.includes(options.sampling as Sampling)) throw new Error(`--sampling must be ${samplingModes.join(" or ")} (got "${options.sampling}").`);
    validationShare = numberFromText("--validation", options.validation, toolkitRanges.share, 0.1);
    // A share of 1 would leave nothing to train on.
    if (validationShare === 1) throw new Error(`--validation must be less than 1 (got "${options.validation}").`);
    seed = numberFromText("--seed", options.seed, toolkitRanges.seed, 1);
    maxLength = numberFromText("--max-length", options.maxLength, toolkitRanges.maxLength, 2048);
  } catch (error) {
    err((error as Error).message);
    return 2;
  }
  const sampling = options.sampling as Sampling;

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

  const setup: TrainingSetup = { baseModel: options.baseModel ?? defaultBaseModel, maxLength, seed, v4Dir: "v4" };
  const files: [string, string][] = [];
  for (const split of ["train", "validation"] as const) {
    files.push([`chat/${split}.jsonl`, jsonl(mix[split].examples.map(chatRow))], [`v4/${split}.jsonl`, jsonl(mix[split].examples.map(v4Row))]);
  }
  for (const variant of lossVariants) {
    const trlFile = `configs/trl-${variant}.yaml`;
    const axolotlFile = `configs/axolotl-${variant}.yaml`;
    files.push(
      [trlFile, configHeader("TRL SFT", variant, `trl sft --config ${trlFile}`) + stringify(trlConfig(variant, setup))],
      [axolotlFile, configHeader("axolotl", variant, `axolotl train ${axolotlFile}`) + stringify(axolotlConfig(variant, setup))],
    );
  }
  const summary = {
    ratio: formatRatio(ratio),
    sampling,
    seed,
    validationShare,
    inputs: { tasks: tasks.tasks.length, withoutSolution, clarifyRecords: clarifyExamples.length, promptVersions: [...new Set(clarify.map((r) => r.promptVersion))] },
    train: { original: mix.train.original, clarify: mix.train.clarify, total: mix.train.examples.length, tasks: mix.train.sources, available: mix.train.available },
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

  out(`Mix ${formatRatio(ratio)} (original:clarify, ${sampling}), seed ${seed}, from ${tasks.tasks.length} tasks (${withoutSolution} without a solution) and ${clarifyExamples.length} clarify records:`);
  for (const split of ["train", "validation"] as const) {
    const s = mix[split];
    out(
      `  ${split.padEnd(10)} ${String(s.original).padStart(5)} original + ${String(s.clarify).padStart(5)} clarify = ${String(s.examples.length).padStart(5)} examples` +
        ` from ${s.sources} tasks (had ${s.available.original} + ${s.available.clarify})`,
    );
  }
  out(`Wrote ${options.out}: chat/ and v4/ (train.jsonl, validation.jsonl), configs/ (TRL and axolotl, answer-only and prompt-and-answer), mix.json.`);
  out(`Train on a GPU machine: cd ${options.out} && trl sft --config configs/trl-answer-only.yaml (or: axolotl train configs/axolotl-answer-only.yaml)`);
  return 0;
}
