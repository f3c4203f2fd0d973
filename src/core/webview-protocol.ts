/**
 * The typed message protocol between the extension host and the chat webview, both directions.
 *
 * Every message that crosses the boundary is checked here with a zod schema: the host checks what the webview sends
 * (`parseWebviewMessage`), the webview checks what the host sends (`parseHostMessage`). Both return a result and never
 * throw, so a malformed or unknown message is dropped with one log line. Objects are strict (unknown keys are an
 * error), strings and arrays are bounded, and only plain data is accepted (no class instances, no inherited fields,
 * no `__proto__` / `constructor` / `prototype` keys). What a parser returns is a fresh copy built by zod.
 *
 * Pure: imports only core files and zod. It is written with `zod/mini`, zod 4's tree-shakable API (same schemas,
 * same inferred types, same parser), because it is bundled into the webview too: the classic `zod` entry would add
 * ~450 KB of minified code there, `zod/mini` adds ~25 KB.
 */
import * as z from "zod/mini";
import type { SessionSnapshot } from "./types.js";

/** The bounds every message is held to. Generous on purpose: they stop garbage, not real conversations. */
export const protocolLimits = {
  /** Session ids, question ids, chip ids. */
  id: 200,
  /** Labels, titles, suggestions, file names, model names. */
  shortText: 10_000,
  /** The request, a user's answer, a question, an assumption, a failure message. */
  text: 200_000,
  /** The streamed answer, code, the model's raw text, selected or surrounding code. */
  longText: 8_000_000,
  /** An http(s) link the user clicked. */
  url: 4_096,
  questions: 200,
  suggestions: 16,
  assumptions: 200,
  codeBlocks: 1_000,
  history: 2_000,
  chips: 32,
  /** An index into assumptions or code blocks. */
  index: 100_000,
  /** How deep a message may nest (the deepest real one is about 5). */
  depth: 16,
} as const;

const L = protocolLimits;

const bounded = (max: number) => z.string().check(z.maxLength(max));
const nonEmpty = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));
const id = nonEmpty(L.id);
const shortText = bounded(L.shortText);
const text = bounded(L.text);
const longText = bounded(L.longText);
/** Milliseconds since the epoch (`z.number()` already refuses NaN and the infinities). */
const timestamp = z.number().check(z.minimum(0));
const count = z.int().check(z.minimum(0), z.maximum(L.index));
const lineNumber = z.int().check(z.minimum(0));
const fraction = z.number().check(z.minimum(0), z.maximum(1));
const list = <T extends z.ZodMiniType>(item: T, max: number) => z.array(item).check(z.maxLength(max));

// ---------------------------------------------------------------------------------------------------------------
// The conversation, exactly as `src/core/types.ts` defines it (checked at compile time below).

const selectionContextSchema = z.strictObject({
  text: longText,
  startLine: lineNumber,
  endLine: lineNumber,
});

const editorContextSchema = z.strictObject({
  languageId: z.optional(shortText),
  fileName: z.optional(shortText),
  selection: z.optional(selectionContextSchema),
  surroundingCode: z.optional(longText),
});

export const questionSchema = z.strictObject({
  id,
  round: count,
  text,
  suggestions: list(shortText, L.suggestions),
  answer: z.optional(text),
  waived: z.optional(z.boolean()),
});

const codeBlockSchema = z.strictObject({
  language: shortText,
  code: longText,
});

export const sessionStateSchema = z.enum(["idle", "assessing", "asking", "generating", "done", "cancelled", "failed"]);

const sessionFailureSchema = z.strictObject({
  message: text,
  raw: z.optional(longText),
});

export const sessionSnapshotSchema = z.strictObject({
  id,
  state: sessionStateSchema,
  request: text,
  context: editorContextSchema,
  questions: list(questionSchema, L.questions),
  rounds: count,
  assumptions: list(text, L.assumptions),
  askProbability: z.optional(fraction),
  answer: longText,
  codeBlocks: list(codeBlockSchema, L.codeBlocks),
  failure: z.optional(sessionFailureSchema),
  createdAt: timestamp,
  updatedAt: timestamp,
});

