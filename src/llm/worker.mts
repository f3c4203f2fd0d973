/**
 * The model worker: a separate Node process that owns node-llama-cpp, the model, its context and the GPU. A native
 * abort here (a malformed model file, a driver fault, out of memory) ends this process only; the parent reports it
 * and starts a fresh worker on its next request.
 */
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import {
  getLlama,
  LlamaChatSession,
  LlamaCompletion,
  LlamaLogLevel,
  readGgufFileInfo,
  resolveChatWrapper,
  resolveModelFile,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { physicalCores } from "./cpu.js";
import {
  WorkerError,
  type Backend,
  type ChildMessage,
  type GpuChoice,
  type LoadParams,
  type Method,
  type ModelInfo,
  type ParamsOf,
  type ParentMessage,
  type ResultOf,
  type TurnOutput,
} from "./protocol.js";
import type { JsonSchema, StopReason } from "../core/model.js";
import { checkModelMetadata } from "./gguf-check.js";

function send(message: ChildMessage, then?: () => void): void {
  if (process.send) process.send(message, () => then?.());
  else then?.();
}

/**
 * Set when work that cannot be stopped is left running (the downloader's retry loop ignores cancellation while it
 * fetches the file's headers): the worker ends itself after its reply, and the next request starts a clean one.
 */
let exitAfterReply = false;

interface Conversation {
  id: string;
  mode: "chat" | "raw";
  systemPrompt?: string;
  /** The sequence and session below are valid while not evicted. */
  sequence: LlamaContextSequence;
  chat?: LlamaChatSession;
  completion?: LlamaCompletion;
  /** Another conversation took its sequence; its history is kept to rebuild it on its next turn. */
  evicted: boolean;
  savedHistory?: ChatHistoryItem[];
  /** Turns (and settling) running on the sequence: a busy conversation is never evicted. */
  busy: number;
  /** Raw mode: the whole text so far. */
  transcript: string;
  /** Background work on the sequence after a reply (see settle); the next turn waits for it. */
  settling: Promise<void>;
  /** Input tokens evaluated by settle, outside any turn. */
  settledTokens: number;
  lastUsed: number;
}

interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  /** Resolved once per model: resolving it per conversation costs about a second on some templates. */
  chatWrapper: ChatWrapper;
  info: ModelInfo;
}

let llama: Llama | undefined;
let llamaGpu: GpuChoice | undefined;
let loaded: Loaded | undefined;
const conversations = new Map<string, Conversation>();
const grammars = new Map<string, LlamaGrammar>();
const running = new Map<number, AbortController>();
let nextConversation = 1;
/** llama.cpp's last error lines: its reasons (a bad LoRA adapter, say) appear only in its log. */
const recentLog: string[] = [];

async function ensureLlama(gpu: GpuChoice = "auto"): Promise<Llama> {
  if (llama && llamaGpu === gpu) return llama;
  if (llama && loaded) throw new WorkerError("bad-request", "Unload the model before switching the GPU backend.");
  await llama?.dispose();
  llama = await getLlama({
    gpu,
    build: "never",
    logLevel: LlamaLogLevel.warn,
    logger(level, message) {
      const line = message.trim();
      if (line === "") return;
      recentLog.push(line);
      if (recentLog.length > 20) recentLog.shift();
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) send({ type: "log", level: "error", message: line });
    },
  });
  llamaGpu = gpu;
  return llama;
}

function backendOf(l: Llama): Backend {
  return l.gpu === false ? "cpu" : l.gpu;
}

function threadsFor(requested: number | undefined): number {
  return requested && requested > 0 ? Math.floor(requested) : physicalCores();
}

async function hardware(params: ParamsOf<"hardware">): Promise<ResultOf<"hardware">> {
  const l = await ensureLlama(params.gpu ?? llamaGpu ?? "auto");
  const vram = l.gpu === false ? undefined : await l.getVramState();
  return {
    backend: backendOf(l),
    gpuDevices: l.gpu === false ? [] : await l.getGpuDeviceNames(),
    ...(vram ? { vram: { total: vram.total, free: vram.free } } : {}),
    cpuCores: physicalCores(),
    logicalCpus: availableParallelism(),
    threads: threadsFor(params.threads),
  };
}

async function unload(): Promise<boolean> {
  if (!loaded) return false;
  for (const c of conversations.values()) disposeConversation(c);
  conversations.clear();
  grammars.clear();
  const l = loaded;
  loaded = undefined;
  await l.context.dispose();
  await l.model.dispose();
  return true;
}

