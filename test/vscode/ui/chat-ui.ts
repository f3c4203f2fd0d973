/**
 * The end-to-end suite: a real VS Code window with the extension, driven only through its UI (the command palette,
 * the editor, the chat view's real webview), on a real model in the real worker.
 *
 * - On the generated tiny model (deterministic), exact checks: select code, ask about it, see the question, answer
 *   it, see the next round's question, leave it to the assistant, Generate, watch the code stream, Insert, and the
 *   saved file holds exactly the block the view showed. Then reload the window and find the conversation again;
 *   Stop a long generation from the view; point the model setting at a file that crashes llama.cpp and read the
 *   error in the view while VS Code keeps working.
 * - On SmolLM2 (a real small instruct model): the same conversation with real sentences, screenshotted.
 * - On a served model (a stand-in OpenAI-compatible server on 127.0.0.1, named in the user's settings): the picker's
 *   "Use a served model…" sets the API key, a whole conversation goes through the server with the key sent, and Stop
 *   closes the server's request.
 *
 * Screenshots of every step go to test-results/<name>/. The suite is the same for every runner (`open`).
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Frame } from "playwright-core";
import { ensureSmolLM2 } from "../../fixtures/smollm2";
import { writeCorruptModels, writeTinyModel, TINY_MODEL_PHRASE } from "../../fixtures/tiny-model";
import { insertionText } from "../../../src/core/placement";
import { startOpenAIServer, type RecordedRequest, type StandInServer } from "../../helpers/openai-server";
import { WorkbenchDriver, type OpenWorkbench, type Workbench } from "./workbench";

const REPO_ROOT = path.resolve(__dirname, "../../..");

const source = `export function pad(text: string, width: number): string {
  const missing = width - text.length;
  return missing > 0 ? " ".repeat(missing) + text : text;
}
`;

/** Writes the workspace the window opens: one TypeScript file, and workspace settings the test can change. */
function makeWorkspace(root: string, settings: Record<string, unknown>): string {
  const workspace = path.join(root, "workspace");
  mkdirSync(path.join(workspace, ".vscode"), { recursive: true });
  writeFileSync(path.join(workspace, "pad.ts"), source);
  writeFileSync(path.join(workspace, ".vscode/settings.json"), `${JSON.stringify(settings, null, 2)}\n`);
  return workspace;
}

/**
 * Records, inside the chat view, every text the answer's code showed and when the status line changed (page-side
 * JavaScript: this file is compiled without the DOM's types).
 */
const watchScript = `(() => {
  const record = { codeTexts: [], statuses: [] };
  window.__watch = record;
  new MutationObserver(() => {
    const code = document.querySelector(".answer pre.code code")?.textContent ?? "";
    if (code !== "" && code !== record.codeTexts.at(-1)) record.codeTexts.push(code);
    const status = document.querySelector(".status-line")?.textContent ?? "";
    if (status !== record.statuses.at(-1)?.text) record.statuses.push({ text: status, at: performance.now() });
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
})()`;

interface Watched {
  codeTexts: string[];
  statuses: { text: string; at: number }[];
}

async function watchChat(frame: Frame): Promise<void> {
  await frame.evaluate(watchScript);
}

async function watched(frame: Frame): Promise<Watched> {
  return (await frame.evaluate("window.__watch")) as Watched;
}

/** Clicks Stop in the view and returns when, on the page's clock (performance.now), it was clicked. */
const clickStopScript = `(() => {
  const stop = document.querySelector("vscode-button.stop");
  if (!stop) throw new Error("no Stop button");
  const at = performance.now();
  stop.click();
  return at;
})()`;

/** Whether the view's focused element (through shadow roots) has a `data-focus-key` starting with `prefix`. */
const focusedKeyIs = (prefix: string): string => `(() => {
  let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  for (let n = e; n; n = n.parentElement || (n.getRootNode && n.getRootNode().host) || null) {
    if (n.dataset && n.dataset.focusKey) return n.dataset.focusKey.startsWith(${JSON.stringify(prefix)});
  }
  return false;
})()`;

const codeLongerThan = (n: number): string => `(document.querySelector(".answer pre.code code")?.textContent ?? "").length > ${n}`;

/** Waits until the saved file's text passes `check` (the save reaches the disk just after the tab stops being dirty). */
async function fileSettles(file: string, check: (text: string) => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check(readFileSync(file, "utf8"))) {
    if (Date.now() > end) throw new Error(`${path.basename(file)} never got the expected text: ${JSON.stringify(readFileSync(file, "utf8").slice(0, 300))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls an expression in the frame until it is true (waitForFunction would compile a string: the view's CSP forbids that). */
async function until(frame: Frame, expression: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await frame.evaluate(expression))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs a test's steps; when one fails, saves a screenshot named `shot` and adds the window's last output to the error. */
async function reporting(ui: WorkbenchDriver, runner: string, shot: string, steps: () => Promise<void>): Promise<void> {
  try {
    await steps();
  } catch (error) {
    await ui.shot(shot).catch(() => undefined);
    const output = ui.workbench.output.slice(-60).join("\n");
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n---- ${runner} output ----\n${output}`, { cause: error });
  }
}

/**
 * Starts a long answer in a new chat, clicks Stop in the view (see `stopAt`), waits
 * for "Stopped.", and prints and returns the milliseconds from the click to "Stopped." on the page's own clock.
 */
/**
 * Types a request into the composer and sends it, and sees it taken. code-server may swap the webview's service worker
 * just after the view loaded ("Found unexpected service worker controller"), which reloads the page: a request typed
 * into the page that went is lost, and is typed again into the new one.
 */
