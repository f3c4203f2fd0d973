/**
 * Command-line options checked where they are read: a number outside its range is refused with the range it must be
 * in (never silently replaced by a default), and every usage error exits with code 2.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { describeRange, numberInRange, type NumberRange } from "../../core/settings.js";
import { gpuChoiceNames, parseGpuChoice, type GpuChoice } from "../../llm/hardware/gpu-choice.js";
import { parseGpuLayers, type GpuLayers } from "../../llm/hardware/offload.js";
import { readLoadSettings, type LoadOptions, type LoadSettings } from "../../llm/models/load-settings.js";

/** An option whose value must be a number in `range`. */
export function numberOption(flags: string, description: string, range: NumberRange): Option {
  return new Option(flags, `${description} (${range.min}-${range.max})`).argParser((text: string) => {
    const value = numberInRange(text, range);
    if (value === undefined) throw new InvalidArgumentError(`It must be ${describeRange(range)}.`);
    return value;
  });
}

/**
 * An option given once per value (`--lora a.gguf --lora b.gguf`), its values collected in order. Never variadic
 * (`<file...>`): a variadic option takes every word after it, so `chat --lora a.gguf 'sort the list'` would read the
 * request as a second adapter.
 */
export function repeatableOption(flags: string, description: string): Option {
  return new Option(flags, `${description} (repeat the option for more than one)`).argParser((value: string, previous: string[] | undefined) => [
    ...(previous ?? []),
    value,
  ]);
}

/** A usage error found when a command reads its own options (after commander parsed them): exit code 2. */
export class UsageError extends Error {}

const int = (min: number, max: number): NumberRange => ({ min, max, integer: true });

/** The ranges of the toolkit's own numeric options (the conversation's and the model's are in core/settings). */
export const toolkitRanges = {
  limit: int(1, 1_000_000_000),
  seed: int(0, 4_294_967_295),
  concurrency: int(1, 256),
  retries: int(0, 100),
  judgeMaxTokens: int(16, 32_768),
  caseTimeoutSeconds: { min: 0.001, max: 600, integer: false },
  memoryMb: int(64, 1_048_576),
  share: { min: 0, max: 1, integer: false },
  maxLength: int(16, 1_048_576),
} as const satisfies Record<string, NumberRange>;

/** `--gpu-layers`: auto (as many as fit), max, or a number of layers; anything else is a usage error. */
export function gpuLayersOption(): Option {
  return new Option("--gpu-layers <n>", "layers on the GPU: auto (as many as fit), max, or a number; fewer are used when they do not fit")
    .default("auto")
    .argParser((text: string): GpuLayers => {
      const parsed = parseGpuLayers(text);
      if (!parsed.ok) throw new InvalidArgumentError(`${parsed.reason}.`);
      return parsed.value;
    });
}

/** The exit code of a command line that was used wrongly (an unknown option, a value out of range). */
export const usageErrorExitCode = 2;

/** Makes commander's usage errors exit with code 2 (it uses 1); help and --version still exit 0. */
export function exitWithUsageCode(program: Command): Command {
  return program.exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : usageErrorExitCode);
  });
}

/**
 * A closed output (`clarifycoder chat ... | head`) ends the program quietly: the next write fails with EPIPE, which
 * would otherwise be an unhandled error with a stack trace. `onClosed` stops what is running; then the process exits 0.
 */
export function endQuietlyOnClosedOutput(onClosed: () => Promise<void>): void {
  let closing = false;
  const handler = (error: NodeJS.ErrnoException): void => {
    if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
    if (closing) return;
    closing = true;
    void onClosed().finally(() => process.exit(0));
  };
  process.stdout.on("error", handler);
  process.stderr.on("error", handler);
}

/** `--gpu`: where the model runs, from the one list of GPU choices. */
export function gpuOption(description: string): Option {
  return new Option("--gpu <backend>", description).choices(gpuChoiceNames).default("auto");
}

/** The GPU choice of a command's `--gpu`; anything but a known choice is a usage error. */
export function gpuFromOption(value: string | undefined): GpuChoice {
  const parsed = parseGpuChoice(value);
  if (!parsed.ok) throw new UsageError(`--gpu: ${parsed.reason}.`);
  return parsed.value;
}

/** A command's load options, read by the same rules as the extension's settings; a value that is not valid is a usage error. */
export function loadFromOptions(settings: LoadSettings): LoadOptions {
  const { load, problems } = readLoadSettings(settings);
  if (problems.length > 0) throw new UsageError(problems.join(" "));
  return load;
}

/** How every command names a model, in its help: the one door (llm/models/open.ts) opens each of these. */
export const modelOptionHelp =
  "a catalog id (see clarifycoder models), a .gguf file, an hf: URI, or a served model at http(s)://host:port/v1#model (Ollama, llama.cpp's server, LM Studio, vLLM; the key from $CLARIFYCODER_API_KEY)";

/** The options every command that runs the engine on a model shares, as commander hands them over. */
export interface EngineOptions {
  style?: string;
  ask?: string;
  threshold?: number;
  maxQuestions?: number;
  maxRounds?: number;
  maxTokens?: number;
  gpu?: string;
  threads?: number;
  contextSize?: number;
}
