/**
 * `clarifycoder eval` end to end on a five-problem benchmark this test writes, with a scripted model and a scripted
 * judge behind a stand-in OpenAI-compatible server (so the endpoint client, its concurrency and the real Python
 * sandbox all take part), in both modes, with exact metrics; then resuming after a crash, retrying failed items,
 * malformed rows and judge replies without a grade, and a report of several runs.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { Command } from "commander";
import { registerEval } from "../../src/cli/commands/eval.js";
import { runEval, runEvalReport, type EvalOptions } from "../../src/cli/eval/run.js";
import { nativeCodeAnswerPrefix, nativeQuestionPrompt, nativeQuestionsAnswerPrefix } from "../../src/core/prompts.js";
import type { EvalRow } from "../../src/core/eval/results.js";
import type { RunSummary } from "../../src/core/eval/summary.js";
import { startOpenAIServer, type RecordedRequest, type StandInReply, type StandInServer } from "../helpers/openai-server.js";

interface Script {
  /** The problem's prompt in this category (what the model sees). */
  prompt: string;
  /** Paper mode: the first reply, and the reply after the judge's answers. */
  first: string;
  third?: string;
  /** Engine mode: the probability of asking, the questions when it asks, and the code after the fence. */
  p: number;
  questions?: string[];
  code: string;
  /** The judge's reply (json format) when it sees this item's questions. */
  judge?: string;
}

const fence = (code: string): string => "```python\n" + code + "\n```";
const judgeJson = (quality: number, answers: string[], requirements: [string, boolean][] = []): string =>
  JSON.stringify({ requirements: requirements.map(([requirement, asked]) => ({ requirement, asked })), quality, answers });

const add = "def add(a, b):\n    return a + b";
const isEven = "def is_even(n):\n    return n % 2 == 0";
const shout = "def shout(s):\n    return s.upper() + '!'";
const mean = "def mean(xs):\n    return sum(xs) / len(xs)";
const root = "def root(c):\n    return c ** 0.5";
const eq = (input: string, output: string): { input: string; output: string; relation: string } => ({ input, output, relation: "==" });
const doc = (name: string, text: string): string => `def ${name}:\n    """${text}"""\n`;

