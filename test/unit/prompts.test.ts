import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  askSchema,
  buildAssessmentMessage,
  buildCodeRequestMessage,
  buildFollowUpAssessmentMessage,
  buildNativeCodeTurn,
  buildNativePrompt,
  codeResponsePrefix,
  describeContext,
  formatAnswers,
  nativeQuestionPrompt,
  proceedSchema,
  waivedAssumption,
} from "../../src/core/prompts.js";
import type { Question } from "../../src/core/types.js";

const q = (over: Partial<Question>): Question => ({ id: "r1q1", round: 1, text: "Which order?", suggestions: [], ...over });

describe("prompts", () => {
  it("describes the editor context: file, language, selection and surrounding code in fences", () => {
    const text = describeContext({ fileName: "src/a.ts", languageId: "typescript", selection: { text: "let x = 1;", startLine: 3, endLine: 3 }, surroundingCode: "// around" });
    assert.equal(text, "File: src/a.ts (typescript)\n\nSelected lines 3-3:\n```typescript\nlet x = 1;\n```\n\nCode around the cursor:\n```typescript\n// around\n```");
    assert.equal(describeContext({}), "");
    assert.equal(describeContext({ languageId: "go", selection: { text: "  ", startLine: 1, endLine: 1 } }), "Language: go");
  });

  it("builds the assessment message with the request, context and the question budget", () => {
    assert.equal(buildAssessmentMessage(" sort it ", {}, 2), "Request: sort it\n\nDecide: ask at most 2 clarifying question(s) about essential missing details, or proceed with stated assumptions. Reply in JSON.");
    assert.match(buildAssessmentMessage("x", { languageId: "python" }, 3), /^Request: x\n\nLanguage: python\n\nDecide: ask at most 3/);
  });

  it("formats answers, waived ones as the assistant's choice", () => {
    assert.equal(formatAnswers([q({ answer: " desc " }), q({ text: "Stable?", waived: true })]), "1. Which order?\n   Answer: desc\n2. Stable?\n   Answer: (you decide: choose a sensible default and state it)");
    assert.match(buildFollowUpAssessmentMessage([q({ answer: "desc" })], 1), /^My answers:\n1\. Which order\?\n {3}Answer: desc\n\nIf something essential is still unclear, ask at most 1 more/);
    assert.equal(waivedAssumption(q({})), 'For "Which order?", the assistant chooses a sensible default and says which.');
  });

  it("the code request carries only what is new in a live conversation, and everything in a fresh one", () => {
    const live = buildCodeRequestMessage({ newAnswers: [q({ answer: "desc" })], assumptions: ["Python 3"] });
    assert.equal(live, "Answers to your questions:\n1. Which order?\n   Answer: desc\n\nAssumptions:\n- Python 3\n\nNow write the code. Reply in markdown with fenced code blocks; keep explanations short.");
    const fresh = buildCodeRequestMessage({ request: "sort", context: { fileName: "a.py" }, newAnswers: [], assumptions: [] });
    assert.equal(fresh, "Request: sort\n\nFile: a.py\n\nNow write the code. Reply in markdown with fenced code blocks; keep explanations short.");
  });

  it("schemas fix the decision and bound the questions", () => {
    assert.deepEqual((askSchema(2) as { properties: { decision: unknown } }).properties.decision, { const: "ask" });
    assert.equal((askSchema(2) as { properties: { questions: { maxItems: number } } }).properties.questions.maxItems, 2);
    assert.equal((askSchema(0) as { properties: { questions: { maxItems: number } } }).properties.questions.maxItems, 1);
    assert.deepEqual((proceedSchema() as { properties: { decision: unknown } }).properties.decision, { const: "proceed" });
  });

  it("a code reply opens a fence in the editor's language", () => {
    assert.equal(codeResponsePrefix("python"), "```python\n");
    assert.equal(codeResponsePrefix("typescriptreact"), "```tsx\n");
    assert.equal(codeResponsePrefix(undefined), "```");
  });

  it("native prompts reproduce the training format exactly", () => {
    assert.equal(buildNativePrompt(" add two numbers ", {}), `${nativeQuestionPrompt} add two numbers`);
    assert.ok(nativeQuestionPrompt.endsWith("or ask clarifying questions:\n"));
    const turn = buildNativeCodeTurn([q({ answer: "ints" })], ["no overflow"]);
    assert.equal(turn, "\n\nAnswers:\n1. Which order?\n   Answer: ints\nAssumptions:\n- no overflow\nGiven above conversations, generate Python3 code directly in markdown to solve the coding problem.\n");
  });
});
