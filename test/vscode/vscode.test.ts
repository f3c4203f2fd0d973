/**
 * The extension in a real VS Code (code-server 1.100.3 + Chromium, offline), through test/vscode/harness.ts:
 * the extension-host suite passes and the chat view really renders; and the harness can fail: a failing test and a
 * hanging suite are both reported as failures.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/vscode/vscode.test.ts (code-server is installed on first use).
 * Screenshots land in test-results/vscode/. The conversations through the UI are in ui.test.ts.
 */
import * as assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { before, test } from "node:test";
import { findCodeServer, HARNESS_DIR_ENV, REPO_ROOT, runVsCodeSuite, type RunVsCodeSuiteResult } from "./harness";

const SUITE = path.join(REPO_ROOT, "dist/test/vscode-suite.js");
const SCREENSHOTS = path.join(REPO_ROOT, "test-results/vscode");
const EXTENSION_ID = "clarifycoder.clarifycoder";

const explain = (r: RunVsCodeSuiteResult): string =>
  `exit ${r.exitCode}${r.error ? ` (${r.error})` : ""}\n---- output ----\n${r.output.split("\n").slice(-150).join("\n")}`;

before(() => {
  findCodeServer(); // installs code-server when it is missing, or throws with the one command that would
  assert.ok(existsSync(SUITE), `${SUITE} is missing: build first (node esbuild.mjs)`);
});

test("the extension-host suite passes in real VS Code and the chat view renders", { timeout: 180_000 }, async () => {
  rmSync(SCREENSHOTS, { recursive: true, force: true });
  let sawCheckpoint = false;
  const result = await runVsCodeSuite({
    extensionPath: REPO_ROOT,
    suitePath: SUITE,
    screenshotsDir: SCREENSHOTS,
    userSettings: { "workbench.colorTheme": "Default Light Modern" },
    onCheckpoint: async ({ name, page, screenshot }) => {
      if (name !== "chat-view") return;
      sawCheckpoint = true;
      const view = page
        .frameLocator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`)
        .frameLocator("#active-frame");
      // Nothing chosen: the catalog's demo model is preselected, and the view says it is a demo.
      await view.getByText("is a small demo model").waitFor({ timeout: 15_000 });
      await page.locator(".statusbar").getByText("SmolLM2 135M Instruct (demo)").waitFor({ timeout: 5_000 });
      await screenshot("chat-view-light");
    },
  });
  assert.equal(result.exitCode, 0, explain(result));
  assert.match(result.suiteOutput, /\d+ passing/);
  assert.doesNotMatch(result.suiteOutput, /^\s*\d+ failing/m);
  assert.ok(sawCheckpoint, "the suite never reached its chat-view checkpoint");
  const shot = path.join(SCREENSHOTS, "chat-view-light.png");
  assert.ok(existsSync(shot) && statSync(shot).size > 5_000, `no usable screenshot at ${shot}`);
});

test("a failing extension-host test fails the run", { timeout: 180_000 }, async () => {
  const result = await runVsCodeSuite({
    extensionPath: REPO_ROOT,
    suitePath: SUITE,
    env: { CLARIFYCODER_VSCODE_SELF_TEST: "fail" },
  });
  assert.equal(result.timedOut, false, explain(result));
  assert.equal(result.exitCode, 1, explain(result));
  assert.match(result.suiteOutput, /1 failing/);
  assert.match(result.suiteOutput, /deliberate failure/);
});

test("a suite that hangs is stopped by the timeout", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "clarifycoder-hang-suite-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "commonjs" }));
  const suite = path.join(dir, "hang-suite.js");
  writeFileSync(
    suite,
    `const fs = require("node:fs"), path = require("node:path");
exports.run = () => {
  fs.appendFileSync(path.join(process.env.${HARNESS_DIR_ENV}, "suite-output.txt"), "hanging suite started\\n");
  return new Promise(() => {});
};
`,
  );
  const started = Date.now();
  const result = await runVsCodeSuite({ extensionPath: REPO_ROOT, suitePath: suite, suiteTimeoutMs: 15_000 });
  assert.equal(result.timedOut, true, explain(result));
  assert.equal(result.exitCode, 124);
  assert.match(result.suiteOutput, /hanging suite started/, "the timeout hit before the suite ran: " + explain(result));
  assert.ok(Date.now() - started < 60_000, "teardown after the timeout took too long");
});

test("the overall timeout stops a run wherever it is (here: while VS Code starts)", { timeout: 60_000 }, async () => {
  const started = Date.now();
  const result = await runVsCodeSuite({ extensionPath: REPO_ROOT, suitePath: SUITE, timeoutMs: 1_500 });
  assert.equal(result.timedOut, true, explain(result));
  assert.equal(result.exitCode, 124);
  assert.ok(Date.now() - started < 20_000, `teardown after the timeout took ${Date.now() - started} ms`);
});
