/**
 * Runs an extension-host test suite inside a real VS Code, offline: code-server (VS Code 1.100.3, server + web
 * workbench, installed on first use by scripts/code-server.ts) driven by Debian's Chromium through playwright-core.
 * `openWorkbench` opens the same workbench with the extension loaded, for tests that drive it as a user does.
 *
 * The extension is loaded from its source folder (`extensionDevelopmentPath`, no packaging) and the suite's
 * `run()` executes in the Node extension host with the full `vscode` API (`extensionTestsPath`). VS Code reports the
 * suite's result by calling `window.codeAutomationExit(code)` in the page, which we expose.
 *
 * The suite talks back through a folder named in its environment (see suite/harness-client.ts): it writes its
 * reporter output there, and at `checkpoint(name)` it pauses while the harness acts on the live workbench (by
 * default a screenshot `<name>.png`; the extension host must still be running for the extension's views to show,
 * so screenshots are taken at checkpoints, not after the suite).
 *
 * Everything runs under a fresh temp folder (user data, extensions, XDG dirs, workspace) and is killed afterwards;
 * a hard timeout turns a hang into a failure.
 */
import { CHROMIUM_ARGS } from "../helpers/chromium";
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import {
  DEFAULT_CHROMIUM,
  DEFAULT_CODE_SERVER_DIR,
  REPO_ROOT,
  developmentPath,
  ensureCodeServer,
  ensurePackages,
  startCodeServer,
  stopProcessGroup,
  waitHealthy,
  workbenchUrl,
  xdgEnv,
} from "../../scripts/code-server";
import type { OpenWorkbench } from "./ui/workbench";

export { DEFAULT_CHROMIUM, DEFAULT_CODE_SERVER_DIR, REPO_ROOT };
/** Must match suite/harness-client.ts. */
export const HARNESS_DIR_ENV = "CLARIFYCODER_VSCODE_HARNESS_DIR";
const SUITE_OUTPUT_FILE = "suite-output.txt";

export { CHROMIUM_ARGS };

/** Settings that keep a test workbench quiet and deterministic; `userSettings` are merged over them. */
export const BASE_SETTINGS: Readonly<Record<string, unknown>> = {
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "git.enabled": false,
  "chat.commandCenter.enabled": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  // The web workbench saves after a delay by default: tests save when they mean to.
  "files.autoSave": "off",
};

export interface CheckpointContext {
  /** The name the suite passed to `checkpoint(name)`. */
  name: string;
  page: Page;
  /**
   * Saves a PNG of the whole page (or of `selector` when given) as `<screenshotsDir>/<name>.png` and returns its
   * path (without `screenshotsDir`: into the temp folder, which is deleted unless `keepTemp`).
   */
  screenshot(name: string, selector?: string): Promise<string>;
}

export interface RunVsCodeSuiteOptions {
  /** Absolute path of the extension's folder (with its package.json and built main). */
  extensionPath: string;
  /** Absolute path of the built suite: a CommonJS file exporting `run(): Promise<void>`. */
  suitePath: string;
  /** Folder opened as the workspace; default: a fresh empty temp folder. */
  workspacePath?: string;
  /** User settings merged over BASE_SETTINGS, e.g. `{ "workbench.colorTheme": "Default Dark Modern" }`. */
  userSettings?: Record<string, unknown>;
  /** Extra environment for code-server; its extension host (where the suite runs) inherits it. */
  env?: Record<string, string>;
  /** Hard limit for everything (start, suite, screenshots); then the result is `timedOut` with exit code 124. */
  timeoutMs?: number;
  /**
   * Optional limit counted from the workbench being ready: the extension host's start (about 2-3 s here), the
   * suite and its checkpoints.
   */
  suiteTimeoutMs?: number;
  /**
   * Where screenshots go. When set and there is no `onCheckpoint`, every checkpoint is saved as `<name>.png`
   * (once the visible webviews have content); on a timeout the page is saved as `timeout.png`.
   */
  screenshotsDir?: string;
  /**
   * Runs at each `checkpoint(name)` of the suite, while the suite waits and its extension host is alive: drive or
   * inspect the page, take screenshots. A throw fails the suite's `checkpoint()` call.
   */
  onCheckpoint?: (ctx: CheckpointContext) => Promise<void>;
  viewport?: { width: number; height: number };
  codeServerDir?: string;
  chromiumPath?: string;
  /** Streams `output` lines as they come (default: collected only). */
  log?: (line: string) => void;
  /** Keep the temp folder (user data, logs) for inspection. */
  keepTemp?: boolean;
}

