/** `clarifycoder mix` as a user runs it: exact counts for both sampling modes, the files, the configs, bad input. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { before, it } from "node:test";
import { parse } from "yaml";
import { nativeCodeAnswerPrefix, nativeQuestionPrompt, nativeQuestionsAnswerPrefix } from "../../src/core/prompts.js";
import { writeAppsFolder } from "../fixtures/code-tasks.js";
import { cli } from "../helpers/cli.js";
import { expectedRecords } from "../helpers/synth-generator.js";
import { tempDir } from "../helpers/worker.js";

let dir: string;
let apps: string;
let clarify: string;
before(async () => {
  dir = await tempDir("clarifycoder-mix-");
  apps = await writeAppsFolder(path.join(dir, "apps"));
  clarify = path.join(dir, "clarify.jsonl");
  // The 26 rows a scripted synth run writes (t03 incomplete and t07 were rejected), then two bad lines.
  const good = expectedRecords("g").map((r) => JSON.stringify({ ...r, createdAt: "2026-01-01T00:00:00.000Z" }));
  await writeFile(clarify, [...good, "{bad", '{"id": "x"}', ""].join("\n"));
});

const lines = async (file: string): Promise<Record<string, unknown>[]> =>
  (await readFile(file, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

it("mixes 20:80 by downsampling and by oversampling, with exact counts and a by-task split", async () => {
  // Seed 1 holds out 2 of the 10 tasks: they have 2 originals and 6 clarify records; train has 8 and 20.
  const expected = {
    downsample: { train: [5, 20], validation: [2, 6] }, // clarify is scarce: originals cut to a quarter (20/4; 6/4 = 1.5 -> 2)
    oversample: { train: [8, 32], validation: [2, 8] }, // originals kept whole: clarify repeated to four times them
  };
  for (const sampling of ["downsample", "oversample"] as const) {
    const out = path.join(dir, `mix-${sampling}`);
    const run = await cli(["mix", "-t", apps, "-c", clarify, "-r", "20:80", "-s", sampling, "-o", out, "--validation", "0.2"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^skipped clarify\.jsonl:27: not valid JSON\.$/m);
    assert.match(run.stderr, /^skipped clarify\.jsonl:28: not a clarify record \(source: /m);
    const [trainO, trainC] = expected[sampling].train;
    const [valO, valC] = expected[sampling].validation;
    assert.match(
      run.stdout,
      new RegExp(`Mix 20:80 \\(original:clarify, ${sampling}\\), seed 1, from 10 tasks \\(0 without a solution\\) and 26 clarify records:`),
    );
    assert.match(
      run.stdout,
      new RegExp(`train +${trainO} original \\+ +${trainC} clarify = +${(trainO ?? 0) + (trainC ?? 0)} examples from 8 tasks \\(had 8 \\+ 20\\)`),
    );
    assert.match(
      run.stdout,
      new RegExp(`validation +${valO} original \\+ +${valC} clarify = +${(valO ?? 0) + (valC ?? 0)} examples from 2 tasks \\(had 2 \\+ 6\\)`),
    );

    const count = (rows: Record<string, unknown>[]): number[] => [
      rows.filter((r) => r.type === "Original").length,
      rows.filter((r) => r.type !== "Original").length,
    ];
    const trainV4 = await lines(path.join(out, "v4/train.jsonl"));
    const validationV4 = await lines(path.join(out, "v4/validation.jsonl"));
    assert.deepEqual(count(trainV4), expected[sampling].train);
    assert.deepEqual(count(validationV4), expected[sampling].validation);
    assert.deepEqual(count(await lines(path.join(out, "chat/train.jsonl"))), expected[sampling].train);
    const taskOf = (r: Record<string, unknown>): string => String(r.id).split(":")[0] ?? "";
    const trainTasks = new Set(trainV4.map(taskOf));
    assert.ok(
      validationV4.every((r) => !trainTasks.has(taskOf(r))),
      "no task on both sides",
    );
    for (const row of trainV4) {
      assert.ok(String(row.prompt).startsWith(`${nativeQuestionPrompt} `));
      assert.ok(String(row.completion).startsWith(row.type === "Original" ? `${nativeCodeAnswerPrefix} \`\`\`python\n` : `${nativeQuestionsAnswerPrefix} 1. `));
    }
    const manifest = JSON.parse(await readFile(path.join(out, "mix.json"), "utf8")) as { train: { total: number }; sampling: string };
    assert.equal(manifest.train.total, trainV4.length);
    assert.equal(manifest.sampling, sampling);
  }
});

it("writes TRL and axolotl configs for both loss variants, runnable from the export folder", async () => {
  const out = path.join(dir, "mix-configs");
  const run = await cli([
    "mix",
    "-t",
    apps,
    "-c",
    clarify,
    "-r",
    "40:60",
    "-s",
    "oversample",
    "-o",
    out,
    "--base-model",
    "org/small-coder",
    "--max-length",
    "1024",
    "--seed",
    "9",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const config = async (name: string): Promise<Record<string, unknown>> =>
    parse(await readFile(path.join(out, "configs", name), "utf8")) as Record<string, unknown>;
  const trlAnswer = await config("trl-answer-only.yaml");
  const trlAll = await config("trl-prompt-and-answer.yaml");
  assert.deepEqual([trlAnswer.completion_only_loss, trlAll.completion_only_loss], [true, false]);
  assert.deepEqual([trlAnswer.model_name_or_path, trlAnswer.max_length, trlAnswer.seed, trlAnswer.dataset_name], ["org/small-coder", 1024, 9, "./v4"]);
  assert.notEqual(trlAnswer.output_dir, trlAll.output_dir);
  const axolotlAnswer = await config("axolotl-answer-only.yaml");
  assert.deepEqual([axolotlAnswer.train_on_inputs, (await config("axolotl-prompt-and-answer.yaml")).train_on_inputs], [false, true]);
  assert.equal(axolotlAnswer.base_model, "org/small-coder");
  assert.match(
    await readFile(path.join(out, "configs/trl-answer-only.yaml"), "utf8"),
    /^# TRL SFT, answer-only loss.*\n# {3}trl sft --config configs\/trl-answer-only\.yaml\n/,
  );
});

it("--paper: the paper's split, never repeating, raw code, their {problem, answer, type} records, and the paper's loss printed", async () => {
  const out = path.join(dir, "mix-paper");
  const run = await cli(["mix", "-t", apps, "-c", clarify, "--paper", "-o", out, "--validation", "0.2"]);
  assert.equal(run.code, 0, run.stderr);
  // 8 + 20 in train at 20:80: N = int(min(8 / 0.2, 20 / 0.8)) = 25, so 5 + 20; validation 2 + 6: N = 7, so 1 + 5.
  assert.match(run.stdout, /Mix 20:80 \(original:clarify, paper-oversample\), seed 1/);
  assert.match(run.stdout, /train +5 original \+ +20 clarify = +25 examples/);
  assert.match(run.stdout, /validation +1 original \+ +5 clarify = +6 examples/);
  assert.match(
    run.stdout,
    /Train on a GPU machine with the paper's loss: every token \(v4, as the released adapters were trained\): cd .* && trl sft --config configs\/trl-prompt-and-answer\.yaml/,
  );
  const v4 = await lines(path.join(out, "v4/train.jsonl"));
  assert.equal(new Set(v4.map((r) => r.id)).size, v4.length, "no row repeated");
  const original = v4.find((r) => r.type === "Original");
  assert.ok(String(original?.completion).startsWith(`${nativeCodeAnswerPrefix} `) && !String(original?.completion).includes("```"), "raw code, as theirs");
  const records = await lines(path.join(out, "paper/train.jsonl"));
  assert.equal(records.length, 25);
  assert.deepEqual(Object.keys(records[0] ?? {}).sort(), ["answer", "problem", "type"]);
  assert.deepEqual(records.map((r) => r.type).sort(), v4.map((r) => r.type).sort());
  const manifest = JSON.parse(await readFile(path.join(out, "mix.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual([manifest.paper, manifest.sampling, manifest.codeFormat, manifest.paperLoss], [true, "paper-oversample", "raw", "prompt-and-answer"]);
  const header = await readFile(path.join(out, "configs/trl-prompt-and-answer.yaml"), "utf8");
  assert.match(header, /^# TRL SFT, the paper's loss: every token/);
  // The same split without --paper, under its own name; and --paper refuses another sampling.
  const named = await cli([
    "mix",
    "-t",
    apps,
    "-c",
    clarify,
    "-r",
    "20:80",
    "-s",
    "paper-oversample",
    "-o",
    path.join(dir, "mix-named"),
    "--validation",
    "0.2",
  ]);
  assert.equal(named.code, 0, named.stderr);
  assert.match(named.stdout, /train +5 original \+ +20 clarify/);
  const clash = await cli(["mix", "-t", apps, "-c", clarify, "--paper", "-s", "oversample", "-o", path.join(dir, "never")]);
  assert.equal(clash.code, 2);
  assert.match(clash.stderr, /--paper takes the paper's sampling \(paper-oversample\); drop --sampling oversample, or --paper\./);
});

it("gives the chat files configs of their own, and --validation 0 configs that do not evaluate", async () => {
  const out = path.join(dir, "mix-noval");
  const run = await cli(["mix", "-t", apps, "-c", clarify, "-r", "20:80", "-s", "downsample", "-o", out, "--validation", "0"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /train\.jsonl only: --validation 0, configs without evaluation/);
  for (const folder of ["v4", "chat", "paper"]) {
    assert.equal(existsSync(path.join(out, folder, "validation.jsonl")), false, `${folder}: no empty split to evaluate on`);
    assert.ok(existsSync(path.join(out, folder, "train.jsonl")));
  }
  const config = async (name: string): Promise<Record<string, unknown>> =>
    parse(await readFile(path.join(out, "configs", name), "utf8")) as Record<string, unknown>;
  for (const name of ["trl-prompt-and-answer.yaml", "trl-answer-only.yaml", "trl-chat-prompt-and-answer.yaml", "trl-chat-answer-only.yaml"]) {
    const c = await config(name);
    assert.deepEqual([c.eval_strategy, c.eval_steps, c.dataset_test_split], ["no", undefined, undefined], name);
  }
  for (const name of ["axolotl-answer-only.yaml", "axolotl-chat-answer-only.yaml"]) assert.equal((await config(name)).test_datasets, undefined, name);
  const chat = await config("trl-chat-answer-only.yaml");
  assert.deepEqual([chat.dataset_name, chat.assistant_only_loss, chat.output_dir], ["./chat", true, "./adapters/trl-chat-answer-only"]);
  assert.match(
    await readFile(path.join(out, "configs/trl-chat-answer-only.yaml"), "utf8"),
    /# No validation split \(--validation 0\): this config does not evaluate\./,
  );
});

it("refuses bad options and missing inputs with a clear message", async () => {
  const noRatio = await cli(["mix", "-t", apps, "-c", clarify, "-s", "downsample", "-o", path.join(dir, "never")]);
  assert.equal(noRatio.code, 2);
  assert.match(noRatio.stderr, /--ratio is required \(such as 20:80\), or --paper for the paper's 20:80\./);
  const noSampling = await cli(["mix", "-t", apps, "-c", clarify, "-r", "20:80", "-o", path.join(dir, "never")]);
  assert.equal(noSampling.code, 2);
  assert.match(noSampling.stderr, /--sampling is required \(downsample, oversample, paper-oversample\), or --paper for the paper's\./);
  const out = path.join(dir, "never");
  const ratio = await cli(["mix", "-t", apps, "-c", clarify, "-r", "20-80", "-s", "downsample", "-o", out]);
  assert.equal(ratio.code, 2);
  assert.match(ratio.stderr, /The ratio must be original:clarify, such as 20:80 \(got "20-80"\)\./);
  const share = await cli(["mix", "-t", apps, "-c", clarify, "-r", "20:80", "-s", "downsample", "-o", out, "--validation", "1"]);
  assert.equal(share.code, 2);
  assert.match(share.stderr, /--validation must be less than 1 \(got "1"\)/);
  const seed = await cli(["mix", "-t", apps, "-c", clarify, "-r", "20:80", "-s", "downsample", "-o", out, "--seed", "1.5"]);
  assert.equal(seed.code, 2);
  assert.match(seed.stderr, /'--seed <n>' argument '1\.5' is invalid\. It must be an integer from 0 to 4294967295\./);
  const sampling = await cli(["mix", "-t", apps, "-c", clarify, "-r", "20:80", "-s", "upsample", "-o", out]);
  assert.notEqual(sampling.code, 0);
  assert.match(sampling.stderr, /Allowed choices are downsample, oversample/);
  const missing = await cli(["mix", "-t", apps, "-c", path.join(dir, "none.jsonl"), "-r", "20:80", "-s", "downsample", "-o", out]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /none\.jsonl/);
});
