#!/usr/bin/env node
// Runs the same extension-host suite (dist/test/vscode-suite.js) in a desktop VS Code (Electron) through
// @vscode/test-electron. Not run in CI: it downloads VS Code (needs the internet) unless VSCODE_EXECUTABLE_PATH
// points at an installed one. CI uses code-server instead (test/vscode/run.mjs).
//
// Usage: npm run build && node test/vscode/electron.mjs
//   VSCODE_EXECUTABLE_PATH=/path/to/code   use this VS Code instead of downloading one
//   VSCODE_VERSION=1.100.3                  the version to download (default: the engine's minimum, 1.100.3)
// On a headless Linux box wrap it in xvfb-run -a.
//
// Desktop-only things to check there (see the environment facts): the model worker runs under Electron as Node
// (ELECTRON_RUN_AS_NODE), and node-llama-cpp changes how it tests its binaries under Electron.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runTests } from "@vscode/test-electron";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const temp = mkdtempSync(path.join(tmpdir(), "clarifycoder-electron-"));
let code = 1;
try {
  code = await runTests({
    extensionDevelopmentPath: repo,
    extensionTestsPath: path.join(repo, "dist/test/vscode-suite.js"),
    ...(process.env.VSCODE_EXECUTABLE_PATH
      ? { vscodeExecutablePath: process.env.VSCODE_EXECUTABLE_PATH }
      : { version: process.env.VSCODE_VERSION ?? "1.100.3" }),
    launchArgs: [
      path.join(temp, "workspace"),
      "--user-data-dir",
      path.join(temp, "user-data"),
      "--extensions-dir",
      path.join(temp, "extensions"),
      "--disable-extensions", // other installed extensions; the one under development still loads
      "--disable-workspace-trust",
      "--skip-welcome",
      "--skip-release-notes",
    ],
  });
} catch (err) {
  console.error("electron.mjs: the suite failed or VS Code could not start:", err instanceof Error ? err.message : err);
} finally {
  rmSync(temp, { recursive: true, force: true });
}
process.exit(code);
