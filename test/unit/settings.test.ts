import assert from "node:assert/strict";
import { it } from "node:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { askPolicies, decideMethods, modelStyles } from "../../src/core/types.js";
import { gpuChoiceNames } from "../../src/llm/hardware/gpu-choice.js";
import { describeRange, modelRanges, numberInRange, readSettings, settingRanges, type NumberRange } from "../../src/core/settings.js";
import { defaultSettings } from "../../src/core/types.js";

it("readSettings keeps valid values and reports each invalid one, falling back to its default", () => {
  const { settings, problems } = readSettings({ askPolicy: "never", maxQuestions: 0, askThreshold: 0.8, style: "sideways" });
  assert.equal(settings.askPolicy, "never");
  assert.equal(settings.askThreshold, 0.8);
  assert.equal(settings.maxQuestions, defaultSettings.maxQuestions);
  assert.equal(settings.style, "guided");
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? "", /^maxQuestions: 0 is not valid/);
  assert.match(problems[1] ?? "", /^style: "sideways"/);
  assert.deepEqual(readSettings({}), { settings: defaultSettings, problems: [] });
});

it("numberInRange takes exactly the numbers of the range, as text", () => {
  const tokens = settingRanges.maxCodeTokens;
  assert.equal(numberInRange("16", tokens), 16);
  assert.equal(numberInRange(" 32768 ", tokens), 32768);
  for (const bad of ["8", "32769", "16.5", "", "abc", "0x20", "1e9", "NaN", "Infinity", "-16", "16abc"]) {
    assert.equal(numberInRange(bad, tokens), undefined, bad);
  }
  assert.equal(numberInRange("0.25", settingRanges.askThreshold), 0.25);
  assert.equal(numberInRange("1.5", settingRanges.askThreshold), undefined);
  assert.equal(describeRange(tokens), "an integer from 16 to 32768");
  assert.equal(describeRange(settingRanges.askThreshold), "a number from 0 to 1");
});

it("the VS Code settings in package.json allow exactly the ranges the engine and the CLI use", () => {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, "../../package.json"), "utf8")) as {
    contributes: { configuration: { properties: Record<string, { minimum?: number; maximum?: number; type: string; enum?: string[] }> } };
  };
  const properties = manifest.contributes.configuration.properties;
  const ranges: Record<string, NumberRange> = {
    maxQuestions: settingRanges.maxQuestions,
    maxRounds: settingRanges.maxRounds,
    askThreshold: settingRanges.askThreshold,
    maxCodeTokens: settingRanges.maxCodeTokens,
    threads: modelRanges.threads,
    contextSize: modelRanges.contextSize,
  };
  for (const [key, range] of Object.entries(ranges)) {
    const property = properties[`clarifycoder.${key}`];
    assert.ok(property, key);
    assert.deepEqual([property.minimum, property.maximum, property.type], [range.min, range.max, range.integer ? "integer" : "number"], key);
  }
  // The lists of choices too: one list each, in core (or in llm for the GPU), read by the CLI and the extension alike.
  const lists: Record<string, readonly string[]> = { askPolicy: askPolicies, style: modelStyles, gpu: gpuChoiceNames, decide: decideMethods };
  for (const [key, list] of Object.entries(lists)) assert.deepEqual(properties[`clarifycoder.${key}`]?.enum, [...list], key);
});
