/**
 * The conversation as data that crosses a boundary (the webview, storage): its zod schema, exactly the
 * `SessionSnapshot` of types.ts (checked at compile time), and the bounds every such value is held to.
 *
 * Written with `zod/mini`, zod 4's tree-shakable API (same schemas, same inferred types, same parser), because it is
 * bundled into the webview too: the classic `zod` entry would add ~450 KB of minified code there, `zod/mini` ~25 KB.
 */
import * as z from "zod/mini";
import { readingKinds, type SessionSnapshot } from "./types.js";

/** The bounds every message and stored conversation is held to. Generous on purpose: they stop garbage, not real conversations. */
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
  /** Candidate solutions the readings compare in one turn. */
  candidates: 16,
  /** Earlier turns of one conversation. */
  turns: 500,
  /** An index into assumptions or code blocks. */
  index: 100_000,
  /** How deep a message may nest (the deepest real one is about 5). */
  depth: 16,
  /**
   * How many values (objects, arrays, strings, numbers...) one message may hold, counted before anything walks it.
   * The largest real one, a state with a full history and a full round of questions, has about 20,000.
   */
  values: 50_000,
} as const;

const L = protocolLimits;

const bounded = (max: number) => z.string().check(z.maxLength(max));
const nonEmpty = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));

/** The field types messages are built from. */
export const fields = {
  nonEmpty,
  id: nonEmpty(L.id),
  shortText: bounded(L.shortText),
  text: bounded(L.text),
  longText: bounded(L.longText),
  /** Milliseconds since the epoch (`z.number()` already refuses NaN and the infinities). */
  timestamp: z.number().check(z.minimum(0)),
  count: z.int().check(z.minimum(0), z.maximum(L.index)),
  fraction: z.number().check(z.minimum(0), z.maximum(1)),
  list: <T extends z.ZodMiniType>(item: T, max: number) => z.array(item).check(z.maxLength(max)),
};

const f = fields;
const lineNumber = z.int().check(z.minimum(0));

const selectionContextSchema = z.strictObject({
  text: f.longText,
  startLine: lineNumber,
  endLine: lineNumber,
  cursorLine: z.optional(lineNumber),
});

const editorContextSchema = z.strictObject({
  languageId: z.optional(f.shortText),
  fileName: z.optional(f.shortText),
  selection: z.optional(selectionContextSchema),
  surroundingCode: z.optional(f.longText),
});

const questionSchema = z.strictObject({
  id: f.id,
  round: f.count,
  text: f.text,
  suggestions: f.list(f.shortText, L.suggestions),
  answer: z.optional(f.text),
  waived: z.optional(z.boolean()),
  assumed: z.optional(f.text),
});

const codeBlockSchema = z.strictObject({
  language: f.shortText,
  code: f.longText,
});

const sessionStateSchema = z.enum(["idle", "assessing", "asking", "generating", "done", "cancelled", "failed"]);

const sessionFailureSchema = z.strictObject({
  message: f.text,
  raw: z.optional(f.longText),
});

/** A turn the readings decided (types.ts `TurnReadings`); turns saved before it existed have none and read as guided. */
const turnReadingsSchema = z.strictObject({
  message: f.longText,
  candidates: z.optional(f.list(z.strictObject({ text: f.longText, hitLimit: z.optional(z.boolean()) }), L.candidates)),
  questions: f.list(z.strictObject({ id: f.id, call: f.text, kind: z.enum(readingKinds), chosen: z.optional(f.text) }), L.questions),
});

/** The fields of one turn (types.ts `Turn`): the current one, at the snapshot's top level, and each earlier one. */
const turnFields = {
  request: f.text,
  context: editorContextSchema,
  contextNote: z.optional(f.text),
  questions: f.list(questionSchema, L.questions),
  rounds: f.count,
  assumptions: f.list(f.text, L.assumptions),
  askProbability: z.optional(f.fraction),
  answerRequested: z.optional(z.boolean()),
  answer: f.longText,
  codeBlocks: f.list(codeBlockSchema, L.codeBlocks),
  hitLimit: z.optional(z.boolean()),
  failure: z.optional(sessionFailureSchema),
  readings: z.optional(turnReadingsSchema),
  codeMessage: z.optional(f.longText),
};

const pastTurnSchema = z.strictObject({
  ...turnFields,
  state: z.enum(["done", "cancelled", "failed"]),
});

export const sessionSnapshotSchema = z.strictObject({
  id: f.id,
  state: sessionStateSchema,
  ...turnFields,
  reading: z.optional(z.strictObject({ evaluated: f.count, total: f.count, from: f.count })),
  earlier: z.optional(f.list(pastTurnSchema, L.turns)),
  createdAt: f.timestamp,
  updatedAt: f.timestamp,
});

/** Compile-time proof that the schema and `SessionSnapshot` are the same type (not merely assignable). */
type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const snapshotSchemaMatchesTypes: Exactly<z.infer<typeof sessionSnapshotSchema>, SessionSnapshot> = true;
void snapshotSchemaMatchesTypes;
