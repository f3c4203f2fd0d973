/**
 * `clarifycoder eval` with a real model as both the model under test and the judge: SmolLM2-135M-Instruct through
 * the real worker, in both modes. Structure is asserted, not scores (a 135M model scores near zero, and that is
 * fine). The problems come from the real benchmark when CLARIFYCODER_HUMANEVALCOMM names it, else from a small
 * HumanEvalComm-shaped file this test writes, so the tier runs in CI too.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { before, describe, it } from "node:test";
import { runEval, type EvalOptions } from "../../src/cli/eval/run.js";
import type { EvalRow } from "../../src/core/eval/results.js";
import type { RunSummary } from "../../src/core/eval/summary.js";
import { ensureSmolLM2 } from "../fixtures/smollm2.js";
import { tempDir, workerPath } from "../helpers/worker.js";

let modelPath: string | undefined;
let unavailable: string | undefined;
let benchmark: string;
let dir: string;

const ownProblems = [
  {
    name: "Own/0",
    prompt: 'def count_vowels(text: str) -> int:\n    """Count the vowels (a, e, i, o, u) in text.\n    >>> count_vowels("banana")\n    3\n    """\n',
    prompt1a: 'def candidate(text: str) -> int:\n    """Count some of the letters in text.\n    >>> candidate("banana")\n    3\n    """\n',
    entry_point: "count_vowels",
    test_case: [
      { input: "'banana'", output: "3", relation: "==" },
      { input: "''", output: "0", relation: "==" },
    ],
  },
  {
    name: "Own/1",
    prompt: 'def largest(xs: list) -> int:\n    """Return the largest number in xs.\n    >>> largest([3, 9, 2])\n    9\n    """\n',
    prompt1a: 'def candidate(xs: list) -> int:\n    """Return an extreme number in xs.\n    >>> candidate([3, 9, 2])\n    9\n    """\n',
    entry_point: "largest",
    test_case: [{ input: "[3, 9, 2]", output: "9", relation: "==" }],
  },
];

before(async () => {
  const found = await ensureSmolLM2();
  if ("path" in found) modelPath = found.path;
  else unavailable = found.unavailable;
  if (unavailable && process.env.CI) throw new Error(`The real-model tier cannot run: ${unavailable}`);
  if (unavailable) process.stdout.write(`# eval with SmolLM2 skipped: ${unavailable}\n`);
  dir = await tempDir("eval-smollm2-");
  const real = process.env.CLARIFYCODER_HUMANEVALCOMM;
  if (real && existsSync(real)) {
    benchmark = real;
    process.stdout.write(`# eval with SmolLM2 on the real benchmark (${path.basename(real)})\n`);
  } else {
    benchmark = path.join(dir, "own.jsonl");
    await writeFile(benchmark, ownProblems.map((p) => JSON.stringify(p)).join("\n") + "\n");
    process.stdout.write("# eval with SmolLM2 on this test's own two problems (set CLARIFYCODER_HUMANEVALCOMM to use the real benchmark)\n");
  }
});

async function evaluate(out: string, extra: Partial<EvalOptions>): Promise<{ code: number; stderr: string; rows: EvalRow[]; summary: RunSummary }> {
  const stderr = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
  let err = "";
  (stderr as unknown as PassThrough).on("data", (d: Buffer) => (err += d.toString()));
  const code = await runEval({
    benchmark,
    model: modelPath ?? "",
    judge: modelPath ?? "",
    out,
    categories: "1a,original",
    limit: 1,
    seed: 1,
    maxTokens: 64,
    judgeMaxTokens: 160,
    contextSize: 4096,
    gpu: "cpu",
    // One thread: on a busy shared machine, two threads that wait on each other run ten times slower.
    threads: 1,
    workerPath,
    stdout: new PassThrough(),
    stderr,
    ...extra,
  });
  const rows = (await readFile(path.join(out, "results.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as EvalRow);
  const summary = JSON.parse(await readFile(path.join(out, "summary.json"), "utf8")) as RunSummary;
  return { code, stderr: err, rows, summary };
}

function checkStructure(rows: readonly EvalRow[], summary: RunSummary): void {
  assert.deepEqual(summary.items, { planned: rows.length, evaluated: rows.length, errors: 0 });
  for (const r of rows) {
    assert.equal(r.error, undefined);
    assert.ok(
      r.exchanges.some((x) => x.who === "model" && x.kind !== "probe" && x.reply.trim() !== ""),
      `${r.id}: the model replied`,
    );
    assert.equal(r.tests.statuses.length, r.tests.total);
    assert.ok(r.tests.passed >= 0 && r.tests.passed <= r.tests.total);
    if (r.judge.length > 0) {
      assert.ok(
        r.exchanges.some((x) => x.who === "judge" && x.reply.trim() !== ""),
        `${r.id}: the judge replied`,
      );
      for (const j of r.judge) assert.ok(j.quality !== undefined || (j.noGrade ?? "") !== "", "a grade, or why there is none");
    }
  }
  for (const m of [summary.metrics.modified, summary.metrics.original]) {
    if (!m) continue;
    for (const v of [m.communicationRate, m.goodQuestionRate, m.pass1, m.testPassRate]) assert.ok(v >= 0 && v <= 1);
  }
}

describe("eval with SmolLM2-135M-Instruct as model and judge, through the real worker", () => {
  it("paper mode: HumanEvalComm's rounds with a real judge, and a report", async (t) => {
    if (!modelPath) return t.skip(unavailable);
    const out = path.join(dir, "paper");
    const { code, stderr, rows, summary } = await evaluate(out, { categories: "1a" });
    assert.equal(code, 0, stderr);
    assert.equal(rows.length, 1);
    checkStructure(rows, summary);
    for (const r of rows) assert.ok(r.exchanges[0]?.sent.startsWith("You are an expert software developer"));
    const html = await readFile(path.join(out, "report.html"), "utf8");
    assert.match(html, /<svg /);
  });

  it("engine mode: the guided ClarifySession, its probe stored for calibration", async (t) => {
    if (!modelPath) return t.skip(unavailable);
    const { code, stderr, rows, summary } = await evaluate(path.join(dir, "engine"), {
      mode: "engine",
      style: "guided",
      ask: "auto",
      decide: "probe",
      maxRounds: 1,
      maxQuestions: 2,
    });
    assert.equal(code, 0, stderr);
    assert.equal(rows.length, 2, "one problem in 1a and one original");
    checkStructure(rows, summary);
    for (const r of rows) {
      assert.ok(r.askProbability !== undefined && r.askProbability > 0 && r.askProbability < 1, `${r.id}: p(ask) = ${r.askProbability}`);
      assert.equal(r.exchanges[0]?.kind, "probe");
    }
    assert.ok(!("unavailable" in summary.calibration), "both kinds of prompt have a probability");
    const t0 = summary.calibration.suggestion.threshold;
    assert.ok(t0 >= 0 && t0 <= 1);
  });
});
