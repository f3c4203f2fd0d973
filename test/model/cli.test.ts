/** `clarifycoder chat` as a user or a script runs it: the built CLI in its own process, on the tiny model. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { before, it } from "node:test";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { cli as runCli } from "../helpers/cli.js";
import { repoRoot, tempDir } from "../helpers/worker.js";

let tiny: string;
before(async () => {
  tiny = path.join(await tempDir("clarifycoder-cli-"), "tiny.gguf");
  await writeTinyModel(tiny);
});

const cli = (args: string[], input: string) => runCli(args, input);

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

it("an option out of its range is refused with the range, exit code 2, before anything is loaded", async () => {
  const cases: [string[], RegExp][] = [
    [["--max-tokens", "8"], /option '--max-tokens <n>' argument '8' is invalid\. It must be an integer from 16 to 32768\./],
    [["--max-questions", "0"], /'--max-questions <n>' argument '0' is invalid\. It must be an integer from 1 to 10\./],
    [["--max-rounds", "1.5"], /It must be an integer from 1 to 5\./],
    [["--threshold", "2"], /'--threshold <p>' argument '2' is invalid\. It must be a number from 0 to 1\./],
    [["--threads", "-1"], /It must be an integer from 0 to 1024\./],
    [["--context-size", "lots"], /It must be an integer from 0 to 1048576\./],
    [["--gpu", "tpu"], /Allowed choices are auto, cuda, vulkan, metal, cpu\./],
    [["--gpu-layers", "half"], /'--gpu-layers <n>' argument 'half' is invalid\. GPU layers must be auto, max or a whole number/],
    [["--ask", "sometimes"], /Allowed choices are auto, always, never\./],
  ];
  for (const [option, message] of cases) {
    const { code, stdout, stderr } = await cli(["chat", "--json", "-m", tiny, ...option, "x"], "");
    assert.equal(code, 2, `${option.join(" ")}: ${stderr}`);
    assert.match(stderr, message);
    assert.equal(stdout, "", "nothing ran");
  }
});

it("a closed output (chat ... | head) ends the program quietly", async () => {
  const shell = spawn(
    "bash",
    [
      "-c",
      `"$0" "$1" chat -m "$2" --gpu cpu --threads 1 --ask never --max-tokens 4000 "pad a string" | head -n 2; echo "status=\${PIPESTATUS[0]}" >&2`,
      process.execPath,
      path.join(repoRoot, "bin/clarifycoder.js"),
      tiny,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  shell.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  shell.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise((resolve) => shell.on("close", resolve));
  assert.equal(stdout.split("\n").filter(Boolean).length, 2, "head took its two lines");
  assert.equal(stderr.trim(), "status=0", `the chat ended quietly: ${stderr}`);
});
