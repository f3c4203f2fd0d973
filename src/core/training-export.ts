/**
 * The training export: examples from tasks (the original set) and from clarify records, written as chat messages, as
 * the paper's v4 raw text and as the authors' `{problem, answer, type}` records, plus ready configs for TRL and
 * axolotl with either loss variant. The v4 strings come from prompts.ts, the one definition that native inference
 * uses too.
 */
import { formatQuestionList, nativeCodeAnswerPrefix, nativeCompletion, nativeQuestionPrompt, nativeTaskPrompt, type NativeAnswer } from "./prompts.js";
import type { ClarifyKind, ClarifyRecord } from "./synthesis.js";
import type { CodeTask } from "./tasks.js";

/** The paper's record types. */
type ExampleType = "Original" | "Ambiguous" | "Inconsistent" | "Incomplete";

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
  return {
    id: record.id,
    source: record.source,
    type: typeOfKind[record.kind],
    problem: record.modified,
    answer: { kind: "questions", questions: record.questions },
  };
}

/**
 * How an original's code is written in an answer: `fenced` (ours, one python block, what the native style reads back)
 * or `raw` (the paper's: the authors' Original answers are the solution as it is).
 */
export const codeFormats = ["fenced", "raw"] as const;
export type CodeFormat = (typeof codeFormats)[number];

/** The answer as the authors' records hold it: the raw code, or the questions one per line. */
function paperAnswer(answer: NativeAnswer): string {
  return answer.kind === "code" ? answer.code.replace(/^\n+|\s+$/g, "") : formatQuestionList(answer.questions);
}

/** The v4 completion in the chosen code format (the answer prefix, a space, the answer). */
function completionOf(answer: NativeAnswer, format: CodeFormat): string {
  return format === "raw" && answer.kind === "code" ? `${nativeCodeAnswerPrefix} ${paperAnswer(answer)}` : nativeCompletion(answer);
}

/** The paper's v4 format as a prompt and a completion; concatenated, they are its training text. */
export function v4Row(example: TrainingExample, format: CodeFormat = "fenced"): { prompt: string; completion: string; id: string; type: ExampleType } {
  return { prompt: nativeTaskPrompt(example.problem), completion: completionOf(example.answer, format), id: example.id, type: example.type };
}

/** The authors' own record shape (their released data): the problem, the answer (raw code or the questions), the type. */
export function paperRecord(example: TrainingExample): { problem: string; answer: string; type: ExampleType } {
  return { problem: example.problem, answer: paperAnswer(example.answer), type: example.type };
}

/** Chat format: the v4 instruction as the system message, the task as the user's, the v4 completion as the reply. */
export function chatRow(
  example: TrainingExample,
  format: CodeFormat = "fenced",
): { messages: { role: "system" | "user" | "assistant"; content: string }[]; id: string; type: ExampleType } {
  return {
    messages: [
      { role: "system", content: nativeQuestionPrompt.trim() },
      { role: "user", content: example.problem.trim() },
      { role: "assistant", content: completionOf(example.answer, format) },
    ],
    id: example.id,
    type: example.type,
  };
}

/**
 * prompt-and-answer: the loss on every token, the paper's (`--tokenize_version 4`, what the released adapters were
 * trained with); answer-only: on the completion alone (the paper's v2 masking).
 */
export const lossVariants = ["prompt-and-answer", "answer-only"] as const;
export type LossVariant = (typeof lossVariants)[number];
export const paperLoss: LossVariant = "prompt-and-answer";
export const lossLabels: Record<LossVariant, string> = {
  "prompt-and-answer": "the paper's loss: every token (v4, as the released adapters were trained)",
  "answer-only": "answer-only loss: the completion alone (the paper's v2 masking)",
};

export interface TrainingSetup {
  /** A Hugging Face model id or folder: the base the adapter is trained on. */
  baseModel: string;
  maxLength: number;
  seed: number;
  /** The data folders, relative to the export folder (the configs are run from there). */
  v4Dir: string;
  chatDir: string;
  /** Whether there is a validation split to evaluate on (none with `--validation 0`). */
  evaluate: boolean;
}

