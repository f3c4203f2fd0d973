/**
 * ClarifyCoder's VS Code entry point: the chat view, the model's status bar item, the commands.
 *
 * Activation must stay cheap: it registers things and returns. It never loads node-llama-cpp or any native module;
 * the model runs in a separate worker process that is started on the first request (eslint enforces the import rule).
 */
import * as vscode from "vscode";
import type { SessionSnapshot } from "../core/types.js";
import type { HostMessage, ReplyMessage } from "../core/webview-protocol.js";
import { ChatController } from "./chat/controller.js";
import { ChatViewProvider, chatViewId } from "./chat/view.js";
import { ConversationStore } from "./chat/conversation-store.js";
import { CodeProposals, proposalScheme } from "./chat/editor-actions.js";
import { ModelService } from "./model/service.js";

const Commands = {
  focusChat: "clarifycoder.focusChat",
  newChat: "clarifycoder.newChat",
  stop: "clarifycoder.stop",
  askAboutSelection: "clarifycoder.askAboutSelection",
  pickModel: "clarifycoder.pickModel",
  acceptProposal: "clarifycoder.acceptProposal",
  rejectProposal: "clarifycoder.rejectProposal",
} as const;

/** Owns everything the extension creates, so that one `dispose()` tears it all down, in reverse order. */
class ClarifyCoderContext implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  /** Takes ownership of a disposable and hands it back. */
  own<T extends vscode.Disposable>(disposable: T): T {
    if (this.disposed) {
      disposable.dispose();
    } else {
      this.disposables.push(disposable);
    }
    return disposable;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.disposables.splice(0).reverse()) {
      try {
        d.dispose();
      } catch (err) {
        console.error("ClarifyCoder: dispose failed", err);
      }
    }
  }
}

/** What `activate` returns: a small surface for tests and for other extensions. */
export interface ClarifyCoderApi {
  readonly chatViewResolved: () => boolean;
  /** Hands a message to the chat exactly as the webview would (it is validated the same way); resolves with the reply. */
  readonly receive: (message: unknown) => Promise<ReplyMessage | undefined>;
  /** Saves a conversation as if it had happened (tests use it to have code blocks to act on). */
  readonly saveConversation: (snapshot: SessionSnapshot) => Promise<void>;
  /** Every message the host posted to the chat view since activation, oldest first. */
  readonly posted: readonly HostMessage[];
}

export function activate(context: vscode.ExtensionContext): ClarifyCoderApi {
  const log = vscode.window.createOutputChannel("ClarifyCoder", { log: true });
  const ctx = new ClarifyCoderContext();
  context.subscriptions.push(ctx);
  ctx.own(log);

  const models = ctx.own(new ModelService(context, log));
  const store = new ConversationStore(context.workspaceState);
  const proposals = ctx.own(new CodeProposals());
  ctx.own(vscode.workspace.registerTextDocumentContentProvider(proposalScheme, proposals));
  const controller = ctx.own(new ChatController(models, store, proposals, log));
  const posted: HostMessage[] = [];
  const provider = ctx.own(
    new ChatViewProvider(context.extensionUri, controller, (message) => {
      posted.push(message);
      if (posted.length > 500) posted.shift();
    }),
  );
  ctx.own(vscode.window.registerWebviewViewProvider(chatViewId, provider, { webviewOptions: { retainContextWhenHidden: false } }));

  const focusChat = async (): Promise<void> => {
    await vscode.commands.executeCommand(`${chatViewId}.focus`);
  };
  const command = (id: string, run: (...args: unknown[]) => unknown): void => void ctx.own(vscode.commands.registerCommand(id, run));
  command(Commands.focusChat, async () => {
    await focusChat();
    controller.focusComposer();
  });
  command(Commands.newChat, async () => {
    controller.newChat();
    await focusChat();
    controller.focusComposer();
  });
  command(Commands.stop, () => controller.stop());
  command(Commands.askAboutSelection, async () => {
    await focusChat();
    controller.askAboutSelection(vscode.window.activeTextEditor);
  });
  command(Commands.pickModel, () => models.pick());
  command(Commands.acceptProposal, (uri?: unknown) => proposals.accept(uri instanceof vscode.Uri ? uri : undefined));
  command(Commands.rejectProposal, (uri?: unknown) => proposals.reject(uri instanceof vscode.Uri ? uri : undefined));
  ctx.own({ dispose: controller.onBusyChange((busy) => void vscode.commands.executeCommand("setContext", "clarifycoder.generating", busy)) });

  log.info(`activated (${vscode.env.uiKind === vscode.UIKind.Web ? "web" : "desktop"} UI, extension host on Node ${process.versions.node})`);
  return {
    chatViewResolved: () => provider.resolved,
    receive: (message) => controller.receive(message),
    saveConversation: (snapshot) => store.save(snapshot),
    posted,
  };
}

export function deactivate(): void {
  // Everything is owned by ClarifyCoderContext, which VS Code disposes through context.subscriptions.
}
