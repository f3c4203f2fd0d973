import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ClarifyModel, ModelConversation, TurnOptions } from "../../src/core/model.js";
import { seedOf } from "../../src/core/random.js";
import {
  buildQuestionsMessage,
  buildRewriteMessage,
  clarifyRecordSchema,
  defaultSynthSettings,
  questionsSchema,
  rewriteSchema,
  runSynthesis,
  synthJobs,
  synthPromptVersion,
  synthRejectionSchema,
  synthSystemPrompt,
  synthesiseOne,
  type SynthJob,
  type SynthOutcome,
  type SynthSettings,
} from "../../src/core/synthesis.js";
import type { CodeTask } from "../../src/core/tasks.js";
import { ScriptedModel } from "../helpers/scripted-model.js";

const task: CodeTask = { id: "t1", layout: "apps", description: "Return the largest integer in a non-empty list of integers.", solutions: [] };
const job: SynthJob = { id: "t1:ambiguous", task, kind: "ambiguous" };
const at = new Date("2026-01-02T03:04:05.000Z");
const settings: SynthSettings = { ...defaultSynthSettings, generator: "scripted", now: () => at };
const rewrite = (description: string): string => JSON.stringify({ plan: "p", description });
const questions = (...q: string[]): string => JSON.stringify({ questions: q });
const modified = "Return the largest value in a list of integers.";

describe("one item", () => {
  it("rewrites, then asks for questions with both versions, and writes the record", async () => {
    const model = new ScriptedModel([rewrite(` ${modified} `), questions("1. Is the largest the maximum by value?", "What if the list is empty?")]);
    const outcome = await synthesiseOne(model, job, settings);
    assert.deepEqual(outcome, {
      status: "accepted",
      record: {
        id: "t1:ambiguous",
        source: "t1",
        kind: "ambiguous",
        original: task.description,
        modified,
        questions: ["Is the largest the maximum by value?", "What if the list is empty?"],
        generator: "scripted",
        promptVersion: synthPromptVersion,
        createdAt: "2026-01-02T03:04:05.000Z",
      },
    });
    assert.ok(outcome.status === "accepted" && clarifyRecordSchema.safeParse(outcome.record).success);
    assert.deepEqual(model.opened, [
      { mode: "chat", systemPrompt: synthSystemPrompt },
      { mode: "chat", systemPrompt: synthSystemPrompt },
    ]);
    assert.equal(model.closed, 2);
    const [first, second] = model.calls;
    assert.equal(first?.text, buildRewriteMessage("ambiguous", task.description));
    assert.deepEqual(first?.grammar, rewriteSchema);
    assert.equal(first?.seed, seedOf("1/t1:ambiguous/rewrite"));
    assert.equal(first?.temperature, 0.1);
    assert.equal(second?.text, buildQuestionsMessage("ambiguous", task.description, modified));
    assert.deepEqual(second?.grammar, questionsSchema(5));
    assert.equal(second?.seed, seedOf("1/t1:ambiguous/questions"));
  });

  it("the prompts: each kind asks for its own change; step 2 shows both versions and forbids mentioning the original", () => {
    assert.match(buildRewriteMessage("ambiguous", "X"), /AMBIGUOUS/);
    assert.match(buildRewriteMessage("inconsistent", "X"), /INCONSISTENT/);
    assert.match(buildRewriteMessage("incomplete", "X"), /INCOMPLETE/);
    assert.ok(buildRewriteMessage("incomplete", "  the task  ").includes("<task>\nthe task\n</task>"));
    const step2 = buildQuestionsMessage("inconsistent", "clear one", "unclear one");
    assert.ok(step2.includes("<as-written>\nunclear one\n</as-written>") && step2.includes("<meant>\nclear one\n</meant>"));
    assert.match(step2, /never mention or hint at another version, an original/);
  });

  it("the prompts are pinned to their version: change one and bump synthPromptVersion (then update this hash)", () => {
    const all = JSON.stringify([
      synthSystemPrompt,
      ...(["ambiguous", "inconsistent", "incomplete"] as const).flatMap((k) => [buildRewriteMessage(k, "T"), buildQuestionsMessage(k, "O", "M")]),
      rewriteSchema,
      questionsSchema(5),
    ]);
    assert.equal(`${synthPromptVersion} ${seedOf(all).toString(16)}`, "clarifycoder-synth-2 32593b70");
  });

  it("rejects a reply cut off at the token limit, a reply that is not the JSON asked for, and each filter's failure", async () => {
    const reject = async (...replies: ConstructorParameters<typeof ScriptedModel>[0]): Promise<Record<string, unknown>> => {
      const outcome = await synthesiseOne(new ScriptedModel(replies), job, settings);
      assert.equal(outcome.status, "rejected");
      const rejection = outcome.status === "rejected" ? outcome.rejection : undefined;
      assert.ok(synthRejectionSchema.safeParse(rejection).success);
      const { id: _i, source: _s, kind: _k, generator: _g, promptVersion: _p, createdAt: _c, ...rest } = rejection ?? {};
      return rest;
    };
    assert.deepEqual(await reject({ text: '{"plan":"p","descr', stopReason: "maxTokens" }), {
      step: "rewrite",
      reason: "cut-off",
      message: "the reply hit the token limit before it was complete (1536 tokens)",
      reply: '{"plan":"p","descr',
    });
    assert.deepEqual(await reject("Sure! Here is the task: ..."), {
      step: "rewrite",
      reason: "unreadable",
      message: "the reply is not the JSON asked for",
      reply: "Sure! Here is the task: ...",
    });
    assert.equal((await reject('{"text": "x"}')).reason, "unreadable");
    assert.deepEqual(await reject(rewrite(task.description)), {
      step: "rewrite",
      reason: "unchanged",
      message: "the rewrite is the task unchanged",
      modified: task.description,
    });
    assert.deepEqual(await reject(rewrite(modified), questions("Is it the maximum? Yes, by value.")), {
      step: "questions",
      reason: "not-a-question",
      message: 'an item is not a question: "Is it the maximum? Yes, by value."',
      modified,
      questions: ["Is it the maximum? Yes, by value."],
    });
    assert.equal((await reject(rewrite(modified), questions("In the original task, was it by value?"))).reason, "mentions-original");
    assert.equal((await reject(rewrite(modified), { text: '{"questions": ["Which', stopReason: "maxTokens" })).step, "questions");
  });

  it("a generator that throws fails the item (to be retried), and an aborted turn writes nothing", async () => {
    assert.deepEqual(await synthesiseOne(new ScriptedModel([{ error: "connection reset" }]), job, settings), { status: "failed", error: "connection reset" });
    const controller = new AbortController();
    const pending = synthesiseOne(new ScriptedModel([{ hangAfter: ['{"plan"'] }]), job, settings, controller.signal);
    setTimeout(() => controller.abort(), 5);
    assert.deepEqual(await pending, { status: "aborted" });
  });
});

