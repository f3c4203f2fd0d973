import { test } from "node:test";
import assert from "node:assert/strict";
import {
  canContinue,
  canFollowUp,
  canGenerate,
  canRegenerate,
  conversationTurns,
  isBusy,
  isSettled,
  openQuestions,
  openRoundQuestions,
} from "../../src/core/rules.js";
import { selectedLines } from "../../src/core/selection.js";
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
  assert.deepEqual((["idle", "assessing", "asking", "generating", "done", "cancelled", "failed"] as const).filter(isBusy), ["assessing", "generating"]);
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
  assert.deepEqual(
    openRoundQuestions(s).map((q) => q.id),
    ["q2", "q3"],
  );
  assert.deepEqual(
    openQuestions(s).map((q) => q.id),
    ["q2"],
  );
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

test("follow-up, regenerate and edit: once a turn has something to show and nothing runs", () => {
  const states = ["idle", "assessing", "asking", "generating", "done", "cancelled", "failed"] as const;
  assert.deepEqual(states.filter(canFollowUp), ["asking", "done", "cancelled", "failed"]);
  const s = twoRounds();
  assert.deepEqual(
    states.filter((state) => canRegenerate({ state, request: s.request })),
    ["asking", "done", "cancelled", "failed"],
  );
  assert.equal(canRegenerate({ state: "done", request: "  " }), false, "no request, nothing to run again");
});

test("continue: an answer that stopped early, by Stop or at the length limit", () => {
  const base = { answer: "```python\nx", answerRequested: true };
  assert.equal(canContinue({ ...base, state: "cancelled" }), true);
  assert.equal(canContinue({ ...base, state: "done", hitLimit: true }), true);
  assert.equal(canContinue({ ...base, state: "done" }), false, "a finished answer");
  assert.equal(canContinue({ ...base, state: "cancelled", answer: "" }), false, "stopped before any code");
  assert.equal(canContinue({ ...base, state: "cancelled", answerRequested: false }), false, "stopped while assessing");
  assert.equal(canContinue({ ...base, state: "generating" }), false);
});

test("the turns of a conversation: the earlier ones, then the current one with the conversation's state", () => {
  const s = twoRounds();
  assert.deepEqual(
    conversationTurns(s).map((t) => t.state),
    ["asking"],
  );
  const earlier = { ...twoRounds(), state: "done" as const, request: "first" };
  const turns = conversationTurns({ ...s, earlier: [earlier] });
  assert.deepEqual(
    turns.map((t) => [t.request, t.state]),
    [
      ["first", "done"],
      [s.request, "asking"],
    ],
  );
});

test("the lines a selection covers: one that ends at column 1 of the next line does not cover it", () => {
  assert.deepEqual(selectedLines({ line: 3, character: 0 }, { line: 5, character: 0 }), { startLine: 4, endLine: 5 });
  assert.deepEqual(selectedLines({ line: 3, character: 0 }, { line: 5, character: 2 }), { startLine: 4, endLine: 6 });
  assert.deepEqual(selectedLines({ line: 3, character: 4 }, { line: 3, character: 9 }), { startLine: 4, endLine: 4 });
  assert.deepEqual(selectedLines({ line: 3, character: 0 }, { line: 3, character: 0 }), { startLine: 4, endLine: 4 }, "an empty selection is its line");
});

test("a stated choice is normalised: one line, no capital after 'I assumed', one full stop; our instruction echoed is none", async () => {
  const { assumedSentence, statedChoice } = await import("../../src/core/rules.js");
  assert.equal(assumedSentence("To sort users by score, then by name in case of ties."), "I assumed to sort users by score, then by name in case of ties.");
  assert.equal(assumedSentence("number itself."), "I assumed number itself.");
  assert.equal(assumedSentence('  "ISO 8601\n only"  '), "I assumed ISO 8601 only.");
  assert.equal(assumedSentence("parseDate returns null"), "I assumed parseDate returns null.");
  assert.equal(assumedSentence("Sort by score and keep…"), "I assumed sort by score and keep…");
  assert.equal(statedChoice("(you decide: choose a sensible default and state it)"), undefined);
  assert.equal(statedChoice(" . "), undefined);
  assert.equal(
    assumedSentence("`f('MyClass', ['A'])` returns 'MyClass.'"),
    "I assumed `f('MyClass', ['A'])` returns 'MyClass.'.",
    "a call and its value are not a quotation to unwrap",
  );
  assert.equal(assumedSentence("(`a` or `b`)"), "I assumed `a` or `b`.");
});

