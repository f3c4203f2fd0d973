/**
 * A real conversation in a real VS Code, on a real model (the harness passes its path): the request goes with the
 * editor's selection, the questions come back as a form, one is answered and the rest left to the assistant, and the
 * code streams in; then a follow-up typed in the view, and Regenerate clicked there. With CLARIFYCODER_LARGE_INPUT,
 * large inputs too: a 5,001-line selection and a 20,000-character request, each stopped from the view, and a request
 * too long for the model. The harness drives the view and screenshots each step. Runs only when
 * CLARIFYCODER_FLOW_MODEL is set.
 */
import * as assert from "node:assert/strict";
import { suite, test } from "mocha";
import * as vscode from "vscode";
import type { ClarifyCoderApi } from "../../../src/extension/extension";
import type { HostMessage, Intent } from "../../../src/core/webview-protocol";
import { checkpoint } from "./harness-client";

const modelPath = process.env.CLARIFYCODER_FLOW_MODEL;
const largeInput = process.env.CLARIFYCODER_LARGE_INPUT === "1";

type StateMessage = Extract<HostMessage, { type: "state" }>;

async function until<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const source = `from datetime import date


def days_between(a, b):
    return abs((b - a).days)
`;

(modelPath ? suite : suite.skip)("a real conversation on a real model", () => {
  test("ask, answer, leave one to the assistant, and get the code; then a follow-up in the same conversation", async function () {
    this.timeout(900_000);
    const extension = vscode.extensions.getExtension<ClarifyCoderApi>("clarifycoder.clarifycoder");
    assert.ok(extension);
    const api = await extension.activate();
    const lastState = (): StateMessage | undefined => [...api.posted].reverse().find((m): m is StateMessage => m.type === "state");

    // A new chat: a message sent to a conversation on screen (one an earlier suite left open) is its follow-up.
    await vscode.commands.executeCommand("clarifycoder.newChat");
    const document = await vscode.workspace.openTextDocument({ language: "python", content: source });
    const editor = await vscode.window.showTextDocument(document);
    editor.selection = new vscode.Selection(3, 0, 4, 0);
    await vscode.commands.executeCommand("clarifycoder.askAboutSelection");
    await until("the chat view", () => (api.chatViewResolved() ? true : undefined), 15_000);

    let requestId = 0;
    const ask = async (intent: Intent): Promise<void> => {
      const reply = await api.receive({ ...intent, requestId: ++requestId });
      assert.ok(reply?.ok, `${intent.type} was refused: ${reply?.message ?? "dropped"}`);
    };
    await ask({ type: "send", text: "Write a function that parses a date string for days_between." });
    const asking = await until(
      "the questions",
      () => {
        const s = lastState()?.session;
        if (s?.state === "failed") throw new Error(`the conversation failed: ${s.failure?.message ?? ""}`);
        return s?.state === "asking" ? s : undefined;
      },
      240_000,
    );
    assert.ok(asking.questions.length >= 1);
    assert.equal(asking.context.selection?.startLine, 4, "the selection went with the request");
    assert.equal(lastState()?.model.status, "ready");
    await checkpoint("flow-questions");

    const [first, ...rest] = asking.questions;
    assert.ok(first);
    await ask({ type: "answer", sessionId: asking.id, questionId: first.id, text: first.suggestions[0] ?? "ISO 8601 (YYYY-MM-DD)" });
    for (const q of rest) await ask({ type: "waive", sessionId: asking.id, questionId: q.id });
    await ask({ type: "generate", sessionId: asking.id });
    const done = await until(
      "the code",
      () => {
        const s = lastState()?.session;
        return s?.state === "done" || s?.state === "failed" ? s : undefined;
      },
      240_000,
    );
    assert.equal(done.state, "done", done.failure?.message);
    assert.ok(done.codeBlocks.length >= 1);
    assert.ok(
      api.posted.some((m) => m.type === "chunk" && m.sessionId === done.id),
      "the answer streamed",
    );
    await checkpoint("flow-answer");

    // A follow-up, typed in the view: the same conversation, a second turn. The harness answers its questions (if it
    // asks) with "You decide", generates, then clicks Regenerate. The rule holds: no code while a question is open.
    await checkpoint("flow-followup", 420_000);
    const followed = lastState()?.session;
    assert.ok(followed);
    assert.equal(followed.id, done.id, "the follow-up went to the same conversation");
    assert.equal(followed.earlier?.length, 1, "two turns");
    assert.equal(followed.earlier?.[0]?.request, done.request);
    assert.equal(followed.state, "done", followed.failure?.message);
    assert.ok(followed.codeBlocks.length >= 1);
    if (followed.questions.some((q) => q.waived))
      assert.ok(
        followed.assumptions.some((a) => a.startsWith("You left")),
        "waived questions come back as assumptions",
      );
  });
});

/** The extension's API, on a new chat. */
async function newChat(): Promise<ClarifyCoderApi> {
  const extension = vscode.extensions.getExtension<ClarifyCoderApi>("clarifycoder.clarifycoder");
  assert.ok(extension);
  const api = await extension.activate();
  await vscode.commands.executeCommand("clarifycoder.newChat");
  return api;
}

const lastSession = (api: ClarifyCoderApi): StateMessage["session"] | undefined =>
  [...api.posted].reverse().find((m): m is StateMessage => m.type === "state")?.session;

(modelPath && largeInput ? suite : suite.skip)("large inputs on a real model", () => {
  const fiveThousandLines = Array.from({ length: 5001 }, (_, i) => `total_${i + 1} = slow_sum(range(${i + 1}))`).join("\n");

  test("a 5,001-line selection is sent trimmed around the cursor, the view says which lines; Stop ends the turn within a second", async function () {
    this.timeout(300_000);
    const api = await newChat();
    const document = await vscode.workspace.openTextDocument({ language: "python", content: fiveThousandLines });
    assert.equal(document.lineCount, 5001);
    const editor = await vscode.window.showTextDocument(document);
    // Everything selected, the cursor at the end (as Ctrl+A leaves it).
    editor.selection = new vscode.Selection(0, 0, 5000, document.lineAt(5000).text.length);
    await vscode.commands.executeCommand("clarifycoder.askAboutSelection");
    await checkpoint("large-selection", 240_000);
    const s = lastSession(api);
    assert.equal(s?.state, "cancelled");
    assert.match(s?.contextNote ?? "", /^Sent lines [\d,]+-[\d,]+ of the 5,001 selected \(lines 1-5,001\), around the cursor/);
    const sent = s?.context.selection;
    assert.ok(sent && sent.endLine === 5001 && sent.startLine > 1, "the lines around the cursor, at the end");
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });

  test("a 20,000-character request: Stop ends it within a second; one too long for the model is refused with a clear message", async function () {
    this.timeout(300_000);
    const api = await newChat();
    await checkpoint("large-request", 240_000);
    const s = lastSession(api);
    assert.equal(s?.state, "failed", "the last request was too long");
    assert.match(s?.failure?.message ?? "", /^The request is too long for the model: it is [\d,]+ tokens, and the model's context of [\d,]+ tokens/);
    assert.equal(s?.request.length, 120_000, "the request is kept, to edit");
  });
});