/** The data a config trains on: the v4 prompt/completion text, or the chat messages. */
export type ConfigData = "v4" | "chat";

/**
 * The paper's LoRA and schedule, under the keys TRL and axolotl share: r 16, alpha 16, dropout 0.05 on q/k/v/o;
 * lr 1e-5, 100 warm-up steps, 500 steps, batch 16 (4 per device, 4 accumulated).
 */
const paperTraining = {
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

const adapterDir = (tool: "trl" | "axolotl", variant: LossVariant, data: ConfigData = "v4"): string =>
  `adapters/${tool}-${data === "chat" ? "chat-" : ""}${variant}`;

/** Where a config is written, relative to the export folder. */
export const configFile = (tool: "trl" | "axolotl", variant: LossVariant, data: ConfigData = "v4"): string =>
  `configs/${tool}-${data === "chat" ? "chat-" : ""}${variant}.yaml`;

/**
 * A config for `trl sft --config <file>` (TRL's SFT script: ScriptArguments, SFTConfig and ModelConfig keys). On the
 * v4 prompt/completion data `completion_only_loss` picks the variant; on the chat messages `assistant_only_loss` does
 * (TRL needs a chat template that marks the assistant's part for it).
 */
export function trlConfig(variant: LossVariant, setup: TrainingSetup, data: ConfigData = "v4"): Record<string, unknown> {
  return {
    model_name_or_path: setup.baseModel,
    dataset_name: `./${data === "chat" ? setup.chatDir : setup.v4Dir}`,
    dataset_train_split: "train",
    ...(setup.evaluate ? { dataset_test_split: "validation" } : {}),
    output_dir: `./${adapterDir("trl", variant, data)}`,
    ...(data === "chat" ? { assistant_only_loss: variant === "answer-only" } : { completion_only_loss: variant === "answer-only" }),
    max_length: setup.maxLength,
    use_peft: true,
    ...paperTraining,
    lora_target_modules: [...paperTraining.lora_target_modules],
    per_device_train_batch_size: perDeviceBatch,
    bf16: true,
    logging_steps: 10,
    ...(setup.evaluate ? { eval_strategy: "steps", eval_steps: 100 } : { eval_strategy: "no" }),
    save_steps: 100,
    seed: setup.seed,
    report_to: "none",
  };
}

/**
 * A config for `axolotl train <file>`: the v4 prompt as a user-defined format whose output is the completion, and
 * `train_on_inputs` choosing the loss variant; on the chat messages, axolotl's chat_template with the roles trained.
 */
export function axolotlConfig(variant: LossVariant, setup: TrainingSetup, data: ConfigData = "v4"): Record<string, unknown> {
  const dir = data === "chat" ? setup.chatDir : setup.v4Dir;
  const format =
    data === "chat"
      ? {
          type: "chat_template",
          field_messages: "messages",
          roles_to_train: variant === "answer-only" ? ["assistant"] : ["system", "user", "assistant"],
          train_on_eos: "turn",
        }
      : { type: { field_instruction: "prompt", field_output: "completion", format: "{instruction}", no_input_format: "{instruction}" } };
  return {
    base_model: setup.baseModel,
    datasets: [{ path: `./${dir}/train.jsonl`, ds_type: "json", ...format }],
    ...(setup.evaluate ? { test_datasets: [{ path: `./${dir}/validation.jsonl`, ds_type: "json", split: "train", ...format }] } : {}),
    ...(data === "v4" ? { train_on_inputs: variant === "prompt-and-answer" } : {}),
    sequence_len: setup.maxLength,
    adapter: "lora",
    ...paperTraining,
    lora_target_modules: [...paperTraining.lora_target_modules],
    micro_batch_size: perDeviceBatch,
    bf16: "auto",
    seed: setup.seed,
    output_dir: `./${adapterDir("axolotl", variant, data)}`,
  };
}
