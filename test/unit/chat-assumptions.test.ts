/**
 * The terminal chat's "Assumptions:" block, on the engine's real session: three questions left to the assistant, a
 * follow-up assessment that assumes one more thing, and a first code reply that is the protocol again (retried).
 * The block is printed once, its heading once, each assumption once, all before the code.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { AssumptionsBlock } from "../../src/cli/commands/chat.js";
import { ClarifySession } from "../../src/core/session.js";
import { defaultSettings } from "../../src/core/types.js";
import { askReply, choicesReply, proceedReply, ScriptedModel } from "../helpers/scripted-model.js";

const body = "def dedupe(xs):\n    return list(dict.fromkeys(xs))\n```\nDone.";

it("the assumptions are said once, in one block, before the code, however many steps they come in", async () => {
  const model = new ScriptedModel([
    askReply("Keep the order?", "In place?", "Which type?"),
    proceedReply("The input is a list"),
    choicesReply("keep the first occurrence", "return a new list", "any hashable items"),
    proceedReply("The input is a list"),
    body,
  ]);
  const session = new ClarifySession(model, { ...defaultSettings, askPolicy: "always", maxRounds: 2 });
  const printed: string[] = [];
  const block = new AssumptionsBlock();
  session.onChange((snap) => printed.push(...block.linesFor(snap)));
  session.onChunk((text) => printed.push(`CODE ${text}`));
  await session.start("write a function that removes the duplicates", { languageId: "python" });
  assert.equal(session.state, "asking");
  for (const q of session.openQuestions()) session.waiveQuestion(q.id);
  await session.submitAnswers();
  assert.equal(session.state, "done", JSON.stringify(session.snapshot().failure));
  const assumptions = session.snapshot().assumptions;
  assert.ok(assumptions.length >= 4, JSON.stringify(assumptions));
  const firstCode = printed.findIndex((line) => line.startsWith("CODE "));
  assert.ok(firstCode > 0);
  const said = printed.slice(0, firstCode);
  assert.deepEqual(said, ["Assumptions:", ...assumptions.map((a) => `  - ${a}`)]);
  assert.equal(printed.filter((line) => line === "Assumptions:").length, 1);
});

it("a new turn starts a new block; a regenerated answer under the same assumptions does not repeat them", () => {
  const block = new AssumptionsBlock();
  const generating = (assumptions: string[], answer = "") => ({ state: "generating" as const, answer, assumptions });
  assert.deepEqual(block.linesFor(generating(["A"])), ["Assumptions:", "  - A"]);
  assert.deepEqual(block.linesFor(generating(["A"], "code")), []);
  assert.deepEqual(block.linesFor(generating(["A"])), [], "the same assumptions again (Regenerate, a retried reply)");
  assert.deepEqual(block.linesFor(generating(["A", "B"])), ["Assumptions:", "  - B"], "a corrected one, after the code");
  block.linesFor({ state: "assessing", answer: "", assumptions: [] });
  assert.deepEqual(block.linesFor(generating(["A"])), ["Assumptions:", "  - A"], "a follow-up's own block");
});
