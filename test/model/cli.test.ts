/** `clarifycoder chat` as a user or a script runs it: the built CLI in its own process, on the tiny model. */
import assert from "node:assert/strict";
import path from "node:path";
import { before, it } from "node:test";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { runCli } from "../helpers/cli.js";
import { repoRoot, tempDir } from "../helpers/worker.js";

let tiny: string;
before(async () => {
  tiny = path.join(await tempDir("clarifycoder-cli-"), "tiny.gguf");
  await writeTinyModel(tiny);
});

const cli = runCli;

it("--json: questions out, answers in (one per line, empty = you decide), then the code streams", async () => {
  const { code, stdout, stderr } = await cli(
    ["chat", "--json", "-m", tiny, "--gpu", "cpu", "--threads", "1", "--ask", "always", "--max-rounds", "1", "--max-tokens", "24", "pad a string"],
    "left\n\n\n",
  );
  assert.equal(code, 0, stderr);
  const events = stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
  const types = events.map((e) => e.type);
  assert.ok(types.indexOf("model") >= 0 && types.slice(0, types.indexOf("model")).every((t) => t === "progress"), "load progress, then the model");
  assert.ok(types.includes("questions"));
  assert.ok(types.indexOf("chunk") > types.indexOf("questions"), "code comes after the questions");
  const done = events.at(-1) as { type: string; state: string; answer: string; codeBlocks: unknown[] };
  assert.equal(done.type, "done");
  assert.equal(done.state, "done");
  const streamed = events.filter((e) => e.type === "chunk").map((e) => e.text).join("");
  assert.equal(streamed, done.answer);
  assert.ok(done.answer.startsWith("```"));
});

it("hardware reports the backend it would use, as text and as JSON", async () => {
  const text = await cli(["hardware", "--gpu", "cpu"], "");
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Backend: CPU\nCPU: \d+ physical cores, \d+ logical; \d+ threads by default\n$/);
  const json = await cli(["hardware", "--json"], "");
  assert.equal(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout) as { backend: string; cpuCores: number; threads: number };
  assert.ok(["cpu", "cuda", "vulkan", "metal"].includes(info.backend));
  assert.equal(info.threads, info.cpuCores);
});

it("a model file that does not exist is a clear error and a non-zero exit", async () => {
  const { code, stderr } = await cli(["chat", "-m", path.join(repoRoot, "nope.gguf"), "--gpu", "cpu", "x"], "");
  assert.equal(code, 1);
  assert.match(stderr, /nope\.gguf does not exist/);
});

it("an invalid setting is named, and the default is used", async () => {
  const { code, stdout } = await cli(["chat", "--json", "-m", tiny, "--gpu", "cpu", "--threads", "1", "--ask", "never", "--max-questions", "0", "--max-tokens", "8", "x"], "");
  assert.equal(code, 0);
  assert.match(stdout, /"type":"warning","message":"maxQuestions: 0 is not valid/);
});
