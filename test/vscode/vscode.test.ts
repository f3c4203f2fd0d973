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
import type { FrameLocator } from "playwright-core";
import { ensureSmolLM2 } from "../fixtures/smollm2";
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
      const view = page.frameLocator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`).frameLocator("#active-frame");
      // Nothing chosen: the catalog's default code model is preselected, and the view does not call it a demo.
      await view.locator(".model-label", { hasText: "Qwen2.5-Coder 0.5B Instruct" }).waitFor({ timeout: 15_000 });
      await page.locator(".statusbar").getByText("Qwen2.5-Coder 0.5B Instruct").waitFor({ timeout: 5_000 });
      assert.equal(await view.locator(".demo-notice").count(), 0, "the default is not a demo");
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the view's status line matches, failing on a failed turn (unless that is what is waited for). */
async function statusUntil(view: FrameLocator, pattern: RegExp, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = (await view.locator(".status-line").textContent()) ?? "";
    if (pattern.test(text)) return text;
    if (/^Failed/.test(text) && !pattern.test("Failed.")) {
      throw new Error(`the turn failed: ${(await view.locator(".turn-group.current .failure-message").textContent()) ?? ""}`);
    }
    if (Date.now() > end) throw new Error(`the status line says "${text}", not ${String(pattern)}`);
    await sleep(200);
  }
}

/**
 * The follow-up, as a user does it in the view: typed in the composer; its questions (if it asks) left to the
 * assistant with "You decide"; Generate; then Regenerate clicked.
 */
async function followUpInTheView(view: FrameLocator, screenshot: (name: string) => Promise<string>): Promise<void> {
  try {
    await followUpSteps(view, screenshot);
  } catch (error) {
    await screenshot("flow-followup-failed").catch(() => undefined);
    throw error;
  }
}

async function followUpSteps(view: FrameLocator, screenshot: (name: string) => Promise<string>): Promise<void> {
  const composer = view.locator(".composer-input textarea");
  await composer.fill("Now add a docstring to it.");
  await composer.press("Enter");
  await view.locator(".turn-group").nth(1).waitFor({ timeout: 15_000 });
  const current = view.locator(".turn-group.current");
  for (;;) {
    const status = await statusUntil(view, /^Answer or skip|^Every question is answered|^Done/, 300_000);
    if (/^Done/.test(status)) break;
    while ((await current.locator(".question .suggestion.waive").count()) > 0) {
      const before = await current.locator(".question .suggestion.waive").count();
      await current.locator(".question .suggestion.waive").first().click();
      for (let i = 0; i < 100 && (await current.locator(".question .suggestion.waive").count()) === before; i++) await sleep(50);
    }
    await current.locator("vscode-button.generate:not([disabled])").click();
    await statusUntil(view, /Writing code|Reading your request|^Done/, 30_000);
  }
  assert.equal(await view.locator(".turn-group").count(), 2, "two turns on screen");
  await current.locator("pre code.hljs").first().waitFor({ timeout: 5_000 });
  await view.locator(".turn-group.current vscode-button.regenerate").waitFor({ timeout: 5_000 });
  await screenshot("flow-followup");
  await current.locator("vscode-button.regenerate").click();
  await statusUntil(view, /Writing code/, 30_000);
  await statusUntil(view, /^Done/, 300_000);
  await screenshot("flow-regenerated");
}

/** Clicks Stop in the view while the model reads a long prompt; resolves with the milliseconds until "Stopped.". */
async function stopInTheView(view: FrameLocator): Promise<number> {
  const status = await statusUntil(view, /Reading your request|Writing code/, 30_000);
  assert.match(status, /Reading your request/, "still reading the long prompt when Stop is clicked");
  const started = Date.now();
  await view.locator("vscode-button.stop").click();
  await statusUntil(view, /^Stopped\.$/, 10_000);
  return Date.now() - started;
}

async function largeSelectionInTheView(
  view: FrameLocator,
  screenshot: (name: string) => Promise<string>,
  record: (key: string, ms: number) => void,
): Promise<void> {
  await view.locator(".context-chip.kind-selection", { hasText: "1-5001" }).waitFor({ timeout: 10_000 });
  const composer = view.locator(".composer-input textarea");
  await composer.fill("make it faster");
  await composer.press("Enter");
  const note = view.locator(".turn-group.current .context-note");
  await note.waitFor({ timeout: 120_000 });
  assert.match((await note.textContent()) ?? "", /^Sent lines [\d,]+-5,001 of the 5,001 selected \(lines 1-5,001\)/);
  await sleep(1_000);
  const ms = await stopInTheView(view);
  record("stopLargeSelectionMs", ms);
  await screenshot("large-selection-stopped");
  assert.ok(ms < 1_000, `Stop took ${ms} ms`);
}

async function largeRequestInTheView(
  view: FrameLocator,
  screenshot: (name: string) => Promise<string>,
  record: (key: string, ms: number) => void,
): Promise<void> {
  const composer = view.locator(".composer-input textarea");
  // Plain prose: about four characters a token, so 20,000 characters fit a context of 8,192 tokens, and take the
  // model a while to read on a CPU.
  const words = "Explain what this function does and how it should behave when the input list is empty or holds values that are not numbers. ";
  await composer.fill(words.repeat(Math.ceil(20_000 / words.length)).slice(0, 20_000));
  await composer.press("Enter");
  await statusUntil(view, /Reading your request/, 30_000);
  // A long wait says what is happening: the tokens read of how many, the time so far, and what is left at that pace.
  const reading = await statusUntil(view, /tokens read, (about .* left|almost done)/, 60_000);
  const [, seconds, read, total] = /^Reading your request… (\d+) s · ([\d,]+) of ([\d,]+) tokens read, /.exec(reading) ?? [];
  assert.ok(seconds !== undefined && read !== undefined && total !== undefined, `the reading status: ${reading}`);
  const number = (x: string): number => Number(x.replace(/,/g, ""));
  assert.ok(number(read) < number(total) && number(total) > 4_000, `the reading status: ${reading}`);
  await screenshot("large-request-reading");
  const ms = await stopInTheView(view);
  record("stopLargeRequestMs", ms);
  assert.ok(ms < 1_000, `Stop took ${ms} ms`);
  // One that cannot fit the model's context at all: refused at once, with what to do.
  await composer.fill(words.repeat(Math.ceil(120_000 / words.length)).slice(0, 120_000));
  await composer.press("Enter");
  await statusUntil(view, /^Failed/, 60_000);
  const message = (await view.locator(".turn-group.current .failure-message").textContent()) ?? "";
  assert.match(message, /^The request is too long for the model: it is [\d,]+ tokens.*Shorten the request/);
  await screenshot("large-request-refused");
}

for (const theme of ["Default Light Modern", "Default Dark Modern"]) {
  const tone = theme.includes("Dark") ? "dark" : "light";
  test(
    `a real conversation on SmolLM2 in VS Code (${tone} theme): a follow-up, Regenerate${tone === "light" ? ", large inputs stopped from the view" : ""}; screenshotted`,
    { timeout: 1_200_000 },
    async (t) => {
      const model = await ensureSmolLM2();
      if (!("path" in model)) {
        if (process.env.CI) assert.fail(`SmolLM2 is needed in CI: ${model.unavailable}`);
        return t.skip(model.unavailable);
      }
      const dir = path.join(REPO_ROOT, `test-results/vscode-flow-${tone}`);
      rmSync(dir, { recursive: true, force: true });
      const seen: string[] = [];
      // The large inputs run once, in the light theme (they take minutes on a small CPU).
      const large = tone === "light";
      const timings: Record<string, number> = {};
      const record = (key: string, ms: number): void => {
        timings[key] = ms;
      };
      const result = await runVsCodeSuite({
        extensionPath: REPO_ROOT,
        suitePath: SUITE,
        screenshotsDir: dir,
        // The page as VS Code really serves it (its CSP, Trusted Types, the webview's own frames) renders the model's
        // questions as a form and its answer as highlighted code with the block's actions.
        onCheckpoint: async ({ name, page, screenshot }) => {
          const view = page.frameLocator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`).frameLocator("#active-frame");
          seen.push(name);
          if (name === "flow-questions") {
            await view.locator(".question-text").first().waitFor({ timeout: 15_000 });
            await view.locator(".suggestion.waive").first().waitFor({ timeout: 5_000 });
          } else if (name === "flow-answer") {
            await view.locator("pre code.hljs").first().waitFor({ timeout: 15_000 });
            await view.locator(".code-tool[data-action=insert]").first().waitFor({ timeout: 5_000 });
          } else if (name === "flow-followup") {
            return followUpInTheView(view, screenshot);
          } else if (name === "large-selection") {
            return largeSelectionInTheView(view, screenshot, record);
          } else if (name === "large-request") {
            return largeRequestInTheView(view, screenshot, record);
          }
          await screenshot(name);
        },
        suiteTimeoutMs: large ? 1_140_000 : 840_000,
        timeoutMs: large ? 1_180_000 : 880_000,
        env: { CLARIFYCODER_FLOW_MODEL: model.path, ...(large ? { CLARIFYCODER_LARGE_INPUT: "1" } : {}) },
        userSettings: {
          "workbench.colorTheme": theme,
          "clarifycoder.model": model.path,
          "clarifycoder.gpu": "cpu",
          "clarifycoder.askPolicy": "always",
          "clarifycoder.maxRounds": 1,
          "clarifycoder.maxCodeTokens": 160,
        },
      });
      if (Object.keys(timings).length > 0) writeFileSync(path.join(dir, "stop-timings.json"), `${JSON.stringify(timings, null, 2)}\n`);
      assert.equal(result.exitCode, 0, explain(result));
      assert.match(result.suiteOutput, /ask, answer, leave one to the assistant, and get the code; then a follow-up in the same conversation/);
      assert.deepEqual(
        seen.filter((n) => n.startsWith("flow-")),
        ["flow-questions", "flow-answer", "flow-followup"],
      );
      if (large)
        assert.deepEqual(
          seen.filter((n) => n.startsWith("large-")),
          ["large-selection", "large-request"],
        );
      const shots = [
        "flow-questions",
        "flow-answer",
        "flow-followup",
        "flow-regenerated",
        ...(large ? ["large-selection-stopped", "large-request-refused"] : []),
      ];
      for (const shot of shots.map((n) => `${n}.png`)) {
        const file = path.join(dir, shot);
        assert.ok(existsSync(file) && statSync(file).size > 5_000, `no usable screenshot at ${file}`);
      }
    },
  );
}

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