async function sendRequest(ui: WorkbenchDriver, text: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const chat = ui.chat();
    const composer = chat.locator(".composer-input textarea");
    await composer.fill(text);
    await composer.press("Enter");
    try {
      await chat.locator(".request-text", { hasText: text }).first().waitFor({ timeout: 10_000 });
      return;
    } catch (error) {
      if (attempt >= 3) throw error;
      console.log(`# the request was not taken (attempt ${attempt}); the view may have reloaded: typing it again`);
    }
  }
}

async function stopMidAnswer(
  ui: WorkbenchDriver,
  o: {
    settings: Record<string, unknown>;
    file: string;
    request: string;
    /** Stop once this much code is on screen; or, with "busy", a second and a half into the turn (a weak model's turn may fail before it writes code). */
    stopAt: { code: number } | "busy";
    timeoutMs: number;
    shot: string;
    label: string;
  },
): Promise<number> {
  await ui.setWorkspaceSettings(o.settings);
  await ui.openFile(o.file);
  await ui.command("ClarifyCoder: New Chat");
  const chat = ui.chat();
  await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
  const frame = await ui.chatFrame();
  await watchChat(frame);
  const composer = chat.locator(".composer-input textarea");
  await composer.fill(o.request);
  await composer.press("Enter");
  if (o.stopAt === "busy") {
    await chat.locator("vscode-button.stop:not([hidden])").waitFor({ timeout: o.timeoutMs });
    await ui.page.waitForTimeout(1_500);
  } else {
    await chat.locator(".status-line", { hasText: "Writing code…" }).waitFor({ timeout: o.timeoutMs });
    await until(frame, codeLongerThan(o.stopAt.code), o.timeoutMs);
  }
  await ui.shot(o.shot);
  const clickedAt = (await frame.evaluate(clickStopScript)) as number;
  await chat.locator(".status-line", { hasText: "Stopped." }).waitFor({ timeout: 10_000 });
  const stoppedAt = (await watched(frame)).statuses.find((s) => s.text === "Stopped." && s.at >= clickedAt)?.at;
  assert.ok(stoppedAt !== undefined, "the status line said Stopped. after the click");
  const latency = stoppedAt - clickedAt;
  console.log(`# ${o.label}, from the click to "Stopped." in the view: ${latency.toFixed(0)} ms`);
  // Not a timing test (the benchmark is for speed): it tells "Stop works" from "Stop waits for the answer to end".
  assert.ok(latency < 5_000, `Stop took ${latency.toFixed(0)} ms`);
  return latency;
}

