/**
 * `clarifycoder models` (list, pull, rm) and `clarifycoder convert-lora`: the catalog, what is downloaded, the
 * recommendation for this machine, and the PEFT-to-GGUF adapter conversion.
 */
import path from "node:path";
import { hubTokenFromEnvironment } from "../../llm/hub/hf.js";
import { formatBytes, type CatalogEntry } from "../../llm/hub/catalog.js";
import { ModelLibrary, type LibraryItem } from "../../llm/hub/library.js";
import { startDownloadProgress } from "../shared/progress.js";
import { convertPeftAdapter, readBaseModelShape } from "../../llm/lora/convert.js";
import { defaultModelsDirectory } from "../../llm/models/source.js";
import { ModelWorker } from "../../llm/worker/client.js";
import type { EstimateResult } from "../../llm/worker/protocol.js";
import { recommend, type Recommendation } from "../../llm/hardware/recommend.js";
import { gpuFromOption } from "../shared/options.js";
import { usageErrorExitCode } from "../shared/options.js";
import type { Command } from "commander";
import { gpuOption } from "../shared/options.js";

interface ModelsOptions {
  modelsDir?: string;
  json?: boolean;
  gpu?: string;
}

function libraryFor(modelsDir: string | undefined): ModelLibrary {
  const token = hubTokenFromEnvironment();
  return new ModelLibrary({ directory: modelsDir ? path.resolve(modelsDir) : defaultModelsDirectory(), ...(token ? { hub: { token } } : {}) });
}

