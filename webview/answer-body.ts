/**
 * The answer's body as a Lit element directive: `<div class="markdown" ${answerBody(text, options)}>`. Lit owns the
 * element; its content is the markdown renderer's (markdown.ts), rebuilt only when the text changed, with a toolbar
 * on each code block, the host's feedback to each block's last action, and the streaming cursor.
 */
import { noChange } from "lit";
import { PartType, directive, type ElementPart, type PartInfo } from "lit/directive.js";
import { AsyncDirective } from "lit/async-directive.js";
import type { CodeAction } from "../src/core/webview-protocol.js";
import { focusByKey } from "./dom.js";
import { setMarkdown } from "./markdown.js";
import { notCodeNote } from "../src/core/rules.js";

export const codeActions: readonly { action: CodeAction; label: string; title: string }[] = [
  { action: "insert", label: "Insert", title: "Insert at the cursor" },
  { action: "replaceSelection", label: "Replace", title: "Replace the selection" },
  { action: "previewDiff", label: "Diff", title: "Preview as a diff" },
  { action: "newFile", label: "New file", title: "Open in a new file" },
  { action: "copy", label: "Copy", title: "Copy to the clipboard" },
];

export interface AnswerBodyOptions {
  /** The answer is still streaming: show the cursor where the text grows. */
  streaming: boolean;
  /** The block actions may be used (not while a turn runs). */
  actionsEnabled: boolean;
  /** What the host said to each block's last action, by block index. */
  feedback: ReadonlyMap<number, { level: "error" | "info"; text: string }>;
  /** The blocks that are not code for the editor (JSON, markdown), by index: they get Copy only, and a note. */
  notCode?: ReadonlyMap<number, "JSON" | "markdown">;
  /** Prefix of the toolbar buttons' focus keys, for an earlier turn's answer (the current turn's have none). */
  focusPrefix?: string;
}

class AnswerBodyDirective extends AsyncDirective {
  private renderedText: string | null = null;
  private renderedNotCode = "";
  private body: HTMLElement | null = null;
  private resizes: ResizeObserver | null = null;
  private overflowFrame = 0;
  private readonly mark = document.createElement("span");

  constructor(part: PartInfo) {
    super(part);
    if (part.type !== PartType.ELEMENT) throw new Error("answerBody() belongs on an element");
    this.mark.className = "streaming-mark";
    this.mark.setAttribute("aria-hidden", "true");
  }

  render(_text: string, _options: AnswerBodyOptions): unknown {
    return noChange;
  }

  override update(part: ElementPart, [text, options]: [string, AnswerBodyOptions]): unknown {
    const body = part.element as HTMLElement;
    // The toolbars are rebuilt when what they offer changed: the blocks that are not code, or their turn's place.
    const notCode = `${options.focusPrefix ?? ""}|${[...(options.notCode ?? new Map<number, string>()).entries()].join()}`;
    const rebuilt = text !== this.renderedText || notCode !== this.renderedNotCode;
    if (rebuilt) this.rebuild(body, text, options.focusPrefix ?? "", options.notCode);
    this.renderedNotCode = notCode;
    for (const button of body.querySelectorAll<HTMLButtonElement>(".code-tool")) button.disabled = !options.actionsEnabled;
    this.showFeedback(body, options.feedback);
    // Whether code is wider than the view is known once laid out: on the first layout, on every resize, and after a
    // rebuild (the observer fires for the first two; a frame later for the third). Updates that change nothing of the
    // text (the buttons, the feedback) do not measure it again.
    this.body = body;
    if (!this.resizes) this.watchSize(body);
    if (rebuilt && this.overflowFrame === 0) {
      this.overflowFrame = requestAnimationFrame(() => {
        this.overflowFrame = 0;
        markOverflow(body);
      });
    }
    if (options.streaming) this.placeMark(body);
    else this.mark.remove();
    return noChange;
  }

  /** Out of the page (its turn removed, the view cleared): nothing watches its size any more. */
  protected override disconnected(): void {
    this.resizes?.disconnect();
    this.resizes = null;
    cancelAnimationFrame(this.overflowFrame);
    this.overflowFrame = 0;
  }

  protected override reconnected(): void {
    if (this.body) this.watchSize(this.body);
  }

  private watchSize(body: HTMLElement): void {
    this.resizes = new ResizeObserver(() => markOverflow(body));
    this.resizes.observe(body);
  }

