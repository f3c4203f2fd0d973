/** The evaluation's pure parts: reply rules, benchmark rows, the judge's replies, metrics, calibration, report data. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { promptPreamble, pythonLiteral, readBenchmark, selectItems, type Category } from "../../src/core/eval/benchmark.js";
import { calibrate } from "../../src/core/eval/calibration.js";
import {
  askJudge,
  buildJudgePrompt,
  countedGrade,
  echoesQuestion,
  judgeSchema,
  parseJudgeReply,
  whyNotGood,
  withoutEchoes,
} from "../../src/core/eval/judge.js";
import { computeMetrics, judgeHealth, summarizeRows } from "../../src/core/eval/metrics.js";
import { answerFor, isContextOverflow, pickCode, runItem } from "../../src/core/eval/protocol.js";
import { tooLargeMessage } from "../../src/core/budget.js";
import { classifyFirstReply, firstCodeBlock } from "../../src/core/eval/reply.js";
import { buildReportData, judgeHealthCells, judgeWarnings, mdCell, publishedRows, reportMarkdown } from "../../src/core/eval/report-data.js";
import { finishedIds, inItemOrder, latestRows, readEvalRow, type EvalRow } from "../../src/core/eval/results.js";
import { buildRunSummary, manifestDifferences, type RunManifest } from "../../src/core/eval/summary.js";
import { defaultSettings } from "../../src/core/types.js";
import { ScriptedModel, askReply } from "../helpers/scripted-model.js";
import { addItem } from "../helpers/eval-item.js";

describe("reading replies the way HumanEvalComm does", () => {
  it("counts a reply as code only when it starts with a fenced block", () => {
    assert.deepEqual(classifyFirstReply("```python\nx = 1\n```"), { kind: "code", code: "x = 1" });
    assert.deepEqual(classifyFirstReply("  \n```\ny\n```  \n"), { kind: "code", code: "y" });
    assert.equal(classifyFirstReply("Sure:\n```python\nx = 1\n```").kind, "questions");
    assert.deepEqual(classifyFirstReply("What should happen on empty input?"), { kind: "questions", questions: ["What should happen on empty input?"] });
  });

  it("follows their re.M pattern: a reply that starts with a fenced block is code, prose after it or not, and the code is the first block", () => {
    assert.deepEqual(classifyFirstReply("```python\nx = 1\n```\nThis sets x. Anything else?"), { kind: "code", code: "x = 1" });
    // Two blocks: the first is the code, and no fence line ends up inside it.
    assert.deepEqual(classifyFirstReply("```python\nx = 1\n```\n```python\ny = 2\n```"), { kind: "code", code: "x = 1" });
    assert.deepEqual(classifyFirstReply("```python\nx = 1\n```\nor\n```\ny = 2\n```\n"), { kind: "code", code: "x = 1" });
    assert.equal(classifyFirstReply("Which order?\n```python\nx = 1\n```\nmore").kind, "questions", "code after prose is not a code reply");
    assert.equal(classifyFirstReply("```python\nnever closed").kind, "questions");
    // The pattern is stateful (sticky): a second call reads from the start again.
    assert.equal(classifyFirstReply("```\nz\n```").kind, "code");
  });

  it("takes the first complete fenced block anywhere for the tested code and the no-code rate", () => {
    assert.equal(firstCodeBlock("Sure:\n```python\nx = 1\n```\nand\n```\ny\n```"), "x = 1");
    assert.equal(firstCodeBlock("def f():\n    return 1"), undefined, "unfenced code is no code");
    assert.equal(firstCodeBlock("```python\nnever closed"), undefined);
  });

  it("picks the engine's Python block, and gives the judge's answers to the right questions", () => {
    assert.equal(
      pickCode([
        { language: "text", code: "a" },
        { language: "python", code: "b" },
      ]),
      "b",
    );
    assert.equal(pickCode([{ language: "js", code: "a" }]), "a");
    assert.equal(pickCode([]), "");
    assert.equal(answerFor(["x", "", "z"], 0, 3), "x");
    assert.equal(answerFor(["x", "", "z"], 1, 3), undefined, "an empty answer waives the question");
    assert.equal(answerFor(["one block"], 0, 2), "one block");
    assert.equal(answerFor(["one block"], 1, 2), "See the answer to question 1.");
    assert.equal(answerFor([], 0, 2), undefined);
  });
});

const good = (name: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    name,
    prompt: `def ${name.replace(/\W/g, "_")}(x):\n    """Return x."""\n`,
    prompt1a: 'def candidate(x):\n    """Return something."""\n',
    entry_point: name.replace(/\W/g, "_"),
    test_case: [{ input: "1", output: "1", relation: "==" }],
    ...extra,
  });

describe("benchmark rows", () => {
  it("reads good rows and counts each malformed one with its line and reason", () => {
    const text = [
      good("P/0"),
      "{not json",
      JSON.stringify({ name: "P/2", prompt: "x", test_case: [{ input: "1", output: "1", relation: "==" }] }),
      "",
      good("P/3", { test_case: [] }),
      good("P/4", { entry_point: "not a name" }),
      good("P/0"),
      good("P/5", { prompt1c: "   ", test_case: [{ input: [-10, -2], output: 1.5e-10, relation: "from $demo$ import f\nprint(f($input$))" }] }),
    ].join("\n");
    const { problems, malformed } = readBenchmark(text);
    assert.deepEqual(
      problems.map((p) => p.name),
      ["P/0", "P/5"],
    );
    assert.deepEqual(malformed, [
      { line: 2, reason: "not valid JSON" },
      { line: 3, reason: "entry_point Invalid input: expected string, received undefined" },
      { line: 5, reason: "test_case has no test cases" },
      { line: 6, reason: "entry_point is not a Python name" },
      { line: 7, reason: "P/0 appears twice (the first is used)" },
    ]);
    const p5 = problems[1];
    assert.deepEqual(Object.keys(p5?.prompts ?? {}), ["1a", "original"], "a blank modified prompt is absent");
    assert.deepEqual(p5?.tests[0], { input: "[-10, -2]", output: "1.5e-10", relation: "from $demo$ import f\nprint(f($input$))" });
  });

  it("finds what a prompt puts in scope: its import lines and its other functions, not the one to write", () => {
    const prompt = 'from typing import List, Tuple\nimport math\n\n\ndef f(xs: List[int]) -> int:\n    """ import this, from that import nothing\n    """\n';
    assert.equal(promptPreamble(prompt, "f"), "from typing import List, Tuple\nimport math");
    assert.equal(promptPreamble("def f():\n    import os\n", "f"), "", "an indented import is the function's own");
    const helper =
      '\n\ndef is_palindrome(string: str) -> bool:\n    """ Test if given string is a palindrome """\n    return string == string[::-1]\n\n\ndef make_palindrome(string: str) -> str:\n    """ Find the shortest palindrome.\n\n    >>> make_palindrome(\'cat\')\n    \'catac\'\n    """\n';
    assert.equal(
      promptPreamble(helper, "make_palindrome"),
      'def is_palindrome(string: str) -> bool:\n    """ Test if given string is a palindrome """\n    return string == string[::-1]',
    );
    assert.equal(
      promptPreamble(helper.replace("def make_palindrome", "def candidate"), "make_palindrome"),
      promptPreamble(helper, "make_palindrome"),
      "nor candidate, in a modified prompt",
    );
  });

  it("writes JSON test values as Python source", () => {
    assert.equal(pythonLiteral("'a' + 'b'"), "'a' + 'b'", "a top-level string is already Python");
    assert.equal(pythonLiteral([1, "a", true, null, [2.5]]), '[1, "a", True, None, [2.5]]');
    assert.equal(pythonLiteral({ k: false }), '{"k": False}');
  });

  it("samples the same problems for every category, repeatably, in benchmark order", () => {
    const rows = Array.from({ length: 10 }, (_, i) => good(`P/${i}`, i % 2 === 0 ? {} : { prompt1a: undefined, prompt1p: "def candidate(x): ..." }));
    const { problems } = readBenchmark(rows.join("\n"));
    const categories: Category[] = ["1a", "1p", "original"];
    const a = selectItems(problems, { categories, limit: 3, seed: 7 });
    const b = selectItems(problems, { categories, limit: 3, seed: 7 });
    assert.deepEqual(a, b);
    const by = (c: Category): string[] => a.filter((i) => i.category === c).map((i) => i.name);
    assert.equal(by("1a").length, 3);
    assert.equal(by("1p").length, 3);
    assert.equal(by("original").length, 3);
    // The originals are the first three of the seeded order, which the modified categories draw from too.
    const shared = by("original").filter((n) => by("1a").includes(n) || by("1p").includes(n));
    assert.equal(shared.length, 3);
    const order = a.map((i) => Number(i.name.slice(2)));
    assert.deepEqual(
      order,
      [...order].sort((x, y) => x - y),
      "benchmark order",
    );
    assert.notDeepEqual(selectItems(problems, { categories, limit: 3, seed: 8 }), a);
    assert.equal(selectItems(problems, { categories: ["original"], seed: 0 }).length, 10, "no limit: all");
    assert.equal(a[0]?.id, `${a[0]?.name}#${a[0]?.category}`);
  });
});

describe("the judge's replies", () => {
  it("reads HumanEvalComm's text format with their patterns", () => {
    assert.deepEqual(parseJudgeReply("QUALITY=3\nANSWERS=```It sorts ascending.```", "text", 1), { quality: 3, answers: ["It sorts ascending."] });
    assert.deepEqual(parseJudgeReply("QUALITY = 2 ANSWERS=```1. ascending\n2. yes```", "text", 2), { quality: 2, answers: ["ascending", "yes"] });
    assert.deepEqual(parseJudgeReply("ANSWERS=```only this```", "text", 1), { answers: ["only this"], noGrade: "the reply has no QUALITY=<n>" });
    assert.deepEqual(parseJudgeReply("QUALITY=5", "text"), { answers: [], noGrade: "QUALITY=5 is not 1, 2 or 3" });
  });

  it("reads the json format with the changed requirements, and says why when there is no grade", () => {
    const reply = JSON.stringify({
      requirements: [
        { requirement: " order ", asked: true },
        { requirement: "ties", asked: false },
      ],
      quality: 3,
      answers: [" asc "],
    });
    assert.deepEqual(parseJudgeReply(reply, "json", 1), {
      quality: 3,
      answers: ["asc"],
      requirements: [
        { text: "order", recovered: true },
        { text: "ties", recovered: false },
      ],
    });
    assert.deepEqual(parseJudgeReply('{"quality": 3, "answers": ["a', "json"), { answers: [], noGrade: "the reply is not complete JSON (cut off or garbled)" });
    assert.deepEqual(parseJudgeReply('{"quality": 4}', "json"), { answers: [], noGrade: "the reply has an unexpected shape at quality" });
    assert.deepEqual(parseJudgeReply("", "json"), { answers: [], noGrade: "the judge replied with nothing" });
  });

  it("shows the judge both descriptions and the questions, and asks for the chosen format", () => {
    const input = { questions: ["Ascending?", "Ties?"], modified: "sort it", original: "sort ascending, stable" };
    const json = buildJudgePrompt(input, "json");
    assert.match(json, /### QUESTIONS\n1\. Ascending\?\n2\. Ties\?/);
    assert.match(json, /### MODIFIED DESCRIPTION\nsort it/);
    assert.match(json, /### ORIGINAL DESCRIPTION\nsort ascending, stable/);
    assert.match(json, /one answer per question/);
    assert.match(json, /Reply in JSON/);
    assert.match(buildJudgePrompt({ ...input, questions: "Which order?" }, "text"), /QUALITY=<1, 2 or 3> and then ANSWERS=```/);
    assert.deepEqual((judgeSchema(2) as { properties: { answers: { maxItems: number } } }).properties.answers.maxItems, 2);
  });
});

/** A hand-made row: only what the metrics read varies. */
function row(id: string, category: Category, over: Partial<EvalRow> = {}): EvalRow {
  return {
    id: `${id}#${category}`,
    name: id,
    category,
    mode: "paper",
    asked: false,
    questions: [],
    judge: [],
    code: "x",
    tests: { passed: 0, total: 4, statuses: [] },
    turns: 1,
    exchanges: [],
    ms: { model: 1000, judge: 500, tests: 100, total: 1600 },
    ...over,
  };
}