async function load(params: LoadParams, id: number, signal: AbortSignal): Promise<ModelInfo> {
  const started = performance.now();
  const l = await ensureLlama(params.gpu ?? "auto");
  await unload();
  let modelPath: string;
  if (/^(hf:|https?:)/.test(params.model)) {
    modelPath = await download(params, id, signal);
  } else {
    modelPath = path.resolve(params.model);
  }
  let size: number;
  try {
    const s = await stat(modelPath);
    if (!s.isFile()) throw new Error("not a file");
    size = s.size;
  } catch {
    throw new WorkerError("invalid-model", `The model file ${modelPath} does not exist or is not a file.`);
  }
  if (size === 0) throw new WorkerError("invalid-model", `The model file ${modelPath} is empty.`);
  let info;
  try {
    info = await readGgufFileInfo(modelPath, { readTensorInfo: false });
  } catch (error) {
    throw new WorkerError("invalid-model", `${path.basename(modelPath)} is not a readable GGUF model file: ${messageOf(error)}`);
  }
  const problem = checkModelMetadata(info.metadata as unknown as Record<string, unknown>);
  if (problem) throw new WorkerError("invalid-model", `${path.basename(modelPath)} cannot be loaded: ${problem}`);

  let model: LlamaModel;
  try {
    model = await l.loadModel({
      modelPath,
      gpuLayers: l.gpu === false ? 0 : "auto",
      onLoadProgress: (progress) => send({ type: "event", id, event: { kind: "load", progress } }),
      loadSignal: signal,
    });
  } catch (error) {
    throw new WorkerError("load-failed", `Could not load ${path.basename(modelPath)}: ${messageOf(error)}${logHint()}`);
  }
  const threads = threadsFor(params.threads);
  let context: LlamaContext;
  try {
    context = await model.createContext({
      contextSize: params.contextSize ?? { max: 8192 },
      sequences: params.sequences ?? 2,
      threads,
      ...(params.lora && params.lora.length > 0
        ? { lora: { adapters: params.lora.map((a) => ({ filePath: path.resolve(a.filePath), scale: a.scale ?? 1 })) } }
        : {}),
      failedCreationRemedy: false,
    });
  } catch (error) {
    await model.dispose();
    throw new WorkerError("load-failed", `Could not create a context for ${path.basename(modelPath)}: ${messageOf(error)}${logHint()}`);
  }
  const meta = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const architecture = typeof meta.general?.architecture === "string" ? meta.general.architecture : undefined;
  const archMeta = architecture ? meta[architecture] : undefined;
  const name = typeof meta.general?.name === "string" ? meta.general.name : path.basename(modelPath, ".gguf");
  const result: ModelInfo = {
    path: modelPath,
    name,
    sizeBytes: size,
    ...(architecture ? { architecture } : {}),
    ...(typeof archMeta?.context_length === "number" ? { trainContextSize: archMeta.context_length } : {}),
    contextSize: context.contextSize,
    chatTemplate: typeof meta.tokenizer?.chat_template === "string",
    backend: backendOf(l),
    threads,
    loadMs: Math.round(performance.now() - started),
  };
  loaded = { model, context, chatWrapper: resolveChatWrapper(model), info: result };
  return result;
}

/**
 * Downloads (or finds already downloaded) a model with node-llama-cpp's downloader. Its transport retries a failing
 * connection for many minutes; a download that makes no progress for `downloadStallMs` is stopped with a reason
 * instead.
 */
async function download(params: LoadParams, id: number, signal: AbortSignal): Promise<string> {
  const stallMs = params.downloadStallMs ?? 60_000;
  const stalled = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const watch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => stalled.abort(), stallMs);
  };
  const onCancel = (): void => stalled.abort();
  signal.addEventListener("abort", onCancel, { once: true });
  watch();
  let received = -1;
  const gaveUp = new Promise<never>((_, reject) => {
    stalled.signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true });
  });
  try {
    return await Promise.race([gaveUp, resolveModelFile(params.model, {
      ...(params.modelsDirectory ? { directory: params.modelsDirectory } : {}),
      cli: false,
      signal: stalled.signal,
      deleteTempFileOnCancel: false,
      onProgress: ({ totalSize, downloadedSize }) => {
        if (downloadedSize !== received) watch();
        received = downloadedSize;
        send({ type: "event", id, event: { kind: "download", loaded: downloadedSize, total: totalSize } });
      },
    })]);
  } catch (error) {
    if (stalled.signal.aborted) exitAfterReply = true;
    if (signal.aborted) throw new WorkerError("download-failed", `The download of ${params.model} was cancelled.`);
    if (stalled.signal.aborted) {
      const got = received > 0 ? ` after ${(received / 1e6).toFixed(1)} MB` : "";
      throw new WorkerError("download-failed", `The download of ${params.model} stopped making progress${got} for ${Math.round(stallMs / 1000)} s (the connection keeps failing), so it was stopped. Try again when the connection works.`);
    }
    throw new WorkerError("download-failed", `Could not download ${params.model}: ${messageOf(error)}`);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onCancel);
  }
}

