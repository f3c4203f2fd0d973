/**
 * Fitting a request into the model's context window: every turn keeps room for what the model writes, the request
 * must fit whole, and the editor context gets what is left, the selection around the cursor first, then the code
 * around it. What was left out is said in words, so the user sees exactly what the model saw.
 */
import { describeContext } from "./prompts.js";
import type { ClarifySettings, EditorContext, SelectionContext } from "./types.js";

type CountTokens = (text: string) => Promise<number>;

/** Tokens a chat template wraps around each message (role markers, separators): generous for the common templates. */
export const tokensPerMessage = 12;

/**
 * Tokens kept free in every turn for the model's replies (an assessment and the code) and the short messages between;
 * at most half the context, so that a length limit set above what the model can hold does not leave no room at all.
 */
export function answerReserve(settings: Pick<ClarifySettings, "maxAssessmentTokens" | "maxCodeTokens">, contextSize: number): number {
  return Math.min(settings.maxAssessmentTokens + settings.maxCodeTokens + 8 * tokensPerMessage + 128, Math.floor(contextSize / 2));
}

/** A request that cannot be sent to the model at all, in plain words (the turn fails with this message). */
export class RequestTooLarge extends Error {
  override name = "RequestTooLarge";
}

const number = (n: number): string => n.toLocaleString("en-US");

/** The refusal for a request (or a conversation) that does not fit, with what would make it fit. */
export function tooLargeMessage(input: { requestTokens: number; available: number; contextSize: number; historyTokens: number }): string {
  const { requestTokens, available, contextSize, historyTokens } = input;
  if (historyTokens > 0 && available < requestTokens && historyTokens >= contextSize / 2) {
    return (
      `This conversation has grown too long for the model: its ${number(historyTokens)} tokens and this request's ` +
      `${number(requestTokens)} do not fit in the model's context of ${number(contextSize)} tokens with room for the answer. ` +
      "Start a new chat, or use a larger context size."
    );
  }
  return (
    `The request is too long for the model: it is ${number(requestTokens)} tokens, and the model's context of ` +
    `${number(contextSize)} tokens leaves ${number(Math.max(0, available))} for it once room is kept for the answer. ` +
    "Shorten the request, or use a larger context size."
  );
}

interface FittedContext {
  context: EditorContext;
  /** What was left out, in words; absent when everything fits. */
  note?: string;
}

/**
 * The largest `n` in [0, max] for which `fits(n)` holds, given that it is monotone (fits for n implies fits for less),
 * in about log2(max) calls.
 */
async function largestFitting(max: number, fits: (n: number) => Promise<boolean>): Promise<number> {
  let low = 0;
  let high = max;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (await fits(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** The window of `n` lines of `count` lines that is centred on line `center` (0-based), moved inside the range. */
function windowAround(center: number, n: number, count: number): { from: number; to: number } {
  const from = Math.min(Math.max(0, center - Math.floor(n / 2)), Math.max(0, count - n));
  return { from, to: Math.min(count, from + n) };
}

function selectionWindow(selection: SelectionContext, n: number): SelectionContext {
  const lines = selection.text.split("\n");
  const cursor = Math.min(Math.max(0, (selection.cursorLine ?? selection.startLine) - selection.startLine), lines.length - 1);
  const { from, to } = windowAround(cursor, n, lines.length);
  return {
    text: lines.slice(from, to).join("\n"),
    startLine: selection.startLine + from,
    endLine: selection.startLine + to - 1,
    ...(selection.cursorLine !== undefined ? { cursorLine: selection.cursorLine } : {}),
  };
}

function codeWindow(code: string, n: number): string {
  const lines = code.split("\n");
  const { from, to } = windowAround(Math.floor(lines.length / 2), n, lines.length);
  return lines.slice(from, to).join("\n");
}

/**
 * Fits the editor context into `budget` tokens (as `describeContext` writes it): the selection around the cursor
 * first, then the code around the cursor with what is left. The result's note says what was left out.
 */
export async function fitContext(context: EditorContext, budget: number, count: CountTokens): Promise<FittedContext> {
  const cost = async (c: EditorContext): Promise<number> => {
    const text = describeContext(c);
    return text === "" ? 0 : count(text);
  };
  if ((await cost(context)) <= budget) return { context };

  const { selection, surroundingCode, ...rest } = context;
  const notes: string[] = [];
  let fitted: EditorContext = { ...rest };
  if (selection && selection.text.trim() !== "") {
    const total = selection.text.split("\n").length;
    if ((await cost({ ...fitted, selection })) <= budget) {
      fitted.selection = selection;
    } else {
      const n = await largestFitting(total, async (k) => k === 0 || (await cost({ ...fitted, selection: selectionWindow(selection, k) })) <= budget);
      if (n === 0) {
        notes.push(`The selection (lines ${number(selection.startLine)}-${number(selection.endLine)}) was left out: it does not fit in the model's context.`);
      } else {
        const window = selectionWindow(selection, n);
        fitted.selection = window;
        notes.push(
          `Sent lines ${number(window.startLine)}-${number(window.endLine)} of the ${number(total)} selected ` +
            `(lines ${number(selection.startLine)}-${number(selection.endLine)}), around the cursor: the rest does not fit in the model's context.`,
        );
      }
    }
  }
  if (surroundingCode && surroundingCode.trim() !== "") {
    const total = surroundingCode.split("\n").length;
    const n = await largestFitting(total, async (k) => k === 0 || (await cost({ ...fitted, surroundingCode: codeWindow(surroundingCode, k) })) <= budget);
    if (n === total) fitted = { ...fitted, surroundingCode };
    else if (n > 0) {
      fitted = { ...fitted, surroundingCode: codeWindow(surroundingCode, n) };
      notes.push(`Sent ${number(n)} of the ${number(total)} lines around the cursor.`);
    } else if (!fitted.selection || notes.length === 0) {
      notes.push("The code around the cursor was left out: it does not fit in the model's context.");
    } else {
      notes.push("The code around the cursor was left out.");
    }
  }
  return notes.length > 0 ? { context: fitted, note: notes.join(" ") } : { context: fitted };
}
