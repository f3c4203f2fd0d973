import assert from "node:assert/strict";
import { test } from "node:test";
import type { CallOutcome } from "../../src/core/code-runner.js";
import {
  callsIn,
  decideReadings,
  entryPointOf,
  isPlaceholderCode,
  parametersOf,
  parseCalls,
  requestExamples,
  requestPreamble,
} from "../../src/core/readings.js";

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

test("examples are read in the other forms HumanEval's prompts use, by call or by argument name", () => {
  const request = [
    "def f(lst, k=1):",
    '    """Doc.',
    '    f([1, 2], 3) ==> "u"',
    "    f([0], 1) ==>0",
    "    >>> f([5], 2) == 9",
    "    assert f([7], 2) => [7]",
    "    f([8], 1) = 16",
    "    f([9], 1) # => 'Yes'",
    "    f([2], 2) returns [1, 5] # the odd ones",
    "    f([4], 4) is true.",
    "    f([3], 3) ➞ 19 - 5 - 6 = 8",
    "    For lst = [1,2,3], k = 2 the output should be 14",
    "    Input: lst = [-3, -4, 5], k = 3",
    "    Output: [-4, -3, 5]",
    "    f(n) = f(n - 1) + 1",
    "    f(abc) => False",
    "    For lst = [1] the output should be 2",
    '    """',
  ].join("\n");
  assert.deepEqual(requestExamples(request, "f"), [
    { call: "f([1, 2], 3)", expected: '"u"' },
    { call: "f([0], 1)", expected: "0" },
    { call: "f([5], 2)", expected: "9" },
    { call: "f([7], 2)", expected: "[7]" },
    { call: "f([8], 1)", expected: "16" },
    { call: "f([9], 1)", expected: "'Yes'" },
    { call: "f([2], 2)", expected: "[1, 5]" },
    { call: "f([4], 4)", expected: "True" },
  ]);
  // Eight at most: the named forms come after.
  const named = request
    .split("\n")
    .filter((l) => !/^\s*(?:>>>|assert)?\s*f\(\[/.test(l))
    .join("\n");
  assert.deepEqual(requestExamples(named, "f"), [
    { call: "f([1,2,3], 2)", expected: "14" },
    { call: "f([-3, -4, 5], 3)", expected: "[-4, -3, 5]" },
  ]);
  assert.deepEqual(
    requestExamples("def f(lst, k):\n    f([3], 3) ➞ 19 - 5 - 6 = 8", "f"),
    [{ call: "f([3], 3)", expected: "8" }],
    "a worked value is what it comes to",
  );
  assert.deepEqual(parametersOf("def g(a, b: Dict[str, int] = {}, *rest, **kw) -> int:\n  pass", "g"), ["a", "b", "rest", "kw"]);
});

test("the preamble keeps the request's top-level imports", () => {
  assert.equal(
    requestPreamble("from typing import List\nimport math\n    import os\ndef f(): pass"),
    "from typing import *\nfrom typing import List\nimport math",
  );
});

test("the model's calls are kept only where each is one call of the entry point", () => {
  assert.deepEqual(parseCalls('{"calls": ["f([1, 2])", "g(1)", "f(1) + 1", "f(\'a\')"]}', "f", 4), ["f([1, 2])", "f('a')"]);
  assert.deepEqual(parseCalls("not json", "f", 4), []);
  assert.deepEqual(parseCalls('{"calls": "f(1)"}', "f", 4), [], "not the shape its grammar makes");
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

test("a candidate that gives at least half the examples their values is the answer, whatever the samples do elsewhere", () => {
  const d = decideReadings({
    calls: ["f(1)", "f(2)", "f(3)", "f(-1)"],
    examples: 3,
    expected: ["1", "4", "9"],
    outcomes: [
      [ok("1"), ok("5"), ok("10"), ok("1")],
      [ok("1"), ok("4"), ok("10"), ok("-1")],
      [ok("1"), ok("4"), err("ValueError"), ok("0")],
    ],
    maxQuestions: 3,
  });
  assert.equal(d.decision, "proceed", "the disagreement on f(-1) is not asked about");
  assert.equal(d.decision === "proceed" && d.candidate, 1, "the first of the best (two of three examples)");
  const worse = decideReadings({
    calls: ["f(1)", "f(2)", "f(3)"],
    examples: 3,
    expected: ["1", "4", "9"],
    outcomes: [[ok("1"), ok("5"), ok("10")]],
    maxQuestions: 3,
  });
  assert.equal(worse.decision, "ask", "one of three is less than half");
});

test("examples the best reading gets wrong are each asked about, up to the limit", () => {
  const d = decideReadings({
    calls: ["f(1)", "f(2)", "f(3)", "f(4)"],
    examples: 4,
    expected: ["2", "4", "6", "8"],
    outcomes: [
      [ok("1"), ok("2"), ok("3"), err("TypeError")],
      [ok("0"), ok("0"), ok("0"), ok("0")],
    ],
    maxQuestions: 2,
  });
  assert.equal(d.decision, "ask");
  if (d.decision !== "ask") return;
  assert.deepEqual(
    d.questions.map((q) => [q.kind, q.call, q.chosen]),
    [
      ["contradiction", "f(1)", "1"],
      ["contradiction", "f(2)", "2"],
    ],
  );
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
