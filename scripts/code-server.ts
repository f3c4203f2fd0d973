/**
 * The web VS Code this project runs and tests the extension in: code-server (a real VS Code, server + web workbench)
 * pinned to the last version that runs on Node 20, installed from npm into a project-local ignored folder, and the
 * Debian packages its install and the browser tests need. Used by `npm start` (scripts/start.ts) and by the VS Code
 * test tier (test/vscode/harness.ts), so that both set themselves up on a fresh machine.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..");
/** code-server 4.100.3 is VS Code 1.100.3; 4.103 and later need Node 22. */
export const CODE_SERVER_VERSION = "4.100.3";
export const DEFAULT_CODE_SERVER_DIR = process.env.CODE_SERVER_DIR || path.join(REPO_ROOT, ".cache/code-server");
export const DEFAULT_CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Something this machine lacks that only its owner can add: the message is one sentence saying what to run. */
export class SetupError extends Error {
  override name = "SetupError";
}

export function codeServerBin(dir = DEFAULT_CODE_SERVER_DIR): string {
  return path.join(dir, "node_modules/.bin/code-server");
}

function installedVersion(dir: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(path.join(dir, "node_modules/code-server/package.json"), "utf8")) as { version?: unknown };
    return typeof manifest.version === "string" ? manifest.version : undefined;
  } catch {
    return undefined;
  }
}

/** The code-server binary when the pinned version is installed in `dir`. */
export function installedCodeServer(dir = DEFAULT_CODE_SERVER_DIR): string | undefined {
  const bin = codeServerBin(dir);
  return installedVersion(dir) === CODE_SERVER_VERSION && existsSync(bin) ? bin : undefined;
}

const commandExists = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;

/**
 * What a task needs from the system: code-server's install (`build`), the browser tests (`browser`), Python 3 and
 * bubblewrap, which confines the evaluation's sandbox (`python`).
 */
export interface SystemNeeds {
  build?: boolean;
  browser?: boolean;
  chromiumPath?: string;
  python?: boolean;
}

/** The Debian packages for what is missing. */
export function missingPackages(needs: SystemNeeds): string[] {
  const missing = new Set<string>();
  if (needs.build) {
    if (!commandExists("rg")) missing.add("ripgrep");
    if (!existsSync("/usr/include/gssapi/gssapi.h") && !commandExists("krb5-config")) missing.add("libkrb5-dev");
    if (!commandExists("make") || !commandExists("g++")) missing.add("build-essential");
    if (!commandExists("python3")) missing.add("python3");
  }
  if (needs.browser && !existsSync(needs.chromiumPath ?? DEFAULT_CHROMIUM)) missing.add("chromium");
  if (needs.python && !commandExists("python3")) missing.add("python3");
  if (needs.python && !commandExists("bwrap")) missing.add("bubblewrap");
  return [...missing];
}

const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0;

/**
 * Installs the missing Debian packages where it can (as root, with apt-get); elsewhere throws a SetupError whose
 * message is the one command that would.
 */
export function ensurePackages(needs: SystemNeeds, log: (line: string) => void): void {
  const missing = missingPackages(needs);
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (!isRoot() || !commandExists("apt-get")) {
    throw new SetupError(
      `This machine lacks ${missing.join(", ")}: install ${missing.length === 1 ? "it" : "them"} with \`sudo sh -c "${command}"\` (or your system's equivalent) and run this again.`,
    );
  }
  log(`Installing ${missing.join(", ")} with apt-get (once)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", ...missing],
  ]) {
    const result = spawnSync("apt-get", args, { stdio: ["ignore", "inherit", "inherit"], env });
    if (result.status !== 0)
      throw new SetupError(`\`apt-get ${args.join(" ")}\` failed (exit ${result.status ?? "signal"}): run \`${command}\` by hand and look at its output.`);
  }
}

