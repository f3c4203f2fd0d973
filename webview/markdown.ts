/**
 * Renders the model's answer. The ONLY place in the webview where HTML is parsed from a string, and the only
 * string it parses is markdown-it's output with raw HTML disabled (so every `<`, `>`, `&`, `"` of the model's text is
 * escaped) and highlight.js's output (escaped text in `<span class="hljs-…">`).
 *
 * On top of markdown-it's defaults:
 * - fenced code blocks are wrapped in `.code-block[data-block-index]`, numbered exactly as the engine's
 *   `extractCodeBlocks` numbers them (every `fence` token of `new MarkdownIt()`'s parse, in order; indented code
 *   is not a block), so a toolbar action's index matches `SessionSnapshot.codeBlocks`;
 * - links never navigate: http(s) links become an `<a>` without `href` (`data-href`, handled by the app, which asks
 *   the host to open them); any other link is plain text;
 * - images are never loaded: they become their alt text;
 * - table column alignment is a class, not a style attribute (the CSP allows no inline styles).
 */
import MarkdownIt from "markdown-it";
import type { Token } from "markdown-it";
import hljs from "highlight.js/lib/common";
import { isOpenableUrl } from "../src/core/links.js";

/** Same options as the engine's parser (the default preset: html off, linkify off), plus highlighting. */
const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
const escapeHtml = md.utils.escapeHtml;

/** An absolute http(s) URL the host may be asked to open: the protocol's own rule. */
export const isWebLink = isOpenableUrl;

/** What `annotate` records on a fence token. */
type FenceMeta = { blockIndex: number };
/** What `annotate` records on link tokens: the href when it may be opened, else null. */
type LinkMeta = { href: string | null };

function linkHref(meta: Record<string, unknown> | null): string | null {
  const href = meta?.href;
  return typeof href === "string" ? href : null;
}

/** The first word of a fence's info string, as `extractCodeBlocks` reads it. */
export function fenceLanguage(info: string): string {
  return info.trim().split(/\s+/)[0] ?? "";
}

function highlight(code: string, language: string): string {
  const name = language.toLowerCase();
  if (name !== "" && hljs.getLanguage(name)) {
    try {
      return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
    } catch {
      // fall through to plain text
    }
  }
  return escapeHtml(code);
}

md.renderer.rules.fence = (tokens, idx) => {
  const token = tokens[idx];
  if (!token) return "";
  const blockIndex = token.meta?.blockIndex;
  if (typeof blockIndex !== "number") return "";
  const language = fenceLanguage(token.info);
  const code = token.content.replace(/\n$/, "");
  const cssLanguage = language.toLowerCase().replace(/[^a-z0-9_+#.-]/g, "");
  const languageClass = cssLanguage === "" ? "" : ` language-${cssLanguage}`;
  return (
    `<div class="code-block" data-block-index="${blockIndex}">` +
    `<div class="code-header"><span class="code-language">${escapeHtml(language === "" ? "text" : language)}</span></div>` +
    `<pre class="code"><code class="hljs${escapeHtml(languageClass)}">${highlight(code, language)}</code></pre>` +
    `</div>\n`
  );
};

md.renderer.rules.link_open = (tokens, idx) => {
  const href = linkHref(tokens[idx]?.meta ?? null);
  if (href === null) return `<span class="md-link-inert">`;
  const safe = escapeHtml(href);
  return `<a class="md-link" data-href="${safe}" title="${safe}" role="link" tabindex="0">`;
};

md.renderer.rules.link_close = (tokens, idx) => (linkHref(tokens[idx]?.meta ?? null) !== null ? `</a>` : `</span>`);

md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  if (!token) return "";
  const alt = self.renderInlineAsText(token.children ?? [], options, env);
  return `<span class="md-image">[image${alt === "" ? "" : `: ${escapeHtml(alt)}`}]</span>`;
};

/** Numbers the fences and decides, for each link, whether it may become an openable link. */
function annotate(tokens: Token[]): number {
  let blocks = 0;
  for (const token of tokens) {
    if (token.type === "fence") {
      const meta: FenceMeta = { blockIndex: blocks++ };
      token.meta = meta;
    } else if (token.type === "th_open" || token.type === "td_open") {
      // Column alignment arrives as a style attribute, which the CSP (no inline styles) would block: use a class.
      const style = token.attrGet("style");
      if (style !== null) {
        token.attrs = (token.attrs ?? []).filter(([name]) => name !== "style");
        const align = /text-align:\s*(left|center|right)/.exec(String(style))?.[1];
        if (align) token.attrSet("class", `align-${align}`);
      }
    } else if (token.type === "inline" && token.children) {
      const open: LinkMeta[] = [];
      for (const child of token.children) {
        if (child.type === "link_open") {
          const href = child.attrGet("href");
          const meta: LinkMeta = { href: typeof href === "string" && isWebLink(href) ? href : null };
          child.meta = meta;
          open.push(meta);
        } else if (child.type === "link_close") {
          child.meta = open.pop() ?? { href: null };
        }
      }
    }
  }
  return blocks;
}

export interface RenderedMarkdown {
  html: string;
  /** How many fenced code blocks (and so `.code-block` elements) the HTML has. */
  blocks: number;
}

export function renderMarkdown(text: string): RenderedMarkdown {
  const env = {};
  const tokens = md.parse(text, env);
  const blocks = annotate(tokens);
  return { html: md.renderer.render(tokens, md.options, env), blocks };
}

/**
 * The Trusted Types policy that lets exactly this module assign HTML. The page's CSP may require Trusted Types
 * (`require-trusted-types-for 'script'; trusted-types clarifycoder-markdown lit-html`); then any other `innerHTML`
 * anywhere in the webview throws.
 */
const policyName = "clarifycoder-markdown";
let policy: TrustedTypePolicyLike | undefined;
try {
  policy = window.trustedTypes?.createPolicy(policyName, { createHTML: (html) => html });
} catch (error) {
  console.error(`[ClarifyCoder] could not create the Trusted Types policy "${policyName}": ${String(error)}`);
}

/** Renders `text` as markdown into `element`, replacing its content. Returns how many code blocks it has. */
export function setMarkdown(element: HTMLElement, text: string): number {
  const { html, blocks } = renderMarkdown(text);
  // The one innerHTML of the webview: markdown-it output, raw HTML disabled (see the top of this file).
  element.innerHTML = policy ? (policy.createHTML(html) as unknown as string) : html;
  return blocks;
}