describe("metrics from a hand-made result file", () => {
  const rows: EvalRow[] = [
    // 1a: four items. Asked 3 (no code); graded 3, 2, no grade (communicating: the 3 and the 2); pass 1 of 4; test pass (4/4 + 2/4 + 0 + 1/4)/4 = 0.4375.
    row("A", "1a", {
      asked: true,
      judge: [
        {
          quality: 3,
          answers: ["r1 is so"],
          requirements: [
            { text: "r1", recovered: true },
            { text: "r2", recovered: false },
          ],
        },
      ],
      tests: { passed: 4, total: 4, statuses: [] },
      turns: 2,
    }),
    row("B", "1a", {
      asked: true,
      judge: [{ quality: 2, answers: [], requirements: [{ text: "r1", recovered: true }] }],
      tests: { passed: 2, total: 4, statuses: [] },
      turns: 2,
    }),
    row("C", "1a", { asked: true, judge: [{ noGrade: "cut off", answers: [] }], code: "", tests: { passed: 0, total: 4, statuses: [] }, turns: undefined }),
    row("D", "1a", { tests: { passed: 1, total: 4, statuses: [] } }),
    // 1p: two items, one asked and good, both pass.
    row("A", "1p", {
      asked: true,
      judge: [
        { quality: 3, answers: ["yes"] },
        { noGrade: "x", answers: [] },
      ],
      tests: { passed: 2, total: 2, statuses: [] },
      turns: 3,
    }),
    row("B", "1p", { tests: { passed: 3, total: 3, statuses: [] } }),
    // original: two items; one asked needlessly.
    row("A", "original", { asked: true, judge: [{ quality: 1, answers: [] }], tests: { passed: 4, total: 4, statuses: [] }, turns: 2 }),
    row("B", "original", { tests: { passed: 0, total: 4, statuses: [] }, failure: "The model's reply was neither code nor questions." }),
    // An item that could not be evaluated: left out of every metric, counted apart.
    row("E", "1a", { error: "connection refused" }),
  ];

  it("computes each metric per category exactly", () => {
    const s = summarizeRows(rows);
    assert.deepEqual(s.byCategory["1a"], {
      items: 4,
      communicationRate: 0.5,
      noCodeRate: 0.75,
      goodQuestionRate: 0.25,
      pass1: 0.25,
      testPassRate: 0.4375,
      judged: 3,
      noGrade: 1,
      failures: 0,
      turnsToCode: 5 / 3,
      coverage: 0.75,
      coverageItems: 2,
    });
    assert.deepEqual(s.byCategory["1p"], {
      items: 2,
      communicationRate: 0.5,
      noCodeRate: 0.5,
      goodQuestionRate: 0.5,
      pass1: 1,
      testPassRate: 1,
      judged: 1,
      noGrade: 1,
      failures: 0,
      turnsToCode: 2,
      coverage: null,
      coverageItems: 0,
    });
    assert.equal(s.original?.communicationRate, 0, "graded 1: asked, but not communicating by HumanEvalComm's count");
    assert.equal(s.original?.noCodeRate, 0.5);
    assert.equal(s.original?.goodQuestionRate, 0);
    assert.equal(s.original?.pass1, 0.5);
    assert.equal(s.original?.failures, 1);
    assert.deepEqual(s.errors, [{ id: "E#1a", error: "connection refused" }]);
    assert.equal(s.byCategory["2ac"], undefined, "a category without items has no metrics");
  });

  it("pools every modified category for the overall row, as the published numbers do", () => {
    const m = summarizeRows(rows).modified;
    assert.equal(m?.items, 6);
    assert.equal(m?.communicationRate, 3 / 6);
    assert.equal(m?.noCodeRate, 4 / 6);
    assert.equal(m?.goodQuestionRate, 2 / 6);
    assert.equal(m?.pass1, 3 / 6);
    assert.equal(m?.testPassRate, (1 + 0.5 + 0 + 0.25 + 1 + 1) / 6);
    assert.equal(m?.noGrade, 2);
    assert.equal(computeMetrics([row("Z", "1a", { error: "x" })]), undefined);
  });

  it("the latest row of an item wins, and only outcomes count as finished", () => {
    const retried = [row("E", "1a", { error: "timeout" }), row("F", "1a"), row("E", "1a", { tests: { passed: 4, total: 4, statuses: [] } })];
    assert.equal(latestRows(retried).length, 2);
    assert.deepEqual([...finishedIds(retried)].sort(), ["E#1a", "F#1a"]);
    assert.deepEqual([...finishedIds([row("G", "1a", { error: "x" })])], []);
    assert.equal(readEvalRow({ ...row("H", "1a"), category: "9z" }), undefined);
    assert.equal(readEvalRow({ ...row("H", "1a"), turns: 0 }), undefined);
    assert.deepEqual(readEvalRow(JSON.parse(JSON.stringify(row("H", "1a")))), row("H", "1a"));
    const ordered = inItemOrder([row("P/10", "1a"), row("P/2", "original"), row("P/2", "1p"), row("P/2", "1a")]).map((r) => r.id);
    assert.deepEqual(ordered, ["P/2#1a", "P/2#1p", "P/2#original", "P/10#1a"]);
  });
});

