/**
 * The engine as a conversation: follow-ups in the same model conversation, Regenerate, Continue, Edit-and-resend,
 * Stop that ends a turn at once, never asking again, a code reply that is our own protocol, and requests fitted into
 * the model's context. On a scripted model that records every call and the history it holds.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClarifySession, SessionRefusal, whenAccepted } from "../../src/core/session.js";
import { defaultSettings, type ClarifySettings, type SessionSnapshot } from "../../src/core/types.js";
import { ScriptedModel, askReply, choicesReply, proceedReply, type ScriptedReply } from "../helpers/scripted-model.js";

const settings = (over: Partial<ClarifySettings> = {}): ClarifySettings => ({ ...defaultSettings, ...over });
/** A code reply as the model continues the fence opened for it in the editor's language (python here). */
const code = (text: string): string => `${text}\n\`\`\``;

async function finishedTurn(
  replies: ScriptedReply[],
  over: Partial<ClarifySettings> = {},
  p = 0.1,
): Promise<{ model: ScriptedModel; session: ClarifySession }> {
  const model = new ScriptedModel(replies, p);
  const session = new ClarifySession(model, settings(over));
  await session.start("sort the list", { languageId: "python" });
  return { model, session };
}

const waitFor = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(check(), "timed out");
};

describe("follow-ups: the next message is a turn of the same conversation", () => {
  it("keeps the model conversation, sends only the new message, and keeps every turn", async () => {
    const { model, session } = await finishedTurn([proceedReply("ascending"), code("xs.sort()"), proceedReply("unittest"), code("def test(): pass")]);
    assert.equal(session.state, "done");
    await session.followUp("now add tests");
    assert.equal(session.state, "done");
    assert.equal(model.opened.length, 1, "the same model conversation");
    assert.deepEqual(model.historySets, [], "nothing was rewound or rebuilt");
    const followUp = model.calls.filter((c) => c.kind === "chat")[2];
    assert.match(followUp?.text ?? "", /^Follow-up request: now add tests\n\nDecide about this follow-up request, given the conversation so far/);
    assert.doesNotMatch(followUp?.text ?? "", /sort the list/, "the first request is in the history already");
    assert.equal(model.histories[1]?.length, 4, "both turns' exchanges are in the model's history");
    const snap = session.snapshot();
    assert.equal(snap.request, "now add tests");
    assert.equal(snap.earlier?.length, 1);
    assert.equal(snap.earlier?.[0]?.request, "sort the list");
    assert.equal(snap.earlier?.[0]?.state, "done");
    assert.deepEqual(snap.earlier?.[0]?.assumptions, ["ascending"]);
    assert.match(snap.earlier?.[0]?.answer ?? "", /xs\.sort\(\)/);
    assert.deepEqual(snap.assumptions, ["unittest"]);
    // A follow-up without editor context writes in the language of the turn before.
    assert.equal(model.calls.at(-1)?.responsePrefix, "```python\n");
  });

  it("a conversation the model lost (unloaded while idle) is opened again with the history, and the follow-up goes on", async () => {
    const { model, session } = await finishedTurn([proceedReply("ascending"), code("xs.sort()"), proceedReply("unittest"), code("def test(): pass")]);
    model.loseConversations();
    await session.followUp("now add tests");
    assert.equal(session.state, "done", JSON.stringify(session.snapshot().failure));
    assert.equal(model.opened.length, 2, "a new model conversation");
    assert.equal(model.closed, 1, "the lost one was closed");
    assert.equal(model.historySets[0]?.conversation, 2);
    assert.equal(model.historySets[0]?.exchanges.length, 2, "the first turn's exchanges, given to the new conversation");
    assert.match(model.historySets[0]?.exchanges[1]?.model ?? "", /xs\.sort\(\)/);
    assert.equal(model.histories[2]?.length, 4, "and the follow-up's exchanges after them");
  });

  it("a follow-up that asks is refused code until every question is settled", async () => {
    const { session } = await finishedTurn(
      [proceedReply(), code("xs.sort()"), askReply("Which test framework?"), choicesReply("pytest"), code("def test(): pass")],
      { maxRounds: 1 },
    );
    await session.followUp("now add tests");
    assert.equal(session.state, "asking");
    const [q] = session.snapshot().questions;
    assert.equal(q?.id, "t2r1q1", "question ids are unique across turns");
    await assert.rejects(session.submitAnswers(), /1 still open: "Which test framework\?"/);
    assert.equal(session.state, "asking");
    session.waiveQuestion("t2r1q1");
    await session.submitAnswers();
    assert.equal(session.state, "done");
    assert.deepEqual(session.snapshot().assumptions, ['You left "Which test framework?" to me: I assumed pytest.']);
  });

  it("a message sent while questions are open moves on: the unanswered turn is kept, ended", async () => {
    const model = new ScriptedModel([askReply("Which order?"), proceedReply(), "x\n```"], 0.9);
    const session = new ClarifySession(model, settings());
    await session.start("sort");
    assert.equal(session.state, "asking");
    await session.send("sort ascending, in place");
    assert.equal(session.state, "done");
    const [past] = session.snapshot().earlier ?? [];
    assert.equal(past?.state, "cancelled");
    assert.equal(past?.questions[0]?.answer, undefined);
  });

  it("refuses a follow-up before the first turn, or while a turn runs", async () => {
    const model = new ScriptedModel([proceedReply(), { hangAfter: ["x"] }], 0.1);
    const session = new ClarifySession(model, settings());
    await assert.rejects(session.followUp("x"), /not started/);
    const running = session.start("sort");
    await waitFor(() => session.state === "generating");
    await assert.rejects(whenAccepted(session.followUp("more")), /busy; stop it first/);
    session.cancel();
    await running;
  });
});