/** name -> entry point, tests, and each category's script. */
const problems: Record<string, { entry: string; tests: { input: string; output: string; relation: string }[]; scripts: Record<string, Script> }> = {
  "T/0": {
    entry: "add",
    tests: [eq("1, 2", "3"), eq("-1, 1", "0")],
    scripts: {
      original: { prompt: doc("add(a, b)", "T0: return the sum of a and b."), first: fence(add), p: 0.1, code: add },
      "1a": {
        prompt: doc("candidate(a, b)", "T0: combine a and b."),
        p: 0.9,
        questions: ["Add or multiply?", "Integers only?"],
        code: add,
        first: "Should the numbers be added or multiplied?",
        third: fence("def candidate(a, b):\n    return a + b"),
        judge: judgeJson(
          3,
          ["Added."],
          [
            ["the numbers are added", true],
            ["any numbers", false],
          ],
        ),
      },
    },
  },
  "T/1": {
    entry: "is_even",
    tests: [eq("4", "True"), eq("3", "False")],
    scripts: {
      original: { prompt: doc("is_even(n)", "T1: whether n is even."), first: fence(isEven), p: 0.2, code: isEven },
      "1p": {
        prompt: doc("candidate(n)", "T1: check n."),
        p: 0.4,
        code: "def is_even(n):\n    return n % 2 == 1",
        // Text around a code block: code for the communication rate, questions for the protocol's branch.
        first: "Here you go:\n" + fence("def candidate(n):\n    return n > 0"),
        third: fence("def candidate(n):\n    return n % 2 == 1"),
        judge: judgeJson(1, [], [["evenness", false]]),
      },
    },
  },
  "T/2": {
    entry: "shout",
    tests: [eq("'hi'", "HI!"), eq("''", "!")],
    scripts: {
      original: { prompt: doc("shout(s)", "T2: upper case with an exclamation mark."), first: fence(shout), p: 0.3, code: shout },
      "1a": {
        prompt: doc("candidate(s)", "T2: make the string loud."),
        p: 0.7,
        questions: ["Upper case <b>or</b> repeat?"],
        code: shout,
        first: "What should happen to <script>alert(1)</script> input?",
        third: fence("def candidate(s):\n    return s.upper()"),
        judge: '{"requirements": [], "quality": 3, "answers": ["Upper ca',
      },
      "1p": {
        prompt: doc("candidate(s)", "T2: change s."),
        p: 0.8,
        questions: ["Which change?"],
        code: shout,
        first: "Which transformation do you want?",
        third: fence("def candidate(s):\n    return s.upper() + '!'"),
        judge: judgeJson(3, ["Upper case plus an exclamation mark."], [["upper case and !", true]]),
      },
    },
  },
  "T/3": {
    entry: "mean",
    tests: [
      { input: "[1.0, 2.0, 3.0]", output: "", relation: "abs(candidate([1.0, 2.0, 3.0]) - 2.0) < 1e-6" },
      { input: "[2.0, 4.0]", output: "3.0", relation: "==" },
    ],
    scripts: {
      original: {
        prompt: doc("mean(xs)", "T3: the arithmetic mean of xs."),
        p: 0.6,
        questions: ["Arithmetic or geometric?"],
        code: mean,
        first: "Do you want the arithmetic mean?",
        third: fence(mean),
        judge: judgeJson(1, ["The arithmetic mean."]),
      },
      "1c": {
        prompt: doc("mean(xs)", "T3: the arithmetic mean of xs, which is the largest value."),
        p: 0.55,
        questions: ["Mean or maximum?"],
        code: mean,
        first: fence("def mean(xs):\n    return sum(xs) / len(xs) + 1"),
        judge: judgeJson(3, ["The arithmetic mean."], [["mean, not maximum", true]]),
      },
    },
  },
  "T/4": {
    entry: "root",
    tests: [{ input: "9.0", output: "", relation: "from $demo$ import root\nprint(abs(root($input$) ** 2 - $input$) < 1e-6)" }],
    scripts: {
      original: { prompt: doc("root(c)", "T4: the square root of c."), first: fence(root), p: 0.05, code: root },
      "1a": {
        prompt: doc("candidate(c)", "T4: a root of c."),
        p: 0.95,
        questions: ["Square or cube?"],
        code: "def root(c):\n    return c ** (1 / 3)",
        first: "Which root: square or cube?",
        third: "I think it is:\n" + fence("def candidate(c):\n    return c ** 0.5") + "\nDone.",
        judge: judgeJson(
          2,
          ["Square root."],
          [
            ["square root", true],
            ["float result", true],
          ],
        ),
      },
    },
  },
};

const entries = Object.entries(problems).flatMap(([name, p]) => Object.entries(p.scripts).map(([category, s]) => ({ name, category, script: s })));
// Modified prompts first: a judge prompt shows the original too, and must be matched to the modified item.
const lookup = [...entries.filter((e) => e.category !== "original"), ...entries.filter((e) => e.category === "original")];

function benchmarkText(): string {
  const rows = Object.entries(problems).map(([name, p]) => {
    const row: Record<string, unknown> = { name, entry_point: p.entry, test_case: p.tests, solution: "" };
    for (const [category, s] of Object.entries(p.scripts)) row[category === "original" ? "prompt" : `prompt${category}`] = s.prompt;
    return JSON.stringify(row);
  });
  rows.splice(2, 0, "{this is not json");
  rows.push(JSON.stringify({ name: "T/9", prompt: doc("x()", "no tests"), entry_point: "x", test_case: [] }));
  return `${rows.join("\n")}\n`;
}

type Message = { role: string; content: string };

