// Runs every test tier with node's test runner, one file at a time (the model tiers share 2 cores badly):
//   unit (no model), model (tiny generated GGUF), realmodel (SmolLM2 from PyPI), webview (Chromium), vscode (code-server).
// `node test/run.mjs unit model` runs only those tiers. First it sets up what the tiers need from the machine
// (scripts/test-setup.ts: Chromium, code-server, pip), or stops with the one command that would.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";

const tiers = ["unit", "model", "realmodel", "webview", "vscode"];
const wanted = process.argv.slice(2).filter((a) => tiers.includes(a));
const chosen = wanted.length > 0 ? wanted : tiers;
const setup = spawnSync(process.execPath, ["--import", "tsx", "scripts/test-setup.ts", ...chosen], { stdio: "inherit" });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const files = [];
for (const tier of chosen) {
  const dir = path.join("test", tier);
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) if (f.endsWith(".test.ts")) files.push(path.join(dir, f));
}
// No test waits forever (ten minutes unless it sets its own bound), and a file whose tests are done ends even when
// something it started (a browser that outlived its close) still holds the event loop.
const bounds = ["--test-timeout=600000", "--test-force-exit"];
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...bounds, "--test-reporter=spec", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