export interface RunVsCodeSuiteResult {
  /** 0 when the suite passed; 1 when it failed; 124 when the hard timeout hit; 2 when the harness itself failed. */
  exitCode: number;
  timedOut: boolean;
  /** What the suite's reporter printed (empty when it never ran). */
  suiteOutput: string;
  /** Every line: `[suite]`, `[harness]`, `[code-server]`, `[page:<type>]`, in order. */
  output: string;
  screenshots: string[];
  timings: { codeServerMs: number; browserMs: number; workbenchMs: number; suiteMs: number; totalMs: number };
  /** Set when the harness could not run the suite at all. */
  error?: string;
  tempDir: string;
}

export class HarnessSetupError extends Error {}

/**
 * Waits until every visible webview (the outer `iframe.webview` and its `#active-frame`) shows some content.
 * Webviews load asynchronously after their view opens: wait for them before a screenshot.
 */
export async function waitForWebviews(page: Page, timeoutMs = 10_000): Promise<void> {
  const outer = page.locator("iframe.webview");
  const count = await outer.count();
  for (let i = 0; i < count; i++) {
    const frame = outer.nth(i);
    if (!(await frame.isVisible())) continue;
    await frame.contentFrame().locator("#active-frame").contentFrame().locator("body *").first().waitFor({ state: "attached", timeout: timeoutMs });
  }
}

/**
 * The code-server binary, installed first when it is missing, and Chromium, installed where this user can (root
 * with apt-get); otherwise throws HarnessSetupError with the one command that would.
 */
