/**
 * Proves that the harness can fail: with CLARIFYCODER_VSCODE_SELF_TEST=fail in the extension host's environment
 * this registers one deliberately failing test (test/vscode/vscode.test.ts checks the run is reported as failed).
 * Without it, it registers nothing.
 */
import * as assert from "node:assert/strict";
import { suite, test } from "mocha";

if (process.env.CLARIFYCODER_VSCODE_SELF_TEST === "fail") {
  suite("harness self-test", () => {
    test("deliberately fails", () => {
      assert.equal(1 + 1, 3, "deliberate failure (CLARIFYCODER_VSCODE_SELF_TEST=fail)");
    });
  });
}
