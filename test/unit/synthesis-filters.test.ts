import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkQuestion,
  checkQuestions,
  checkRewrite,
  defaultFilterOptions,
  duplicateKey,
  revealingPhrase,
  tidyQuestions,
  wordEditDistance,
  wordsOf,
  type Verdict,
} from "../../src/core/synthesis-filters.js";

const task = "Return the even numbers of a list of integers in their original order. The list may be empty.";
const reason = (verdict: Verdict): string => (verdict.ok ? "ok" : verdict.reason);

describe("rewrite filter", () => {
  it("accepts a rewrite that changes enough and gives nothing away", () => {
    assert.equal(reason(checkRewrite(task, "Return some of the numbers of a list of integers in their original order. The list may be empty.")), "ok");
    // Dropping a sentence is a large change, and the rest is still there.
    assert.equal(reason(checkRewrite(task, "Return the even numbers of a list of integers in their original order.")), "ok");
  });

  it("rejects the task unchanged, or changed by punctuation or case only", () => {
    assert.equal(reason(checkRewrite(task, `  ${task}\n`)), "unchanged");
    const verdict = checkRewrite(task, task.toUpperCase().replace(".", "!"));
    assert.equal(reason(verdict), "unchanged");
  });

  it("rejects a change of one word, with the counts in the message", () => {
    const verdict = checkRewrite(task, task.replace("even", "odd"));
    assert.deepEqual(verdict, { ok: false, reason: "too-similar", message: "the rewrite changes too little: 1 of 18 words changed, at least 2 needed" });
  });

  it("the share needed grows with the task: 2% of a 200-word task is 4 words", () => {
    const long = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
    const threeChanged = long.replace("word1 ", "a ").replace("word2 ", "b ").replace("word3 ", "c ");
    assert.equal(reason(checkRewrite(long, threeChanged)), "too-similar");
    assert.equal(reason(checkRewrite(long, threeChanged.replace("word4 ", "d "))), "ok");
  });

  it("rejects a rewrite that lost most of the task", () => {
    assert.deepEqual(checkRewrite(task, "Return numbers."), {
      ok: false,
      reason: "too-short",
      message: "the rewrite lost most of the task: 2 words left of 18",
    });
  });

  it("rejects a rewrite that mentions an original or labels itself, but not words the task already uses", () => {
    assert.equal(reason(checkRewrite("Sort a list in place. Keep it stable.", "In the original version, sort a list. Keep it stable.")), "mentions-original");
    assert.equal(reason(checkRewrite("Sort a list in place. Keep it stable.", "Sort a list, (this task is ambiguous). Keep it.")), "mentions-original");
    assert.equal(
      reason(checkRewrite("Sort a list in place. Keep it stable.", "The task has been modified: sort a list. Keep it stable.")),
      "mentions-original",
    );
    // The task says "original order": a rewrite may too, as often as the task does.
    assert.equal(reason(checkRewrite(task, "Return the even numbers of a list in their original order. The list may be long.")), "ok");
    assert.equal(reason(checkRewrite(task, "Return the original even numbers of a list in their original order. The list may be long.")), "mentions-original");
  });
});

describe("question filter", () => {
  it("accepts questions, even several sentences or inline names", () => {
    assert.equal(reason(checkQuestion("Should `evens` keep duplicates?", task)), "ok");
    assert.equal(reason(checkQuestion("The list may hold negatives. Are negative even numbers included?", task)), "ok");
    assert.equal(reason(checkQuestion("Should the result keep the original order?", task)), "ok");
  });

  it("rejects statements, answers, code and mentions of an original", () => {
    assert.equal(reason(checkQuestion("Please describe the input format.", task)), "not-a-question");
    assert.equal(reason(checkQuestion("Should it be sorted? Yes, ascending.", task)), "not-a-question");
    assert.equal(reason(checkQuestion("Should it be sorted? Yes. Which order?", task)), "contains-answer");
    assert.equal(reason(checkQuestion("Answer: ascending. Is that right?", task)), "contains-answer");
    assert.equal(reason(checkQuestion("Should I use this?\n```python\nx = 1\n```\n?", task)), "contains-code");
    assert.equal(reason(checkQuestion("Is it\ndef evens(xs):\n    return xs\n?", task)), "contains-code");
    assert.equal(reason(checkQuestion("Did the initial description require sorting?", task)), "mentions-original");
    assert.equal(reason(checkQuestion("Was the list originally sorted?", task)), "mentions-original");
  });

  it("checks the list: 1 to 5 questions, each one a question", () => {
    assert.equal(reason(checkQuestions([], task)), "no-questions");
    const six = Array.from({ length: 6 }, (_, i) => `Question ${i}?`);
    assert.deepEqual(checkQuestions(six, task), {
      ok: false,
      reason: "too-many-questions",
      message: "more than the allowed number of questions: 6, at most 5",
    });
    assert.equal(reason(checkQuestions(six.slice(0, 5), task)), "ok");
    assert.equal(reason(checkQuestions(["Fine?", "Not fine."], task)), "not-a-question");
    assert.equal(reason(checkQuestions(six, task, { ...defaultFilterOptions, maxQuestions: 6 })), "ok");
  });

  it("tidies list markers, spaces, empty items and repeats before checking", () => {
    assert.deepEqual(tidyQuestions(["1. Which order? ", "- which  ORDER?", "", "Q2: Keep negatives?", "* Keep negatives ?"]), [
      "Which order?",
      "Keep negatives?",
    ]);
  });
});

it("word helpers: words, edit distance, duplicate keys, revealing phrases", () => {
  assert.deepEqual(wordsOf("Don't sort_list(xs), 2x!"), ["don", "t", "sort_list", "xs", "2x"]);
  assert.equal(wordEditDistance(["a", "b", "c"], ["a", "x", "c", "d"]), 2);
  assert.equal(wordEditDistance([], ["a"]), 1);
  assert.equal(duplicateKey("  Sort, the LIST! "), duplicateKey("sort the list"));
  assert.equal(revealingPhrase("Keep the original order.", "Keep the original order of items."), undefined);
  assert.equal(revealingPhrase("As the previous version said, sort.", "Sort."), "previous version");
});
