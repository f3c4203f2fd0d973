/** `clarifycoder chat`: the clarify-first conversation in a terminal, on the same engine and worker as the extension. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createInterface, type Interface } from "node:readline";
import { SingleBar } from "cli-progress";
import { isBusy } from "../core/rules.js";
import { ClarifySession } from "../core/session.js";
import { readSettings } from "../core/settings.js";
import type { ClarifySettings, EditorContext, Question, SessionSnapshot } from "../core/types.js";
import { describeLoadProgress, LocalModel } from "../llm/local-model.js";
import { ModelWorker } from "../llm/model-worker.js";
import type { GpuLayers } from "../llm/offload.js";
import type { GpuChoice, LoadParams } from "../llm/protocol.js";
import { languageOfFile } from "../core/languages.js";
import { endQuietlyOnClosedOutput } from "./options.js";
import { downloadProgress, hubTokenFromEnvironment } from "./models.js";

export interface ChatOptions {
  model: string;
  request?: string;
  file?: string;
  language?: string;
  style?: string;
  ask?: string;
  threshold?: number;
  maxQuestions?: number;
  maxRounds?: number;
  maxTokens?: number;
  gpu?: string;
  gpuLayers?: GpuLayers;
  threads?: number;
  contextSize?: number;
  lora?: string[];
  modelsDir?: string;
  json?: boolean;
}

type Out = (line: string) => void;

export function gpuChoice(value: string | undefined): GpuChoice {
  if (value === undefined || value === "auto") return "auto";
  if (value === "cpu" || value === "false" || value === "none") return false;
  if (value === "cuda" || value === "vulkan" || value === "metal") return value;
  throw new Error(`--gpu must be auto, cuda, vulkan, metal or cpu (got "${value}").`);
}

export function chatSettings(options: ChatOptions): { settings: ClarifySettings; problems: string[] } {
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

  constructor(terminal: boolean) {
    this.rl = createInterface({ input: process.stdin, terminal });
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

  next(prompt: string): Promise<string | undefined> {
    if (prompt) process.stdout.write(prompt);
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
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

export async function runChat(options: ChatOptions): Promise<number> {
  const json = options.json === true;
  const emit = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
  const say: Out = json ? () => undefined : (line) => void process.stdout.write(`${line}\n`);
  const warn: Out = (line) => (json ? emit({ type: "warning", message: line }) : void process.stderr.write(`${line}\n`));

  const { settings, problems } = chatSettings(options);
  problems.forEach(warn);
  const worker = new ModelWorker({
    workerPath: path.join(__dirname, "worker.mjs"),
    log: (level, message) => {
      if (level === "error") warn(`model worker: ${message}`);
    },
  });
  const token = hubTokenFromEnvironment();
  const model = new LocalModel(worker, token ? { hub: { token } } : {});
  const lines = new Lines(!json && process.stdin.isTTY === true);
  let session: ClarifySession | undefined;
  let interrupts = 0;
  process.on("SIGINT", () => {
    interrupts += 1;
    if (interrupts > 1 || !session || !isBusy(session.state)) {
      void worker.stop().finally(() => process.exit(130));
      return;
    }
    warn("\nStopping... (Ctrl+C again to quit)");
    session.cancel();
  });
  endQuietlyOnClosedOutput(async () => {
    session?.cancel();
    lines.rl.close();
    await worker.stop();
  });

  try {
    const load: LoadParams = {
      model: options.model,
      gpu: gpuChoice(options.gpu),
      gpuLayers: options.gpuLayers ?? "auto",
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.contextSize ? { contextSize: options.contextSize } : {}),
      ...(options.modelsDir ? { modelsDirectory: options.modelsDir } : {}),
      ...(options.lora && options.lora.length > 0 ? { lora: options.lora.map((filePath) => ({ filePath })) } : {}),
    };
    const bar = !json && process.stderr.isTTY ? new SingleBar({ format: "{task} [{bar}] {percentage}%", stream: process.stderr, hideCursor: true }) : undefined;
    let barTask = "";
    const downloads = json ? undefined : downloadProgress();
    const info = await model.load(load, (event) => {
      if (json) return emit({ type: "progress", ...event });
      if (event.kind === "download" && "phase" in event) return downloads?.update(event);
      if (!bar) return;
      const { task, progress } = describeLoadProgress(event);
      if (task !== barTask) {
        if (barTask) bar.stop();
        bar.start(100, 0, { task });
        barTask = task;
      }
      bar.update(Math.round((progress ?? 1) * 100), { task });
    });
    downloads?.stop();
    if (barTask) bar?.stop();
    // A catalog model says how it is prompted (ClarifyCoder's own is native) unless --style says otherwise.
    if (options.style === undefined && model.style) settings.style = model.style;
    info.notices.forEach(warn);
    if (json) emit({ type: "model", ...info });
    else {
      const layers = info.backend === "cpu" ? "" : `${info.gpuLayers} of ${info.totalLayers} layers on the GPU, `;
      say(`${info.name} on ${info.backend.toUpperCase()} (${layers}${info.threads} threads, context ${info.contextSize}) loaded in ${info.loadMs} ms.`);
    }

    const request = options.request ?? (await lines.next(json ? "" : "What should I write? "));
    if (!request || request.trim() === "") {
      warn("No request given.");
      return 2;
    }
    const context = await contextFromFile(options.file, options.language);
    session = new ClarifySession(model, settings);
    const s = session;
    s.onChunk((text) => (json ? emit({ type: "chunk", text }) : void process.stdout.write(text)));
    s.onChange((snap) => {
      if (json) emit({ type: "state", state: snap.state });
      else if (snap.state === "assessing") say("Thinking about the request...");
      else if (snap.state === "generating" && snap.answer === "") {
        if (snap.assumptions.length > 0) say(`Assumptions:\n${snap.assumptions.map((a) => `  - ${a}`).join("\n")}`);
        say("");
      }
    });
    await s.start(request, context);
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
    return finish(s.snapshot(), json, emit, say, warn);
  } catch (error) {
    warn(error instanceof Error ? error.message : String(error));
    return 1;
  } finally {
    lines.rl.close();
    await worker.stop();
  }
}

function finish(snap: SessionSnapshot, json: boolean, emit: (e: Record<string, unknown>) => void, say: Out, warn: Out): number {
  if (json) {
    emit({ type: "done", state: snap.state, answer: snap.answer, codeBlocks: snap.codeBlocks, assumptions: snap.assumptions, ...(snap.failure ? { failure: snap.failure } : {}) });
  } else if (snap.state === "done" || snap.state === "cancelled") {
    say(snap.state === "cancelled" ? "\n(stopped)" : "");
  }
  if (snap.state === "failed") {
    if (!json) {
      warn(`\n${snap.failure?.message ?? "Failed."}`);
      if (snap.failure?.raw) warn(`The model wrote:\n${snap.failure.raw}`);
    }
    return 1;
  }
  return 0;
}
