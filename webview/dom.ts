/** Keyboard focus across renders: Lit keeps elements, these helpers find the right one again by its `data-focus-key`. */

/** True when nothing in particular has the focus (the focused element was removed, or none was focused). */
export function focusIsLost(): boolean {
  const active = document.activeElement;
  return active === null || active === document.body || active === document.documentElement;
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