test("a block of an answer is code unless it is JSON (our protocol, or data where the request is not JSON) or markdown prose", async () => {
  const { notCodeKind, sessionStatus } = await import("../../src/core/rules.js");
  assert.equal(notCodeKind({ language: "markdown", code: '{"code": "def f(): pass"}' }, "python"), "JSON");
  assert.equal(notCodeKind({ language: "json", code: '{"assumptions": ["x"]}' }, "python"), "JSON");
  assert.equal(notCodeKind({ language: "json", code: '{"name": "app"}' }, "python"), undefined, "JSON data the model tagged json is offered");
  assert.equal(notCodeKind({ language: "json", code: '{"decision": "ask"}' }, "json"), undefined, "in a JSON file, JSON is code");
  assert.equal(notCodeKind({ language: "markdown", code: "# Title\n\nSome text" }, "python"), "markdown");
  assert.equal(notCodeKind({ language: "python", code: "def f():\n    return {}" }, "python"), undefined);
  const base = { id: "s", request: "r", context: { languageId: "python" }, questions: [], rounds: 0, assumptions: [], createdAt: 0, updatedAt: 0 };
  assert.equal(
    sessionStatus({ ...base, state: "done", answer: "", codeBlocks: [{ language: "markdown", code: '{"code": "x"}' }] }),
    "Done, but no code: the answer's block is JSON, not code. Regenerate to try again.",
  );
  assert.equal(
    sessionStatus({ ...base, state: "assessing", answer: "", codeBlocks: [] }, { running: { elapsedMs: 92_000 } }).startsWith(
      "Reading your request… 1 min 32 s",
    ),
    true,
  );
});

test("while the model reads a long prompt: tokens read of how many, and an estimate at the pace so far", async () => {
  const { readingText, sessionStatus } = await import("../../src/core/rules.js");
  const base = {
    id: "s",
    request: "r",
    context: { languageId: "python" },
    questions: [],
    rounds: 0,
    assumptions: [],
    createdAt: 0,
    updatedAt: 0,
    answer: "",
    codeBlocks: [],
  };
  // 600 of 2,000 read, 100 of them held already: 500 in 50 s, 1,400 to go at 10 a second, about 2 min 20 s.
  const reading = { evaluated: 600, total: 2000, from: 100 };
  assert.equal(readingText(reading, 50_000), "600 of 2,000 tokens read, about 2 min 20 s left");
  assert.equal(readingText(reading, 1_000), "600 of 2,000 tokens read", "no estimate from the first second");
  assert.equal(readingText({ evaluated: 100, total: 2000, from: 100 }, 30_000), "100 of 2,000 tokens read", "nothing read yet: no pace");
  assert.equal(readingText({ evaluated: 2000, total: 2000, from: 0 }, 30_000), "", "read whole");
  assert.equal(readingText(undefined, 30_000), "");
  assert.equal(
    sessionStatus({ ...base, state: "assessing", reading }, { running: { elapsedMs: 50_000 } }),
    "Reading your request… 50 s · 600 of 2,000 tokens read, about 2 min 20 s left",
  );
  assert.equal(
    sessionStatus({ ...base, state: "generating", reading: { evaluated: 300, total: 400, from: 0 } }, { running: { elapsedMs: 30_000, written: 0 } }),
    "Writing code… 30 s, reading: 300 of 400 tokens read, about 10 s left",
  );
  assert.equal(
    sessionStatus({ ...base, state: "generating" }, { running: { elapsedMs: 30_000, written: 0 } }),
    "Writing code… 30 s, waiting for the first words",
  );
});

test("focus among open questions: a new round's first open field while the user waits; after an answer, the next open one, then Generate", async () => {
  const { questionFocus } = await import("../../src/core/rules.js");
  const open = [{ id: "a", answer: "x" }, { id: "b" }, { id: "c" }];
  const none = new Set<string>();
  assert.deepEqual(questionFocus(open, { newRound: true, waiting: true, focusLost: true, answered: null, editing: none }), {
    target: { field: "b" },
    consumed: false,
  });
  assert.deepEqual(
    questionFocus(open, { newRound: true, waiting: false, focusLost: false, answered: null, editing: none }).target,
    undefined,
    "the user is elsewhere",
  );
  assert.deepEqual(questionFocus(open, { newRound: false, waiting: true, focusLost: true, answered: "a", editing: none }), {
    target: { field: "b" },
    consumed: true,
  });
  assert.deepEqual(
    questionFocus(open, { newRound: false, waiting: true, focusLost: true, answered: "b", editing: none }).target,
    undefined,
    "b is not settled yet",
  );
  const all = [
    { id: "a", answer: "x" },
    { id: "b", waived: true },
  ];
  assert.deepEqual(questionFocus(all, { newRound: false, waiting: true, focusLost: true, answered: "b", editing: none }), {
    target: "generate",
    consumed: true,
  });
});
