/**
 * The desktop runner of the end-to-end suite: VS Code itself (Electron), downloaded by @vscode/test-electron (or the
 * one VSCODE_EXECUTABLE_PATH names) and driven by playwright-core's Electron support, with the extension loaded from
 * this folder (`--extensionDevelopmentPath`) and user data and extensions folders of its own.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { _electron } from "playwright-core";
import { BASE_SETTINGS, REPO_ROOT } from "../harness";
import type { OpenWorkbench } from "./workbench";

export function openElectronWorkbench(executablePath: string): OpenWorkbench {
  return async (options) => {
    if (options.vsix) throw new Error("the desktop runner loads the extension from this folder; installing a .vsix is not supported there");
    const temp = mkdtempSync(path.join(tmpdir(), "clarifycoder-electron-"));
    const userData = path.join(temp, "user-data");
    mkdirSync(path.join(userData, "User"), { recursive: true });
    writeFileSync(
      path.join(userData, "User/settings.json"),
      JSON.stringify({ ...BASE_SETTINGS, "window.titleBarStyle": "custom", ...options.userSettings }, null, 2),
    );
    const output: string[] = [];
    const app = await _electron.launch({
      executablePath,
      args: [
        options.workspace,
        `--extensionDevelopmentPath=${REPO_ROOT}`,
        `--user-data-dir=${userData}`,
        `--extensions-dir=${path.join(temp, "extensions")}`,
        "--disable-workspace-trust",
        "--skip-welcome",
        "--skip-release-notes",
        "--disable-gpu",
        "--no-sandbox",
      ],
      timeout: 60_000,
    });
    const close = async (): Promise<void> => {
      await app.close().catch(() => undefined);
      rmSync(temp, { recursive: true, force: true });
    };
    try {
      const page = await app.firstWindow();
      page.on("console", (message) => output.push(`[page:${message.type()}] ${message.text()}`));
      if (options.viewport) await page.setViewportSize(options.viewport);
      await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
      return { page, workspace: options.workspace, output, close };
    } catch (error) {
      await close();
      throw error;
    }
  };
}
