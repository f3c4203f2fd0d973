/**
 * A VS Code window with the extension loaded, as the end-to-end tests drive it: only through what a user sees and
 * types (the command palette, Quick Open, the editor, the chat view's webview). Two runners open one: code-server in
 * Chromium (harness.ts, here and in CI) and desktop VS Code through @vscode/test-electron (electron-workbench.ts).
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Frame, FrameLocator, Page } from "playwright-core";

export const EXTENSION_ID = "clarifycoder.clarifycoder";

export interface Workbench {
  /** The window. */
  readonly page: Page;
  /** The folder it opened, on this machine's disk. */
  readonly workspace: string;
  /** Every line code-server (or VS Code) and the page logged, for failure reports. */
  readonly output: string[];
  close(): Promise<void>;
}

export interface OpenWorkbenchOptions {
  /** The folder to open (it exists, with the files the test needs). */
  workspace: string;
  /** User settings (merged over the quiet test defaults). */
  userSettings?: Record<string, unknown>;
  viewport?: { width: number; height: number };
  /** A packaged extension (.vsix) to install and run, instead of loading the extension from this folder. */
  vsix?: string;
}

export type OpenWorkbench = (options: OpenWorkbenchOptions) => Promise<Workbench>;

/** Drives one workbench the way a user would. */
export class WorkbenchDriver {
  constructor(
    readonly workbench: Workbench,
    /** Where `shot()` saves its PNGs. */
    private readonly screenshots: string,
  ) {
    mkdirSync(screenshots, { recursive: true });
  }

  get page(): Page {
    return this.workbench.page;
  }

  async ready(timeout = 60_000): Promise<void> {
    await this.page.locator(".monaco-workbench").waitFor({ timeout });
  }

  /**
   * Picks a row of a quick input (the command palette, Quick Open): opens it with its key, types, and clicks the row
   * (Enter would take the first row, which may be from before the list was filtered). Focus can move under it (a
   * webview that takes the focus keeps the key to itself, or closes the quick input): then it tries again, from the
   * editor area.
   */
  private async quickPick(key: string, text: string, row: string): Promise<void> {
    const input = this.page.locator(".quick-input-widget input");
    for (let attempt = 0; ; attempt++) {
      try {
        await this.page.keyboard.press(key);
        await input.waitFor({ state: "visible", timeout: 3_000 });
        await input.fill(text, { timeout: 3_000 });
        await this.page.locator(".quick-input-list .monaco-list-row", { hasText: row }).first().click({ timeout: 10_000 });
        await input.waitFor({ state: "hidden", timeout: 10_000 });
        return;
      } catch (error) {
        if (attempt >= 2) throw error;
        await this.page.keyboard.press("Escape");
        const tab = this.page.locator(".tab.active").first();
        if ((await tab.count()) > 0) await tab.click();
        else await this.page.locator(".part.editor").click({ position: { x: 200, y: 200 } });
      }
    }
  }

  /** Runs a command from the command palette (F1), by the title it shows there. */
  async command(title: string): Promise<void> {
    await this.quickPick("F1", `>${title}`, title);
  }

  /** Opens a workspace file with Quick Open and waits until it is the active editor. */
  async openFile(name: string): Promise<void> {
    await this.quickPick("Control+P", name, name);
    await this.page.locator(`.tab.active[aria-label*="${name}"]`).waitFor({ timeout: 10_000 });
    await this.page.locator(".editor-instance .monaco-editor textarea").first().waitFor({ state: "attached", timeout: 10_000 });
  }

  /** Selects whole lines `from`..`to` (1-based) of the active editor with the keyboard. */
  async selectLines(from: number, to: number): Promise<void> {
    await this.focusEditor();
    await this.page.keyboard.press("Control+G");
    await this.page.keyboard.type(String(from));
    await this.page.keyboard.press("Enter");
    await this.page.keyboard.press("Home");
    await this.page.keyboard.press("Home"); // the first press may stop at the indentation
    for (let line = from; line < to; line++) await this.page.keyboard.press("Shift+ArrowDown");
    await this.page.keyboard.press("Shift+End");
  }

  /** Puts the keyboard focus in the active editor (a click on its tab leaves its cursor where it was). */
  async focusEditor(): Promise<void> {
    await this.page.locator(".tab.active").first().click();
    await this.page.locator(".editor-instance .monaco-editor.focused").first().waitFor({ timeout: 5_000 });
  }

  /** Saves the active editor, which has unsaved changes (Ctrl+S), and waits until its tab is no longer dirty. */
  async save(name: string): Promise<void> {
    await this.page.locator(`.tab.active.dirty[aria-label*="${name}"]`).waitFor({ timeout: 10_000 });
    await this.page.keyboard.press("Control+S");
    await this.page.locator(`.tab.active[aria-label*="${name}"]:not(.dirty)`).waitFor({ timeout: 10_000 });
  }

  /**
   * Replaces the workspace settings the way a user edits them: `.vscode/settings.json` opened in the editor, its text
   * replaced, saved (VS Code applies a saved settings editor at once; a file changed behind its back is noticed later).
   */
  async setWorkspaceSettings(settings: Record<string, unknown>): Promise<void> {
    await this.openFile("settings.json");
    await this.page.keyboard.press("Control+A");
    await this.page.keyboard.press("Delete");
    // insertText, not typing, and on one line: the editor treats inserted text as typed, so a bracket it closes on its
    // own is typed over only when nothing (no new line and its indentation) comes between.
    await this.page.keyboard.insertText(JSON.stringify(settings));
    await this.save("settings.json");
    await this.page.keyboard.press("Control+W");
    const file = path.join(this.workbench.workspace, ".vscode/settings.json");
    const written = readFileSync(file, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(written);
    } catch {
      throw new Error(`The settings the editor saved are not JSON: ${written}`);
    }
    assert.deepEqual(parsed, settings, "the settings file holds what was typed");
  }

  /** The chat view's content (the webview's inner frame), as a locator root. */
  chat(): FrameLocator {
    return this.page.frameLocator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`).frameLocator("#active-frame");
  }

  /** The chat view's inner frame itself, to run code in it (timings, observers). */
  async chatFrame(timeout = 20_000): Promise<Frame> {
    const outer = this.page.locator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`).first();
    await outer.waitFor({ state: "attached", timeout });
    const outerFrame = await (await outer.elementHandle())?.contentFrame();
    if (!outerFrame) throw new Error("the chat view's webview has no frame");
    const inner = outerFrame.locator("#active-frame");
    await inner.waitFor({ state: "attached", timeout });
    const frame = await (await inner.elementHandle())?.contentFrame();
    if (!frame) throw new Error("the chat view's webview has no content frame");
    await frame.locator(".composer").waitFor({ timeout });
    return frame;
  }

  /** The status line of the chat view. */
  async status(): Promise<string> {
    return (await this.chat().locator(".status-line").textContent()) ?? "";
  }

  /** Reloads the window (Developer: Reload Window) and waits for the workbench to come back. */
  async reloadWindow(): Promise<void> {
    const loaded = this.page.waitForEvent("load", { timeout: 60_000 });
    await this.command("Developer: Reload Window");
    await loaded;
    await this.ready();
  }

  /** Saves a screenshot of the window as `<screenshots>/<name>.png`. */
  async shot(name: string): Promise<string> {
    const file = path.join(this.screenshots, `${name}.png`);
    await this.page.screenshot({ path: file, timeout: 15_000 });
    return file;
  }
}
