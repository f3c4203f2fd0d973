/** `eval --answers reference`: questions about concrete calls answered by the reference solution, run in the real sandbox. */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import { readBenchmark, selectItems } from "../../src/core/eval/benchmark.js";
import { runItem } from "../../src/core/eval/protocol.js";
import { referenceAnswers, referenceAnswersInText } from "../../src/core/eval/reference-answers.js";
import { readEvalRow, type EvalRow } from "../../src/core/eval/results.js";
import { manifestDifferences, type RunManifest } from "../../src/core/eval/summary.js";
import { callsIn, clarificationOf } from "../../src/core/readings.js";
import { defaultSettings } from "../../src/core/types.js";
import { PythonSandbox } from "../../src/llm/sandbox/sandbox.js";
import { addItem } from "../helpers/eval-item.js";
import { ScriptedModel } from "../helpers/scripted-model.js";

let sandbox: PythonSandbox;

before(async () => {
  sandbox = await PythonSandbox.create({ caseTimeoutMs: 1500, memoryMb: 256, tempRoot: await mkdtemp(path.join(os.tmpdir(), "eval-reference-test-")) });
});

const item = {
  ...addItem,
  solution: 'def add(a, b):\n    """Add a and b."""\n    if b == 0:\n        raise ValueError("b must not be 0")\n    return a + b\n',
};

describe("the calls a question names", () => {
  it("finds each call of the function's names once, in order, and no call of another function", () => {
    assert.deepEqual(callsIn("What should `candidate([1, (2, 3)], 'a)')` return, and add(1, 2)? Or candidate([1, (2, 3)], 'a)')?", ["add", "candidate"]), [
      "candidate([1, (2, 3)], 'a)')",
      "add(1, 2)",
    ]);
    assert.deepEqual(callsIn("my_add(1, 2), obj.add(3, 4) and add(5", ["add"]), [], "another name, a method, an unclosed call");
  });
});

describe("an answer as the code request states it", () => {
  it("a value must be returned, an error raised", () => {
    assert.equal(clarificationOf({ call: "f(1)", kind: "disagreement" }, " [1, 2]. "), "`f(1)` must return [1, 2].");
    assert.equal(
      clarificationOf({ call: "f(0)", kind: "disagreement" }, "raises ValueError: b must not be 0"),
      "`f(0)` must raise ValueError: b must not be 0.",
    );
    assert.equal(
      clarificationOf({ call: "f(0)", kind: "contradiction" }, "It raises ZeroDivisionError"),
      "`f(0)` must raise ZeroDivisionError (this overrides any example in the request that says otherwise).",
    );
  });
});

describe("answers from the reference solution", () => {
  it("a question about a call gets the reference's value (or its error); other questions get none", async () => {
    const answers = await referenceAnswers(
      [
        "What should `candidate(1, 2)` return?",
        "Should it add or multiply?",
        "The example says `add(2, 2)` returns `5`, but I read `4`. Which is right?",
        "And add(1, 0)?",
      ],
      item,
      sandbox,
    );
    assert.deepEqual(answers, [
      { call: "candidate(1, 2)", value: "3" },
      undefined,
      { call: "add(2, 2)", value: "4" },
      { call: "add(1, 0)", value: "raises ValueError: b must not be 0" },
    ]);
    assert.deepEqual(
      await referenceAnswers(["What should `candidate(1, 2)` return?"], { ...item, solution: undefined }, sandbox),
      [undefined],
      "no reference: no answer",
    );
    assert.deepEqual(await referenceAnswersInText("Is `candidate(1, 2)` 3? And candidate(0, 5)?", item, sandbox), [
      { call: "candidate(1, 2)", value: "3" },
      { call: "candidate(0, 5)", value: "5" },
    ]);
  });

  it("the benchmark's solution reaches the items", () => {
    const row = (name: string, solution?: string): string =>
      JSON.stringify({
        name,
        prompt: "def f(x):\n    pass\n",
        prompt1a: "def candidate(x):\n    pass\n",
        entry_point: "f",
        test_case: [{ input: "1", output: "1", relation: "==" }],
        ...(solution ? { solution } : {}),
      });
    const { problems } = readBenchmark([row("A", "def f(x):\n    return x\n"), row("B")].join("\n"));
    const items = selectItems(problems, { categories: ["1a"], seed: 0 });
    assert.deepEqual(
      items.map((i) => [i.id, i.solution]),
      [
        ["A#1a", "def f(x):\n    return x\n"],
        ["B#1a", undefined],
      ],
    );
  });
});

