/**
 * The package's ignore file as vsce reads it (its own listFiles, the listing `vsce ls` prints): the repository's
 * .vscodeignore is right for `vsce package` run here by hand, and each platform's, derived from it by
 * scripts/package.ts, ships that platform's llama.cpp binaries only.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { it } from "node:test";
import { listFiles } from "@vscode/vsce";
import { platformIgnore, targets } from "../../scripts/package";

const root = path.resolve(__dirname, "../..");
const rootIgnore = path.join(root, ".vscodeignore");

/** The top-level folders (or files) of a listing, and the @node-llama-cpp packages in it. */
function summary(files: string[]): { top: Set<string>; binaries: Set<string> } {
  const top = new Set(files.map((f) => f.split("/")[0] ?? f));
  const binaries = new Set(files.filter((f) => f.startsWith("node_modules/@node-llama-cpp/")).map((f) => f.split("/")[2] ?? ""));
  return { top, binaries };
}

it("a hand-run vsce package takes the manifest, README, media, the three bundles and node-llama-cpp; no sources, tests, caches or maps", async () => {
  const files = await listFiles({ cwd: root, ignoreFile: rootIgnore });
  const { top } = summary(files);
  assert.deepEqual([...top].sort(), ["README.md", "dist", "media", "node_modules", "package.json"]);
  assert.deepEqual(files.filter((f) => f.startsWith("dist/")).sort(), ["dist/extension.js", "dist/webview.js", "dist/worker.mjs"]);
  assert.ok(files.includes("node_modules/node-llama-cpp/package.json"));
  assert.ok(
    files.some((f) => f.startsWith("node_modules/node-llama-cpp/llama/grammars/")),
    "node-llama-cpp's grammars ship",
  );
  const unwanted = files.filter(
    (f) =>
      /\.(map|ts|mts|cts|gguf|vsix)$/.test(f) ||
      /^node_modules\/node-llama-cpp\/llama\/llama\.cpp\//.test(f) ||
      /\/(test|tests|__tests__)\//.test(f) ||
      /^node_modules\/@node-llama-cpp\/[^/]*-cuda/.test(f),
  );
  assert.deepEqual(unwanted, []);
});

it("each platform's ignore file is the repository's plus only that platform's binaries", async () => {
  const text = await readFile(rootIgnore, "utf8");
  const derived = platformIgnore(text, "linux-x64");
  assert.ok(derived.startsWith(text.trimEnd()), "it starts from the repository's file");
  const file = path.join(await mkdtemp(path.join(tmpdir(), "clarifycoder-ignore-")), ".vscodeignore");
  await writeFile(file, derived);
  // Read here, where more binary packages are installed than linux-x64's.
  const { binaries } = summary(await listFiles({ cwd: root, ignoreFile: file }));
  assert.ok(binaries.size > 0);
  for (const b of binaries) assert.ok(targets["linux-x64"]?.binaries.includes(b), `${b} is not a linux-x64 binary`);
  assert.throws(() => platformIgnore(text, "plan9-x64"), /Unknown target plan9-x64/);
});