/** Asks the worker what each model needs, from the GGUF headers it can read (downloaded files, or over the network). */
async function estimates(library: ModelLibrary, items: readonly LibraryItem[], gpu: string | undefined): Promise<EstimateResult | undefined> {
  const worker = new ModelWorker({ workerPath: path.join(__dirname, "worker.mjs") });
  try {
    return await worker.request("estimate", { models: library.estimateSources(items), contextSize: 4096, gpu: gpuFromOption(gpu) });
  } catch {
    return undefined;
  } finally {
    await worker.stop();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

async function runModelsList(options: ModelsOptions): Promise<number> {
  const library = libraryFor(options.modelsDir);
  const items = await library.list();
  const estimate = await estimates(library, items, options.gpu);
  const rec: Recommendation | undefined = estimate ? recommend(library.entries, estimate.hardware, estimate.estimates) : undefined;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({
        directory: library.directory,
        ...(rec ? { recommended: rec.id, reason: rec.reason } : {}),
        models: items.map((i) => ({
          ...i.entry,
          downloaded: i.downloaded,
          bytesOnDisk: i.bytesOnDisk,
          partialBytes: i.partialBytes,
          assessment: rec?.assessments.find((a) => a.id === i.entry.id),
        })),
      })}\n`,
    );
    return 0;
  }
  const order = rec ? rec.assessments.map((a) => items.find((i) => i.entry.id === a.id)!).filter(Boolean) : items;
  const rows = [["", "id", "size", "style", "licence", "name"]];
  for (const i of order) {
    const mark = i.downloaded ? "✓" : i.partialBytes > 0 ? "…" : " ";
    rows.push([
      `${rec?.id === i.entry.id ? "*" : " "}${mark}`,
      i.entry.id,
      formatBytes(i.entry.size ?? i.entry.approxBytes),
      i.entry.style,
      i.entry.license.split(";")[0] ?? "",
      i.entry.name,
    ]);
  }
  process.stdout.write(`${table(rows)}\n\n`);
  if (rec) process.stdout.write(`* recommended for this machine: ${rec.id}, which ${rec.reason}.\n`);
  else process.stdout.write("(No recommendation: the model worker could not describe this machine.)\n");
  process.stdout.write(`✓ downloaded, … partly downloaded (pull resumes it). Models folder: ${library.directory}\n`);
  process.stdout.write("Download one with: clarifycoder models pull <id>\n");
  return 0;
}

async function runModelsPull(id: string, options: ModelsOptions): Promise<number> {
  const library = libraryFor(options.modelsDir);
  try {
    library.require(id);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return usageErrorExitCode;
  }
  const controller = new AbortController();
  const onInterrupt = (): void => controller.abort();
  process.once("SIGINT", onInterrupt);
  const bar = startDownloadProgress({ json: options.json === true });
  try {
    const files = await library.pull(id, { signal: controller.signal, onProgress: (p) => bar.update(p) });
    bar.stop();
    if (options.json) process.stdout.write(`${JSON.stringify({ type: "done", id, ...files })}\n`);
    else {
      process.stdout.write(`${id} is ready: ${files.modelPath}${files.adapterPath ? `\nadapter: ${files.adapterPath}` : ""}\n`);
      process.stdout.write(`Chat with it: clarifycoder chat --model ${id}\n`);
    }
    return 0;
  } catch (error) {
    bar.stop();
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onInterrupt);
  }
}

async function runModelsRemove(id: string, options: ModelsOptions): Promise<number> {
  const library = libraryFor(options.modelsDir);
  let entry: CatalogEntry;
  try {
    entry = library.require(id);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return usageErrorExitCode;
  }
  const removed = await library.remove(entry.id);
  if (removed.length === 0) process.stdout.write(`${id} is not downloaded.\n`);
  else for (const file of removed) process.stdout.write(`removed ${file}\n`);
  if (entry.adapter && library.entries.some((e) => e.id !== entry.id && e.fileName === entry.fileName)) {
    process.stdout.write(`The base model ${entry.fileName} is shared with another catalog entry and was kept.\n`);
  }
  return 0;
}

async function runConvertLora(folder: string, options: { base: string; out: string }): Promise<number> {
  try {
    const base = await readBaseModelShape(options.base);
    const result = await convertPeftAdapter(folder, base, options.out);
    process.stdout.write(
      `Wrote ${result.path}: ${result.tensorPairs} adapted weights, rank ${result.rank}, alpha ${result.alpha}, for ${result.architecture}${result.baseModel ? ` (trained on ${result.baseModel})` : ""}.\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** Registers `clarifycoder models` (and `models pull`, `models rm`) on the command line. */
export function registerModels(program: Command): void {
  const models = program
    .command("models")
    .description("The model catalog: what is downloaded, and the model recommended for this machine.")
    .option("--models-dir <dir>", "where downloaded models are kept")
    .addOption(gpuOption("the backend the recommendation assumes"))
    .option("--json", "print one JSON object")
    .action(async (options: { modelsDir?: string; gpu?: string; json?: boolean }) => {
      process.exitCode = await runModelsList(options);
    });
  models
    .command("pull")
    .description("Download a catalog model (verified; an interrupted download resumes). ClarifyCoder's adapter is converted for its base.")
    .argument("<id>", "a catalog id")
    .option("--models-dir <dir>", "where downloaded models are kept")
    .option("--json", "progress and the result as JSON lines")
    .action(async (id: string, options: { modelsDir?: string; json?: boolean }) => {
      process.exitCode = await runModelsPull(id, { ...models.opts<{ modelsDir?: string }>(), ...options });
    });
  models
    .command("rm")
    .description("Delete a downloaded catalog model.")
    .argument("<id>", "a catalog id")
    .option("--models-dir <dir>", "where downloaded models are kept")
    .action(async (id: string, options: { modelsDir?: string }) => {
      process.exitCode = await runModelsRemove(id, { ...models.opts<{ modelsDir?: string }>(), ...options });
    });
}

/** Registers `clarifycoder convert-lora` on the command line. */
export function registerConvertLora(program: Command): void {
  program
    .command("convert-lora")
    .description("Convert a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) into a GGUF adapter for llama.cpp.")
    .argument("<peft-folder>", "the folder holding adapter_config.json and adapter_model.safetensors")
    .requiredOption("--base <model.gguf>", "the base model the adapter was trained on, as GGUF")
    .requiredOption("--out <adapter.gguf>", "where to write the GGUF adapter")
    .action(async (folder: string, options: { base: string; out: string }) => {
      process.exitCode = await runConvertLora(folder, options);
    });
}
