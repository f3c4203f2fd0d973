/**
 * What the test page's harness (test/webview/page/harness.ts, run in the browser before the webview's script) offers
 * to the node side of the test. Plain data only: this file is compiled both with and without the DOM library.
 */

/** A DOM audit of the page after some content was rendered. */
export interface AuditReport {
  /** Elements that must never come from content: script (beyond the page's own), iframe, img, svg, style... */
  forbiddenElements: string[];
  /** Attributes that must never come from content: on*, href, src, srcdoc, style (in the app's light DOM), formaction... */
  forbiddenAttributes: string[];
  /** Elements inside rendered markdown whose tag or attributes are outside what the renderer makes. */
  unexpectedMarkdown: string[];
  /** `.code-block` elements in the answer, with the text of each one's code. */
  codeBlocks: { index: number; code: string; language: string }[];
  /** `data-href` of each openable link in the answer. */
  links: string[];
  scripts: number;
}

export interface FocusInfo {
  tag: string;
  className: string;
  focusKey: string | null;
  text: string;
  /** The element itself matches :focus-visible (for elements whose focus ring is ours to draw). */
  focusVisible: boolean;
}

export interface HarnessApi {
  /** Everything the webview posted through the fake `acquireVsCodeApi`, in order (structured clones). */
  posted: unknown[];
  /** Calls of the canary `__xss(tag)` from any content that managed to run. */
  xssHits: string[];
  /** `securitypolicyviolation` events: directive, blocked URI and sample. */
  violations: string[];
  /** The last state given to the fake `setState`. */
  savedState: unknown;
  /** Posts a host message into the page and resolves once the webview handled it and painted. */
  inject(message: unknown): Promise<void>;
  /** Posts several, resolving after the last. */
  injectAll(messages: unknown[]): Promise<void>;
  /** The text content of the first element matching each selector (null where none does). */
  texts(selectors: string[]): (string | null)[];
  /** Same as inject, with the message made in the page by `JSON.parse` (keeps own `__proto__` keys intact). */
  injectJson(json: string): Promise<void>;
  /** Waits two animation frames (the webview renders streamed markdown on the next frame). */
  settle(): Promise<void>;
  /** Takes the focus away (for screenshots without a focus ring), then waits two frames. */
  blur(): Promise<void>;
  audit(): AuditReport;
  focus(): FocusInfo | null;
  clearPosted(): void;
}

export interface HarnessGlobal {
  __harness: HarnessApi;
}
