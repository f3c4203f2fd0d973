/**
 * The chat view in the side bar: a webview page with a strict CSP and a fresh nonce per load, whose script is the
 * bundled dist/webview.js. Every message from the page goes through the controller, which validates it first. The
 * view keeps no hidden page alive: when it is shown again, the page asks for the state and renders it.
 */
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { webviewContentSecurityPolicy } from "../../core/webview-page.js";
import type { ChatController } from "./controller.js";
import type { HostMessage } from "../../core/webview-protocol.js";

export const chatViewId = "clarifycoder.chat";

function makeNonce(): string {
  return randomBytes(18).toString("base64url");
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function chatViewHtml(webview: { cspSource: string; asWebviewUri(uri: vscode.Uri): vscode.Uri }, extensionUri: vscode.Uri, nonce: string): string {
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "dist", "webview.js"));
  const csp = webviewContentSecurityPolicy(nonce, webview.cspSource);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ClarifyCoder</title>
</head>
<body>
<div id="app"></div>
<script nonce="${escapeAttribute(nonce)}" src="${escapeAttribute(script.toString())}"></script>
</body>
</html>`;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly controller: ChatController,
    /** Sees every message posted to the page (tests read them). */
    private readonly tap?: (message: HostMessage) => void,
  ) {}

  /** The view has been shown at least once and its page is alive. */
  get resolved(): boolean {
    return this.view !== undefined;
  }

  resolveWebviewView(webviewView: vscode.WebviewView): void {
    this.view = webviewView;
    const { webview } = webviewView;
    webview.options = {
      enableScripts: true,
      enableCommandUris: false,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, "dist"), vscode.Uri.joinPath(this.extensionUri, "media")],
    };
    webview.html = chatViewHtml(webview, this.extensionUri, makeNonce());
    this.controller.attach({
      postMessage: (message) => {
        this.tap?.(message);
        return webview.postMessage(message);
      },
    });
    this.disposables.push(
      webview.onDidReceiveMessage((message: unknown) => void this.controller.receive(message)),
      webviewView.onDidDispose(() => {
        if (this.view === webviewView) {
          this.view = undefined;
          this.controller.attach(undefined);
        }
      }),
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
