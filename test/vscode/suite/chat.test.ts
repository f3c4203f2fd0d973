/**
 * The chat's host side in a real VS Code: messages from the webview are validated before anything happens, the
 * engine's rule holds against a forged "generate", and each code-block action leaves the exact document text, which
 * one Undo reverts.
 */
import * as assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setup, suite, suiteSetup, teardown, test } from "mocha";
import * as vscode from "vscode";
import type { ClarifyCoderApi } from "../../../src/extension/extension";
import type { SessionSnapshot } from "../../../src/core/types";
import type { HostMessage, Intent, ReplyMessage } from "../../../src/core/webview-protocol";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const original = "first line\nsecond line\nthird line\n";
const code = "print('from the assistant')";

function conversation(id: string, over: Partial<SessionSnapshot> = {}): SessionSnapshot {
  return {
    id,
    state: "done",
    request: "write a print",
    context: {},
    questions: [],
    rounds: 0,
    assumptions: [],
    answer: "```python\n" + code + "\n```",
    codeBlocks: [{ language: "python", code }],
    createdAt: 1,
    updatedAt: Date.now(),
    ...over,
  };
}

suite("ClarifyCoder chat (host side)", () => {
  let api: ClarifyCoderApi;

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension<ClarifyCoderApi>("clarifycoder.clarifycoder");
    assert.ok(extension);
    api = await extension.activate();
    await vscode.commands.executeCommand("clarifycoder.chat.focus");
    await until("the chat view", () => api.chatViewResolved());
    await api.saveConversation(conversation("with-code"));
  });

  const postedSince = (n: number): readonly HostMessage[] => api.posted.slice(n);
  let requestId = 1_000;
  /** Sends an intent exactly as the webview would (with a fresh request id) and returns the host's reply. */
  const ask = async (intent: Intent): Promise<ReplyMessage> => {
    const reply = await api.receive({ ...intent, requestId: ++requestId });
    assert.ok(reply, `the host dropped ${intent.type}`);
    assert.equal(reply.requestId, requestId, "the reply carries the request's id");
    return reply;
  };

  test("malformed and unknown messages are dropped without changing anything", async () => {
    assert.equal((await ask({ type: "openSession", id: "with-code" })).ok, true);
    const before = api.posted.length;
    const bad: unknown[] = [
      "generate",
      null,
      42,
      [],
      { type: "nope", requestId: 1 },
      { type: "generate", requestId: 1 },
      { type: "generate", sessionId: "with-code" },
      { type: "answer", requestId: 1, sessionId: "with-code", questionId: 7, text: "x" },
      { type: "send", requestId: 1, text: "" },
      { type: "codeAction", requestId: 1, sessionId: "with-code", blockIndex: -1, action: "insert" },
      { type: "codeAction", requestId: 1, sessionId: "with-code", blockIndex: 0, action: "rm -rf" },
      JSON.parse('{"type":"newChat","requestId":1,"__proto__":{"polluted":true}}'),
      { type: "send", requestId: 1, text: "x", extra: "field" },
      { type: "openLink", requestId: 1, url: "javascript:alert(1)" },
    ];
    for (const message of bad) assert.equal(await api.receive(message), undefined, "no reply to a dropped message");
    assert.deepEqual(postedSince(before), [], "a dropped message posts nothing");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("with no model chosen, the catalog's default code model is preselected, not labelled a demo", async function () {
    if (vscode.workspace.getConfiguration("clarifycoder").get<string>("model")) this.skip();
    await ask({ type: "ready" });
    const states = api.posted.filter((m): m is Extract<typeof m, { type: "state" }> => m.type === "state");
    const model = states.at(-1)?.model;
    assert.match(model?.label ?? "", /^Qwen2\.5-Coder 0\.5B Instruct$/);
    assert.equal(model?.demo, undefined);
  });

  test("a forged generate while a question is open is refused by the engine", async () => {
    const asking = conversation("asking", {
      state: "asking",
      rounds: 1,
      answer: "",
      codeBlocks: [],
      questions: [{ id: "r1q1", round: 1, text: "Which order?", suggestions: ["ascending"] }],
    });
    await api.saveConversation(asking);
    await ask({ type: "openSession", id: "asking" });
    const before = api.posted.length;
    const reply = await ask({ type: "generate", sessionId: "asking" });
    assert.equal(reply.ok, false, "the refusal comes back to the request");
    assert.match(reply.message ?? "", /Answer or waive every question first/);
    assert.deepEqual(
      postedSince(before).filter((m) => m.type !== "state" && m.type !== "reply"),
      [],
      "only the reply and states, nothing unrelated",
    );
    const states = postedSince(before).filter((m) => m.type === "state");
    assert.ok(
      states.every((m) => m.type === "state" && m.session?.state === "asking"),
      "the conversation stays asking",
    );
  });

  test("a selection that ends at column 1 of the next line is labelled with the lines it covers", async () => {
    const document = await vscode.workspace.openTextDocument({ language: "python", content: "a = 1\nb = 2\nc = 3\nd = 4\n" });
    const editor = await vscode.window.showTextDocument(document);
    const before = api.posted.length;
    // Lines 2 and 3 selected whole, as Shift+Down makes it: the selection ends at column 1 of line 4.
    editor.selection = new vscode.Selection(1, 0, 3, 0);
    const chip = await until("the selection chip", () => {
      for (const m of api.posted.slice(before)) {
        const found = m.type === "state" ? m.context.chips.find((c) => c.kind === "selection") : undefined;
        if (found) return found;
      }
      return undefined;
    });
    assert.match(chip.label, /:2-3$/);
    assert.equal(chip.description?.startsWith("Selected lines 2-3 of"), true, chip.description);
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });

  suite("code-block actions", () => {
    let editor: vscode.TextEditor;

    /** Closes every editor without a save prompt (untitled documents with text are dirty, and a prompt would stay open). */
    async function closeEverything(): Promise<void> {
      for (let i = 0; i < 20 && vscode.window.tabGroups.all.some((g) => g.tabs.length > 0); i++) {
        await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
        if (!vscode.window.activeTextEditor) await vscode.commands.executeCommand("workbench.action.closeAllEditors");
      }
    }

    let files = 0;

    setup(async () => {
      await closeEverything();
      // A file of its own for each test: untitled documents reuse their names ("Untitled-1"), and a reused name
      // can meet the closed document's stale state in the extension host.
      files += 1;
      const file = path.join(os.tmpdir(), `clarifycoder-edit-${process.pid}-${Date.now()}-${files}.py`);
      writeFileSync(file, original);
      const document = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
      editor = await vscode.window.showTextDocument(document);
      await until("the new editor to be the active one", () => vscode.window.activeTextEditor?.document === document);
      await ask({ type: "openSession", id: "with-code" });
    });

    teardown(closeEverything);

    async function act(action: "insert" | "replaceSelection" | "previewDiff" | "newFile" | "copy"): Promise<ReplyMessage> {
      return ask({ type: "codeAction", sessionId: "with-code", blockIndex: 0, action });
    }

    async function undoRestores(): Promise<void> {
      await vscode.window.showTextDocument(editor.document);
      await vscode.commands.executeCommand("undo");
      assert.equal(editor.document.getText(), original, "one Undo reverts the change");
    }

    test("insert at the cursor", async () => {
      editor.selection = new vscode.Selection(1, 0, 1, 0);
      await act("insert");
      assert.equal(editor.document.getText(), `first line\n${code}second line\nthird line\n`);
      await undoRestores();
    });

    test("replace the selection", async () => {
      editor.selection = new vscode.Selection(1, 0, 1, "second line".length);
      await act("replaceSelection");
      assert.equal(editor.document.getText(), `first line\n${code}\nthird line\n`);
      await undoRestores();
    });

    test("replace with nothing selected is refused in plain words", async () => {
      editor.selection = new vscode.Selection(0, 0, 0, 0);
      const reply = await act("replaceSelection");
      assert.equal(editor.document.getText(), original);
      assert.equal(reply.ok, false);
      assert.match(reply.message ?? "", /Select the code to replace first/);
    });

    const diffTab = (): vscode.Tab | undefined =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .find((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.scheme === "clarifycoder-proposal");

    test("preview as a diff, then accept: one edit, one Undo", async () => {
      editor.selection = new vscode.Selection(1, 0, 1, "second line".length);
      await act("previewDiff");
      const tab = await until("the diff editor", diffTab);
      const input = tab.input as vscode.TabInputTextDiff;
      const proposed = await vscode.workspace.openTextDocument(input.modified);
      assert.equal(proposed.getText(), `first line\n${code}\nthird line\n`);
      assert.equal(editor.document.getText(), original, "previewing changes nothing");
      await vscode.commands.executeCommand("clarifycoder.acceptProposal", input.modified);
      assert.equal(editor.document.getText(), `first line\n${code}\nthird line\n`);
      await until("the diff to close", () => !diffTab());
      await undoRestores();
    });

    test("Accept on a file opened as a preview tab leaves that file open and focused, not an empty editor area", async () => {
      await closeEverything();
      const document = editor.document;
      editor = await vscode.window.showTextDocument(document, { preview: true });
      const fileTab = (): vscode.Tab | undefined =>
        vscode.window.tabGroups.all
          .flatMap((g) => g.tabs)
          .find((t) => t.input instanceof vscode.TabInputText && t.input.uri.toString() === document.uri.toString());
      assert.equal(fileTab()?.isPreview, true, "the file is in a preview tab");
      editor.selection = new vscode.Selection(1, 0, 1, "second line".length);
      await act("previewDiff");
      const tab = await until("the diff editor", diffTab);
      assert.ok(fileTab(), "the diff did not replace the file's preview tab");
      await vscode.commands.executeCommand("clarifycoder.acceptProposal", (tab.input as vscode.TabInputTextDiff).modified);
      await until("the diff to close", () => !diffTab());
      await until("the edited file to be the active editor", () => vscode.window.activeTextEditor?.document === document);
      assert.equal(document.getText(), `first line\n${code}\nthird line\n`);
      assert.ok(fileTab(), "the file's tab is open");
      await undoRestores();
    });

    test("preview as a diff, then reject: nothing changes", async () => {
      editor.selection = new vscode.Selection(1, 0, 1, "second line".length);
      await act("previewDiff");
      const tab = await until("the diff editor", diffTab);
      await vscode.commands.executeCommand("clarifycoder.rejectProposal", (tab.input as vscode.TabInputTextDiff).modified);
      await until("the diff to close", () => !diffTab());
      assert.equal(editor.document.getText(), original);
    });

    test("open in a new file, in the block's language", async () => {
      await act("newFile");
      const opened = await until("the new file", () => {
        const e = vscode.window.activeTextEditor;
        return e && e.document.isUntitled ? e : undefined;
      });
      assert.equal(opened.document.getText(), code);
      assert.equal(opened.document.languageId, "python");
    });

    test("insert: a block of several lines goes on lines of its own, one blank line from its neighbours", async () => {
      const lines = "def is_prime(n):\n    return n > 1";
      await api.saveConversation(conversation("with-lines", { answer: "```python\n" + lines + "\n```", codeBlocks: [{ language: "python", code: lines }] }));
      editor.selection = new vscode.Selection(1, 0, 1, 0);
      await ask({ type: "codeAction", sessionId: "with-lines", blockIndex: 0, action: "insert" });
      assert.equal(editor.document.getText(), `first line\n\n${lines}\n\nsecond line\nthird line\n`);
      await undoRestores();
    });

    test("replace and diff on a selection: a block that is the whole file replaces the file, main() is not doubled", async () => {
      const file = 'def is_prime(n):\n    pass\n\n\ndef main():\n    print(is_prime(7))\n\n\nif __name__ == "__main__":\n    main()\n';
      const whole =
        'def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n\n\ndef main():\n    print(is_prime(7))\n\n\nif __name__ == "__main__":\n    main()';
      await api.saveConversation(conversation("whole-file", { answer: "```python\n" + whole + "\n```", codeBlocks: [{ language: "python", code: whole }] }));
      await editor.edit((b) => b.replace(new vscode.Range(0, 0, editor.document.lineCount, 0), file));
      editor.selection = new vscode.Selection(0, 0, 2, 0);
      const reply = await ask({ type: "codeAction", sessionId: "whole-file", blockIndex: 0, action: "replaceSelection" });
      assert.equal(editor.document.getText(), `${whole}\n`);
      assert.equal(editor.document.getText().match(/def main\(\)/g)?.length, 1, "one main()");
      assert.match(reply.message ?? "", /whole file/);
      await vscode.commands.executeCommand("undo");
      assert.equal(editor.document.getText(), file, "one Undo");
      editor.selection = new vscode.Selection(0, 0, 2, 0);
      await ask({ type: "codeAction", sessionId: "whole-file", blockIndex: 0, action: "previewDiff" });
      const tab = await until("the diff editor", diffTab);
      const proposed = await vscode.workspace.openTextDocument((tab.input as vscode.TabInputTextDiff).modified);
      assert.equal(proposed.getText(), `${whole}\n`);
      await vscode.commands.executeCommand("clarifycoder.rejectProposal", (tab.input as vscode.TabInputTextDiff).modified);
    });

    test("a block that is JSON (the model's protocol) is not put in the editor", async () => {
      const json = '{"code": "def is_prime(n): ..."}';
      await api.saveConversation(
        conversation("json-block", {
          context: { languageId: "python" },
          answer: "```markdown\n" + json + "\n```",
          codeBlocks: [{ language: "markdown", code: json }],
        }),
      );
      editor.selection = new vscode.Selection(1, 0, 1, 0);
      const reply = await ask({ type: "codeAction", sessionId: "json-block", blockIndex: 0, action: "insert" });
      assert.equal(reply.ok, false);
      assert.match(reply.message ?? "", /is JSON, not code/);
      assert.equal(editor.document.getText(), original);
    });

    test("Ask about Selection starts a new chat for the selection", async () => {
      editor.selection = new vscode.Selection(0, 0, 1, 0);
      const before = api.posted.length;
      await vscode.commands.executeCommand("clarifycoder.askAboutSelection");
      const state = await until("a state", () => [...postedSince(before)].reverse().find((m) => m.type === "state"));
      assert.equal(state.type === "state" ? state.session : "none", null, "no conversation on screen: the next request starts one");
      assert.ok(state.type === "state" && state.context.chips.some((c) => c.kind === "selection"));
    });

    test("copy puts the code on the clipboard", async () => {
      await vscode.env.clipboard.writeText("before");
      const reply = await act("copy");
      assert.equal(await vscode.env.clipboard.readText(), code);
      assert.deepEqual([reply.ok, reply.message], [true, "Copied."]);
    });
  });
});
