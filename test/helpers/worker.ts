import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ModelWorker, type ModelWorkerOptions } from "../../src/llm/worker/client.js";
import { LocalModel } from "../../src/llm/models/local.js";
import { crashHookEnv } from "../../src/llm/worker/protocol.js";

export const repoRoot = path.resolve(__dirname, "../..");
export const workerPath = path.join(repoRoot, "dist/worker.mjs");

/** A real model worker (the bundled dist/worker.mjs, as the extension and CLI run it). */
export function startWorker(options: Omit<ModelWorkerOptions, "workerPath" | "log"> = {}): { worker: ModelWorker; model: LocalModel; logs: string[] } {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run "npm run build" first (npm test does).`);
  const logs: string[] = [];
  const worker = new ModelWorker({
    ...options,
    env: { [crashHookEnv]: "1", ...options.env },
    workerPath,
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  return { worker, model: new LocalModel(worker), logs };
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}
