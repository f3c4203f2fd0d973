/** Stop texts in a stream of generated text. */

/** How many characters at the end of `text` could be the start of a stop text (so they must wait). */
export function pendingTriggerLength(text: string, triggers: readonly string[]): number {
  let keep = 0;
  for (const t of triggers) {
    for (let n = Math.min(t.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(t.slice(0, n))) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}
