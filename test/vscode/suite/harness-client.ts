/**
 * The suite's side of the harness protocol (test/vscode/harness.ts). When the suite runs under the harness, the
 * extension host's environment names a folder in CLARIFYCODER_VSCODE_HARNESS_DIR, through which the suite
 *  - writes its reporter output (suite-output.txt), so the harness gets it exactly, even on a hang, and
 *  - reaches checkpoints: `await checkpoint("chat-dark")` pauses the suite while the harness acts on the live
 *    workbench (by default: a screenshot named after the checkpoint), then resumes it.
 * Elsewhere (a desktop VS Code through @vscode/test-electron) the folder is absent and both are no-ops.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

export const HARNESS_DIR_ENV = "CLARIFYCODER_VSCODE_HARNESS_DIR";
export const SUITE_OUTPUT_FILE = "suite-output.txt";

const harnessDir = process.env[HARNESS_DIR_ENV] || undefined;

export const underHarness = harnessDir !== undefined;

export function writeSuiteOutput(text: string): void {
  if (harnessDir) appendFileSync(path.join(harnessDir, SUITE_OUTPUT_FILE), text);
}

let sequence = 0;

/**
 * Asks the harness to act on the workbench as it is now (e.g. screenshot it) and waits until it has. `name` becomes
 * the screenshot's file name: letters, digits, `.`, `_`, `-`. Rejects with the harness's error, or on a timeout.
 */
export async function checkpoint(name: string, timeoutMs = 60_000): Promise<void> {
  if (!/^[\w.-]{1,80}$/.test(name)) throw new Error(`bad checkpoint name: ${JSON.stringify(name)}`);
  if (!harnessDir) return;
  const id = `checkpoint-${String(++sequence).padStart(3, "0")}`;
  const request = path.join(harnessDir, `${id}.request`);
  const done = path.join(harnessDir, `${id}.done`);
  writeFileSync(`${request}.tmp`, JSON.stringify({ name }));
  renameSync(`${request}.tmp`, request); // the harness never sees a half-written request
  const end = Date.now() + timeoutMs;
  while (!existsSync(done)) {
    if (Date.now() > end) throw new Error(`the harness did not answer checkpoint "${name}" within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const answer = JSON.parse(readFileSync(done, "utf8")) as { error?: string };
  if (answer.error) throw new Error(`checkpoint "${name}": ${answer.error}`);
}