describe("never ask again what was asked or answered", () => {
  it("a second round that repeats the first round's question word for word asks nothing and goes on to the code", async () => {
    const model = new ScriptedModel([askReply("What size?"), askReply("1. What size?"), "pad()\n```"], 0.9);
    const session = new ClarifySession(model, settings({ maxRounds: 2 }));
    await session.start("pad a string");
    session.answerQuestion("r1q1", "ten");
    await session.submitAnswers();
    assert.equal(session.state, "done");
    assert.equal(session.snapshot().rounds, 1);
    assert.deepEqual(
      session.snapshot().questions.map((q) => q.text),
      ["What size?"],
    );
  });

  it("a follow-up does not ask again what an earlier turn asked; only what is new is asked", async () => {
    const { session } = await finishedTurn([askReply("What size?"), code("pad()"), askReply("what size", "Which side?")], { maxRounds: 1 }, 0.9);
    session.answerQuestion("r1q1", "ten");
    await session.submitAnswers();
    await session.followUp("also trim it");
    assert.deepEqual(
      session.snapshot().questions.map((q) => q.text),
      ["Which side?"],
    );
  });
});

describe("a code reply that is our own protocol is never code", () => {
  const protocol = '{"decision": "proceed", "assumptions": ["x"]}\n```';

  it("is asked for once more, plainly; the second reply is the answer", async () => {
    const { model, session } = await finishedTurn([proceedReply(), protocol, code("xs.sort()")]);
    assert.equal(session.state, "done");
    assert.deepEqual(session.snapshot().codeBlocks, [{ language: "python", code: "xs.sort()" }]);
    const [, first, retry] = model.calls.filter((c) => c.kind === "chat");
    assert.match(retry?.text ?? "", /not with JSON/);
    assert.doesNotMatch(first?.text ?? "", /not with JSON/);
    assert.equal(model.historySets.at(-1)?.exchanges.length, 1, "the protocol reply left the model's history before the retry");
  });

  it("is never shown while it streams: pieces that could still be the protocol are held back until they cannot", async () => {
    const model = new ScriptedModel(
      [
        proceedReply(),
        { text: protocol, chunks: ['{"deci', 'sion": "pro', 'ceed", "assumptions": ["x"]}\n```'] },
        { text: code('{"a": 1}'), chunks: ['{"a"', ": 1}\n```"] },
      ],
      0.1,
    );
    const session = new ClarifySession(model, settings());
    const shown: string[] = [];
    session.onChunk((piece) => shown.push(piece));
    await session.start("sort the list", { languageId: "python" });
    assert.equal(session.state, "done");
    assert.ok(!shown.join("").includes("decision"), `shown: ${JSON.stringify(shown)}`);
    assert.deepEqual(shown, ['```python\n{"a"', ": 1}\n```"], "code that starts with a brace streams as soon as it cannot be the protocol");
    assert.deepEqual(session.snapshot().codeBlocks, [{ language: "python", code: '{"a": 1}' }]);
  });

  it("twice is a failure with the reply kept, and no code block to insert", async () => {
    const { session } = await finishedTurn([proceedReply(), protocol, protocol]);
    const snap = session.snapshot();
    assert.equal(snap.state, "failed");
    assert.match(snap.failure?.message ?? "", /answered with its assessment \(JSON\) again instead of writing code/);
    assert.match(snap.failure?.raw ?? "", /"decision": "proceed"/);
    assert.deepEqual(snap.codeBlocks, []);
    assert.equal(snap.answer, "");
  });
});