describe("an honest judge, and HumanEvalComm's communication rate", () => {
  const req = (recovered: boolean): { text: string; recovered: boolean } => ({ text: "order", recovered });

  it("counts a 3 as good only with a recovered requirement (json) and a non-empty answer, else as 2 with the reason", () => {
    assert.equal(whyNotGood({ quality: 3, answers: ["Ascending."], requirements: [req(false), req(true)] }), undefined);
    assert.equal(whyNotGood({ quality: 3, answers: ["Ascending."] }), undefined, "text replies list no requirements: only the answer is checked");
    assert.equal(whyNotGood({ quality: 3, answers: ["", " "], requirements: [req(true)] }), "graded 3, but every answer it gave is empty: counted as 2");
    assert.equal(whyNotGood({ quality: 3, answers: ["x"], requirements: [] }), "graded 3, but it named no requirement the modification changed: counted as 2");
    assert.equal(
      whyNotGood({ quality: 3, answers: [], requirements: [req(false)] }),
      "graded 3, but it said none of the changed requirements was asked about and every answer it gave is empty: counted as 2",
    );
    assert.equal(whyNotGood({ quality: 2, answers: [] }), undefined, "only a 3 is checked");
    assert.equal(countedGrade({ quality: 3, answers: [], requirements: [] }), 2);
    assert.equal(countedGrade({ quality: 3, answers: ["a"], requirements: [req(true)] }), 3);
    assert.equal(countedGrade({ answers: [] }), undefined);
  });

  it("never has a communication rate below the good-question rate, over every kind of first round", () => {
    const rounds = [
      undefined,
      { answers: [] },
      { quality: 1 as const, answers: [] },
      { quality: 2 as const, answers: ["a"] },
      { quality: 3 as const, answers: ["a"], requirements: [req(true)] },
      { quality: 3 as const, answers: [], requirements: [req(true)] },
      { quality: 3 as const, answers: ["a"], requirements: [req(false)] },
    ];
    // Every set of 3 rows drawn from those rounds, each with and without code in its first reply.
    for (let n = 0; n < rounds.length ** 3; n++) {
      const picks = [n % rounds.length, Math.floor(n / rounds.length) % rounds.length, Math.floor(n / rounds.length ** 2)];
      const rows = picks.map((k, i) => {
        const r = rounds[k];
        return row(`P${i}`, "1a", { asked: (n + i) % 2 === 0, judge: r ? [r] : [] });
      });
      const m = computeMetrics(rows);
      assert.ok(m && m.communicationRate >= m.goodQuestionRate, `rows ${picks.join(",")}: ${m?.communicationRate} < ${m?.goodQuestionRate}`);
    }
    // The judge that graded 31 of 32 replies 3 with no requirement and no answer: no good questions at all.
    const hollow = Array.from({ length: 32 }, (_, i) =>
      row(`H${i}`, "1a", { asked: true, judge: [i === 0 ? { quality: 1, answers: [] } : { quality: 3, answers: [""], requirements: [] }] }),
    );
    const m = computeMetrics(hollow);
    assert.deepEqual([m?.communicationRate, m?.noCodeRate, m?.goodQuestionRate], [31 / 32, 1, 0]);
  });

  it("reports the judge's health, and flags it unreliable by the stated rule", () => {
    const hollow = Array.from({ length: 4 }, (_, i) => row(`H${i}`, "1a", { asked: true, judge: [{ quality: 3, answers: [""], requirements: [] }] }));
    const h = judgeHealth([...hollow, row("U", "1a", { asked: true, judge: [{ noGrade: "cut off", answers: [] }] }), row("C", "1a")]);
    assert.deepEqual(
      { ...h, warnings: h.warnings.length },
      {
        judged: 5,
        unparsed: 1,
        graded3: 4,
        threeWithoutRequirement: 4,
        threeWithoutAnswer: 4,
        threeNotGood: 4,
        emptyAnswers: 4,
        echoedAnswers: 0,
        reliable: false,
        warnings: 2,
      },
    );
    assert.match(h.warnings.join("; "), /4 of its 4 grades of 3 name no recovered requirement or give no answer; 4 of its 4 graded replies answer nothing/);
    const fine = judgeHealth([
      row("G", "1a", { asked: true, judge: [{ quality: 3, answers: ["asc"], requirements: [req(true)] }] }),
      row("F", "1a", { asked: true, judge: [{ quality: 2, answers: ["x"] }] }),
    ]);
    assert.deepEqual([fine.reliable, fine.warnings], [true, []]);
    const unparsed = judgeHealth([
      row("A", "1a", { judge: [{ noGrade: "no JSON", answers: [] }] }),
      row("B", "1a", { judge: [{ quality: 2, answers: ["x"] }] }),
    ]);
    assert.deepEqual([unparsed.reliable, unparsed.warnings], [false, ["1 of its 2 first-round replies have no usable grade"]]);
    const echoing = judgeHealth([
      row("E", "1a", { asked: true, judge: [{ quality: 2, answers: ["", "ascending"], echoed: 1 }] }),
      row("F", "1a", { asked: true, judge: [{ quality: 2, answers: ["x"] }] }),
    ]);
    assert.deepEqual([echoing.echoedAnswers, echoing.warnings], [1, ["1 of its 3 answers only restate the question"]]);
  });

  it("an answer that only restates its question says nothing: it is emptied before the model sees it", async () => {
    const questions = ["Should the list be sorted in ascending order?", "What should an empty list return?", "Keep duplicates?"];
    assert.equal(echoesQuestion("1. Should the list be sorted in ascending order?", questions[0] ?? ""), true);
    assert.equal(echoesQuestion("should the list be sorted in ascending order", questions[0] ?? ""), true);
    assert.equal(echoesQuestion("Is it descending?", questions[0] ?? ""), true, "a question answers nothing");
    assert.equal(echoesQuestion("Ascending order.", questions[0] ?? ""), false);
    assert.equal(echoesQuestion("", questions[1] ?? ""), false);
    const verdict = withoutEchoes({ quality: 3, answers: [questions[0] ?? "", "An empty list.", "Keep duplicates?"] }, questions);
    assert.deepEqual(verdict, { quality: 3, answers: ["", "An empty list.", ""], echoed: 2 });
    assert.deepEqual(withoutEchoes({ quality: 2, answers: ["asc"] }, "the whole reply"), { quality: 2, answers: ["asc"] });
    // Through the judge: a judge that copies the questions gives answers the model never sees, and its 3 is not good.
    const judge = new ScriptedModel([{ text: `QUALITY=3\nANSWERS=\`\`\`1. ${questions[0]}\n2. ${questions[1]}\n3. ${questions[2]}\`\`\`` }]);
    const v = await askJudge(judge, { questions, modified: "sort", original: "sort ascending" }, { format: "text", maxTokens: 64, temperature: 0 });
    assert.deepEqual(v.answers, ["", "", ""]);
    assert.equal(v.echoed, 3);
    assert.match(whyNotGood(v) ?? "", /every answer it gave is empty/);
    assert.match(buildJudgePrompt({ questions, modified: "m", original: "o" }, "text"), /never repeat or rephrase the question/);
  });
});

