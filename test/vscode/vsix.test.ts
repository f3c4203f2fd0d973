/**
 * The linux-x64 package as a user gets it: `npm run package -- --target linux-x64` builds the VSIX, which holds no
 * sources or tests and only the linux-x64 binaries (CPU and Vulkan); code-server installs it (--install-extension);
 * and in that VS Code it activates, its chat view opens from the command palette, and it holds one conversation on
 * the tiny model. Takes about two minutes (most of it packaging).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { writeTinyModel } from "../fixtures/tiny-model";
import { openCodeServerWorkbench, REPO_ROOT } from "./harness";
import { WorkbenchDriver, type Workbench } from "./ui/workbench";

const vsix = path.join(REPO_ROOT, "packages/clarifycoder-linux-x64-0.1.0.vsix");
let root: string;
let workbench: Workbench | undefined;

/** The files in a zip (the VSIX), read with Python's zipfile (the real-model tier needs python3 anyway). */
function zipEntries(file: string): string[] {
  const script = "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))";
  return execFileSync("python3", ["-c", script, file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
    .trim()
    .split("\n");
}

before(async () => {
  execFileSync(process.execPath, ["--import", "tsx", "scripts/package.ts", "--target", "linux-x64"], { cwd: REPO_ROOT, stdio: "inherit", timeout: 600_000 });
  root = await mkdtemp(path.join(tmpdir(), "clarifycoder-vsix-"));
});

after(async () => {
  await workbench?.close();
  rmSync(root, { recursive: true, force: true });
});

test("the linux-x64 package holds the bundles and this platform's binaries, nothing from tests or sources", () => {
  const entries = zipEntries(vsix);
  const shipped = entries.filter((e) => e.startsWith("extension/") && !e.startsWith("extension/node_modules/"));
  assert.deepEqual(shipped.filter((e) => !e.startsWith("extension/media/")).sort(), [
    "extension/dist/extension.js",
    "extension/dist/webview.js",
    "extension/dist/worker.mjs",
    "extension/package.json",
    "extension/readme.md",
  ]);
  const binaries = [...new Set(entries.map((e) => /^extension\/node_modules\/@node-llama-cpp\/([^/]+)\//.exec(e)?.[1]).filter(Boolean))].sort();
  assert.deepEqual(binaries, ["linux-x64", "linux-x64-vulkan"]);
  assert.deepEqual(
    entries.filter((e) => /\.(map|ts|mts|cts)$|\.spec\.js$|(^|\/)(test|tests|__tests__|__mocks__)\//.test(e)),
    [],
  );
  assert.ok(entries.includes("extension/node_modules/node-llama-cpp/llama/binariesGithubRelease.json"), "node-llama-cpp reads this at import");
  assert.equal(
    entries.filter((e) => e.startsWith("extension/node_modules/node-llama-cpp/llama/") && !/binariesGithubRelease\.json$|\/grammars\//.test(e)).length,
    0,
    "no llama.cpp sources",
  );
});

test("installed into the web VS Code, it activates, opens its view and holds a conversation on the tiny model", { timeout: 300_000 }, async () => {
  const tiny = path.join(root, "tiny.gguf");
  await writeTinyModel(tiny);
  const workspace = path.join(root, "workspace");
  mkdirSync(path.join(workspace, ".vscode"), { recursive: true });
  writeFileSync(path.join(workspace, "pad.ts"), "export const width = 8;\n");
  const settings = {
    "clarifycoder.model": tiny,
    "clarifycoder.gpu": "cpu",
    "clarifycoder.threads": 1,
    "clarifycoder.askPolicy": "never",
    "clarifycoder.maxCodeTokens": 40,
  };
  writeFileSync(path.join(workspace, ".vscode/settings.json"), JSON.stringify(settings, null, 2));
  const shots = path.join(REPO_ROOT, "test-results/vsix-linux-x64");
  rmSync(shots, { recursive: true, force: true });
  workbench = await openCodeServerWorkbench({ workspace, vsix, userSettings: { "workbench.colorTheme": "Default Light Modern" } });
  const ui = new WorkbenchDriver(workbench, shots);
  try {
    await ui.page.locator(".statusbar-item", { hasText: "tiny.gguf" }).first().waitFor({ timeout: 60_000 });
    assert.ok(
      workbench.output.some((l) => /installed clarifycoder-linux-x64-0\.1\.0\.vsix:[\s\S]*was successfully installed/.test(l)),
      "installed from the package",
    );
    assert.ok(!workbench.output.some((l) => l.includes("Loading development extension")), "not loaded from this folder");
    await ui.openFile("pad.ts");
    await ui.command("ClarifyCoder: Focus on Chat View");
    const chat = ui.chat();
    const composer = chat.locator(".composer-input textarea");
    await composer.fill("Write a padding table");
    await composer.press("Enter");
    await chat.locator(".status-line", { hasText: /^(Done|Failed)/ }).waitFor({ timeout: 120_000 });
    // 40 tokens: the tiny model is cut at the length limit, which the status line says.
    assert.match(
      await ui.status(),
      /^Done: 1 code block\./,
      (await chat
        .locator(".failure-message")
        .textContent()
        .catch(() => "")) ?? "",
    );
    assert.ok(((await chat.locator(".answer pre.code code").first().textContent()) ?? "").length > 0);
    await ui.shot("conversation");
  } catch (error) {
    await ui.shot("failure").catch(() => undefined);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${workbench.output.slice(-40).join("\n")}`, { cause: error });
  }
});
