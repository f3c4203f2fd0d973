/**
 * The typed messages between the extension host and the chat webview, both directions, and their parsers.
 *
 * Every message that crosses the boundary is checked here: the host checks what the webview sends
 * (`parseWebviewMessage`), the webview checks what the host sends (`parseHostMessage`). Both return a result and never
 * throw, so a malformed or unknown message is dropped with one log line. A message first passes the plain-data guard,
 * whose work is bounded before it walks anything (plain-data.ts); then its zod schema: objects are strict (unknown
 * keys are an error), strings and arrays are bounded. What a parser returns is a fresh copy built by zod.
 *
 * Every webview message is a request: it carries a `requestId`, and the host answers each one with exactly one
 * `reply` carrying the same id, once it has accepted the intent (a turn has started, an answer is recorded) or
 * refused it (with the reason). So a refusal lands on the control that sent the intent.
 *
 * Pure: imports only core files and zod/mini (it is bundled into the webview too; see snapshot-schema.ts).
 */
import * as z from "zod/mini";
import { isOpenableUrl } from "./links.js";
import { plainDataProblem } from "./plain-data.js";
import { fields as f, protocolLimits as L, sessionSnapshotSchema } from "./snapshot-schema.js";
import { askPolicies } from "./types.js";

/** A request's id: the webview numbers its requests from 1; the host's reply carries the same id. */
const requestId = z.int().check(z.minimum(1));

// ---------------------------------------------------------------------------------------------------------------
// Host -> webview.

