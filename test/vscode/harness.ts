/**
 * Runs an extension-host test suite inside a real VS Code, offline: code-server (VS Code 1.100.3, server + web
 * workbench, installed by test/vscode/setup-code-server.sh) driven by Debian's Chromium through playwright-core.
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
import { spawn, type ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const REPO_ROOT = path.resolve(__dirname, "../..");
/** Where setup-code-server.sh installs code-server (both honour CODE_SERVER_DIR). */
export const DEFAULT_CODE_SERVER_DIR = process.env.CODE_SERVER_DIR || path.join(REPO_ROOT, ".cache/code-server");
export const DEFAULT_CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
/** Must match suite/harness-client.ts. */
export const HARNESS_DIR_ENV = "CLARIFYCODER_VSCODE_HARNESS_DIR";
const SUITE_OUTPUT_FILE = "suite-output.txt";

export const SETUP_HINT = "run `bash test/vscode/setup-code-server.sh` (needs: apt-get install -y libkrb5-dev ripgrep chromium)";

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
    await frame
      .contentFrame()
      .locator("#active-frame")
      .contentFrame()
      .locator("body *")
      .first()
      .waitFor({ state: "attached", timeout: timeoutMs });
  }
}

/** Checks the prerequisites and returns the code-server binary; throws HarnessSetupError with a fix otherwise. */
export function findCodeServer(codeServerDir = DEFAULT_CODE_SERVER_DIR, chromiumPath = DEFAULT_CHROMIUM): string {
  const bin = path.join(codeServerDir, "node_modules/.bin/code-server");
  if (!existsSync(bin)) {
    throw new HarnessSetupError(`code-server is not installed in ${codeServerDir}: ${SETUP_HINT}`);
  }
  if (!existsSync(chromiumPath)) {
    throw new HarnessSetupError(`Chromium not found at ${chromiumPath}: apt-get install -y chromium (or pass chromiumPath)`);
  }
  return bin;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole group: code-server and the extension host it forked
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child, "SIGKILL"); // stragglers in its group
    return;
  }
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  killGroup(child, "SIGTERM");
  await Promise.race([exited, sleep(3000)]);
  killGroup(child, "SIGKILL");
  await Promise.race([exited, sleep(2000)]);
}

/** Starts code-server on 127.0.0.1 with an OS-chosen port and resolves with that port once it listens. */
function startCodeServer(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  emit: (line: string) => void,
): { child: ChildProcess; port: Promise<number> } {
  const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const port = new Promise<number>((resolve, reject) => {
    const onLine = (prefix: string) => {
      let buffered = "";
      return (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          emit(`${prefix}${line}`);
          const m = /HTTP server listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(line);
          if (m?.[1]) resolve(Number(m[1]));
        }
      };
    };
    child.stdout?.on("data", onLine("[code-server] "));
    child.stderr?.on("data", onLine("[code-server!] "));
    child.once("error", reject);
    child.once("exit", (code, signal) => reject(new Error(`code-server exited early (code ${code}, signal ${signal})`)));
  });
  return { child, port };
}