describe("ask-threshold calibration", () => {
  const samples = [
    ...[0.9, 0.8, 0.7, 0.4, 0.2].map((p) => ({ p, clear: false })),
    ...[0.75, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05].map((p) => ({ p, clear: true })),
  ];

  it("sweeps every distinct outcome and suggests the most asks on unclear prompts within the clear-prompt budget", () => {
    const c = calibrate(samples, { current: 0.5 });
    assert.ok(!("unavailable" in c));
    assert.equal(c.modifiedItems, 5);
    assert.equal(c.clearItems, 10);
    assert.equal(c.points.length, 10, "nine distinct probabilities and the never-ask end");
    assert.deepEqual(c.points[0], { threshold: 0.025, modifiedAskRate: 1, clearAskRate: 1 });
    assert.deepEqual(c.points[c.points.length - 1], { threshold: 0.95, modifiedAskRate: 0, clearAskRate: 0 });
    // Within 10% of clear prompts: asking when p >= 0.4 asks 4/5 unclear prompts and only the clear 0.75 one; one
    // step lower (p >= 0.3) would ask 2/10 clear ones. The threshold sits between 0.3 and 0.4.
    assert.equal(c.suggestion.modifiedAskRate, 0.8);
    assert.equal(c.suggestion.clearAskRate, 0.1);
    assert.equal(c.suggestion.threshold, 0.35);
    assert.equal(c.suggestion.separates, true);
    assert.deepEqual(c.current, { threshold: 0.5, modifiedAskRate: 0.6, clearAskRate: 0.1 });
    assert.match(c.rule, /at most 10% of the original/);
    assert.equal(c.smallSample, true, "5 and 10 prompts are few");
  });

  it("takes another budget, and says when the probability does not separate the two", () => {
    const wide = calibrate(samples, { maxClearAskRate: 0.2 });
    assert.ok(!("unavailable" in wide));
    assert.deepEqual([wide.suggestion.threshold, wide.suggestion.modifiedAskRate, wide.suggestion.clearAskRate], [0.15, 1, 0.2]);
    const flat = calibrate([...[0.5, 0.5].map((p) => ({ p, clear: false })), ...[0.5, 0.5].map((p) => ({ p, clear: true }))]);
    assert.ok(!("unavailable" in flat));
    assert.equal(flat.suggestion.separates, false);
    assert.equal(flat.suggestion.modifiedAskRate, 0, "never asking is the only choice within 10%");
    assert.match((calibrate([{ p: 0.5, clear: false }]) as { unavailable: string }).unavailable, /original/);
  });
});

