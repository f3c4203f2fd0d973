/**
 * `npm run package`: one VSIX per platform, each with only that platform's node-llama-cpp binaries and nothing from
 * the tests or the sources, and prints what each holds and weighs.
 *
 * For each target a clean folder under .cache/package/<target>/ gets: the manifest (package.json without scripts and
 * dev dependencies), README, media/, the production bundles (dist/extension.js, dist/worker.mjs, dist/webview.js;
 * minified, no source maps), node-llama-cpp with its own dependencies but no optional ones, and the target's binary
 * packages, installed from the npm registry (npm's cache makes a second run quick). Then `vsce package --target`
 * zips that folder's files and its production dependency tree into packages/.
 *
 * Usage: npm run package [-- --target linux-x64 --target win32-x64 ...]   (default: every target below)
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "..");
const WORK = path.join(REPO_ROOT, ".cache/package");
export const PACKAGES_DIR = path.join(REPO_ROOT, "packages");

interface Manifest {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  [key: string]: unknown;
}

const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as Manifest;
function llamaVersionOf(m: Manifest): string {
  const version = m.dependencies["node-llama-cpp"];
  if (!version) throw new Error("package.json has no node-llama-cpp dependency");
  return version;
}
const llamaVersion = llamaVersionOf(manifest);

/**
 * The binaries each platform ships. CPU everywhere; the GPU backend that platform uses where one fits in a package:
 * Vulkan on Linux and Windows x64 (NVIDIA, AMD and Intel GPUs), Metal on Apple silicon. CUDA is not shipped (see the
 * README, "Packages": 181 MB more per platform, and it needs the CUDA 13 runtime on the user's machine).
 */
export const targets: Record<string, { binaries: string[]; gpu: string }> = {
  "linux-x64": { binaries: ["linux-x64", "linux-x64-vulkan"], gpu: "Vulkan" },
  "linux-arm64": { binaries: ["linux-arm64"], gpu: "none" },
  "win32-x64": { binaries: ["win-x64", "win-x64-vulkan"], gpu: "Vulkan" },
  "win32-arm64": { binaries: ["win-arm64"], gpu: "none" },
  "darwin-arm64": { binaries: ["mac-arm64-metal"], gpu: "Metal" },
  "darwin-x64": { binaries: ["mac-x64"], gpu: "none" },
};

/**
 * A platform's .vscodeignore: the repository's own (right for `vsce package` run by hand; it leaves out the sources,
 * tests, source maps and llama.cpp's sources), and then every llama.cpp binary package that is not the target's, so
 * that only its own binaries ship whatever else is installed.
 */
export function platformIgnore(rootIgnore: string, target: string): string {
  const spec = targets[target];
  if (!spec) throw new Error(`Unknown target ${target}: one of ${Object.keys(targets).join(", ")}.`);
  const own = spec.binaries.map((b) => `!node_modules/@node-llama-cpp/${b}/**`);
  return `${rootIgnore.trimEnd()}\n\n# ${target} ships only its own binaries\nnode_modules/@node-llama-cpp/*/**\n${own.join("\n")}\n`;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** Runs a tool quietly; when it fails, what it printed is the error. */
function run(command: string, args: string[], cwd: string): void {
  try {
    execFileSync(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" } });
  } catch (error) {
    const output = error as { stdout?: Buffer; stderr?: Buffer };
    const printed = `${output.stdout?.toString() ?? ""}${output.stderr?.toString() ?? ""}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`${path.basename(command)} ${args.slice(0, 2).join(" ")} failed:\n${printed}`, { cause: error });
  }
}

function folderSize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderSize(full) : entry.isFile() ? statSync(full).size : 0;
  }
  return total;
}

const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

function productionBundles(): string {
  const out = path.join(WORK, "dist");
  rmSync(out, { recursive: true, force: true });
  say("Building the production bundles...");
  run(process.execPath, ["esbuild.mjs", "--production", "--product", `--outdir=${out}`], REPO_ROOT);
  return out;
}

export interface BuiltPackage {
  target: string;
  file: string;
  bytes: number;
  binaries: string[];
}

export function packageTarget(target: string, dist: string): BuiltPackage {
  const spec = targets[target];
  if (!spec) throw new Error(`Unknown target ${target}: one of ${Object.keys(targets).join(", ")}.`);
  const stage = path.join(WORK, target);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const { scripts: _scripts, devDependencies: _dev, ...shipped } = manifest;
  // The runtime dependencies: node-llama-cpp, and this platform's binaries as dependencies of their own (the others
  // are node-llama-cpp's optional dependencies, which are left out).
  const dependencies: Record<string, string> = { "node-llama-cpp": llamaVersion };
  for (const binary of spec.binaries) dependencies[`@node-llama-cpp/${binary}`] = llamaVersion;
  writeFileSync(path.join(stage, "package.json"), `${JSON.stringify({ ...shipped, dependencies }, null, 2)}\n`);
  cpSync(path.join(REPO_ROOT, "README.md"), path.join(stage, "README.md"));
  cpSync(path.join(REPO_ROOT, "media"), path.join(stage, "media"), { recursive: true });
  cpSync(dist, path.join(stage, "dist"), { recursive: true });
  say(`Installing node-llama-cpp ${llamaVersion} for ${target}...`);
  // --force: the binaries of another platform install here too (npm would refuse them for their os/cpu).
  run(npm, ["install", "--omit=optional", "--force", "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock"], stage);
  writeFileSync(path.join(stage, ".vscodeignore"), platformIgnore(readFileSync(path.join(REPO_ROOT, ".vscodeignore"), "utf8"), target));
  mkdirSync(PACKAGES_DIR, { recursive: true });
  const file = path.join(PACKAGES_DIR, `${manifest.name}-${target}-${manifest.version}.vsix`);
  rmSync(file, { force: true });
  say(`Packaging ${target} (${spec.binaries.map((b) => `@node-llama-cpp/${b}`).join(", ")}; ${mib(folderSize(stage))} before compression)...`);
  const vsce = path.join(REPO_ROOT, "node_modules/@vscode/vsce/vsce");
  // Relative links stay relative: the README's picture is in media/, which ships, and there is no repository URL.
  const options = ["--no-rewrite-relative-links", "--allow-missing-repository", "--skip-license"];
  run(process.execPath, [vsce, "package", "--target", target, ...options, "--out", file], stage);
  return { target, file, bytes: statSync(file).size, binaries: spec.binaries };
}

function main(): void {
  const args = process.argv.slice(2);
  const chosen: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--target" && args[i + 1]) chosen.push(args[++i] as string);
    else throw new Error(`Unknown argument ${args[i]}: use --target <${Object.keys(targets).join("|")}>.`);
  }
  const wanted = chosen.length > 0 ? chosen : Object.keys(targets);
  const dist = productionBundles();
  const built = wanted.map((target) => packageTarget(target, dist));
  say("\nPackages:");
  for (const p of built) {
    const spec = targets[p.target];
    say(
      `  ${path.relative(REPO_ROOT, p.file)}  ${mib(p.bytes)}  (CPU${spec && spec.gpu !== "none" ? ` + ${spec.gpu}` : ""}: ${p.binaries.map((b) => `@node-llama-cpp/${b}`).join(", ")})`,
    );
  }
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`npm run package: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
