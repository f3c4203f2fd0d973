import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClarifySession, SessionRefusal, whenAccepted } from "../../src/core/session.js";
import { defaultSettings, type ClarifySettings, type SessionState } from "../../src/core/types.js";
import { nativeCodeAnswerPrefix, nativeQuestionsAnswerPrefix, nativeQuestionPrompt } from "../../src/core/prompts.js";
import { ScriptedModel, askReply, choicesReply, proceedReply } from "../helpers/scripted-model.js";

const settings = (over: Partial<ClarifySettings> = {}): ClarifySettings => ({ ...defaultSettings, ...over });
const body = "def f(xs):\n    return sorted(xs)\n```\nDone.";
/** A code reply as the model continues the opened fence when the editor's language is unknown. */
const code = `python\n${body}`;

function states(session: ClarifySession): SessionState[] {
  const seen: SessionState[] = [];
  session.onChange((s) => {
    if (seen[seen.length - 1] !== s.state) seen.push(s.state);
  });
  return seen;
}

describe("ClarifySession (guided)", () => {
  it("asks, refuses code while a question is open, then requests code with the answers", async () => {
    const model = new ScriptedModel([askReply("Ascending or descending?", "In place?"), proceedReply(), choicesReply("a new list"), body]);
    const session = new ClarifySession(model, settings({ askPolicy: "always" }));
    const seen = states(session);
    await session.start("sort the list", { languageId: "python", fileName: "a.py" });
    assert.equal(session.state, "asking");
    const [q1, q2] = session.snapshot().questions;
    assert.ok(q1 && q2);
    assert.deepEqual(q1.suggestions, ["Ascending or descending? A", "Ascending or descending? B"]);
    await assert.rejects(session.submitAnswers(), SessionRefusal);
    session.answerQuestion(q1.id, "descending");
    assert.equal(session.canSubmitAnswers(), false);
    await assert.rejects(session.submitAnswers(), /1 still open/);
    session.waiveQuestion(q2.id);
    assert.equal(session.canSubmitAnswers(), true);
    await session.submitAnswers();
    assert.equal(session.state, "done");
    assert.deepEqual(seen, ["assessing", "asking", "assessing", "generating", "done"]);
    // The first turn was forced to ask (no probe), under the ask schema.
    assert.equal(model.calls.filter((c) => c.kind === "probe").length, 1, "only the follow-up round probes");
    const [first, followUp, choices, codeTurn] = model.calls.filter((c) => c.kind === "chat");
    assert.match(JSON.stringify(first?.grammar), /"const":"ask"/);
    assert.match(first?.text ?? "", /sort the list/);
    assert.match(first?.text ?? "", /File: a\.py \(python\)/);
    assert.match(followUp?.text ?? "", /Answer: descending/);
    assert.match(followUp?.text ?? "", /you decide/);
    // The question left to the assistant: it chooses (under a grammar of one choice), and says so as an assumption.
    assert.match(choices?.text ?? "", /You decide these[\s\S]*1\. In place\?/);
    assert.match(JSON.stringify(choices?.grammar), /"minItems":1,"maxItems":1/);
    // The code turn sends only what is new: the answers went with the follow-up, the waived one is an assumption.
    assert.doesNotMatch(codeTurn?.text ?? "", /Answer: descending/);
    assert.match(codeTurn?.text ?? "", /Assumptions:\n- You left "In place\?" to me: I assumed a new list\./);
    assert.equal(codeTurn?.grammar, undefined);
    assert.equal(codeTurn?.responsePrefix, "```python\n", "the code reply opens a fence in the editor's language");
    const snap = session.snapshot();
    assert.deepEqual(snap.codeBlocks, [{ language: "python", code: "def f(xs):\n    return sorted(xs)" }]);
    assert.equal(snap.answer, `\`\`\`python\n${body}`);
    assert.deepEqual(snap.assumptions, ['You left "In place?" to me: I assumed a new list.']);
    assert.equal(snap.questions[1]?.assumed, "a new list");
    assert.equal(model.opened.length, 1, "one model conversation for the whole turn");
  });

  it("proceeds with assumptions when the model's ask probability is under the threshold", async () => {
    const model = new ScriptedModel([proceedReply("Python 3", "ascending"), code], 0.2);
    const session = new ClarifySession(model, settings({ askThreshold: 0.5 }));
    await session.start("sort the list");
    assert.equal(session.state, "done");
    const snap = session.snapshot();
    assert.equal(snap.askProbability, 0.2);
    assert.deepEqual(snap.assumptions, ["Python 3", "ascending"]);
    assert.match(JSON.stringify(model.calls[1]?.grammar), /"const":"proceed"/);
    assert.match(model.calls[2]?.text ?? "", /- Python 3\n- ascending/);
  });

  it("the threshold is the dial: the same probability asks under a lower threshold", async () => {
    const model = new ScriptedModel([askReply("Which order?")], 0.2);
    const session = new ClarifySession(model, settings({ askThreshold: 0.1 }));
    await session.start("sort the list");
    assert.equal(session.state, "asking");
  });

  it("when the probability cannot be read, the model chooses under a grammar that allows both replies", async () => {
    const model = new ScriptedModel([askReply("Which order?")], "this template cannot be probed");
    const session = new ClarifySession(model, settings());
    await session.start("sort");
    assert.equal(session.state, "asking");
    assert.equal(session.snapshot().askProbability, undefined);
    const grammar = JSON.stringify(model.calls.find((c) => c.kind === "chat")?.grammar);
    assert.match(grammar, /^\{"oneOf":\[.*"const":"ask".*"const":"proceed"/);
  });

  it("never asks when the policy is never, and never probes", async () => {
    const model = new ScriptedModel([proceedReply(), code], 0.99);
    const session = new ClarifySession(model, settings({ askPolicy: "never" }));
    await session.start("sort");
    assert.equal(session.state, "done");
    assert.equal(
      model.calls.some((c) => c.kind === "probe"),
      false,
    );
  });

  it("stops asking after the last round and requests the code", async () => {
    const model = new ScriptedModel([askReply("One?"), code], 0.9);
    const session = new ClarifySession(model, settings({ maxRounds: 1 }));
    await session.start("sort");
    session.answerQuestion("r1q1", "yes");
    await session.submitAnswers();
    assert.equal(session.state, "done");
    const codeTurn = model.calls.at(-1);
    assert.match(codeTurn?.text ?? "", /Answers to your questions:\n1\. One\?\n {3}Answer: yes/);
  });

  it("asks a second round, and its questions must be answered too", async () => {
    const model = new ScriptedModel([askReply("One?"), askReply("Two?"), code], 0.9);
    const session = new ClarifySession(model, settings());
    await session.start("sort");
    session.answerQuestion("r1q1", "yes");
    await session.submitAnswers();
    assert.equal(session.state, "asking");
    assert.equal(session.snapshot().rounds, 2);
    assert.throws(() => session.answerQuestion("r1q1", "changed"), /earlier round/);
    await assert.rejects(session.submitAnswers(), /Two\?/);
    session.answerQuestion("r2q1", "no");
    await session.submitAnswers();
    assert.equal(session.state, "done");
  });

  it("caps questions at the setting and drops repeated ones", async () => {
    const model = new ScriptedModel([askReply("A?", "a?", "B?", "C?", "D?")], 0.9);
    const session = new ClarifySession(model, settings({ maxQuestions: 2 }));
    await session.start("x");
    assert.deepEqual(
      session.snapshot().questions.map((q) => q.text),
      ["A?", "B?"],
    );
  });

  it("a reply that does not parse is a failed state with the raw text kept", async () => {
    const model = new ScriptedModel([{ text: '{"decision": "ask", "questions": [{"question": "Wh', stopReason: "maxTokens" }], 0.9);
    const session = new ClarifySession(model, settings());
    await session.start("sort");
    const snap = session.snapshot();
    assert.equal(snap.state, "failed");
    assert.match(snap.failure?.message ?? "", /not complete JSON.*limit/);
    assert.equal(snap.failure?.raw, '{"decision": "ask", "questions": [{"question": "Wh');
    assert.deepEqual(snap.questions, []);
  });

  it("a model error is a failed state, never a crash", async () => {
    const session = new ClarifySession(new ScriptedModel([{ error: "The model worker stopped unexpectedly" }], 0.9), settings());
    await session.start("sort");
    assert.equal(session.state, "failed");
    assert.match(session.snapshot().failure?.message ?? "", /stopped unexpectedly/);
  });

  it("cancel during generation keeps what was produced", async () => {
    const model = new ScriptedModel([proceedReply(), { hangAfter: ["py", "thon\nx = 1"] }], 0.1);
    const session = new ClarifySession(model, settings());
    const chunks: string[] = [];
    session.onChunk((c) => chunks.push(c));
    const running = session.start("x");
    while (chunks.length < 3) await new Promise((r) => setTimeout(r, 1));
    assert.equal(session.state, "generating");
    session.cancel();
    await running;
    const snap = session.snapshot();
    assert.equal(snap.state, "cancelled");
    assert.equal(snap.answer, "```python\nx = 1");
    assert.deepEqual(snap.codeBlocks, [{ language: "python", code: "x = 1" }]);
  });

  it("refuses intents that do not fit the state", async () => {
    const model = new ScriptedModel([askReply("One?")], 0.9);
    const session = new ClarifySession(model, settings());
    assert.throws(() => session.answerQuestion("r1q1", "x"), SessionRefusal);
    await assert.rejects(session.start("  "), /empty/);
    await session.start("x");
    await assert.rejects(session.start("again"), /already started/);
    assert.throws(() => session.answerQuestion("nope", "x"), /no question "nope"/);
    assert.throws(() => session.answerQuestion("r1q1", "  "), /cannot be empty/);
    await assert.rejects(session.correctAssumption(0, "x"), /once the answer is finished/);
  });

  it("correcting an assumption rewinds the model to before the code and asks again with the correction", async () => {
    const model = new ScriptedModel([proceedReply("ascending"), code, code], 0.1);
    const session = new ClarifySession(model, settings());
    await session.start("sort");
    await assert.rejects(session.correctAssumption(3, "x"), /no assumption number 4/);
    await session.correctAssumption(0, "descending");
    assert.equal(session.state, "done");
    assert.equal(model.opened.length, 1, "the same model conversation");
    const last = model.calls.at(-1);
    assert.match(last?.text ?? "", /Assumptions, as corrected by the user \(they replace the ones stated before\):\n- descending/);
    assert.doesNotMatch(last?.text ?? "", /ascending/);
    // The model's history lost the first answer before the corrected request was sent.
    assert.equal(model.historySets.at(-1)?.exchanges.length, 1, "only the assessment stays");
    assert.equal(model.histories[1]?.length, 2);
  });

  it("a reopened conversation's history has the corrected code request the model got, not the first one", async () => {
    const model = new ScriptedModel([proceedReply("ascending"), code, code], 0.1);
    const session = new ClarifySession(model, settings());
    await session.start("sort");
    await session.correctAssumption(0, "descending");
    const saved = session.snapshot();
    assert.match(saved.codeMessage ?? "", /as corrected by the user/);
    const live = model.calls.at(-1)?.text;
    const reopenedModel = new ScriptedModel([code]);
    const reopened = ClarifySession.restore(reopenedModel, settings(), saved);
    await reopened.regenerate();
    assert.ok(live !== undefined && /as corrected by the user/.test(live));
    assert.equal(reopenedModel.calls.at(-1)?.text, live, "the corrected request, as it was sent");
    // A new turn's code request is its own again.
    const next = new ClarifySession(new ScriptedModel([proceedReply("x"), code]), settings());
    await next.start("sort");
    assert.equal(next.snapshot().codeMessage, undefined, "the first try is made again from the answers, not saved");
  });

  it("a restored session that was busy comes back cancelled, and an asking one continues from a rebuilt history", async () => {
    const first = new ClarifySession(new ScriptedModel([askReply("One?")], 0.9), settings({ maxRounds: 1 }), { id: "s1" });
    await first.start("sort", { languageId: "go" });
    const saved = first.snapshot();
    const busy = ClarifySession.restore(new ScriptedModel([]), settings(), { ...saved, state: "generating" });
    assert.equal(busy.state, "cancelled");
    const model = new ScriptedModel([code]);
    const restored = ClarifySession.restore(model, settings({ maxRounds: 1 }), saved);
    assert.equal(restored.id, "s1");
    restored.answerQuestion("r1q1", "yes");
    await restored.submitAnswers();
    assert.equal(restored.state, "done");
    const [set] = model.historySets;
    assert.equal(set?.exchanges.length, 1, "the model gets the conversation so far");
    assert.match(set?.exchanges[0]?.user ?? "", /^Request: sort[\s\S]*Language: go/);
    assert.deepEqual(JSON.parse(set?.exchanges[0]?.model ?? "{}"), { decision: "ask", questions: [{ question: "One?", suggestions: ["One? A", "One? B"] }] });
    assert.match(model.calls[0]?.text ?? "", /Answer: yes/);
  });
});

describe("ClarifySession (native)", () => {
  it("uses the training format and turns free-text questions into a form", async () => {
    const reply = `${nativeQuestionsAnswerPrefix}\n1. Should it be stable?\n2. What about None values?`;
    const model = new ScriptedModel([reply, "\n```python\nprint(1)\n```"]);
    const session = new ClarifySession(model, settings({ style: "native" }));
    await session.start("sort the list");
    assert.deepEqual(model.opened[0], { mode: "raw" });
    assert.equal(model.calls[0]?.text, `${nativeQuestionPrompt} sort the list`);
    assert.deepEqual(
      session.snapshot().questions.map((q) => q.text),
      ["Should it be stable?", "What about None values?"],
    );
    session.answerQuestion("r1q1", "yes");
    session.waiveQuestion("r1q2");
    await session.submitAnswers();
    assert.equal(session.state, "done");
    const codeTurn = model.calls[1]?.text ?? "";
    assert.match(codeTurn, /Answer: yes/);
    assert.ok(codeTurn.endsWith(nativeCodeAnswerPrefix));
    assert.deepEqual(session.snapshot().codeBlocks, [{ language: "python", code: "print(1)" }]);
  });

  it("a code reply ends the conversation without questions", async () => {
    const model = new ScriptedModel([`${nativeCodeAnswerPrefix}\n\`\`\`python\nx = 2\n\`\`\``]);
    const session = new ClarifySession(model, settings({ style: "native" }));
    await session.start("set x to 2");
    assert.equal(session.state, "done");
    assert.deepEqual(session.snapshot().codeBlocks, [{ language: "python", code: "x = 2" }]);
    assert.deepEqual(session.snapshot().questions, []);
  });

  it("the ask policy forces the native model's answer prefix", async () => {
    const model = new ScriptedModel(["\n1. Which?"]);
    const session = new ClarifySession(model, settings({ style: "native", askPolicy: "always" }));
    await session.start("x");
    assert.ok(model.calls[0]?.text.endsWith(nativeQuestionsAnswerPrefix));
    assert.deepEqual(
      session.snapshot().questions.map((q) => q.text),
      ["Which?"],
    );
  });
});

describe("whenAccepted: a surface learns at once whether a turn was taken or refused", () => {
  it("resolves while an accepted turn is still running, and rejects with every kind of refusal", async () => {
    const model = new ScriptedModel([askReply("Which order?"), { hangAfter: ["python\n", "x = 1"] }]);
    const session = new ClarifySession(model, settings({ askPolicy: "always", maxRounds: 1 }));
    await assert.rejects(whenAccepted(session.submitAnswers()), /no open questions/, "not asking yet");
    await assert.rejects(whenAccepted(session.start("  ")), /empty/);
    await session.start("sort the list");
    const [q] = session.snapshot().questions;
    assert.ok(q);
    await assert.rejects(whenAccepted(session.submitAnswers()), /1 still open/, "a question is open");
    session.answerQuestion(q.id, "ascending");
    const turn = session.submitAnswers();
    await whenAccepted(turn);
    assert.equal(session.state, "generating", "accepted while the code is being written");
    await assert.rejects(whenAccepted(session.submitAnswers()), SessionRefusal, "no second turn beside a running one");
    await assert.rejects(whenAccepted(session.correctAssumption(0, "x")), /once the answer is finished/);
    session.cancel();
    await turn;
    assert.equal(session.state, "cancelled");
    assert.equal(session.snapshot().answer, "```python\nx = 1");
  });
});
