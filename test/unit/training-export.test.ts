import assert from "node:assert/strict";
import { it } from "node:test";
import { classifyNativeReply, extractCodeBlocks } from "../../src/core/parse.js";
import {
  buildNativePrompt,
  fencePython,
  formatQuestionList,
  nativeCodeAnswerPrefix,
  nativeCompletion,
  nativeQuestionPrompt,
  nativeQuestionsAnswerPrefix,
} from "../../src/core/prompts.js";
import type { ClarifyRecord } from "../../src/core/synthesis.js";
import {
  axolotlConfig,
  chatRow,
  clarifyExample,
  configFile,
  lossLabels,
  lossVariants,
  originalExample,
  paperLoss,
  paperRecord,
  trlConfig,
  v4Row,
  type TrainingSetup,
} from "../../src/core/training-export.js";

const task = {
  id: "HumanEval/1",
  layout: "humaneval-jsonl" as const,
  description: 'def add(a, b):\n    """Add."""\n',
  solutions: ["def add(a, b):\n    return a + b\n", "other"],
};
const record: ClarifyRecord = {
  id: "HumanEval/1:incomplete",
  source: "HumanEval/1",
  kind: "incomplete",
  original: task.description,
  modified: 'def add(a, b):\n    """Combine."""\n',
  questions: ["Should the numbers be added or joined?", "What types are a and b?"],
  generator: "g",
  promptVersion: "v",
  createdAt: "t",
};

it("the v4 text is the paper's QPROMPT + ' ' + problem + APROMPT + ' ' + answer, with our one copy of the strings", () => {
  const original = originalExample(task);
  assert.ok(original);
  const row = v4Row(original);
  assert.equal(
    row.prompt + row.completion,
    `${nativeQuestionPrompt} ${task.description.trim()}${nativeCodeAnswerPrefix} \`\`\`python\ndef add(a, b):\n    return a + b\n\`\`\``,
  );
  // Native inference sends exactly the training prompt.
  assert.equal(row.prompt, buildNativePrompt(task.description, {}));
  assert.deepEqual([row.id, row.type], ["HumanEval/1:original", "Original"]);

  const clarify = v4Row(clarifyExample(record));
  assert.equal(
    clarify.prompt + clarify.completion,
    `${nativeQuestionPrompt} ${record.modified.trim()}${nativeQuestionsAnswerPrefix} 1. Should the numbers be added or joined?\n2. What types are a and b?`,
  );
  assert.deepEqual([clarify.id, clarify.type], ["HumanEval/1:incomplete", "Incomplete"]);
});

it("a trained completion reads back the way native inference reads a reply", () => {
  const asked = classifyNativeReply(nativeCompletion({ kind: "questions", questions: record.questions }));
  assert.deepEqual(asked, { kind: "questions", questions: record.questions });
  const coded = nativeCompletion({ kind: "code", code: "print(1)\n" });
  assert.equal(classifyNativeReply(coded).kind, "code");
  // The engine strips the prefix and reads the code block that follows.
  assert.deepEqual(extractCodeBlocks(coded.replace(nativeCodeAnswerPrefix, "").trim()), [{ language: "python", code: "print(1)" }]);
});

it("fences code with more backticks than it holds, and numbers questions", () => {
  assert.equal(fencePython("\n\nx = 1\n\n"), "```python\nx = 1\n```");
  assert.equal(fencePython('s = """```"""'), '````python\ns = """```"""\n````');
  assert.deepEqual(extractCodeBlocks(fencePython('s = "```"')), [{ language: "python", code: 's = "```"' }]);
  assert.equal(formatQuestionList([" a? ", "b?"]), "1. a?\n2. b?");
});

it("chat rows: the v4 instruction as system, the task as user, the v4 completion as assistant", () => {
  assert.deepEqual(chatRow(clarifyExample(record)), {
    messages: [
      { role: "system", content: nativeQuestionPrompt.trim() },
      { role: "user", content: record.modified.trim() },
      { role: "assistant", content: `${nativeQuestionsAnswerPrefix} 1. Should the numbers be added or joined?\n2. What types are a and b?` },
    ],
    id: record.id,
    type: "Incomplete",
  });
  assert.equal(originalExample({ ...task, solutions: [] }), undefined);
});

