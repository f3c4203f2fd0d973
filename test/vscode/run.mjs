#!/usr/bin/env node
// Runs the extension-host suite (dist/test/vscode-suite.js) in a real VS Code (code-server + Chromium) and exits
// with the suite's code. code-server is installed on first use (scripts/code-server.ts).
//
// Usage: node test/vscode/run.mjs [--no-build] [--screenshots DIR] [--dark] [--timeout SECONDS] [--keep-temp]
//                                 [--suite PATH] [--verbose]
//   --screenshots DIR  save a screenshot at each checkpoint of the suite as DIR/<checkpoint>.png
//   --verbose          also print code-server's and the page's console live (printed anyway when the run fails)
//   --dark             use the "Default Dark Modern" theme (default: "Default Light Modern")
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { require as tsRequire } from "tsx/cjs/api";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const timeoutMs = Number(value("--timeout") ?? 120) * 1000;
// A last resort if even teardown hangs: never outlive the timeout by much.
setTimeout(() => {
  console.error("run.mjs: hard timeout, exiting");
  process.exit(124);
}, timeoutMs + 20_000).unref();

if (!flag("--no-build")) {
  const built = spawnSync(process.execPath, ["esbuild.mjs"], { cwd: repo, stdio: "inherit" });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

// The harness is TypeScript (CommonJS): load it through tsx.
const harness = tsRequire("./harness.ts", import.meta.url);
const screenshotsDir = value("--screenshots");
const verbose = flag("--verbose");

let result;
try {
  result = await harness.runVsCodeSuite({
    extensionPath: repo,
    suitePath: path.resolve(repo, value("--suite") ?? "dist/test/vscode-suite.js"),
    timeoutMs,
    keepTemp: flag("--keep-temp"),
    userSettings: { "workbench.colorTheme": flag("--dark") ? "Default Dark Modern" : "Default Light Modern" },
    ...(screenshotsDir ? { screenshotsDir: path.resolve(screenshotsDir) } : {}),
    // Live: the suite's output and the harness's steps; everything with --verbose.
    log: (line) => {
      if (verbose || line.startsWith("[suite]") || line.startsWith("[harness]")) console.log(line);
    },
  });
} catch (err) {
  if (err instanceof harness.HarnessSetupError) {
    console.error(`run.mjs: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

if (result.exitCode !== 0 && !verbose) {
  console.log("---- code-server and page output (the run failed) ----");
  for (const line of result.output.split("\n")) if (!line.startsWith("[suite]") && !line.startsWith("[harness]")) console.log(line);
  console.log("---- end ----");
}
const t = result.timings;
console.log(
  `run.mjs: exit ${result.exitCode}${result.timedOut ? " (TIMEOUT)" : ""}${result.error ? ` (${result.error})` : ""}; ` +
    `code-server ${t.codeServerMs} ms, browser ${t.browserMs} ms, workbench ${t.workbenchMs} ms, suite ${t.suiteMs} ms, total ${t.totalMs} ms`,
);
for (const s of result.screenshots) console.log(`run.mjs: screenshot ${s}`);
if (flag("--keep-temp")) console.log(`run.mjs: kept ${result.tempDir}`);
process.exit(result.exitCode);
