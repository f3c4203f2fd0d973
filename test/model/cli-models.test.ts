/** `clarifycoder models` and `clarifycoder convert-lora` as a user runs them: the built CLI in its own process. */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { before, it } from "node:test";
import { writeGguf } from "../../src/llm/gguf/writer.js";
import { adapterConfig, makeTinyAdapter, writePeftFolder } from "../fixtures/peft-adapter.js";
import { buildTinyModel } from "../fixtures/tiny-model.js";
import { cli as runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/worker.js";

let dir: string;
let base: string;
const adapter = makeTinyAdapter();

before(async () => {
  dir = await tempDir("clarifycoder-cli-models-");
  base = path.join(dir, "tiny.gguf");
  await writeGguf(base, buildTinyModel());
  await writePeftFolder(path.join(dir, "peft"), adapterConfig(adapter), adapter.tensors);
  await writePeftFolder(path.join(dir, "dora"), adapterConfig(adapter, { use_dora: true }), adapter.tensors);
});

const cli = (args: string[]) => runCli(args, "", { HF_ENDPOINT: "http://127.0.0.1:1/" });

it("convert-lora writes a GGUF adapter, and refuses a bad one with the reason and exit code 1", async () => {
  const out = path.join(dir, "adapter.gguf");
  const ok = await cli(["convert-lora", path.join(dir, "peft"), "--base", base, "--out", out]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^Wrote .*adapter\.gguf: 12 adapted weights, rank 4, alpha 8, for llama \(trained on clarifycoder\/tiny-llama\)\.\n$/);
  assert.ok(existsSync(out));
  const bad = await cli(["convert-lora", path.join(dir, "dora"), "--base", base, "--out", path.join(dir, "dora.gguf")]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /uses DoRA/);
  assert.equal(existsSync(path.join(dir, "dora.gguf")), false);
  const usage = await cli(["convert-lora", path.join(dir, "peft"), "--out", out]);
  assert.equal(usage.code, 2, "a missing --base is a usage error");
});

it("models lists the catalog with what is downloaded and a recommendation; rm or pull of an unknown id is a usage error", async () => {
  const listed = await cli(["models", "--json", "--gpu", "cpu", "--models-dir", path.join(dir, "models")]);
  assert.equal(listed.code, 0, listed.stderr);
  const result = JSON.parse(listed.stdout) as {
    directory: string;
    recommended: string;
    reason: string;
    models: { id: string; downloaded: boolean; style: string }[];
  };
  assert.equal(result.directory, path.join(dir, "models"));
  assert.ok(result.models.some((m) => m.id === "clarifycoder-6.7b" && m.style === "native" && !m.downloaded));
  assert.ok(result.models.some((m) => m.id === result.recommended));
  assert.match(result.reason, /CPU cores/);
  const text = await cli(["models", "--gpu", "cpu", "--models-dir", path.join(dir, "models")]);
  assert.match(text.stdout, /\* recommended for this machine: [\w.-]+, which .*\./);
  const rm = await cli(["models", "rm", "nope", "--models-dir", path.join(dir, "models")]);
  assert.equal(rm.code, 2);
  assert.match(rm.stderr, /No model "nope" in the catalog/);
  const pull = await cli(["models", "pull", "nope", "--models-dir", path.join(dir, "models")]);
  assert.equal(pull.code, 2);
  assert.match(pull.stderr, /No model "nope" in the catalog/);
});

it("chat --lora takes a PEFT folder: converted for the model into the models folder, and applied", async () => {
  const modelsDir = path.join(dir, "chat-models");
  const run = await cli([
    "chat",
    "--json",
    "-m",
    base,
    "--lora",
    path.join(dir, "peft"),
    "--models-dir",
    modelsDir,
    "--gpu",
    "cpu",
    "--threads",
    "1",
    "--ask",
    "never",
    "--max-tokens",
    "16",
    "pad a string",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const done = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as { type?: string; state?: string };
  assert.equal(done.type, "done");
  const converted = readdirSync(path.join(modelsDir, "adapters")).filter((f) => f.startsWith("peft-") && f.endsWith(".gguf"));
  assert.equal(converted.length, 1, "one conversion, named by its inputs");
  const bad = await cli(["chat", "--json", "-m", base, "--lora", path.join(dir, "dora"), "--models-dir", modelsDir, "--gpu", "cpu", "x"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout + bad.stderr, /uses DoRA/);
});
