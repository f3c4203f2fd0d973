/** The `clarifycoder` command line: the program, and each command registered from its own file. */
import { Command } from "commander";
import { registerChat } from "./commands/chat.js";
import { registerEval } from "./commands/eval.js";
import { registerHardware } from "./commands/hardware.js";
import { registerMix } from "./commands/mix.js";
import { registerConvertLora, registerModels } from "./commands/models.js";
import { registerSynth } from "./commands/synth.js";
import { exitWithUsageCode, usageErrorExitCode, UsageError } from "./shared/options.js";

const program = new Command();
program.name("clarifycoder").description("A clarify-first coding assistant on a local GGUF model.").version("0.1.0");
exitWithUsageCode(program);

registerChat(program);
registerHardware(program);
registerModels(program);
registerConvertLora(program);
registerSynth(program);
registerMix(program);
registerEval(program);

// A command that throws: its message, and exit code 2 for a usage error (an option it checks itself), else 1.
program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof UsageError ? usageErrorExitCode : 1;
});
