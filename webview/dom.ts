/**
 * A tiny DOM builder. Text is always a text node and attributes always go through `setAttribute`, so nothing built
 * here is ever parsed as HTML. Event handlers are attached with `addEventListener`, never as attributes.
 */

export type Child = Node | string | null | undefined | false;
export type Attributes = Record<string, string | number | boolean | null | undefined>;

/** Creates an element. `true` sets a boolean attribute, `false`/`null`/`undefined` leave it out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, ...children);
  return element;
}

export function setAttributes(element: Element, attributes: Attributes): void {
  for (const [name, value] of Object.entries(attributes)) {
    // Handlers are code: they are never set from attributes (and never from data).
    if (/^on/i.test(name)) throw new Error(`refusing to set event handler attribute ${name}`);
    if (value === false || value === null || value === undefined) element.removeAttribute(name);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** Sets text only when it changed, so a live region does not announce the same words twice. */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

let counter = 0;
/** A document-unique id for aria-labelledby and friends. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** True when nothing in particular has the focus (the focused element was removed, or none was focused). */
export function focusIsLost(): boolean {
  const active = document.activeElement;
  return active === null || active === document.body || active === document.documentElement;
}

/**
 * Rebuilds `container` with `build()` while keeping the keyboard focus: if the focused element carried a
 * `data-focus-key`, the element with the same key in the new content gets the focus back.
 */
export function rebuildKeepingFocus(container: Element, build: () => Child[]): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && container.contains(active) ? active.dataset.focusKey : undefined;
  replaceChildren(container, ...build());
  if (key !== undefined) focusByKey(container, key);
}

/** Focuses the first shown element with this `data-focus-key` that takes the focus. */
export function focusByKey(container: ParentNode, key: string): boolean {
  for (const element of container.querySelectorAll<HTMLElement>("[data-focus-key]")) {
    if (element.dataset.focusKey !== key || element.getClientRects().length === 0) continue;
    if (focusElement(element)) return true;
  }
  return false;
}

function holdsFocus(element: HTMLElement): boolean {
  const active = document.activeElement;
  return active !== null && (active === element || element.contains(active));
}

/**
 * Focuses an element. A web component created in this same task has not rendered its inner control yet, so its
 * focus is retried once it has (Lit's `updateComplete`).
 */
export function focusElement(element: HTMLElement): boolean {
  element.focus();
  if (holdsFocus(element)) return true;
  const pending = (element as HTMLElement & { updateComplete?: Promise<unknown> }).updateComplete;
  if (pending === undefined) return false;
  void pending.then(() => {
    if (element.isConnected) element.focus();
  });
  return true;
}
