import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { answerReserve, fitContext, tooLargeMessage } from "../../src/core/budget.js";
import { describeContext } from "../../src/core/prompts.js";
import { defaultSettings } from "../../src/core/types.js";

/** One token per word: easy to reason about. */
const words = async (text: string): Promise<number> => text.split(/\s+/).filter(Boolean).length;
const numbered = (n: number, from = 1): string => Array.from({ length: n }, (_, i) => `x${i + from} = 1`).join("\n");

describe("fitting the editor context into the model's context", () => {
  it("sends everything that fits as it is", async () => {
    const context = { fileName: "a.py", selection: { text: numbered(3), startLine: 1, endLine: 3 }, surroundingCode: "b = 2" };
    assert.deepEqual(await fitContext(context, 1_000, words), { context });
  });

  it("keeps the selection around the cursor and says which lines were sent", async () => {
    const selection = { text: numbered(5001), startLine: 1, endLine: 5001, cursorLine: 1300 };
    const fitted = await fitContext({ fileName: "big.py", selection, surroundingCode: numbered(81, 1260) }, 800, words);
    const sent = fitted.context.selection;
    assert.ok(sent);
    assert.ok((await words(describeContext(fitted.context))) <= 800);
    assert.ok(sent.startLine <= 1300 && sent.endLine >= 1300, `${sent.startLine}-${sent.endLine}`);
    assert.equal(sent.text.split("\n")[0], `x${sent.startLine} = 1`, "the lines sent are the lines named");
    assert.equal(sent.endLine - sent.startLine + 1, sent.text.split("\n").length);
    assert.ok(Math.abs(1300 - (sent.startLine + sent.endLine) / 2) <= 1, "centred on the cursor");
    assert.equal(fitted.context.surroundingCode, undefined, "no room is left for the code around it");
    assert.equal(
      fitted.note,
      `Sent lines ${sent.startLine.toLocaleString("en-US")}-${sent.endLine.toLocaleString("en-US")} of the 5,001 selected (lines 1-5,001), around the cursor: the rest does not fit in the model's context. The code around the cursor was left out.`,
    );
  });

  it("a cursor near the end keeps a full window inside the selection", async () => {
    const selection = { text: numbered(100, 11), startLine: 11, endLine: 110, cursorLine: 110 };
    const fitted = await fitContext({ selection }, 60, words);
    assert.equal(fitted.context.selection?.endLine, 110);
    assert.ok((fitted.context.selection?.startLine ?? 0) > 11);
  });

  it("with the selection whole, the code around the cursor gets what is left, trimmed around its middle", async () => {
    const fitted = await fitContext({ selection: { text: "a = 1", startLine: 5, endLine: 5 }, surroundingCode: numbered(81) }, 120, words);
    assert.equal(fitted.context.selection?.text, "a = 1");
    const kept = fitted.context.surroundingCode?.split("\n") ?? [];
    assert.ok(kept.length > 0 && kept.length < 81);
    assert.ok(kept.includes("x41 = 1"), "the middle line, where the cursor is, stays");
    assert.match(fitted.note ?? "", /^Sent \d+ of the 81 lines around the cursor\.$/);
  });

  it("a selection whose every line is too large is left out, with the reason", async () => {
    const fitted = await fitContext({ selection: { text: "w ".repeat(500), startLine: 2, endLine: 2 } }, 50, words);
    assert.equal(fitted.context.selection, undefined);
    assert.match(fitted.note ?? "", /^The selection \(lines 2-2\) was left out: it does not fit/);
  });

  it("the reserve keeps room for the assessment and the code, and a refusal says what to do", () => {
    assert.ok(answerReserve(defaultSettings, 8192) > defaultSettings.maxAssessmentTokens + defaultSettings.maxCodeTokens);
    assert.equal(answerReserve({ ...defaultSettings, maxCodeTokens: 4000 }, 4096), 2048, "a limit above what the model holds keeps half the context free");
    assert.match(
      tooLargeMessage({ requestTokens: 5000, available: 1200, contextSize: 4096, historyTokens: 300 }),
      /^The request is too long for the model: it is 5,000 tokens.*leaves 1,200.*Shorten the request/,
    );
    assert.match(
      tooLargeMessage({ requestTokens: 200, available: 100, contextSize: 4096, historyTokens: 3000 }),
      /^This conversation has grown too long for the model.*Start a new chat/,
    );
  });
});
