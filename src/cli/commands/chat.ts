/**
 * `clarifycoder chat`: the clarify-first conversation in a terminal, on the same engine and worker as the extension.
 * It stays open after an answer: the next line is a follow-up in the same conversation, and commands regenerate,
 * continue or edit the last turn. `--json` is for scripts: one request, one JSON event per line, ending in exactly one
 * `done` or `error` event.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createInterface, type Interface } from "node:readline";
import { dispatch, type HandlerTable } from "../../core/dispatch.js";
import { canContinue, decidesByReadings, isBusy } from "../../core/rules.js";
import { ClarifySession } from "../../core/session.js";
import { readSettings } from "../../core/settings.js";
import type { ClarifySettings, EditorContext, Question, SessionSnapshot } from "../../core/types.js";
import { describeLoadProgress } from "../../llm/models/local.js";
import { openModel, parseModelSpec, type OpenedModel } from "../../llm/models/open.js";
import { isRemoteModel } from "../../llm/models/source.js";
import type { GpuLayers } from "../../llm/hardware/offload.js";
import { languageOfFile } from "../../core/languages.js";
import { endQuietlyOnClosedOutput, loadFromOptions, usageErrorExitCode, type EngineOptions } from "../shared/options.js";
import { startDownloadProgress, startStepProgress } from "../shared/progress.js";
import { Command, Option } from "commander";
import { askPolicies, decideMethods, modelStyles, type DecideMethod } from "../../core/types.js";
import { readingsSandbox } from "../../llm/sandbox/sandbox.js";
import { defaultModelId } from "../../llm/hub/catalog.js";
import { modelRanges, settingRanges } from "../../core/settings.js";
import { gpuLayersOption, gpuOption, modelOptionHelp, numberOption, repeatableOption } from "../shared/options.js";

interface ChatOptions extends EngineOptions {
  model: string;
  request?: string;
  file?: string;
  language?: string;
  gpuLayers?: GpuLayers;
  lora?: string[];
  modelsDir?: string;
  json?: boolean;
  /** How auto decides whether to ask (default readings, where a confined Python sandbox exists). */
  decide?: DecideMethod;
}

type Out = (line: string) => void;

function chatSettings(options: ChatOptions): { settings: ClarifySettings; problems: string[] } {
  return readSettings({
    style: options.style,
    askPolicy: options.ask,
    askThreshold: options.threshold,
    maxQuestions: options.maxQuestions,
    maxRounds: options.maxRounds,
    maxCodeTokens: options.maxTokens,
  });
}

async function contextFromFile(file: string | undefined, language: string | undefined): Promise<EditorContext> {
  if (!file) return language ? { languageId: language } : {};
  const text = await readFile(file, "utf8");
  const languageId = language ?? languageOfFile(file);
  // A window, not the whole file: the start of a large file says most about it.
  const lines = text.split("\n");
  const surroundingCode = lines.slice(0, 200).join("\n");
  return { fileName: path.basename(file), ...(languageId ? { languageId } : {}), surroundingCode };
}

/** One line at a time from stdin, whether it is a terminal or a pipe; undefined at end of input. */
class Lines {
  private readonly queue: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;
  readonly rl: Interface;

  constructor(
    readonly terminal: boolean,
    input: NodeJS.ReadableStream = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stdout,
  ) {
    this.rl = createInterface({ input, terminal, ...(terminal ? { output } : {}) });
    this.rl.on("line", (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      } else this.queue.push(line);
    });
    this.rl.on("close", () => {
      this.ended = true;
      this.waiting?.(undefined);
    });
  }

  /** No more lines: what was typed ahead is dropped. */
  close(): void {
    this.queue.length = 0;
    this.ended = true;
    this.rl.close();
  }

  /** The next line, after `prompt`; in a terminal, `initial` is typed in for the user to change (Edit). */
  next(prompt: string, initial = ""): Promise<string | undefined> {
    const queued = this.queue.shift();
    if (queued !== undefined) {
      if (prompt) this.output.write(prompt);
      return Promise.resolve(queued);
    }
    if (this.ended) return Promise.resolve(undefined);
    if (this.terminal) {
      this.rl.setPrompt(prompt);
      this.rl.prompt();
      if (initial) this.rl.write(initial);
    } else if (prompt) this.output.write(prompt);
    return new Promise((resolve) => (this.waiting = resolve));
  }
}

