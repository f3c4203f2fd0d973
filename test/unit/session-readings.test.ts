/** The engine deciding by readings: candidates run in the real sandbox, questions from their disagreement. */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import { PythonSandbox } from "../../src/llm/sandbox/sandbox.js";
import { ClarifySession } from "../../src/core/session.js";
import { sessionSnapshotSchema } from "../../src/core/snapshot-schema.js";
import { defaultSettings, type EditorContext, type SessionSnapshot } from "../../src/core/types.js";
import { ScriptedModel, proceedReply } from "../helpers/scripted-model.js";

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
      // The examples decide (no candidate gives inc(1) its value): no calls are asked for.
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

  it("candidates that fit the examples: the first is the answer, with no further model call (no calls are asked for)", async () => {
    const model = new ScriptedModel([
      fenced("def inc(x):\n    return x + 4"),
      fenced("def inc(x):\n    return 4 + x"),
      fenced("def inc(x):\n    return x + 4"),
    ]);
    const session = new ClarifySession(model, defaultSettings, { runner: sandbox });
    await session.start(inc, { languageId: "python" });
    const snap = session.snapshot();
    assert.equal(snap.state, "done");
    assert.deepEqual(snap.questions, []);
    assert.equal(snap.codeBlocks[0]?.code, "def inc(x):\n    return x + 4");
    assert.equal(model.calls.length, 3, "three candidates, nothing more");
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

/** A turn decided by readings, reopened from its snapshot, goes on as the live conversation does. */
describe("a conversation decided by readings, reopened", () => {
  const dedupe = "write a python function dedupe(xs) that removes the duplicates from a list";
  const dedupeReadings = (): string[] => [
    fenced("def dedupe(xs):\n    return list(dict.fromkeys(xs))"),
    fenced("def dedupe(xs):\n    return sorted(set(xs))"),
    fenced("def dedupe(xs):\n    return list(dict.fromkeys(xs))"),
    JSON.stringify({ calls: ["dedupe([3, 1, 3, 2])", "dedupe([])"] }),
  ];
  const incReadings = (): string[] => [
    fenced("def inc(x):\n    return x + 1"),
    fenced("def inc(x):\n    return x + 1"),
    fenced("def inc(x):\n    return 1 + x"),
  ];
  // A follow-up the readings do not decide (no language, none named): probe, assessment, code, in the guided way.
  const followUp = "now make it a method of a class";
  const followUpReplies = (): string[] => [proceedReply("a class named Tools"), "class Tools:\n    pass\n```"];

  /** The model's history at the end of the follow-up (everything before it, and the follow-up's own exchanges). */
  async function afterFollowUp(session: ClarifySession, model: ScriptedModel): Promise<{ history: unknown; calls: string[] }> {
    const from = model.calls.length;
    await session.followUp(followUp, {});
    assert.equal(session.state, "done", session.snapshot().failure?.message);
    return { history: model.histories.at(-1), calls: model.calls.slice(from).map((c) => c.text) };
  }

  const turns: { name: string; request: string; context: EditorContext; replies: string[]; settle?: (s: ClarifySession) => Promise<void> }[] = [
    {
      name: "candidates that agree (the first is the answer)",
      // The request's own code says Python (no editor language, so the follow-up is not decided by readings).
      request: inc.replace("5", "2"),
      context: {},
      replies: incReadings(),
    },
    {
      name: "a question answered (new code written from the answers)",
      request: dedupe,
      context: {},
      replies: [...dedupeReadings(), "def dedupe(xs):\n    return list(dict.fromkeys(xs))\n```"],
      settle: async (s) => {
        s.answerQuestion(s.snapshot().questions[0]?.id ?? "", "[3, 1, 2]");
        await s.submitAnswers();
      },
    },
    {
      name: "a question left to the assistant (the first candidate stands)",
      request: dedupe,
      context: {},
      replies: dedupeReadings(),
      settle: async (s) => {
        s.waiveQuestion(s.snapshot().questions[0]?.id ?? "");
        await s.submitAnswers();
      },
    },
  ];
  for (const t of turns) {
    it(`${t.name}: the next turn gets the model history the live conversation had`, async () => {
      const live = new ScriptedModel([...t.replies, ...followUpReplies()], 0.1);
      const session = new ClarifySession(live, defaultSettings, { runner: sandbox });
      await session.start(t.request, t.context);
      await t.settle?.(session);
      assert.equal(session.state, "done", session.snapshot().failure?.message);
      const saved = session.snapshot();
      assert.ok(saved.readings, "the turn says the readings decided it");
      assert.equal(saved.readings.candidates, undefined, "the candidates go once the code was asked for");

      const expected = await afterFollowUp(session, live);
      const model = new ScriptedModel(followUpReplies(), 0.1);
      const reopened = ClarifySession.restore(model, defaultSettings, saved, { runner: sandbox });
      const got = await afterFollowUp(reopened, model);
      assert.deepEqual(got.calls, expected.calls);
      assert.deepEqual(got.history, expected.history);
      // The readings turn is its plain code request and the answer, as the model saw it (no assessment JSON).
      const [first] = model.historySets[0]?.exchanges ?? [];
      assert.match(first?.user ?? "", /^You are an expert software developer/);
      assert.equal(first?.model, saved.answer);
    });
  }

  it("reopened with its question open and answered: the same code request as live, and an answer the code breaks brings back a candidate", async () => {
    const code = "def inc(x):\n    return x + 4\n```";
    const live = new ScriptedModel([...incReadings(), code]);
    const session = new ClarifySession(live, defaultSettings, { runner: sandbox });
    await session.start(inc, { languageId: "python" });
    const saved = session.snapshot();
    assert.equal(saved.state, "asking");
    const id = saved.questions[0]?.id ?? "";
    assert.deepEqual(saved.readings?.questions, [{ id, call: "inc(1)", kind: "contradiction", chosen: "2" }]);
    session.answerQuestion(id, "2");
    await session.submitAnswers();
    const sent = live.historySets.at(-1)?.exchanges;

    const model = new ScriptedModel([code]);
    const reopened = ClarifySession.restore(model, defaultSettings, structuredClone(saved), { runner: sandbox });
    reopened.answerQuestion(id, "2");
    await reopened.submitAnswers();
    assert.equal(model.calls.length, 1);
    assert.equal(model.calls[0]?.text, live.calls.at(-1)?.text);
    assert.match(model.calls[0]?.text ?? "", /^You are an expert software developer[\s\S]*`inc\(1\)` must return 2/);
    assert.deepEqual(model.historySets[0]?.exchanges, sent);
    const done = reopened.snapshot();
    assert.equal(done.state, "done");
    assert.equal(done.codeBlocks[0]?.code, "def inc(x):\n    return x + 1");
    assert.deepEqual(
      { answer: done.answer, codeBlocks: done.codeBlocks, assumptions: done.assumptions, readings: done.readings },
      {
        answer: session.snapshot().answer,
        codeBlocks: session.snapshot().codeBlocks,
        assumptions: session.snapshot().assumptions,
        readings: session.snapshot().readings,
      },
    );
  });

  it("reopened with its question open and left to the assistant: the first candidate is the answer, with no model call, as live", async () => {
    const session = new ClarifySession(new ScriptedModel(dedupeReadings()), defaultSettings, { runner: sandbox });
    await session.start(dedupe, {});
    const saved = session.snapshot();
    session.waiveQuestion(saved.questions[0]?.id ?? "");
    await session.submitAnswers();

    const model = new ScriptedModel([]);
    const reopened = ClarifySession.restore(model, defaultSettings, saved, { runner: sandbox });
    reopened.waiveQuestion(saved.questions[0]?.id ?? "");
    await reopened.submitAnswers();
    assert.equal(model.calls.length, 0);
    const [live, done] = [session.snapshot(), reopened.snapshot()];
    assert.equal(done.state, "done");
    assert.deepEqual([done.answer, done.assumptions, done.questions], [live.answer, live.assumptions, live.questions]);
    assert.match(done.assumptions[0] ?? "", /`dedupe\(\[3, 1, 3, 2\]\)` returns \[3, 1, 2\]/);
  });

  it("a corrected assumption of a readings turn asks for the code with the whole request again, live and reopened alike", async () => {
    const fixed = "def dedupe(xs):\n    return sorted(set(xs))\n```";
    const live = new ScriptedModel([...dedupeReadings(), fixed]);
    const session = new ClarifySession(live, defaultSettings, { runner: sandbox });
    await session.start(dedupe, {});
    session.waiveQuestion(session.snapshot().questions[0]?.id ?? "");
    await session.submitAnswers();
    const saved = session.snapshot();
    const correction = "`dedupe([3, 1, 3, 2])` returns [1, 2, 3]";
    await session.correctAssumption(0, correction);
    assert.equal(session.state, "done", session.snapshot().failure?.message);
    const sent = live.calls.at(-1)?.text ?? "";
    // The rewound exchange was the turn's only one: without the request again the model would not know the task.
    assert.match(sent, /^You are an expert software developer[\s\S]*dedupe\(xs\) that removes the duplicates[\s\S]*Assumptions:\n- `dedupe/);
    assert.ok(sent.includes(correction));
    assert.deepEqual(live.historySets.at(-1)?.exchanges, []);

    const model = new ScriptedModel([fixed]);
    const reopened = ClarifySession.restore(model, defaultSettings, saved, { runner: sandbox });
    await reopened.correctAssumption(0, correction);
    assert.equal(model.calls[0]?.text, sent);
    assert.deepEqual(reopened.snapshot().readings, session.snapshot().readings);
  });

  it("the readings a snapshot keeps pass its schema, in the current turn and an earlier one; a snapshot saved without them loads as guided", async () => {
    const session = new ClarifySession(new ScriptedModel([...incReadings(), ...dedupeReadings()]), defaultSettings, { runner: sandbox });
    await session.start(inc.replace("5", "2"), { languageId: "python" });
    await session.followUp(dedupe, {});
    const saved = session.snapshot();
    assert.equal(saved.state, "asking");
    assert.ok(saved.readings?.candidates?.length === 3 && saved.earlier?.[0]?.readings);
    assert.deepEqual(sessionSnapshotSchema.parse(saved), saved);

    // As saved before turns kept their readings: it loads, and its turns are rebuilt as guided ones.
    const { readings: _r, ...current } = saved;
    const old: SessionSnapshot = { ...current, earlier: (saved.earlier ?? []).map(({ readings: _e, ...turn }) => turn) };
    assert.deepEqual(sessionSnapshotSchema.parse(old), old);
    const model = new ScriptedModel([proceedReply(), "def dedupe(xs):\n    return xs\n```"], 0.1);
    const reopened = ClarifySession.restore(model, defaultSettings, old, { runner: sandbox });
    reopened.answerQuestion(old.questions[0]?.id ?? "", "[3, 1, 2]");
    await reopened.submitAnswers();
    assert.equal(reopened.state, "done", reopened.snapshot().failure?.message);
    assert.match(model.historySets[0]?.exchanges[0]?.model ?? "", /^\{"decision"/);
  });
});
