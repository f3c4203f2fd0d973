/** The `clarifycoder` command line. */
import { Command, Option } from "commander";
import { modelRanges, settingRanges } from "../core/settings.js";
import { runChat, type ChatOptions } from "./chat.js";
import { runHardware } from "./hardware.js";
import { exitWithUsageCode, numberOption } from "./options.js";

const gpuChoices = ["auto", "cuda", "vulkan", "metal", "cpu"];

const program = new Command();
program.name("clarifycoder").description("A clarify-first coding assistant on a local GGUF model.").version("0.1.0");
exitWithUsageCode(program);

program
  .command("chat")
  .description("Ask for code; answer the assistant's clarifying questions; get the code streamed back. It stays open for follow-ups (/help lists the commands).")
  .argument("[request...]", "what to write (asked interactively when left out)")
  .requiredOption("-m, --model <file|uri>", "a .gguf file, or a URI such as hf:user/repo/file.gguf", process.env.CLARIFYCODER_MODEL)
  .option("-f, --file <path>", "a source file to send as context")
  .option("-l, --language <id>", "the language to write in (a VS Code language id such as python; default: the file's)")
  .addOption(new Option("--style <style>", "guided (any instruct model) or native (a clarify-aware fine-tune)").choices(["guided", "native"]))
  .addOption(new Option("--ask <policy>", "when to ask clarifying questions").choices(["auto", "always", "never"]))
  .addOption(numberOption("--threshold <p>", "in auto, ask when the model's probability of asking is at least this", settingRanges.askThreshold))
  .addOption(numberOption("--max-questions <n>", "at most this many questions per round", settingRanges.maxQuestions))
  .addOption(numberOption("--max-rounds <n>", "at most this many rounds of questions", settingRanges.maxRounds))
  .addOption(numberOption("--max-tokens <n>", "at most this many tokens of code", settingRanges.maxCodeTokens))
  .addOption(new Option("--gpu <backend>", "where the model runs").choices(gpuChoices).default("auto"))
  .addOption(numberOption("--threads <n>", "CPU threads; 0 = the machine's physical cores", modelRanges.threads))
  .addOption(numberOption("--context-size <n>", "context size in tokens; 0 = as much as fits", modelRanges.contextSize))
  .option("--lora <file...>", "LoRA adapter GGUF file(s) to apply")
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
  .addOption(new Option("--gpu <backend>", "where the model would run").choices(gpuChoices).default("auto"))
  .option("--json", "print one JSON object")
  .action(async (options: { gpu?: string; json?: boolean }) => {
    process.exitCode = await runHardware(options);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
