/**
 * The training export: examples from tasks (the original set) and from clarify records, written as chat messages and
 * as the paper's v4 raw text, plus ready configs for TRL and axolotl with either loss variant. The v4 strings come
 * from prompts.ts, the one definition that native inference uses too.
 */
import { nativeCompletion, nativeQuestionPrompt, nativeTaskPrompt, type NativeAnswer } from "./prompts.js";
import type { ClarifyKind, ClarifyRecord } from "./synthesis.js";
import type { CodeTask } from "./tasks.js";

/** The paper's record types. */
export type ExampleType = "Original" | "Ambiguous" | "Inconsistent" | "Incomplete";

const typeOfKind: Record<ClarifyKind, ExampleType> = { ambiguous: "Ambiguous", inconsistent: "Inconsistent", incomplete: "Incomplete" };

export interface TrainingExample {
  id: string;
  /** The task it comes from. */
  source: string;
  type: ExampleType;
  problem: string;
  answer: NativeAnswer;
}

/** A task with a reference solution as an original example (its first solution); undefined without one. */
export function originalExample(task: CodeTask): TrainingExample | undefined {
  const code = task.solutions[0];
  if (code === undefined) return undefined;
  return { id: `${task.id}:original`, source: task.id, type: "Original", problem: task.description, answer: { kind: "code", code } };
}

/** A clarify record as an example: the rewritten task, answered with its questions. */
export function clarifyExample(record: ClarifyRecord): TrainingExample {
  return { id: record.id, source: record.source, type: typeOfKind[record.kind], problem: record.modified, answer: { kind: "questions", questions: record.questions } };
}

/** The paper's v4 format as a prompt and a completion; concatenated, they are its training text. */
export function v4Row(example: TrainingExample): { prompt: string; completion: string; id: string; type: ExampleType } {
  return { prompt: nativeTaskPrompt(example.problem), completion: nativeCompletion(example.answer), id: example.id, type: example.type };
}

/** Chat format: the v4 instruction as the system message, the task as the user's, the v4 completion as the reply. */
export function chatRow(example: TrainingExample): { messages: { role: "system" | "user" | "assistant"; content: string }[]; id: string; type: ExampleType } {
  return {
    messages: [
      { role: "system", content: nativeQuestionPrompt.trim() },
      { role: "user", content: example.problem.trim() },
      { role: "assistant", content: nativeCompletion(example.answer) },
    ],
    id: example.id,
    type: example.type,
  };
}

/** answer-only: the loss on the completion alone (the paper's v2 masking); prompt-and-answer: on every token (v4's). */
export const lossVariants = ["answer-only", "prompt-and-answer"] as const;
export type LossVariant = (typeof lossVariants)[number];

export interface TrainingSetup {
  /** A Hugging Face model id or folder: the base the adapter is trained on. */
  baseModel: string;
  maxLength: number;
  seed: number;
  /** The data folders, relative to the export folder (the configs are run from there). */
  v4Dir: string;
}

/**
 * The paper's LoRA and schedule, under the keys TRL and axolotl share: r 16, alpha 16, dropout 0.05 on q/k/v/o;
 * lr 1e-5, 100 warm-up steps, 500 steps, batch 16 (4 per device, 4 accumulated).
 */
export const paperTraining = {
  lora_r: 16,
  lora_alpha: 16,
  lora_dropout: 0.05,
  lora_target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"],
  learning_rate: 1e-5,
  warmup_steps: 100,
  max_steps: 500,
  gradient_accumulation_steps: 4,
} as const;
const perDeviceBatch = 4;

export const adapterDir = (tool: "trl" | "axolotl", variant: LossVariant): string => `adapters/${tool}-${variant}`;

/** A config for `trl sft --config <file>` (TRL's SFT script: ScriptArguments, SFTConfig and ModelConfig keys). */
export function trlConfig(variant: LossVariant, setup: TrainingSetup): Record<string, unknown> {
  return {
    model_name_or_path: setup.baseModel,
    dataset_name: `./${setup.v4Dir}`,
    dataset_train_split: "train",
    dataset_test_split: "validation",
    output_dir: `./${adapterDir("trl", variant)}`,
    completion_only_loss: variant === "answer-only",
    max_length: setup.maxLength,
    use_peft: true,
    ...paperTraining,
    lora_target_modules: [...paperTraining.lora_target_modules],
    per_device_train_batch_size: perDeviceBatch,
    bf16: true,
    logging_steps: 10,
    eval_strategy: "steps",
    eval_steps: 100,
    save_steps: 100,
    seed: setup.seed,
    report_to: "none",
  };
}

/**
 * A config for `axolotl train <file>`: the v4 prompt as a user-defined format whose output is the completion, and
 * `train_on_inputs` choosing the loss variant.
 */
export function axolotlConfig(variant: LossVariant, setup: TrainingSetup): Record<string, unknown> {
  const format = { field_instruction: "prompt", field_output: "completion", format: "{instruction}", no_input_format: "{instruction}" };
  return {
    base_model: setup.baseModel,
    datasets: [{ path: `./${setup.v4Dir}/train.jsonl`, ds_type: "json", type: format }],
    test_datasets: [{ path: `./${setup.v4Dir}/validation.jsonl`, ds_type: "json", split: "train", type: format }],
    train_on_inputs: variant === "prompt-and-answer",
    sequence_len: setup.maxLength,
    adapter: "lora",
    ...paperTraining,
    lora_target_modules: [...paperTraining.lora_target_modules],
    micro_batch_size: perDeviceBatch,
    bf16: "auto",
    seed: setup.seed,
    output_dir: `./${adapterDir("axolotl", variant)}`,
  };
}