/** One past conversation in the history list. */
export const historyEntrySchema = z.strictObject({
  id: f.id,
  title: f.shortText,
  updatedAt: f.timestamp,
  /** How many turns (requests) the conversation has. */
  turns: z.optional(f.count),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** The model the host has loaded (or not). `progress` is 0..1 while loading, where known. */
export const modelStatusSchema = z.strictObject({
  status: z.enum(["none", "loading", "ready", "error"]),
  /** What to call it: a file name or a model name. */
  label: z.optional(f.shortText),
  /** How it runs, in words: "CPU", "CUDA", "Vulkan", "Metal"... */
  backend: z.optional(f.shortText),
  /** Where it runs, in words: "on this machine", "served at 127.0.0.1:11434". */
  where: z.optional(f.shortText),
  progress: z.optional(f.fraction),
  /** What is happening while loading, in words ("Downloading x.gguf: 512 MB of 1.1 GB · 23 MB/s · 25 s left"). */
  detail: z.optional(f.shortText),
  /** A small demo model: the view says so and how to choose a real one. */
  demo: z.optional(z.boolean()),
  /** Loading starts with a download (said at once, before the first byte arrives). */
  downloading: z.optional(z.boolean()),
  error: z.optional(f.text),
});
export type ModelStatus = z.infer<typeof modelStatusSchema>;

/** Editor context that will go with the next request, shown as chips above the composer that the user turns on or off. */
export const contextChipSchema = z.strictObject({
  id: f.id,
  kind: z.enum(["file", "selection", "other"]),
  /** Short text on the chip, e.g. "parse.ts" or "parse.ts:10-24". */
  label: f.shortText,
  /** Longer text for a tooltip and screen readers, e.g. the full path. */
  description: z.optional(f.shortText),
  /** The user turned it off: it is shown, but not sent. */
  off: z.optional(z.boolean()),
});
export type ContextChip = z.infer<typeof contextChipSchema>;

/** The whole picture: sent on `ready` and after every change. The webview renders it as it is. */
const stateMessageSchema = z.strictObject({
  type: z.literal("state"),
  /** The conversation on screen, or null for a new chat. */
  session: z.nullable(sessionSnapshotSchema),
  /** Past conversations, newest first. */
  history: f.list(historyEntrySchema, L.history),
  model: modelStatusSchema,
  context: z.strictObject({ chips: f.list(contextChipSchema, L.chips) }),
});

/** Streamed text to append to the on-screen session's `answer` (the host may also just send a new state). */
const chunkMessageSchema = z.strictObject({
  type: z.literal("chunk"),
  sessionId: f.id,
  text: f.longText,
});

/** Put the keyboard focus in the composer; with `draft`, replace the composer's text with it. */
const focusComposerMessageSchema = z.strictObject({
  type: z.literal("focusComposer"),
  draft: z.optional(f.text),
});

/** The host's answer to one webview request: accepted (`ok`, with an optional note such as "Copied.") or refused, with the reason. */
const replyMessageSchema = z.strictObject({
  type: z.literal("reply"),
  requestId,
  ok: z.boolean(),
  /** When refused: why, in plain words. When accepted: an optional note for the user. */
  message: z.optional(f.text),
});

export const hostMessageSchema = z.discriminatedUnion("type", [stateMessageSchema, chunkMessageSchema, focusComposerMessageSchema, replyMessageSchema]);
export type HostMessage = z.infer<typeof hostMessageSchema>;
export type StateMessage = z.infer<typeof stateMessageSchema>;
export type ChunkMessage = z.infer<typeof chunkMessageSchema>;
export type ReplyMessage = z.infer<typeof replyMessageSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Webview -> host: requests. The host decides; the webview never assumes an intent was carried out.

export const codeActionSchema = z.enum(["insert", "replaceSelection", "previewDiff", "newFile", "copy"]);
export type CodeAction = z.infer<typeof codeActionSchema>;

/** One kind of request: its type, its id and its fields. */
function request<T extends string, S extends Record<string, z.ZodMiniType>>(type: T, shape: S) {
  return z.strictObject({ type: z.literal(type), requestId, ...shape });
}

export const webviewMessageSchema = z.discriminatedUnion("type", [
  /** The webview has loaded and listens: send it the state. */
  request("ready", {}),
  /** A new request from the composer. */
  request("send", { text: f.nonEmpty(L.text) }),
  /** An answer to one question (typed, or a suggestion picked). Answering again replaces the answer. */
  request("answer", { sessionId: f.id, questionId: f.id, text: f.nonEmpty(L.text) }),
  /** "You decide": the assistant picks and states it as an assumption. */
  request("waive", { sessionId: f.id, questionId: f.id }),
  /** Every question of the open round is answered or waived: ask for the code. */
  request("generate", { sessionId: f.id }),
  /** Stop the running turn of this session. */
  request("stop", { sessionId: f.id }),
  /** Replace assumption `index` of the session with the user's correction. */
  request("correctAssumption", { sessionId: f.id, index: f.count, text: f.nonEmpty(L.text) }),
  /** Turn a context chip off: it is not sent with the next request. */
  request("removeContext", { chipId: f.id }),
  /** Turn a context chip that was turned off on again. */
  request("includeContext", { chipId: f.id }),
  /**
   * Act on code block `blockIndex` of an answer (the fenced blocks in order, as `extractCodeBlocks` finds them): of
   * the current turn, or of earlier turn `turn` (its index in the conversation's `earlier`).
   */
  request("codeAction", { sessionId: f.id, blockIndex: f.count, action: codeActionSchema, turn: z.optional(f.count) }),
  /** Run the current turn again; with an ask policy, from its start ("ask me first", "don't ask"). */
  request("regenerate", { sessionId: f.id, askPolicy: z.optional(z.enum(askPolicies)) }),
  /** Write the rest of an answer that stopped early (Stop, or the length limit). */
  request("continue", { sessionId: f.id }),
  /** Send the current turn's request again with this text. */
  request("editRequest", { sessionId: f.id, text: f.nonEmpty(L.text) }),
  request("newChat", {}),
  request("openSession", { id: f.id }),
  request("deleteSession", { id: f.id }),
  /** Show the model picker. */
  request("pickModel", {}),
  /** Open an http(s) link from the answer in the browser (confirm with the user first, as `openExternal` does). */
  request("openLink", { url: z.string().check(z.maxLength(L.url), z.refine(isOpenableUrl, "not an http(s) URL")) }),
]);
export type WebviewMessage = z.infer<typeof webviewMessageSchema>;
export type WebviewMessageType = WebviewMessage["type"];
/** What the user asks for, before the webview numbers it: a request without its id. */
export type Intent = WebviewMessage extends infer M ? (M extends WebviewMessage ? Omit<M, "requestId"> : never) : never;

// ---------------------------------------------------------------------------------------------------------------
// Parsing.

export type ProtocolResult<T> = { ok: true; message: T } | { ok: false; error: string };

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

function parseWith<T>(schema: z.ZodMiniType<T>, knownTypes: Readonly<Record<string, true>>, input: unknown): ProtocolResult<T> {
  try {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      return { ok: false, error: `not a message object (${input === null ? "null" : Array.isArray(input) ? "array" : typeof input})` };
    }
    const problem = plainDataProblem(input, { depth: L.depth, values: L.values });
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
const hostTypes: Readonly<Record<HostMessage["type"], true>> = { state: true, chunk: true, focusComposer: true, reply: true };
const webviewTypes: Readonly<Record<WebviewMessageType, true>> = {
  ready: true,
  send: true,
  answer: true,
  waive: true,
  generate: true,
  stop: true,
  correctAssumption: true,
  removeContext: true,
  includeContext: true,
  codeAction: true,
  regenerate: true,
  continue: true,
  editRequest: true,
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
