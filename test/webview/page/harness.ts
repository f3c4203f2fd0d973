/**
 * Runs in the test page before anything else (Playwright init script, so the page's CSP does not apply to it): a fake
 * `acquireVsCodeApi` that records what the webview posts, an XSS canary, a CSP-violation recorder, and helpers the
 * node side calls through `window.__harness`.
 */
import type { AuditReport, FocusInfo, HarnessApi, HarnessGlobal } from "../harness-api.js";

const stateKey = "__clarifycoder_vscode_state";
if (!location.search.includes("keepState")) sessionStorage.removeItem(stateKey);

const posted: unknown[] = [];
const xssHits: string[] = [];
const violations: string[] = [];
let savedState: unknown = (() => {
  const raw = sessionStorage.getItem(stateKey);
  return raw === null ? undefined : (JSON.parse(raw) as unknown);
})();

let acquired = false;
Object.defineProperty(window, "acquireVsCodeApi", {
  value: () => {
    if (acquired) throw new Error("An instance of the VS Code API has already been acquired");
    acquired = true;
    return Object.freeze({
      postMessage(message: unknown): void {
        posted.push(structuredClone(message));
      },
      setState<T>(state: T): T {
        savedState = structuredClone(state);
        sessionStorage.setItem(stateKey, JSON.stringify(state));
        return state;
      },
      getState(): unknown {
        return savedState === undefined ? undefined : structuredClone(savedState);
      },
    });
  },
});

Object.defineProperty(window, "__xss", {
  value: (tag: unknown) => {
    xssHits.push(String(tag));
  },
});

document.addEventListener("securitypolicyviolation", (event) => {
  violations.push(`${event.violatedDirective} blocked=${event.blockedURI} sample=${event.sample}`);
});

function frames(count: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    const timer = setTimeout(resolve, 250);
    const step = (): void => {
      left -= 1;
      if (left <= 0) {
        clearTimeout(timer);
        resolve();
      } else requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
}

/**
 * Posts messages as the host would and resolves once the webview has handled the last one and rendered the next
 * frame (the webview renders streamed markdown in the next animation frame; this frame callback is queued after it).
 */
function inject(...messages: unknown[]): Promise<void> {
  return new Promise((resolve) => {
    let left = messages.length;
    // Added after the webview's own listener, so it runs once the webview has handled the message.
    const handled = (): void => {
      left -= 1;
      if (left > 0) return;
      window.removeEventListener("message", handled);
      void frames(1).then(resolve);
    };
    window.addEventListener("message", handled);
    for (const message of messages) window.postMessage(message, "*");
  });
}

function texts(selectors: string[]): (string | null)[] {
  return selectors.map((selector) => document.querySelector(selector)?.textContent ?? null);
}

const forbiddenSelector = [
  "script:not([data-page])",
  "iframe",
  "frame",
  "object",
  "embed",
  "img",
  "svg",
  "math",
  "link",
  "base",
  "form",
  "video",
  "audio",
  "source",
  "style:not([data-page])",
  "meta:not([data-page])",
  "input",
  "textarea",
  "noscript",
  "template",
].join(",");

const forbiddenAttributeNames = new Set(["href", "src", "srcdoc", "formaction", "action", "xlink:href", "background", "poster", "data", "srcset"]);

const markdownTags = new Set("P BR EM STRONG S CODE PRE DIV SPAN UL OL LI H1 H2 H3 H4 H5 H6 BLOCKQUOTE HR TABLE THEAD TBODY TR TH TD A BUTTON".split(" "));
const markdownAttributes = new Set([
  "class",
  "data-block-index",
  "data-href",
  "title",
  "role",
  "tabindex",
  "type",
  "data-action",
  "data-focus-key",
  "aria-label",
  "start",
  "disabled",
  "aria-hidden",
  "hidden",
]);

function describe(element: Element): string {
  const attributes = [...element.attributes].map((a) => `${a.name}=${JSON.stringify(a.value.slice(0, 60))}`).join(" ");
  return `<${element.tagName.toLowerCase()}${attributes === "" ? "" : " " + attributes}>`;
}

function audit(): AuditReport {
  const forbiddenElements = [...document.querySelectorAll(forbiddenSelector)].map(describe);
  const forbiddenAttributes: string[] = [];
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const styleAllowed = element === document.documentElement;
      if (name.startsWith("on") || forbiddenAttributeNames.has(name) || (name === "style" && !styleAllowed)) {
        if (element.hasAttribute("data-page") && name === "src") continue;
        forbiddenAttributes.push(`${name} on ${describe(element)}`);
      }
    }
  }
  const unexpectedMarkdown: string[] = [];
  for (const markdown of document.querySelectorAll(".markdown")) {
    for (const element of markdown.querySelectorAll("*")) {
      const badAttribute = [...element.attributes].some((a) => !markdownAttributes.has(a.name));
      const badLink = element.tagName === "A" && !/^https?:\/\//i.test(element.getAttribute("data-href") ?? "");
      if (!markdownTags.has(element.tagName) || badAttribute || badLink) unexpectedMarkdown.push(describe(element));
    }
  }
  const codeBlocks = [...document.querySelectorAll<HTMLElement>(".markdown .code-block")].map((block) => ({
    index: Number(block.dataset.blockIndex),
    code: block.querySelector("pre.code code")?.textContent ?? "",
    language: block.querySelector(".code-language")?.textContent ?? "",
  }));
  const links = [...document.querySelectorAll<HTMLElement>(".markdown .md-link")].map((a) => a.dataset.href ?? "");
  return { forbiddenElements, forbiddenAttributes, unexpectedMarkdown, codeBlocks, links, scripts: document.scripts.length };
}

function focus(): FocusInfo | null {
  const active = document.activeElement;
  if (!(active instanceof HTMLElement) || active === document.body) return null;
  return {
    tag: active.tagName.toLowerCase(),
    className: active.className,
    focusKey: active.dataset.focusKey ?? null,
    text: (active.textContent ?? "").trim().slice(0, 80),
    focusVisible: active.matches(":focus-visible"),
  };
}

const api: HarnessApi = {
  posted,
  xssHits,
  violations,
  get savedState() {
    return savedState;
  },
  inject: (message) => inject(message),
  injectAll: (messages) => inject(...messages),
  texts,
  injectJson: (json) => inject(JSON.parse(json) as unknown),
  settle: () => frames(2),
  blur: () => {
    const active = document.activeElement;
    if (active instanceof HTMLElement) active.blur();
    return frames(2);
  },
  audit,
  focus,
  clearPosted: () => {
    posted.length = 0;
  },
};

(window as unknown as HarnessGlobal).__harness = api;
