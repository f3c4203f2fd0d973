/**
 * Where a code block goes in a document: Insert puts a block of several lines on lines of its own, one blank line
 * from the code around it; Replace and Diff on a selection use the whole file when the block is the whole file
 * (it holds the definitions outside the selection too), instead of pasting a second copy of them in.
 */

/** The line of `text` that holds offset `at`, split there. */
function lineAround(before: string, after: string): { left: string; right: string } {
  const newline = after.indexOf("\n");
  return { left: before.slice(before.lastIndexOf("\n") + 1), right: newline === -1 ? after : after.slice(0, newline) };
}

/**
 * The text Insert puts at the cursor, given the document's text before and after it. A one-line block on a line with
 * text goes in as it is (it may belong inside the line); a longer block, or any block on an empty line, gets lines of
 * its own, separated by one blank line from a neighbour that is not blank.
 */
export function insertionText(before: string, after: string, code: string): string {
  const body = code.replace(/\n+$/, "");
  const { left, right } = lineAround(before, after);
  if (!body.includes("\n") && (left.trim() !== "" || right.trim() !== "")) return code;
  let prefix = "";
  if (left.trim() !== "") prefix = "\n\n";
  else {
    const earlier = before.slice(0, before.length - left.length);
    const previousLine = earlier === "" ? "" : earlier.slice(0, -1).slice(earlier.slice(0, -1).lastIndexOf("\n") + 1);
    if (earlier !== "" && previousLine.trim() !== "") prefix = "\n";
  }
  let suffix: string;
  if (right.trim() !== "") suffix = "\n\n";
  else if (after === "") suffix = "\n";
  else if (after.trim() === "") suffix = "";
  else {
    const rest = after.slice(after.indexOf("\n") + 1);
    const nextLine = rest.split("\n", 1)[0] ?? "";
    suffix = nextLine.trim() !== "" ? "\n" : "";
  }
  return `${prefix}${body}${suffix}`;
}

/** A line that starts a top-level definition (Python, JavaScript/TypeScript, Go, Rust, C-like, shell), trimmed. */
const definitionLine =
  /^(?:export\s+(?:default\s+)?)?(?:async\s+)?(?:def|class|function\*?|fn|func|interface|struct|enum|impl|type|module|package|pub\s+fn|if __name__)\b|^(?:int|void|static|public|private)\s+\w+\s*\(|^(?:const|let|var)\s+\w+\s*=\s*(?:async\s*)?\(|^\w+\s*\(\)\s*\{/;

/**
 * The block holds the file's other top-level definitions as well (a definition line found outside the selection
 * appears in it): applied to the selection it would add a second copy of them, so it is the whole file's proposal.
 */
export function isWholeFileProposal(documentText: string, selectionStart: number, selectionEnd: number, code: string): boolean {
  if (selectionStart === 0 && selectionEnd >= documentText.length) return false;
  const outside = `${documentText.slice(0, selectionStart)}\n${documentText.slice(selectionEnd)}`;
  const definitions = outside.split("\n").filter((line) => !/^\s/.test(line) && definitionLine.test(line.trim()));
  if (definitions.length === 0) return false;
  const codeLines = new Set(code.split("\n").map((line) => line.trimEnd()));
  return definitions.some((line) => codeLines.has(line.trimEnd()));
}
