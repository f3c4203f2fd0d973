/** The engine deciding by readings: candidates run in the real sandbox, questions from their disagreement. */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import { PythonSandbox } from "../../src/llm/sandbox/sandbox.js";
import { ClarifySession } from "../../src/core/session.js";
import { defaultSettings } from "../../src/core/types.js";
import { ScriptedModel } from "../helpers/scripted-model.js";

let sandbox: PythonSandbox;
before(async () => {
  sandbox = await PythonSandbox.create({ caseTimeoutMs: 1500, memoryMb: 256, tempRoot: await mkdtemp(path.join(os.tmpdir(), "session-readings-")) });
});

const fenced = (code: string): string => `${code}\n\`\`\`\nSome prose the readings do not need.`;
const inc = 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    5\n    """\n';

describe("deciding by readings", () => {
  it("an example that contradicts every candidate is asked about; the answer that breaks the new code brings back the candidate that keeps it", async () => {
    const model = new ScriptedModel([
      fenced("def inc(x):\n    return x + 1"),
      fenced("def inc(x):\n    return x + 1"),
      fenced("def inc(x):\n    return 1 + x"),
      JSON.stringify({ calls: ["inc(0)", "print(1)"] }),
      // The code after the answer "2" gives 5 for inc(1): it contradicts the answer.
      "def inc(x):\n    return x + 4\n```",
    ]);
    const session = new ClarifySession(model, defaultSettings, { runner: sandbox });
    await session.start(inc, { languageId: "python" });
    const asked = session.snapshot();
    assert.equal(asked.state, "asking");
    assert.equal(asked.questions.length, 1);
    assert.match(asked.questions[0]?.text ?? "", /`inc\(1\)` returns `5`.*gives `2`/);
    assert.deepEqual(asked.questions[0]?.suggestions, ["5", "2"]);
    // Three candidates from one plain code request, at temperature 0 then sampled with distinct seeds.
    const candidates = model.calls.filter((c) => c.responsePrefix === "```python\n");
    assert.equal(candidates.length, 3);
    assert.deepEqual(
      candidates.map((c) => c.temperature),
      [0, 0.8, 0.8],
    );
    assert.equal(new Set(candidates.map((c) => c.seed)).size, 3);
    assert.match(candidates[0]?.text ?? "", /please generate Python3 code[\s\S]*def inc\(x\)/);
    session.answerQuestion(asked.questions[0]?.id ?? "", "2");
    await session.submitAnswers();
    const done = session.snapshot();
    assert.equal(done.state, "done");
    const codeTurn = model.calls.at(-1)?.text ?? "";
    assert.match(codeTurn, /`inc\(1\)` must return 2/);
    assert.equal(done.codeBlocks[0]?.code, "def inc(x):\n    return x + 1");
  });

  it("candidates that fit the examples and agree on every call: the first is the answer, with no further model call", async () => {
    const model = new ScriptedModel([
      fenced("def inc(x):\n    return x + 4"),
      fenced("def inc(x):\n    return 4 + x"),
      fenced("def inc(x):\n    return x + 4"),
      JSON.stringify({ calls: ["inc(0)", "inc(-3)"] }),
    ]);
    const session = new ClarifySession(model, defaultSettings, { runner: sandbox });
    await session.start(inc, { languageId: "python" });
    const snap = session.snapshot();
    assert.equal(snap.state, "done");
    assert.deepEqual(snap.questions, []);
    assert.equal(snap.codeBlocks[0]?.code, "def inc(x):\n    return x + 4");
    assert.equal(model.calls.length, 4);
  });

  it("readings that disagree are asked about; a question left to the assistant takes the first candidate's result, stated", async () => {
    const request = "write a python function dedupe(xs) that removes the duplicates from a list";
    const model = new ScriptedModel([
      fenced("def dedupe(xs):\n    return list(dict.fromkeys(xs))"),
      fenced("def dedupe(xs):\n    return sorted(set(xs))"),
      fenced("def dedupe(xs):\n    return list(dict.fromkeys(xs))"),
      JSON.stringify({ calls: ["dedupe([3, 1, 3, 2])", "dedupe([])"] }),
    ]);
    const session = new ClarifySession(model, defaultSettings, { runner: sandbox });
    await session.start(request, {});
    const asked = session.snapshot();
    assert.equal(asked.state, "asking");
    assert.equal(asked.questions[0]?.text, "What should `dedupe([3, 1, 3, 2])` return?");
    assert.deepEqual(asked.questions[0]?.suggestions, ["[3, 1, 2]", "[1, 2, 3]"]);
    session.waiveQuestion(asked.questions[0]?.id ?? "");
    await session.submitAnswers();
    const done = session.snapshot();
    assert.equal(done.state, "done");
    assert.equal(done.codeBlocks[0]?.code, "def dedupe(xs):\n    return list(dict.fromkeys(xs))");
    assert.equal(done.assumptions.length, 1);
    assert.match(done.assumptions[0] ?? "", /`dedupe\(\[3, 1, 3, 2\]\)` returns \[3, 1, 2\]/);
    assert.equal(model.calls.length, 4);
  });

  it("without a runner for the language, the model's probability decides as before", async () => {
    const model = new ScriptedModel([JSON.stringify({ decision: "proceed", assumptions: [] }), "fn main() {}\n```"], 0.1);
    const session = new ClarifySession(model, defaultSettings, { runner: sandbox });
    await session.start("write hello world", { languageId: "rust" });
    assert.equal(session.snapshot().state, "done");
    assert.equal(model.calls[0]?.kind, "probe");
  });
});
