/**
 * `npm run check:gpu` on this machine: with --allow-cpu it loads the tiny model, times raw node-llama-cpp against our
 * worker and writes every figure as JSON; on a machine with no GPU, without --allow-cpu, it says why for each backend
 * and exits with 1. Whether the figures are fast is the check's business, not a test's.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import { repoRoot, tempDir } from "../helpers/worker.js";

interface CheckReport {
  hardware: { backend: string };
  load: { gpuLayers: number; totalLayers: number; backend: string; warmup?: { tokens: number } };
  timings: { oursDecodeTokensPerSecond: number[]; rawDecodeTokensPerSecond: number[]; oursOverRaw: number; rawCpu: { decodeTokensPerSecond: number }[] };
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, "dist/check-gpu.js"), ...args], { cwd: repoRoot });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const tinyFiles = (): string[] => readdirSync(os.tmpdir()).filter((f) => /^clarifycoder-check-gpu-\d+\.gguf$/.test(f));

it("check:gpu reports the backend, the layers and ours against raw as JSON, and says why no GPU works here", { timeout: 120_000 }, async () => {
  const before = tinyFiles();
  const out = path.join(await tempDir("clarifycoder-check-gpu-test-"), "gpu.json");
  const allowed = await run(["--allow-cpu", "--runs", "1", "--tokens", "8", "--out", out]);
  assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
  const report = JSON.parse(await readFile(out, "utf8")) as CheckReport;
  assert.match(allowed.stdout + allowed.stderr, new RegExp(`Backend: ${report.hardware.backend.toUpperCase()}`));
  assert.equal(report.load.totalLayers, 3, "the tiny model's layers");
  assert.ok(report.load.warmup && report.load.warmup.tokens > 0, "the model was warmed up after loading");
  assert.equal(report.timings.oursDecodeTokensPerSecond.length, 1);
  assert.ok(report.timings.oursDecodeTokensPerSecond[0]! > 0 && report.timings.rawDecodeTokensPerSecond[0]! > 0);
  assert.ok(report.timings.oursOverRaw > 0);
  assert.ok(report.timings.rawCpu[0]!.decodeTokensPerSecond > 0, "the CPU side was timed too");
  assert.deepEqual(
    tinyFiles().filter((f) => !before.includes(f)),
    [],
    "the tiny model it wrote is gone",
  );
  if (report.hardware.backend === "cpu") {
    assert.equal(report.load.gpuLayers, 0);
    const refused = await run(["--runs", "1", "--tokens", "8"]);
    assert.equal(refused.code, 1, "no GPU backend works: exit 1");
    const text = refused.stdout + refused.stderr;
    assert.match(text, /No GPU backend works here/);
    for (const backend of ["cuda", "vulkan", "metal"])
      assert.match(text, new RegExp(`^  ${backend}: The \\w+ backend was asked for, but it cannot be used here: .+ To fix it: `, "m"));
  } else {
    assert.equal(report.load.gpuLayers, report.load.totalLayers, "every layer on the GPU");
  }
});
