/**
 * The conversation's rules, defined once: what "busy", "an open question", "the code may be requested", and when a
 * turn may be followed up, regenerated, continued or edited mean.
 * The engine enforces them, the extension host and the command line ask them, the webview renders by them.
 */
import type { ClarifySettings, CodeBlock, DecideMethod, PastTurn, Question, SessionSnapshot, SessionState, Turn } from "./types.js";

/** A conversation with these settings decides whether to ask by readings (so it wants a sandbox to run candidates in). */
export function decidesByReadings(decide: DecideMethod, settings: Pick<ClarifySettings, "askPolicy" | "style">): boolean {
  return decide === "readings" && settings.askPolicy === "auto" && settings.style === "guided";
}

type Conversation = Pick<SessionSnapshot, "state" | "questions" | "rounds">;

/** A turn is running (the model is reading the request or writing the code): the surfaces offer Stop. */
export function isBusy(state: SessionState): boolean {
  return state === "assessing" || state === "generating";
}

/** A question no longer blocks the code: it has a non-blank answer, or the user left it to the assistant. */
export function isSettled(question: Pick<Question, "answer" | "waived">): boolean {
  return question.waived === true || (question.answer !== undefined && question.answer.trim() !== "");
}

/** The questions of the round that is open for answers (none unless the conversation is asking). */
export function openRoundQuestions<C extends Conversation>(session: C): C["questions"] {
  if (session.state !== "asking") return [];
  return session.questions.filter((q) => q.round === session.rounds);
}

/** The open questions: those, of any round, that are neither answered nor waived. */
export function openQuestions<C extends Conversation>(session: C): C["questions"] {
  return session.questions.filter((q) => !isSettled(q));
}

/** The code (or the next round) may be requested: the conversation is asking and no question is open. */
export function canGenerate(session: Conversation): boolean {
  return openRoundQuestions(session).length > 0 && openQuestions(session).length === 0;
}

/** A new message goes to this conversation as its next turn: it has started and no turn is running. */
export function canFollowUp(state: SessionState): boolean {
  return state !== "idle" && !isBusy(state);
}

/**
 * The current turn may run again (Regenerate) or be sent again with its request edited: it got as far as questions,
 * an answer, a stop or a failure.
 */
export function canRegenerate(session: Pick<SessionSnapshot, "state" | "request">): boolean {
  return canFollowUp(session.state) && session.request.trim() !== "";
}

/** Continue writes the rest of an answer that stopped early: the user stopped it, or it reached the length limit. */
export function canContinue(session: Pick<SessionSnapshot, "state" | "answer" | "hitLimit" | "answerRequested">): boolean {
  if (session.answer === "" || session.answerRequested !== true) return false;
  return session.state === "cancelled" || (session.state === "done" && session.hitLimit === true);
}

/** Every turn of a conversation, oldest first; the current one last, with the conversation's state. */
export function conversationTurns(session: SessionSnapshot): (Turn & { state: SessionState })[] {
  const earlier: PastTurn[] = session.earlier ?? [];
  return [...earlier, session];
}

// ---------------------------------------------------------------------------------------------------------------
// What a finished answer holds, and the status line that says so.

/** Keys of our own protocol's JSON (the assessment, the choices): a block holding them is never the user's code. */
const protocolKeys = /"(?:decision|assumptions|questions|choices|code)"\s*:/;
/** A block that is a JSON object or array (as small models write their protocol), whole or cut off. */
const jsonStart = /^\s*(?:\{\s*"[^"\n]*"\s*:|\[\s*(?:\{|"|\]))/;
/** Fence tags of prose, not code. */
const proseTags = new Set(["markdown", "md", "text", "txt", "plaintext"]);
const jsonTags = new Set(["json", "jsonc", "json5"]);

/**
 * What a fenced block of an answer is when it is not code to offer for the editor: "JSON" (the model's own protocol,
 * or data where the request's language is not JSON) or "markdown" (prose in a fence); undefined when it is code.
 * `languageId` is the request's language (the editor's), when known.
 */
export function notCodeKind(block: Pick<CodeBlock, "language" | "code">, languageId?: string): "JSON" | "markdown" | undefined {
  const tag = block.language.trim().toLowerCase();
  const wanted = (languageId ?? "").toLowerCase();
  if (jsonStart.test(block.code) && !jsonTags.has(wanted) && (!jsonTags.has(tag) || protocolKeys.test(block.code))) return "JSON";
  if (proseTags.has(tag) && !proseTags.has(wanted) && wanted !== "") return "markdown";
  return undefined;
}