export function findCodeServer(codeServerDir = DEFAULT_CODE_SERVER_DIR, chromiumPath = DEFAULT_CHROMIUM): string {
  try {
    ensurePackages({ browser: true, chromiumPath }, (line) => console.log(`[setup] ${line}`));
    return ensureCodeServer((line) => console.log(`[setup] ${line}`), codeServerDir);
  } catch (error) {
    throw new HarnessSetupError(error instanceof Error ? error.message : String(error));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What a launch has started; both are stopped by `shutDown`. */
interface Running {
  codeServer?: ChildProcess;
  browser?: Browser;
}

async function shutDown(running: Running): Promise<void> {
  // Each step bounded so that it cannot hang either.
  if (running.browser) await Promise.race([running.browser.close().catch(() => undefined), sleep(5000)]);
  if (running.codeServer) await stopProcessGroup(running.codeServer);
}

interface LaunchOptions {
  extensionPath: string;
  /** Install this packaged extension into the fresh extensions folder first. */
  vsix?: string;
  workspacePath?: string;
  userSettings?: Record<string, unknown>;
  env?: Record<string, string>;
  viewport?: { width: number; height: number };
  codeServerDir?: string;
  chromiumPath?: string;
}

/**
 * Starts code-server (fresh user data, extensions and XDG folders under `tempDir`) and a Chromium page for it, not
 * yet navigated. `beforeNavigation` runs on the page before anything is loaded in it.
 */
async function launch(
  options: LaunchOptions,
  tempDir: string,
  emit: (line: string) => void,
  deadline: number,
  timings: { codeServerMs: number; browserMs: number },
  running: Running,
  beforeNavigation?: (page: Page) => Promise<void>,
): Promise<{ page: Page; port: number; workspace: string; developmentPath: string }> {
  const codeServerDir = options.codeServerDir ?? DEFAULT_CODE_SERVER_DIR;
  const bin = findCodeServer(codeServerDir, options.chromiumPath);
  if (!path.isAbsolute(options.extensionPath) || !existsSync(options.extensionPath)) {
    throw new HarnessSetupError(`extensionPath must be an existing absolute path: ${options.extensionPath}`);
  }
  const devPath = developmentPath(options.extensionPath, codeServerDir, tempDir);
  const dirs = {
    userData: path.join(tempDir, "user-data"),
    extensions: path.join(tempDir, "extensions"),
    home: path.join(tempDir, "home"),
    workspace: options.workspacePath ?? path.join(tempDir, "workspace"),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  // code-server reads user settings from <user-data-dir>/User/settings.json on the server.
  mkdirSync(path.join(dirs.userData, "User"), { recursive: true });
  writeFileSync(path.join(dirs.userData, "User/settings.json"), JSON.stringify({ ...BASE_SETTINGS, ...options.userSettings }, null, 2));
  const xdg = xdgEnv(tempDir);
  if (options.vsix) {
    const installed = spawnSync(bin, ["--extensions-dir", dirs.extensions, "--user-data-dir", dirs.userData, "--install-extension", options.vsix], {
      env: { ...process.env, ...xdg, TMPDIR: tempDir },
      encoding: "utf8",
      timeout: 120_000,
    });
    emit(`[harness] installed ${path.basename(options.vsix)}: ${`${installed.stdout}${installed.stderr}`.trim()}`);
    if (installed.status !== 0) throw new Error(`code-server --install-extension failed (exit ${installed.status ?? "signal"}): ${installed.stderr}`);
  }

  let t = Date.now();
  const started = startCodeServer({
    bin,
    workspace: dirs.workspace,
    userDataDir: dirs.userData,
    extensionsDir: dirs.extensions,
    env: {
      ...process.env,
      ...xdg,
      EXTENSIONS_GALLERY: "{}", // no marketplace: nothing tries the network (override through `env`)
      ...options.env,
      TMPDIR: tempDir,
    },
    emit,
  });
  running.codeServer = started.child;
  const port = await started.port;
  await waitHealthy(port, deadline);
  timings.codeServerMs = Date.now() - t;
  emit(`[harness] code-server listening on 127.0.0.1:${port} (${timings.codeServerMs} ms)`);

  t = Date.now();
  running.browser = await chromium.launch({
    executablePath: options.chromiumPath ?? DEFAULT_CHROMIUM,
    args: CHROMIUM_ARGS,
    env: { ...process.env, ...xdg, HOME: dirs.home },
    timeout: Math.max(1000, deadline - Date.now()),
  });
  const context = await running.browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
  const page = await context.newPage();
  timings.browserMs = Date.now() - t;
  await beforeNavigation?.(page);
  page.on("console", (msg) => {
    // The workbench logs as console.log("%c INFO", "color: #33f", ...): drop the styling.
    emit(`[page:${msg.type()}] ${msg.text().replace(/^%c\s*(\w+)\s+color:\s*#\w+\s*/, "$1 ")}`);
  });
  page.on("pageerror", (err) => emit(`[page:error] ${err.message}`));
  return { page, port, workspace: dirs.workspace, developmentPath: devPath };
}

export async function runVsCodeSuite(options: RunVsCodeSuiteOptions): Promise<RunVsCodeSuiteResult> {
  const t0 = Date.now();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = t0 + timeoutMs;
  const lines: string[] = [];
  /** Records a line; a multi-line text becomes several lines, each with the first one's `[source]` prefix. */
  const emit = (text: string): void => {
    const prefix = /^\[[^\]]*\] /.exec(text)?.[0] ?? "";
    text.split("\n").forEach((line, i) => {
      const full = i === 0 ? line : `${prefix}${line}`;
      lines.push(full);
      options.log?.(full);
    });
  };
  const screenshots: string[] = [];
  const timings = { codeServerMs: 0, browserMs: 0, workbenchMs: 0, suiteMs: 0, totalMs: 0 };

  const tempDir = mkdtempSync(path.join(tmpdir(), "clarifycoder-vscode-"));
  const harnessDir = path.join(tempDir, "harness");
  mkdirSync(harnessDir);
  const suiteOutputFile = path.join(harnessDir, SUITE_OUTPUT_FILE);
  const readSuiteOutput = (): string => (existsSync(suiteOutputFile) ? readFileSync(suiteOutputFile, "utf8") : "");
  let suiteOutputSeen = 0;
  let suitePartial = "";
  /** Emits the suite's new output lines (`flush`: also an unterminated last line). */
  const pumpSuiteOutput = (flush = false): void => {
    const all = readSuiteOutput();
    if (all.length > suiteOutputSeen) {
      suitePartial += all.slice(suiteOutputSeen);
      suiteOutputSeen = all.length;
    }
    const parts = suitePartial.split("\n");
    suitePartial = parts.pop() ?? "";
    if (flush && suitePartial) {
      parts.push(suitePartial);
      suitePartial = "";
    }
    for (const line of parts) emit(`[suite] ${line}`);
  };

  const result = (exitCode: number, timedOut: boolean, error?: string): RunVsCodeSuiteResult => ({
    exitCode,
    timedOut,
    suiteOutput: readSuiteOutput(),
    output: lines.join("\n"),
    screenshots,
    timings: { ...timings, totalMs: Date.now() - t0 },
    ...(error === undefined ? {} : { error }),
    tempDir,
  });

  /** What has been started so far, for the teardown (also after a timeout). */
  const started: Running = {};
  let page: Page | undefined;
  let timer: NodeJS.Timeout | undefined;
  let exitResolve: (code: number) => void = () => {};
  const exitCode = new Promise<number>((r) => (exitResolve = r));
  /** Set once the run is decided (timeout): main() must stop touching the page. */
  let abandoned = false;

  const screenshot = async (name: string, selector?: string): Promise<string> => {
    if (!page) throw new Error("no page");
    const dir = options.screenshotsDir ?? path.join(tempDir, "screenshots");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}.png`);
    if (selector) await page.locator(selector).first().screenshot({ path: file, timeout: 10_000 });
    else await page.screenshot({ path: file, timeout: 10_000 });
    screenshots.push(file);
    return file;
  };

  const main = async (): Promise<RunVsCodeSuiteResult> => {
    if (!path.isAbsolute(options.suitePath) || !existsSync(options.suitePath)) {
      throw new HarnessSetupError(`suitePath must be an existing absolute path: ${options.suitePath}`);
    }
    const launched = await launch(
      { ...options, env: { ...options.env, [HARNESS_DIR_ENV]: harnessDir } },
      tempDir,
      emit,
      deadline,
      timings,
      started,
      async (page) => {
        await page.exposeFunction("codeAutomationExit", (code: unknown) => {
          exitResolve(typeof code === "number" ? code : 1);
        });
      },
    );
    const livePage = launched.page;
    page = livePage;
    const url = workbenchUrl(launched.port, launched.workspace, launched.developmentPath, options.suitePath);
    let t = Date.now();
    await livePage.goto(url, { timeout: Math.max(1000, deadline - Date.now()) });
    await livePage.locator(".monaco-workbench").waitFor({ timeout: Math.max(1000, deadline - Date.now()) });
    timings.workbenchMs = Date.now() - t;
    emit(`[harness] workbench ready (${timings.workbenchMs} ms); running the suite`);

    t = Date.now();
    let code: number | undefined;
    void exitCode.then((c) => (code = c));
    while (code === undefined) {
      if (abandoned) throw new Error("abandoned");
      if (options.suiteTimeoutMs !== undefined && Date.now() - t > options.suiteTimeoutMs) {
        timings.suiteMs = Date.now() - t;
        pumpSuiteOutput(true);
        emit(`[harness] TIMEOUT: the suite ran longer than ${options.suiteTimeoutMs} ms`);
        return result(124, true, `the suite timed out after ${options.suiteTimeoutMs} ms`);
      }
      pumpSuiteOutput();
      for (const file of readdirSync(harnessDir)
        .filter((f) => f.endsWith(".request"))
        .sort()) {
        await answerCheckpoint(livePage, path.join(harnessDir, file));
      }
      await Promise.race([exitCode, sleep(100)]);
    }
    timings.suiteMs = Date.now() - t;
    pumpSuiteOutput(true);
    emit(`[harness] suite finished with exit code ${code} (${timings.suiteMs} ms)`);
    return result(code, false);
  };

  const answerCheckpoint = async (livePage: Page, requestFile: string): Promise<void> => {
    const doneFile = requestFile.replace(/\.request$/, ".done");
    let answer: { ok: true } | { error: string };
    try {
      const { name } = JSON.parse(readFileSync(requestFile, "utf8")) as { name: string };
      rmSync(requestFile);
      emit(`[harness] checkpoint "${name}"`);
      if (options.onCheckpoint) await options.onCheckpoint({ name, page: livePage, screenshot });
      else if (options.screenshotsDir) {
        await waitForWebviews(livePage);
        await screenshot(name);
      }
      answer = { ok: true };
    } catch (err) {
      rmSync(requestFile, { force: true });
      answer = { error: err instanceof Error ? err.message : String(err) };
      emit(`[harness] checkpoint failed: ${answer.error}`);
    }
    writeFileSync(`${doneFile}.tmp`, JSON.stringify(answer));
    renameSync(`${doneFile}.tmp`, doneFile);
  };

  const timeout = new Promise<RunVsCodeSuiteResult>((resolve) => {
    timer = setTimeout(
      () => {
        emit(`[harness] TIMEOUT after ${timeoutMs} ms`);
        resolve(result(124, true, `timed out after ${timeoutMs} ms`));
      },
      Math.max(0, deadline - Date.now()),
    );
  });

  let outcome: RunVsCodeSuiteResult;
  const running = main();
  running.catch(() => undefined); // after a timeout its late rejection is expected
  try {
    outcome = await Promise.race([running, timeout]);
  } catch (err) {
    if (err instanceof HarnessSetupError) {
      clearTimeout(timer);
      rmSync(tempDir, { recursive: true, force: true });
      throw err;
    }
    const message = err instanceof Error ? err.message : String(err);
    emit(`[harness] error: ${message}`);
    outcome = result(2, false, message);
  } finally {
    clearTimeout(timer);
    abandoned = true;
  }

  pumpSuiteOutput(true);
  if (outcome.timedOut && options.screenshotsDir && page) {
    await Promise.race([screenshot("timeout").catch(() => undefined), sleep(5000)]);
  }
  // Teardown, each step bounded so that it cannot hang either.
  await shutDown(started);
  if (!options.keepTemp) rmSync(tempDir, { recursive: true, force: true });
  return {
    ...outcome,
    suiteOutput: outcome.suiteOutput,
    output: lines.join("\n"),
    screenshots,
    timings: { ...outcome.timings, totalMs: Date.now() - t0 },
  };
}

/**
 * Opens the workbench in code-server with the extension loaded from its folder (no test suite), for tests that
 * drive it as a user does (test/vscode/ui/). Everything it started stops with `close()`.
 */
export const openCodeServerWorkbench: OpenWorkbench = async (options) => {
  const tempDir = mkdtempSync(path.join(tmpdir(), "clarifycoder-ui-"));
  const output: string[] = [];
  const emit = (line: string): void => void output.push(line);
  const running: Running = {};
  const close = async (): Promise<void> => {
    await shutDown(running);
    rmSync(tempDir, { recursive: true, force: true });
  };
  try {
    const timings = { codeServerMs: 0, browserMs: 0 };
    const launched = await launch(
      {
        extensionPath: REPO_ROOT,
        workspacePath: options.workspace,
        ...(options.userSettings ? { userSettings: options.userSettings } : {}),
        ...(options.viewport ? { viewport: options.viewport } : {}),
        ...(options.vsix ? { vsix: options.vsix } : {}),
      },
      tempDir,
      emit,
      Date.now() + 60_000,
      timings,
      running,
    );
    // A packaged extension is simply installed; otherwise the extension loads from this folder.
    const url = workbenchUrl(launched.port, launched.workspace, options.vsix ? undefined : launched.developmentPath);
    await launched.page.goto(url, { timeout: 60_000 });
    await launched.page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
    return { page: launched.page, workspace: options.workspace, output, close };
  } catch (error) {
    await close();
    throw error;
  }
};
