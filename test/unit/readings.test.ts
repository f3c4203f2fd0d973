import assert from "node:assert/strict";
import { test } from "node:test";
import type { CallOutcome } from "../../src/core/code-runner.js";
import { callsIn, decideReadings, entryPointOf, isPlaceholderCode, parseCalls, requestExamples, requestPreamble } from "../../src/core/readings.js";

const ok = (value: string): CallOutcome => ({ ok: true, value });
const err = (error: string): CallOutcome => ({ ok: false, error });

test("the entry point is the request's stub where the candidate defines it, else a function the request names", () => {
  const request = 'from typing import List\n\ndef helper(x):\n    return x\n\ndef below_zero(ops: List[int]) -> bool:\n    """..."""\n';
  assert.equal(entryPointOf(request, "def below_zero(ops):\n    return False\n"), "below_zero");
  assert.equal(entryPointOf("write a function dedupe(xs) that removes duplicates", "def _key(x):\n  pass\ndef dedupe(xs):\n  return xs"), "dedupe");
  assert.equal(entryPointOf("remove the duplicates", "def unique(xs):\n  return xs"), "unique");
  assert.equal(entryPointOf("remove the duplicates", "print(1)"), undefined);
});

test("examples are read from doctests and one-line forms, once each", () => {
  const request = [
    "def f(a: List[int], b) -> List[int]:",
    '    """Doc.',
    "    >>> f([1, 2], 'x)')",
    "    [2, 1]",
    "    >>> f([], '')",
    "    []",
    "    f(3, 4) == 7",
    "    f(5, 6) ➞ 11.",
    "    >>> f(1,",
    '    """',
  ].join("\n");
  assert.deepEqual(requestExamples(request, "f"), [
    { call: "f([1, 2], 'x)')", expected: "[2, 1]" },
    { call: "f([], '')", expected: "[]" },
    { call: "f(3, 4)", expected: "7" },
    { call: "f(5, 6)", expected: "11" },
  ]);
  assert.deepEqual(requestExamples("no examples here, f is a function", "f"), []);
});

test("the preamble keeps the request's top-level imports", () => {
  assert.equal(
    requestPreamble("from typing import List\nimport math\n    import os\ndef f(): pass"),
    "from typing import *\nfrom typing import List\nimport math",
  );
});

test("the model's calls are kept only where each is one call of the entry point", () => {
  assert.deepEqual(parseCalls('{"calls": ["f([1, 2])", "g(1)", "f(1) + 1", "f(\'a\')"]}', "f"), ["f([1, 2])", "f('a')"]);
  assert.deepEqual(parseCalls("not json", "f"), []);
});

test("placeholders are no answer; real code is", () => {
  assert.equal(isPlaceholderCode('def f(x):\n    """Doc."""\n    pass\n'), true);
  assert.equal(isPlaceholderCode("def f(x):\n    # Your implementation here\n    return x\n"), true);
  assert.equal(isPlaceholderCode("def f(x):\n    ...\n"), true);
  assert.equal(isPlaceholderCode("def f(x):\n    return x + 1\n"), false);
});

test("candidates that fit the examples and agree elsewhere: proceed with the first that fits", () => {
  const d = decideReadings({
    calls: ["f(1)", "f(2)"],
    examples: 1,
    expected: ["2"],
    outcomes: [
      [ok("3"), ok("4")],
      [ok("2"), ok("3")],
      [ok("2"), ok("3")],
    ],
    maxQuestions: 3,
  });
  assert.equal(d.decision, "proceed");
  assert.equal(d.decision === "proceed" && d.candidate, 1);
});

test("no candidate fits an example: ask which is right, the example's value or the description's", () => {
  const d = decideReadings({
    calls: ["below_zero([1, 2, 3])"],
    examples: 1,
    expected: ["True"],
    outcomes: [[ok("False")], [ok("False")], [err("TypeError: x")]],
    maxQuestions: 3,
  });
  assert.equal(d.decision, "ask");
  if (d.decision !== "ask") return;
  assert.equal(d.questions.length, 1);
  assert.equal(d.questions[0]?.kind, "contradiction");
  assert.deepEqual(d.questions[0]?.suggestions, ["True", "False"]);
  assert.equal(d.questions[0]?.chosen, "False");
  assert.match(d.questions[0]?.text ?? "", /below_zero\(\[1, 2, 3\]\).*True.*False/);
});

test("readings that disagree on a call are asked about, the first candidate's value first; errors are not a reading", () => {
  const d = decideReadings({
    calls: ["dedupe([3, 1, 3])", "dedupe([])"],
    examples: 0,
    expected: [],
    outcomes: [
      [ok("[3, 1]"), ok("[]")],
      [ok("[1, 3]"), err("IndexError")],
      [ok("[3, 1]"), ok("[]")],
    ],
    maxQuestions: 2,
  });
  assert.equal(d.decision, "ask");
  if (d.decision !== "ask") return;
  assert.deepEqual(
    d.questions.map((q) => [q.kind, q.call, q.suggestions]),
    [["disagreement", "dedupe([3, 1, 3])", ["[3, 1]", "[1, 3]"]]],
  );
});

test("agreeing readings without examples proceed with the first candidate", () => {
  const d = decideReadings({ calls: ["f(1)"], examples: 0, expected: [], outcomes: [[ok("1")], [ok("1")], [ok("1")]], maxQuestions: 3 });
  assert.deepEqual(d.decision === "proceed" ? d.candidate : -1, 0);
});

test("a long call is shown whole in its question (the user answers what they can read); a long value is cut in the chips", () => {
  const call = "Strongest_Extension('MyClass', ['MyClass', 'MyClass', 'MyClass', 'MyClass'])";
  const value = `'${"x".repeat(80)}'`;
  const d = decideReadings({ calls: [call], examples: 0, expected: [], outcomes: [[ok(value)], [ok("'y'")]], maxQuestions: 3 });
  assert.ok(d.decision === "ask");
  assert.equal(d.questions[0]?.text, `What should \`${call}\` return?`);
  assert.deepEqual(
    d.questions[0]?.suggestions.map((s) => s.length),
    [60, 3],
  );
  assert.deepEqual(callsIn(d.questions[0]?.text ?? "", ["Strongest_Extension"]), [call], "the call can be read back from the question");
});
