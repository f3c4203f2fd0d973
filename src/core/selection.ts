/** What an editor selection covers, in the user's words: its lines as the chips and the request's context name them. */

interface Position {
  /** 0-based. */
  line: number;
  /** 0-based. */
  character: number;
}

/**
 * The 1-based lines a selection covers. A selection that ends at column 1 of a line (whole lines selected, as a
 * triple click or Shift+Down makes) does not cover that last line.
 */
export function selectedLines(start: Position, end: Position): { startLine: number; endLine: number } {
  const last = end.character === 0 && end.line > start.line ? end.line - 1 : end.line;
  return { startLine: start.line + 1, endLine: last + 1 };
}
