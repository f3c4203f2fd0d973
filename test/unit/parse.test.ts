import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyNativeReply, extractCodeBlocks, parseAssessment, splitQuestions } from "../../src/core/parse.js";
import { nativeCodeAnswerPrefix, nativeQuestionsAnswerPrefix } from "../../src/core/prompts.js";

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
