import assert from "node:assert/strict";
import { it } from "node:test";
import { fenceOfLanguage, languageOfFence, languageOfFile } from "../../src/core/languages.js";

it("maps file names and fence tags to VS Code language ids", () => {
  assert.equal(languageOfFile("src/a.py"), "python");
  assert.equal(languageOfFile("X.TSX"), "typescriptreact");
  assert.equal(languageOfFile("Makefile"), undefined);
  assert.equal(languageOfFence("py"), "python");
  assert.equal(languageOfFence(" Bash "), "shellscript");
  assert.equal(languageOfFence(""), "plaintext");
  assert.equal(languageOfFence("haskell"), "haskell");
  assert.equal(fenceOfLanguage("typescriptreact"), "tsx");
  assert.equal(fenceOfLanguage("python"), "python");
});
