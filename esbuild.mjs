// Builds every bundle: the extension (CommonJS, for VS Code's extension host), the model worker (ESM, because
// node-llama-cpp is ESM-only with top-level await), the CLI, the benchmark, the webview (browser) and test suites.
// node-llama-cpp is never bundled: it tests its own native binaries from its package folder.
import * as esbuild from "esbuild";
import { existsSync } from "node:fs";

const watch = process.argv.includes("--watch");
const production = process.argv.includes("--production");
// --product: only what the extension runs (extension, worker, webview), for a package; --outdir=DIR: instead of dist/.
const productOnly = process.argv.includes("--product");
const outdir = process.argv.find((a) => a.startsWith("--outdir="))?.slice("--outdir=".length) ?? "dist";
const product = new Set(["src/extension/extension.ts", "src/llm/worker/process/main.mts", "webview/main.ts"]);

const node = {
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: !production,
  minify: production,
  external: ["vscode", "node-llama-cpp"],
  logLevel: "warning",
};

const builds = [
  { ...node, entryPoints: ["src/extension/extension.ts"], outfile: "dist/extension.js", format: "cjs" },
  {
    ...node,
    entryPoints: ["src/llm/worker/process/main.mts"],
    outfile: "dist/worker.mjs",
    format: "esm",
    // Bundled CommonJS dependencies may call require(): give the ESM bundle one.
    banner: { js: "import { createRequire as __ccCreateRequire } from 'node:module'; const require = __ccCreateRequire(import.meta.url);" },
  },
  { ...node, entryPoints: ["src/cli/main.ts"], outfile: "dist/cli.js", format: "cjs" },
  { ...node, entryPoints: ["bench/bench.ts"], outfile: "dist/bench.js", format: "cjs" },
  { ...node, entryPoints: ["bench/check-gpu.ts"], outfile: "dist/check-gpu.js", format: "cjs" },
  { ...node, entryPoints: ["bench/served.ts"], outfile: "dist/bench-served.js", format: "cjs" },
  // mocha stays a package: bundled, it warns about its own require.resolve calls.
  { ...node, entryPoints: ["test/vscode/suite/index.ts"], outfile: "dist/test/vscode-suite.js", format: "cjs", external: [...node.external, "mocha"] },
  {
    entryPoints: ["webview/main.ts"],
    outfile: "dist/webview.js",
    bundle: true,
    platform: "browser",
    format: "iife",
    target: "es2022",
    sourcemap: !production,
    minify: production,
    loader: { ".css": "text" },
    logLevel: "warning",
  },
]
  .filter((b) => existsSync(b.entryPoints[0]) && (!productOnly || product.has(b.entryPoints[0])))
  .map((b) => ({ ...b, outfile: b.outfile.replace(/^dist\//, `${outdir}/`) }));

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
