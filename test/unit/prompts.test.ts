import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  buildAssessmentMessage,
  buildCodeRequestMessage,
  buildFollowUpAssessmentMessage,
  buildNativeCodeTurn,
  buildNativePrompt,
  buildPlainCodeMessage,
  codeResponsePrefix,
  describeContext,
  formatAnswers,
  nativeQuestionPrompt,
  waivedAssumption,
  assessmentLengths,
  buildChoicesMessage,
  choiceAssumption,
} from "../../src/core/prompts.js";
import { askSchema, assessmentSchema, choicesSchema, parseAssessment, parseChoices, proceedSchema } from "../../src/core/parse.js";
import type { Question } from "../../src/core/types.js";

const q = (over: Partial<Question>): Question => ({ id: "r1q1", round: 1, text: "Which order?", suggestions: [], ...over });

describe("prompts", () => {
  it("describes the editor context: file, language, selection and surrounding code in fences", () => {
    const text = describeContext({
      fileName: "src/a.ts",
      languageId: "typescript",
      selection: { text: "let x = 1;", startLine: 3, endLine: 3 },
      surroundingCode: "// around",
    });
    assert.equal(
      text,
      "File: src/a.ts (typescript)\n\nSelected lines 3-3:\n```typescript\nlet x = 1;\n```\n\nCode around the cursor:\n```typescript\n// around\n```",
    );
    assert.equal(describeContext({}), "");
    assert.equal(describeContext({ languageId: "go", selection: { text: "  ", startLine: 1, endLine: 1 } }), "Language: go");
  });

  it("builds the assessment message: the request first, the editor context after it as reference only, the question budget", () => {
    assert.equal(
      buildAssessmentMessage(" sort it ", {}, 2),
      "Request: sort it\n\nDecide about the request (not the editor context): ask at most 2 clarifying question(s) about essential missing details, or proceed with stated assumptions. Reply in JSON.",
    );
    const withContext = buildAssessmentMessage("open a bank account", { languageId: "python", fileName: "dates.py" }, 3);
    assert.match(
      withContext,
      /^Request: open a bank account\n\nEditor context, for reference only \(it may have nothing to do with the request\):\nFile: dates\.py \(python\)\n\nDecide about the request \(not the editor context\): ask at most 3/,
    );
    const followUp = buildAssessmentMessage("now add tests", {}, 1, { followUp: true });
    assert.match(
      followUp,
      /^Follow-up request: now add tests\n\nDecide about this follow-up request, given the conversation so far: ask at most 1 .*never one that was already asked or answered/,
    );
  });

  it("formats answers, waived ones as the assistant's choice", () => {
    assert.equal(
      formatAnswers([q({ answer: " desc " }), q({ text: "Stable?", waived: true })]),
      "1. Which order?\n   Answer: desc\n2. Stable?\n   Answer: you decide (pick the answer yourself when you write the code)",
    );
    assert.match(
      buildFollowUpAssessmentMessage([q({ answer: "desc" })], 1),
      /^My answers:\n1\. Which order\?\n {3}Answer: desc\n\nIf something essential is still unclear, ask at most 1 more/,
    );
    assert.equal(waivedAssumption(q({})), 'For "Which order?", the assistant chooses a sensible default and says which.');
  });

  it("the code request carries only what is new: answers not yet sent, and the assumptions the answer states", () => {
    const live = buildCodeRequestMessage({ newAnswers: [q({ answer: "desc" })], assumptions: ["Python 3"] });
    assert.equal(
      live,
      "Answers to your questions:\n1. Which order?\n   Answer: desc\n\nAssumptions:\n- Python 3\n\nNow write the code. Reply in markdown with fenced code blocks; state the assumptions briefly; keep explanations short.",
    );
    assert.equal(
      buildCodeRequestMessage({ newAnswers: [], assumptions: [] }),
      "Now write the code. Reply in markdown with fenced code blocks; keep explanations short.",
    );
    assert.match(
      buildCodeRequestMessage({ newAnswers: [], assumptions: ["x"], corrected: true }),
      /^Assumptions, as corrected by the user \(they replace the ones stated before\):\n- x/,
    );
    assert.match(buildCodeRequestMessage({ newAnswers: [], assumptions: [], strict: true }), /not with JSON and not with a decision\.$/);
  });

  it("questions left to the assistant: it is asked to choose, one answer each, and its choice is stated back", () => {
    assert.equal(
      buildChoicesMessage([q({}), q({ text: "Stable?" })]),
      "You decide these: choose a sensible answer to each question, in order, and reply in JSON.\n\n1. Which order?\n2. Stable?",
    );
    const schema = choicesSchema(2) as { properties: { choices: { minItems: number; maxItems: number } } };
    assert.deepEqual([schema.properties.choices.minItems, schema.properties.choices.maxItems], [2, 2]);
    assert.equal(choiceAssumption(q({}), " ascending. "), 'You left "Which order?" to me: I assumed ascending.');
    // Normalised: the model's capital and its full stop, and our own instruction echoed back is no choice.
    assert.equal(
      choiceAssumption(q({}), "To sort users by score, then by name in case of ties."),
      'You left "Which order?" to me: I assumed to sort users by score, then by name in case of ties.',
    );
    assert.equal(choiceAssumption(q({}), "(you decide: choose a sensible default and state it)"), waivedAssumption(q({})));
    assert.equal(formatAnswers([q({ waived: true, assumed: "Ascending." })]), "1. Which order?\n   Answer: you decided: ascending");
  });

  it("the grammar's length caps are generous, one definition shared with parsing", () => {
    const item = (askSchema(1) as { properties: { questions: { items: { properties: { suggestions: { items: { maxLength: number } } } } } } }).properties
      .questions.items;
    assert.equal(item.properties.suggestions.items.maxLength, assessmentLengths.suggestion);
    assert.ok(assessmentLengths.suggestion >= 100, "a suggestion of a short sentence is not cut");
  });

  it("schemas fix the decision and bound the questions", () => {
    assert.deepEqual((askSchema(2) as { properties: { decision: unknown } }).properties.decision, { type: "string", const: "ask" });
    assert.equal((askSchema(2) as { properties: { questions: { maxItems: number } } }).properties.questions.maxItems, 2);
    assert.equal((askSchema(0) as { properties: { questions: { maxItems: number } } }).properties.questions.maxItems, 1);
    assert.deepEqual((proceedSchema() as { properties: { decision: unknown } }).properties.decision, { type: "string", const: "proceed" });
    assert.equal((assessmentSchema(2) as { oneOf: unknown[] }).oneOf.length, 2, "either reply, the model choosing");
  });

  it("each grammar is the schema its reply is read with: what it allows reads, its caps bind the writer, not the reader", () => {
    const grammar = JSON.stringify(askSchema(2));
    assert.doesNotMatch(grammar, /"default"|"\$schema"/, "no reader's defaults in a grammar");
    // A reply as the grammar makes it reads back; the caps (two questions) are not a reader's rule.
    const reply = { decision: "ask", questions: [{ question: "Which order?", suggestions: ["asc"] }] };
    assert.equal(parseAssessment(JSON.stringify(reply), { maxQuestions: 2 }).ok, true);
    const four = { decision: "ask", questions: ["A?", "B?", "C?", "D?"].map((question) => ({ question })) };
    const read = parseAssessment(JSON.stringify(four), { maxQuestions: 2 });
    assert.ok(read.ok && read.value.decision === "ask" && read.value.questions.length === 2, "more than the cap is cut, not refused");
    // What the grammar requires is required when read.
    assert.equal(parseAssessment('{"decision": "ask", "questions": []}', { maxQuestions: 2 }).ok, false);
    assert.deepEqual((choicesSchema(2) as { required: string[] }).required, ["choices"]);
    assert.equal(parseChoices('{"choices": ["a"]}', 2, 100).ok, false, "one choice per question, in the grammar and when read");
  });

  it("a code reply opens a fence in the editor's language", () => {
    assert.equal(codeResponsePrefix("python"), "```python\n");
    assert.equal(codeResponsePrefix("typescriptreact"), "```tsx\n");
    assert.equal(codeResponsePrefix(undefined), "```");
  });

  it("the plain code request: the request right after the instruction, or last where the editor context holds code", () => {
    const intro =
      "You are an expert software developer who writes high quality code. With below information, please generate Python3 code (Respond directly with code only with markdown):";
    // No code in the context (the evaluation's case): the paper's shape, the request second.
    assert.equal(
      buildPlainCodeMessage({ request: " def f(x):\n    ... ", context: { languageId: "python" } }),
      `${intro}\n\ndef f(x):\n    ...\n\nEditor context, for reference only (it may have nothing to do with the request):\nLanguage: python\n\nWrite the complete code in one fenced block.`,
    );
    // An open file's code: the request closes the message, so the file is not taken for what to write.
    const withFile = buildPlainCodeMessage({
      request: "write hello world in python",
      context: { languageId: "python", fileName: "app.py", surroundingCode: "def load(path):\n    return open(path).read()" },
      assumptions: ["print to standard output"],
    });
    assert.ok(withFile.startsWith(`${intro}\n\nEditor context, for reference only`), withFile);
    assert.ok(withFile.indexOf("Assumptions:\n- print to standard output") < withFile.indexOf("write hello world"), withFile);
    assert.ok(
      withFile.endsWith(
        "Write the complete code for this request in one fenced block (use the editor context only where the request needs it; the answers and assumptions above hold):\nwrite hello world in python",
      ),
      withFile,
    );
    assert.equal(withFile.split("write hello world in python").length, 2, "the request is said once");
  });

  it("native prompts reproduce the training format exactly", () => {
    assert.equal(buildNativePrompt(" add two numbers ", {}), `${nativeQuestionPrompt} add two numbers`);
    assert.ok(nativeQuestionPrompt.endsWith("or ask clarifying questions:\n"));
    const turn = buildNativeCodeTurn([q({ answer: "ints" })], ["no overflow"]);
    assert.equal(
      turn,
      "\n\nAnswers:\n1. Which order?\n   Answer: ints\nAssumptions:\n- no overflow\nGiven above conversations, generate Python3 code directly in markdown to solve the coding problem.\n",
    );
  });
});