/** Compile-time proof that the schema and `SessionSnapshot` are the same type (not merely assignable). */
type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const snapshotSchemaMatchesTypes: Exactly<z.infer<typeof sessionSnapshotSchema>, SessionSnapshot> = true;
void snapshotSchemaMatchesTypes;

// ---------------------------------------------------------------------------------------------------------------
// Host -> webview.

/** One past conversation in the history list. */
export const historyEntrySchema = z.strictObject({
  id,
  title: shortText,
  updatedAt: timestamp,
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** The model the host has loaded (or not). `progress` is 0..1 while loading, where known. */
export const modelStatusSchema = z.strictObject({
  status: z.enum(["none", "loading", "ready", "error"]),
  /** What to call it: a file name or a model name. */
  label: z.optional(shortText),
  /** How it runs, in words: "CPU", "CUDA", "Vulkan", "Metal"... */
  backend: z.optional(shortText),
  progress: z.optional(fraction),
  error: z.optional(text),
});
export type ModelStatus = z.infer<typeof modelStatusSchema>;

/** Editor context that will go with the next request, shown as removable chips above the composer. */
export const contextChipSchema = z.strictObject({
  id,
  kind: z.enum(["file", "selection", "other"]),
  /** Short text on the chip, e.g. "parse.ts" or "parse.ts:10-24". */
  label: shortText,
  /** Longer text for a tooltip and screen readers, e.g. the full path. */
  description: z.optional(shortText),
});
export type ContextChip = z.infer<typeof contextChipSchema>;

/** The whole picture: sent on `ready` and after every change. The webview renders it as it is. */
const stateMessageSchema = z.strictObject({
  type: z.literal("state"),
  /** The conversation on screen, or null for a new chat. */
  session: z.nullable(sessionSnapshotSchema),
  /** Past conversations, newest first. */
  history: list(historyEntrySchema, L.history),
  model: modelStatusSchema,
  context: z.strictObject({ chips: list(contextChipSchema, L.chips) }),
});

/** Streamed text to append to the on-screen session's `answer` (the host may also just send a new state). */
const chunkMessageSchema = z.strictObject({
  type: z.literal("chunk"),
  sessionId: id,
  text: longText,
});

/** Put the keyboard focus in the composer; with `draft`, replace the composer's text with it. */
const focusComposerMessageSchema = z.strictObject({
  type: z.literal("focusComposer"),
  draft: z.optional(text),
});

/** Something for the user to read, not tied to the conversation (e.g. "Nothing is selected to replace"). */
const noticeMessageSchema = z.strictObject({
  type: z.literal("notice"),
  level: z.enum(["info", "warning", "error"]),
  text,
});

export const hostMessageSchema = z.discriminatedUnion("type", [
  stateMessageSchema,
  chunkMessageSchema,
  focusComposerMessageSchema,
  noticeMessageSchema,
]);
export type HostMessage = z.infer<typeof hostMessageSchema>;
export type StateMessage = z.infer<typeof stateMessageSchema>;
export type ChunkMessage = z.infer<typeof chunkMessageSchema>;
export type NoticeMessage = z.infer<typeof noticeMessageSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Webview -> host: intents. The host decides; the webview never assumes an intent was carried out.

export const codeActionSchema = z.enum(["insert", "replaceSelection", "previewDiff", "newFile", "copy"]);
export type CodeAction = z.infer<typeof codeActionSchema>;

/** Only absolute http(s) links, without credentials, may be asked to open. */
export function isOpenableUrl(value: string): boolean {
  if (!/^https?:\/\//i.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "";
  } catch {
    return false;
  }
}

export const webviewMessageSchema = z.discriminatedUnion("type", [
  /** The webview has loaded and listens: send it the state. */
  z.strictObject({ type: z.literal("ready") }),
  /** A new request from the composer. */
  z.strictObject({ type: z.literal("send"), text: nonEmpty(L.text) }),
  /** An answer to one question (typed, or a suggestion picked). Answering again replaces the answer. */
  z.strictObject({ type: z.literal("answer"), sessionId: id, questionId: id, text: nonEmpty(L.text) }),
  /** "You decide": the assistant picks and states it as an assumption. */
  z.strictObject({ type: z.literal("waive"), sessionId: id, questionId: id }),
  /** Every question of the open round is answered or waived: ask for the code. */
  z.strictObject({ type: z.literal("generate"), sessionId: id }),
  /** Stop the running turn of this session. */
  z.strictObject({ type: z.literal("stop"), sessionId: id }),
  /** Replace assumption `index` of the session with the user's correction. */
  z.strictObject({ type: z.literal("correctAssumption"), sessionId: id, index: count, text: nonEmpty(L.text) }),
  /** Drop a context chip from the next request. */
  z.strictObject({ type: z.literal("removeContext"), chipId: id }),
  /** Act on code block `blockIndex` of the answer (the fenced blocks in order, as `extractCodeBlocks` finds them). */
  z.strictObject({ type: z.literal("codeAction"), sessionId: id, blockIndex: count, action: codeActionSchema }),
  z.strictObject({ type: z.literal("newChat") }),
  z.strictObject({ type: z.literal("openSession"), id }),
  z.strictObject({ type: z.literal("deleteSession"), id }),
  /** Show the model picker. */
  z.strictObject({ type: z.literal("pickModel") }),
  /** Open an http(s) link from the answer in the browser (confirm with the user first, as `openExternal` does). */
  z.strictObject({ type: z.literal("openLink"), url: z.string().check(z.maxLength(L.url), z.refine(isOpenableUrl, "not an http(s) URL")) }),
]);
export type WebviewMessage = z.infer<typeof webviewMessageSchema>;
export type WebviewMessageType = WebviewMessage["type"];

// ---------------------------------------------------------------------------------------------------------------
// Parsing.

export type ProtocolResult<T> = { ok: true; message: T } | { ok: false; error: string };

const forbiddenKeys = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Only what JSON or structured clone of plain data yields: no class instances, no inherited fields, no
 * prototype-pollution keys, no functions, no cycles deeper than the limit.
 */
function plainDataProblem(value: unknown, depth: number): string | undefined {
  if (value === null) return undefined;
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return undefined;
    case "object":
      break;
    default:
      return `a ${typeof value} is not plain data`;
  }
  if (depth > L.depth) return "nested too deeply";
  const proto: unknown = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    if (proto !== Array.prototype) return "an array with a foreign prototype";
    for (const item of value) {
      const problem = plainDataProblem(item, depth + 1);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (proto !== Object.prototype && proto !== null) return "not a plain object";
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key !== "string") return "a symbol key";
    if (forbiddenKeys.has(key)) return `forbidden key "${key}"`;
    const problem = plainDataProblem((value as Record<string, unknown>)[key], depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function clip(s: string, max = 200): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

/** One line about what was wrong, built from the issue's fields (zod/mini carries no message texts). */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${issue.expected}`;
    case "too_big":
      return `too big (at most ${String(issue.maximum)})`;
    case "too_small":
      return `too small (at least ${String(issue.minimum)})`;
    case "unrecognized_keys":
      return `unknown key ${issue.keys.map((k) => JSON.stringify(clip(k, 40))).join(", ")}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union":
      return "matches no variant";
    case "custom":
      return issue.message;
    default:
      return issue.code;
  }
}

function parseWith<T>(
  schema: z.ZodMiniType<T>,
  knownTypes: Readonly<Record<string, true>>,
  input: unknown,
): ProtocolResult<T> {
  try {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      return { ok: false, error: `not a message object (${input === null ? "null" : Array.isArray(input) ? "array" : typeof input})` };
    }
    const problem = plainDataProblem(input, 0);
    if (problem !== undefined) return { ok: false, error: `not plain data: ${problem}` };
    const type = (input as Record<string, unknown>).type;
    if (typeof type !== "string") return { ok: false, error: "no message type" };
    if (!Object.hasOwn(knownTypes, type)) return { ok: false, error: `unknown message type "${clip(type, 60)}"` };
    const result = schema.safeParse(input);
    if (result.success) return { ok: true, message: result.data };
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join(".")}` : "";
    return { ok: false, error: clip(`invalid "${type}" message${where}: ${issue ? describeIssue(issue) : "invalid"}`) };
  } catch (error) {
    // A getter or proxy that throws: still never throw to the caller.
    return { ok: false, error: clip(`unreadable message: ${error instanceof Error ? error.message : String(error)}`) };
  }
}

/** Every message type, per direction (the compiler checks these against the unions). */
const hostTypes: Readonly<Record<HostMessage["type"], true>> = { state: true, chunk: true, focusComposer: true, notice: true };
const webviewTypes: Readonly<Record<WebviewMessageType, true>> = {
  ready: true,
  send: true,
  answer: true,
  waive: true,
  generate: true,
  stop: true,
  correctAssumption: true,
  removeContext: true,
  codeAction: true,
  newChat: true,
  openSession: true,
  deleteSession: true,
  pickModel: true,
  openLink: true,
};

/** Checks a message from the extension host (run in the webview). Never throws. */
export function parseHostMessage(input: unknown): ProtocolResult<HostMessage> {
  return parseWith(hostMessageSchema, hostTypes, input);
}

/** Checks a message from the webview (run in the extension host). Never throws. */
export function parseWebviewMessage(input: unknown): ProtocolResult<WebviewMessage> {
  return parseWith(webviewMessageSchema, webviewTypes, input);
}

// ---------------------------------------------------------------------------------------------------------------
// The page.

/** The Trusted Types policies the webview bundle creates: ours (markdown) and Lit's. No other may exist. */
export const webviewTrustedTypesPolicies = ["clarifycoder-markdown", "lit-html"] as const;

/**
 * The Content-Security-Policy of the chat view's page (for its `<meta http-equiv>`), as the Chromium test checks it:
 * scripts only with the nonce (dist/webview.js, one `<script nonce src>`), no inline styles needed (styles are
 * constructable stylesheets), no images/fonts/connections at all, and Trusted Types enforced so that the one
 * `innerHTML` (markdown-it's output) is the only HTML ever parsed from a string.
 * `cspSource` is `webview.cspSource`; `nonce` a fresh random value per page load.
 */
export function webviewContentSecurityPolicy(nonce: string, cspSource: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    "require-trusted-types-for 'script'",
    `trusted-types ${webviewTrustedTypesPolicies.join(" ")}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

// ---------------------------------------------------------------------------------------------------------------
// Rules both sides share.

/** The session is working (a turn is running): the UI shows Stop. */
export function isBusy(state: SessionSnapshot["state"]): boolean {
  return state === "assessing" || state === "generating";
}

/** The questions of the round that is open for answers (empty unless the session is asking). */
export function openRoundQuestions(session: SessionSnapshot): SessionSnapshot["questions"] {
  if (session.state !== "asking") return [];
  return session.questions.filter((q) => q.round === session.rounds);
}

/** A question no longer blocks the code: it has an answer or the user left it to the assistant. */
export function isSettled(question: SessionSnapshot["questions"][number]): boolean {
  return question.waived === true || (question.answer !== undefined && question.answer.trim() !== "");
}

/** The code may be requested: the session is asking and every question of the open round is settled. */
export function canGenerate(session: SessionSnapshot): boolean {
  const open = openRoundQuestions(session);
  return open.length > 0 && open.every(isSettled);
}
