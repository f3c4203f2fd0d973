/**
 * The extension-host test suite: VS Code loads this bundle (extensionTestsPath) and awaits `run()`.
 * A rejection means failure. The same bundle runs under code-server (test/vscode/run.mjs, CI) and under a desktop
 * VS Code through @vscode/test-electron (test/vscode/electron.mjs).
 *
 * Test files are imported statically (esbuild bundles them); mocha-setup must come first.
 */
import { mocha } from "./mocha-setup";
import "./activation.test";
import "./chat.test";
import "./flow.test";
import "./harness-self-test";

export function run(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    try {
      mocha.run((failures) => {
        if (failures > 0) reject(new Error(`${failures} extension-host test(s) failed`));
        else resolve();
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