/** A generator that answers from the message after a delay, counting requests in flight. */
class SlowModel implements ClarifyModel {
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly delayMs: number,
    private readonly reply: (message: string) => string | Error,
  ) {}
  async openConversation(): Promise<ModelConversation> {
    const chat = async (message: string, turn: TurnOptions) => {
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      try {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.delayMs);
          turn.signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
        if (turn.signal?.aborted) return { text: "", stopReason: "abort" as const, evaluatedInputTokens: 0, outputTokens: 0 };
        const text = this.reply(message);
        if (text instanceof Error) throw text;
        return { text, stopReason: "eogToken" as const, evaluatedInputTokens: 1, outputTokens: 1 };
      } finally {
        this.inFlight -= 1;
      }
    };
    return { chat, probe: async () => ({}), complete: chat, setHistory: async () => undefined, close: async () => undefined };
  }
}

const tasks: CodeTask[] = Array.from({ length: 4 }, (_, i) => ({
  id: `t${i}`,
  layout: "apps",
  description: `Task number ${i}: return the sum of the numbers in a list, ignoring negative numbers.`,
  solutions: [],
}));
const byTask = (message: string): string => {
  if (message.includes("<task>")) {
    const n = /Task number (\d)/.exec(message)?.[1] ?? "?";
    // Tasks 2 and 3 get the same rewrite for every kind: all but the first of them are duplicates.
    return rewrite(
      Number(n) >= 2 ? "Return a sum of some numbers in a list, maybe ignoring some of them." : `Task ${n}: return a sum of the numbers in a list.`,
    );
  }
  return questions("Which numbers count?");
};

