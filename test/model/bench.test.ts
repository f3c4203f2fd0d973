/**
 * `npm run bench` reports the high-speed case (the tiny model on one thread, where a fixed cost per token shows; a
 * row of its default table) against both baselines. It checks that the figures are there and sane; how fast
 * they are is the benchmark's business, not a test's.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { repoRoot, tempDir } from "../helpers/worker.js";

interface BenchRow {
  model: string;
  threads: number;
  bareTokensPerSecond: number;
  rawTokensPerSecond: number;
  oursTokensPerSecond: number;
  tokensPerSecondRatio: number;
  bareRatio: number;
  ratioRange: [number, number];
  codeTurnEvaluated: number;
  codeTurnNewTokens: number;
  stopMs: number;
}

it("the bench measures the high-speed case (the tiny model on one thread) against both baselines", { timeout: 300_000 }, async () => {
  const out = path.join(await tempDir("clarifycoder-bench-"), "bench.json");
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, "dist/bench.js"), "--models", "tiny", "--threads", "1", "--runs", "1", "--code-tokens", "48", "--out", out],
      { cwd: repoRoot },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c, stdout, stderr }));
  });
  assert.equal(code, 0, stderr);
  const { rows } = JSON.parse(await readFile(out, "utf8")) as { rows: BenchRow[] };
  assert.deepEqual(
    rows.map((r) => r.threads),
    [1],
  );
  for (const row of rows) {
    for (const key of ["bareTokensPerSecond", "rawTokensPerSecond", "oursTokensPerSecond", "tokensPerSecondRatio", "bareRatio", "stopMs"] as const) {
      assert.ok(Number.isFinite(row[key]) && row[key] > 0, `${key} = ${row[key]} on ${row.threads} thread(s)`);
    }
    assert.ok(row.ratioRange[0] <= row.tokensPerSecondRatio && row.tokensPerSecondRatio <= row.ratioRange[1]);
    assert.ok(row.codeTurnEvaluated <= row.codeTurnNewTokens + 24, `the code turn evaluated ${row.codeTurnEvaluated} for ${row.codeTurnNewTokens} new tokens`);
  }
  assert.match(stdout, /\| tiny \(generated\) \| 1 +\|/, "the table has the one-thread row");
  assert.match(stdout, /ours\/bare \| ours\/session/);
});