async function waitHealthy(port: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error("code-server did not become healthy");
    await sleep(100);
  }
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

  let codeServer: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let timer: NodeJS.Timeout | undefined;
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
    const bin = findCodeServer(options.codeServerDir, options.chromiumPath);
    for (const [what, p] of [
      ["extensionPath", options.extensionPath],
      ["suitePath", options.suitePath],
    ] as const) {
      if (!path.isAbsolute(p) || !existsSync(p)) throw new HarnessSetupError(`${what} must be an existing absolute path: ${p}`);
    }

    // VS Code picks its color, file-icon and product-icon themes from the extension under development when that
    // contributes any, matching by "theme file is inside the extension's folder". code-server installed in this
    // repository (.cache/code-server) puts all its built-in themes inside it: the configured theme would then be
    // ignored (Light+ always). So load the extension through a symlink outside code-server's tree in that case.
    const codeServerRoot = realpathSync(options.codeServerDir ?? DEFAULT_CODE_SERVER_DIR);
    const extensionReal = realpathSync(options.extensionPath);
    let developmentPath = options.extensionPath;
    if (codeServerRoot.startsWith(extensionReal + path.sep)) {
      developmentPath = path.join(tempDir, path.basename(extensionReal));
      symlinkSync(extensionReal, developmentPath, "dir");
    }

    const dirs = {
      userData: path.join(tempDir, "user-data"),
      extensions: path.join(tempDir, "extensions"),
      xdgConfig: path.join(tempDir, "xdg/config"),
      xdgData: path.join(tempDir, "xdg/data"),
      xdgCache: path.join(tempDir, "xdg/cache"),
      home: path.join(tempDir, "home"),
      workspace: options.workspacePath ?? path.join(tempDir, "workspace"),
    };
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    // code-server reads user settings from <user-data-dir>/User/settings.json on the server.
    mkdirSync(path.join(dirs.userData, "User"), { recursive: true });
    writeFileSync(
      path.join(dirs.userData, "User/settings.json"),
      JSON.stringify({ ...BASE_SETTINGS, ...options.userSettings }, null, 2),
    );
    const xdgEnv = { XDG_CONFIG_HOME: dirs.xdgConfig, XDG_DATA_HOME: dirs.xdgData, XDG_CACHE_HOME: dirs.xdgCache };

    // code-server
    let t = Date.now();
    const started = startCodeServer(
      bin,
      [
        "--auth", "none",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--ignore-last-opened",
        "--bind-addr", "127.0.0.1:0",
        "--extensions-dir", dirs.extensions,
        "--user-data-dir", dirs.userData,
        dirs.workspace,
      ],
      {
        ...process.env,
        ...xdgEnv,
        EXTENSIONS_GALLERY: "{}", // no marketplace: nothing tries the network (override through `env`)
        ...options.env,
        TMPDIR: tempDir,
        [HARNESS_DIR_ENV]: harnessDir,
      },
      emit,
    );
    codeServer = started.child;
    const port = await started.port;
    await waitHealthy(port, deadline);
    timings.codeServerMs = Date.now() - t;
    emit(`[harness] code-server listening on 127.0.0.1:${port} (${timings.codeServerMs} ms)`);

    // Chromium
    t = Date.now();
    browser = await chromium.launch({
      executablePath: options.chromiumPath ?? DEFAULT_CHROMIUM,
      args: CHROMIUM_ARGS,
      env: { ...process.env, ...xdgEnv, HOME: dirs.home },
      timeout: Math.max(1000, deadline - Date.now()),
    });
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
    page = await context.newPage();
    timings.browserMs = Date.now() - t;

    let exitResolve: (code: number) => void = () => {};
    const exitCode = new Promise<number>((r) => (exitResolve = r));
    await page.exposeFunction("codeAutomationExit", (code: unknown) => {
      exitResolve(typeof code === "number" ? code : 1);
    });
    page.on("console", (msg) => {
      // The workbench logs as console.log("%c INFO", "color: #33f", ...): drop the styling.
      emit(`[page:${msg.type()}] ${msg.text().replace(/^%c\s*(\w+)\s+color:\s*#\w+\s*/, "$1 ")}`);
    });
    page.on("pageerror", (err) => emit(`[page:error] ${err.message}`));

    const authority = `127.0.0.1:${port}`;
    const payload = [
      ["extensionDevelopmentPath", `vscode-remote://${authority}${developmentPath}`],
      ["extensionTestsPath", `vscode-remote://${authority}${options.suitePath}`],
    ];
    const url = `http://${authority}/?folder=${encodeURIComponent(dirs.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    t = Date.now();
    await page.goto(url, { timeout: Math.max(1000, deadline - Date.now()) });
    await page.locator(".monaco-workbench").waitFor({ timeout: Math.max(1000, deadline - Date.now()) });
    timings.workbenchMs = Date.now() - t;
    emit(`[harness] workbench ready (${timings.workbenchMs} ms); running the suite`);

    t = Date.now();
    let code: number | undefined;
    void exitCode.then((c) => (code = c));
    const livePage = page;
    while (code === undefined) {
      if (abandoned) throw new Error("abandoned");
      if (options.suiteTimeoutMs !== undefined && Date.now() - t > options.suiteTimeoutMs) {
        timings.suiteMs = Date.now() - t;
        pumpSuiteOutput(true);
        emit(`[harness] TIMEOUT: the suite ran longer than ${options.suiteTimeoutMs} ms`);
        return result(124, true, `the suite timed out after ${options.suiteTimeoutMs} ms`);
      }
      pumpSuiteOutput();
      for (const file of readdirSync(harnessDir).filter((f) => f.endsWith(".request")).sort()) {
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
    timer = setTimeout(() => {
      emit(`[harness] TIMEOUT after ${timeoutMs} ms`);
      resolve(result(124, true, `timed out after ${timeoutMs} ms`));
    }, Math.max(0, deadline - Date.now()));
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
  if (browser) await Promise.race([browser.close().catch(() => undefined), sleep(5000)]);
  if (codeServer) await stopProcess(codeServer);
  if (!options.keepTemp) rmSync(tempDir, { recursive: true, force: true });
  return {
    ...outcome,
    suiteOutput: outcome.suiteOutput,
    output: lines.join("\n"),
    screenshots,
    timings: { ...outcome.timings, totalMs: Date.now() - t0 },
  };
}
