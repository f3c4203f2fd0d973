/**
 * What a code block can do in the editor: insert at the cursor, replace the selection, preview as a diff then accept
 * or reject, open as a new file, copy. Every change to a document is one edit, so one Undo reverts it.
 */
import * as vscode from "vscode";
import { languageOfFence } from "../../core/languages.js";
import { insertionText, isWholeFileProposal } from "../../core/placement.js";
import type { CodeAction } from "../../core/webview-protocol.js";

export const proposalScheme = "clarifycoder-proposal";

interface Proposal {
  target: vscode.Uri;
  /** The document version the proposal was made against: a changed document is not patched blindly. */
  version: number;
  range: vscode.Range;
  code: string;
  text: string;
  proposalUri: vscode.Uri;
}

/** Serves proposed texts to the diff editor, and applies or drops them. */
export class CodeProposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly proposals = new Map<string, Proposal>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private counter = 0;
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.proposals.get(uri.toString())?.text ?? "";
  }

  /** Opens a diff of the document against the document with `code` in place of `range`. */
  async preview(editor: vscode.TextEditor, range: vscode.Range, code: string): Promise<vscode.Uri> {
    const document = editor.document;
    const text =
      document.getText(new vscode.Range(document.positionAt(0), range.start)) +
      code +
      document.getText(new vscode.Range(range.end, document.positionAt(document.getText().length)));
    this.counter += 1;
    const name = document.uri.path.split("/").pop() ?? "untitled";
    const proposalUri = vscode.Uri.from({ scheme: proposalScheme, path: `/${this.counter}/${name}`, query: document.uri.toString() });
    this.proposals.set(proposalUri.toString(), { target: document.uri, version: document.version, range, code, text, proposalUri });
    // Not as a preview tab: a preview tab would replace the user's file where it is open as a preview itself.
    await vscode.commands.executeCommand("vscode.diff", document.uri, proposalUri, `${name} ↔ ClarifyCoder's proposal`, { preview: false });
    return proposalUri;
  }

  /** The proposal shown in the active diff editor, or the most recent one. */
  current(uri?: vscode.Uri): Proposal | undefined {
    if (uri) return this.proposals.get(uri.toString());
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active && this.proposals.has(active.toString())) return this.proposals.get(active.toString());
    return [...this.proposals.values()].pop();
  }

  async accept(uri?: vscode.Uri): Promise<boolean> {
    const proposal = this.current(uri);
    if (!proposal) {
      void vscode.window.showWarningMessage("ClarifyCoder: there is no proposal to accept.");
      return false;
    }
    const document = await vscode.workspace.openTextDocument(proposal.target);
    if (document.version !== proposal.version) {
      void vscode.window.showWarningMessage("ClarifyCoder: the file changed since the proposal was made; preview it again.");
      return false;
    }
    const edit = new vscode.WorkspaceEdit();
    edit.replace(proposal.target, proposal.range, proposal.code);
    const applied = await vscode.workspace.applyEdit(edit);
    if (!applied) return false;
    await this.close(proposal);
    // The edited file stays open and takes the focus, the cursor after the change (closing the diff can leave no editor).
    const end = document.positionAt(document.offsetAt(proposal.range.start) + proposal.code.length);
    await vscode.window.showTextDocument(document, { preview: false, selection: new vscode.Range(end, end) });
    return true;
  }

  async reject(uri?: vscode.Uri): Promise<boolean> {
    const proposal = this.current(uri);
    if (!proposal) return false;
    await this.close(proposal);
    return true;
  }

  private async close(proposal: Proposal): Promise<void> {
    this.proposals.delete(proposal.proposalUri.toString());
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) {
        const input = tab.input;
        if (input instanceof vscode.TabInputTextDiff && input.modified.toString() === proposal.proposalUri.toString()) {
          await vscode.window.tabGroups.close(tab);
        }
      }
    }
  }

  dispose(): void {
    this.changed.dispose();
    this.proposals.clear();
  }
}

/**
 * Carries out one code-block action against the given editor (the one the user was last in). Resolves with a note
 * for the user where the action did something they may not expect (the whole file replaced), else undefined.
 */
export async function applyCodeAction(
  action: CodeAction,
  block: { code: string; language: string },
  editor: vscode.TextEditor | undefined,
  proposals: CodeProposals,
): Promise<string | undefined> {
  switch (action) {
    case "copy":
      await vscode.env.clipboard.writeText(block.code);
      return undefined;
    case "newFile": {
      const document = await vscode.workspace.openTextDocument({ language: languageOfFence(block.language), content: block.code });
      await vscode.window.showTextDocument(document, { preview: false });
      return undefined;
    }
    default:
      break;
  }
  if (!editor) throw new Error("Open a file in the editor first: there is no editor to put the code in.");
  const document = editor.document;
  const text = document.getText();
  if (action === "insert") {
    const position = editor.selection.active;
    const at = document.offsetAt(position);
    const insertion = insertionText(text.slice(0, at), text.slice(at), block.code);
    await editor.edit((b) => b.insert(position, insertion));
    return undefined;
  }
  if (action === "replaceSelection" && editor.selection.isEmpty) throw new Error("Select the code to replace first.");
  // A block that is the whole file (it repeats the definitions outside the selection) replaces the file, not the
  // selection: pasted into the selection it would add a second copy of them.
  const selection = new vscode.Range(editor.selection.start, editor.selection.end);
  const whole = !selection.isEmpty && isWholeFileProposal(text, document.offsetAt(selection.start), document.offsetAt(selection.end), block.code);
  const range = whole ? new vscode.Range(document.positionAt(0), document.positionAt(text.length)) : selection;
  const code = whole && !block.code.endsWith("\n") && text.endsWith("\n") ? `${block.code}\n` : block.code;
  const note = whole ? "The code is the whole file (it repeats what is outside the selection), so it replaces the whole file." : undefined;
  if (action === "replaceSelection") {
    await editor.edit((b) => b.replace(range, code));
    return note;
  }
  // A diff of the selection replaced (or of the code inserted at the cursor when nothing is selected).
  await proposals.preview(editor, range, code);
  return note;
}
