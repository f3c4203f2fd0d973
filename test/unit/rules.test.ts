import { test } from "node:test";
import assert from "node:assert/strict";
import { canGenerate, isBusy, isSettled, openQuestions, openRoundQuestions } from "../../src/core/rules.js";
import type { SessionSnapshot } from "../../src/core/types.js";

function twoRounds(): SessionSnapshot {
  return {
    id: "s1",
    state: "asking",
    request: "Write a function that parses dates",
    context: {},
    questions: [
      { id: "q1", round: 1, text: "a", suggestions: [], answer: "x" },
      { id: "q2", round: 2, text: "b", suggestions: [] },
      { id: "q3", round: 2, text: "c", suggestions: [], waived: true },
    ],
    rounds: 2,
    assumptions: [],
    answer: "",
    codeBlocks: [],
    createdAt: 1,
    updatedAt: 1,
  };
}

test("busy: only while a turn runs", () => {
  assert.deepEqual(
    (["idle", "assessing", "asking", "generating", "done", "cancelled", "failed"] as const).filter(isBusy),
    ["assessing", "generating"],
  );
});

test("settled: a non-blank answer or a waiver", () => {
  assert.equal(isSettled({ answer: "yes" }), true);
  assert.equal(isSettled({ waived: true }), true);
  assert.equal(isSettled({ answer: "  \n" }), false);
  assert.equal(isSettled({}), false);
  assert.equal(isSettled({ waived: false, answer: "" }), false);
});

test("the open round, the open questions, and when the code may be requested", () => {
  const s = twoRounds();
  assert.deepEqual(openRoundQuestions(s).map((q) => q.id), ["q2", "q3"]);
  assert.deepEqual(openQuestions(s).map((q) => q.id), ["q2"]);
  assert.equal(canGenerate(s), false);
  const q2 = s.questions[1];
  assert.ok(q2);
  q2.answer = "   ";
  assert.equal(canGenerate(s), false, "a blank answer is not an answer");
  q2.answer = "yes";
  assert.deepEqual(openQuestions(s), []);
  assert.equal(canGenerate(s), true);
  assert.equal(canGenerate({ ...s, state: "generating" }), false, "only while asking");
  assert.deepEqual(openRoundQuestions({ ...s, state: "done" }), []);
  assert.equal(canGenerate({ ...s, questions: [] }), false, "an empty round is not a round");
  const earlierOpen = { ...s, questions: s.questions.map((q) => (q.id === "q1" ? { ...q, answer: undefined } : q)) };
  assert.equal(canGenerate(earlierOpen), false, "an open question of an earlier round still blocks the code");
});
