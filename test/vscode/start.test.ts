/**
 * `npm start` as a newcomer without desktop VS Code gets it (`--web`): it prints an address; that address opens a VS
 * Code with ClarifyCoder loaded from this folder, the sample workspace and the default model preselected; Ctrl-C stops
 * everything it started, and the port is free again.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, DEFAULT_CHROMIUM, findCodeServer, REPO_ROOT } from "./harness";
import { freePort } from "../helpers/ports";
import { WorkbenchDriver } from "./ui/workbench";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

test("npm start -- --web prints an address that opens VS Code with ClarifyCoder; Ctrl-C stops it all", { timeout: 300_000 }, async () => {
  findCodeServer();
  const state = await mkdtemp(path.join(tmpdir(), "clarifycoder-start-"));
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", "--web", "--no-open", "--port", String(port)], {
    cwd: REPO_ROOT,
    env: { ...process.env, CLARIFYCODER_START_STATE: state },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const browser = await chromium.launch({ executablePath: DEFAULT_CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const deadline = Date.now() + 120_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline && child.exitCode === null) {
      url = /^\s+(http:\/\/127\.0\.0\.1:\d+\/\S+)$/m.exec(output)?.[1];
      if (!url) await sleep(200);
    }
    assert.ok(url, `no address printed:\n${output}`);
    assert.ok(url.startsWith(`http://127.0.0.1:${port}/`), url);
    assert.match(output, /Press Ctrl-C to stop it\./);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(url);
    const ui = new WorkbenchDriver(
      { page, workspace: path.join(state, "workspace"), output: [], close: async () => undefined },
      path.join(REPO_ROOT, "test-results/npm-start"),
    );
    await ui.ready();
    await ui.openFile("dates.py");
    await ui.command("ClarifyCoder: Focus on Chat View");
    await ui.chatFrame(60_000);
    await ui.chat().locator(".model-label", { hasText: "Qwen2.5-Coder 0.5B Instruct" }).waitFor({ timeout: 30_000 });
    await ui.shot("chat-view");
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${output}`, { cause: error });
  } finally {
    await Promise.race([browser.close().catch(() => undefined), sleep(5000)]);
    child.kill("SIGINT");
    const code = await Promise.race([exited, sleep(30_000).then(() => "still running" as const)]);
    if (code === "still running") child.kill("SIGKILL");
    rmSync(state, { recursive: true, force: true });
    assert.equal(code, 0, `npm start after Ctrl-C:\n${output}`);
  }
  assert.match(output, /Stopping\.\.\./);
  assert.equal(await accepts(port), false, "code-server no longer listens");
});