function writable(dir: string): boolean {
  let probe = dir;
  while (!existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe);
  try {
    accessSync(probe, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The pinned code-server, installed into `dir` first if it is not there yet (about 40 s and 300 MB, once), with the
 * Debian packages its install needs. npm's own output is the progress.
 */
export function ensureCodeServer(log: (line: string) => void, dir = DEFAULT_CODE_SERVER_DIR): string {
  const ready = installedCodeServer(dir);
  if (ready) return ready;
  if (process.versions.node.split(".")[0] !== "20") {
    throw new SetupError(
      `code-server ${CODE_SERVER_VERSION} runs on Node 20 only (this is Node ${process.versions.node}): install Node 20 and run this again.`,
    );
  }
  if (!writable(dir))
    throw new SetupError(`${dir} is not writable by this user: give it to this user (or set CODE_SERVER_DIR to a folder of theirs) and run this again.`);
  ensurePackages({ build: true }, log);
  mkdirSync(dir, { recursive: true });
  // @vscode/ripgrep's postinstall downloads rg from GitHub; it finds the download cached in its TMPDIR instead.
  const tmp = path.join(dir, "tmp");
  const cache = path.join(tmp, "vscode-ripgrep-cache-1.15.11");
  const tarball = path.join(cache, "ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz");
  if (!existsSync(tarball)) {
    mkdirSync(cache, { recursive: true });
    const stage = path.join(tmp, "rg-stage");
    mkdirSync(stage, { recursive: true });
    const rg = execFileSync("sh", ["-c", "command -v rg"], { encoding: "utf8" }).trim();
    execFileSync("cp", [rg, path.join(stage, "rg")]);
    execFileSync("tar", ["-czf", tarball, "-C", stage, "./rg"]);
  }
  // A package.json of its own, so npm treats the folder as the project root instead of walking up to this repository.
  const manifest = path.join(dir, "package.json");
  if (!existsSync(manifest)) writeFileSync(manifest, `${JSON.stringify({ name: "clarifycoder-code-server", private: true })}\n`);
  const where = dir.startsWith(REPO_ROOT + path.sep) ? path.relative(REPO_ROOT, dir) : dir;
  log(`Installing code-server ${CODE_SERVER_VERSION} (VS Code 1.100.3) into ${where} (once, about a minute and 300 MB)...`);
  const started = Date.now();
  const result = spawnSync(
    "npm",
    ["install", "--prefix", dir, "--no-audit", "--no-fund", "--save-exact", "--foreground-scripts", `code-server@${CODE_SERVER_VERSION}`],
    {
      stdio: ["ignore", "inherit", "inherit"],
      // unsafe_perm: code-server's postinstall refuses to run as root otherwise; yes: node-pty's postinstall runs npx.
      env: { ...process.env, TMPDIR: tmp, npm_config_unsafe_perm: "true", npm_config_yes: "true" },
    },
  );
  const bin = installedCodeServer(dir);
  if (result.status !== 0 || !bin) throw new SetupError(`Installing code-server failed (npm exit ${result.status ?? "signal"}); its output above says why.`);
  log(`code-server installed in ${Math.round((Date.now() - started) / 1000)} s.`);
  return bin;
}

/** Folders that keep code-server's (and the browser's) state out of $HOME. */
export function xdgEnv(root: string): Record<string, string> {
  return { XDG_CONFIG_HOME: path.join(root, "xdg/config"), XDG_DATA_HOME: path.join(root, "xdg/data"), XDG_CACHE_HOME: path.join(root, "xdg/cache") };
}

export interface CodeServerOptions {
  bin: string;
  /** The folder it opens. */
  workspace: string;
  userDataDir: string;
  extensionsDir: string;
  /** 0: one the OS picks. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** Every line it prints. */
  emit?: (line: string) => void;
}

/** Starts code-server on 127.0.0.1 in a process group of its own; `port` resolves once it listens. */
export function startCodeServer(options: CodeServerOptions): { child: ChildProcess; port: Promise<number> } {
  const args = [
    "--auth",
    "none",
    "--disable-telemetry",
    "--disable-update-check",
    "--disable-workspace-trust",
    "--disable-getting-started-override",
    "--ignore-last-opened",
    "--bind-addr",
    `127.0.0.1:${options.port ?? 0}`,
    "--extensions-dir",
    options.extensionsDir,
    "--user-data-dir",
    options.userDataDir,
    options.workspace,
  ];
  const child = spawn(options.bin, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const port = new Promise<number>((resolve, reject) => {
    const onLine = (prefix: string) => {
      let buffered = "";
      return (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          options.emit?.(`${prefix}${line}`);
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitHealthy(port: number, deadline: number): Promise<void> {
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

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
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

/** Stops a process started with `detached: true` and everything in its group: TERM, then KILL. */
export async function stopProcessGroup(child: ChildProcess): Promise<void> {
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

/** The workbench URL that loads an extension from its folder (no packaging), optionally running a test suite. */
export function workbenchUrl(port: number, workspace: string, extensionPath?: string, testsPath?: string): string {
  const authority = `127.0.0.1:${port}`;
  const payload: [string, string][] = [];
  if (extensionPath) payload.push(["extensionDevelopmentPath", `vscode-remote://${authority}${extensionPath}`]);
  if (testsPath) payload.push(["extensionTestsPath", `vscode-remote://${authority}${testsPath}`]);
  const query = `folder=${encodeURIComponent(workspace)}${payload.length > 0 ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : ""}`;
  return `http://${authority}/?${query}`;
}

/**
 * The path to load the extension from. VS Code takes its color and icon themes from the extension under development
 * when a theme file lies inside the extension's folder: with code-server installed inside this repository
 * (.cache/code-server) every built-in theme does, and the configured theme would be ignored. So, in that case, the
 * extension is loaded through a symlink in `linkDir`, outside code-server's tree.
 */
export function developmentPath(extensionPath: string, codeServerDir: string, linkDir: string): string {
  const codeServerRoot = realpathSync(codeServerDir);
  const extensionReal = realpathSync(extensionPath);
  if (!codeServerRoot.startsWith(extensionReal + path.sep)) return extensionPath;
  const link = path.join(linkDir, path.basename(extensionReal));
  if (!existsSync(link)) symlinkSync(extensionReal, link, "dir");
  return link;
}
