import assert from "node:assert/strict";
import { it } from "node:test";
import { collectTasks, readAppsProblem, readTaskLine } from "../../src/core/tasks.js";

it("reads an APPS problem folder's files; bad or missing solutions are a warning, a missing or empty question an error", () => {
  assert.deepEqual(readAppsProblem("train/0001", { question: "Sum them.\n", solutions: '["print(1)", ""]' }), {
    ok: true,
    task: { id: "train/0001", layout: "apps", description: "Sum them.\n", solutions: ["print(1)"] },
    warnings: [],
  });
  assert.deepEqual(readAppsProblem("p", { question: "Q" }), { ok: true, task: { id: "p", layout: "apps", description: "Q", solutions: [] }, warnings: [] });
  const bad = readAppsProblem("p", { question: "Q", solutions: "[1, " });
  assert.ok(bad.ok);
  assert.deepEqual(bad.task.solutions, []);
  assert.match(bad.warnings[0] ?? "", /^solutions\.json is not valid JSON \(.+\); its solutions are not used\.$/);
  const notStrings = readAppsProblem("p", { question: "Q", solutions: "[1, 2]" });
  assert.ok(notStrings.ok);
  assert.deepEqual(notStrings.warnings, ["solutions.json is not a list of strings; its solutions are not used."]);
  assert.deepEqual(readAppsProblem("p", { solutions: "[]" }), { ok: false, where: "p", error: "question.txt is missing." });
  assert.deepEqual(readAppsProblem("p", { question: " \n" }), { ok: false, where: "p", error: "question.txt is empty." });
});

it("reads APPS-style and HumanEval-style JSONL rows, and says what is wrong with a bad one", () => {
  const apps = readTaskLine(JSON.stringify({ problem_id: 7, question: "Q?", solutions: JSON.stringify(["a = 1"]) }), "f:1");
  assert.deepEqual(apps, { ok: true, task: { id: "7", layout: "apps-jsonl", description: "Q?", solutions: ["a = 1"] }, warnings: [] });
  const listSolutions = readTaskLine(JSON.stringify({ id: "x", question: "Q", solutions: ["b"] }), "f:2");
  assert.ok(listSolutions.ok && listSolutions.task.solutions[0] === "b");
  const humanEval = readTaskLine(JSON.stringify({ task_id: "HumanEval/0", prompt: "def f():\n", canonical_solution: "    return 1\n" }), "f:3");
  assert.deepEqual(humanEval, {
    ok: true,
    task: { id: "HumanEval/0", layout: "humaneval-jsonl", description: "def f():\n", solutions: ["def f():\n    return 1\n"] },
    warnings: [],
  });
  const comm = readTaskLine(JSON.stringify({ name: "HumanEval/1", prompt: "def g():\n", solution: "def g():\n    return 2\n" }), "f:4");
  assert.ok(comm.ok && comm.task.id === "HumanEval/1" && comm.task.solutions[0] === "def g():\n    return 2\n");
  const noSolution = readTaskLine(JSON.stringify({ task_id: "T", prompt: "def h():\n" }), "f:5");
  assert.ok(noSolution.ok && noSolution.task.solutions.length === 0);

  const error = (line: string): string => {
    const read = readTaskLine(line, "f:9");
    assert.equal(read.ok, false);
    return read.ok ? "" : `${read.where}: ${read.error}`;
  };
  assert.match(error("{not json"), /^f:9: not valid JSON \(.+\)\.$/);
  assert.equal(error("[1]"), "f:9: not a JSON object.");
  assert.equal(error('{"title": "x"}'), 'f:9: neither an APPS-style row (with "question") nor a HumanEval-style row (with "prompt").');
  assert.equal(error('{"problem_id": 3, "question": "  "}'), "f:9 (3): the question is empty.");
  assert.equal(error('{"task_id": "T/1", "prompt": ""}'), "f:9 (T/1): the prompt is empty.");
  assert.equal(error('{"question": "Q"}'), "f:9: an APPS-style row needs a problem_id (or id).");
  assert.equal(error('{"prompt": "Q"}'), "f:9: a HumanEval-style row needs a task_id (or name).");
  const badSolutions = readTaskLine('{"id": "s", "question": "Q", "solutions": "[oops"}', "f:10");
  assert.ok(badSolutions.ok && badSolutions.warnings[0]?.startsWith("solutions is not valid JSON"));
});

it("collects tasks in order, reporting each problem and dropping a repeated id", () => {
  const { tasks, problems } = collectTasks([
    readAppsProblem("a", { question: "A" }),
    readAppsProblem("b", {}),
    readAppsProblem("c", { question: "C", solutions: "{" }),
    readAppsProblem("a", { question: "A again" }),
  ]);
  assert.deepEqual(
    tasks.map((t) => [t.id, t.description]),
    [
      ["a", "A"],
      ["c", "C"],
    ],
  );
  assert.deepEqual(
    problems.map((p) => [p.where, p.skipped, p.message.split(" (")[0]]),
    [
      ["b", true, "question.txt is missing."],
      ["c", false, "solutions.json is not valid JSON"],
      ["a", true, "the same id appears again."],
    ],
  );
});
