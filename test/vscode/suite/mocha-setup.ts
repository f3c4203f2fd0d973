/**
 * The suite's Mocha instance, created before any test file is evaluated.
 *
 * esbuild bundles the test files into the suite, so they are evaluated when the bundle loads rather than through
 * `mocha.addFile()`. Emitting "pre-require" here binds Mocha's TDD interface (`suite`, `test`, ...), which the test
 * files import from "mocha" (no globals); index.ts imports this module first, so it runs before them.
 */
import Mocha from "mocha";
import { format } from "node:util";
import { writeSuiteOutput } from "./harness-client";

export const mocha = new Mocha({
  ui: "tdd",
  color: false,
  timeout: 30_000,
  // The extension host has no TTY: plain "spec" output, one line per test.
  reporter: "spec",
});

// Reporters print through Base.consoleLog: keep printing (VS Code forwards the extension host's console) and also
// hand every line to the harness, which reads it back unmangled.
const consoleLog = Mocha.reporters.Base.consoleLog;
Mocha.reporters.Base.consoleLog = (...data: unknown[]): void => {
  consoleLog(...data);
  writeSuiteOutput(`${format(...data)}\n`);
};

/** Prints a line into the suite's output (for notes such as timings). */
export function suiteLog(...data: unknown[]): void {
  Mocha.reporters.Base.consoleLog(...data);
}

mocha.suite.emit("pre-require", {}, "clarifycoder-vscode-suite", mocha);
