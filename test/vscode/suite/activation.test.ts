/**
 * The extension activates in a real VS Code, contributes what package.json promises, shows its chat view, and
 * activating it loads no native code and not node-llama-cpp (the model lives in a separate worker process).
 */
import * as assert from "node:assert/strict";
import { readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { suite, suiteSetup, test } from "mocha";
import * as vscode from "vscode";
import type { ClarifyCoderApi } from "../../../src/extension/extension";
import { checkpoint } from "./harness-client";
import { suiteLog } from "./mocha-setup";

const EXTENSION_ID = "clarifycoder.clarifycoder";
const VIEW_ID = "clarifycoder.chat";
const CONTAINER_ID = "clarifycoder";
const COMMANDS = [
  "clarifycoder.focusChat",
  "clarifycoder.newChat",
  "clarifycoder.stop",
  "clarifycoder.askAboutSelection",
  "clarifycoder.pickModel",
  "clarifycoder.acceptProposal",
  "clarifycoder.rejectProposal",
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface NodeReport {
  sharedObjects?: string[];
}

/** Every shared library mapped into this process (native addons included), from Node's diagnostic report. */
function loadedSharedObjects(): string[] {
  const report = process.report?.getReport() as NodeReport | undefined;
  return report?.sharedObjects ?? [];
}

/** Modules loaded through require() (esbuild bundles are CommonJS; node-llama-cpp is ESM and never in here). */
function requiredModules(): string[] {
  return Object.keys(require.cache);
}

/** Ours: inside the extension's folder, but not the test tooling cached there (.cache/code-server). */
const isOurs = (p: string, extRoot: string): boolean => p.startsWith(extRoot) && !p.startsWith(path.join(extRoot, ".cache") + path.sep);

const isLlama = (p: string): boolean => /node-llama-cpp|@node-llama-cpp|llama-addon|libllama|libggml/i.test(p);

interface ContributedCommand {
  command: string;
}
interface PackageJson {
  contributes?: { commands?: ContributedCommand[] };
}

suite("ClarifyCoder activation", () => {
  let extension: vscode.Extension<ClarifyCoderApi>;
  let api: ClarifyCoderApi;
  let sharedBefore: Set<string>;
  let activationMs = 0;

  suiteSetup(async () => {
    const found = vscode.extensions.getExtension<ClarifyCoderApi>(EXTENSION_ID);
    assert.ok(found, `extension ${EXTENSION_ID} is not loaded`);
    extension = found;
    const wasActive = extension.isActive;
    sharedBefore = new Set(loadedSharedObjects());
    const t = performance.now();
    api = await extension.activate();
    activationMs = performance.now() - t;
    suiteLog(`    (activation took ${activationMs.toFixed(1)} ms; already active before: ${wasActive})`);
  });

  test("activates and returns its API", () => {
    assert.equal(extension.isActive, true);
    assert.equal(typeof api.chatViewResolved, "function");
  });

  test("registers every command package.json contributes", async () => {
    const contributed = ((extension.packageJSON as PackageJson).contributes?.commands ?? []).map((c) => c.command);
    assert.deepEqual([...contributed].sort(), [...COMMANDS].sort());
    const all = new Set(await vscode.commands.getCommands(true));
    for (const id of COMMANDS) assert.ok(all.has(id), `command ${id} is not registered`);
    assert.ok(all.has(`${VIEW_ID}.focus`), "the chat view's focus command is missing");
    assert.ok(all.has(`workbench.view.extension.${CONTAINER_ID}`), "the view container's command is missing");
  });

  test("the chat view can be opened and resolves its webview", async () => {
    await vscode.commands.executeCommand(`workbench.view.extension.${CONTAINER_ID}`);
    await vscode.commands.executeCommand(`${VIEW_ID}.focus`);
    await waitFor("the chat webview to resolve", () => api.chatViewResolved());
    // Under the harness: the workbench is captured here, with the view open (test-results/ when asked for).
    await checkpoint("chat-view");
  });

  test("its commands run", async () => {
    await vscode.commands.executeCommand("clarifycoder.focusChat");
    await vscode.commands.executeCommand("clarifycoder.newChat");
    await vscode.commands.executeCommand("clarifycoder.stop");
    assert.ok(api.chatViewResolved());
  });

  test("activation loaded no native module and not node-llama-cpp", () => {
    // The harness may load the extension through a symlink; Node records modules under their real paths.
    const extRoot = realpathSync(extension.extensionPath) + path.sep;
    const newShared = loadedSharedObjects().filter((p) => !sharedBefore.has(p));
    assert.deepEqual(
      newShared.filter((p) => isOurs(p, extRoot) || isLlama(p)),
      [],
      "native libraries loaded from the extension (or llama) since activation",
    );
    assert.deepEqual(loadedSharedObjects().filter(isLlama), [], "a llama native library is loaded in the extension host");
    assert.deepEqual(
      requiredModules().filter((p) => isLlama(p) || (isOurs(p, extRoot) && p.endsWith(".node"))),
      [],
      "require()d modules",
    );
    // node-llama-cpp is ESM (never in require.cache) and esbuild keeps it external, so an import of it anywhere in
    // the extension's code would show up in the bundle as a require()/import() of the bare specifier.
    const bundle = readFileSync(path.join(extension.extensionPath, "dist/extension.js"), "utf8");
    assert.doesNotMatch(bundle, /(?:require|import)\s*\(\s*["'](?:node-llama-cpp|@node-llama-cpp\/[^"']*)["']\s*\)/);
    assert.doesNotMatch(bundle, /\bfrom\s*["']node-llama-cpp["']/);
  });
});
