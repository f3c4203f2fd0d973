/**
 * `npm start`: opens VS Code with ClarifyCoder loaded from this folder and a sample workspace.
 *
 * - Where the desktop `code` command is installed: a VS Code window with `--extensionDevelopmentPath` and user data
 *   and extensions folders of its own.
 * - Otherwise: the web VS Code (code-server, installed on first run) on 127.0.0.1, the extension loaded from source;
 *   its address is printed, and opened where a browser exists.
 *
 * All its state lives in .cache/start/ (ignored by git). Ctrl-C stops everything it started.
 * Options: `npm start -- --web` (the web VS Code even where `code` exists), `--port N` (default 3210, or the next free
 * one), `--no-open` (print the address only). With no model chosen, the extension uses the catalog's default model
 * (fetched with the first request, with progress in the view).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import {
  CODE_SERVER_VERSION,
  DEFAULT_CODE_SERVER_DIR,
  REPO_ROOT,
  SetupError,
  developmentPath,
  ensureCodeServer,
  startCodeServer,
  stopProcessGroup,
  waitHealthy,
  workbenchUrl,
  xdgEnv,
} from "./code-server";

/** Where its state lives; CLARIFYCODER_START_STATE moves it (the test of this script uses a folder of its own). */
const STATE = process.env.CLARIFYCODER_START_STATE ? path.resolve(process.env.CLARIFYCODER_START_STATE) : path.join(REPO_ROOT, ".cache/start");
const SAMPLE = path.join(REPO_ROOT, "scripts/sample-workspace");
const DEFAULT_PORT = 3210;

const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface Options {
  web: boolean;
  port: number | undefined;
  open: boolean;
}

function parseArgs(args: string[]): Options {
  const options: Options = { web: false, port: undefined, open: true };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--web") options.web = true;
    else if (arg === "--no-open") options.open = false;
    else if (arg === "--port") {
      const port = Number(args[++i]);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new SetupError(`--port must be a port number from 1 to 65535 (got ${args[i] ?? "nothing"}).`);
      options.port = port;
    } else throw new SetupError(`Unknown option ${arg}: npm start takes --web, --port N and --no-open.`);
  }
  return options;
}

/** The sample workspace, copied once into .cache/start/workspace (the user's changes there are kept). */
function prepareWorkspace(): string {
  const workspace = path.join(STATE, "workspace");
  if (!existsSync(workspace)) cpSync(SAMPLE, workspace, { recursive: true });
  return workspace;
}

/** User settings: quiet defaults, only where none are set yet. */
function prepareUserSettings(userData: string): void {
  const file = path.join(userData, "User/settings.json");
  mkdirSync(path.dirname(file), { recursive: true });
  let settings: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      settings = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch {
      say(`(${path.relative(REPO_ROOT, file)} is not plain JSON; leaving it as it is.)`);
      return;
    }
  }
  const defaults: Record<string, unknown> = {
    "workbench.startupEditor": "none",
    "security.workspace.trust.enabled": false,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.ignoreRecommendations": true,
    // The sample workspace lies inside this repository: no offer to open the repository around it.
    "git.openRepositoryInParentFolders": "never",
  };
  for (const [key, value] of Object.entries(defaults)) if (!(key in settings)) settings[key] = value;
  writeFileSync(file, `${JSON.stringify(settings, null, 2)}\n`);
}

/** The desktop `code` command, when it is desktop VS Code (not code-server or a stub). */
function desktopCode(): string | undefined {
  const found = spawnSync("code", ["--version"], { encoding: "utf8", timeout: 15_000 });
  if (found.status !== 0 || !/^\d+\.\d+\.\d+/.test(found.stdout)) return undefined;
  return "code";
}

function freePort(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(preferred === 0 ? 0 : freePort(preferred + 1 > 65535 ? 0 : preferred + 1)));
    server.listen(preferred, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : preferred;
      server.close(() => resolve(port));
    });
  });
}

/** Opens the address in a browser where there is one; says so either way. */
function openBrowser(url: string): void {
  const opener =
    process.platform === "darwin"
      ? ["open"]
      : process.platform === "win32"
        ? ["cmd", "/c", "start", ""]
        : process.env.DISPLAY || process.env.WAYLAND_DISPLAY
          ? ["xdg-open"]
          : undefined;
  if (!opener) {
    say("No desktop browser here: open the address above in a browser that can reach this machine.");
    return;
  }
  const [command, ...args] = opener as [string, ...string[]];
  const child = spawn(command, [...args, url], { stdio: "ignore", detached: true });
  child.on("error", () => say("Could not start a browser: open the address above yourself."));
  child.unref();
}

/** Stops `children` on Ctrl-C (or a kill), then exits. */
function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      say("\nStopping...");
      void stop().finally(() => process.exit(0));
    });
  }
}

async function runDesktop(code: string, workspace: string): Promise<number> {
  const userData = path.join(STATE, "desktop/user-data");
  prepareUserSettings(userData);
  say("Opening VS Code (desktop) with ClarifyCoder loaded from this folder; close its window (or press Ctrl-C) to end.");
  const child: ChildProcess = spawn(
    code,
    [
      "--wait",
      "--new-window",
      `--extensionDevelopmentPath=${REPO_ROOT}`,
      `--user-data-dir=${userData}`,
      `--extensions-dir=${path.join(STATE, "desktop/extensions")}`,
      workspace,
    ],
    { stdio: "inherit" },
  );
  stopOnSignals(async () => {
    child.kill("SIGTERM");
  });
  return new Promise((resolve) => child.on("exit", (status) => resolve(status ?? 0)));
}

async function runWeb(options: Options, workspace: string): Promise<number> {
  const bin = ensureCodeServer(say, DEFAULT_CODE_SERVER_DIR);
  const web = path.join(STATE, "web");
  const userData = path.join(web, "user-data");
  mkdirSync(path.join(web, "extensions"), { recursive: true });
  prepareUserSettings(userData);
  const port = options.port ?? (await freePort(DEFAULT_PORT));
  say(`Starting VS Code for the Web (code-server ${CODE_SERVER_VERSION}) on 127.0.0.1:${port}...`);
  const started = startCodeServer({
    bin,
    workspace,
    userDataDir: userData,
    extensionsDir: path.join(web, "extensions"),
    port,
    env: { ...process.env, ...xdgEnv(web), EXTENSIONS_GALLERY: "{}" },
  });
  stopOnSignals(() => stopProcessGroup(started.child));
  const exited = new Promise<number>((resolve) => started.child.on("exit", (status) => resolve(status ?? 1)));
  const listening = await Promise.race([
    started.port,
    exited.then((status) => Promise.reject(new SetupError(`code-server stopped at once (exit ${status}); run it again to see why.`))),
  ]);
  await waitHealthy(listening, Date.now() + 30_000);
  const url = workbenchUrl(listening, workspace, developmentPath(REPO_ROOT, DEFAULT_CODE_SERVER_DIR, web));
  say(`\nVS Code is ready, with ClarifyCoder loaded from this folder:\n\n  ${url}\n`);
  if (options.open) openBrowser(url);
  say("Press Ctrl-C to stop it.");
  return exited;
}

async function main(): Promise<number> {
  try {
    const options = parseArgs(process.argv.slice(2));
    mkdirSync(STATE, { recursive: true });
    const workspace = prepareWorkspace();
    const code = options.web ? undefined : desktopCode();
    return code ? await runDesktop(code, workspace) : await runWeb(options, workspace);
  } catch (error) {
    if (error instanceof SetupError) {
      process.stderr.write(`npm start: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

main().then((code) => (process.exitCode = code));
