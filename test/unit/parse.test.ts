import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  classifyNativeReply,
  comparisonKey,
  distinctTexts,
  endCleanly,
  joinCutTexts,
  extractCodeBlocks,
  isProtocolReply,
  parseAssessment,
  parseChoices,
  splitQuestions,
  withoutListMarker,
} from "../../src/core/parse.js";
import { assessmentLengths, nativeCodeAnswerPrefix, nativeQuestionsAnswerPrefix } from "../../src/core/prompts.js";

describe("parseAssessment", () => {
  it("reads ask and proceed replies", () => {
    const ask = parseAssessment('{"decision":"ask","questions":[{"question":" Which? ","suggestions":["a","a","",  "b"]}]}', { maxQuestions: 3 });
    assert.deepEqual(ask, { ok: true, value: { decision: "ask", questions: [{ text: "Which?", suggestions: ["a", "b"] }] } });
    const proceed = parseAssessment('{"decision":"proceed","assumptions":["x", " ", "x"]}', { maxQuestions: 3 });
    assert.deepEqual(proceed, { ok: true, value: { decision: "proceed", assumptions: ["x"] } });
    const noSuggestions = parseAssessment('{"decision":"ask","questions":[{"question":"Q?"}]}', { maxQuestions: 3 });
    assert.deepEqual(noSuggestions, { ok: true, value: { decision: "ask", questions: [{ text: "Q?", suggestions: [] }] } });
  });

  it("rejects cut-off, empty, garbled and mis-shaped replies with a specific reason", () => {
    const cases: [string, RegExp][] = [
      ['{"decision":"ask","questions":[{"question":"Wh', /not complete JSON/],
      ["", /replied with nothing/],
      ["hello", /not complete JSON/],
      ['{"decision":"maybe"}', /unexpected shape at decision/],
      ['{"decision":"ask","questions":[]}', /unexpected shape at questions/],
      ['{"decision":"ask","questions":[{"question":"   "}]}', /unexpected shape at questions\.0\.question/],
      ["[1,2]", /unexpected shape/],
    ];
    for (const [text, reason] of cases) {
      const r = parseAssessment(text, { maxQuestions: 3 });
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.error, reason, text);
    }
  });
});

describe("what counts as the same question or assumption", () => {
  it("compares without numbering, punctuation, case or spacing", () => {
    assert.equal(comparisonKey("1. The log line is in JSON format."), comparisonKey("2) the log line is in JSON  format"));
    assert.equal(comparisonKey("Q3: Which order?"), "which order");
    assert.notEqual(comparisonKey("Which order?"), comparisonKey("Which format?"));
    assert.equal(withoutListMarker("- Use UTC."), "Use UTC.");
    assert.equal(withoutListMarker("2024 is a leap year."), "2024 is a leap year.", "a number that is not a list marker stays");
  });

  it("the same assumption five times with only its numbering changed is stated once, and its numbering goes", () => {
    const five = [1, 2, 3, 4, 5].map((n) => `${n}. The log line is in JSON format.`);
    const parsed = parseAssessment(JSON.stringify({ decision: "proceed", assumptions: [...five, "Times are in UTC"] }), { maxQuestions: 3 });
    assert.deepEqual(parsed, { ok: true, value: { decision: "proceed", assumptions: ["The log line is in JSON format.", "Times are in UTC"] } });
    const asked = parseAssessment(JSON.stringify({ decision: "ask", questions: [{ question: "1. Which order?" }, { question: "2. which ORDER" }] }), {
      maxQuestions: 3,
    });
    assert.deepEqual(asked.ok && asked.value.decision === "ask" ? asked.value.questions.map((q) => q.text) : [], ["Which order?"]);
    assert.deepEqual(distinctTexts(["A.", "a", "", "B"], new Set(["b"])), ["A."]);
  });
});

