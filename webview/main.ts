/**
 * Entry of the chat webview (bundled to dist/webview.js, a classic script loaded with the page's nonce).
 *
 * Styles are adopted as constructable stylesheets (ours and Lit's), which the page's CSP does not govern, so the page
 * needs no `style-src 'unsafe-inline'`. Should a browser lack constructable stylesheets, Lit falls back to `<style>`
 * elements carrying `window.litNonce`, which is set from this script's own nonce. Nothing evaluates strings as code.
 */
import "@vscode-elements/elements/dist/vscode-button/index.js";
import "@vscode-elements/elements/dist/vscode-textarea/index.js";
import "@vscode-elements/elements/dist/vscode-textfield/index.js";
import "@vscode-elements/elements/dist/vscode-progress-bar/index.js";
import { config as zodConfig } from "zod/mini";
import css from "./styles.css";
import { App } from "./app.js";

// No `new Function` probe: zod would try one to compile its parsers, and the page's CSP (no 'unsafe-eval') reports
// the attempt as a violation even though zod catches it.
zodConfig({ jitless: true });

const nonce = document.currentScript?.nonce;
if (nonce) window.litNonce = nonce;

function adoptStyles(text: string): void {
  if ("adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(text);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    return;
  }
  const style = document.createElement("style");
  if (nonce) style.nonce = nonce;
  style.textContent = text;
  document.head.append(style);
}

function start(): void {
  adoptStyles(css);
  let root = document.getElementById("app");
  if (!root) {
    root = document.createElement("div");
    root.id = "app";
    document.body.append(root);
  }
  root.classList.add("app");
  // The view has its own polite status line; a live region around everything would read out every streamed token.
  root.removeAttribute("aria-live");
  new App(root);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
else start();