/** The blocks of an answer offered as code (their indexes), and those that are not, with what they are. */
export function answerCode(turn: Pick<Turn, "codeBlocks" | "context">): { code: number[]; notCode: { index: number; kind: "JSON" | "markdown" }[] } {
  const code: number[] = [];
  const notCode: { index: number; kind: "JSON" | "markdown" }[] = [];
  turn.codeBlocks.forEach((block, index) => {
    const kind = notCodeKind(block, turn.context.languageId);
    if (kind === undefined) code.push(index);
    else notCode.push({ index, kind });
  });
  return { code, notCode };
}

/** The sentence under a block that is not offered as code. */
export function notCodeNote(kind: "JSON" | "markdown"): string {
  return kind === "JSON"
    ? "This block is JSON, not code for your file: it is not offered for the editor. Regenerate to ask for the code again."
    : "This block is markdown text, not code: it is not offered for the editor.";
}

/** The questions of the open round that still need an answer or a skip, counted the same way by every surface. */
export function askingStatus(remaining: number): string {
  if (remaining === 0) return "Every question is answered or skipped: Generate code writes it.";
  return remaining === 1 ? "Answer or skip 1 more question." : `Answer or skip ${remaining} more questions.`;
}

/** A duration as the status line shows it: "8 s", "1 min 32 s". */
function elapsedText(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** What the status line knows while a turn runs: how long it has run, and how much of the answer is written. */
interface RunningInfo {
  elapsedMs?: number;
  /** Characters of the answer streamed so far (while writing). */
  written?: number;
}

/**
 * How far the model has read the prompt, and about how long the rest will take at the pace so far: "812 of 2,140
 * tokens read, about 1 min left". Empty where the model does not say, or once it has read it all.
 */
export function readingText(reading: SessionSnapshot["reading"], elapsedMs: number | undefined): string {
  if (!reading || reading.total <= 0 || reading.evaluated >= reading.total) return "";
  const n = (x: number): string => x.toLocaleString("en-US");
  const read = reading.evaluated - reading.from;
  const seconds = (elapsedMs ?? 0) / 1000;
  const left = read > 0 && seconds >= 2 ? ((reading.total - reading.evaluated) * seconds) / read : undefined;
  const estimate = left === undefined ? "" : left < 1 ? ", almost done" : `, about ${elapsedText(Math.max(1000, Math.round(left / 5) * 5000))} left`;
  return `${n(reading.evaluated)} of ${n(reading.total)} tokens read${estimate}`;
}

/**
 * The status line: one short sentence, from the conversation alone, for what is happening now. `remaining` is the
 * open round's count of questions still to answer or skip (the webview counts a typed, unsent answer as given).
 */
export function sessionStatus(session: SessionSnapshot, options: { remaining?: number; running?: RunningInfo } = {}): string {
  const running = options.running ?? {};
  const elapsed = running.elapsedMs !== undefined && running.elapsedMs >= 1000 ? ` ${elapsedText(running.elapsedMs)}` : "";
  switch (session.state) {
    case "idle":
      return "";
    case "assessing": {
      const reading = readingText(session.reading, running.elapsedMs);
      if (reading !== "") return `Reading your request…${elapsed} · ${reading}`;
      return `Reading your request…${elapsed}${running.elapsedMs !== undefined && running.elapsedMs >= 15_000 ? " (the model reads the whole request and context before its first word; a slow CPU takes minutes)" : ""}`;
    }
    case "asking": {
      const remaining = options.remaining ?? openRoundQuestions(session).filter((q) => !isSettled(q)).length;
      return askingStatus(remaining);
    }
    case "generating": {
      const written = running.written ?? session.answer.length;
      const seconds = (running.elapsedMs ?? 0) / 1000;
      if (elapsed === "") return "Writing code…";
      if (written === 0) {
        const reading = readingText(session.reading, running.elapsedMs);
        return `Writing code…${elapsed}, ${reading !== "" ? `reading: ${reading}` : "waiting for the first words"}`;
      }
      const speed = seconds >= 1 ? `, ${Math.round(written / seconds)} characters/s` : "";
      return `Writing code…${elapsed} · ${written} characters${speed}`;
    }
    case "done": {
      const { code, notCode } = answerCode(session);
      const limit = session.hitLimit ? " It stopped at the length limit: Continue writes the rest." : "";
      if (code.length === 0 && notCode.length > 0) {
        const kinds = [...new Set(notCode.map((b) => b.kind))].join(" and ");
        return `Done, but no code: the answer's ${notCode.length === 1 ? "block is" : "blocks are"} ${kinds}, not code. Regenerate to try again.${limit}`;
      }
      const blocks = code.length === 0 ? "Done." : code.length === 1 ? "Done: 1 code block." : `Done: ${code.length} code blocks.`;
      const skipped = notCode.length > 0 ? ` ${notCode.length} other ${notCode.length === 1 ? "block is" : "blocks are"} not code.` : "";
      return `${blocks}${skipped}${limit}`;
    }
    case "cancelled":
      return "Stopped.";
    case "failed":
      return "Failed.";
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The assistant's stated choice for a question the user left to it.

/** Our own instruction for a waived question, echoed back by a small model as its "choice". */
const echoedInstruction = /\byou decide\b|\bsensible default\b|\bchoose (?:a|an|the) (?:sensible|reasonable)\b|\bstate (?:it|which)\b/i;

/**
 * A choice the assistant made, normalised as the clause after "I assumed": one line, no wrapping quotes, no
 * trailing full stops or commas, a capitalised first word (the model's "To sort ...") in lower case (an acronym or
 * a code name such as "ISO" or "parseDate" is kept). Undefined when it is no choice: empty, or our instruction
 * echoed back.
 */
const wrappers: Readonly<Record<string, string>> = { '"': '"', "'": "'", "“": "”", "‘": "’", "`": "`", "(": ")" };

export function statedChoice(choice: string): string | undefined {
  let text = choice.replace(/\s+/g, " ").trim();
  // Quotes or brackets around the whole of it come off, a pair at a time; "`f(1)` returns 'a.'" is not wrapped.
  for (let i = 0; i < 3; i++) {
    const close = wrappers[text.charAt(0)];
    const inner = text.slice(1, -1);
    if (close === undefined || text.length < 2 || !text.endsWith(close) || inner.includes(close)) break;
    text = inner.trim();
  }
  text = text.replace(/^(?:I assumed|I assume|Assume|Assumed)\b:?\s*/i, "");
  // A full stop (or comma) at the end goes, but not one inside a closing quote: that is part of a value.
  text = text.replace(/[\s.,;:]+$/u, "").trim();
  if (text === "" || echoedInstruction.test(text)) return undefined;
  if (/^[A-Z][a-z]+(?:\s|$)/.test(text)) text = text.charAt(0).toLowerCase() + text.slice(1);
  return text;
}

/** The sentence that states a choice: "I assumed <choice>." (no full stop after an ellipsis, "?" or "!"). */
export function assumedSentence(choice: string): string | undefined {
  const stated = statedChoice(choice);
  if (stated === undefined) return undefined;
  return `I assumed ${stated}${/[.…?!]$/u.test(stated) ? "" : "."}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Keyboard focus while questions are open (the webview places it, and scrolls the focused control into view).

/** Where the focus goes among an open round's questions: a question's answer field, Generate, or nowhere new. */
type QuestionFocus = { field: string } | "generate" | undefined;

/**
 * Where the focus goes after a render while a round is open:
 * - a new round that arrives while the user waits (nothing focused, or an empty composer): its first open question;
 * - the question the user just answered or skipped, once settled and its control gone: the next open question after
 *   it (wrapping), or Generate when none is left;
 * - otherwise it stays where it is. `consumed` says the answered question's move was made.
 */
export function questionFocus(
  open: readonly Pick<Question, "id" | "answer" | "waived">[],
  where: { newRound: boolean; waiting: boolean; focusLost: boolean; answered: string | null; editing: ReadonlySet<string> },
): { target: QuestionFocus; consumed: boolean } {
  if (open.length === 0) return { target: undefined, consumed: false };
  if (where.newRound && where.waiting) {
    const first = open.find((q) => !isSettled(q)) ?? open[0];
    return { target: first ? { field: first.id } : undefined, consumed: false };
  }
  const after = where.answered;
  if (after === null || !where.focusLost) return { target: undefined, consumed: false };
  const question = open.find((q) => q.id === after);
  // Still waiting for the host's answer: the focus stays put until the question is settled.
  if (!question || !isSettled(question) || where.editing.has(after)) return { target: undefined, consumed: false };
  const index = open.indexOf(question);
  const ordered = [...open.slice(index + 1), ...open.slice(0, Math.max(0, index))];
  const following = ordered.find((q) => !isSettled(q) || where.editing.has(q.id));
  return { target: following ? { field: following.id } : "generate", consumed: true };
}
