/**
 * Typed dispatch of a message union through a handler table: one handler per message type, each receiving exactly
 * its own message type. The compiler checks that the table names every type and that each handler fits its type.
 */

/** One handler per `type` of the union `M`, each taking that member of the union. */
export type HandlerTable<M extends { type: string }, R> = { readonly [T in M["type"]]: (message: Extract<M, { type: T }>) => R };

/** Calls the handler of the message's type. */
export function dispatch<M extends { type: string }, R>(table: HandlerTable<M, R>, message: M): R {
  // The table's type pairs each key with its own member of M; TypeScript cannot correlate the two through an index.
  const handler = table[message.type as M["type"]] as (message: M) => R;
  return handler(message);
}
