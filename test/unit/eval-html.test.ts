/** report.html: whatever a model, a judge or a benchmark row wrote is shown as text, never as markup. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { escapeHtml, renderReportHtml } from "../../src/cli/eval/html.js";
import { buildReportData } from "../../src/core/eval/report-data.js";
import type { EvalRow } from "../../src/core/eval/results.js";
import { buildRunSummary, type RunManifest } from "../../src/core/eval/summary.js";

const corpus = [
  "<script>alert(1)</script>",
  '"><img src=x onerror=alert(2)>',
  "'><svg onload=alert(3)>",
  "</pre></details><iframe src=javascript:alert(4)>",
  "<style>body{display:none}</style>",
  "&lt;already escaped&gt; & <b>bold</b>",
];
const evil = corpus.join(" ");

const manifest: RunManifest = {
  version: 1,
  benchmark: { file: `bench${evil}.jsonl`, sha256: "0", problems: 1 },
  mode: "engine",
  modelSpec: evil,
  judgeSpec: evil,
  modelId: evil,
  judgeId: evil,
  judgeFormat: "json",
  judgeMaxTokens: 64,
  engine: {
    askPolicy: "auto",
    maxQuestions: 3,
    maxRounds: 2,
    askThreshold: 0.5,
    style: "guided",
    maxAssessmentTokens: 512,
    maxCodeTokens: 512,
    temperature: 0,
  },
  categories: ["1a", "original"],
  seed: 0,
  modelLabel: evil,
  judgeLabel: evil,
  createdAt: "2026-01-01T00:00:00.000Z",
};

const row = (category: "1a" | "original", p: number): EvalRow => ({
  id: `P/0${evil}#${category}`,
  name: `P/0${evil}`,
  category,
  mode: "engine",
  asked: true,
  askProbability: p,
  questions: [evil],
  judge: [
    { quality: 3, answers: [evil], requirements: [{ text: evil, recovered: true }] },
    { noGrade: evil, answers: [] },
  ],
  code: evil,
  tests: { passed: 0, total: 1, statuses: [evil] },
  turns: 2,
  exchanges: [{ who: "model", kind: "chat", sent: evil, reply: evil, ms: 5, stopReason: evil }],
  ms: { model: 5, judge: 1, tests: 1, total: 7 },
  failure: evil,
});

describe("report.html", () => {
  it("escapes every text from a model, a judge, a benchmark or a run's name, in content and attributes", () => {
    const rows = [row("1a", 0.9), row("original", 0.1), { ...row("1a", 0.5), id: "P/1#1a", error: evil }];
    const summary = buildRunSummary({
      name: `run${evil}`,
      manifest,
      rows,
      planned: 3,
      malformedRows: [{ line: 2, reason: evil }],
      sandbox: { python: evil, network: evil, caseTimeoutMs: 3000, memoryMb: 1024 },
    });
    const html = renderReportHtml(buildReportData([summary]), [{ run: summary.name, rows }]);
    for (const bad of ["<script", "<img", "<svg onload", "<iframe", "<style>body", "<b>bold", 'onerror=alert(2)>"', "'><svg"]) {
      assert.ok(!html.includes(bad), `found ${bad}`);
    }
    assert.equal(html.split("&lt;script&gt;alert(1)&lt;/script&gt;").length - 1 >= 10, true, "the text is there, escaped, wherever it was shown");
    assert.ok(html.includes("&amp;lt;already escaped&amp;gt;"), "already-escaped text is shown as written");
    // The only markup is ours: a fixed set of tags.
    const tags = new Set([...html.matchAll(/<([a-z][a-z0-9]*)/g)].map((m) => m[1]));
    const ours = [
      "html",
      "head",
      "meta",
      "title",
      "style",
      "body",
      "h1",
      "h2",
      "h3",
      "h4",
      "ul",
      "li",
      "b",
      "p",
      "div",
      "span",
      "i",
      "svg",
      "line",
      "text",
      "rect",
      "polyline",
      "circle",
      "figure",
      "figcaption",
      "table",
      "thead",
      "tbody",
      "tr",
      "th",
      "td",
      "code",
      "details",
      "summary",
      "pre",
      "br",
    ];
    assert.deepEqual(
      [...tags].filter((t) => t !== undefined && !ours.includes(t)),
      [],
    );
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/);
  });

  it("shows both communication rates, the judge's health and a warning when the judge is unreliable", () => {
    const hollow = { ...row("1a", 0.9), judge: [{ quality: 3 as const, answers: [""], requirements: [] }] };
    const summary = buildRunSummary({
      name: "hollow",
      manifest,
      rows: [hollow],
      planned: 1,
      malformedRows: [],
      sandbox: { python: "3", network: "isolated", caseTimeoutMs: 3000, memoryMb: 1024 },
    });
    const html = renderReportHtml(buildReportData([summary]), [
      {
        run: "hollow",
        rows: [{ ...hollow, judge: [{ quality: 3, answers: [""], requirements: [], notGood: "graded 3, but every answer it gave is empty: counted as 2" }] }],
      },
    ]);
    assert.match(html, /<figcaption>Communication rate \(HumanEvalComm&#39;s: judge grade 2 or 3\) \(%\)<\/figcaption>/);
    assert.match(html, /<figcaption>No-code first replies \(ours\) \(%\)<\/figcaption>/);
    assert.match(html, /<p class="warning"><b>Warning:<\/b> the judge of hollow looks unreliable: 1 of its 1 grades of 3 name no recovered requirement/);
    assert.match(html, /<h2>The judge's health<\/h2>\n<table><thead><tr><th>run<\/th>/);
    assert.match(html, /<td>hollow<\/td><td>1<\/td><td>0<\/td><td>1<\/td><td>1<\/td><td>1<\/td><td>1<\/td><td>no<\/td>/);
    assert.match(html, /grade 3 \(counted 2\)/);
    assert.match(html, /grade 3 \(graded 3, but every answer it gave is empty: counted as 2\)/);
    const fine = buildRunSummary({
      name: "fine",
      manifest,
      rows: [row("1a", 0.9)],
      planned: 1,
      malformedRows: [],
      sandbox: { python: "3", network: "isolated", caseTimeoutMs: 3000, memoryMb: 1024 },
    });
    assert.ok(!renderReportHtml(buildReportData([fine])).includes('class="warning"'), "no warning for a judge that backs its grades");
  });

  it("escapes the five characters that matter, and nothing else", () => {
    assert.equal(escapeHtml(`<a href="x" title='y'>&</a> é ✓`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt; é ✓");
  });
});
