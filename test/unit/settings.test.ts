import assert from "node:assert/strict";
import { it } from "node:test";
import { readSettings } from "../../src/core/settings.js";
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