describe("Regenerate", () => {
  it("writes the answer again: the model is rewound to before the code request, which is sent again, sampled anew", async () => {
    const { model, session } = await finishedTurn([proceedReply("ascending"), code("first()"), code("second()")]);
    const codeRequest = model.calls.at(-1)?.text;
    await session.regenerate();
    assert.equal(session.state, "done");
    assert.match(session.snapshot().answer, /second\(\)/);
    const last = model.calls.at(-1);
    assert.equal(last?.text, codeRequest);
    assert.ok((last?.temperature ?? 0) > 0, "a new sample, not the same reply again");
    assert.equal(model.historySets.at(-1)?.exchanges.length, 1, "the first answer left the model's history");
    assert.deepEqual(session.snapshot().assumptions, ["ascending"], "the assessment stands");
    assert.equal(model.opened.length, 1);
  });

  it("with another ask policy the whole turn is decided again: 'ask me first' asks, 'don't ask' proceeds", async () => {
    const { model, session } = await finishedTurn([proceedReply(), code("first()"), askReply("Which order?"), proceedReply("descending"), code("third()")]);
    await session.regenerate({ askPolicy: "always" });
    assert.equal(session.state, "asking");
    assert.equal(session.snapshot().answer, "", "the earlier answer is gone from the turn");
    assert.match(JSON.stringify(model.calls.at(-1)?.grammar), /"const":"ask"/);
    assert.equal(model.historySets.at(-1)?.exchanges.length, 0, "rewound to the start of the turn");
    await session.regenerate({ askPolicy: "never" });
    assert.equal(session.state, "done");
    assert.deepEqual(session.snapshot().questions, []);
    assert.deepEqual(session.snapshot().assumptions, ["descending"]);
    const assessment = model.calls.filter((c) => c.kind === "chat").at(-2);
    assert.match(JSON.stringify(assessment?.grammar), /"const":"proceed"/);
  });

  it("a failed turn can be tried again, in a fresh model conversation that is given the history first", async () => {
    const { model, session } = await finishedTurn([
      proceedReply(),
      code("a()"),
      { error: "The model worker stopped unexpectedly" },
      proceedReply(),
      code("x()"),
    ]);
    await session.followUp("now add tests");
    assert.equal(session.state, "failed");
    await session.regenerate();
    assert.equal(session.state, "done");
    assert.equal(model.opened.length, 2, "the model conversation of the failed turn is not trusted again");
    assert.deepEqual(model.historySets.at(-1), { conversation: 2, exchanges: model.histories[1]?.slice(0, 2) }, "the first turn, set again");
  });

  it("a regenerated turn's questions are new to the model, even where their ids are the same", async () => {
    const { model, session } = await finishedTurn([askReply("Which order?"), "a()\n```", askReply("Which order, really?"), "x()\n```"], { maxRounds: 1 }, 0.9);
    session.answerQuestion("r1q1", "ascending");
    await session.submitAnswers();
    assert.equal(session.state, "done");
    await session.regenerate({ askPolicy: "always" });
    const [q] = session.snapshot().questions;
    assert.equal(q?.id, "r1q1");
    session.answerQuestion("r1q1", "descending");
    await session.submitAnswers();
    assert.match(model.calls.at(-1)?.text ?? "", /Answer: descending/);
  });

  it("is refused before anything happened, and while a turn runs", async () => {
    const session = new ClarifySession(new ScriptedModel([]), settings());
    await assert.rejects(session.regenerate(), /nothing to regenerate/);
  });
});

