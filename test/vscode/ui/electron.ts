/**
 * `npm run test:electron`: the same end-to-end suite as the code-server tier (chat-ui.ts), in desktop VS Code.
 * It downloads VS Code 1.100.3 through @vscode/test-electron unless VSCODE_EXECUTABLE_PATH names an installed one,
 * and needs a display (on a headless Linux machine: `xvfb-run -a npm run test:electron`). Where it cannot run, it says
 * why in one line and exits with code 2.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { downloadAndUnzipVSCode } from "@vscode/test-electron";

const version = process.env.VSCODE_VERSION ?? "1.100.3";

function cannotRun(why: string): never {
  process.stderr.write(`test:electron cannot run here: ${why}\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  if (process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    cannotRun("desktop VS Code needs a display (run it as `xvfb-run -a npm run test:electron`).");
  }
  let executable = process.env.VSCODE_EXECUTABLE_PATH;
  if (!executable) {
    try {
      // Quiet while it tries: the one line below says what went wrong.
      executable = await downloadAndUnzipVSCode({ version, reporter: { report: () => undefined, error: () => undefined } });
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
      cannotRun(`VS Code ${version} could not be downloaded (${reason}); set VSCODE_EXECUTABLE_PATH to an installed desktop VS Code.`);
    }
  }
  const suite = path.join(__dirname, "electron-suite.ts");
  const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", suite], {
    stdio: "inherit",
    env: { ...process.env, VSCODE_EXECUTABLE_PATH: executable },
  });
  return result.status ?? 1;
}

main().then((code) => process.exit(code));