function describeQuestion(q: Question, index: number): string {
  const suggestions = q.suggestions.map((s, i) => `   [${i + 1}] ${s}`).join("\n");
  return `${index + 1}. ${q.text}${suggestions ? `\n${suggestions}` : ""}`;
}

/** An answer line: a suggestion's number picks it, an empty line leaves the question to the assistant. */
export function readAnswer(line: string | undefined, q: Question): { answer: string } | { waive: true } {
  const text = (line ?? "").trim();
  if (text === "" || /^(you decide|skip)$/i.test(text)) return { waive: true };
  const pick = /^\d$/.test(text) ? q.suggestions[Number(text) - 1] : undefined;
  return { answer: pick ?? text };
}

/** The terminal chat's commands; any other line is the next message. */
export const chatCommands = {
  continue: "write the rest of an answer that stopped (Ctrl+C, or the length limit)",
  regenerate: "write the last answer again; /regenerate ask asks questions first, /regenerate noask does not ask",
  edit: "send the last request again with new text: /edit <text> (in a terminal, /edit alone lets you change it)",
  new: "start a new conversation",
  help: "list the commands",
  quit: "leave (Ctrl+D does too)",
} as const;

type ChatCommand = { name: keyof typeof chatCommands; argument: string };

/** Reads a line of the terminal chat: a command (`/name argument`), an unknown command, or a message. */
export function readChatLine(line: string): { command: ChatCommand } | { unknown: string } | { message: string } {
  const match = /^\/(\w+)\s*([\s\S]*)$/.exec(line.trim());
  if (!match) return { message: line.trim() };
  const name = (match[1] ?? "").toLowerCase();
  const alias: Record<string, keyof typeof chatCommands> = { exit: "quit", retry: "regenerate", cont: "continue" };
  const known = Object.hasOwn(chatCommands, name) ? (name as keyof typeof chatCommands) : alias[name];
  if (!known) return { unknown: name };
  return { command: { name: known, argument: (match[2] ?? "").trim() } };
}

/** What the user sees after a turn of the interactive chat: how it ended and what they can do next. */
export function turnEnding(snap: SessionSnapshot): string {
  if (snap.state === "failed") return "";
  if (snap.state === "cancelled") return canContinue(snap) ? "\n(stopped: /continue writes the rest)" : "\n(stopped)";
  if (snap.state === "done" && snap.hitLimit) return "\n(it stopped at the length limit: /continue writes the rest)";
  return "";
}