describe("Continue", () => {
  it("after Stop, yields the stopped text plus the rest; only the rest streams", async () => {
    const model = new ScriptedModel([proceedReply(), { hangAfter: ["def f(", "xs):"] }, "\n    return sorted(xs)\n```"], 0.1);
    const session = new ClarifySession(model, settings());
    const chunks: string[] = [];
    session.onChunk((c) => chunks.push(c));
    const running = session.start("sort", { languageId: "python" });
    await waitFor(() => chunks.join("") === "```python\ndef f(xs):");
    session.cancel();
    await running;
    const stopped = session.snapshot();
    assert.equal(stopped.state, "cancelled");
    assert.equal(stopped.answer, "```python\ndef f(xs):");
    chunks.length = 0;
    await session.continueAnswer();
    const snap = session.snapshot();
    assert.equal(snap.state, "done");
    assert.equal(snap.answer, "```python\ndef f(xs):\n    return sorted(xs)\n```");
    assert.deepEqual(snap.codeBlocks, [{ language: "python", code: "def f(xs):\n    return sorted(xs)" }]);
    assert.equal(chunks.join(""), "\n    return sorted(xs)\n```", "the stopped text is not streamed twice");
    const last = model.calls.at(-1);
    assert.equal(last?.responsePrefix, "```python\ndef f(xs):", "the reply is made to start with the stopped text");
    assert.equal(last?.text, model.calls.at(-2)?.text, "the same code request");
    assert.equal(model.historySets.at(-1)?.exchanges.length, 1, "the stopped exchange left the history first");
  });

  it("after the length limit; and it is offered only for an answer that stopped early", async () => {
    const { session } = await finishedTurn([proceedReply(), { text: "xs", stopReason: "maxTokens" }, ".sort()\n```"]);
    const cut = session.snapshot();
    assert.equal(cut.state, "done");
    assert.equal(cut.hitLimit, true);
    await session.continueAnswer();
    assert.equal(session.snapshot().answer, "```python\nxs.sort()\n```");
    assert.equal(session.snapshot().hitLimit, undefined);
    await assert.rejects(session.continueAnswer(), /no stopped answer to continue/);
  });
});

describe("Edit and resend", () => {
  it("sends the current turn again with the new request, rewound to its start; earlier turns stay", async () => {
    const { model, session } = await finishedTurn([proceedReply(), code("a()"), proceedReply(), code("b()"), proceedReply(), code("c()")]);
    await session.followUp("add tests");
    await session.editRequest("add pytest tests");
    const snap = session.snapshot();
    assert.equal(snap.state, "done");
    assert.equal(snap.request, "add pytest tests");
    assert.equal(snap.earlier?.length, 1);
    assert.match(model.calls.filter((c) => c.kind === "chat").at(-2)?.text ?? "", /^Follow-up request: add pytest tests/);
    assert.equal(model.historySets.at(-1)?.exchanges.length, 2, "the first turn's two exchanges stay");
    await assert.rejects(session.editRequest("  "), /empty/);
  });
});

describe("Stop", () => {
  it("ends a turn at once even while the model is stuck evaluating a long prompt; the next turn waits for the model", async () => {
    const model = new ScriptedModel([proceedReply(), { stuck: true }, proceedReply(), "y()\n```"], 0.1);
    const session = new ClarifySession(model, settings());
    const running = session.start("sort");
    await waitFor(() => session.state === "generating" && model.calls.length === 3);
    const t = performance.now();
    session.cancel();
    await running;
    assert.ok(performance.now() - t < 100, `Stop took ${performance.now() - t} ms`);
    assert.equal(session.state, "cancelled");
    const next = session.followUp("again");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(model.calls.length, 3, "the next turn waits for the model's stuck call");
    model.release();
    await next;
    assert.equal(session.state, "done");
    assert.ok(model.historySets.length >= 1, "the model's history was set again after the abandoned call");
  });
});