it("configs choose the loss variant: TRL's completion_only_loss, axolotl's train_on_inputs", () => {
  const setup: TrainingSetup = { baseModel: "org/base", maxLength: 1024, seed: 5, v4Dir: "v4", chatDir: "chat", evaluate: true };
  const answerOnly = trlConfig("answer-only", setup);
  const everything = trlConfig("prompt-and-answer", setup);
  assert.equal(answerOnly.completion_only_loss, true);
  assert.equal(everything.completion_only_loss, false);
  assert.deepEqual(
    [answerOnly.model_name_or_path, answerOnly.dataset_name, answerOnly.dataset_test_split, answerOnly.output_dir, answerOnly.max_length, answerOnly.seed],
    ["org/base", "./v4", "validation", "./adapters/trl-answer-only", 1024, 5],
  );
  assert.deepEqual(
    [answerOnly.lora_r, answerOnly.lora_alpha, answerOnly.lora_dropout, answerOnly.lora_target_modules],
    [16, 16, 0.05, ["q_proj", "k_proj", "v_proj", "o_proj"]],
  );
  assert.equal(axolotlConfig("answer-only", setup).train_on_inputs, false);
  assert.equal(axolotlConfig("prompt-and-answer", setup).train_on_inputs, true);
  assert.deepEqual((axolotlConfig("answer-only", setup).datasets as unknown[])[0], {
    path: "./v4/train.jsonl",
    ds_type: "json",
    type: { field_instruction: "prompt", field_output: "completion", format: "{instruction}", no_input_format: "{instruction}" },
  });
});

it("the paper's format: an original's code raw, as the authors' records hold it, and their {problem, answer, type} records", () => {
  const original = originalExample(task);
  assert.ok(original);
  assert.equal(v4Row(original, "raw").completion, `${nativeCodeAnswerPrefix} def add(a, b):\n    return a + b`);
  assert.equal(v4Row(original).completion, `${nativeCodeAnswerPrefix} \`\`\`python\ndef add(a, b):\n    return a + b\n\`\`\``, "ours stays fenced");
  assert.equal(chatRow(original, "raw").messages[2]?.content, `${nativeCodeAnswerPrefix} def add(a, b):\n    return a + b`);
  const clarify = clarifyExample(record);
  assert.equal(v4Row(clarify, "raw").completion, v4Row(clarify).completion, "questions read the same in both formats");
  assert.deepEqual(paperRecord(original), { problem: task.description, answer: "def add(a, b):\n    return a + b", type: "Original" });
  assert.deepEqual(paperRecord(clarify), {
    problem: record.modified,
    answer: "1. Should the numbers be added or joined?\n2. What types are a and b?",
    type: "Incomplete",
  });
});

it("names the paper's loss (every token, v4) as the paper's; chat data gets configs; no validation split means no evaluation", () => {
  assert.equal(paperLoss, "prompt-and-answer");
  assert.deepEqual([...lossVariants], ["prompt-and-answer", "answer-only"]);
  assert.match(lossLabels[paperLoss], /^the paper's loss: every token \(v4, as the released adapters were trained\)/);
  const setup: TrainingSetup = { baseModel: "org/base", maxLength: 1024, seed: 5, v4Dir: "v4", chatDir: "chat", evaluate: true };
  const chatAll = trlConfig("prompt-and-answer", setup, "chat");
  const chatAnswer = trlConfig("answer-only", setup, "chat");
  assert.deepEqual(
    [chatAll.dataset_name, chatAll.assistant_only_loss, chatAnswer.assistant_only_loss, chatAll.completion_only_loss],
    ["./chat", false, true, undefined],
  );
  assert.equal(chatAll.output_dir, "./adapters/trl-chat-prompt-and-answer");
  assert.equal(configFile("trl", "answer-only", "chat"), "configs/trl-chat-answer-only.yaml");
  assert.equal(configFile("axolotl", "prompt-and-answer"), "configs/axolotl-prompt-and-answer.yaml");
  assert.deepEqual((axolotlConfig("answer-only", setup, "chat").datasets as unknown[])[0], {
    path: "./chat/train.jsonl",
    ds_type: "json",
    type: "chat_template",
    field_messages: "messages",
    roles_to_train: ["assistant"],
    train_on_eos: "turn",
  });
  assert.deepEqual((axolotlConfig("prompt-and-answer", setup, "chat").datasets as { roles_to_train: string[] }[])[0]?.roles_to_train, [
    "system",
    "user",
    "assistant",
  ]);
  // --validation 0: nothing to evaluate on, so nothing asks for it.
  const noEval = { ...setup, evaluate: false };
  for (const data of ["v4", "chat"] as const) {
    const trl = trlConfig(paperLoss, noEval, data);
    assert.deepEqual([trl.eval_strategy, "eval_steps" in trl, "dataset_test_split" in trl], ["no", false, false]);
    assert.equal("test_datasets" in axolotlConfig(paperLoss, noEval, data), false);
  }
  const withEval = trlConfig(paperLoss, setup);
  assert.deepEqual([withEval.eval_strategy, withEval.eval_steps, withEval.dataset_test_split], ["steps", 100, "validation"]);
  assert.equal((axolotlConfig(paperLoss, setup).test_datasets as unknown[]).length, 1);
});