async function runChat(options: ChatOptions): Promise<number> {
  const json = options.json === true;
  const emit = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
  const say: Out = json ? () => undefined : (line) => void process.stdout.write(`${line}\n`);
  const warn: Out = (line) => (json ? emit({ type: "warning", message: line }) : void process.stderr.write(`${line}\n`));
  /** A run that cannot go on: in --json, its one `error` event. */
  const fatal = (message: string, code = 1): number => {
    if (json) emit({ type: "error", message });
    else process.stderr.write(`${message}\n`);
    return code;
  };

  const { settings, problems } = chatSettings(options);
  problems.forEach(warn);
  // An empty request, or none where none can be read, fails at once: before a model is loaded, not minutes later.
  if (options.request !== undefined && options.request.trim() === "") return fatal("The request is empty: say what to write.", usageErrorExitCode);
  if (json && options.request === undefined && process.stdin.isTTY === true) {
    return fatal("--json reads the request from its argument, or as the first line of stdin (stdin is a terminal here).", usageErrorExitCode);
  }

  // The model is opened through the one door (a local file, URI or catalog id in the worker; a served model over HTTP).
  let opened: OpenedModel | undefined;
  const loading = new AbortController();
  const closeModel = async (): Promise<void> => {
    loading.abort();
    await opened?.close();
  };
  const interactive = !json && process.stdin.isTTY === true;
  const lines = new Lines(interactive);
  let session: ClarifySession | undefined;
  let lastInterrupt = 0;
  // The first Ctrl+C stops a turn that runs; at the prompt, or a second time, it quits. In a terminal readline takes
  // Ctrl+C itself (raw mode) and reports it as its own SIGINT, so both are heard.
  const interrupt = (): void => {
    const now = Date.now();
    if (!session || !isBusy(session.state) || now - lastInterrupt < 1500) {
      void closeModel().finally(() => process.exit(130));
      return;
    }
    lastInterrupt = now;
    warn("\nStopping... (Ctrl+C again to quit)");
    session.cancel();
  };
  process.on("SIGINT", interrupt);
  lines.rl.on("SIGINT", interrupt);
  endQuietlyOnClosedOutput(async () => {
    session?.cancel();
    lines.rl.close();
    await closeModel();
  });

  try {
    const load = loadFromOptions({
      gpu: options.gpu,
      gpuLayers: options.gpuLayers,
      threads: options.threads,
      contextSize: options.contextSize,
      modelsDirectory: options.modelsDir,
      lora: options.lora,
    });
    const served = parseModelSpec(options.model).kind === "endpoint";
    // A model to download says so at once: its first progress can be long in coming on a slow or absent network.
    if (!served && isRemoteModel(options.model)) {
      if (json) emit({ type: "progress", kind: "download", loaded: 0, total: 0 });
      else process.stderr.write(`Downloading ${options.model} ...\n`);
    }
    // The load's phases as a bar on a terminal (nothing in a log); a catalog download as `models pull` shows it.
    const loadBar = startStepProgress({ format: "{text} [{bar}] {percentage}%" });
    const downloads = startDownloadProgress();
    opened = await openModel(options.model, {
      workerPath: path.join(__dirname, "worker.mjs"),
      load,
      signal: loading.signal,
      log: (level, message) => {
        if (level === "error") warn(`model worker: ${message}`);
      },
      // A served model: the key from CLARIFYCODER_API_KEY (or OPENAI_API_KEY); what the server cannot do is told once.
      endpoint: { onNotice: warn, onRetry: ({ attempt, waitMs, reason }) => warn(`retry ${attempt} in ${(waitMs / 1000).toFixed(1)} s: ${reason}`) },
      onLoadProgress: (event) => {
        if (json) return emit({ type: "progress", ...event });
        if (event.kind === "download" && "phase" in event) return downloads.update(event);
        const { task, progress } = describeLoadProgress(event);
        loadBar.update({ key: task, value: Math.round((progress ?? 1) * 100), total: 100, text: task });
      },
    });
    downloads.stop();
    loadBar.stop();
    const model = opened.model;
    // A catalog model says how it is prompted (ClarifyCoder's own is native) unless --style says otherwise.
    if (options.style === undefined && opened.style) settings.style = opened.style;
    const info = opened.info;
    info?.notices.forEach(warn);
    if (json) emit({ type: "model", ...(info ?? { name: opened.label }), where: opened.where });
    else if (info) {
      const layers = info.backend === "cpu" ? "" : `${info.gpuLayers} of ${info.totalLayers} layers on the GPU, `;
      say(`${info.name} on ${info.backend.toUpperCase()} (${layers}${info.threads} threads, context ${info.contextSize}) loaded in ${info.loadMs} ms.`);
    } else say(`${opened.label}, ${opened.where}.`);

    const runner = decidesByReadings(options.decide ?? "readings", settings) ? await readingsSandbox(warn) : undefined;

    if (json && options.request === undefined) emit({ type: "input", expect: "request" });
    const request = options.request ?? (await lines.next(json ? "" : "What should I write? "));
    if (!request || request.trim() === "") return fatal("No request given: say what to write.", usageErrorExitCode);
    const context = await contextFromFile(options.file, options.language);

    const assumptions = new AssumptionsBlock();
    const begin = (): ClarifySession => {
      const s = new ClarifySession(model, settings, runner ? { runner } : {});
      s.onChunk((text) => (json ? emit({ type: "chunk", text }) : void process.stdout.write(text)));
      let last = s.state;
      s.onChange((snap) => {
        // Said once per change of state: a turn changes its snapshot many times in one state.
        const entered = snap.state !== last;
        last = snap.state;
        if (json) {
          if (entered) emit({ type: "state", state: snap.state });
          return;
        }
        if (entered && snap.state === "assessing") say("Thinking about the request...");
        const lines = assumptions.linesFor(snap);
        if (lines.length > 0) say(lines.join("\n"));
      });
      session = s;
      return s;
    };

    /** Runs a turn to its end, asking the questions it raises. */
    const turn = async (s: ClarifySession, started: Promise<void>): Promise<void> => {
      await started;
      while (s.state === "asking") {
        const open = s.openQuestions();
        if (json) emit({ type: "questions", questions: open });
        else say(`\nA few questions first (a number picks a suggestion; Enter leaves it to me):`);
        for (const [i, q] of open.entries()) {
          if (!json) say(describeQuestion(q, i));
          const reply = readAnswer(await lines.next(json ? "" : "> "), q);
          if ("waive" in reply) s.waiveQuestion(q.id);
          else s.answerQuestion(q.id, reply.answer);
        }
        await s.submitAnswers();
      }
    };

    let current = begin();
    await turn(current, current.start(request, context));
    if (json) return finish(current.snapshot(), emit);
    report(current.snapshot(), say, warn);

    // The conversation goes on until the input ends (Ctrl+D) or the user quits.
    if (interactive) say(`\nFollow up, or /help for the commands.`);
    const commands: HandlerTable<{ type: keyof typeof chatCommands; argument: string }, Promise<boolean> | boolean> = {
      continue: async () => {
        await turn(current, current.continueAnswer());
        return true;
      },
      regenerate: async ({ argument }) => {
        const policy = /^(ask|always)$/i.test(argument) ? "always" : /^(noask|no-ask|never)$/i.test(argument) ? "never" : undefined;
        await turn(current, current.regenerate(policy ? { askPolicy: policy } : {}));
        return true;
      },
      edit: async ({ argument }) => {
        const text = argument !== "" ? argument : interactive ? await lines.next("edit> ", current.snapshot().request) : undefined;
        if (text === undefined || text.trim() === "") {
          warn("Say the new request: /edit <text>.");
          return false;
        }
        await turn(current, current.editRequest(text));
        return true;
      },
      new: () => {
        void current.dispose();
        current = begin();
        say("A new conversation: what should I write?");
        return false;
      },
      help: () => {
        say(
          Object.entries(chatCommands)
            .map(([name, what]) => `  /${name.padEnd(12)}${what}`)
            .join("\n"),
        );
        return false;
      },
      quit: () => {
        lines.close();
        return false;
      },
    };
    for (;;) {
      const line = await lines.next(interactive ? "\n> " : "");
      if (line === undefined) break;
      if (line.trim() === "") continue;
      const read = readChatLine(line);
      try {
        if ("unknown" in read) {
          warn(`There is no /${read.unknown}: /help lists the commands.`);
          continue;
        }
        const ran =
          "command" in read
            ? await dispatch(commands, { type: read.command.name, argument: read.command.argument })
            : (await turn(current, current.send(read.message, context)), true);
        if (ran) report(current.snapshot(), say, warn);
      } catch (error) {
        // A refused intent (nothing to continue, a turn still running): say why, and stay.
        warn(error instanceof Error ? error.message : String(error));
      }
    }
    return current.state === "failed" ? 1 : 0;
  } catch (error) {
    return fatal(error instanceof Error ? error.message : String(error));
  } finally {
    lines.rl.close();
    await closeModel();
  }
}

