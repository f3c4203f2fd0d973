/** The `clarifycoder` command line. */
import { Command, Option } from "commander";
import { runChat, type ChatOptions } from "./chat.js";
import { runHardware } from "./hardware.js";

const program = new Command();
program.name("clarifycoder").description("A clarify-first coding assistant on a local GGUF model.").version("0.1.0");

program
  .command("chat")
  .description("Ask for code; answer the assistant's clarifying questions; get the code streamed back.")
  .argument("[request...]", "what to write (asked interactively when left out)")
  .requiredOption("-m, --model <file|uri>", "a .gguf file, or a URI such as hf:user/repo/file.gguf", process.env.CLARIFYCODER_MODEL)
  .option("-f, --file <path>", "a source file to send as context")
  .option("-l, --language <id>", "the language to write in (a VS Code language id such as python; default: the file's)")
  .addOption(new Option("--style <style>", "guided (any instruct model) or native (a clarify-aware fine-tune)").choices(["guided", "native"]))
  .addOption(new Option("--ask <policy>", "when to ask clarifying questions").choices(["auto", "always", "never"]))
  .option("--threshold <p>", "in auto, ask when the model's probability of asking is at least this (0-1)")
  .option("--max-questions <n>", "at most this many questions per round")
  .option("--max-rounds <n>", "at most this many rounds of questions")
  .option("--max-tokens <n>", "at most this many tokens of code")
  .option("--gpu <backend>", "auto, cuda, vulkan, metal or cpu", "auto")
  .option("--gpu-layers <n>", "layers on the GPU: auto (as many as fit), max, or a number; fewer are used when they do not fit", "auto")
  .option("--threads <n>", "CPU threads (default: the machine's physical cores)")
  .option("--context-size <n>", "context size in tokens")
  .option("--lora <file...>", "LoRA adapter GGUF file(s) to apply")
  .option("--models-dir <dir>", "where downloaded models are kept")
  .option("--json", "machine-readable events, one JSON object per line; answers are read one per line from stdin")
  .action(async (words: string[], options: Omit<ChatOptions, "request">) => {
    const request = words.length > 0 ? words.join(" ") : undefined;
    process.exitCode = await runChat({ ...options, ...(request ? { request } : {}) });
  });

program
  .command("hardware")
  .description("Show the backend (CUDA, Vulkan, Metal or CPU), GPUs, VRAM and CPU cores the model would run on.")
  .option("--gpu <backend>", "auto, cuda, vulkan, metal or cpu", "auto")
  .option("--json", "print one JSON object")
  .action(async (options: { gpu?: string; json?: boolean }) => {
    process.exitCode = await runHardware(options);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
