/**
 * What the test tiers need from this machine, set up before they run (test/run.mjs calls it): Chromium for the
 * webview and VS Code tiers, code-server (and the packages its install compiles with) for the VS Code tier, Python 3
 * for the evaluation's sandbox (unit and real-model tiers). Installs what it can (Debian packages as root, code-server from npm); otherwise stops with the
 * one command that would. Usage: node --import tsx scripts/test-setup.ts <tier>...
 */
import { SetupError, ensureCodeServer, ensurePackages, installedCodeServer } from "./code-server";

const tiers = new Set(process.argv.slice(2));
const log = (line: string): void => void process.stdout.write(`[setup] ${line}\n`);

try {
  ensurePackages(
    {
      browser: tiers.has("webview") || tiers.has("vscode"),
      build: tiers.has("vscode") && installedCodeServer() === undefined,
      python: tiers.has("unit") || tiers.has("realmodel"),
    },
    log,
  );
  if (tiers.has("vscode")) ensureCodeServer(log);
} catch (error) {
  if (!(error instanceof SetupError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
