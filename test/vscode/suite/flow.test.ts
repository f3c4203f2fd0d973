/**
 * A real conversation in a real VS Code, on a real model (the harness passes its path): the request goes with the
 * editor's selection, the questions come back as a form, one is answered and the rest left to the assistant, and the
 * code streams in. The harness screenshots each step. Runs only when CLARIFYCODER_FLOW_MODEL is set.
 */
import * as assert from "node:assert/strict";
import { suite, test } from "mocha";
import * as vscode from "vscode";
import type { ClarifyCoderApi } from "../../../src/extension/extension";
import type { HostMessage, Intent } from "../../../src/core/webview-protocol";
import { checkpoint } from "./harness-client";

const modelPath = process.env.CLARIFYCODER_FLOW_MODEL;

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
  test("ask, answer, leave one to the assistant, and get the code", async function () {
    this.timeout(300_000);
    const extension = vscode.extensions.getExtension<ClarifyCoderApi>("clarifycoder.clarifycoder");
    assert.ok(extension);
    const api = await extension.activate();
    const lastState = (): StateMessage | undefined => [...api.posted].reverse().find((m): m is StateMessage => m.type === "state");

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
    const asking = await until("the questions", () => {
      const s = lastState()?.session;
      if (s?.state === "failed") throw new Error(`the conversation failed: ${s.failure?.message ?? ""}`);
      return s?.state === "asking" ? s : undefined;
    }, 240_000);
    assert.ok(asking.questions.length >= 1);
    assert.equal(asking.context.selection?.startLine, 4, "the selection went with the request");
    assert.equal(lastState()?.model.status, "ready");
    await checkpoint("flow-questions");

    const [first, ...rest] = asking.questions;
    assert.ok(first);
    await ask({ type: "answer", sessionId: asking.id, questionId: first.id, text: first.suggestions[0] ?? "ISO 8601 (YYYY-MM-DD)" });
    for (const q of rest) await ask({ type: "waive", sessionId: asking.id, questionId: q.id });
    await ask({ type: "generate", sessionId: asking.id });
    const done = await until("the code", () => {
      const s = lastState()?.session;
      return s?.state === "done" || s?.state === "failed" ? s : undefined;
    }, 240_000);
    assert.equal(done.state, "done", done.failure?.message);
    assert.ok(done.codeBlocks.length >= 1);
    assert.ok(api.posted.some((m) => m.type === "chunk" && m.sessionId === done.id), "the answer streamed");
    await checkpoint("flow-answer");
  });
});
