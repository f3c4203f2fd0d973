/** The `clarifycoder` command line. */
import { Command, Option } from "commander";
import { askPolicies, modelStyles } from "../core/types.js";
import { defaultModelId } from "../llm/hub/catalog.js";
import { modelRanges, settingRanges } from "../core/settings.js";
import { runChat, type ChatOptions } from "./commands/chat.js";
import { runHardware } from "./commands/hardware.js";
import { runConvertLora, runModelsList, runModelsPull, runModelsRemove } from "./commands/models.js";
import { exitWithUsageCode, gpuLayersOption, gpuOption, numberOption, repeatableOption, usageErrorExitCode, UsageError } from "./shared/options.js";

import { runMix, defaultBaseModel, type MixOptions } from "./commands/mix.js";
import { runSynth, type SynthOptions } from "./commands/synth.js";
import { registerEval } from "./commands/eval.js";


const program = new Command();
program.name("clarifycoder").description("A clarify-first coding assistant on a local GGUF model.").version("0.1.0");
exitWithUsageCode(program);

program
  .command("chat")
  .description("Ask for code; answer the assistant's clarifying questions; get the code streamed back. It stays open for follow-ups (/help lists the commands).")
  .argument("[request...]", "what to write (asked interactively when left out)")
  .option("-m, --model <id|file|uri>", "a catalog id (see clarifycoder models), a .gguf file, or a URI such as hf:user/repo/file.gguf; $CLARIFYCODER_MODEL sets the default", process.env.CLARIFYCODER_MODEL || defaultModelId)
  .option("-f, --file <path>", "a source file to send as context")
  .option("-l, --language <id>", "the language to write in (a VS Code language id such as python; default: the file's)")
  .addOption(new Option("--style <style>", "guided (any instruct model) or native (a clarify-aware fine-tune)").choices(modelStyles))
  .addOption(new Option("--ask <policy>", "when to ask clarifying questions").choices(askPolicies))
  .addOption(numberOption("--threshold <p>", "in auto, ask when the model's probability of asking is at least this", settingRanges.askThreshold))
  .addOption(numberOption("--max-questions <n>", "at most this many questions per round", settingRanges.maxQuestions))
  .addOption(numberOption("--max-rounds <n>", "at most this many rounds of questions", settingRanges.maxRounds))
  .addOption(numberOption("--max-tokens <n>", "at most this many tokens of code", settingRanges.maxCodeTokens))
  .addOption(gpuOption("where the model runs"))
  .addOption(gpuLayersOption())
  .addOption(numberOption("--threads <n>", "CPU threads; 0 = the machine's physical cores", modelRanges.threads))
  .addOption(numberOption("--context-size <n>", "context size in tokens; 0 = as much as fits", modelRanges.contextSize))
  .addOption(repeatableOption("--lora <file|folder>", "a LoRA adapter to apply: a GGUF file, or a PEFT folder (converted for the model)"))
  .option("--models-dir <dir>", "where downloaded models are kept")
  .option("--json", "machine-readable events, one JSON object per line; answers are read one per line from stdin")
  .action(async (words: string[], options: Omit<ChatOptions, "request">) => {
    // An argument given empty ("") is an empty request, refused at once; no argument reads it from stdin.
    const request = words.length > 0 ? words.join(" ") : undefined;
    process.exitCode = await runChat({ ...options, ...(request !== undefined ? { request } : {}) });
  });

program
  .command("hardware")
  .description("Show the backend (CUDA, Vulkan, Metal or CPU), GPUs, VRAM and CPU cores the model would run on.")
  .addOption(gpuOption("where the model would run"))
  .option("--json", "print one JSON object")
  .action(async (options: { gpu?: string; json?: boolean }) => {
    process.exitCode = await runHardware(options);
  });

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

program
  .command("convert-lora")
  .description("Convert a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) into a GGUF adapter for llama.cpp.")
  .argument("<peft-folder>", "the folder holding adapter_config.json and adapter_model.safetensors")
  .requiredOption("--base <model.gguf>", "the base model the adapter was trained on, as GGUF")
  .requiredOption("--out <adapter.gguf>", "where to write the GGUF adapter")
  .action(async (folder: string, options: { base: string; out: string }) => {
    process.exitCode = await runConvertLora(folder, options);
  });

program
  .command("synth")
  .description("Rewrite code tasks to be ambiguous, inconsistent or incomplete, with the clarifying questions that recover them (resumable).")
  .requiredOption("-t, --tasks <path>", "an APPS folder (a folder per problem with question.txt), or APPS- or HumanEval-style JSONL")
  .requiredOption("-m, --model <file|uri|url>", "the generator: a .gguf file, an hf: URI, or an OpenAI-compatible endpoint (http://host:port/v1#model)")
  .requiredOption("-o, --out <file.jsonl>", "where rows are appended (rerun to resume)")
  .option("--rejected <file.jsonl>", "where rejected items go, with their reasons (default: <out>.rejected.jsonl)")
  .option("--kinds <list>", "which rewrites, comma-separated (default: ambiguous,inconsistent,incomplete)")
  .option("--limit <n>", "only the first n tasks")
  .option("--seed <n>", "the run's seed: each turn's sampling seed derives from it (default 1)")
  .option("--temperature <t>", "sampling temperature (default 0.1, as in the paper)")
  .option("--max-tokens <n>", "at most this many tokens per reply (default 1536)")
  .option("--max-questions <n>", "at most this many questions per item (default 5)")
  .option("--concurrency <n>", "endpoint requests at once (default 4; a local model runs one at a time)")
  .option("--retries <n>", "retries of a failed endpoint request, with backoff (default 5)")
  .addOption(gpuOption("where a local model runs"))
  .option("--threads <n>", "CPU threads (local models)")
  .option("--context-size <n>", "context size in tokens (local models)")
  .option("--models-dir <dir>", "where downloaded models are kept")
  .action(async (options: SynthOptions) => {
    process.exitCode = await runSynth(options);
  });

program
  .command("mix")
  .description("Mix the original tasks with the clarify set at a ratio, split it, and export it for fine-tuning (chat and v4 text, TRL and axolotl configs).")
  .requiredOption("-t, --tasks <path>", "the tasks, with reference solutions (same layouts as synth)")
  .addOption(repeatableOption("-c, --clarify <file.jsonl>", "a synth output file (repeat the option for more)").makeOptionMandatory())
  .option("-r, --ratio <original:clarify>", "such as 20:80 (required unless --paper, which takes 20:80)")
  .addOption(
    new Option("-s, --sampling <mode>", "meet the ratio by dropping from the larger share, repeating the smaller, or as the paper's script (never repeats); required unless --paper").choices(["downsample", "oversample", "paper-oversample"]),
  )
  .option("--paper", "the paper's mix (20:80 unless --ratio, paper-oversample), loss (every token) and format (raw code) together")
  .addOption(new Option("--code-format <format>", "an original's code in the answers: fenced (default) or raw (the paper's, the default with --paper)").choices(["fenced", "raw"]))
  .requiredOption("-o, --out <folder>", "where the export goes")
  .option("--validation <share>", "share of tasks held out for validation (default 0.1)")
  .option("--seed <n>", "seed for the split and the sampling (default 1)")
  .option("--base-model <id>", `the model the configs train (default ${defaultBaseModel})`)
  .option("--max-length <n>", "sequence length in the configs (default 2048)")
  .action(async (options: MixOptions) => {
    process.exitCode = await runMix(options);
  });

registerEval(program);

// A command that throws: its message, and exit code 2 for a usage error (an option it checks itself), else 1.
program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof UsageError ? usageErrorExitCode : 1;
});