function requireLoaded(): Loaded {
  if (!loaded) throw new WorkerError("no-model", "No model is loaded.");
  return loaded;
}

function disposeConversation(c: Conversation): void {
  if (c.evicted) return;
  c.chat?.dispose({ disposeSequence: false });
  c.completion?.dispose({ disposeSequence: false });
  c.sequence.dispose();
  c.evicted = true;
}

/** Gives a conversation's sequence to another: its history is kept, and its next turn rebuilds it (re-evaluating). */
function evict(c: Conversation): void {
  if (c.evicted) return;
  if (c.chat) c.savedHistory = c.chat.getChatHistory();
  disposeConversation(c);
}

/** Conversations beyond this many (closed by nobody) are forgotten, least recently used first. */
const conversationLimit = 64;

/** A sequence for a conversation; when all are taken, the least recently used idle conversation gives its own up. */
function takeSequence(l: Loaded, forConversation: Conversation): LlamaContextSequence {
  if (l.context.sequencesLeft === 0) {
    const idle = [...conversations.values()].filter((c) => c !== forConversation && !c.evicted && c.busy === 0);
    const oldest = idle.sort((a, b) => a.lastUsed - b.lastUsed)[0];
    if (!oldest) throw new WorkerError("busy", "Every context sequence is busy with another conversation; stop one or wait for it.");
    evict(oldest);
  }
  return l.context.getSequence();
}

/** Gives a conversation a sequence and a session, rebuilding its history if it was evicted. */
function makeLive(c: Conversation, l: Loaded): void {
  c.sequence = takeSequence(l, c);
  if (c.mode === "chat") {
    c.chat = new LlamaChatSession({
      contextSequence: c.sequence,
      chatWrapper: l.chatWrapper,
      ...(c.systemPrompt !== undefined ? { systemPrompt: c.systemPrompt } : {}),
      autoDisposeSequence: false,
    });
    if (c.savedHistory) c.chat.setChatHistory(c.savedHistory);
  } else {
    c.completion = new LlamaCompletion({ contextSequence: c.sequence, autoDisposeSequence: false });
  }
  c.evicted = false;
  delete c.savedHistory;
}

function openConversation(params: ParamsOf<"openConversation">): ResultOf<"openConversation"> {
  const l = requireLoaded();
  const id = `c${nextConversation++}`;
  const c = {
    id,
    mode: params.mode,
    transcript: "",
    lastUsed: Date.now(),
    settling: Promise.resolve(),
    settledTokens: 0,
    evicted: true,
    busy: 0,
    ...(params.systemPrompt !== undefined ? { systemPrompt: params.systemPrompt } : {}),
  } as Conversation;
  makeLive(c, l);
  conversations.set(id, c);
  if (conversations.size > conversationLimit) {
    const forgotten = [...conversations.values()].filter((x) => x.busy === 0).sort((a, b) => a.lastUsed - b.lastUsed)[0];
    if (forgotten) {
      disposeConversation(forgotten);
      conversations.delete(forgotten.id);
    }
  }
  return { conversationId: id };
}

/**
 * Runs a turn on a conversation: rebuilt first if another conversation took its sequence, and counted busy (so it
 * is not evicted) until the turn ends.
 */
async function withConversation<T>(id: string, mode: "chat" | "raw" | "any", turn: (c: Conversation) => Promise<T>): Promise<T> {
  const c = conversations.get(id);
  if (!c) throw new WorkerError("unknown-conversation", `The conversation ${id} is not open in the model worker (it may have been closed or the model reloaded).`);
  if (mode !== "any" && c.mode !== mode) throw new WorkerError("bad-request", `The conversation ${id} is in ${c.mode} mode.`);
  c.lastUsed = Date.now();
  c.busy += 1;
  try {
    await c.settling;
    if (c.evicted) makeLive(c, requireLoaded());
    return await turn(c);
  } finally {
    c.busy -= 1;
  }
}

async function grammarFor(schema: JsonSchema | undefined): Promise<LlamaGrammar | undefined> {
  if (!schema) return undefined;
  const key = JSON.stringify(schema);
  let g = grammars.get(key);
  if (!g) {
    const l = await ensureLlama(llamaGpu ?? "auto");
    // The schema's type is node-llama-cpp's own; the engine builds it from that subset.
    g = await l.createGrammarForJsonSchema(schema as Parameters<Llama["createGrammarForJsonSchema"]>[0]);
    grammars.set(key, g);
  }
  return g;
}