/**
 * The "Assumptions:" block of the terminal chat: said before the code it is written under, each assumption once. A
 * turn's assumptions come in steps (the assessment's, then the choices made for the questions left to the assistant,
 * then the code); the block's heading comes once and each step adds only its new lines. A new turn (assessing
 * again) starts a new block; an assumption the user corrected is new.
 */
export class AssumptionsBlock {
  private readonly said = new Set<string>();
  private state: SessionSnapshot["state"] | undefined;
  /** The heading is printed and nothing else (the code) has been since. */
  private open = false;

  /** The lines to print for this snapshot (none when nothing new is assumed, or once the code has begun). */
  linesFor(snap: Pick<SessionSnapshot, "state" | "answer" | "assumptions">): string[] {
    if (snap.state === "assessing" && this.state !== "assessing") this.said.clear();
    this.state = snap.state;
    if (snap.state !== "generating" || snap.answer !== "") {
      this.open = false;
      return [];
    }
    const fresh = snap.assumptions.filter((a) => !this.said.has(a));
    if (fresh.length === 0) return [];
    const heading = this.open ? [] : ["Assumptions:"];
    this.open = true;
    for (const a of fresh) this.said.add(a);
    return [...heading, ...fresh.map((a) => `  - ${a}`)];
  }
}