describe("a text cut at the grammar's length cap ends cleanly", () => {
  it("cuts back to a whole word, never on a small word, with an ellipsis", () => {
    const cut = "Use a dictionary keyed by account number to ensure that data is";
    assert.equal(endCleanly(cut, cut.length), "Use a dictionary keyed by account number to ensure that data…");
    assert.equal(endCleanly("Validate the input and raise an error for the", 46), "Validate the input and raise an error…");
    assert.equal(endCleanly("Short answer", 100), "Short answer", "under the cap: unchanged");
    const sentences = "Return null for bad input. Also log a warning and keep going with the next line of";
    assert.equal(endCleanly(sentences, sentences.length), "Return null for bad input. Also log a warning and keep going with the next line…");
    const mostly = "Keep the original order of the items and drop any later copies. Then remove the dup";
    assert.equal(
      endCleanly(mostly, mostly.length),
      "Keep the original order of the items and drop any later copies.",
      "a whole sentence that keeps most of it",
    );
    const twoSentences = "Keep the original order of the items. Then remove the duplicates from the lis";
    assert.equal(endCleanly(twoSentences, twoSentences.length), "Keep the original order of the items. Then remove the duplicates…");
  });

  it("a suggestion the grammar cut at its cap is ended cleanly when the assessment is read", () => {
    const long = `${"word ".repeat(30)}and the`.slice(0, assessmentLengths.suggestion);
    const parsed = parseAssessment(JSON.stringify({ decision: "ask", questions: [{ question: "Q?", suggestions: [long, "short"] }] }), {
      maxQuestions: 1,
      lengths: assessmentLengths,
    });
    assert.ok(parsed.ok && parsed.value.decision === "ask");
    const [first, second] = parsed.value.questions[0]?.suggestions ?? [];
    assert.ok(first?.endsWith("word…"), first);
    assert.equal(second, "short");
  });

  it("a suggestion the grammar cut whose rest came as the next item is one chip, not two", () => {
    const cap = assessmentLengths.suggestion;
    const head = `Return the ${"value ".repeat(40)}`.slice(0, cap).trimEnd();
    const parsed = parseAssessment(
      JSON.stringify({
        decision: "ask",
        questions: [{ question: "Q?", suggestions: [head, "number itself.", "Raise ValueError", "lower case but not cut."] }],
      }),
      { maxQuestions: 1, lengths: assessmentLengths },
    );
    assert.ok(parsed.ok && parsed.value.decision === "ask");
    assert.deepEqual(parsed.value.questions[0]?.suggestions, [`${head} number itself.`, "Raise ValueError", "lower case but not cut."]);
    assert.deepEqual(joinCutTexts(["Short one", "and another."], cap), ["Short one", "and another."], "a short text was not cut: its neighbour stands alone");
    const twice = "x".repeat(cap);
    assert.deepEqual(
      joinCutTexts([twice, `and ${"more ".repeat(30)}`.slice(0, cap - 1) + "."], cap).map((t) => t.endsWith("…")),
      [true],
      "both parts cut: the whole is ended cleanly",
    );
  });

  it("the choices for questions left to the assistant: one per question, or an error", () => {
    assert.deepEqual(parseChoices('{"choices":["1. ascending", " UTC "]}', 2, 100), { ok: true, value: ["ascending", "UTC"] });
    assert.equal(parseChoices('{"choices":["a"]}', 2, 100).ok, false);
    assert.equal(parseChoices('{"choices":["a"', 1, 100).ok, false);
  });
});

describe("a code reply that is our own protocol", () => {
  it("is recognised bare, in a json block, inside the fence opened for code, and cut off", () => {
    assert.ok(isProtocolReply('```json\n{"decision": "proceed", "assumptions": ["x"]}\n```'));
    assert.ok(isProtocolReply('```python\n{"decision": "proceed", "assumptions": []}\n```'));
    assert.ok(isProtocolReply('```python\njson\n{"decision": "proceed", "assumptions": []}\n```'), "a json fence meant inside the opened one");
    assert.ok(isProtocolReply('{"decision":"ask","questions":[{"question":"Q?"}]}'));
    assert.ok(isProtocolReply('```python\n{"decision": "proceed", "assumptions": ["The log'));
  });

  it("real code, and JSON that is the user's data, are not", () => {
    assert.equal(isProtocolReply("```python\ndef f():\n    return 1\n```"), false);
    assert.equal(isProtocolReply('```json\n{"decision": "approve", "amount": 3}\n```'), false);
    assert.equal(isProtocolReply('```json\n{"decision": "proceed", "user": "bob"}\n```'), false);
  });
});

describe("classifyNativeReply", () => {
  it("never shows code as questions", () => {
    assert.equal(classifyNativeReply("Some words\n```python\nx=1\n```\nmore").kind, "code");
    assert.deepEqual(classifyNativeReply(`${nativeCodeAnswerPrefix}\n\`\`\`python\nx=1\n\`\`\``), { kind: "code", code: "x=1" });
    assert.deepEqual(classifyNativeReply(`${nativeQuestionsAnswerPrefix} 1. A? 2. B?`).kind, "questions");
  });
});

describe("splitQuestions", () => {
  it("splits numbered and bulleted lists, joining wrapped lines", () => {
    assert.deepEqual(splitQuestions("1. What is x?\n2) Is y\nsorted?\n- And z?"), ["What is x?", "Is y sorted?", "And z?"]);
    assert.deepEqual(splitQuestions(`${nativeQuestionsAnswerPrefix}\n* One?\n* Two?`), ["One?", "Two?"]);
  });
  it("falls back to sentences ending in a question mark, then to the whole text", () => {
    assert.deepEqual(splitQuestions("I wonder. Is it sorted? And unique? Thanks."), ["Is it sorted?", "And unique?"]);
    assert.deepEqual(splitQuestions("Please clarify the input format"), ["Please clarify the input format"]);
    assert.deepEqual(splitQuestions("   "), []);
  });
});

describe("extractCodeBlocks", () => {
  it("finds fenced blocks with their language, including an unclosed one while streaming", () => {
    const md = "Text\n\n```ts\nconst a = 1;\n```\n\n    indented is not a block\n\n```\nplain\n```\n\n```python\nstill going";
    assert.deepEqual(extractCodeBlocks(md), [
      { language: "ts", code: "const a = 1;" },
      { language: "", code: "plain" },
      { language: "python", code: "still going" },
    ]);
  });
});