describe("run summary and report data", () => {
  const manifest: RunManifest = {
    version: 1,
    benchmark: { file: "bench.jsonl", sha256: "abc", problems: 2 },
    mode: "paper",
    modelSpec: "m.gguf",
    judgeSpec: "j.gguf",
    modelId: "m.gguf",
    judgeId: "j.gguf",
    judgeFormat: "json",
    judgeMaxTokens: 512,
    paper: { maxTokens: 512, temperature: 0 },
    categories: ["1a", "original"],
    seed: 0,
    modelLabel: "Model <b>",
    judgeLabel: "Judge",
    createdAt: "2026-01-01T00:00:00.000Z",
  };

  it("names what changed between a stored run and a new one", () => {
    assert.deepEqual(manifestDifferences(manifest, { ...manifest, createdAt: "later", modelLabel: "other", modelSpec: "http://other" }), []);
    assert.deepEqual(manifestDifferences(manifest, { ...manifest, seed: 3, benchmark: { ...manifest.benchmark, sha256: "def" } }), [
      "the benchmark file's content changed",
      "seed: 0 then, 3 now",
    ]);
  });

  it("puts runs side by side per category and beside every published row, with markdown that model text cannot break", () => {
    const summary = buildRunSummary({
      name: "run|one",
      manifest,
      rows: [row("A", "1a", { asked: true, judge: [{ quality: 3, answers: [] }], tests: { passed: 4, total: 4, statuses: [] } }), row("A", "original")],
      planned: 2,
      malformedRows: [{ line: 3, reason: "not valid JSON" }],
      sandbox: { python: "Python 3", network: "isolated", caseTimeoutMs: 3000, memoryMb: 1024 },
    });
    assert.deepEqual(summary.items, { planned: 2, evaluated: 2, errors: 0 });
    assert.deepEqual(summary.seconds, { item: 1.6, model: 1, judge: 0.5, tests: 0.1 });
    const data = buildReportData([summary, { ...summary, name: "two" }]);
    const comm = data.categoryCharts.find((c) => c.metric === "communicationRate");
    assert.deepEqual(
      comm?.groups.map((g) => [g.label, g.values]),
      [
        ["1a", [100, 100]],
        ["modified", [100, 100]],
        ["original", [0, 0]],
      ],
    );
    const pass1 = data.referenceCharts.find((c) => c.title === "Pass@1 (modified prompts)");
    assert.equal(pass1?.bars.length, 2 + publishedRows.length);
    assert.deepEqual(pass1?.bars[2], { label: "ChatGPT (gpt-3.5-turbo-0125)", value: 31.34, ours: false });
    const md = reportMarkdown(data);
    assert.match(md, /\| 1a \(ambiguous\) \| 100\.0 \| 100\.0 \|/);
    assert.match(md, /\*\*run\\\|one\*\*/, "a pipe in a name does not split the table");
    assert.match(md, /line 3 \(not valid JSON\)/);
    assert.match(md, /## Communication rate \(HumanEvalComm's: judge grade 2 or 3\) \(%\)/);
    assert.match(md, /## No-code first replies \(ours\) \(%\)/);
    assert.match(md, /## The judge's health\n\nRule: the judge is flagged unreliable when/);
    assert.match(md, /\| run\\\|one \| 1 \| 0 \| 1 \| 0 \| 1 \| 1 \| no \|/, "the 3 without an answer is in the judge's health");
    assert.match(md, /> \*\*Warning:\*\* the judge of run\\\|one looks unreliable: 1 of its 1 grades of 3/);
    assert.equal(data.cost[0]?.clearAskRate, 0, "asks on clear prompts: ours, the first reply had no code");
    const unjudged = buildRunSummary({ name: "coded", manifest, rows: [row("A", "1a")], planned: 1, malformedRows: [], sandbox: summary.sandbox });
    assert.deepEqual(judgeHealthCells(unjudged).slice(1), ["0", "0", "0", "0", "0", "0", "nothing judged"]);
    assert.deepEqual(judgeWarnings([unjudged]), []);
    assert.equal(mdCell("<img src=x onerror=alert(1)> | `x`"), "\\<img src=x onerror=alert(1)\\> \\| \\`x\\`");
  });
});

describe("one item through the protocol, with scripted models", () => {
  const item = addItem;
  const tested: string[] = [];
  const runTests = async (code: string): Promise<EvalRow["tests"]> => {
    tested.push(code);
    return { passed: code.includes("a + b") ? 1 : 0, total: 1, statuses: [code.includes("a + b") ? "passed" : "wrong: got 2"] };
  };
  const base = { judgeFormat: "text" as const, judgeMaxTokens: 64, runTests };

  it("paper: questions, the judge's text-format answers, then the code from round 3", async () => {
    const model = new ScriptedModel(["Add or multiply?", "```python\ndef candidate(a, b):\n    return a + b\n```"]);
    const judge = new ScriptedModel(["QUALITY=3\nANSWERS=```Add them.```"]);
    const r = await runItem(item, { mode: "paper", paper: { maxTokens: 64, temperature: 0 } }, { ...base, model, judge });
    assert.equal(r.error, undefined);
    assert.deepEqual([r.asked, r.turns, r.judge, r.tests.passed], [true, 2, [{ quality: 3, answers: ["Add them."] }], 1]);
    assert.equal(model.calls[1]?.text, "Add them.\n Given above conversations, generate Python code directly (Markdown) to solve the coding problem:\n");
    assert.equal(model.calls[1]?.conversation, model.calls[0]?.conversation, "round 3 continues the same conversation");
    assert.deepEqual(model.opened[0], { mode: "chat", systemPrompt: "" });
    assert.equal(judge.calls[0]?.grammar, undefined, "the text format is free text");
  });

  it("engine: a reply the engine cannot read is the product's failure (counted), a call that throws is an error (retried)", async () => {
    const settings = { ...defaultSettings, askPolicy: "always" as const };
    const garbled = await runItem(
      item,
      { mode: "engine", engine: settings },
      { ...base, model: new ScriptedModel(["not json at all"]), judge: new ScriptedModel([]) },
    );
    assert.match(garbled.failure ?? "", /Could not read the model's assessment/);
    assert.equal(garbled.error, undefined);
    assert.deepEqual([garbled.code, garbled.turns, garbled.asked], ["", undefined, false]);
    assert.equal(tested[tested.length - 1], "", "the sandbox sees no code");
    const thrown = await runItem(
      item,
      { mode: "engine", engine: settings },
      { ...base, model: new ScriptedModel([{ error: "socket hang up" }]), judge: new ScriptedModel([]) },
    );
    assert.equal(thrown.error, "socket hang up");
    assert.deepEqual(thrown.tests.statuses, ["not run"]);
    const paperThrown = await runItem(
      item,
      { mode: "paper", paper: { maxTokens: 64, temperature: 0 } },
      { ...base, model: new ScriptedModel([]), judge: new ScriptedModel([]) },
    );
    assert.match(paperThrown.error ?? "", /ran out of replies/);
  });

  it("engine: the model's context size reaches the engine, which refuses a request too large for it as the product does", async () => {
    const settings = { ...defaultSettings, askPolicy: "always" as const };
    const small = new ScriptedModel([], 0.5, { contextSize: 64, charsPerToken: 1 });
    const r = await runItem(item, { mode: "engine", engine: settings }, { ...base, model: small, judge: new ScriptedModel([]) });
    assert.match(r.failure ?? r.error ?? "", /do not fit in the model's context of 64 tokens/, JSON.stringify(r));
    assert.deepEqual(small.calls, [], "nothing was sent to the model");
    // It fails the same way every time: a failure of the item (counted, never retried), not an error.
    assert.equal(r.error, undefined);
    assert.match(r.failure ?? "", /^A request to the model does not fit its context: /);
  });

  it("a request too large for a model's or the judge's context is a failure of the item; other errors stay errors", async () => {
    const paper = { mode: "paper" as const, paper: { maxTokens: 64, temperature: 0 } };
    const refusals = [
      "The context size is too small to generate a response for the given input",
      "http://gpu:8000/v1/chat/completions answered 400: This model's maximum context length is 2048 tokens. However, you requested 4100 tokens.",
      "http://127.0.0.1:8080/v1/chat/completions answered 400: the request exceeds the available context size, try increasing it",
      tooLargeMessage({ requestTokens: 900, available: 100, contextSize: 512, historyTokens: 0 }),
      tooLargeMessage({ requestTokens: 300, available: 100, contextSize: 512, historyTokens: 400 }),
    ];
    for (const refusal of refusals) {
      assert.equal(isContextOverflow(refusal), true, refusal);
      const r = await runItem(item, paper, { ...base, model: new ScriptedModel([{ error: refusal }]), judge: new ScriptedModel([]) });
      assert.deepEqual([r.error, r.failure], [undefined, `A request to the model does not fit its context: ${refusal}`]);
    }
    const judged = await runItem(item, paper, {
      ...base,
      model: new ScriptedModel(["Add or multiply?"]),
      judge: new ScriptedModel([{ error: refusals[0] ?? "" }]),
    });
    assert.match(judged.failure ?? "", /^A request to the judge does not fit its context/);
    assert.equal(finishedIds([judged]).has(item.id), true, "finished: a resumed run does not ask again");
    for (const other of ["socket hang up", "http://gpu:8000/v1 answered 503: overloaded"]) {
      assert.equal(isContextOverflow(other), false);
      const r = await runItem(item, paper, { ...base, model: new ScriptedModel([{ error: other }]), judge: new ScriptedModel([]) });
      assert.deepEqual([r.error, r.failure], [other, undefined]);
    }
    const m = computeMetrics([await runItem(item, paper, { ...base, model: new ScriptedModel([{ error: refusals[1] ?? "" }]), judge: new ScriptedModel([]) })]);
    assert.deepEqual([m?.items, m?.failures, m?.pass1], [1, 1, 0], "counted as an evaluated item that failed");
  });

  it("engine: the judge's per-question answers and waivers reach the code request, and the first probe is kept", async () => {
    // The engine asks the model for its choice on each waived question before it writes the code.
    const model = new ScriptedModel(
      [askReply("Add or multiply?", "Ints?"), JSON.stringify({ choices: ["Integers only"] }), "def add(a, b):\n    return a + b\n```"],
      0.8,
    );
    const judge = new ScriptedModel([JSON.stringify({ requirements: [{ requirement: "add", asked: true }], quality: 3, answers: ["Add.", ""] })]);
    const r = await runItem(item, { mode: "engine", engine: { ...defaultSettings, maxRounds: 1 } }, { ...base, judgeFormat: "json", model, judge });
    assert.equal(r.askProbability, 0.8);
    assert.deepEqual(r.judge, [{ quality: 3, answers: ["Add.", ""], requirements: [{ text: "add", recovered: true }] }]);
    const codeTurn = model.calls.find((c) => c.responsePrefix === "```python\n");
    assert.match(codeTurn?.text ?? "", /Answer: Add\./);
    assert.match(codeTurn?.text ?? "", /You left "Ints\?" to me: I assumed integers only\./);
    assert.match(JSON.stringify(judge.calls[0]?.grammar), /"maxItems":2/);
    assert.deepEqual([r.turns, r.tests.passed, r.code], [2, 1, "def add(a, b):\n    return a + b"]);
  });
});
