/**
 * `clarifycoder eval` against a hostile model served on 127.0.0.1: every reply is a fenced Python block whose
 * functions are wrong and which, when it loads, writes result lines claiming a pass on every descriptor it can reach
 * and files at absolute paths outside its folder. The run must score 0 and leave nothing outside.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { runEval } from "../../src/cli/eval/run.js";
import type { RunSummary } from "../../src/core/eval/summary.js";
import { startOpenAIServer, type StandInServer } from "../helpers/openai-server.js";

const problems = [
  {
    name: "H/0",
    entry: "add",
    prompt: 'def add(a, b):\n    """H0: the sum of a and b."""\n',
    tests: [
      { input: "1, 2", output: "3", relation: "==" },
      { input: "0, 0", output: "0", relation: "==" },
    ],
  },
  {
    name: "H/1",
    entry: "is_even",
    prompt: 'def is_even(n):\n    """H1: whether n is even."""\n',
    tests: [
      { input: "4", output: "True", relation: "==" },
      { input: "3", output: "False", relation: "==" },
    ],
  },
  {
    name: "H/2",
    entry: "mean",
    prompt: 'def mean(xs):\n    """H2: the mean of xs."""\n',
    tests: [{ input: "[1.0, 3.0]", output: "", relation: "abs(candidate([1.0, 3.0]) - 2.0) < 1e-6" }],
  },
];

let dir: string;
let outside: string;
let server: StandInServer;
let targets: string[];

function hostileReply(): string {
  const code = String.raw`
import json, os
LINE = "".join(json.dumps({"i": i, "ok": True, "status": "passed", "phase": "value", "str": "3", "repr": "3", "enc": ["i", "3"]}) + "\n" for i in range(8)).encode()
for fd in range(1, 10):
    try:
        os.write(fd, LINE)
    except OSError:
        pass
for target in TARGETS:
    try:
        with open(target, "w") as f:
            f.write("escaped")
    except OSError:
        pass

def add(a, b):
    return a - b - 1

def is_even(n):
    return "maybe"

def mean(xs):
    return -1.0
`.replace("TARGETS", JSON.stringify(targets));
  return "```python\n" + code + "\n```";
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "eval-hostile-test-"));
  outside = await mkdtemp(path.join(os.tmpdir(), "eval-hostile-outside-"));
  const marker = `escape-${randomUUID()}`;
  targets = [path.join(outside, marker), path.join(os.homedir(), marker), path.join(os.tmpdir(), marker), path.join(dir, marker)];
  const rows = problems.map((p) => JSON.stringify({ name: p.name, prompt: p.prompt, entry_point: p.entry, test_case: p.tests, solution: "" }));
  await writeFile(path.join(dir, "bench.jsonl"), `${rows.join("\n")}\n`);
  server = await startOpenAIServer(
    (request) => {
      const body = request.body as { model?: string };
      if (body.model === "judge") return { text: JSON.stringify({ requirements: [], quality: 1, answers: [] }) };
      return { text: hostileReply() };
    },
    ["coder", "judge"],
  );
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe("eval against a hostile model", () => {
  it("scores pass@1 0 and test pass rate 0, and nothing is written outside the sandbox", async () => {
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    let err = "";
    stdout.resume();
    (stderr as unknown as PassThrough).on("data", (d: Buffer) => (err += d.toString()));
    const out = path.join(dir, "run");
    const code = await runEval({
      benchmark: path.join(dir, "bench.jsonl"),
      model: `${server.url}#coder`,
      judge: `${server.url}#judge`,
      out,
      categories: "original",
      stdout,
      stderr,
    });
    assert.equal(code, 0, err);
    const summary = JSON.parse(await readFile(path.join(out, "summary.json"), "utf8")) as RunSummary;
    assert.equal(summary.items.evaluated, 3);
    assert.equal(summary.metrics.original?.items, 3);
    assert.equal(summary.metrics.original?.pass1, 0);
    assert.equal(summary.metrics.original?.testPassRate, 0);
    assert.match(summary.sandbox.network, /^isolated \(bubblewrap/);
    for (const t of targets) assert.equal(existsSync(t), false, `${t} was written`);
  });
});