/** After a turn of the interactive chat: how it ended. */
function report(snap: SessionSnapshot, say: Out, warn: Out): void {
  const ending = turnEnding(snap);
  say(ending);
  if (snap.state === "failed") {
    warn(`\n${snap.failure?.message ?? "Failed."}`);
    if (snap.failure?.raw) warn(`The model wrote:\n${snap.failure.raw}`);
  }
}

/** The end of a --json run: one `done` event with the conversation's outcome. */
function finish(snap: SessionSnapshot, emit: (e: Record<string, unknown>) => void): number {
  emit({
    type: "done",
    state: snap.state,
    answer: snap.answer,
    codeBlocks: snap.codeBlocks,
    assumptions: snap.assumptions,
    ...(snap.hitLimit ? { hitLimit: true } : {}),
    ...(snap.contextNote ? { contextNote: snap.contextNote } : {}),
    ...(snap.failure ? { failure: snap.failure } : {}),
  });
  return snap.state === "failed" ? 1 : 0;
}

/** Registers `clarifycoder chat` on the command line. */
export function registerChat(program: Command): void {
  program
    .command("chat")
    .description(
      "Ask for code; answer the assistant's clarifying questions; get the code streamed back. It stays open for follow-ups (/help lists the commands).",
    )
    .argument("[request...]", "what to write (asked interactively when left out)")
    .option("-m, --model <model>", `${modelOptionHelp}; $CLARIFYCODER_MODEL sets the default`, process.env.CLARIFYCODER_MODEL || defaultModelId)
    .option("-f, --file <path>", "a source file to send as context")
    .option("-l, --language <id>", "the language to write in (a VS Code language id such as python; default: the file's)")
    .addOption(new Option("--style <style>", "guided (any instruct model) or native (a clarify-aware fine-tune)").choices(modelStyles))
    .addOption(new Option("--ask <policy>", "when to ask clarifying questions").choices(askPolicies))
    .addOption(
      new Option(
        "--decide <method>",
        "how auto decides: readings (a few candidates run in a confined Python sandbox; ask where they miss the examples or, without examples, disagree) or probe (the model's probability of asking against --threshold)",
      )
        .choices(decideMethods)
        .default("readings"),
    )
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
}
