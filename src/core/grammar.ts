/**
 * A reply's grammar is derived from the zod schema that reads it (`grammarOf`, after `z.toJSONSchema`), so each reply
 * shape is written once. What the model is held to while it writes (the length and count caps) is declared on that
 * schema with `heldTo`: it goes into the grammar and is not checked when the reply is read, because a served model
 * that ignores grammars may send more, and the reader cuts such a text as it cuts one the grammar stopped at its cap.
 */
import { z } from "zod";
import type { JsonSchema } from "./model.js";

/** The caps a grammar holds a text or a list to. */
export interface Caps {
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

/** `schema`, with caps the grammar holds the model to (see above). */
export function heldTo<T extends z.ZodType>(schema: T, caps: Caps): T {
  return schema.meta({ ...caps });
}

/** What a JSON schema says for a grammar: no `$schema` tag, and no defaults (a reader's business, not the writer's). */
function forGrammar(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(forGrammar);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "$schema" && key !== "default")
      .map(([key, v]) => [key, forGrammar(v)]),
  );
}

/** The JSON-schema grammar of the replies `schema` reads (its input side: what the model writes). */
export function grammarOf(schema: z.ZodType): JsonSchema {
  return forGrammar(z.toJSONSchema(schema, { io: "input" })) as JsonSchema;
}