describe("requests fitted into the model's context", () => {
  const lines = Array.from({ length: 5001 }, (_, i) => `line ${i + 1}`);
  const selection = { text: lines.join("\n"), startLine: 1, endLine: 5001, cursorLine: 1300 };

  it("a selection too large is trimmed around the cursor, and the turn says which lines were sent", async () => {
    const model = new ScriptedModel([proceedReply(), code("x")], 0.1, { contextSize: 4096, charsPerToken: 4 });
    const session = new ClarifySession(model, settings({ maxCodeTokens: 512 }));
    await session.start("make it faster", { languageId: "python", fileName: "big.py", selection });
    const snap = session.snapshot();
    assert.equal(snap.state, "done");
    const sent = snap.context.selection;
    assert.ok(
      sent && sent.startLine > 1 && sent.endLine < 5001 && sent.startLine <= 1300 && sent.endLine >= 1300,
      JSON.stringify({ ...sent, text: undefined }),
    );
    assert.match(snap.contextNote ?? "", /^Sent lines [\d,]+-[\d,]+ of the 5,001 selected \(lines 1-5,001\), around the cursor/);
    const message = model.calls.find((c) => c.kind === "chat")?.text ?? "";
    assert.ok(message.includes("line 1300\n") && !message.includes("line 5000\n"));
    assert.ok(Math.ceil(message.length / 4) < 4096 - 512 - 512, `the message (${message.length} characters) leaves room for the answer`);
  });

  it("a request that cannot fit fails at once with a clear message, and nothing is sent", async () => {
    const model = new ScriptedModel([], 0.1, { contextSize: 2048, charsPerToken: 4 });
    const session = new ClarifySession(model, settings({ maxCodeTokens: 512 }));
    await session.start("x".repeat(20_000));
    const snap = session.snapshot();
    assert.equal(snap.state, "failed");
    assert.match(
      snap.failure?.message ?? "",
      /^The request is too long for the model: it is 5,0\d\d tokens, and the model's context of 2,048 tokens leaves [\d,]+ for it once room is kept for the answer\. Shorten the request/,
    );
    assert.equal(model.calls.length, 0);
    assert.equal(snap.request.length, 20_000, "the request is kept, to edit");
  });

  it("everything that fits is sent as it is, with no note", async () => {
    const model = new ScriptedModel([proceedReply(), code("x")], 0.1, { contextSize: 8192 });
    const session = new ClarifySession(model, settings());
    const small = { text: "a = 1", startLine: 3, endLine: 3 };
    await session.start("explain", { selection: small, surroundingCode: "b = 2" });
    assert.deepEqual(session.snapshot().context, { selection: small, surroundingCode: "b = 2" });
    assert.equal(session.snapshot().contextNote, undefined);
  });
});

describe("a reopened conversation continues", () => {
  it("the model's history is rebuilt from every saved turn before the follow-up", async () => {
    const { session } = await finishedTurn([askReply("Which order?"), choicesReply("ascending"), code("xs.sort()")], { maxRounds: 1 }, 0.9);
    session.waiveQuestion("r1q1");
    await session.submitAnswers();
    await session.followUp("now add tests").catch(() => undefined);
    const saved: SessionSnapshot = JSON.parse(JSON.stringify(session.snapshot())) as SessionSnapshot;
    const model = new ScriptedModel([proceedReply(), code("def test(): pass")], 0.1);
    const reopened = ClarifySession.restore(model, settings({ maxRounds: 1 }), saved);
    await reopened.regenerate({ askPolicy: "never" });
    assert.equal(reopened.state, "done");
    const [set] = model.historySets;
    const users = set?.exchanges.map((e) => e.user.split("\n")[0]) ?? [];
    assert.deepEqual(users, [
      "Request: sort the list",
      "You decide these: choose a sensible answer to each question, in order, and reply in JSON.",
      "Answers to your questions:",
    ]);
    assert.match(set?.exchanges[2]?.model ?? "", /xs\.sort\(\)/);
    assert.match(model.calls.at(-2)?.text ?? "", /^Follow-up request: now add tests/);
    assert.equal(reopened.snapshot().earlier?.length, 1);
  });

  it("a stopped answer can be continued after a reload", async () => {
    const model = new ScriptedModel([proceedReply(), { hangAfter: ["xs"] }], 0.1);
    const session = new ClarifySession(model, settings());
    const running = session.start("sort", { languageId: "python" });
    await waitFor(() => session.snapshot().answer.endsWith("xs"));
    session.cancel();
    await running;
    const reopenedModel = new ScriptedModel([".sort()\n```"]);
    const reopened = ClarifySession.restore(reopenedModel, settings(), session.snapshot());
    await reopened.continueAnswer();
    assert.equal(reopened.snapshot().answer, "```python\nxs.sort()\n```");
    assert.equal(reopenedModel.historySets[0]?.exchanges.length, 1, "the assessment, without the stopped answer");
  });

  it("refusals are SessionRefusals", async () => {
    const session = new ClarifySession(new ScriptedModel([]), settings());
    await assert.rejects(session.continueAnswer(), SessionRefusal);
    await assert.rejects(session.editRequest("x"), SessionRefusal);
  });
});
