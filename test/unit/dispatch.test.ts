import { test } from "node:test";
import assert from "node:assert/strict";
import { dispatch, type HandlerTable } from "../../src/core/dispatch.js";

type Message = { type: "add"; a: number; b: number } | { type: "negate"; n: number };

test("dispatch calls the handler of the message's own type, with that message", () => {
  const seen: string[] = [];
  const table: HandlerTable<Message, number> = {
    add: (m) => {
      seen.push("add");
      return m.a + m.b;
    },
    negate: (m) => {
      seen.push("negate");
      return -m.n;
    },
  };
  assert.equal(dispatch(table, { type: "add", a: 2, b: 3 }), 5);
  assert.equal(dispatch(table, { type: "negate", n: 4 }), -4);
  assert.deepEqual(seen, ["add", "negate"]);
});