function stopReasonOf(reason: string): StopReason {
  if (reason === "eogToken" || reason === "maxTokens" || reason === "abort") return reason;
  if (reason === "stopGenerationTrigger" || reason === "customStopTrigger") return "stopString";
  return "other";
}

function meter(sequence: LlamaContextSequence): { input: number; output: number } {
  return { input: sequence.tokenMeter.usedInputTokens, output: sequence.tokenMeter.usedOutputTokens };
}

async function chat(params: ParamsOf<"chat">, id: number, signal: AbortSignal): Promise<TurnOutput> {
  const grammar = await grammarFor(params.grammar);
  return withConversation(params.conversationId, "chat", async (c) => {
    const session = c.chat;
    if (!session) throw new WorkerError("internal", "The conversation has no chat session.");
    const before = meter(c.sequence);
    const result = await session.promptWithMeta(params.message, {
      maxTokens: params.maxTokens,
      temperature: params.temperature ?? 0,
      ...(params.seed !== undefined ? { seed: params.seed } : {}),
      ...(grammar ? { grammar } : {}),
      ...(params.responsePrefix ? { responsePrefix: params.responsePrefix } : {}),
      signal,
      stopOnAbortSignal: true,
      onTextChunk: (text) => send({ type: "event", id, event: { kind: "chunk", text } }),
    });
    const after = meter(c.sequence);
    c.settling = settle(c).catch((error: unknown) => send({ type: "log", level: "warn", message: `settle: ${messageOf(error)}` }));
    return {
      text: result.responseText,
      stopReason: stopReasonOf(result.stopReason),
      evaluatedInputTokens: after.input - before.input,
      outputTokens: after.output - before.output,
    };
  });
}

/**
 * After a reply, brings the sequence in line with how the next turn will spell the history. A reply generated under a
 * grammar is often not in the tokenizer's canonical tokens, so the next turn would re-evaluate it from the first
 * difference; doing it now, while the user reads and answers, keeps the next turn down to its new tokens.
 */
async function settle(c: Conversation): Promise<void> {
  const l = loaded;
  if (!l || !c.chat || c.evicted) return;
  // Busy while it works, so no other conversation takes the sequence from under it.
  c.busy += 1;
  try {
    const { contextText } = c.chat.chatWrapper.generateContextState({ chatHistory: c.chat.getChatHistory() });
    const tokens = contextText.tokenize(l.model.tokenizer);
    // Leave the last token to the next turn: generation needs at least one token to evaluate.
    tokens.pop();
    await c.sequence.adaptStateToTokens(tokens, false);
    const missing = tokens.slice(c.sequence.nextTokenIndex);
    if (missing.length === 0) return;
    const before = c.sequence.tokenMeter.usedInputTokens;
    await c.sequence.evaluateWithoutGeneratingNewTokens(missing);
    c.settledTokens += c.sequence.tokenMeter.usedInputTokens - before;
  } finally {
    c.busy -= 1;
  }
}

async function complete(params: ParamsOf<"complete">, id: number, signal: AbortSignal): Promise<TurnOutput> {
  const grammar = await grammarFor(params.grammar);
  return withConversation(params.conversationId, "raw", async (c) => {
    const completion = c.completion;
    if (!completion) throw new WorkerError("internal", "The conversation has no completion.");
    c.transcript += params.text;
    const before = meter(c.sequence);
    const result = await completion.generateCompletionWithMeta(c.transcript, {
      maxTokens: params.maxTokens,
      temperature: params.temperature ?? 0,
      ...(params.seed !== undefined ? { seed: params.seed } : {}),
      ...(grammar ? { grammar } : {}),
      ...(params.stopStrings && params.stopStrings.length > 0 ? { customStopTriggers: params.stopStrings } : {}),
      signal,
      stopOnAbortSignal: true,
      onTextChunk: (text) => send({ type: "event", id, event: { kind: "chunk", text } }),
    });
    c.transcript += result.response;
    const after = meter(c.sequence);
    return {
      text: result.response,
      stopReason: stopReasonOf(result.metadata.stopReason),
      evaluatedInputTokens: after.input - before.input,
      outputTokens: after.output - before.output,
    };
  });
}

/**
 * The probabilities of each option as the next text after `prefix` at the start of the model's reply to `message`.
 * Evaluated on the conversation's own sequence, so the reply that follows reuses these tokens.
 */
