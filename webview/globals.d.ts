/** Ambient declarations for the webview: the VS Code API, text-imported CSS, and the Trusted Types bits we use. */

declare module "*.css" {
  const css: string;
  export default css;
}

/** What `acquireVsCodeApi()` returns inside a VS Code webview. */
interface VsCodeWebviewApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState<T>(state: T): T;
}

declare function acquireVsCodeApi(): VsCodeWebviewApi;

/** An opaque value only a Trusted Types policy can make; `innerHTML` accepts it where Trusted Types are enforced. */
interface TrustedHtmlValue {
  readonly __trustedHtml: unique symbol;
}

interface TrustedTypePolicyLike {
  createHTML(input: string): TrustedHtmlValue;
}

interface TrustedTypePolicyFactoryLike {
  createPolicy(name: string, rules: { createHTML(input: string): string }): TrustedTypePolicyLike;
}

interface Window {
  /** Present in Chromium (and so in VS Code's webviews). */
  trustedTypes?: TrustedTypePolicyFactoryLike;
  /** Lit reads it to add a nonce to the `<style>` elements it creates where constructable stylesheets are missing. */
  litNonce?: string;
}