  private rebuild(body: HTMLElement, text: string, focusPrefix: string, notCode: AnswerBodyOptions["notCode"]): void {
    const scroller = body.closest<HTMLElement>(".conversation");
    const stick = scroller !== null && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
    const active = document.activeElement;
    const focusKey = active instanceof HTMLElement && body.contains(active) ? active.dataset.focusKey : undefined;
    setMarkdown(body, text);
    this.renderedText = text;
    for (const block of body.querySelectorAll<HTMLElement>(".code-block")) addToolbar(block, focusPrefix, notCode?.get(Number(block.dataset.blockIndex)));
    if (focusKey !== undefined) focusByKey(body, focusKey);
    if (stick && scroller) scroller.scrollTop = scroller.scrollHeight;
  }

  private showFeedback(body: HTMLElement, feedback: AnswerBodyOptions["feedback"]): void {
    for (const block of body.querySelectorAll<HTMLElement>(".code-block")) {
      const said = feedback.get(Number(block.dataset.blockIndex));
      let line = block.querySelector<HTMLElement>(":scope > .code-feedback");
      if (!said) {
        line?.remove();
        continue;
      }
      if (!line) {
        line = document.createElement("p");
        block.querySelector(".code-header")?.after(line);
      }
      line.className = `code-feedback code-feedback-${said.level}`;
      line.setAttribute("role", said.level === "error" ? "alert" : "status");
      if (line.textContent !== said.text) line.textContent = said.text;
    }
  }

  /** The blinking cursor goes at the end of the last paragraph or code block, where the text is growing. */
  private placeMark(body: HTMLElement): void {
    const last = body.lastElementChild;
    const target = last?.matches(".code-block") ? last.querySelector("pre.code code") : last?.matches("p, h1, h2, h3, h4, h5, h6") ? last : null;
    (target ?? body).append(this.mark);
  }
}

/** The code blocks whose sideways scrolling is watched already (a hint removed and shown again adds no second listener). */
const watchedScrolls = new WeakSet<HTMLElement>();

/** Code wider than the view says so: a shadow at the right edge while there is more, and a line under it. */
function markOverflow(body: HTMLElement): void {
  for (const pre of body.querySelectorAll<HTMLElement>("pre.code")) {
    const overflows = pre.scrollWidth > pre.clientWidth + 1;
    pre.classList.toggle("overflows", overflows);
    let hint = pre.nextElementSibling?.matches(".code-scroll-hint") ? pre.nextElementSibling : null;
    if (overflows && !hint) {
      hint = document.createElement("p");
      hint.className = "code-scroll-hint";
      hint.textContent = "Wider than the view: scroll sideways for the rest.";
      pre.after(hint);
      pre.tabIndex = 0;
      if (!watchedScrolls.has(pre)) {
        watchedScrolls.add(pre);
        pre.addEventListener("scroll", () => pre.classList.toggle("at-end", pre.scrollLeft + pre.clientWidth >= pre.scrollWidth - 1));
      }
    } else if (!overflows && hint) hint.remove();
  }
}

function addToolbar(block: HTMLElement, focusPrefix: string, notCode: "JSON" | "markdown" | undefined): void {
  const index = Number(block.dataset.blockIndex);
  const header = block.querySelector(".code-header");
  if (!Number.isInteger(index) || !header) return;
  const language = block.querySelector(".code-language")?.textContent ?? "";
  const what = `code block ${index + 1}${language !== "" && language !== "text" ? ` (${language})` : ""}`;
  const toolbar = document.createElement("div");
  toolbar.className = "code-toolbar";
  toolbar.setAttribute("role", "group");
  toolbar.setAttribute("aria-label", `Actions for ${what}`);
  if (notCode !== undefined) {
    block.classList.add("not-code");
    const note = document.createElement("p");
    note.className = "not-code-note";
    note.textContent = notCodeNote(notCode);
    header.after(note);
  }
  for (const { action, label, title } of codeActions) {
    if (notCode !== undefined && action !== "copy") continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "code-tool";
    button.dataset.action = action;
    button.dataset.focusKey = `${focusPrefix}code:${index}:${action}`;
    button.title = title;
    button.setAttribute("aria-label", `${title}: ${what}`);
    button.textContent = label;
    toolbar.append(button);
  }
  header.append(toolbar);
}

/** The answer's markdown, its code-block toolbars and feedback, and the streaming cursor. */
export const answerBody = directive(AnswerBodyDirective);