/** The scripted model ("coder") and judge ("judge"), answering by which item a request is about. */
function scripted(fail?: (r: RecordedRequest) => StandInReply | undefined): (r: RecordedRequest) => StandInReply {
  return (request) => {
    const failed = fail?.(request);
    if (failed) return failed;
    const body = request.body as {
      model?: string;
      messages?: Message[];
      prompt?: string;
      logprobs?: boolean;
      response_format?: { json_schema?: { schema?: { properties?: { decision?: { const?: string } } } } };
    };
    const messages = body.messages ?? [];
    const all = body.prompt ?? messages.map((m) => m.content).join("\n");
    const item = lookup.find((e) => all.includes(e.script.prompt.trim()));
    if (!item) return { status: 400, body: { error: { message: "no such item" } } };
    const s = item.script;
    const reply = (text: string): StandInReply => ({ text, delayMs: 20 });
    if (body.model === "judge") return reply(s.judge ?? judgeJson(1, []));
    // The native style: raw completions in the fine-tune's training format.
    if (body.prompt !== undefined) {
      if (body.prompt.endsWith(nativeCodeAnswerPrefix)) return reply(`\n${fence(s.code)}`);
      return reply(
        s.questions
          ? `${nativeQuestionsAnswerPrefix}\n${s.questions.map((q, i) => `${i + 1}. ${q}`).join("\n")}`
          : `${nativeCodeAnswerPrefix}\n${fence(s.code)}`,
      );
    }
    if (body.logprobs === true)
      return {
        topLogprobs: [
          { token: "ask", logprob: Math.log(s.p) },
          { token: "proceed", logprob: Math.log(1 - s.p) },
        ],
      };
    const decision = body.response_format?.json_schema?.schema?.properties?.decision?.const;
    if (decision === "ask")
      return reply(JSON.stringify({ decision: "ask", questions: (s.questions ?? ["Anything?"]).map((question) => ({ question, suggestions: [] })) }));
    if (decision === "proceed") return reply(JSON.stringify({ decision: "proceed", assumptions: ["Python 3"] }));
    const last = messages[messages.length - 1];
    if (last?.role === "assistant") return reply(`${s.code}\n\`\`\`\n`);
    return reply(messages.filter((m) => m.role === "user").length === 1 ? s.first : (s.third ?? s.first));
  };
}

let dir: string;
let benchmark: string;
let server: StandInServer;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "eval-run-test-"));
  benchmark = path.join(dir, "bench.jsonl");
  await writeFile(benchmark, benchmarkText());
  server = await startOpenAIServer(scripted(), ["coder", "judge"]);
});
after(() => server.close());

/** Runs the command in this process, quietly; returns its exit code and what it printed. */
/** Parses `eval <args>` as the command line does; a usage error throws (its action never runs: --out is not given). */
function parseEvalArgs(args: string[]): void {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerEval(program);
  program.parse(["eval", ...args], { from: "user" });
}

async function evaluate(options: Partial<EvalOptions> & { out: string }, url = server.url): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  (stderr as unknown as PassThrough).on("data", (d: Buffer) => (err += d.toString()));
  const code = await runEval({ benchmark, model: `${url}#coder`, judge: `${url}#judge`, concurrency: 4, stdout, stderr, ...options });
  return { code, stdout: out, stderr: err };
}