async function probe(params: ParamsOf<"probe">): Promise<ResultOf<"probe">> {
  return withConversation(params.conversationId, "chat", (c) => probeOn(c, params));
}

async function probeOn(c: Conversation, params: ParamsOf<"probe">): Promise<ResultOf<"probe">> {
  const session = c.chat;
  const l = requireLoaded();
  if (!session) throw new WorkerError("internal", "The conversation has no chat session.");
  const history = [...session.getChatHistory(), { type: "user" as const, text: params.message }, { type: "model" as const, response: [] }];
  const { contextText } = session.chatWrapper.generateContextState({ chatHistory: history });
  const tokens: Token[] = [...contextText.tokenize(l.model.tokenizer), ...l.model.tokenize(params.prefix, false, "trimLeadingSpace")];
  if (tokens.length >= l.context.contextSize) throw new WorkerError("context-full", "The request does not fit in the model's context.");
  const last = tokens.pop();
  if (last === undefined) throw new WorkerError("bad-request", "Nothing to evaluate.");
  await c.sequence.adaptStateToTokens(tokens, false);
  const fresh = [...tokens.slice(c.sequence.nextTokenIndex), last];
  const iterator = c.sequence.evaluateWithMetadata(fresh, { probabilities: true }, { temperature: 0 });
  const first = await iterator.next();
  await iterator.return();
  const probabilities = first.done ? undefined : first.value.probabilities;
  const mass: Record<string, number> = {};
  for (const option of params.options) mass[option] = 0;
  if (probabilities) {
    for (const [token, p] of probabilities) {
      if (p < 1e-6) continue;
      const text = l.model.detokenize([token]);
      if (text === "") continue;
      for (const option of params.options) if (option.startsWith(text)) mass[option] = (mass[option] ?? 0) + p;
    }
  }
  const total = Object.values(mass).reduce((a, b) => a + b, 0);
  for (const option of params.options) mass[option] = total > 0 ? (mass[option] ?? 0) / total : 1 / params.options.length;
  return { probabilities: mass };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function logHint(): string {
  const last = recentLog.slice(-3).join(" | ");
  return last ? ` (llama.cpp: ${last})` : "";
}

async function handle(method: Method, params: unknown, id: number, signal: AbortSignal): Promise<unknown> {
  switch (method) {
    case "hardware":
      return hardware(params as ParamsOf<"hardware">);
    case "load":
      return load(params as ParamsOf<"load">, id, signal);
    case "unload":
      return { unloaded: await unload() };
    case "openConversation":
      return openConversation(params as ParamsOf<"openConversation">);
    case "closeConversation": {
      const { conversationId } = params as ParamsOf<"closeConversation">;
      const c = conversations.get(conversationId);
      if (c) disposeConversation(c);
      return { closed: conversations.delete(conversationId) };
    }
    case "probe":
      return probe(params as ParamsOf<"probe">);
    case "chat":
      return chat(params as ParamsOf<"chat">, id, signal);
    case "complete":
      return complete(params as ParamsOf<"complete">, id, signal);
    case "usage":
      return withConversation((params as ParamsOf<"usage">).conversationId, "any", async (c) => ({
        inputTokens: c.sequence.tokenMeter.usedInputTokens,
        outputTokens: c.sequence.tokenMeter.usedOutputTokens,
        settledTokens: c.settledTokens,
      }));
    case "tokenize": {
      const { text, special } = params as ParamsOf<"tokenize">;
      return { count: requireLoaded().model.tokenize(text, special === true).length };
    }
    case "crash":
      process.abort();
      break;
    default:
      throw new WorkerError("bad-request", `Unknown request ${String(method)}.`);
  }
  return undefined;
}

process.on("message", (raw: unknown) => {
  const message = raw as ParentMessage;
  if (typeof message !== "object" || message === null) return;
  if (message.type === "cancel") {
    running.get(message.id)?.abort();
    return;
  }
  if (message.type !== "request") return;
  const controller = new AbortController();
  running.set(message.id, controller);
  const exitIfAsked = (): void => {
    if (exitAfterReply) process.exit(0);
  };
  const reply = (response: ChildMessage): void => {
    if (exitAfterReply) send({ type: "retiring" });
    send(response, exitIfAsked);
  };
  handle(message.method, message.params ?? {}, message.id, controller.signal)
    .then((result) => reply({ type: "response", id: message.id, ok: true, result }))
    .catch((error: unknown) => {
      const payload =
        error instanceof WorkerError ? { code: error.code, message: error.message } : { code: "internal" as const, message: messageOf(error) };
      reply({ type: "response", id: message.id, ok: false, error: payload });
    })
    .finally(() => running.delete(message.id));
});

process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
