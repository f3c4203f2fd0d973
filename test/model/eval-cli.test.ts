/** `clarifycoder eval` and `eval report` as a user runs them: the built CLI in its own process, against a stand-in endpoint. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, it } from "node:test";
import { startOpenAIServer, type StandInServer } from "../helpers/openai-server.js";
import { cli as runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/worker.js";

let dir: string;
let server: StandInServer;

before(async () => {
  dir = await tempDir("eval-cli-");
  const row = {
    name: "C/0",
    prompt: 'def double(x):\n    """Return twice x."""\n',
    prompt1a: 'def candidate(x):\n    """Return a multiple of x."""\n',
    entry_point: "double",
    test_case: [{ input: "2", output: "4", relation: "==" }],
  };
  await writeFile(path.join(dir, "bench.jsonl"), `${JSON.stringify(row)}\n`);
  // The model codes at once; the judge is never needed.
  server = await startOpenAIServer(() => ({ text: "```python\ndef double(x):\n    return 2 * x\n```" }), ["coder", "judge"]);
});
after(() => server.close());

const cli = runCli;

it("eval runs, prints the headline numbers and the report's path; eval report puts runs side by side", async () => {
  const out = path.join(dir, "run");
  const run = await cli(["eval", "-b", path.join(dir, "bench.jsonl"), "-m", `${server.url}#coder`, "-j", `${server.url}#judge`, "-o", out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Modified prompts \(1\): communication 0\.0%, good questions 0\.0%, pass@1 100\.0%, test pass rate 100\.0%\./);
  assert.match(run.stdout, /Original prompts \(1\): asks 0\.0%, pass@1 100\.0%/);
  assert.match(run.stdout, new RegExp(`Report: ${path.join(out, "report.html").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
  for (const f of ["run.json", "results.jsonl", "summary.json", "report.md", "report.html"]) assert.ok(existsSync(path.join(out, f)), f);

  const again = await cli(["eval", "-b", path.join(dir, "bench.jsonl"), "-m", `${server.url}#coder`, "-j", `${server.url}#judge`, "-o", out]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Resuming: 2 of 2 items are already done\./);

  const target = path.join(dir, "compare.html");
  const report = await cli(["eval", "report", out, out, "--html", target]);
  assert.equal(report.code, 0, report.stderr);
  const html = await readFile(target, "utf8");
  assert.match(html, /<b style="color:#2563eb">run<\/b>/);
  assert.match(html, /<b style="color:#ea580c">run \(2\)<\/b>/, "two runs of the same name are told apart");
});

it("names what is missing or wrong: a usage error exits with 2, a run that cannot be read with 1", async () => {
  const missing = await cli(["eval", "-b", path.join(dir, "bench.jsonl"), "-o", path.join(dir, "x")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Missing --model, --judge: eval needs/);
  const outOfRange = await cli([
    "eval",
    "-b",
    path.join(dir, "bench.jsonl"),
    "-m",
    `${server.url}#coder`,
    "-j",
    `${server.url}#judge`,
    "-o",
    path.join(dir, "y"),
    "--threads",
    "-1",
  ]);
  assert.equal(outOfRange.code, 2);
  assert.match(outOfRange.stderr, /^error: option '--threads <n>' argument '-1' is invalid\. It must be an integer from 0 to 1024\.$/m);
  const noRun = await cli(["eval", "report", path.join(dir, "nothing-here")]);
  assert.equal(noRun.code, 1);
  assert.match(noRun.stderr, /nothing-here has no summary\.json: is it the --out folder of an eval run\?/);
});