export function defineChatUiSuite(runner: string, open: OpenWorkbench): void {
  describe(`${runner}: a conversation through the UI on the tiny model (exact)`, () => {
    let root: string;
    let workbench: Workbench | undefined;
    let ui: WorkbenchDriver;
    let tiny: string;
    let crashing: string;
    const request = "Write a function that pads a string on the left";
    const settings = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
      "clarifycoder.model": tiny,
      "clarifycoder.gpu": "cpu",
      "clarifycoder.threads": 1,
      "clarifycoder.contextSize": 4096,
      "clarifycoder.askPolicy": "always",
      "clarifycoder.askThreshold": 0,
      "clarifycoder.maxRounds": 2,
      // Enough tokens that the answer arrives in several pieces (the tiny model writes about 1,000 a second).
      "clarifycoder.maxCodeTokens": 600,
      ...over,
    });

    before(async () => {
      root = await mkdtemp(path.join(tmpdir(), "clarifycoder-ui-tiny-"));
      tiny = path.join(root, "tiny.gguf");
      await writeTinyModel(tiny);
      crashing = (await writeCorruptModels(path.join(root, "corrupt"))).missingHeadCount;
      const shots = path.join(REPO_ROOT, `test-results/ui-${runner}-tiny`);
      rmSync(shots, { recursive: true, force: true });
      workbench = await open({ workspace: makeWorkspace(root, settings()), userSettings: { "workbench.colorTheme": "Default Light Modern" } });
      ui = new WorkbenchDriver(workbench, shots);
      // The extension is active once its model item is in the status bar.
      await ui.page.locator(".statusbar-item", { hasText: "tiny.gguf" }).first().waitFor({ timeout: 60_000 });
    });

    after(async () => {
      await workbench?.close();
      rmSync(root, { recursive: true, force: true });
    });

    it("select code, ask, answer the question, Generate, watch it stream, Insert", { timeout: 180_000 }, async () => {
      await reporting(ui, runner, "failure", async () => {
        await ui.openFile("pad.ts");
        await ui.selectLines(2, 3);
        await ui.command("ClarifyCoder: Ask about Selection");
        const chat = ui.chat();
        await chat.locator(".context-chip.kind-selection").waitFor({ timeout: 20_000 });
        assert.equal(await chat.locator(".context-chip.kind-selection .chip-label").textContent(), "pad.ts:2-3");
        await ui.shot("01-selection-in-context");

        const composer = chat.locator(".composer-input textarea");
        await composer.fill(request);
        await composer.press("Enter");
        const question = chat.locator(".round.open .question").first();
        await question.locator(".question-text").waitFor({ timeout: 60_000 });
        assert.equal(await chat.locator(".request-text").textContent(), request);
        assert.equal(await chat.locator(".request-context").textContent(), "pad.ts · lines 2–3");
        assert.equal(await question.locator(".question-text").textContent(), TINY_MODEL_PHRASE);
        assert.deepEqual(await question.locator(".suggestion:not(.waive)").allTextContents(), [TINY_MODEL_PHRASE]);
        assert.equal(await ui.status(), "Answer or skip 1 more question.");
        assert.equal(await composer.inputValue(), "", "the request left the composer once the host took it");
        await ui.shot("02-question");

        const answer = question.locator("vscode-textfield input");
        await answer.fill("24 characters");
        await ui.shot("03-answer-typed");
        await answer.press("Enter");
        await question.locator(".given", { hasText: "Answer: 24 characters" }).waitFor({ timeout: 10_000 });

        // With rounds left (maxRounds 2) the model is asked again; the tiny model can only repeat its one question, and a
        // question already asked is never asked again, so the code comes next.
        const frame = await ui.chatFrame();
        await watchChat(frame);
        await chat.locator(".round.open vscode-button.generate:not([disabled])").click();
        await chat.locator(".status-line", { hasText: "Done: 1 code block." }).waitFor({ timeout: 60_000 });
        assert.equal(await chat.locator(".round").count(), 1, "the repeated question was not asked again");
        const seen = await watched(frame);
        assert.ok(
          seen.statuses.some((s) => s.text === "Writing code…"),
          `statuses: ${seen.statuses.map((s) => s.text).join(" | ")}`,
        );
        assert.ok(seen.codeTexts.length >= 2, `the code grew in the view as it streamed (${seen.codeTexts.length} texts)`);
        for (let i = 1; i < seen.codeTexts.length; i++) assert.ok(seen.codeTexts[i]?.startsWith(seen.codeTexts[i - 1] ?? ""), "each text extends the last");
        const block = (await chat.locator(".answer .code-block pre.code code").first().textContent()) ?? "";
        assert.equal(block, seen.codeTexts.at(-1));
        assert.match(block, new RegExp(`^(${TINY_MODEL_PHRASE.replace("?", "\\?")}")+`), "the tiny model's code, as it writes it");
        assert.equal(await chat.locator(".answer .code-language").first().textContent(), "typescript");
        await ui.shot("06-code");

        // The newest answer's actions are one shortcut from the composer (Alt+Up), not Shift+Tab after Shift+Tab.
        await chat.locator(".composer-input textarea").focus();
        await ui.page.keyboard.press("Alt+ArrowUp");
        await chat.locator(".code-block .code-tool[data-action=insert]:focus").waitFor({ timeout: 5_000 });
        await ui.shot("06b-insert-focused");
        await ui.page.keyboard.press("Enter");
        await ui.save("pad.ts");
        const at = source.split("\n").slice(0, 3).join("\n").length;
        const expected = source.slice(0, at) + insertionText(source.slice(0, at), source.slice(at), block) + source.slice(at);
        const file = path.join(ui.workbench.workspace, "pad.ts");
        await fileSettles(file, (text) => text !== source);
        assert.equal(readFileSync(file, "utf8"), expected, "the file holds exactly the block, at the cursor (on lines of its own if it has several)");
        await ui.shot("07-inserted");
      });
    });

    it("reload the window and find the conversation again", { timeout: 120_000 }, async () => {
      await reporting(ui, runner, "failure-reload", async () => {
        await ui.reloadWindow();
        const chat = ui.chat();
        await chat.locator(".request-text").waitFor({ timeout: 30_000 });
        assert.equal(await chat.locator(".request-text").textContent(), request);
        assert.equal(await chat.locator(".round").count(), 1);
        assert.match(await ui.status(), /^Done: 1 code block\./);
        await chat.locator(".code-block .code-tool[data-action=insert]").first().waitFor({ timeout: 10_000 });
        await chat.locator(".history-toggle").click();
        await chat.locator(".history-open[aria-current=true]", { hasText: request.slice(0, 20) }).click({ timeout: 10_000 });
        // Picking a conversation closes the list.
        await chat.locator("#history").waitFor({ state: "hidden", timeout: 10_000 });
        await ui.shot("08-after-reload");
      });
    });

    it("a question left to the assistant comes back as a stated assumption", { timeout: 120_000 }, async () => {
      await reporting(ui, runner, "failure-waive", async () => {
        await ui.command("ClarifyCoder: New Chat");
        const chat = ui.chat();
        await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
        const composer = chat.locator(".composer-input textarea");
        await composer.fill("Write a function that centres a string");
        await composer.press("Enter");
        await chat.locator(".round.open .question .question-text").waitFor({ timeout: 60_000 });
        await chat.locator(".round.open .suggestion.waive").click();
        await chat.locator(".round.open .question.waived").waitFor({ timeout: 10_000 });
        await ui.shot("08b-left-to-the-assistant");
        await chat.locator(".round.open vscode-button.generate:not([disabled])").click();
        await chat.locator(".status-line", { hasText: /^Done/ }).waitFor({ timeout: 60_000 });
        const assumptions = await chat.locator(".turn-group.current .assumption-text").allTextContents();
        assert.ok(
          assumptions.some((a) => a.startsWith(`You left "${TINY_MODEL_PHRASE}" to me: I assumed `)),
          `the waived question is stated as an assumption: ${JSON.stringify(assumptions)}`,
        );
        await ui.shot("08c-assumption-stated");
      });
    });

    it(
      "what a new user hit, checked where it happened: focus, the status line, wide code, a stale error, Ask about Selection",
      { timeout: 180_000 },
      async () => {
        await reporting(ui, runner, "failure-new-user", async () => {
          // Short answers, so that a second turn still fits the context (the tiny model's tokens are bytes).
          await ui.setWorkspaceSettings(settings({ "clarifycoder.maxRounds": 1, "clarifycoder.maxCodeTokens": 150 }));
          // Nothing selected (an earlier test left a selection): the cursor at the start of the file.
          await ui.openFile("pad.ts");
          await ui.focusEditor();
          await ui.page.keyboard.press("Control+Home");
          await ui.command("ClarifyCoder: New Chat");
          const chat = ui.chat();
          await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
          const frame = await ui.chatFrame();
          const composer = chat.locator(".composer-input textarea");
          await composer.fill("Write a function that pads a string on the right");
          await composer.press("Enter");
          const question = chat.locator(".round.open .question").first();
          await question.locator(".question-text").waitFor({ timeout: 60_000 });
          // The first answer field takes the focus, and it is in view (not scrolled out above the top).
          await until(frame, focusedKeyIs("field:"), 5_000);
          const [field, view] = await Promise.all([question.locator("vscode-textfield").boundingBox(), chat.locator(".conversation").boundingBox()]);
          assert.ok(field && view, "the field and the conversation are laid out");
          assert.ok(field.y >= view.y && field.y + field.height <= view.y + view.height, `the focused field is in view: ${JSON.stringify({ field, view })}`);
          await ui.shot("19-01-focus-in-view");
          // Every question settled: the status line says so, and nothing still counts questions.
          await question.locator("vscode-textfield input").fill("with spaces");
          await question.locator("vscode-textfield input").press("Enter");
          await question.locator(".given", { hasText: "Answer: with spaces" }).waitFor({ timeout: 10_000 });
          assert.equal(await ui.status(), "Every question is answered or skipped: Generate code writes it.");
          await ui.shot("19-02-status-settled");
          await chat.locator(".round.open vscode-button.generate:not([disabled])").click();
          await chat.locator(".status-line", { hasText: "Done: 1 code block." }).waitFor({ timeout: 60_000 });
          // The tiny model's code is one long line: wider than the side bar, and the view says so.
          await chat
            .locator(".turn-group.current .code-scroll-hint", { hasText: "Wider than the view: scroll sideways for the rest." })
            .waitFor({ timeout: 10_000 });
          await ui.shot("19-03-wide-code");
          // Replace with nothing selected: the reason shows under that block, once.
          await ui.openFile("pad.ts");
          await ui.focusEditor();
          await ui.page.keyboard.press("Control+Home");
          await chat.locator(".turn-group.current .code-tool[data-action=replaceSelection]").first().click();
          await chat.locator(".turn-group.current .code-feedback", { hasText: "Select the code to replace first." }).waitFor({ timeout: 10_000 });
          await ui.shot("19-04-replace-refused");
          // A later turn's code does not carry that earlier reason.
          await composer.fill("Now pad on both sides");
          await composer.press("Enter");
          // (The tiny model has only its one question, asked already: this turn goes straight to code.)
          await chat.locator(".turn-group.current .request-text", { hasText: "Now pad on both sides" }).waitFor({ timeout: 10_000 });
          await chat.locator(".turn-group.current .code-block").first().waitFor({ timeout: 60_000 });
          await chat.locator(".status-line", { hasText: "Done: 1 code block." }).waitFor({ timeout: 60_000 });
          assert.equal(await chat.locator(".turn-group").count(), 2);
          assert.equal(await chat.locator(".turn-group.current .code-feedback").count(), 0, "the later turn's code shows no earlier reason");
          assert.ok((await chat.getByText("Select the code to replace first.").count()) <= 1, "the reason is never repeated under other blocks");
          await ui.shot("19-05-later-turn-clean");
          // Ask about Selection with a conversation on screen starts a chat of its own for the selection.
          await ui.openFile("pad.ts");
          await ui.selectLines(1, 2);
          await ui.command("ClarifyCoder: Ask about Selection");
          await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
          await chat.locator(".context-chip.kind-selection .chip-label", { hasText: "pad.ts:1-2" }).waitFor({ timeout: 10_000 });
          assert.equal(await chat.locator(".turn-group").count(), 0, "a new chat, the earlier one in the history");
          await ui.shot("19-06-selection-new-chat");
        });
      },
    );

    it(
      "Stop in the middle of a generation ends it, keeps what was written, and says so; Continue writes the rest; Edit asks again",
      { timeout: 120_000 },
      async () => {
        await reporting(ui, runner, "failure-stop", async () => {
          // A long answer: the tiny model never ends a free text by itself.
          await stopMidAnswer(ui, {
            settings: settings({ "clarifycoder.askPolicy": "never", "clarifycoder.maxCodeTokens": 32768 }),
            file: "pad.ts",
            request: "Write a long table of sizes",
            stopAt: { code: 200 },
            timeoutMs: 60_000,
            shot: "09-generating",
            label: `${runner}: Stop on the tiny model`,
          });
          const chat = ui.chat();
          assert.equal(await chat.locator(".state-note").textContent(), "Stopped. This is what was produced:");
          const kept = (await chat.locator(".answer pre.code code").first().textContent()) ?? "";
          assert.ok(kept.length > 200, "what was written is kept");
          await ui.page.waitForTimeout(500);
          assert.equal(await chat.locator(".answer pre.code code").first().textContent(), kept, "nothing more arrives after Stop");
          assert.equal(await chat.locator("vscode-button.send").isVisible(), true);
          await ui.shot("10-stopped");
          // Continue writes the rest after what was kept (a small limit this time, so that it ends).
          await ui.setWorkspaceSettings(settings({ "clarifycoder.askPolicy": "never", "clarifycoder.maxCodeTokens": 80 }));
          await chat.locator("vscode-button.continue").click();
          await chat.locator(".status-line", { hasText: /^(Done|Failed)/ }).waitFor({ timeout: 60_000 });
          const continued = (await chat.locator(".answer pre.code code").first().textContent()) ?? "";
          assert.ok(
            continued.length > kept.length && continued.startsWith(kept.trimEnd()),
            `continued after the kept text:\n${kept.slice(-80)}\n---\n${continued.slice(kept.length - 80, kept.length + 80)}`,
          );
          await ui.shot("10b-continued");
          // Edit: the request again with new text, answered from the start as a turn of its own.
          await chat.locator(".request-edit").click();
          const field = chat.locator(".request-field textarea");
          assert.equal(await field.inputValue(), "Write a long table of sizes");
          await field.fill("Write a short table of sizes");
          await field.press("Enter");
          await chat.getByText("Write a short table of sizes", { exact: true }).first().waitFor({ timeout: 10_000 });
          // A fresh answer (80 tokens at most), not the kept one with its continuation.
          const code = chat.locator(".answer pre.code code").first();
          for (let waited = 0; ((await code.textContent().catch(() => "")) ?? "").length >= kept.length || !/^Done/.test(await ui.status()); waited += 100) {
            assert.ok(waited < 60_000, `the edited request was answered afresh: ${await ui.status()}`);
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.match(await ui.status(), /^Done: 1 code block/);
          assert.equal(await chat.getByText("Write a long table of sizes", { exact: true }).count(), 0, "the edited request replaced the old one");
        });
      },
    );

    it("a model file that crashes llama.cpp gives a clear error in the view, and VS Code keeps working", { timeout: 120_000 }, async () => {
      await reporting(ui, runner, "failure-corrupt", async () => {
        // A conversation first: the model's error then comes as the banner above it (#19 item 5: the message takes the
        // line, its button below, and it is said once).
        await ui.setWorkspaceSettings(settings({ "clarifycoder.askPolicy": "never" }));
        await ui.command("ClarifyCoder: New Chat");
        const chat = ui.chat();
        await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
        const composer = chat.locator(".composer-input textarea");
        await composer.fill("write a constant");
        await composer.press("Enter");
        await chat.locator(".status-line", { hasText: /^Done/ }).waitFor({ timeout: 60_000 });
        await ui.setWorkspaceSettings(settings({ "clarifycoder.askPolicy": "never", "clarifycoder.model": crashing }));
        const banner = chat.locator(".model-error");
        await banner.locator(".notice-text", { hasText: "missing-head-count.gguf" }).waitFor({ timeout: 60_000 });
        const [textWidth, bannerWidth] = await Promise.all([
          banner.locator(".notice-text").evaluate((e) => e.getBoundingClientRect().width),
          banner.evaluate((e) => e.clientWidth),
        ]);
        assert.ok(textWidth > bannerWidth * 0.7, `the message is ${textWidth}px wide in a ${bannerWidth}px banner`);
        const said = ((await banner.locator(".notice-text").textContent()) ?? "").trim();
        assert.equal(await chat.getByText(said, { exact: false }).count(), 1, "the message once");
        await ui.shot("11-model-error-banner");
        await ui.command("ClarifyCoder: New Chat");
        await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
        await chat.locator(".empty-title", { hasText: "The model could not be loaded" }).waitFor({ timeout: 60_000 });
        await chat.locator(".empty-state .error-text", { hasText: "missing-head-count.gguf" }).waitFor({ timeout: 10_000 });
        const message = (await chat.locator(".empty-state .error-text").textContent()) ?? "";
        assert.match(message, /cannot be loaded|corrupt|not supported|stopped unexpectedly/i, message);
        assert.equal(await chat.locator(".model-dot").getAttribute("data-status"), "error");
        await ui.shot("11-corrupt-model-empty-chat");
        // VS Code is still there: a command runs, and typing in the editor works.
        await ui.openFile("pad.ts");
        await ui.focusEditor();
        await ui.page.keyboard.press("Control+End");
        await ui.page.keyboard.type("// still responsive");
        await ui.save("pad.ts");
        await fileSettles(path.join(ui.workbench.workspace, "pad.ts"), (text) => text.endsWith("// still responsive"));
        // And a good model works again, in the same window.
        await ui.setWorkspaceSettings(settings({ "clarifycoder.askPolicy": "never" }));
        await chat.locator(".model-dot[data-status=ready]").waitFor({ timeout: 60_000 });
      });
    });

    it(
      "Choose Model…: the catalog with sizes and what is downloaded; Use GGUF file… switches to a file, saved where the workspace sets the model",
      { timeout: 120_000 },
      async () => {
        await reporting(ui, runner, "failure-picker", async () => {
          const other = path.join(root, "other-model.gguf");
          copyFileSync(tiny, other);
          await ui.command("ClarifyCoder: Choose Model…");
          const rows = ui.page.locator(".quick-input-list .monaco-list-row");
          await rows.filter({ hasText: "SmolLM2 135M Instruct" }).first().waitFor({ timeout: 30_000 });
          const texts = await rows.allTextContents();
          assert.ok(
            texts.some((t) => /ClarifyCoder/.test(t) && /GB/.test(t)),
            `the paper's model with its size: ${texts.join(" | ")}`,
          );
          assert.ok(
            texts.some((t) => /SmolLM2 135M Instruct.*(not downloaded|downloaded)/.test(t)),
            "whether each model is downloaded",
          );
          await ui.shot("12-model-picker");
          // The list shows a screenful at a time: filter to the row, as a user would type.
          const input = ui.page.locator(".quick-input-widget input");
          await input.fill("Use GGUF file");
          await rows.filter({ hasText: "Use GGUF file…" }).first().click();
          // VS Code for the Web's own file dialog: a quick input that lists a folder.
          const accept = ui.page.locator(".quick-input-widget .monaco-button", { hasText: "Use this model" });
          await accept.waitFor({ timeout: 10_000 });
          // It starts in the workspace folder; the file is in the folder above: "..", then the file's row, as a user
          // clicks them (a file's row accepts it). Typing a path races the dialog, which fills in its folder late.
          for (let waited = 0; (await input.inputValue()) !== `${ui.workbench.workspace}/`; waited += 100) {
            assert.ok(waited < 10_000, `the file dialog starts in the workspace folder (it shows ${await input.inputValue()})`);
            await new Promise((r) => setTimeout(r, 100));
          }
          const dialogRows = ui.page.locator(".quick-input-list .monaco-list-row");
          await dialogRows.first().click({ timeout: 10_000 }); // ".." is always the first row
          await dialogRows.filter({ hasText: "other-model.gguf" }).first().click({ timeout: 10_000 });
          await accept.waitFor({ state: "hidden", timeout: 10_000 });
          await ui.page.locator(".statusbar-item", { hasText: "other-model.gguf" }).first().waitFor({ timeout: 60_000 });
          const saved = JSON.parse(readFileSync(path.join(ui.workbench.workspace, ".vscode/settings.json"), "utf8")) as Record<string, unknown>;
          assert.equal(saved["clarifycoder.model"], other, "the workspace's own model setting holds the choice (a user setting would be shadowed by it)");
          // Loaded: the status bar names the backend once the model is ready.
          await ui.page
            .locator(".statusbar-item", { hasText: /other-model\.gguf on this machine · CPU/ })
            .first()
            .waitFor({ timeout: 60_000 });
        });
      },
    );
  });

  describe(`${runner}: a conversation through the UI with a served model (a stand-in server on 127.0.0.1)`, () => {
    let root: string;
    let workbench: Workbench | undefined;
    let ui: WorkbenchDriver;
    let server: StandInServer;
    const model = "stand-in-coder";
    const apiKey = "sk-stand-in-0123";
    const question = "Pad with spaces or with zeros?";
    const code = 'export function padLeft(text: string, width: number): string {\n  return text.padStart(width, " ");\n}\n';
    const primeCode = "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))";
    let primeAnswers = 0;
    const decisionOf = (r: RecordedRequest): unknown =>
      (r.body.response_format as { json_schema?: { schema?: { properties?: { decision?: { const?: unknown } } } } } | undefined)?.json_schema?.schema
        ?.properties?.decision?.const;

    before(async () => {
      // The guided turns as a real server under the JSON schema would answer them; the code streamed in small pieces.
      server = await startOpenAIServer(
        (r) => {
          if (decisionOf(r) === "ask") return { text: JSON.stringify({ decision: "ask", questions: [{ question, suggestions: ["spaces", "zeros"] }] }) };
          if (decisionOf(r) === "proceed") return { text: JSON.stringify({ decision: "proceed", assumptions: [] }) };
          if (JSON.stringify(r.body.messages).includes("long table")) return { text: "| size | bytes |\n".repeat(400), pieceDelayMs: 25 };
          // The first answer to is_prime is JSON inside the fence opened for Python (what a small model wrote in a trial); the next is code.
          if (JSON.stringify(r.body.messages).includes("is_prime")) {
            primeAnswers += 1;
            return { text: primeAnswers === 1 ? `${JSON.stringify({ code: primeCode })}\n${"`".repeat(3)}` : `${primeCode}\n${"`".repeat(3)}` };
          }
          return { text: `${code}${"`".repeat(3)}`, pieceDelayMs: 15 };
        },
        [model, "another-model"],
      );
      root = await mkdtemp(path.join(tmpdir(), "clarifycoder-ui-served-"));
      const shots = path.join(REPO_ROOT, `test-results/ui-${runner}-served`);
      rmSync(shots, { recursive: true, force: true });
      workbench = await open({
        workspace: makeWorkspace(root, {}),
        userSettings: {
          "workbench.colorTheme": "Default Light Modern",
          "clarifycoder.model": `${server.url}#${model}`,
          "clarifycoder.askPolicy": "always",
          "clarifycoder.maxRounds": 1,
        },
      });
      ui = new WorkbenchDriver(workbench, shots);
      await ui.page
        .locator(".statusbar-item", { hasText: `${model} served at 127.0.0.1:${new URL(server.url).port}` })
        .first()
        .waitFor({ timeout: 60_000 });
    });

    after(async () => {
      await workbench?.close();
      await server?.close();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it("Use a served model…: the address, the model from the server's list, the API key", { timeout: 120_000 }, async () => {
      await reporting(ui, runner, "failure-picker", async () => {
        await ui.command("ClarifyCoder: Choose Model…");
        const input = ui.page.locator(".quick-input-widget input");
        const rows = ui.page.locator(".quick-input-list .monaco-list-row");
        // The list shows a screenful at a time: once it is there, filter to the row, as a user would type.
        await rows.filter({ hasText: "Qwen2.5-Coder 0.5B Instruct" }).first().waitFor({ timeout: 30_000 });
        await input.fill("Use a served model");
        await rows.filter({ hasText: "Use a served model…" }).first().click();
        await ui.page.locator(".quick-input-title", { hasText: "the server's address" }).waitFor({ timeout: 10_000 });
        await input.fill("localhost:1");
        await ui.page.locator(".quick-input-message", { hasText: "starting with http:// or https://" }).waitFor({ timeout: 10_000 });
        await input.fill(server.url);
        await input.press("Enter");
        await ui.page.locator(".quick-input-title", { hasText: "the models 127.0.0.1:" }).waitFor({ timeout: 10_000 });
        const listed = (await rows.allTextContents()).map((t) => t.trim());
        assert.ok(listed[0]?.startsWith(model) && listed[1]?.startsWith("another-model"), `the server's /models list: ${listed.join(" | ")}`);
        await ui.shot("01-served-models");
        await rows.filter({ hasText: model }).first().click();
        await ui.page.locator(".quick-input-title", { hasText: "API key for http://127.0.0.1:" }).waitFor({ timeout: 10_000 });
        assert.equal(await input.getAttribute("type"), "password");
        await input.fill(apiKey);
        await input.press("Enter");
        await input.waitFor({ state: "hidden", timeout: 10_000 });
        const where = `served at 127.0.0.1:${new URL(server.url).port}`;
        await ui.page
          .locator(".statusbar-item", { hasText: `${model} ${where}` })
          .first()
          .waitFor({ timeout: 10_000 });
        await ui.command("ClarifyCoder: Focus Chat");
        await ui
          .chat()
          .locator(".model-label", { hasText: `${model} ${where}` })
          .waitFor({ timeout: 20_000 });
        await ui.shot("02-served-model-in-use");
      });
    });

    it("a whole conversation through the served model: the question, the answer, the code streamed; the key sent", { timeout: 120_000 }, async () => {
      await reporting(ui, runner, "failure", async () => {
        const before = server.requests.length;
        await ui.openFile("pad.ts");
        await ui.command("ClarifyCoder: New Chat");
        const chat = ui.chat();
        await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
        await sendRequest(ui, "Write a function that pads a string on the left");
        const asked = chat.locator(".round.open .question").first();
        await asked.locator(".question-text").waitFor({ timeout: 30_000 });
        // Watched from here, in the page the view has now (the code streams after Generate).
        const frame = await ui.chatFrame();
        await watchChat(frame);
        assert.equal(await asked.locator(".question-text").textContent(), question);
        assert.deepEqual(await asked.locator(".suggestion:not(.waive)").allTextContents(), ["spaces", "zeros"]);
        await ui.shot("03-served-question");
        await asked.locator(".suggestion:not(.waive)", { hasText: "spaces" }).click();
        await asked.locator(".given", { hasText: "spaces" }).waitFor({ timeout: 10_000 });
        await chat.locator(".round.open vscode-button.generate:not([disabled])").click();
        await chat.locator(".status-line", { hasText: "Done: 1 code block." }).waitFor({ timeout: 30_000 });
        const seen = await watched(frame);
        assert.ok(seen.codeTexts.length >= 2, `the code grew in the view as it streamed (${seen.codeTexts.length} texts)`);
        assert.equal(await chat.locator(".answer .code-block pre.code code").first().textContent(), code.trimEnd());
        await ui.shot("04-served-code");
        const sent = server.requests.slice(before);
        assert.equal(sent.length, 2, `one guided question turn, one code turn: ${sent.map((r) => r.path).join(", ")}`);
        for (const r of sent) {
          assert.equal(r.headers.authorization, `Bearer ${apiKey}`, "the key saved for this server, as a bearer token");
          assert.equal(r.body.model, model);
          assert.equal(r.path, "/v1/chat/completions");
        }
        assert.match(JSON.stringify(sent[1]?.body.messages), /spaces/, "the answer went with the code turn");
        assert.equal(sent[1]?.body.stream, true, "the code is streamed");
      });
    });

    it("Stop during a served answer ends it, and the server sees its request closed", { timeout: 120_000 }, async () => {
      await reporting(ui, runner, "failure-stop", async () => {
        const closedBefore = server.closedEarly.length;
        await stopMidAnswer(ui, {
          settings: { "clarifycoder.askPolicy": "never" },
          file: "pad.ts",
          request: "Write a long table of sizes",
          stopAt: { code: 40 },
          timeoutMs: 30_000,
          shot: "05-served-streaming",
          label: `${runner}: Stop on a served model`,
        });
        for (let waited = 0; server.closedEarly.length === closedBefore; waited += 50) {
          assert.ok(waited < 2_000, "the server saw the request closed");
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(server.closedEarly.at(-1)?.path, "/v1/chat/completions");
        await ui.shot("06-served-stopped");
      });
    });

    it(
      "an answer whose block is JSON is not offered as code and the status says so; Regenerate samples anew and writes code",
      { timeout: 120_000 },
      async () => {
        await reporting(ui, runner, "failure-json-block", async () => {
          writeFileSync(path.join(root, "workspace", "app.py"), "def load(path):\n    return open(path).read()\n");
          await ui.setWorkspaceSettings({ "clarifycoder.askPolicy": "never" });
          await ui.openFile("app.py");
          await ui.command("ClarifyCoder: New Chat");
          const chat = ui.chat();
          await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
          await sendRequest(ui, "write is_prime(n)");
          await chat.locator(".status-line", { hasText: "Done, but no code: the answer's block is JSON, not code." }).waitFor({ timeout: 30_000 });
          const block = chat.locator(".answer .code-block").first();
          assert.deepEqual(await block.locator(".code-tool").evaluateAll((b) => b.map((e) => e.getAttribute("data-action"))), ["copy"], "only Copy");
          assert.match((await block.locator(".not-code-note").textContent()) ?? "", /^This block is JSON, not code for your file/);
          await ui.shot("07-served-json-not-code");
          const before = server.requests.length;
          await chat.locator("vscode-button.regenerate").click();
          await chat.locator(".status-line", { hasText: "Done: 1 code block." }).waitFor({ timeout: 30_000 });
          assert.equal(await chat.locator(".answer .code-block pre.code code").first().textContent(), primeCode);
          const again = server.requests.slice(before);
          assert.equal(again.length, 1, "only the code is written again");
          assert.ok(
            Number(again[0]?.body.temperature) > 0,
            `Regenerate samples (temperature ${String(again[0]?.body.temperature)}), so it is not the same answer again`,
          );
          await ui.shot("08-served-regenerated");
        });
      },
    );

    it("a served address from the workspace's settings is used only once the user allows it", { timeout: 120_000 }, async () => {
      const other = await startOpenAIServer(
        (r) => (decisionOf(r) === "proceed" ? { text: JSON.stringify({ decision: "proceed", assumptions: [] }) } : { text: "export const answer = 42;\n```" }),
        ["team-coder"],
      );
      try {
        await reporting(ui, runner, "failure-consent", async () => {
          await ui.setWorkspaceSettings({ "clarifycoder.model": `${other.url}#team-coder`, "clarifycoder.askPolicy": "never" });
          const where = `team-coder served at 127.0.0.1:${new URL(other.url).port}`;
          await ui.page.locator(".statusbar-item", { hasText: where }).first().waitFor({ timeout: 20_000 });
          const ask = async (): Promise<void> => {
            await ui.command("ClarifyCoder: New Chat");
            const chat = ui.chat();
            await chat.locator(".empty-state").waitFor({ timeout: 10_000 });
            await chat.locator(".composer-input textarea").fill("Write the answer as a constant");
            await chat.locator(".composer-input textarea").press("Enter");
          };
          const dialog = ui.page.locator(".monaco-dialog-box");
          await ask();
          await dialog.filter({ hasText: `This workspace wants to send your code to ${other.url}.` }).waitFor({ timeout: 20_000 });
          await ui.shot("07-workspace-asks");
          await dialog.locator(".monaco-button", { hasText: "Cancel" }).click();
          await ui.chat().locator(".failure-message", { hasText: "which you did not allow: no code was sent" }).waitFor({ timeout: 10_000 });
          assert.equal(other.requests.length, 0, "nothing went to the workspace's server");
          await ask();
          await dialog.locator(".monaco-button", { hasText: "Allow" }).click();
          await ui.chat().locator(".status-line", { hasText: "Done: 1 code block." }).waitFor({ timeout: 30_000 });
          assert.ok(other.requests.length > 0, "allowed, the workspace's server answered");
          assert.equal(other.requests[0]?.headers.authorization, undefined, "the key saved for another server is not sent here");
          await ui.page.locator(".statusbar-item", { hasText: where }).first().waitFor({ timeout: 10_000 });
          await ui.shot("08-workspace-allowed");
        });
      } finally {
        await other.close();
      }
    });
  });

  describe(`${runner}: a conversation through the UI on SmolLM2 (real sentences, screenshotted)`, () => {
    let root: string;
    let workbench: Workbench | undefined;
    let ui: WorkbenchDriver;
    let model: string | undefined;
    const dates = `from datetime import date


def days_between(a, b):
    return abs((b - a).days)
`;
    const settings = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
      "clarifycoder.model": model,
      "clarifycoder.gpu": "cpu",
      "clarifycoder.askPolicy": "always",
      "clarifycoder.maxRounds": 1,
      "clarifycoder.maxCodeTokens": 160,
      ...over,
    });

    before(async () => {
      const found = await ensureSmolLM2();
      if (!("path" in found)) {
        if (process.env.CI) throw new Error(`SmolLM2 is needed in CI: ${found.unavailable}`);
        return;
      }
      model = found.path;
      root = await mkdtemp(path.join(tmpdir(), "clarifycoder-ui-smollm2-"));
      const workspace = path.join(root, "workspace");
      mkdirSync(path.join(workspace, ".vscode"), { recursive: true });
      writeFileSync(path.join(workspace, "dates.py"), dates);
      writeFileSync(path.join(workspace, ".vscode/settings.json"), `${JSON.stringify(settings(), null, 2)}\n`);
      const shots = path.join(REPO_ROOT, `test-results/ui-${runner}-smollm2`);
      rmSync(shots, { recursive: true, force: true });
      workbench = await open({ workspace, userSettings: { "workbench.colorTheme": "Default Light Modern" } });
      ui = new WorkbenchDriver(workbench, shots);
      await ui.page.locator(".statusbar-item", { hasText: "SmolLM2" }).first().waitFor({ timeout: 60_000 });
    });

    after(async () => {
      await workbench?.close();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it("ask about a selection, answer with a suggestion, leave the rest to the assistant, get the code", { timeout: 600_000 }, async (t) => {
      if (!model) return t.skip("SmolLM2 could not be fetched from PyPI");
      await reporting(ui, runner, "failure", async () => {
        await ui.openFile("dates.py");
        await ui.selectLines(4, 5);
        await ui.command("ClarifyCoder: Ask about Selection");
        const chat = ui.chat();
        const composer = chat.locator(".composer-input textarea");
        await composer.fill("Write a function that parses a date string for days_between.");
        await composer.press("Enter");
        await chat.locator(".round.open .question-text").first().waitFor({ timeout: 240_000 });
        const questions = chat.locator(".round.open .question");
        const count = await questions.count();
        assert.ok(count >= 1);
        for (const text of await chat.locator(".round.open .question-text").allTextContents())
          assert.ok(text.trim().length > 3, `a question in words: ${text}`);
        await ui.page.mouse.move(900, 400);
        await ui.shot("01-questions");
        const first = questions.first();
        await first.locator(".suggestion.waive").waitFor({ timeout: 10_000 });
        const suggestion = first.locator(".suggestion:not(.waive)").first();
        if ((await suggestion.count()) > 0) await suggestion.click();
        else {
          await first.locator("vscode-textfield input").fill("Parse ISO dates (YYYY-MM-DD) and count the days between them");
          await first.locator("vscode-textfield input").press("Enter");
        }
        await first.locator(".given").waitFor({ timeout: 10_000 });
        for (let i = 1; i < count; i++) {
          await questions.nth(i).locator(".suggestion.waive").click();
          await questions.nth(i).locator(".given").waitFor({ timeout: 10_000 });
        }
        await chat.locator(".round.open vscode-button.generate:not([disabled])").click();
        await chat.locator(".answer pre.code code").first().waitFor({ timeout: 240_000 });
        if ((await ui.status()) === "Writing code…") await ui.shot("02-streaming");
        await chat.locator(".status-line", { hasText: /^(Done|Failed)/ }).waitFor({ timeout: 240_000 });
        assert.match(
          await ui.status(),
          /^Done: \d+ code blocks?\./,
          (await chat
            .locator(".failure-message")
            .textContent()
            .catch(() => "")) ?? "",
        );
        await chat.locator(".code-tool[data-action=insert]").first().waitFor({ timeout: 5_000 });
        await ui.page.mouse.move(900, 400);
        await ui.shot("03-answer");
      });
    });

    it("Stop while SmolLM2 works", { timeout: 300_000 }, async (t) => {
      if (!model) return t.skip("SmolLM2 could not be fetched from PyPI");
      await reporting(ui, runner, "failure-stop", async () => {
        await stopMidAnswer(ui, {
          settings: settings({ "clarifycoder.askPolicy": "never", "clarifycoder.maxCodeTokens": 2048 }),
          file: "dates.py",
          request: "Write a command-line calendar with holidays for every country",
          stopAt: "busy",
          timeoutMs: 240_000,
          shot: "04-working",
          label: `${runner}: Stop on SmolLM2`,
        });
        await ui.shot("05-stopped");
      });
    });
  });
}