describe("a run", () => {
  it("a repeated rewrite is a duplicate of the first item that had it, including rows from an earlier run", async () => {
    const seen: [string, SynthOutcome["status"], string][] = [];
    const result = await runSynthesis({
      model: new SlowModel(0, byTask),
      jobs: synthJobs(tasks, ["ambiguous", "incomplete"]),
      settings,
      concurrency: 1,
      accepted: [{ id: "old:ambiguous", modified: "Task 1: return a sum of the numbers in a list." }],
      onOutcome: (j, o) => void seen.push([j.id, o.status, o.status === "rejected" ? o.rejection.message : ""]),
    });
    assert.deepEqual(result, { accepted: 2, rejected: 6, failed: 0 });
    const duplicateOf = (id: string): string => `the same rewrite is already in the data: ${id}`;
    assert.deepEqual(seen, [
      ["t0:ambiguous", "accepted", ""],
      ["t0:incomplete", "rejected", duplicateOf("t0:ambiguous")],
      ["t1:ambiguous", "rejected", duplicateOf("old:ambiguous")],
      ["t1:incomplete", "rejected", duplicateOf("old:ambiguous")],
      ["t2:ambiguous", "accepted", ""],
      ["t2:incomplete", "rejected", duplicateOf("t2:ambiguous")],
      ["t3:ambiguous", "rejected", duplicateOf("t2:ambiguous")],
      ["t3:incomplete", "rejected", duplicateOf("t2:ambiguous")],
    ]);
  });

  it("keeps exactly `concurrency` items in flight, and every item is reported once", async () => {
    const model = new SlowModel(15, (m) =>
      m.includes("<task>") ? rewrite(`${/Task number (\d)/.exec(m)?.[1]} is a changed task with other words.`) : questions("Which?"),
    );
    const ids: string[] = [];
    const jobs = synthJobs(tasks, ["ambiguous", "inconsistent", "incomplete"]);
    const result = await runSynthesis({ model, jobs, settings, concurrency: 3, onOutcome: (j) => void ids.push(j.id) });
    assert.equal(model.maxInFlight, 3);
    assert.equal(result.accepted + result.rejected, 12);
    assert.deepEqual([...ids].sort(), jobs.map((j) => j.id).sort());
  });

  it("stops taking items when interrupted, and reports none of the aborted ones", async () => {
    const controller = new AbortController();
    const ids: string[] = [];
    const model = new SlowModel(20, byTask);
    setTimeout(() => controller.abort(), 70);
    const result = await runSynthesis({
      model,
      jobs: synthJobs(tasks, ["ambiguous", "incomplete"]),
      settings,
      concurrency: 2,
      signal: controller.signal,
      onOutcome: (j) => void ids.push(j.id),
    });
    assert.deepEqual(result.stopped, { reason: "interrupted" });
    assert.ok(ids.length >= 2 && ids.length < 8, `${ids.length} reported`);
    assert.equal(result.accepted + result.rejected, ids.length);
  });

  it("stops when the generator fails several items in a row, and goes on past isolated failures", async () => {
    let calls = 0;
    const dead = new SlowModel(0, () => new Error("HTTP 401: bad key"));
    const failing = await runSynthesis({
      model: dead,
      jobs: synthJobs(tasks, ["ambiguous", "inconsistent", "incomplete"]),
      settings,
      concurrency: 1,
      onOutcome: () => undefined,
    });
    assert.deepEqual(failing, { accepted: 0, rejected: 0, failed: 5, stopped: { reason: "failing", error: "HTTP 401: bad key" } });
    const flaky = new SlowModel(0, (m) => (++calls % 3 === 0 ? new Error("flaky") : byTask(m)));
    const result = await runSynthesis({
      model: flaky,
      jobs: synthJobs(tasks, ["ambiguous", "incomplete"]),
      settings,
      concurrency: 1,
      onOutcome: () => undefined,
    });
    assert.equal(result.stopped, undefined);
    assert.ok(result.failed > 0 && result.failed < 8);
  });
});