describe("one item with the reference answering", () => {
  const runTests = async (code: string): Promise<EvalRow["tests"]> => ({ passed: code.includes("a + b") ? 1 : 0, total: 1, statuses: ["x"] });
  const base = { judgeFormat: "text" as const, judgeMaxTokens: 64, runTests };
  const ask = JSON.stringify({ decision: "ask", questions: [{ question: "What should `candidate(1, 2)` return?", suggestions: ["3", "2"] }] });
  const code = "```python\ndef candidate(a, b):\n    return a + b\n```";

  it("engine: the call's question gets the reference's value; the judge's grade and answers stay its own", async () => {
    const settings = { ...defaultSettings, askPolicy: "always" as const };
    const model = new ScriptedModel([ask, code]);
    const judge = new ScriptedModel(["QUALITY=3\nANSWERS=```I cannot say.```"]);
    const r = await runItem(item, { mode: "engine", engine: settings }, { ...base, model, judge, reference: sandbox });
    assert.equal(r.error, undefined, r.error);
    assert.deepEqual(r.judge, [{ quality: 3, answers: ["I cannot say."], reference: [{ call: "candidate(1, 2)", value: "3" }] }]);
    const codeRequest = model.calls.at(-1)?.text ?? "";
    assert.match(codeRequest, /\b3\b/, codeRequest);
    assert.doesNotMatch(codeRequest, /I cannot say/);
    assert.deepEqual(readEvalRow(JSON.parse(JSON.stringify(r)))?.judge, r.judge, "the row reads back");

    const judged = new ScriptedModel([ask, code]);
    const plain = await runItem(
      item,
      { mode: "engine", engine: settings },
      { ...base, model: judged, judge: new ScriptedModel(["QUALITY=3\nANSWERS=```I cannot say.```"]) },
    );
    assert.equal(plain.judge[0]?.reference, undefined);
    assert.match(judged.calls.at(-1)?.text ?? "", /I cannot say/, "without the reference the judge's answer is given");
  });

  it("paper: the calls the questions name are answered after the judge's answers", async () => {
    const model = new ScriptedModel(["Is `candidate(1, 2)` 3, or 2?", code]);
    const judge = new ScriptedModel(["QUALITY=2\nANSWERS=```Add them.```"]);
    const r = await runItem(item, { mode: "paper", paper: { maxTokens: 64, temperature: 0 } }, { ...base, model, judge, reference: sandbox });
    assert.equal(model.calls[1]?.text.split("\n Given above")[0], "Add them.\n`candidate(1, 2)` returns 3.");
    assert.deepEqual(r.judge[0]?.reference, [{ call: "candidate(1, 2)", value: "3" }]);
  });

  it("a run with other answers is another run (resuming refuses to mix them)", () => {
    const manifest = { mode: "engine", engine: defaultSettings, readings: true, benchmark: { sha256: "x" } } as unknown as RunManifest;
    assert.deepEqual(manifestDifferences(manifest, { ...manifest }), []);
    assert.equal(manifestDifferences(manifest, { ...manifest, answers: "reference" }).length, 1);
    assert.equal(manifestDifferences(manifest, { ...manifest, readings: false }).length, 1, "nor decisions by another method");
  });
});