const readSummary = async (out: string): Promise<RunSummary> => JSON.parse(await readFile(path.join(out, "summary.json"), "utf8")) as RunSummary;
const readResults = async (out: string): Promise<EvalRow[]> =>
  (await readFile(path.join(out, "results.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as EvalRow);
const promptsAsked = (requests: readonly RecordedRequest[]): Set<string> => {
  const asked = new Set<string>();
  for (const r of requests) {
    const text = ((r.body.messages as Message[] | undefined) ?? []).map((m) => m.content).join("\n");
    const item = lookup.find((e) => text.includes(e.script.prompt.trim()));
    if (item) asked.add(`${item.name}#${item.category}`);
  }
  return asked;
};

describe("eval, paper mode (HumanEvalComm's protocol)", () => {
  let out: string;
  before(async () => {
    out = path.join(dir, "paper");
    const result = await evaluate({ out });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /2 malformed row\(s\) in .*bench\.jsonl skipped \(line 3: not valid JSON; line 7: test_case has no test cases\)/);
  });

  it("computes every metric exactly, per category and overall", async () => {
    const s = await readSummary(out);
    assert.deepEqual(s.items, { planned: 11, evaluated: 11, errors: 0 });
    assert.deepEqual(s.metrics.modified, {
      items: 6,
      // HumanEvalComm's: graded 2 or 3 (T/0 and T/2 1p graded 3, T/4 graded 2); ours: no code in the first reply.
      communicationRate: 3 / 6,
      noCodeRate: 4 / 6,
      goodQuestionRate: 2 / 6,
      pass1: 0.5,
      testPassRate: 0.5,
      judged: 5,
      noGrade: 1,
      failures: 0,
      turnsToCode: 11 / 6,
      coverage: 0.625,
      coverageItems: 4,
    });
    assert.deepEqual(s.metrics.original, {
      items: 5,
      communicationRate: 0,
      noCodeRate: 0.2,
      goodQuestionRate: 0,
      pass1: 1,
      testPassRate: 1,
      judged: 1,
      noGrade: 0,
      failures: 0,
      turnsToCode: 1.2,
      coverage: null,
      coverageItems: 0,
    });
    const a = s.metrics.byCategory["1a"];
    assert.deepEqual([a?.items, a?.communicationRate, a?.noCodeRate, a?.goodQuestionRate, a?.pass1], [3, 2 / 3, 1, 1 / 3, 2 / 3]);
    assert.deepEqual(s.malformedRows, [
      { line: 3, reason: "not valid JSON" },
      { line: 7, reason: "test_case has no test cases" },
    ]);
    assert.match(s.sandbox.python, /^Python 3/);
    assert.match((s.calibration as { unavailable: string }).unavailable, /guided style/);
  });

  it("records every reply, the judge's grade and answers, the test outcome and the timings", async () => {
    const rows = await readResults(out);
    assert.equal(rows.length, 11);
    const r = rows.find((x) => x.id === "T/0#1a");
    assert.ok(r);
    assert.deepEqual(
      r.exchanges.map((x) => `${x.who}:${x.kind}`),
      ["model:chat", "judge:chat", "model:chat"],
    );
    assert.ok(
      r.exchanges[0]?.sent.startsWith(
        "You are an expert software developer who writes high quality code. With below information, please either generate Python3 code (Respond directly with code only with markdown), or ask clarifying questions: \n def candidate(a, b):",
      ),
    );
    const original = rows.find((x) => x.id === "T/0#original");
    assert.ok(
      original?.exchanges[0]?.sent.startsWith(
        "You are an expert software developer who writes high quality code. With below information, please generate Python3 code (Respond directly with code only with markdown): \n def add(a, b):",
      ),
      "an original problem gets HumanEvalComm's code-only prompt",
    );
    assert.equal(r.exchanges[2]?.sent, "Added.\n Given above conversations, generate Python code directly (Markdown) to solve the coding problem:\n");
    assert.deepEqual(r.judge, [
      {
        quality: 3,
        answers: ["Added."],
        requirements: [
          { text: "the numbers are added", recovered: true },
          { text: "any numbers", recovered: false },
        ],
      },
    ]);
    assert.deepEqual(r.questions, ["Should the numbers be added or multiplied?"]);
    assert.deepEqual(r.tests, { passed: 2, total: 2, statuses: ["passed", "passed"] });
    assert.equal(r.turns, 2);
    assert.ok(r.ms.total >= r.ms.model + r.ms.judge && r.ms.model > 0 && r.ms.tests > 0);
    const noGrade = rows.find((x) => x.id === "T/2#1a");
    assert.equal(noGrade?.judge[0]?.noGrade, "the reply is not complete JSON (cut off or garbled)");
    assert.deepEqual(noGrade?.tests.statuses, ["wrong: got HI", "wrong: got "]);
    assert.equal(rows.find((x) => x.id === "T/1#1p")?.asked, false, "a reply with a code block is not communication");
    assert.equal(rows.find((x) => x.id === "T/1#1p")?.judge.length, 1, "but it is not only code, so it goes to the judge");
  });

  it("ran items concurrently against the endpoint", () => {
    assert.ok(server.maxInFlight > 1, `at most ${server.maxInFlight} request(s) were in flight`);
  });

  it("writes a report: markdown, and self-contained HTML that escapes what the model wrote", async () => {
    const md = await readFile(path.join(out, "report.md"), "utf8");
    assert.match(md, /\| modified \(every modified category together\) \| 66\.7 \|/);
    assert.match(md, /\| paper \| 20\.0 \| 100\.0 \| 50\.0 \| 100\.0 \| 50\.0 \| 1\.83 \| 62\.5 \(4\) \|/);
    const html = await readFile(path.join(out, "report.html"), "utf8");
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.ok((html.match(/<svg /g) ?? []).length >= 4 + 6, "a chart per metric and one per published comparison");
    assert.match(html, /DeepSeek Coder 6\.7B Instruct/);
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(!html.includes("<script"), "no script at all");
    assert.ok(!/https?:\/\//.test(html.replace(/http:\/\/127\.0\.0\.1:\d+\/v1/g, "")), "nothing is fetched");
  });
});

describe("eval, engine mode (our ClarifySession under test)", () => {
  let out: string;
  let requests: RecordedRequest[];
  before(async () => {
    out = path.join(dir, "engine");
    const start = server.requests.length;
    const result = await evaluate({ out, mode: "engine", style: "guided", ask: "auto", decide: "probe", threshold: 0.5, maxRounds: 1 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Suggested clarifycoder\.askThreshold for this model: 0\.650/);
    requests = server.requests.slice(start);
  });

  it("asks when the model's probability of asking passes the threshold, and takes the judge's answers and waivers", async () => {
    const rows = await readResults(out);
    const r = rows.find((x) => x.id === "T/0#1a");
    assert.equal(r?.askProbability !== undefined && Math.abs(r.askProbability - 0.9) < 1e-9, true);
    assert.deepEqual(r?.questions, ["Add or multiply?", "Integers only?"]);
    assert.deepEqual(
      r?.exchanges.map((x) => `${x.who}:${x.kind}`),
      ["model:probe", "model:chat", "judge:chat", "model:chat"],
    );
    // One answer for two questions: it answers the first, the second points to it.
    const code = r?.exchanges[3]?.sent ?? "";
    assert.match(code, /1\. Add or multiply\?\n {3}Answer: Added\.\n2\. Integers only\?\n {3}Answer: See the answer to question 1\./);
    const proceeded = rows.find((x) => x.id === "T/1#1p");
    assert.deepEqual([proceeded?.asked, proceeded?.turns, proceeded?.judge.length], [false, 1, 0]);
    const judged = requests.filter((q) => q.body.model === "judge");
    assert.equal(judged.length, 6, "the judge saw each asking item once (one round)");
  });

  it("computes the metrics of the product, and calibrates the threshold from the stored probabilities", async () => {
    const s = await readSummary(out);
    const m = s.metrics.modified;
    // The engine asked on 5 of 6; the judge graded 4 of those 2 or 3 (T/2's 1a reply has no grade).
    assert.deepEqual(
      [m?.items, m?.communicationRate, m?.noCodeRate, m?.goodQuestionRate, m?.pass1, m?.testPassRate, m?.noGrade, m?.turnsToCode],
      [6, 4 / 6, 5 / 6, 3 / 6, 4 / 6, 4 / 6, 1, 11 / 6],
    );
    assert.deepEqual([s.metrics.original?.communicationRate, s.metrics.original?.noCodeRate, s.metrics.original?.pass1], [0, 0.2, 1]);
    const c = s.calibration;
    assert.ok(!("unavailable" in c));
    assert.equal(c.suggestion.threshold, 0.65);
    assert.equal(c.suggestion.modifiedAskRate, 4 / 6);
    assert.equal(c.suggestion.clearAskRate, 0);
    assert.deepEqual([c.current?.threshold, c.current?.modifiedAskRate, c.current?.clearAskRate], [0.5, 5 / 6, 0.2]);
  });

  it("runs the native style in the fine-tune's own format, through raw completions", async () => {
    const native = path.join(dir, "native");
    const result = await evaluate({ out: native, mode: "engine", style: "native", categories: "1a" });
    assert.equal(result.code, 0, result.stderr);
    const rows = await readResults(native);
    const r = rows.find((x) => x.id === "T/0#1a");
    assert.deepEqual(
      r?.exchanges.map((x) => `${x.who}:${x.kind}`),
      ["model:complete", "judge:chat", "model:complete"],
    );
    assert.ok(r?.exchanges[0]?.sent.startsWith(`${nativeQuestionPrompt} def candidate(a, b):`));
    assert.ok(r?.exchanges[2]?.sent.endsWith(nativeCodeAnswerPrefix));
    assert.deepEqual(r?.questions, ["Add or multiply?", "Integers only?"]);
    const m = (await readSummary(native)).metrics.modified;
    assert.deepEqual([m?.items, m?.communicationRate, m?.noCodeRate, m?.goodQuestionRate, m?.pass1, m?.noGrade], [3, 2 / 3, 1, 1 / 3, 2 / 3, 1]);
    assert.ok("unavailable" in (await readSummary(native)).calibration, "no probe in the native style");
  });

  it("compares runs side by side in one report", async () => {
    const file = path.join(dir, "both.html");
    const stdout = new PassThrough();
    assert.equal(await runEvalReport([path.join(dir, "paper"), out], { out: file, stdout }), 0);
    const html = await readFile(file, "utf8");
    assert.match(html, /<b style="color:#2563eb">paper<\/b>/);
    assert.match(html, /<b style="color:#ea580c">engine<\/b>/);
    assert.match(html, /suggested <code>clarifycoder\.askThreshold<\/code> = <b>0\.650<\/b>/);
    assert.match(html, /<code>"clarifycoder\.askThreshold": 0\.65<\/code>/);
    assert.ok(html.includes("Upper case &lt;b&gt;or&lt;/b&gt; repeat?"));
    const md = await readFile(path.join(dir, "both.md"), "utf8");
    assert.match(md, /\| 1a \(ambiguous\) \| 100\.0 \| 100\.0 \|/);
    assert.match(md, /a rough suggestion: a larger --limit makes it firm/);
    await assert.rejects(runEvalReport([dir], { out: file, stdout }), /has no summary\.json/);
  });
});

describe("eval, resumed and retried", () => {
  it("after a crash mid-write, finishes the rest without asking finished items again, to the same numbers", async () => {
    const out = path.join(dir, "resumed");
    assert.equal((await evaluate({ out })).code, 0);
    const full = await readSummary(out);
    const file = path.join(out, "results.jsonl");
    const lines = (await readFile(file, "utf8")).split("\n");
    const kept = lines.slice(0, 4).map((l) => (JSON.parse(l) as EvalRow).id);
    // The process died while writing the fifth row.
    await writeFile(file, `${lines.slice(0, 4).join("\n")}\n${(lines[4] ?? "").slice(0, 40)}`);
    const fresh = await startOpenAIServer(scripted(), ["coder", "judge"]);
    try {
      const result = await evaluate({ out }, fresh.url);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Resuming: 4 of 11 items are already done/);
      assert.match(result.stderr, /half-written line \(40 bytes/);
      const asked = promptsAsked(fresh.requests);
      assert.equal(asked.size, 7);
      for (const id of kept) assert.ok(!asked.has(id), `${id} was asked again`);
    } finally {
      await fresh.close();
    }
    const resumed = await readSummary(out);
    assert.deepEqual(resumed.metrics, full.metrics);
    assert.equal((await readResults(out)).length, 11);
  });

  it("an item whose model call fails is reported, left out of the metrics, and retried on the next run", async () => {
    const out = path.join(dir, "retried");
    const broken = await startOpenAIServer(
      scripted((r) =>
        JSON.stringify(r.body).includes("T4: a root of c.") && r.body.model === "coder"
          ? { status: 400, body: { error: { message: "bad request" } } }
          : undefined,
      ),
      ["coder", "judge"],
    );
    try {
      const first = await evaluate({ out }, broken.url);
      assert.equal(first.code, 1);
      assert.match(first.stderr, /T\/4#1a: not evaluated \(.*HTTP 400/);
      assert.match(first.stderr, /1 item\(s\) could not be evaluated .* run the same command again to retry them/);
      const s = await readSummary(out);
      assert.deepEqual(s.items, { planned: 11, evaluated: 10, errors: 1 });
      assert.equal(s.metrics.modified?.items, 5);
      assert.match(await readFile(path.join(out, "report.md"), "utf8"), /\| retried \| 10\/11 \| 1 \|/);
    } finally {
      await broken.close();
    }
    const fresh = await startOpenAIServer(scripted(), ["coder", "judge"]);
    try {
      const second = await evaluate({ out }, fresh.url);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual([...promptsAsked(fresh.requests)], ["T/4#1a"]);
    } finally {
      await fresh.close();
    }
    assert.deepEqual((await readSummary(out)).items, { planned: 11, evaluated: 11, errors: 0 });
  });

  it("--retest runs the tests again on the stored code, without a model call", async () => {
    const out = path.join(dir, "retest");
    assert.equal((await evaluate({ out })).code, 0);
    const file = path.join(out, "results.jsonl");
    // As if an older sandbox had judged one item wrongly.
    const tampered = (await readResults(out)).map((r) =>
      r.id === "T/0#original" ? { ...r, tests: { passed: 0, total: 2, statuses: ["timeout", "timeout"] } } : r,
    );
    await writeFile(file, tampered.map((r) => `${JSON.stringify(r)}\n`).join(""));
    const silent = await startOpenAIServer(() => ({ status: 500 }), ["coder", "judge"]);
    try {
      const result = await evaluate({ out, retest: true }, silent.url);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Tested the stored code of 11 items again: 1 outcome\(s\) changed\./);
      assert.equal(silent.requests.length, 0);
    } finally {
      await silent.close();
    }
    assert.deepEqual((await readSummary(out)).metrics.original?.pass1, 1);
  });

  it("refuses to mix runs with other settings in one folder, and checks options before starting", async () => {
    await assert.rejects(evaluate({ out: path.join(dir, "paper"), seed: 5 }), /holds a run with other settings \(seed: 0 then, 5 now\)/);
    await assert.rejects(evaluate({ out: path.join(dir, "x"), categories: "1a,9z" }), /Unknown category "9z"/);
    await assert.rejects(evaluate({ out: path.join(dir, "x"), style: "native" }), /--style only apply with --mode engine/);
    // A number out of its range is refused by the command line, before runEval is called.
    assert.throws(
      () => parseEvalArgs(["--mode", "engine", "--threshold", "2"]),
      /'--threshold <p>' argument '2' is invalid\. It must be a number from 0 to 1\./,
    );
    assert.throws(() => parseEvalArgs(["--limit", "0"]), /'--limit <n>' argument '0' is invalid\. It must be an integer from 1 to 1000000000\./);
    await assert.rejects(evaluate({ out: path.join(dir, "x"), benchmark: path.join(dir, "missing.jsonl") }), /missing\.jsonl does not exist/);
  });
});
